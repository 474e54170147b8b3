"""Hooks: every call tells them ``on_request``, then exactly one of ``on_response`` and
``on_error`` (``on_retry`` before each retry's wait), against the fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections import Counter
from types import MappingProxyType
from typing import Any

import anyio
import pytest

from agentchat import (
    AgentClient,
    AsyncAgentClient,
    BadRequestError,
    ConfigurationError,
    IncompleteStreamError,
    InternalServerError,
    _transport,
)
from agentchat._hooks import CallEnded, CallFailed, CallStarted, Hooks, RetryScheduled
from agentchat.testing import FakeAgentServer

from .conftest import USER, Connect, create, open_stream

TERMINAL = ("on_response", "on_error")


class Recorder(Hooks):
    """Records every event it is told, with its hook's name (thread-safe: the sync client
    calls it from its loop thread)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def _add(self, name: str, event: Any) -> None:
        with self._lock:
            self.events.append((name, event))

    def on_request(self, event: CallStarted) -> None:
        self._add("on_request", event)

    def on_retry(self, event: RetryScheduled) -> None:
        self._add("on_retry", event)

    def on_response(self, event: CallEnded) -> None:
        self._add("on_response", event)

    def on_error(self, event: CallFailed) -> None:
        self._add("on_error", event)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def last(self, name: str) -> Any:
        return [event for hook, event in self.events if hook == name][-1]

    def check_frames(self, calls: int = 1) -> None:
        """Each call: one on_request first, exactly one terminal event last, only retries
        between; ``calls`` calls in all."""
        by_call: dict[int, list[str]] = {}
        for name, event in self.events:
            by_call.setdefault(event.call_id, []).append(name)
        assert len(by_call) == calls, by_call
        for names in by_call.values():
            assert names[0] == "on_request", names
            assert names[-1] in TERMINAL, names
            assert all(name == "on_retry" for name in names[1:-1]), names


class AsyncRecorder(Recorder):
    """The same, with async methods that really suspend."""

    async def on_request(self, event: CallStarted) -> None:  # type: ignore[override]
        await asyncio.sleep(0.001)
        self._add("on_request", event)

    async def on_retry(self, event: RetryScheduled) -> None:  # type: ignore[override]
        await asyncio.sleep(0.001)
        self._add("on_retry", event)

    async def on_response(self, event: CallEnded) -> None:  # type: ignore[override]
        await asyncio.sleep(0.001)
        self._add("on_response", event)

    async def on_error(self, event: CallFailed) -> None:  # type: ignore[override]
        await asyncio.sleep(0.001)
        self._add("on_error", event)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The transport's sleeps between attempts, recorded instead of slept."""
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(_transport, "_sleep", record)
    return delays


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def no_key(recorder: Recorder, key: str) -> None:
    """The key is in no event, nor in the body or headers they carry."""
    for _, event in recorder.events:
        assert key not in repr(event)
        if isinstance(event, CallStarted):
            assert key not in repr(dict(event.body))
            assert key not in repr(dict(event.headers))
        if isinstance(event, (CallFailed, RetryScheduled)):
            assert key not in str(event.error)


