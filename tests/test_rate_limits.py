"""Rate limits of both families, the wait after a 429, and the fan-out's pacing on them.

- Parsing: the agent's ``ratelimit-*``, and the per-bucket ``x-ratelimit-<field>-<kind>`` of
  DigitalOcean serverless inference (resets as Unix timestamps, 0 = room now) and of
  OpenAI-style servers (resets as durations such as ``6m0s``).
- :func:`delay_after_429`, DigitalOcean's published advice: ``Retry-After``, else the soonest
  non-zero reset (at least 1 s, plus 250-500 ms of jitter), else exponential backoff capped at
  60 s; longer waits are raised at once. Pure, then on the wire with the sleep recorded.
- The pacer: a budget from ``x-ratelimit-remaining-requests``, a pause on an empty token
  bucket, a 429's pause equal to its retry's wait; checked against a local server that sees
  every send.
"""

from __future__ import annotations

import asyncio
import copy
import math
import pickle
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import MappingProxyType, SimpleNamespace
from typing import Any

import anyio
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from agentchat import (
    AsyncAgentClient,
    Outcome,
    RateLimitError,
    ResponseInfo,
    _backoff,
    _response,
    _transport,
)
from agentchat._backoff import RetryDelay, delay_after_429
from agentchat._pacing import Pacer
from agentchat._response import RateLimit, RateLimitBucket
from agentchat._transport import current_pacing
from agentchat.testing import FakeAgentServer

from .conftest import USER, create

NOW = 1_800_000_000.0  # 2027-01-15, the clock of the parsing tests


def _info(headers: Mapping[str, str], status: int = 200) -> ResponseInfo:
    return ResponseInfo(status=status, headers=CIMultiDictProxy(CIMultiDict(headers)), url="u")


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser's clock reads NOW (only the parser's: the module's ``time`` is replaced)."""
    monkeypatch.setattr(_response, "time", SimpleNamespace(time=lambda: NOW))


@pytest.fixture
def low_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every jitter draw is its lower bound: 0.25 s after a 429, no jitter in other backoffs."""
    monkeypatch.setattr(_backoff, "random", SimpleNamespace(uniform=lambda low, high: low))


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The transport's sleeps between attempts, recorded instead of slept."""
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(_transport, "_sleep", record)
    return delays


# -- parsing ----------------------------------------------------------------------------------

SERVERLESS = {
    "x-ratelimit-limit-requests": "600",
    "x-ratelimit-remaining-requests": "599",
    "x-ratelimit-reset-requests": "0",
    "x-ratelimit-limit-tokens-per-minute": "200000",
    "x-ratelimit-remaining-tokens-per-minute": "0",
    "x-ratelimit-reset-tokens-per-minute": str(int(NOW) + 42),
    "x-ratelimit-limit-tokens-per-day": "5000000",
    "x-ratelimit-remaining-tokens-per-day": "123456",
    "x-ratelimit-reset-tokens-per-day": "0",
}


def test_digitalocean_serverless_buckets(frozen_clock: None) -> None:
    limits = _info(SERVERLESS).rate_limit
    assert list(limits.buckets) == ["requests", "tokens-per-minute", "tokens-per-day"]
    assert limits.buckets["requests"] == RateLimitBucket("requests", 600, 599, None)
    assert limits.buckets["tokens-per-minute"] == RateLimitBucket(
        "tokens-per-minute", 200_000, 0, NOW + 42
    )
    assert limits.buckets["tokens-per-day"] == RateLimitBucket(
        "tokens-per-day",
        5_000_000,
        123_456,
        None,  # 0: room now, no wait
    )
    # Without ratelimit-*, the unified fields are the requests bucket's.
    assert (limits.limit, limits.remaining, limits.reset_at) == (600, 599, None)
    assert limits.requests is limits.buckets["requests"]
    assert [b.kind for b in limits.token_buckets] == ["tokens-per-minute", "tokens-per-day"]
    assert limits.retry_after is None


def test_the_unified_fields_take_the_requests_reset_too(frozen_clock: None) -> None:
    limits = _info(
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": str(int(NOW) + 7)}
    ).rate_limit
    assert (limits.limit, limits.remaining, limits.reset_at) == (None, 0, NOW + 7)


