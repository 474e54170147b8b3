"""When to retry and how long to wait: pure functions, no I/O."""

from __future__ import annotations

import random
from typing import Any

from ._errors import InvalidRequestError

__all__ = [
    "INITIAL_DELAY",
    "MAX_DELAY",
    "MAX_RETRY_AFTER",
    "RETRYABLE_STATUSES",
    "backoff_delay",
    "check_max_retries",
    "is_retryable_status",
]

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
#: A ``Retry-After`` longer than this is not slept through: the error is raised at once, so a
#: caller is never parked for minutes without knowing why.
MAX_RETRY_AFTER = 60.0

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