async def wait_for(condition: Any, timeout: float = 2.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - polling a plain condition
            await asyncio.sleep(0.005)


# -- plain calls ------------------------------------------------------------------------------


async def test_a_plain_call(server: FakeAgentServer, connect: Connect, recorder: Recorder) -> None:
    async with connect(hooks=[recorder], telemetry=False, max_retries=0) as client:
        completion = await create(client, extra_query={"trace": "1"})
    assert recorder.names == ["on_request", "on_response"]
    started: CallStarted = recorder.events[0][1]
    ended: CallEnded = recorder.events[1][1]
    assert started.call_id == ended.call_id
    assert started.server == "agent"
    assert started.url == f"{server.url}/api/v1/chat/completions?agent=true&trace=1"
    assert (started.model, started.stream) == ("m", False)
    assert isinstance(started.body, MappingProxyType)
    assert started.body["messages"] == USER
    with pytest.raises(TypeError):
        started.body["model"] = "other"  # type: ignore[index]
    assert started.headers == {}
    assert ended.outcome == "complete"
    assert ended.completion.choices[0].message.content == completion.choices[0].message.content
    assert ended.response.status == 200
    assert ended.time_to_first_chunk is None
    assert 0 <= ended.duration < 5
    no_key(recorder, server.token)


async def test_the_server_kind_of_each_client(server: FakeAgentServer) -> None:
    for make, kind in (
        (server.client, "agent"),
        (server.inference_client, "inference"),
        (server.compatible_client, "compatible"),
    ):
        recorder = Recorder()
        async with make(hooks=[recorder], telemetry=False) as client:
            await client._chat_completions.create(model="m", messages=USER)
        assert recorder.names == ["on_request", "on_response"]
        assert recorder.events[0][1].server == kind


async def test_a_call_retried_after_a_503(
    server: FakeAgentServer, connect: Connect, recorder: Recorder, slept: list[float]
) -> None:
    server.error(503)
    async with connect(hooks=[recorder], telemetry=False, max_retries=2) as client:
        completion = await create(client)
    assert recorder.names == ["on_request", "on_retry", "on_response"]
    retry: RetryScheduled = recorder.events[1][1]
    assert (retry.attempt, retry.reason) == (1, "backoff")
    assert isinstance(retry.error, InternalServerError)
    assert retry.delay == slept[0] > 0
    assert recorder.last("on_response").response.attempts == completion.response.attempts == 2
    recorder.check_frames()
    no_key(recorder, server.token)


async def test_a_call_retried_after_a_429_with_retry_after(
    server: FakeAgentServer, connect: Connect, recorder: Recorder, slept: list[float]
) -> None:
    server.rate_limited(0.05)
    async with connect(hooks=[recorder], telemetry=False, max_retries=2) as client:
        await create(client)
    assert recorder.names == ["on_request", "on_retry", "on_response"]
    retry: RetryScheduled = recorder.events[1][1]
    assert (retry.attempt, retry.delay, retry.reason) == (1, 0.05, "retry-after")
    assert slept == [0.05]
    assert retry.error.response.status == 429  # type: ignore[attr-defined]


async def test_a_call_that_fails_with_a_4xx(
    server: FakeAgentServer, connect: Connect, recorder: Recorder
) -> None:
    server.error(400, "bad field")
    async with connect(hooks=[recorder], telemetry=False, max_retries=2) as client:
        with pytest.raises(BadRequestError) as raised:
            await create(client)
    assert recorder.names == ["on_request", "on_error"]
    failed: CallFailed = recorder.events[1][1]
    assert failed.error is raised.value
    assert failed.response is not None and failed.response.status == 400
    assert failed.partial is None and failed.time_to_first_chunk is None
    no_key(recorder, server.token)


async def test_a_call_that_fails_after_its_retries(
    server: FakeAgentServer, connect: Connect, recorder: Recorder, slept: list[float]
) -> None:
    server.error(503, times=3)
    async with connect(hooks=[recorder], telemetry=False, max_retries=2) as client:
        with pytest.raises(InternalServerError) as raised:
            await create(client)
    assert recorder.names == ["on_request", "on_retry", "on_retry", "on_error"]
    assert [event.attempt for name, event in recorder.events if name == "on_retry"] == [1, 2]
    assert recorder.last("on_error").error is raised.value
    assert raised.value.attempts == 3
    recorder.check_frames()


async def test_a_stream_that_never_opens_fails_from_the_call(
    server: FakeAgentServer, connect: Connect, recorder: Recorder, slept: list[float]
) -> None:
    server.error(503, times=2)
    async with connect(hooks=[recorder], telemetry=False, max_retries=1) as client:
        with pytest.raises(InternalServerError):
            await open_stream(client)
    assert recorder.names == ["on_request", "on_retry", "on_error"]
    assert recorder.events[0][1].stream is True
    assert recorder.last("on_error").time_to_first_chunk is None


# -- streams ----------------------------------------------------------------------------------


async def test_a_stream_read_to_its_end(
    server: FakeAgentServer, connect: Connect, recorder: Recorder
) -> None:
    server.reply(["Hel", "lo", " there"])
    async with connect(hooks=[recorder], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client, stream_options={"include_usage": True})
        assert recorder.names == ["on_request"]
        async with stream:
            chunks = [chunk async for chunk in stream]
            assert recorder.names == ["on_request", "on_response"]
            await stream.get_final_completion()  # again: no second report
    assert chunks
    assert recorder.names == ["on_request", "on_response"]
    ended: CallEnded = recorder.last("on_response")
    assert ended.outcome == "complete"
    assert ended.completion.choices[0].message.content == "Hello there"
    assert ended.completion.usage is not None
    assert ended.time_to_first_chunk is not None
    assert 0 <= ended.time_to_first_chunk <= ended.duration
    assert ended.response.status == 200
    no_key(recorder, server.token)


async def test_a_stream_left_by_break(
    server: FakeAgentServer, connect: Connect, recorder: Recorder
) -> None:
    server.reply(["one", " two", " three"], interval=0.05)
    async with (
        connect(hooks=[recorder], telemetry=False, max_retries=0) as client,
        await open_stream(client) as stream,
    ):
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
    assert recorder.names == ["on_request", "on_response"]
    ended: CallEnded = recorder.last("on_response")
    assert ended.outcome == "closed"
    assert ended.completion.choices[0].message.content == "one"
    assert ended.time_to_first_chunk is not None


async def test_a_stream_left_by_break_without_async_with(
    server: FakeAgentServer, recorder: Recorder
) -> None:
    server.reply(["one", " two", " three"], interval=0.05)
    async with server.client(hooks=[recorder], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        await wait_for(lambda: len(recorder.events) == 2)  # the iterator's clean-up reports
        await stream.aclose()
    assert recorder.names == ["on_request", "on_response"]
    assert recorder.last("on_response").outcome == "closed"


async def test_a_stream_closed_by_aclose_before_reading(
    server: FakeAgentServer, connect: Connect, recorder: Recorder
) -> None:
    async with connect(hooks=[recorder], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        await stream.aclose()
        await stream.aclose()
    assert recorder.names == ["on_request", "on_response"]
    assert recorder.last("on_response").outcome == "closed"


async def test_a_stream_that_fails_midway(
    server: FakeAgentServer, connect: Connect, recorder: Recorder
) -> None:
    server.fault("cut", after=2)
    async with connect(hooks=[recorder], telemetry=False, max_retries=2) as client:
        stream = await open_stream(client)
        received = []
        with pytest.raises(IncompleteStreamError) as raised:
            async with stream:
                async for chunk in stream:
                    received.append(chunk)
        arrived = stream.snapshot().choices[0].message.content
    assert received
    assert recorder.names == ["on_request", "on_error"]
    failed: CallFailed = recorder.last("on_error")
    assert failed.error is raised.value
    assert failed.partial is not None
    assert failed.partial.choices[0].message.content == arrived
    assert arrived
    assert failed.time_to_first_chunk is not None
    assert failed.response is not None and failed.response.status == 200
    no_key(recorder, server.token)


async def test_a_stream_with_an_error_event(server: FakeAgentServer, recorder: Recorder) -> None:
    server.stream(
        events=[
            {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
            'event: error\ndata: {"error": {"message": "overloaded"}}\n\n',
        ],
        done=False,
    )  # fmt: skip
    async with (
        server.client(hooks=[recorder], telemetry=False, max_retries=0) as client,
        await open_stream(client) as stream,
    ):
        with pytest.raises(Exception, match="overloaded"):
            await stream.get_final_completion()
    assert recorder.names == ["on_request", "on_error"]
    assert recorder.last("on_error").partial.choices[0].message.content == "Hi"


# -- cancellation -----------------------------------------------------------------------------


async def test_a_cancelled_plain_call(server: FakeAgentServer) -> None:
    recorder = AsyncRecorder()
    server.delay(10)
    async with server.client(hooks=[recorder], telemetry=False, max_retries=0) as client:
        task = asyncio.create_task(create(client))
        await wait_for(lambda: server.call_count == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert recorder.names == ["on_request", "on_error"]
    assert isinstance(recorder.last("on_error").error, asyncio.CancelledError)


async def test_a_plain_call_cancelled_by_a_cancel_scope(server: FakeAgentServer) -> None:
    """anyio's cancellation is level-triggered: the async hook still runs, shielded."""
    recorder = AsyncRecorder()
    server.delay(10)
    async with server.client(hooks=[recorder], telemetry=False, max_retries=0) as client:
        with anyio.move_on_after(0.2):
            await create(client)
    assert recorder.names == ["on_request", "on_error"]
    assert isinstance(recorder.last("on_error").error, asyncio.CancelledError)


async def test_a_cancelled_stream_read(server: FakeAgentServer) -> None:
    recorder = AsyncRecorder()
    server.fault("stall", after=1)
    async with server.client(hooks=[recorder], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        first = await stream.next_batch()
        assert first
        with anyio.move_on_after(0.2):
            await stream.next_batch()
        await stream.aclose()
    assert recorder.names == ["on_request", "on_error"]
    failed: CallFailed = recorder.last("on_error")
    assert isinstance(failed.error, asyncio.CancelledError)
    assert failed.partial is not None and failed.partial.choices[0].message.role == "assistant"
    assert failed.time_to_first_chunk is not None


async def test_a_cancelled_task_reading_a_stream(server: FakeAgentServer) -> None:
    recorder = Recorder()
    server.fault("stall", after=1)
    async with server.client(hooks=[recorder], telemetry=False, max_retries=0) as client:

        async def read() -> None:
            async with await open_stream(client) as stream:
                async for _ in stream:
                    pass

        task = asyncio.create_task(read())
        await wait_for(lambda: server.call_count == 1)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert recorder.names == ["on_request", "on_error"]
    assert isinstance(recorder.last("on_error").error, asyncio.CancelledError)


# -- a stream dropped without being closed ----------------------------------------------------


async def test_a_stream_dropped_without_closing(server: FakeAgentServer) -> None:
    recorder = Recorder()
    told: list[Any] = []

    class AsyncOnly:
        async def on_response(self, event: CallEnded) -> None:
            told.append(event)  # never: an async hook is not awaited from the collector

    server.reply(["one", " two", " three"], interval=0.05)
    hooks = [recorder, AsyncOnly()]
    async with server.client(hooks=hooks, telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        while stream.chunks_received < 2:
            await stream.next_batch()
        raw = stream._raw
        del stream
        gc.collect()
        assert recorder.names == ["on_request", "on_response"]
        assert raw is not None
        raw.close()
    ended: CallEnded = recorder.last("on_response")
    assert ended.outcome == "closed"
    assert ended.completion.choices[0].message.content == "one"
    assert told == []


# -- hooks that misbehave ---------------------------------------------------------------------


@pytest.mark.parametrize("broken", ["on_request", "on_retry", "on_response", "on_error"])
async def test_a_hook_that_raises_does_not_break_the_call(
    server: FakeAgentServer,
    connect: Connect,
    slept: list[float],
    caplog: pytest.LogCaptureFixture,
    broken: str,
) -> None:
    recorder = Recorder()

    class Broken:
        def __getattr__(self, name: str) -> Any:
            if name != broken:
                raise AttributeError(name)

            def hook(event: object) -> None:
                raise RuntimeError("hook bug")

            return hook

    server.error(503)
    if broken == "on_error":
        server.error(400)
    caplog.set_level(logging.WARNING, logger="agentchat")
    async with connect(hooks=[Broken(), recorder], telemetry=False, max_retries=1) as client:
        if broken == "on_error":
            with pytest.raises(BadRequestError):
                await create(client)
        else:
            completion = await create(client)
            assert completion.choices[0].message.content
    expected = ["on_request", "on_retry", "on_error" if broken == "on_error" else "on_response"]
    assert recorder.names == expected
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Broken.{broken}" in r.getMessage() for r in warnings), warnings


async def test_async_hooks_are_awaited(
    server: FakeAgentServer, connect: Connect, slept: list[float]
) -> None:
    recorder = AsyncRecorder()
    server.error(503)
    server.reply(["a", "b"])
    async with connect(hooks=[recorder], telemetry=False, max_retries=1) as client:
        await create(client)
        async with await open_stream(client) as stream:
            await stream.get_final_completion()
    assert recorder.names == [
        "on_request",
        "on_retry",
        "on_response",
        "on_request",
        "on_response",
    ]
    recorder.check_frames(2)


# -- headers from hooks -----------------------------------------------------------------------


class Tracing(Hooks):
    def on_request(self, event: CallStarted) -> None:
        event.headers["traceparent"] = f"00-{event.call_id:032x}-{1:016x}-01"


async def test_headers_added_in_on_request_go_with_every_attempt(
    server: FakeAgentServer, connect: Connect, recorder: Recorder, slept: list[float]
) -> None:
    server.error(503, times=2)
    async with connect(hooks=[Tracing(), recorder], telemetry=False, max_retries=2) as client:
        await create(client)
    sent = [request.headers.get("traceparent") for request in server.requests]
    assert len(sent) == 3 and sent[0] is not None and sent == [sent[0]] * 3
    assert server.requests[0].headers["Authorization"] == f"Bearer {server.token}"
    assert recorder.events[0][1].headers == {"traceparent": sent[0]}
    no_key(recorder, server.token)


async def test_headers_added_to_a_stream_request(server: FakeAgentServer, connect: Connect) -> None:
    async with (
        connect(hooks=[Tracing()], telemetry=False) as client,
        await open_stream(client) as stream,
    ):
        await stream.get_final_completion()
    assert server.last_request.headers.get("traceparent")


async def test_invalid_headers_from_a_hook_are_not_sent(
    server: FakeAgentServer, caplog: pytest.LogCaptureFixture
) -> None:
    class Injecting(Hooks):
        def on_request(self, event: CallStarted) -> None:
            event.headers["x-bad"] = "a\r\nInjected: yes"

    async with server.client(hooks=[Injecting()], telemetry=False) as client:
        await create(client)
    assert "x-bad" not in server.last_request.headers
    assert "Injected" not in server.last_request.headers
    assert any("not sent" in r.getMessage() for r in caplog.records)


# -- the setting ------------------------------------------------------------------------------


@pytest.mark.parametrize("hooks", ["on_request", 5, {"on_request": print}, [object()], [None]])
def test_hooks_must_be_hook_objects(hooks: Any) -> None:
    with pytest.raises(ConfigurationError, match="hooks"):
        AsyncAgentClient("key", "https://a.agents.do-ai.run", hooks=hooks)
    with pytest.raises(ConfigurationError, match="hooks"):
        AgentClient("key", "https://a.agents.do-ai.run", hooks=hooks)


def test_telemetry_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="telemetry"):
        AsyncAgentClient("key", "https://a.agents.do-ai.run", telemetry="yes")  # type: ignore[arg-type]


def test_hooks_are_kept_in_order() -> None:
    first, second = Recorder(), Tracing()
    client = AsyncAgentClient(
        "key", "https://a.agents.do-ai.run", hooks=iter([first, second]), telemetry=False
    )
    assert client._hooks == (first, second)
    assert AsyncAgentClient("key", "https://a.agents.do-ai.run", telemetry=False)._hooks == ()


# -- many calls -------------------------------------------------------------------------------


async def test_a_fan_out_of_ten_calls(server: FakeAgentServer, recorder: Recorder) -> None:
    async with server.client(hooks=[recorder], telemetry=False, max_retries=0) as client:
        outcomes = await client.agent.chat.completions.create_all(
            [{"model": "m", "messages": USER} for _ in range(10)], max_concurrency=4
        )
    assert all(outcome.error is None for outcome in outcomes)
    assert Counter(recorder.names) == {"on_request": 10, "on_response": 10}
    recorder.check_frames(10)