def test_openai_buckets(frozen_clock: None) -> None:
    limits = _info(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    ).rate_limit
    assert limits.buckets["requests"].reset_at == pytest.approx(NOW + 0.12)
    assert limits.buckets["tokens"] == RateLimitBucket("tokens", 30_000, 29_000, NOW + 360)
    assert limits.remaining == 499
    assert limits.requests is not None and limits.requests.limit == 500
    assert limits.token_buckets == (limits.buckets["tokens"],)


@pytest.mark.parametrize(
    ("value", "seconds_from_now"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("1m30.5s", 90.5),
        ("1.5h", 5400.0),
        ("500us", 0.0005),
        ("250\u00b5s", 0.00025),
        (" 2S ", 2.0),
        ("30", 30.0),  # a small number: seconds from now
        ("0.25", 0.25),
    ],
)
def test_reset_durations_and_deltas(
    value: str, seconds_from_now: float, frozen_clock: None
) -> None:
    bucket = _info({"x-ratelimit-reset-tokens": value}).rate_limit.buckets["tokens"]
    assert bucket.reset_at == pytest.approx(NOW + seconds_from_now)


@pytest.mark.parametrize(
    "value",
    ["0", "0s", "0ms", "0.0", "", "soon", "-1", "-5s", "1x", "m", "s1", "1h-2m", "nan", "inf"],
)
def test_zero_or_garbage_resets_are_none(value: str, frozen_clock: None) -> None:
    bucket = _info({"x-ratelimit-reset-requests": value}).rate_limit.buckets["requests"]
    assert bucket.reset_at is None and bucket.reset_after is None


def test_a_reset_as_a_unix_timestamp_is_kept_as_is(frozen_clock: None) -> None:
    limits = _info({"x-ratelimit-reset-requests": "1444931833.5"}).rate_limit
    assert limits.buckets["requests"].reset_at == 1444931833.5
    assert limits.buckets["requests"].reset_after == 0.0  # in the past


def test_the_agent_headers_win_over_the_requests_bucket(frozen_clock: None) -> None:
    limits = _info(
        {
            "ratelimit-limit": "250",
            "ratelimit-remaining": "12",
            "ratelimit-reset": "30",
            "x-ratelimit-limit-requests": "600",
            "x-ratelimit-remaining-requests": "1",
        }
    ).rate_limit
    assert (limits.limit, limits.remaining, limits.reset_at) == (250, 12, NOW + 30)
    assert limits.buckets["requests"].remaining == 1  # still there


def test_garbage_bucket_values_become_none() -> None:
    limits = _info(
        {
            "x-ratelimit-limit-requests": "many",
            "x-ratelimit-remaining-requests": "nan",
            "x-ratelimit-reset-requests": "whenever",
            "x-ratelimit-remaining": "5",  # GitHub style, no kind: not a bucket
            "x-ratelimit-used-requests": "3",  # not a field of ours
            "x-ratelimit-": "1",
        }
    ).rate_limit
    assert limits.buckets == {"requests": RateLimitBucket("requests")}
    assert (limits.limit, limits.remaining, limits.reset_at) == (None, None, None)


def test_header_names_are_case_insensitive_and_kinds_lower_case(frozen_clock: None) -> None:
    headers = {
        "X-RateLimit-Remaining-Tokens-Per-Day": "0",
        "X-RATELIMIT-RESET-TOKENS-PER-DAY": str(int(NOW) + 60),
        "X-Ratelimit-Remaining-Requests": "9",
    }
    for info in (
        _info(headers),
        ResponseInfo(status=200, headers=headers, url="u"),  # a plain dict too
        ResponseInfo(status=200, headers=MappingProxyType(headers), url="u"),
    ):
        limits = info.rate_limit
        assert limits.buckets["tokens-per-day"] == RateLimitBucket(
            "tokens-per-day", None, 0, NOW + 60
        )
        assert limits.remaining == 9


def test_a_repeated_header_keeps_its_first_value() -> None:
    headers = CIMultiDict(
        [("x-ratelimit-remaining-tokens", "5"), ("X-RateLimit-Remaining-Tokens", "7")]
    )
    info = ResponseInfo(status=200, headers=CIMultiDictProxy(headers), url="u")
    assert info.rate_limit.buckets["tokens"].remaining == 5


def test_no_rate_limit_headers() -> None:
    limits = _info({"content-type": "application/json"}).rate_limit
    assert limits == RateLimit()
    assert limits.requests is None and limits.token_buckets == ()


