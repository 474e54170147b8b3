"""JSON encoding and decoding in one place, so the hot path has one implementation to tune."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

# Compact separators; NaN and Infinity are refused because they are not JSON and servers
# reject them with an unhelpful error.
_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_encode = _encoder.encode

loads = json.loads


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON bytes."""
    return _encode(value).encode()
