"""The fan-out, in detail: its defaults, the exact error texts, ``closed``, a slow reader,
tool runs and adaptive pacing (in-process, so that mutation testing sees them; see
scripts/mutants.py)."""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import Any

import anyio
import pytest

from agentchat import (
    AgentChatError,
    AsyncAgentClient,
    AsyncFanOut,
    ChatMessage,
    InvalidRequestError,
    Outcome,
    Request,
)
from agentchat.testing import FakeAgentServer

from .test_fanout import _SlowFirst, ask
from .test_tool_runner import ToolAgent, lookup

BOUND = 5.0  # seconds: every wait in these tests is bounded by this

# -- the arguments are checked, and the error names the one at fault ---------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_concurrency", 0),
        ("requests_per_minute", 0),
        ("tokens_per_minute", -5),
        ("max_buffered", 0),
        ("max_concurrency", True),  # a bool is not a count
        ("max_concurrency", 2.5),
        ("max_buffered", "8"),
    ],
)
async def test_a_bad_limit_is_named_in_the_error(
    async_client: AsyncAgentClient, name: str, value: object
) -> None:
    options: dict[str, Any] = {name: value}
    with pytest.raises(InvalidRequestError) as caught:
        async_client.agent.chat.completions.create_many([ask("q")], **options)
    assert caught.value.param == name
    assert str(caught.value) == f"{name}={value!r} is invalid: an integer >= 1 is required"