class _CountingHeaders(dict[str, str]):
    """Headers that count how often they are read whole."""

    reads = 0

    def items(self) -> Any:
        type(self).reads += 1
        return super().items()


def test_rate_limits_are_parsed_on_access_only() -> None:
    _CountingHeaders.reads = 0  # the test may run twice in one process (mutmut does)
    headers = _CountingHeaders({"x-ratelimit-remaining-requests": "3"})
    info = ResponseInfo.of(200, headers, "u", 0.01, 1)
    copy.copy(info)
    assert _CountingHeaders.reads == 0
    assert info.rate_limit.remaining == 3
    assert info.rate_limit.remaining == 3  # parsed afresh, not kept
    assert _CountingHeaders.reads == 2


@pytest.mark.parametrize(
    "how",
    [copy.copy, copy.deepcopy]
    + [
        (lambda obj, p=p: pickle.loads(pickle.dumps(obj, p)))
        for p in range(pickle.HIGHEST_PROTOCOL + 1)
    ],
)
def test_rate_limits_with_buckets_copy_and_pickle(how: Callable[[Any], Any]) -> None:
    limits = _info({**SERVERLESS, "retry-after": "3"}).rate_limit
    again = how(limits)
    assert again == limits and again is not limits
    assert list(again.buckets) == list(limits.buckets)
    assert type(again.buckets) is MappingProxyType  # still read-only
    assert how(limits.buckets["requests"]) == limits.buckets["requests"]
    assert hash(again) == hash(limits)


def test_buckets_are_read_only_and_compared() -> None:
    bucket = RateLimitBucket("requests", 10, 0, NOW)
    made = RateLimit(remaining=0, buckets={"requests": bucket})
    assert type(made.buckets) is MappingProxyType
    with pytest.raises(TypeError):
        made.buckets["tokens"] = bucket  # type: ignore[index]
    assert made != RateLimit(remaining=0)
    assert made == RateLimit(remaining=0, buckets={"requests": bucket})


# -- the wait after a 429, as a pure function --------------------------------------------------


def _limits(retry_after: float | None = None, **resets: float | None) -> RateLimit:
    """A 429's limits with these buckets (``tokens_per_day=...``) reset at these times."""
    buckets = {
        kind.replace("_", "-"): RateLimitBucket(kind.replace("_", "-"), 100, 0, reset_at)
        for kind, reset_at in resets.items()
    }
    return RateLimit(retry_after=retry_after, buckets=buckets)


def test_retry_after_wins(low_jitter: None) -> None:
    delay = delay_after_429(_limits(2.0, requests=NOW + 30), 1, now=NOW)
    assert delay == RetryDelay(2.0, "retry-after")


def test_the_soonest_non_zero_reset_plus_jitter(low_jitter: None) -> None:
    limits = _limits(requests=None, tokens_per_minute=NOW + 5, tokens_per_day=NOW + 3600)
    delay = delay_after_429(limits, 1, now=NOW)
    assert delay == RetryDelay(5.25, "reset", "tokens-per-minute", NOW + 5)


def test_a_reset_is_waited_for_at_least_one_second(low_jitter: None) -> None:
    soon = delay_after_429(_limits(requests=NOW + 0.2), 1, now=NOW)
    past = delay_after_429(_limits(requests=NOW - 10), 3, now=NOW)
    assert soon.seconds == past.seconds == 1.25


def test_the_agents_ratelimit_reset_counts_as_a_reset(low_jitter: None) -> None:
    delay = delay_after_429(RateLimit(remaining=0, reset_at=NOW + 4), 1, now=NOW)
    assert delay == RetryDelay(4.25, "reset", None, NOW + 4)
    headers = _info({"ratelimit-remaining": "0", "ratelimit-reset": "4"}).rate_limit
    assert 4.2 < delay_after_429(headers, 1).seconds <= 4.25


def test_the_jitter_is_between_250_and_500_ms() -> None:
    draws = [delay_after_429(_limits(requests=NOW + 3), 1, now=NOW).seconds - 3 for _ in range(300)]
    assert all(0.25 <= jitter <= 0.5 for jitter in draws)
    assert max(draws) - min(draws) > 0.1  # random, not fixed


