"""When to retry and how long to wait: pure functions, no I/O."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ._errors import InvalidRequestError

if TYPE_CHECKING:
    from ._response import RateLimit

__all__ = [
    "INITIAL_DELAY",
    "MAX_DELAY",
    "MAX_RETRY_AFTER",
    "MIN_RESET_WAIT",
    "RESET_JITTER",
    "RETRYABLE_STATUSES",
    "RetryDelay",
    "backoff_delay",
    "check_max_retries",
    "delay_after_429",
    "is_retryable_status",
]

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
#: A wait longer than this (a ``Retry-After``, or a rate limit's reset after a 429) is not
#: slept through: the error is raised at once, so a caller is never parked for minutes without
#: knowing why. It also caps the exponential backoff after a 429.
MAX_RETRY_AFTER = 60.0
#: After a 429, a rate limit's reset is waited for at least this long, plus RESET_JITTER.
MIN_RESET_WAIT = 1.0
#: The random seconds added to a wait after a 429, so that clients limited together do not
#: come back together.
RESET_JITTER = (0.25, 0.5)


class RetryDelay(NamedTuple):
    """How long to wait before retrying a 429, and why.

    ``basis`` is ``"retry-after"`` (the server said), ``"reset"`` (a rate limit's reset:
    ``bucket`` names it, ``None`` for the agent's ``ratelimit-reset``, and ``reset_at`` is when,
    in Unix seconds) or ``"backoff"`` (nothing usable was said).
    """

    seconds: float
    basis: Literal["retry-after", "reset", "backoff"]
    bucket: str | None = None
    reset_at: float | None = None

    def describe(self, now: float | None = None) -> str:
        """Why the wait is what it is, for an error message."""
        if self.basis == "reset" and self.reset_at is not None:
            now = time.time() if now is None else now
            name = f"the {self.bucket} rate limit" if self.bucket else "the rate limit"
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.reset_at))
            return f"{name} resets in {_span(self.reset_at - now)} (at {when})"
        if self.basis == "retry-after":
            return f"the server asked to wait {self.seconds:g} s"
        return f"backing off {self.seconds:.2f} s"


def delay_after_429(limits: RateLimit, retry: int, *, now: float | None = None) -> RetryDelay:
    """How long to wait before retry number ``retry`` (1 for the first) of a 429, following
    DigitalOcean's advice for serverless inference:

    1. the ``Retry-After`` (or ``retry-after-ms``) if the server sent one;
    2. else the soonest non-zero reset among the rate limits (each ``x-ratelimit-reset-<kind>``
       bucket, and the agent's ``ratelimit-reset``): ``max(reset - now, MIN_RESET_WAIT)`` plus
       a jitter in ``RESET_JITTER``;
    3. else (no reset, or only zeros, which after a 429 do not mean "retry at once"):
       exponential backoff, ``min(INITIAL_DELAY * 2**(retry - 1) + jitter, MAX_RETRY_AFTER)``.

    The result may exceed :data:`MAX_RETRY_AFTER` (cases 1 and 2): the caller decides.
    """
    if limits.retry_after is not None:
        return RetryDelay(limits.retry_after, "retry-after")
    soonest: float | None = None
    bucket: str | None = None
    for candidate in limits.buckets.values():
        if candidate.reset_at is not None and (soonest is None or candidate.reset_at < soonest):
            soonest, bucket = candidate.reset_at, candidate.kind
    # The agent's ratelimit-reset (when ratelimit-* is absent this is the requests bucket's,
    # already seen: strictly sooner only, so the bucket keeps its name).
    if limits.reset_at is not None and (soonest is None or limits.reset_at < soonest):
        soonest, bucket = limits.reset_at, None
    if soonest is not None:
        now = time.time() if now is None else now
        seconds = max(soonest - now, MIN_RESET_WAIT) + random.uniform(*RESET_JITTER)
        return RetryDelay(seconds, "reset", bucket, soonest)
    step = INITIAL_DELAY * 2.0 ** min(max(retry - 1, 0), 16)  # bounded: no float overflow
    return RetryDelay(min(step + random.uniform(*RESET_JITTER), MAX_RETRY_AFTER), "backoff")


def _span(seconds: float) -> str:
    """A wait in words: ``42 s``, ``17 min``, ``5 h 3 min``."""
    if seconds < 120:
        return f"{max(0.0, seconds):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    """408 Request Timeout, 409 Conflict, 429 Too Many Requests and every 5xx."""
    return status >= 500 or status in RETRYABLE_STATUSES


def backoff_delay(retry: int, *, initial: float = INITIAL_DELAY, cap: float = MAX_DELAY) -> float:
    """Seconds to sleep before retry number ``retry`` (1 for the first retry).

    Exponential (0.5 s, 1 s, 2 s, ... up to ``cap``) with "equal jitter": a random point in the
    upper half of the step, so that many clients that failed together do not retry together,
    yet no retry comes back almost at once.
    """
    step = min(cap, initial * 2.0 ** (retry - 1))
    return step / 2 + random.uniform(0.0, step / 2)


def check_max_retries(value: Any, param: str = "max_retries") -> int:
    """A retry count: a whole number from 0 (no retries) up."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRequestError(param, value, "an integer >= 0 is required")
    return value
