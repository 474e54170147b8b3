"""Response metadata: status, headers, request id and rate limits of one call.

Every result carries one: ``completion.response``, ``stream.response`` and
``error.response`` are all :class:`ResponseInfo`. Parsing is lazy, so a caller who never
looks pays nothing beyond keeping a reference to the headers.

A :class:`ResponseInfo` copies and pickles like the models that carry it: its headers (aiohttp's
read-only ``CIMultiDictProxy``) are copied into a multidict and wrapped again.

Rate limits come in two families, both on :attr:`ResponseInfo.rate_limit`: an agent's
``ratelimit-limit/-remaining/-reset``, and the per-bucket ``x-ratelimit-<field>-<kind>`` of
DigitalOcean serverless inference (kinds ``requests``, ``tokens-per-minute``,
``tokens-per-day``) and of OpenAI-style servers (``requests``, ``tokens``).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from math import isfinite
from types import MappingProxyType
from typing import Any

import attrs

from ._frozen import builder

__all__ = [
    "RateLimit",
    "RateLimitBucket",
    "ResponseInfo",
    "parse_retry_after",
    "request_limits",
]

# Servers name the request id differently; the first one present wins.
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-do-request-id", "x-amzn-requestid")

# A reset below this is a number of seconds from now (IETF draft style), above it a Unix
# timestamp (DigitalOcean style). 10**9 seconds is 2001-09-09.
_EPOCH_THRESHOLD = 1_000_000_000

_BUCKET_PREFIX = "x-ratelimit-"
_BUCKET_FIELDS = {"limit": 0, "remaining": 1, "reset": 2}
# One term of a Go/OpenAI duration ("6m0s", "1h2m3.5s", "20ms"); "ms" must be tried before "m".
_DURATION_TERM = r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|\u00b5s|\u03bcs|ns)"
_DURATION_UNITS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ns": 1e-9,
}


@attrs.frozen
class RateLimitBucket:
    """One ``x-ratelimit-limit/-remaining/-reset-<kind>`` bucket of a response, parsed.

    ``kind`` is the header's suffix, lower-cased: ``requests``, ``tokens-per-minute`` or
    ``tokens-per-day`` from DigitalOcean serverless inference, ``requests`` or ``tokens`` from
    OpenAI-style servers. ``reset_at`` is a Unix timestamp in seconds, whatever form the
    header took (a timestamp, seconds from now, or a duration such as ``6m0s``); it is
    ``None`` when the header said 0, which means the bucket has room now (no wait). Each
    value is ``None`` when absent or unparseable.
    """

    kind: str
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None

    @property
    def reset_after(self) -> float | None:
        """Seconds from now until ``reset_at`` (never negative)."""
        return _seconds_until(self.reset_at)


def _frozen_buckets(buckets: Mapping[str, RateLimitBucket]) -> Mapping[str, RateLimitBucket]:
    return buckets if type(buckets) is MappingProxyType else MappingProxyType(dict(buckets))


_NO_BUCKETS: Mapping[str, RateLimitBucket] = MappingProxyType({})


@attrs.frozen
class RateLimit:
    """The rate-limit and ``retry-after`` headers of a response, parsed.

    ``limit``, ``remaining`` and ``reset_at`` are the agent's ``ratelimit-*`` headers; when a
    response has none of those, they are its ``x-ratelimit-*-requests`` bucket's (DigitalOcean
    serverless inference, OpenAI), so code that reads ``remaining`` works with both.
    ``reset_at`` is a Unix timestamp in seconds; ``retry_after`` is in seconds. Each is
    ``None`` when the server did not send it or sent something unparseable.

    ``buckets`` holds every ``x-ratelimit-*`` bucket by kind (``"requests"``,
    ``"tokens-per-minute"``, ...), in the order the headers came.
    """

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    retry_after: float | None = None
    # Not hashed: a mapping proxy has no hash (equality still compares the buckets).
    buckets: Mapping[str, RateLimitBucket] = attrs.field(
        default=_NO_BUCKETS, converter=_frozen_buckets, hash=False
    )

    def __reduce__(self) -> tuple[Any, ...]:
        # A mapping proxy neither copies nor pickles: the buckets travel as a tuple.
        return _restore_rate_limit, (
            self.limit,
            self.remaining,
            self.reset_at,
            self.retry_after,
            tuple(self.buckets.values()),
        )

    @property
    def reset_after(self) -> float | None:
        """Seconds from now until ``reset_at`` (never negative)."""
        return _seconds_until(self.reset_at)

    @property
    def requests(self) -> RateLimitBucket | None:
        """The ``x-ratelimit-*-requests`` bucket, if the server sent one."""
        return self.buckets.get("requests")

    @property
    def token_buckets(self) -> tuple[RateLimitBucket, ...]:
        """The token buckets: ``tokens`` (OpenAI), ``tokens-per-minute`` and
        ``tokens-per-day`` (DigitalOcean serverless inference)."""
        return tuple(bucket for kind, bucket in self.buckets.items() if kind.startswith("tokens"))


#: The rate limit of a response without rate-limit or retry-after headers (immutable, so
#: shared).
_NO_RATE_LIMIT = RateLimit()


def _restore_rate_limit(
    limit: int | None,
    remaining: int | None,
    reset_at: float | None,
    retry_after: float | None,
    buckets: tuple[RateLimitBucket, ...],
) -> RateLimit:
    """Rebuild a :class:`RateLimit` from its ``__reduce__`` (module-level: pickle finds it)."""
    return RateLimit(
        limit, remaining, reset_at, retry_after, {bucket.kind: bucket for bucket in buckets}
    )


def _seconds_until(when: float | None) -> float | None:
    if when is None:
        return None
    return max(0.0, when - time.time())


@attrs.frozen
class ResponseInfo:
    """What the HTTP response said about the call, besides its body.

    ``headers`` is case-insensitive. ``elapsed`` is seconds from sending the (last)
    request to receiving its headers; ``attempts`` counts the attempts the call made (a
    request re-sent at once because the server had closed its pooled connection is not
    counted again).
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
        # Stored plainly, then made frozen (``_frozen``).
        info: Any = _new(_INFO_BUILDER if cls is ResponseInfo else builder(cls))
        info.status = status
        info.headers = headers
        info.url = url
        info.elapsed = elapsed
        info.attempts = attempts
        info.__class__ = cls
        result: ResponseInfo = info
        return result

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
        """The rate-limit headers, both families, parsed afresh on each access."""
        headers = self.headers
        limit, remaining, reset, buckets = request_limits(headers)
        retry_after = parse_retry_after(headers)
        if not buckets and limit is None and remaining is None and reset is None:
            if retry_after is None:
                return _NO_RATE_LIMIT  # most responses: nothing to parse, nothing to build
            return RateLimit(retry_after=retry_after)
        return RateLimit(limit, remaining, reset, retry_after, MappingProxyType(buckets))