def test_reset_zero_after_a_429_backs_off_exponentially(low_jitter: None) -> None:
    limits = _limits(requests=None, tokens_per_minute=None)  # every reset said 0
    waits = [delay_after_429(limits, retry, now=NOW) for retry in range(1, 10)]
    assert {w.basis for w in waits} == {"backoff"}
    assert [w.seconds for w in waits] == [0.75, 1.25, 2.25, 4.25, 8.25, 16.25, 32.25, 60, 60]
    assert delay_after_429(RateLimit(), 10_000, now=NOW).seconds == 60  # no overflow


def test_the_backoff_jitter_is_random_too() -> None:
    draws = {delay_after_429(RateLimit(), 1, now=NOW).seconds for _ in range(100)}
    assert min(draws) >= 0.75 and max(draws) <= 1.0 and len(draws) > 1


def test_a_long_wait_names_the_bucket_and_when() -> None:
    limits = _limits(requests=None, tokens_per_day=NOW + 5 * 3600 + 12 * 60)
    delay = delay_after_429(limits, 1, now=NOW)
    assert delay.seconds > _backoff.MAX_RETRY_AFTER
    assert delay.describe(now=NOW) == (
        "the tokens-per-day rate limit resets in 5 h 12 min (at 2027-01-15 13:12:00 UTC)"
    )
    minutes = delay_after_429(_limits(tokens=NOW + 600), 1, now=NOW)
    assert minutes.describe(now=NOW).startswith("the tokens rate limit resets in 10 min")
    agent = delay_after_429(RateLimit(reset_at=NOW + 90), 1, now=NOW)
    assert agent.describe(now=NOW).startswith("the rate limit resets in 90 s")


# -- the wait after a 429, on the wire ---------------------------------------------------------

TOO_MANY = {"id": "too_many_requests", "message": "Rate limit exceeded"}


def _epoch(seconds_from_now: float) -> str:
    return f"{time.time() + seconds_from_now:.3f}"


async def test_a_429_waits_for_the_soonest_reset(
    server: FakeAgentServer, slept: list[float], low_jitter: None
) -> None:
    scripted = time.time()
    server.respond(
        429,
        json=TOO_MANY,
        headers={
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": _epoch(3),
            "x-ratelimit-remaining-tokens-per-day": "0",
            "x-ratelimit-reset-tokens-per-day": _epoch(7200),
            "x-ratelimit-reset-tokens-per-minute": "0",
        },
    )
    async with server.client(max_retries=1) as client:
        completion = await create(client)
    assert completion.response is not None and completion.response.attempts == 2
    (delay,) = slept
    # 3 s from when it was scripted, plus the jitter (0.25 s): the reset came closer since.
    assert 3.25 - (time.time() - scripted) - 0.001 < delay <= 3.251


async def test_a_429_with_retry_after_waits_as_asked(
    server: FakeAgentServer, slept: list[float], low_jitter: None
) -> None:
    server.respond(
        429,
        json=TOO_MANY,
        headers={
            "retry-after": "2",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": _epoch(30),
        },
    )
    async with server.client(max_retries=1) as client:
        await create(client)
    assert slept == [2.0]


async def test_a_429_with_resets_of_zero_backs_off_exponentially(
    server: FakeAgentServer, slept: list[float], low_jitter: None
) -> None:
    zero = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "0"}
    server.respond(429, json=TOO_MANY, headers=zero, times=3)
    async with server.client(max_retries=3) as client:
        completion = await create(client)
    assert completion.response is not None and completion.response.attempts == 4
    assert slept == [0.75, 1.25, 2.25]


async def test_a_reset_beyond_60_s_is_raised_at_once_naming_the_bucket(
    server: FakeAgentServer, slept: list[float]
) -> None:
    server.respond(
        429,
        json=TOO_MANY,
        headers={
            "x-ratelimit-remaining-requests": "99",
            "x-ratelimit-reset-requests": "0",
            "x-ratelimit-remaining-tokens-per-day": "0",
            "x-ratelimit-reset-tokens-per-day": _epoch(3 * 3600),
        },
    )
    async with server.client(max_retries=5) as client:
        with pytest.raises(RateLimitError) as info:
            await create(client)
    message = str(info.value)
    assert "not retried: the tokens-per-day rate limit resets in 3 h 0 min (at " in message
    assert "UTC), more than the 60 s agentchat sleeps for" in message
    assert slept == [] and len(server.requests) == 1 and info.value.attempts == 1
    assert info.value.response.rate_limit.buckets["tokens-per-day"].remaining == 0


