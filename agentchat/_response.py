"""Response metadata: status, headers, request id and rate limits of one call.

Every result carries one: ``completion.response``, ``stream.response`` and
``error.response`` are all :class:`ResponseInfo`. Parsing is lazy, so a caller who never
looks pays nothing beyond keeping a reference to the headers.

A :class:`ResponseInfo` copies and pickles like the models that carry it: its headers (aiohttp's
read-only ``CIMultiDictProxy``) are copied into a multidict and wrapped again.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["RateLimit", "ResponseInfo", "parse_retry_after"]

# Servers name the request id differently; the first one present wins.
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-do-request-id", "x-amzn-requestid")

# A ``ratelimit-reset`` below this is a number of seconds from now (IETF draft style),
# above it a Unix timestamp (DigitalOcean style). 10**9 seconds is 2001-09-09.
_EPOCH_THRESHOLD = 1_000_000_000


@attrs.frozen
class RateLimit:
    """The ``ratelimit-*`` and ``retry-after`` headers of a response, parsed.

    ``reset_at`` is a Unix timestamp in seconds; ``retry_after`` is in seconds.
    Each is ``None`` when the server did not send it or sent something unparseable.
    """

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    retry_after: float | None = None

    @property
    def reset_after(self) -> float | None:
        """Seconds from now until ``reset_at`` (never negative)."""
        if self.reset_at is None:
            return None
        return max(0.0, self.reset_at - time.time())


@attrs.frozen
class ResponseInfo:
    """What the HTTP response said about the call, besides its body.

    ``headers`` is case-insensitive. ``elapsed`` is seconds from sending the (last)
    request to receiving its headers; ``attempts`` counts the HTTP requests the call made.
    """

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    url: str
    elapsed: float = 0.0
    attempts: int = 1

    @classmethod
    def of(
        cls, status: int, headers: Mapping[str, str], url: str, elapsed: float, attempts: int
    ) -> ResponseInfo:
        """The same as the constructor, made for the hot path: one per HTTP response."""
        info = _new(cls)
        _set_status(info, status)
        _set_headers(info, headers)
        _set_url(info, url)
        _set_elapsed(info, elapsed)
        _set_attempts(info, attempts)
        return info

    def __reduce__(self) -> tuple[Any, ...]:
        # aiohttp's headers are a CIMultiDictProxy, which neither copy nor pickle handle:
        # the proxied multidict goes instead, and is wrapped again on the way back.
        headers: Any = self.headers
        kind = type(headers)
        wrap = None
        if kind is MappingProxyType:
            wrap, headers = "mappingproxy", dict(headers)
        elif kind.__module__.startswith("multidict") and kind.__name__.endswith("Proxy"):
            wrap, headers = "multidict", headers.copy()  # a CIMultiDict (or MultiDict)
        return _restore, (self.status, headers, wrap, self.url, self.elapsed, self.attempts)

    @property
    def request_id(self) -> str | None:
        """The server's id for this request, for support tickets and log correlation."""
        headers = self.headers
        for name in _REQUEST_ID_HEADERS:
            value = headers.get(name)
            if value:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased (``""`` when absent)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    @property
    def rate_limit(self) -> RateLimit:
        """The rate-limit headers, parsed afresh on each access."""
        headers = self.headers
        reset = _number(headers.get("ratelimit-reset"))
        if reset is not None and reset < _EPOCH_THRESHOLD:
            reset += time.time()
        return RateLimit(
            limit=_integer(headers.get("ratelimit-limit")),
            remaining=_integer(headers.get("ratelimit-remaining")),
            reset_at=reset,
            retry_after=parse_retry_after(headers),
        )


def _restore(
    status: int, headers: Any, wrap: str | None, url: str, elapsed: float, attempts: int
) -> ResponseInfo:
    """Rebuild a :class:`ResponseInfo` from its ``__reduce__`` (module-level: pickle finds it)."""
    if wrap == "multidict":
        from multidict import CIMultiDict, CIMultiDictProxy, MultiDictProxy

        headers = (CIMultiDictProxy if isinstance(headers, CIMultiDict) else MultiDictProxy)(
            headers
        )
    elif wrap == "mappingproxy":
        headers = MappingProxyType(headers)
    return ResponseInfo.of(status, headers, url, elapsed, attempts)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait as the server asks: ``retry-after-ms``, else ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date. Anything else, or a
    negative value, is ignored (``None``).
    """
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None and millis >= 0:
        return millis / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _integer(value: str | None) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


# A frozen attrs class sets each field through object.__setattr__; the slots' own setters
# do the same job at about half the cost (ResponseInfo has no validators or converters).
_new = object.__new__
_set_status = ResponseInfo.__dict__["status"].__set__
_set_headers = ResponseInfo.__dict__["headers"].__set__
_set_url = ResponseInfo.__dict__["url"].__set__
_set_elapsed = ResponseInfo.__dict__["elapsed"].__set__
_set_attempts = ResponseInfo.__dict__["attempts"].__set__
