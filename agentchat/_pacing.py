"""How fast a fan-out sends: adaptive concurrency, server rate limits and the caller's limits.

One :class:`Pacer` serves all the workers of a fan-out. The transport asks it before every
attempt (``before_send``) and tells it about every response (``on_response``):

- **Concurrency adapts** (additive increase, multiplicative decrease): each success raises the
  allowed concurrency by about one per round trip, up to ``max_concurrency``; a 429 halves it
  (at most once per second, so one burst of 429s counts once).
- **A 429 pauses everyone**, not just the request that got it, since the limit is shared: for
  the same wait as the retry of that request (:func:`~agentchat._backoff.delay_after_429`:
  the ``Retry-After``, else the soonest rate-limit reset, else a backoff).
- **The server's rate-limit headers are read** to stop *before* the limit: each response's
  remaining requests (``ratelimit-remaining``, or ``x-ratelimit-remaining-requests`` from
  DigitalOcean serverless inference and OpenAI-style servers), less the other requests already
  in flight (which the server will count too), is the number of sends left until the reset;
  when none are left, sends wait for the reset instead of drawing 429s. A token bucket
  (``x-ratelimit-remaining-tokens``, ``-tokens-per-minute``, ``-tokens-per-day``) with nothing
  left pauses sends until its reset.
- **The caller's limits**: at most ``requests_per_minute`` sends and ``tokens_per_minute``
  tokens (from each completion's usage) in any 60-second window.

A pause longer than :data:`~agentchat._backoff.MAX_RETRY_AFTER` is not taken (a token bucket
per day, a ``Retry-After`` of an hour): the calls go on and each fails at once with the error
that says when the limit resets, as a single call does, instead of the fan-out being parked
for hours without a word.
"""

from __future__ import annotations

import collections
import time

import anyio

from ._backoff import MAX_RETRY_AFTER, RetryDelay, delay_after_429
from ._response import ResponseInfo, request_limits

__all__ = ["Pacer"]

WINDOW = 60.0


class Pacer:
    """Paces the workers of one fan-out (see the module docstring)."""

    def __init__(
        self,
        max_concurrency: int,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        adaptive: bool = True,
        period: float = WINDOW,
    ) -> None:
        self.max_concurrency = max_concurrency
        self._period = period  # the "minute" of the per-minute limits (shorter in tests)
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self._allowed = float(max_concurrency)
        self._adaptive = adaptive
        self._rpm = requests_per_minute
        self._tpm = tokens_per_minute
        self._sends: collections.deque[float] = collections.deque()  # for the rpm window
        self._tokens: collections.deque[tuple[float, int]] = collections.deque()
        self._tokens_in_window = 0
        self._paused_until = 0.0
        self._last_decrease = 0.0
        self._budget: int | None = None  # sends the server still allows in this window
        self._reset_at = 0.0  # when that window ends (monotonic)
        self.rate_limited = 0  # 429s seen
        self.in_flight = 0

    @property
    def concurrency(self) -> int:
        """The concurrency allowed now."""
        return int(self.limiter.total_tokens)

    async def before_send(self) -> None:
        while True:
            now = time.monotonic()
            wait = max(
                self._paused_until - now,
                self._budget_wait(now),
                self._rpm_wait(now),
                self._tpm_wait(now),
            )
            if wait <= 0:
                break
            await anyio.sleep(wait)
        if self._budget is not None:
            self._budget -= 1
        if self._rpm is not None:
            self._sends.append(time.monotonic())

    def on_response(self, info: ResponseInfo, delay: RetryDelay | None = None) -> None:
        """Adapt to one response. For a 429, ``delay`` is the wait the transport computed for
        its retry; everyone pauses as long (without it, it is computed the same way)."""
        now = time.monotonic()
        if info.status == 429:
            self.rate_limited += 1
            if delay is None:
                delay = delay_after_429(info.rate_limit, 1)
            self._pause(now, delay.seconds)
            if self._adaptive and now - self._last_decrease >= 1.0:
                self._last_decrease = now
                self._set_allowed(self._allowed / 2)
            return
        if self._adaptive and info.status < 300 and self._allowed < self.max_concurrency:
            self._set_allowed(self._allowed + 1 / self._allowed)
        # The parts of info.rate_limit a pacer needs, without building it: on every response.
        _, remaining, reset_at, buckets = request_limits(info.headers)
        if remaining is not None and reset_at is not None:
            reset_after = reset_at - time.time()
            if reset_after > 0:
                # The other requests in flight were sent before this answer and will count too.
                self._budget = remaining - max(0, self.in_flight - 1)
                self._reset_at = now + reset_after
        if not buckets:  # most servers send none
            return
        for kind, bucket in buckets.items():
            if kind.startswith("tokens") and bucket.remaining is not None and bucket.remaining <= 0:
                wait = bucket.reset_after
                if wait:  # None or 0: no reset ahead to wait for
                    self._pause(now, wait)

    def _pause(self, now: float, seconds: float) -> None:
        """Hold every send for ``seconds``, unless that is longer than agentchat waits for
        (see the module docstring)."""
        if seconds <= MAX_RETRY_AFTER:
            self._paused_until = max(self._paused_until, now + seconds)

    def record_tokens(self, tokens: int) -> None:
        """Count a finished call's tokens against ``tokens_per_minute``."""
        if self._tpm is not None and tokens > 0:
            self._tokens.append((time.monotonic(), tokens))
            self._tokens_in_window += tokens

    def _set_allowed(self, allowed: float) -> None:
        self._allowed = min(float(self.max_concurrency), max(1.0, allowed))
        self.limiter.total_tokens = int(self._allowed)

    def _budget_wait(self, now: float) -> float:
        if self._budget is None:
            return 0.0
        if now >= self._reset_at:
            self._budget = None  # a new window: unknown until the next response says
            return 0.0
        return self._reset_at - now if self._budget <= 0 else 0.0

    def _rpm_wait(self, now: float) -> float:
        if self._rpm is None:
            return 0.0
        sends = self._sends
        while sends and sends[0] <= now - self._period:
            sends.popleft()
        if len(sends) < self._rpm:
            return 0.0
        return sends[0] + self._period - now

    def _tpm_wait(self, now: float) -> float:
        if self._tpm is None:
            return 0.0
        tokens = self._tokens
        while tokens and tokens[0][0] <= now - self._period:
            self._tokens_in_window -= tokens.popleft()[1]
        if self._tokens_in_window < self._tpm or not tokens:
            return 0.0
        return tokens[0][0] + self._period - now