@pytest.mark.parametrize(
    "headers", [{"retry-after": "3600"}, {"retry-after-ms": "3600000"}], ids=["seconds", "ms"]
)
async def test_a_retry_after_beyond_60_s_is_raised_at_once_naming_the_wait(
    server: FakeAgentServer, slept: list[float], headers: dict[str, str]
) -> None:
    # The retry would succeed (the next answer is a 200): only the cap stops it, at once.
    server.respond(429, json=TOO_MANY, headers=headers)
    async with server.client(max_retries=3) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await create(client)
        elapsed = time.monotonic() - started
    assert slept == [] and elapsed < 1
    assert (
        "Rate limit exceeded; not retried: the server asked to wait 3600 s, more than the 60 s "
        "agentchat sleeps for" in str(info.value)
    )
    assert info.value.attempts == 1 and len(server.requests) == 1


async def test_a_fan_out_is_not_parked_by_a_retry_after_beyond_60_s(
    server: FakeAgentServer, slept: list[float]
) -> None:
    # Each input fails at once saying why; the pacer does not hold the next ones for an hour.
    server.respond(429, json=TOO_MANY, headers={"retry-after": "3600"}, times=3)
    outcomes: list[Outcome] = []
    async with server.client(max_retries=3) as client:
        started = time.monotonic()
        with anyio.move_on_after(2):  # parked: fails below by assertion, not by a timeout
            async with client.agent.chat.completions.create_many(
                ({"model": "m", "messages": USER} for _ in range(3)), max_concurrency=1
            ) as results:
                async for outcome in results:
                    outcomes.append(outcome)
        elapsed = time.monotonic() - started
    assert len(outcomes) == 3, f"{len(outcomes)} of 3 inputs had an outcome after {elapsed:.1f} s"
    assert elapsed < 1 and slept == []
    for outcome in outcomes:
        assert isinstance(outcome.error, RateLimitError)
        assert "the server asked to wait 3600 s" in str(outcome.error)


async def test_exhausted_retries_carry_the_rate_limits(
    server: FakeAgentServer, slept: list[float]
) -> None:
    headers = {
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": _epoch(2),
        "x-ratelimit-remaining-tokens-per-minute": "0",
        "x-ratelimit-reset-tokens-per-minute": _epoch(4),
    }
    server.respond(429, json=TOO_MANY, headers=headers, times=3)
    async with server.client(max_retries=2) as client:
        with pytest.raises(RateLimitError) as info:
            await create(client)
    assert info.value.attempts == 3 and len(slept) == 2
    limits = info.value.response.rate_limit
    assert (limits.limit, limits.remaining) == (10, 0)
    assert limits.buckets["tokens-per-minute"].remaining == 0
    assert limits.buckets["tokens-per-minute"].reset_at is not None


async def test_other_statuses_ignore_the_resets(
    server: FakeAgentServer, slept: list[float], low_jitter: None
) -> None:
    # A 503 keeps today's rule: Retry-After, else the 0.5 s doubling backoff (no jitter here).
    resets = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": _epoch(30)}
    server.respond(503, json={"id": "x", "message": "busy"}, headers=resets, times=2)
    server.respond(503, json={"id": "x", "message": "busy"}, headers={"retry-after": "0.7"})
    async with server.client(max_retries=3) as client:
        await create(client)
    assert slept == [0.25, 0.5, 0.7]


class _RecordingPacing:
    """A fan-out's pacing stand-in that records what the transport tells it."""

    def __init__(self) -> None:
        self.told: list[tuple[int, RetryDelay | None]] = []

    async def before_send(self) -> None:
        return None

    def on_response(self, info: ResponseInfo, delay: RetryDelay | None = None) -> None:
        self.told.append((info.status, delay))


async def test_the_pacing_is_told_the_very_wait_the_retry_sleeps(
    server: FakeAgentServer, slept: list[float]
) -> None:
    server.respond(429, json=TOO_MANY, headers={"x-ratelimit-reset-requests": _epoch(2)})
    server.respond(429, json=TOO_MANY)  # nothing said: backoff
    pacing = _RecordingPacing()
    token = current_pacing.set(pacing)
    try:
        async with server.client(max_retries=2) as client:
            await create(client)
    finally:
        current_pacing.reset(token)
    (_, first), (_, second), (status, none) = pacing.told
    assert status == 200 and none is None
    assert first is not None and first.basis == "reset"
    assert second is not None and second.basis == "backoff"
    assert slept == [first.seconds, second.seconds]  # the same random draws: computed once


