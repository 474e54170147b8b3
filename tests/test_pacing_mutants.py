"""The pacer's edges: AIMD steps and bounds, the 429 count, the server's request budget less
the requests in flight, token buckets, the 60 s pause limit and the caller's tokens per minute.

A :class:`Pacer` is driven directly with :class:`ResponseInfo` objects, as in
``tests/test_rate_limits.py`` (whose helpers are reused); the once-per-second rule of the
halving is checked on a controlled clock.
"""

from __future__ import annotations

import math
import tracemalloc
from types import SimpleNamespace

import pytest

from agentchat import Progress, _pacing
from agentchat._backoff import MAX_RETRY_AFTER, RetryDelay
from agentchat._pacing import Pacer
from agentchat.testing import FakeAgentServer

from .test_fanout import ask
from .test_rate_limits import _info, _time_to_send

NO_WAIT = RetryDelay(0.0, "retry-after")  # a 429 whose pause does not hold up the test
PAST = "1444931833.5"  # a serverless reset as a Unix timestamp, long past: reset_after == 0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pacer's monotonic clock reads ``clock[0]`` (only the pacer's: its module's
    ``time`` is replaced). No send may wait on it: nothing advances it but the test."""
    now = [1000.0]
    monkeypatch.setattr(_pacing, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


# -- concurrency: a 429 halves it, once per second, down to 1 ---------------------------------


def test_each_429_is_counted_and_halves_once_per_second_down_to_one(clock: list[float]) -> None:
    pacer = Pacer(4)
    halved = []
    for at in (1000.0, 1000.5, 1001.0, 1002.5):
        clock[0] = at
        pacer.on_response(_info({}, status=429), NO_WAIT)
        halved.append(pacer.concurrency)
    # 4 -> 2; 0.5 s later the same burst; exactly 1 s after the last halving a new one;
    # and never below one request at a time.
    assert halved == [2, 2, 1, 1]
    assert pacer.rate_limited == 4  # every 429, not only those that halved


# -- concurrency: successes grow it by about one per round trip --------------------------------


def test_successes_grow_concurrency_by_one_over_a_round_trip() -> None:
    pacer = Pacer(16)
    pacer.on_response(_info({}, status=429), NO_WAIT)
    assert pacer.concurrency == 8
    grown = []
    for _ in range(9):
        pacer.on_response(_info({}))
        grown.append(pacer.concurrency)
    # Each success adds 1/8 or a little less: the ninth answer makes the ninth slot.
    assert grown == [8] * 8 + [9]


@pytest.mark.parametrize("status", [300, 404, 500, 503])
def test_only_successes_grow_concurrency(status: int) -> None:
    pacer = Pacer(16)
    pacer.on_response(_info({}, status=429), NO_WAIT)
    for _ in range(20):
        pacer.on_response(_info({}, status=status))
    assert pacer.concurrency == 8
    for _ in range(20):
        pacer.on_response(_info({}, status=299))
    assert pacer.concurrency > 8  # the control: 2xx answers do


# -- the server's request budget, less the requests in flight ----------------------------------


@pytest.mark.parametrize(("in_flight", "remaining", "sends"), [(1, 1, 1), (3, 3, 1), (1, 2, 2)])
async def test_the_budget_counts_the_other_requests_in_flight(
    in_flight: int, remaining: int, sends: int
) -> None:
    # ``in_flight`` includes the request of this very answer, which the server has counted
    # already; the others will be counted too: ``remaining - (in_flight - 1)`` sends are left.
    pacer = Pacer(4)
    pacer.in_flight = in_flight
    pacer.on_response(
        _info(
            {
                "x-ratelimit-remaining-requests": str(remaining),
                "x-ratelimit-reset-requests": "200ms",
            }
        )
    )
    for _ in range(sends):
        assert await _time_to_send(pacer) < 0.1
    assert 0.15 < await _time_to_send(pacer) < 1.0  # the budget is spent: wait for the reset


async def test_a_reset_already_past_leaves_the_budget_of_the_window_ahead() -> None:
    pacer = Pacer(4)
    pacer.in_flight = 1
    exhausted = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "200ms"}
    pacer.on_response(_info(exhausted))
    # A later answer whose reset is no later than now says nothing of the window ahead.
    pacer.on_response(
        _info({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": PAST})
    )
    assert 0.15 < await _time_to_send(pacer) < 1.0


# -- token buckets and the 60 s limit of a pause ------------------------------------------------


async def test_a_token_bucket_with_one_token_left_does_not_pause() -> None:
    pacer = Pacer(4)
    pacer.on_response(
        _info({"x-ratelimit-remaining-tokens": "1", "x-ratelimit-reset-tokens": "5s"})
    )
    assert await _time_to_send(pacer) < 0.1
    pacer.on_response(
        _info({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "5s"})
    )
    assert await _time_to_send(pacer, bound=0.15) == math.inf  # the control: none left


async def test_a_pause_of_exactly_the_limit_is_taken() -> None:
    pacer = Pacer(4)
    pacer.on_response(_info({}, status=429), RetryDelay(MAX_RETRY_AFTER, "retry-after"))
    assert await _time_to_send(pacer, bound=0.15) == math.inf
    longer = Pacer(4)
    longer.on_response(_info({}, status=429), RetryDelay(MAX_RETRY_AFTER + 0.01, "retry-after"))
    assert await _time_to_send(longer) < 0.1


# -- the caller's tokens per minute --------------------------------------------------------------


async def test_a_single_token_counts() -> None:
    pacer = Pacer(4, tokens_per_minute=1, period=0.2)
    await pacer.before_send()
    pacer.record_tokens(1)
    assert 0.15 < await _time_to_send(pacer) < 1.0


async def test_the_tokens_of_every_call_add_up() -> None:
    pacer = Pacer(4, tokens_per_minute=100, period=0.2)
    await pacer.before_send()
    pacer.record_tokens(60)
    assert await _time_to_send(pacer) < 0.1  # 60 of 100: room left
    pacer.record_tokens(39)
    assert await _time_to_send(pacer) < 0.1  # 99 of 100: room left
    pacer.record_tokens(21)
    assert 0.15 < await _time_to_send(pacer) < 1.0  # 120 of 100


def test_without_a_tokens_limit_no_token_is_kept() -> None:
    # Without ``tokens_per_minute`` nothing ever drops old entries, so none may be kept: a
    # fan-out of millions of calls would otherwise hold an entry per call.
    pacer = Pacer(4)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            pacer.record_tokens(1_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000, grown  # an entry per call would be well over 1 MB


# -- the caller's requests per minute ------------------------------------------------------------


async def test_a_send_exactly_one_period_later_opens_the_window_for_one_send(
    clock: list[float],
) -> None:
    pacer = Pacer(4, requests_per_minute=1)
    assert await _time_to_send(pacer, bound=0.1) < 0.1
    clock[0] += 60.0  # the first send leaves the window now
    assert await _time_to_send(pacer, bound=0.1) < 0.1
    # ... and counts no more: the window holds the one send just made, so the next waits
    # (on the frozen clock, until the bound).
    assert await _time_to_send(pacer, bound=0.1) == math.inf


async def test_tokens_leave_the_window_exactly_one_period_after_their_call(
    clock: list[float],
) -> None:
    pacer = Pacer(4, tokens_per_minute=100)

    async def send_at(at: float) -> float:
        clock[0] = at
        return await _time_to_send(pacer, bound=0.1)

    assert await send_at(1000.0) < 0.1
    pacer.record_tokens(90)
    assert await send_at(1010.0) < 0.1
    pacer.record_tokens(20)
    assert await send_at(1030.0) == math.inf  # 110 of 100 (waits on the frozen clock)
    assert await send_at(1060.0) < 0.1  # the 90 are out of the window now: 20 left
    pacer.record_tokens(20)
    assert await send_at(1060.0) < 0.1  # 40 of 100
    pacer.record_tokens(80)
    assert await send_at(1060.0) == math.inf  # 120 of 100: until the 20 of 1010 leave


# -- in flight, as a fan-out's progress reports it ---------------------------------------------


async def test_a_fan_out_counts_only_the_requests_it_has_in_flight(
    server: FakeAgentServer,
) -> None:
    seen: list[Progress] = []
    async with server.client(max_retries=0) as client:
        fan_out = client.agent.chat.completions.create_many(
            (ask(f"q{i}") for i in range(3)), max_concurrency=1, on_progress=seen.append
        )
        async with fan_out as results:
            outcomes = [outcome async for outcome in results]
            final = results.progress
    assert all(outcome.ok for outcome in outcomes)
    # One worker: each outcome is reported after its request is done, with none in flight.
    assert [p.in_flight for p in seen] == [0, 0, 0]
    assert final.in_flight == 0
