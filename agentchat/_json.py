"""JSON encoding and decoding in one place, so the hot path has one implementation to tune.

Decoding uses ``orjson`` (a dependency on CPython): it parses a stream chunk about three times
faster than the standard library, which is most of what a stream costs. Where it is missing
(PyPy) the ``json`` module is used. Encoding always uses the standard library, which refuses NaN
and Infinity (not JSON; orjson would silently send ``null``) and is fast enough for request
bodies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["BACKEND", "dumps", "loads"]

# Compact separators; NaN and Infinity are refused because they are not JSON and servers
# reject them with an unhelpful error.
_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_encode = _encoder.encode


def _not_serialisable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The C encoder ``JSONEncoder.encode`` builds on every call, built once: that halves the cost
# of a request body. Without the ``markers`` dict (``None``) it keeps no state between calls,
# so it is safe to share across threads; it then does not detect a circular reference, which
# ends in RecursionError instead, and every failure is encoded again by ``_encode`` for the
# standard library's own error. ``c_make_encoder`` is None where the C accelerator is missing.
_make_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_c_encode: Callable[[Any, int], Any] | None = (
    _make_c_encoder(
        None,
        _not_serialisable,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    if _make_c_encoder is not None
    else None
)

loads: Callable[[str | bytes], Any]
try:
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    loads = json.loads
    BACKEND = "json"
else:  # pragma: no cover - depends on the environment
    loads = orjson.loads
    BACKEND = "orjson"


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON bytes."""
    if _c_encode is not None:
        try:
            return "".join(_c_encode(value, 0)).encode()
        except (TypeError, ValueError, RecursionError):
            pass  # encoded again below, for the standard library's error
    return _encode(value).encode()