def request_limits(
    headers: Mapping[str, str],
) -> tuple[int | None, int | None, float | None, dict[str, RateLimitBucket]]:
    """``limit``, ``remaining`` and ``reset_at`` of :class:`RateLimit` (the agent's
    ``ratelimit-*``, else the ``x-ratelimit-*-requests`` bucket), and the buckets by kind.

    What a fan-out's pacer reads on every response: all of :attr:`ResponseInfo.rate_limit`
    but ``retry_after``, without building the object.
    """
    now = time.time()
    buckets = _buckets(headers, now)
    raw_limit = headers.get("ratelimit-limit")
    raw_remaining = headers.get("ratelimit-remaining")
    raw_reset = headers.get("ratelimit-reset")
    if raw_limit is None and raw_remaining is None and raw_reset is None:
        requests = buckets.get("requests")
        if requests is None:
            return None, None, None, buckets
        return requests.limit, requests.remaining, requests.reset_at, buckets
    reset = _number(raw_reset)
    if reset is not None and reset < _EPOCH_THRESHOLD:
        reset += now
    return _integer(raw_limit), _integer(raw_remaining), reset, buckets


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


def _buckets(headers: Mapping[str, str], now: float) -> dict[str, RateLimitBucket]:
    """The ``x-ratelimit-<field>-<kind>`` headers as buckets by kind (the first of repeats)."""
    # Most responses have none: one look at all the names (a third of the loop's cost) first.
    if _BUCKET_PREFIX not in "\n".join(headers).lower():
        return {}
    found: dict[str, list[str | None]] = {}
    for name, value in headers.items():
        name = name.lower()
        if not name.startswith(_BUCKET_PREFIX):
            continue
        field, _, kind = name[len(_BUCKET_PREFIX) :].partition("-")
        index = _BUCKET_FIELDS.get(field)
        if index is None or not kind:  # e.g. GitHub's kind-less x-ratelimit-remaining
            continue
        raw = found.setdefault(kind, [None, None, None])
        if raw[index] is None:
            raw[index] = value
    return {
        kind: RateLimitBucket(kind, _integer(limit), _integer(remaining), _bucket_reset(reset, now))
        for kind, (limit, remaining, reset) in found.items()
    }


def _bucket_reset(value: str | None, now: float) -> float | None:
    """An ``x-ratelimit-reset-*`` value as a Unix timestamp: a timestamp (DigitalOcean), a
    number of seconds from now, or a duration (OpenAI: ``6m0s``, ``20ms``). Zero, DigitalOcean's
    "there is room now", is ``None``, as is anything negative or unparseable."""
    if value is None:
        return None
    seconds = _number(value)
    if seconds is None:
        seconds = _duration(value)
        if seconds is None:
            return None
    elif seconds >= _EPOCH_THRESHOLD:
        return seconds
    return now + seconds if seconds > 0 else None


def _duration(value: str) -> float | None:
    """A Go-style duration (``1h2m3.5s``, ``6m0s``, ``20ms``) in seconds, else ``None``."""
    text = value.strip().lower()
    if not text or re.fullmatch(f"(?:{_DURATION_TERM})+", text) is None:
        return None
    return sum(
        float(number) * _DURATION_UNITS[unit] for number, unit in re.findall(_DURATION_TERM, text)
    )


def _number(value: str | None) -> float | None:
    """A finite number (``float()`` ignores surrounding whitespace), else ``None``."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if isfinite(number) else None


def _integer(value: str | None) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


# ResponseInfo has no validators or converters: ``of`` may build it as its builder.
_new = object.__new__
_INFO_BUILDER = builder(ResponseInfo)
