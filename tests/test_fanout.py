"""Fan-out: thousands of calls, bounded, paced, nothing lost or run twice."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from aiohttp import web

from agentchat import (
    AgentClient,
    AsyncAgentClient,
    AsyncFanOut,
    ChatCompletion,
    ChatMessage,
    InternalServerError,
    InvalidRequestError,
    Outcome,
    Progress,
    Request,
)
from agentchat._pacing import Pacer
from agentchat.testing import FakeAgentServer

from .conftest import checked_out


def ask(text: str, **options: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **options}


def answered_once(server: FakeAgentServer) -> Counter[str]:
    """How many times each question got a 200 from the server."""
    return Counter(
        request.json()["messages"][0]["content"]
        for request, status in server.answered
        if status == 200
    )


# -- correctness at scale -----------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_10000_requests_with_503s_and_429s_each_succeed_exactly_once(
    server: FakeAgentServer,
) -> None:
    server.fail_randomly(0.10, status=503, headers={"retry-after-ms": "5"}, seed=1)
    server.fail_randomly(0.02, status=429, headers={"retry-after-ms": "20"}, seed=2)
    questions = [f"q{i}" for i in range(10_000)]
    async with server.client(max_retries=8) as client:
        async with client.agent.chat.completions.create_many(
            (ask(q) for q in questions), max_concurrency=64
        ) as results:
            outcomes = [outcome async for outcome in results]
        assert checked_out(client) == 0
    assert [o.index for o in outcomes] == list(range(10_000))  # input order
    assert all(o.ok for o in outcomes)
    assert [o.result().choices[0].message.content for o in outcomes] == [
        f"Echo: {q}" for q in questions
    ]
    statuses = Counter(status for _, status in server.answered)
    assert statuses[503] > 500 and statuses[429] > 100  # the failures happened ...
    assert answered_once(server) == Counter(questions)  # ... and each input ran once


async def test_as_completed_every_index_once_with_its_id(server: FakeAgentServer) -> None:
    server.fail_randomly(0.2, status=503, headers={"retry-after-ms": "1"}, seed=3)
    requests = [Request(ask(f"q{i}"), id=f"id-{i}") for i in range(300)]
    async with (
        server.client(max_retries=8) as client,
        client.agent.chat.completions.create_many(
            requests, max_concurrency=16, ordered=False
        ) as results,
    ):
        outcomes = [outcome async for outcome in results]
    assert sorted(o.index for o in outcomes) == list(range(300))
    assert all(o.id == f"id-{o.index}" for o in outcomes)
    assert [o.index for o in outcomes] != list(range(300))  # retries reorder completions
    assert answered_once(server) == Counter(f"q{i}" for i in range(300))


async def test_async_iterable_input_and_create_all(server: FakeAgentServer) -> None:
    async def requests() -> AsyncIterator[dict[str, Any]]:
        for i in range(20):
            await asyncio.sleep(0)
            yield ask(f"q{i}")

    async with server.client() as client:
        outcomes = await client.agent.chat.completions.create_all(requests(), max_concurrency=4)
    assert [o.result().choices[0].message.content for o in outcomes] == [
        f"Echo: q{i}" for i in range(20)
    ]


async def test_each_failure_is_that_inputs_outcome(server: FakeAgentServer) -> None:
    server.respond(400, json={"id": "bad_request", "message": "no"})  # the first request sent
    requests: list[Any] = [
        ask("q0"),
        ask("q1", temperature=9),  # rejected locally
        {"model": "m", "messages": [{"role": "user", "content": "q2"}], "bogus": 1},  # unknown
        "not a request",
        ChatMessage(role="user", content="q4"),  # a message, not a request (though a Mapping)
        ask("q5"),
    ]
    async with server.client(max_retries=0) as client:
        outcomes = await client.agent.chat.completions.create_all(requests, max_concurrency=1)
    kinds = [type(o.error).__name__ if o.error else "ok" for o in outcomes]
    assert kinds == [
        "BadRequestError",
        "InvalidRequestError",
        "InvalidRequestError",  # an unknown keyword is named, not a TypeError
        "InvalidRequestError",
        "InvalidRequestError",
        "ok",
    ]
    with pytest.raises(InvalidRequestError):
        outcomes[1].result()


async def test_fail_fast_stops_at_the_first_error(server: FakeAgentServer) -> None:
    server.fail_randomly(1.0, status=500)
    async with server.client(max_retries=0) as client:
        with pytest.raises(InternalServerError):
            async with client.agent.chat.completions.create_many(
                (ask(f"q{i}") for i in range(1000)), max_concurrency=4, fail_fast=True
            ) as results:
                async for _ in results:
                    pass
        assert checked_out(client) == 0
    assert len(server.requests) < 50  # stopped, not run to the end


async def test_streamed_requests_are_accumulated(server: FakeAgentServer) -> None:
    async with server.client() as client:
        plain = await client.agent.chat.completions.create_all([ask("a b c", stream=True)] * 3)
        async with client.agent.chat.completions.create_many(
            [ask("a b c", stream=True)], keep_chunks=True
        ) as results:
            (kept,) = [o async for o in results]
    assert all(o.result().choices[0].message.content == "Echo: a b c" for o in plain)
    assert plain[0].chunks is None
    assert kept.chunks is not None and len(kept.chunks) == 6


async def test_progress_is_reported_after_each_outcome(server: FakeAgentServer) -> None:
    seen: list[Progress] = []
    async with server.client() as client:
        await client.agent.chat.completions.create_all(
            [ask(f"q{i}") for i in range(25)], on_progress=seen.append, max_concurrency=5
        )
    assert len(seen) == 25
    assert [p.done for p in seen] == list(range(1, 26))
    assert seen[-1].tokens == 25 * 3  # 1 prompt word, 2 answer words ("Echo: qN")
    assert seen[-1].rate > 0 and seen[-1].in_flight <= 5


async def test_progress_done_counts_successes_and_finished_counts_both(
    server: FakeAgentServer,
) -> None:
    server.respond(400, json={"id": "bad_request", "message": "no"}, times=3)
    seen: list[Progress] = []
    async with server.client(max_retries=0) as client:
        await client.agent.chat.completions.create_all(
            [ask(f"q{i}") for i in range(10)], on_progress=seen.append, max_concurrency=1
        )
    last = seen[-1]
    assert (last.done, last.failed, last.finished) == (7, 3, 10)
    assert [p.finished for p in seen] == list(range(1, 11))
    assert "succeeded" in (Progress.__doc__ or "")  # what `done` counts, said plainly


# -- cancellation ------------------------------------------------------------------------------


async def test_cancelling_the_fan_out_closes_what_is_in_flight(server: FakeAgentServer) -> None:
    server.response_delay = 0.05
    received: list[Outcome] = []
    client = server.client()

    async def consume() -> None:
        async with client.agent.chat.completions.create_many(
            (ask(f"q{i}") for i in range(10_000)), max_concurrency=16
        ) as results:
            async for outcome in results:
                received.append(outcome)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 0 < len(received) < 10_000  # what finished is the caller's
    assert [o.index for o in received] == list(range(len(received)))
    assert checked_out(client) == 0
    assert await server.wait_for_connections(0, timeout=2)
    await client.aclose()


async def test_leaving_the_block_early_cancels_the_rest(server: FakeAgentServer) -> None:
    server.response_delay = 0.02
    async with server.client() as client:
        async with client.agent.chat.completions.create_many(
            (ask(f"q{i}") for i in range(10_000)), max_concurrency=8
        ) as results:
            async for outcome in results:
                if outcome.index == 20:
                    break
        assert checked_out(client) == 0
    assert len(server.requests) < 200


# -- memory ----------------------------------------------------------------------------------


class _InstantCompletions:
    """Answers at once without a network: what is measured is the fan-out itself."""

    def __init__(self) -> None:
        self.completion = ChatCompletion.from_dict(
            {"choices": [{"message": {"role": "assistant", "content": "ok"}}]}
        )

    async def create(self, **params: Any) -> ChatCompletion:
        await asyncio.sleep(0)
        return self.completion


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.parametrize("ordered", [True, False])
async def test_memory_stays_flat_for_100000_lazy_inputs(ordered: bool) -> None:
    def requests() -> Iterator[dict[str, Any]]:
        for i in range(100_000):
            yield ask(f"question number {i} " + "x" * 200)

    fan_out = AsyncFanOut(
        _InstantCompletions(),  # type: ignore[arg-type]
        requests(),
        max_concurrency=64,
        ordered=ordered,
    )
    start = _rss_bytes()
    peak = start
    count = 0
    async with fan_out as results:
        async for _ in results:
            count += 1
            if count % 5_000 == 0:
                peak = max(peak, _rss_bytes())
    assert count == 100_000
    # Holding the inputs or the outcomes would take well over 30 MB; lazily, it stays flat.
    assert peak - start < 10 * 1024 * 1024, (peak - start) / 1e6


# -- pacing --------------------------------------------------------------------------------------


async def test_pacing_stays_under_an_advertised_limit_without_429s() -> None:
    async with (
        FakeAgentServer(rate_limit=40, rate_window=1.0, enforce_rate_limit=True) as server,
        server.client(max_retries=10) as client,
    ):
        started = time.monotonic()
        outcomes = await client.agent.chat.completions.create_all(
            (ask(f"q{i}") for i in range(120)), max_concurrency=32
        )
        elapsed = time.monotonic() - started
    assert all(o.ok for o in outcomes)
    statuses = Counter(status for _, status in server.answered)
    assert statuses[429] <= 5  # the headers were read, and respected
    assert elapsed >= 2.0  # 120 requests at 40 per second need three windows


class _PauseWatch:
    """An agent endpoint that shows when a fan-out sends around a 429.

    The first ``wave`` requests (one per worker) are held until all have arrived; the first
    of them is then answered with a 429 and ``Retry-After``, the others ``hold`` seconds
    later, while the pause runs: their workers are then free, with inputs left to send. Every
    arrival is recorded (``time.monotonic()``, the client's clock too), and every answer.
    """

    def __init__(self, wave: int, retry_after: float, hold: float) -> None:
        self.wave = wave
        self.retry_after = retry_after
        self.hold = hold
        self.arrivals: list[tuple[float, str]] = []  # (when, question)
        self.answered: Counter[str] = Counter()  # 200s per question
        self.limited_at = 0.0  # when the 429 went out
        self._all_in = asyncio.Event()
        self._limited = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        question = (await request.json())["messages"][0]["content"]
        self.arrivals.append((time.monotonic(), question))
        number = len(self.arrivals)
        if number <= self.wave:
            if number == self.wave:
                self._all_in.set()
            await asyncio.wait_for(self._all_in.wait(), 5)
            if number == 1:
                self.limited_at = time.monotonic()
                self._limited.set()
                return web.json_response(
                    {"id": "too_many_requests", "message": "slow down"},
                    status=429,
                    headers={"Retry-After": f"{self.retry_after:g}"},
                )
            await self._limited.wait()
            await asyncio.sleep(self.hold)
        self.answered[question] += 1
        return web.json_response(
            {
                "id": f"c{number}",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"Echo: {question}"},
                        "finish_reason": "stop",
                    }
                ],
            }
        )


@pytest.fixture
async def pause_watch() -> AsyncIterator[Callable[[_PauseWatch], Awaitable[str]]]:
    """Serve a :class:`_PauseWatch` on 127.0.0.1; gives its agent endpoint."""
    runners: list[web.AppRunner] = []

    async def start(watch: _PauseWatch) -> str:
        app = web.Application()
        app.router.add_post("/api/v1/chat/completions", watch.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


RETRY_AFTER = 0.4


@pytest.mark.parametrize("adaptive", [True, False])
async def test_a_429_pauses_every_worker(
    pause_watch: Callable[[_PauseWatch], Awaitable[str]], adaptive: bool
) -> None:
    # Eight workers, all busy when the 429 comes; seven of them are answered 0.1 s into the
    # pause and have inputs left. Nothing may reach the server until the Retry-After has
    # passed: not their next inputs, not the retry. (With one worker the retry's own wait
    # makes the same gap, pause or no pause.)
    watch = _PauseWatch(wave=8, retry_after=RETRY_AFTER, hold=0.1)
    endpoint = await pause_watch(watch)
    questions = [f"q{i}" for i in range(24)]
    outcomes: list[Outcome] = []
    async with AsyncAgentClient("key", endpoint, max_retries=2) as client:
        # Bounded: a pause far longer than asked fails below by assertion, not by a timeout.
        with anyio.move_on_after(1.5):
            async with client.agent.chat.completions.create_many(
                (ask(q) for q in questions), max_concurrency=8, adaptive=adaptive
            ) as results:
                async for outcome in results:
                    outcomes.append(outcome)
    assert watch.limited_at > 0, "the first wave never arrived whole"
    after = [at - watch.limited_at for at, _ in watch.arrivals[watch.wave :]]
    during = [round(gap, 3) for gap in after if gap < RETRY_AFTER]
    assert during == [], f"sent during the {RETRY_AFTER} s pause, at +{during} s after the 429"
    # ... and work resumes as the pause ends, not later (a pause that ignores Retry-After).
    assert after, "nothing was sent after the 429 within 1.5 s"
    assert min(after) < RETRY_AFTER + 0.3, f"the first send after the 429 came at +{min(after)} s"
    # Every input has its outcome, each answered once; the limited one was sent twice.
    assert sorted(o.index for o in outcomes) == list(range(24))
    assert all(o.ok for o in outcomes)
    assert watch.answered == Counter(questions)
    limited = watch.arrivals[0][1]
    assert [q for _, q in watch.arrivals].count(limited) == 2


async def test_concurrency_halves_on_429_and_grows_back() -> None:
    pacer = Pacer(16)
    from multidict import CIMultiDict, CIMultiDictProxy

    from agentchat import ResponseInfo

    def info(status: int) -> ResponseInfo:
        return ResponseInfo(status=status, headers=CIMultiDictProxy(CIMultiDict()), url="u")

    pacer.on_response(info(429))
    assert pacer.concurrency == 8
    pacer.on_response(info(429))  # within a second: the same burst, counted once
    assert pacer.concurrency == 8
    for _ in range(200):
        pacer.on_response(info(200))
    assert pacer.concurrency == 16


async def test_requests_per_minute_limit() -> None:
    pacer = Pacer(8, requests_per_minute=5, period=0.5)
    started = time.monotonic()
    for _ in range(10):
        await pacer.before_send()
    assert time.monotonic() - started >= 0.45  # the sixth send waited for the window


async def test_tokens_per_minute_limit() -> None:
    pacer = Pacer(8, tokens_per_minute=100, period=0.4)
    await pacer.before_send()
    pacer.record_tokens(150)
    started = time.monotonic()
    await pacer.before_send()
    assert time.monotonic() - started >= 0.35


# -- the sync facade ---------------------------------------------------------------------------


def test_the_sync_facade_fans_out_too() -> None:
    with FakeAgentServer().in_thread() as server:
        server.fail_randomly(0.1, status=503, headers={"retry-after-ms": "1"}, seed=4)
        with AgentClient(server.token, server.url, max_retries=8) as client:
            with client.agent.chat.completions.create_many(
                (ask(f"q{i}") for i in range(500)), max_concurrency=16
            ) as results:
                outcomes = list(results)
            listed = client.agent.chat.completions.create_all([ask("x")] * 3)
    assert [o.index for o in outcomes] == list(range(500))
    assert all(o.ok for o in outcomes) and all(o.ok for o in listed)
    assert answered_once(server)[f"q{499}"] == 1


def test_breaking_a_sync_fan_out_stops_it() -> None:
    with (
        FakeAgentServer(response_delay=0.02).in_thread() as server,
        AgentClient(server.token, server.url) as client,
    ):
        with client.agent.chat.completions.create_many(
            (ask(f"q{i}") for i in range(10_000)), max_concurrency=8
        ) as results:
            for outcome in results:
                if outcome.index == 10:
                    break
        sent = len(server.requests)
        time.sleep(0.2)
        # Up to max_concurrency requests were already on their way when the loop was left
        # (their bytes sent, the server not yet reading them); nothing new starts after.
        settled = len(server.requests)
        assert settled <= sent + 8
        time.sleep(0.2)
        assert len(server.requests) == settled  # nothing more after leaving
    assert settled < 200


class _SlowFirst(_InstantCompletions):
    """The first input takes a while (a request being retried); the others answer at once."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = 0
        self.finished_before_the_first = -1

    async def create(self, **params: Any) -> ChatCompletion:
        if params["messages"][0]["content"] == "q0":
            await asyncio.sleep(0.3)
            self.finished_before_the_first = self.finished
        else:
            await asyncio.sleep(0)
        self.finished += 1
        return self.completion


@pytest.mark.parametrize(("max_buffered", "expected"), [(None, 999), (50, 49)])
async def test_one_slow_request_holds_back_only_max_buffered_others_in_order(
    max_buffered: int | None, expected: int
) -> None:
    completions = _SlowFirst()
    fan_out = AsyncFanOut(
        completions,  # type: ignore[arg-type]
        (ask(f"q{i}") for i in range(1_000)),
        max_concurrency=4,
        max_buffered=max_buffered,
    )
    async with fan_out as results:
        indexes = [outcome.index async for outcome in results]
    assert indexes == list(range(1_000))
    # By default the other workers went on through the whole input while q0 took its time;
    # with a small window they stopped once that many finished outcomes were waiting for it.
    assert completions.finished_before_the_first == expected