# -- the pacer ---------------------------------------------------------------------------------


async def _time_to_send(pacer: Pacer, bound: float = 2.0) -> float:
    """How long a send waits; infinity when it still waits after ``bound`` seconds (so a
    parked pacer fails the test's assertion then, not the suite's timeout)."""
    started = time.monotonic()
    with anyio.move_on_after(bound):
        await pacer.before_send()
        return time.monotonic() - started
    return math.inf


async def test_a_429_pauses_the_pacer_for_the_retrys_wait() -> None:
    pacer = Pacer(4)
    pacer.on_response(_info({}, status=429), RetryDelay(0.3, "reset", "requests", None))
    assert 0.28 <= await _time_to_send(pacer) < 1.0
    assert pacer.rate_limited == 1


async def test_a_429_alone_computes_the_same_wait(low_jitter: None) -> None:
    pacer = Pacer(4)
    pacer.on_response(_info({}, status=429))  # nothing said: the first backoff step
    assert 0.73 <= await _time_to_send(pacer) < 0.95


async def test_waits_beyond_60_s_do_not_park_the_pacer() -> None:
    pacer = Pacer(4)
    pacer.on_response(_info({}, status=429), RetryDelay(3600, "retry-after"))
    day = {
        "x-ratelimit-remaining-tokens-per-day": "0",
        "x-ratelimit-reset-tokens-per-day": _epoch(7200),
    }
    pacer.on_response(_info(day))
    assert await _time_to_send(pacer) < 0.1  # the calls go on, and fail saying why


@pytest.mark.parametrize(
    "headers",
    [
        {
            "x-ratelimit-remaining-tokens-per-minute": "5",
            "x-ratelimit-reset-tokens-per-minute": "1",
        },
        {
            "x-ratelimit-remaining-tokens-per-minute": "0",
            "x-ratelimit-reset-tokens-per-minute": "0",
        },
        {"x-ratelimit-remaining-tokens": "0"},
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "0"},
    ],
    ids=["tokens-left", "reset-zero", "no-reset", "requests-reset-zero"],
)
async def test_no_pause_without_an_empty_bucket_and_a_reset_ahead(headers: dict[str, str]) -> None:
    pacer = Pacer(4)
    pacer.in_flight = 3
    pacer.on_response(_info(headers))
    assert await _time_to_send(pacer) < 0.1


class _GatedServer:
    """An agent endpoint that shows whether a paced fan-out sends during a pause.

    The first ``wave`` requests (one per worker) are held until all have arrived; the first of
    them is then answered at once with ``first_headers()`` (the rate-limit news), the others
    only once ``pause`` seconds have passed. So during the pause no worker is busy with a
    response: anything that reaches the server then is a send the pacer let through.
    """

    def __init__(self, wave: int, pause: float, first_headers: Callable[[], dict[str, str]]):
        self.wave = wave
        self.pause = pause
        self.first_headers = first_headers
        self.first_status = 200
        self.arrivals: list[float] = []
        self.pause_ends = 0.0  # monotonic
        self._all_in = asyncio.Event()
        self._first_answered = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals.append(time.monotonic())
        number = len(self.arrivals)
        body = {
            "id": f"c{number}",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
        }
        room = {"x-ratelimit-remaining-requests": "1000", "x-ratelimit-reset-requests": "0"}
        if number > self.wave:
            return web.json_response(body, headers=room)
        if number == self.wave:
            self._all_in.set()
        await asyncio.wait_for(self._all_in.wait(), 5)
        if number == 1:
            self.pause_ends = time.monotonic() + self.pause
            headers = self.first_headers()
            self._first_answered.set()
            if self.first_status == 429:
                return web.json_response(TOO_MANY, status=429, headers=headers)
            return web.json_response(body, headers=headers)
        await asyncio.wait_for(self._first_answered.wait(), 5)
        await asyncio.sleep(self.pause_ends - time.monotonic() + 0.05)  # hold it past the pause
        return web.json_response(body, headers=room)

    def sent_during_the_pause(self) -> list[float]:
        return [at for at in self.arrivals[self.wave :] if at < self.pause_ends - 0.01]


