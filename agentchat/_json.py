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
    return _encode(value).encode()