@pytest.mark.parametrize(
    "requests",
    [
        "What is 2 + 2?",  # a string is iterable, but not of requests
        b"bytes",
        ask("one request, not a list of them"),
        42,
    ],
)
async def test_requests_that_are_not_an_iterable_of_requests_are_refused_at_once(
    async_client: AsyncAgentClient, requests: Any
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        async_client.agent.chat.completions.create_many(requests)
    assert caught.value.param == "requests"
    assert caught.value.value is requests
    assert str(caught.value) == (
        f"requests={requests!r} is invalid: "
        "an iterable or async iterable of create() argument dicts"
    )


async def test_an_input_that_is_not_a_request_fails_alone_and_says_why(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    requests: list[Any] = [ask("q0"), "not a request", ask("q2")]
    outcomes = await async_client.agent.chat.completions.create_all(requests)
    assert [o.ok for o in outcomes] == [True, False, True]
    error = outcomes[1].error
    assert isinstance(error, InvalidRequestError)
    assert error.param == "requests[1]"
    assert error.value == "not a request"
    assert str(error) == (
        "requests[1]='not a request' is invalid: "
        "a dict of create() arguments or an agentchat Request is required"
    )
    assert server.call_count == 2  # nothing was sent for it


async def test_any_mapping_is_create_keywords_but_a_model_is_not(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    # A plain dict, any other read-only Mapping, and a Request are each one call; a model
    # reads as a Mapping too (pydo compatibility) but is an answer, not create() keywords.
    message = ChatMessage(role="user", content="a model")
    requests: list[Any] = [
        ask("q0"),
        MappingProxyType(ask("q1")),
        Request(params=ask("q2"), id="r2"),
        message,
    ]
    outcomes = await async_client.agent.chat.completions.create_all(requests)
    assert [o.ok for o in outcomes] == [True, True, True, False]
    assert [o.id for o in outcomes] == [None, None, "r2", None]
    error = outcomes[3].error
    assert isinstance(error, InvalidRequestError) and error.value is message
    assert server.call_count == 3


class _Input:
    """An async iterator of requests that counts how often it is read, its end included."""

    def __init__(self, count: int) -> None:
        self.items = [ask(f"q{i}") for i in range(count)]
        self.reads = 0

    def __aiter__(self) -> _Input:
        return self

    async def __anext__(self) -> dict[str, Any]:
        self.reads += 1
        if self.reads > len(self.items):
            if self.reads > len(self.items) + 1:
                raise AssertionError("read again after its end")
            raise StopAsyncIteration
        return self.items[self.reads - 1]


async def test_the_input_is_not_read_again_after_its_end(
    async_client: AsyncAgentClient,
) -> None:
    # Four workers, three inputs: the first to find the end says so; the others stop
    # without asking the input again (a cursor or a stream may not be read past its end).
    requests = _Input(3)
    with anyio.fail_after(BOUND):
        outcomes = await async_client.agent.chat.completions.create_all(requests, max_concurrency=4)
    assert [o.ok for o in outcomes] == [True, True, True]
    assert requests.reads == 4


# -- AsyncFanOut's own defaults are create_many()'s ---------------------------------------------


async def test_a_fan_out_built_directly_has_the_documented_defaults(
    server: FakeAgentServer,
) -> None:
    server.rate_limited(0.01)  # the first request: a 429, retried
    requests: list[Any] = [ask("a b c", stream=True), "not a request"]
    async with server.client(max_retries=1) as client:
        fan_out = AsyncFanOut(client.agent.chat.completions, requests)
        assert fan_out.progress.concurrency == 16  # max_concurrency=16
        with anyio.fail_after(BOUND):
            async with fan_out as results:
                outcomes = [outcome async for outcome in results]  # fail_fast=False: no raise
    assert [o.index for o in outcomes] == [0, 1]
    streamed, invalid = outcomes
    assert streamed.result().choices[0].message.content == "Echo: a b c"
    assert streamed.chunks is None  # keep_chunks=False
    assert isinstance(invalid.error, InvalidRequestError)
    progress = fan_out.progress
    assert progress.rate_limited == 1
    assert progress.concurrency == 8  # adaptive=True: halved by the 429


async def test_adaptive_false_keeps_the_concurrency_through_a_429(
    server: FakeAgentServer,
) -> None:
    server.rate_limited(0.01)
    async with server.client(max_retries=1) as client:
        fan_out = client.agent.chat.completions.create_many(
            [ask("q")], max_concurrency=8, adaptive=False
        )
        with anyio.fail_after(BOUND):
            async with fan_out as results:
                outcomes = [outcome async for outcome in results]
    assert [o.ok for o in outcomes] == [True]
    assert fan_out.progress.rate_limited == 1
    assert fan_out.progress.concurrency == 8


async def test_the_default_window_is_16_outcomes_per_worker_above_1024() -> None:
    # 100 workers: the default max_buffered is 16 x 100 = 1,600 (more than 1,024), so while
    # q0 takes its time, 1,599 others finish and wait for it, and then the workers stop.
    completions = _SlowFirst()
    fan_out = AsyncFanOut(
        completions,  # type: ignore[arg-type]
        (ask(f"q{i}") for i in range(2_000)),
        max_concurrency=100,
    )
    with anyio.fail_after(BOUND):
        async with fan_out as results:
            indexes = [outcome.index async for outcome in results]
    assert indexes == list(range(2_000))
    assert completions.finished_before_the_first == 1_599


# -- using it: outside `async with`, closed, a slow reader --------------------------------------


async def test_reading_outside_the_block_says_how_to_use_it(
    async_client: AsyncAgentClient,
) -> None:
    fan_out = async_client.agent.chat.completions.create_many([])
    assert fan_out.progress.elapsed == 0.0  # not started yet
    assert fan_out.progress.rate == 0.0
    message = "Use the fan-out as a context manager: `async with ... as results`"
    with anyio.fail_after(1):  # bounded: no hang if the check were gone
        with pytest.raises(AgentChatError) as caught:
            await fan_out.next_batch()
        assert str(caught.value) == message
        with pytest.raises(AgentChatError, match="context manager"):
            [outcome async for outcome in fan_out]
    async with fan_out as results:  # used rightly, it works
        assert [outcome async for outcome in results] == []


async def test_closed_once_every_outcome_is_handed_out(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    fan_out = async_client.agent.chat.completions.create_many([ask("q0"), ask("q1")])
    assert fan_out.closed is False
    with anyio.fail_after(BOUND):
        async with fan_out as results:
            assert results.closed is False
            first = await results.next_batch()
            assert first
            assert results.closed is False
            rest = [outcome async for outcome in results]
            assert results.closed is True
            assert await results.next_batch() == []
    assert [o.index for o in first + rest] == [0, 1]


async def test_aclose_stops_it_and_it_is_closed_at_once(server: FakeAgentServer) -> None:
    server.response_delay = 0.02
    async with server.client() as client:
        with anyio.fail_after(BOUND):
            async with client.agent.chat.completions.create_many(
                (ask(f"q{i}") for i in range(1_000)), max_concurrency=2
            ) as results:
                first = await results.next_batch()
                await results.aclose()
                assert results.closed is True  # at once, before anything else is read
                rest = [outcome async for outcome in results]
                assert results.closed is True
    received = first + rest
    assert [o.index for o in received] == list(range(len(received)))
    assert server.call_count < 50


async def test_a_slow_reader_holds_the_workers_back_and_loses_nothing(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    # max_buffered=2: two outcomes wait for the reader, and two finished ones wait for room
    # (their workers blocked), then no worker is free to take more input.
    fan_out = async_client.agent.chat.completions.create_many(
        (ask(f"q{i}") for i in range(8)), max_concurrency=2, max_buffered=2
    )
    outcomes: list[Outcome] = []
    with anyio.fail_after(BOUND):
        async with fan_out as results:
            for _ in range(200):  # until the four have arrived (bounded)
                if server.call_count >= 4:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # time for more, were the workers not held back
            assert server.call_count == 4
            async for outcome in results:
                outcomes.append(outcome)
    assert [o.index for o in outcomes] == list(range(8))
    assert [o.result().choices[0].message.content for o in outcomes] == [
        f"Echo: q{i}" for i in range(8)
    ]


# -- an input with functions in its tools is a tool run -----------------------------------------


async def test_an_input_with_functions_is_a_tool_run_and_all_its_tokens_count() -> None:
    async with ToolAgent() as server, server.client(max_retries=0) as client:
        fan_out = client.agent.chat.completions.create_many(
            [
                {
                    "model": "m",
                    "messages": [{"role": "user", "content": "key-0"}],
                    "tools": [lookup],
                },
                {
                    "model": "m",
                    "messages": [{"role": "user", "content": "key-1"}],
                    "tools": (lookup,),
                },
            ]
        )
        with anyio.fail_after(BOUND):
            async with fan_out as results:
                outcomes = [outcome async for outcome in results]
    assert server.call_count == 4  # two rounds each
    tokens = 0
    for i, outcome in enumerate(outcomes):
        assert outcome.ok, outcome.error
        run = outcome.tool_run
        assert run is not None
        assert outcome.completion is run.completion
        assert outcome.result().choices[0].message.content == f"Answer: value of key-{i}"
        [call] = run.calls
        assert call.parsed == {"key": f"key-{i}"}
        assert run.usage is not None and run.completion.usage is not None
        assert run.usage.total_tokens != run.completion.usage.total_tokens  # both rounds
        tokens += run.usage.total_tokens or 0
    assert fan_out.progress.tokens == tokens > 0