@pytest.fixture
async def gated() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(gate: _GatedServer) -> AsyncAgentClient:
        app = web.Application()
        app.router.add_post("/api/v1/chat/completions", gate.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return AsyncAgentClient("key", f"http://127.0.0.1:{port}", max_retries=2)

    yield start
    for runner in runners:
        await runner.cleanup()


async def _fan_out(client: AsyncAgentClient, count: int, workers: int) -> None:
    questions = (
        {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(count)
    )
    async with client:
        with anyio.fail_after(10):
            outcomes = await client.agent.chat.completions.create_all(
                questions, max_concurrency=workers
            )
    assert len(outcomes) == count and all(o.ok for o in outcomes)


PAUSE = 0.3
EXHAUSTED: dict[str, Callable[[], dict[str, str]]] = {
    "serverless-requests": lambda: {
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": _epoch(PAUSE),
    },
    "serverless-tokens-per-minute": lambda: {
        "x-ratelimit-remaining-requests": "500",
        "x-ratelimit-reset-requests": "0",
        "x-ratelimit-remaining-tokens-per-minute": "0",
        "x-ratelimit-reset-tokens-per-minute": _epoch(PAUSE),
        "x-ratelimit-remaining-tokens-per-day": "90000",
        "x-ratelimit-reset-tokens-per-day": "0",
    },
    "openai-tokens": lambda: {
        "x-ratelimit-remaining-requests": "500",
        "x-ratelimit-reset-requests": "1ms",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": f"{PAUSE * 1000:.0f}ms",
    },
}


@pytest.mark.parametrize("family", list(EXHAUSTED))
async def test_the_pacer_holds_every_worker_until_the_reset(
    gated: Callable[..., Any], family: str
) -> None:
    gate = _GatedServer(wave=4, pause=PAUSE, first_headers=EXHAUSTED[family])
    await _fan_out(await gated(gate), count=10, workers=4)
    assert len(gate.arrivals) == 10
    assert gate.sent_during_the_pause() == []


async def test_without_an_exhausted_bucket_the_workers_go_on(gated: Callable[..., Any]) -> None:
    # The control for the test above: the same server, but room left, so sends do not wait.
    gate = _GatedServer(
        wave=4,
        pause=PAUSE,
        first_headers=lambda: {
            "x-ratelimit-remaining-requests": "9",
            "x-ratelimit-reset-requests": "0",
            "x-ratelimit-remaining-tokens-per-minute": "1000",
            "x-ratelimit-reset-tokens-per-minute": "0",
        },
    )
    await _fan_out(await gated(gate), count=10, workers=4)
    assert gate.sent_during_the_pause() != []


async def test_a_429_pauses_every_worker_until_its_reset(
    gated: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    # The floor of 1 s is lowered so the test stays short; the jitter is its lower bound.
    monkeypatch.setattr(_backoff, "MIN_RESET_WAIT", 0.0)
    monkeypatch.setattr(_backoff, "random", SimpleNamespace(uniform=lambda low, high: 0.05))
    gate = _GatedServer(
        wave=4,
        pause=PAUSE + 0.05,
        first_headers=lambda: {"x-ratelimit-reset-tokens-per-minute": _epoch(PAUSE)},
    )
    gate.first_status = 429
    await _fan_out(await gated(gate), count=10, workers=4)
    assert len(slept) == 1 and PAUSE - 0.02 < slept[0] <= PAUSE + 0.051  # the 429's retry
    assert len(gate.arrivals) == 11
    assert gate.sent_during_the_pause() == []
    # ... and no longer than that: the retry goes out as the pause ends.
    assert min(gate.arrivals[gate.wave :]) < gate.pause_ends + 0.2


async def test_a_429s_backoff_step_follows_the_attempt_number(
    server: FakeAgentServer, slept: list[float], low_jitter: None
) -> None:
    server.respond(503, json={"id": "x", "message": "busy"})
    server.respond(429, json=TOO_MANY)
    async with server.client(max_retries=2) as client:
        completion = await create(client)
    assert completion.response is not None and completion.response.attempts == 3
    assert slept == [0.25, 1.25]  # the 503's backoff (no jitter), then the 429's second step
