"""``AsyncStream``: the exact messages, counts and metadata its errors carry, its repr in
each state, a JSON completion standing in for a stream, and a relay that passes the server's
bytes on unchanged (what mutation testing of ``agentchat/_streaming.py`` found untested).

Most tests feed a real aiohttp ``StreamReader`` by hand, which decides exactly what each
network read returns; the relay and the JSON completion go through the fake agent server.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from typing import Any, cast

import aiohttp
import anyio
import pytest

from agentchat import (
    APIError,
    APIResponseValidationError,
    APIStreamError,
    APITimeoutError,
    AsyncAgentClient,
    AsyncStream,
    ChatCompletion,
    ChatCompletionChunk,
    IncompleteStreamError,
    StreamClosedError,
    StreamConsumedError,
    Timeout,
)
from agentchat._hooks import CallEnded, CallFailed, CallStarted, Hooks
from agentchat._response import ResponseInfo
from agentchat.testing import FakeAgentServer

from .conftest import checked_out, open_stream

ATTEMPTS = 3  # the stream's response says the call took 3 attempts: errors must say so too


class _Protocol:
    """The little of aiohttp's protocol that a ``StreamReader`` touches (flow control)."""

    _reading_paused = False
    connected = True

    def pause_reading(self, **_: Any) -> None:
        self._reading_paused = True

    def resume_reading(self, **_: Any) -> None:
        self._reading_paused = False


class _Response:
    """What ``AsyncStream`` uses of an aiohttp response; records what was done with its
    connection: given back to the pool (``release``) or closed."""

    def __init__(self, content: aiohttp.StreamReader) -> None:
        self.content = content
        self.done_with: list[str] = []

    def release(self) -> None:
        self.done_with.append("released")

    def close(self) -> None:
        self.done_with.append("closed")


def memory_stream(stream_idle: float = 10.0) -> tuple[AsyncStream, aiohttp.StreamReader]:
    """A stream over a reader the test feeds (call inside the running loop); its response
    is ``stream._raw``."""
    reader = aiohttp.StreamReader(
        _Protocol(),  # type: ignore[arg-type]
        2**16,
        loop=asyncio.get_running_loop(),
    )
    info = ResponseInfo(status=200, headers={}, url="memory", attempts=ATTEMPTS)
    stream = AsyncStream(
        cast(aiohttp.ClientResponse, _Response(reader)),
        info,
        timeout=Timeout(read=None, stream_idle=stream_idle),
    )
    return stream, reader


def chunk_dict(content: str) -> dict[str, Any]:
    return {"id": "c", "choices": [{"index": 0, "delta": {"content": content}}]}


def event(content: str) -> bytes:
    return b"data: " + json.dumps(chunk_dict(content)).encode() + b"\n\n"


async def blocked_read(stream: AsyncStream) -> asyncio.Task[list[ChatCompletionChunk]]:
    """A read started and waiting for the network."""
    task = asyncio.ensure_future(stream.next_batch())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    return task


def content(batch: list[ChatCompletionChunk]) -> list[str | None]:
    return [c.choices[0].delta.content for c in batch]


def text(batch: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in batch if c.choices)


# -- how a stream fails: message, chunks, partial, response, attempts -------------------------


async def test_a_body_that_ends_before_done() -> None:
    stream, reader = memory_stream()
    reader.feed_data(event("a") + event("b"))
    reader.feed_eof()
    assert content(await stream.next_batch()) == ["a", "b"]
    with pytest.raises(IncompleteStreamError) as raised:
        await stream.next_batch()
    error = raised.value
    assert error.message == (
        "The stream ended after 2 chunks without 'data: [DONE]': the answer is incomplete"
    )
    assert str(error) == error.message + f" (after {ATTEMPTS} attempts)"
    assert (error.chunks, error.attempts) == (2, ATTEMPTS)
    assert error.response is stream.response
    assert error.partial is not None and error.partial.choices[0].message.content == "ab"
    assert error.__cause__ is None
    assert stream.failure is error


async def test_a_cut_after_a_whole_line_delivers_its_event_first() -> None:
    """The connection breaks after the last event's data line but before its blank line,
    with nothing left unread: that event is still delivered (as at a clean end), then the
    cut is raised, saying what broke it."""
    stream, reader = memory_stream()
    reader.feed_data(event("a") + event("b").rstrip(b"\n") + b"\n")
    assert content(await stream.next_batch()) == ["a"]
    read = await blocked_read(stream)
    cause = aiohttp.ClientPayloadError("Response payload is not completed")
    reader.set_exception(cause)
    assert content(await read) == ["b"]
    # The failure is known (and kept for the service's logs) before the reader gets it.
    pending = stream.failure
    assert isinstance(pending, IncompleteStreamError)
    message = (
        "The connection broke after 2 chunks, before 'data: [DONE]': the answer is incomplete"
        " (Response payload is not completed)"
    )
    assert pending.message == message
    assert pending.chunks == 2
    with pytest.raises(IncompleteStreamError) as raised:
        await stream.next_batch()
    error = raised.value
    assert error is pending and error.__cause__ is cause
    assert (error.chunks, error.attempts, error.response) == (2, ATTEMPTS, stream.response)
    assert error.partial is not None and error.partial.choices[0].message.content == "ab"


async def test_a_cut_by_an_error_without_text_is_named_by_its_class() -> None:
    stream, reader = memory_stream()
    reader.feed_data(event("a"))
    assert content(await stream.next_batch()) == ["a"]
    reader.set_exception(aiohttp.ServerDisconnectedError(""))
    with pytest.raises(IncompleteStreamError) as raised:
        await stream.next_batch()
    assert raised.value.message.endswith("the answer is incomplete (ServerDisconnectedError)")


async def test_an_idle_timeout_says_which_limit_and_how_many_attempts() -> None:
    stream, reader = memory_stream(stream_idle=0.05)
    reader.feed_data(event("a"))
    assert content(await stream.next_batch()) == ["a"]
    with pytest.raises(APITimeoutError) as raised:
        await stream.next_batch()
    error = raised.value
    assert error.message == (
        "The stream sent no event for 0.05 s (stream_idle timeout; heartbeats do not count),"
        " after 1 chunks"
    )
    assert (error.attempts, error.chunks) == (ATTEMPTS, 1)
    assert str(error).endswith(f" (after {ATTEMPTS} attempts)")
    assert isinstance(error.__cause__, TimeoutError)


@pytest.mark.parametrize(
    ("data", "message", "code", "body"),
    [
        # An error event whose JSON has no message: the data is shown, quoted.
        ('{"oops": 1}', "'{\"oops\": 1}'", None, {"oops": 1}),
        # ... and one that is not JSON: the text is the message as it is.
        ("upstream died", "upstream died", None, "upstream died"),
        ('{"error": {"message": "overloaded", "code": "busy"}}', "overloaded", "busy", None),
    ],
)
async def test_an_error_event(data: str, message: str, code: str | None, body: Any) -> None:
    stream, reader = memory_stream()
    reader.feed_data(event("a") + b"event: error\ndata: " + data.encode() + b"\n\n")
    assert content(await stream.next_batch()) == ["a"]
    with pytest.raises(APIStreamError) as raised:
        await stream.next_batch()
    error = raised.value
    assert (error.message, error.code) == (message, code)
    assert error.body == (json.loads(data) if body is None else body)
    assert error.response is stream.response
    assert (error.attempts, error.chunks) == (ATTEMPTS, 1)


async def test_malformed_data_keeps_the_data_the_response_and_the_attempts() -> None:
    stream, reader = memory_stream()
    reader.feed_data(event("a") + b"data: {oops\n\n")
    assert content(await stream.next_batch()) == ["a"]
    with pytest.raises(APIResponseValidationError) as raised:
        await stream.next_batch()
    error = raised.value
    assert error.message == "Event 2 of the stream is not JSON: '{oops'"
    assert error.body == "{oops"
    assert error.response is stream.response
    assert (error.attempts, error.chunks) == (ATTEMPTS, 1)


# -- after [DONE]: the connection back to the pool, or closed ---------------------------------


@pytest.mark.parametrize(
    ("after_done", "done_with"),
    [
        ("eof_at_once", "released"),  # the body ended with [DONE]
        ("eof_soon", "released"),  # its last bytes came a moment later: waited for
        ("cut", "closed"),  # it broke after [DONE]: the answer is whole all the same
        ("nothing", "closed"),  # the server keeps the body open: not waited for long
    ],
)
async def test_after_done(after_done: str, done_with: str) -> None:
    stream, reader = memory_stream()
    response = cast(_Response, stream._raw)
    reader.feed_data(event("a") + b"data: [DONE]\n\n")
    if after_done == "eof_at_once":
        reader.feed_eof()
    loop = asyncio.get_running_loop()
    if after_done == "eof_soon":
        loop.call_later(0.05, reader.feed_eof)
    elif after_done == "cut":
        cause = aiohttp.ClientPayloadError("Response payload is not completed")
        loop.call_later(0.05, reader.set_exception, cause)
    started = loop.time()
    batch = await asyncio.wait_for(stream.next_batch(), 2.0)
    waited = loop.time() - started
    assert content(batch) == ["a"]
    assert response.done_with == [done_with]
    if after_done == "nothing":
        assert 0.2 <= waited < 1.0  # END_OF_BODY_GRACE
    assert await stream.next_batch() == []
    assert (await stream.get_final_completion()).choices[0].message.content == "a"
    assert stream.failure is None


async def test_a_server_that_keeps_the_body_open_after_done_gets_its_connection_closed(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.stream(events=[chunk_dict("a")], done=True, stall=True)
    async with await open_stream(async_client) as stream:
        final = await asyncio.wait_for(stream.get_final_completion(), 2.0)
    assert final.choices[0].message.content == "a"
    assert await server.wait_for_connections(0, timeout=1.0)
    assert checked_out(async_client) == 0


# -- reading again ----------------------------------------------------------------------------


async def test_reading_a_finished_stream_again() -> None:
    stream, reader = memory_stream()
    reader.feed_data(event("a") + event("b") + b"data: [DONE]\n\n")
    reader.feed_eof()
    assert [c.choices[0].delta.content async for c in stream] == ["a", "b"]
    with pytest.raises(StreamConsumedError) as raised:
        await stream.next_batch()
    assert str(raised.value) == (
        "This stream was already read to its end; use get_final_completion() or snapshot() "
        "for the answer (a stream can be iterated only once)."
    )
    assert raised.value.chunks == 2


async def test_reading_a_closed_stream_again() -> None:
    stream, reader = memory_stream()
    reader.feed_data(event("a") + event("b") + event("c"))
    assert len(await stream.next_batch()) == 3
    await stream.aclose()
    with pytest.raises(StreamClosedError) as raised:
        await stream.next_batch()
    assert str(raised.value) == (
        "This stream was closed by its user after 3 chunks, before its end (a break out of a "
        "loop over it, an exception in that loop, aclose()/close(), leaving its 'with' "
        "block, or a cancelled read): nothing more can be read from it. stream.snapshot() "
        "is what had arrived."
    )
    assert raised.value.chunks == 3


# -- the repr: the reader's view of the stream ------------------------------------------------


@pytest.mark.parametrize(
    ("end", "state", "chunks"),
    [
        (None, "open", 0),
        ("done", "finished", 2),
        ("fail", "failed", 2),
        ("close", "closed", 2),
    ],
)
async def test_repr(end: str | None, state: str, chunks: int) -> None:
    stream, reader = memory_stream()
    if end is not None:
        reader.feed_data(event("a") + event("b"))
        assert len(await stream.next_batch()) == 2
    if end == "done":
        reader.feed_data(b"data: [DONE]\n\n")
        reader.feed_eof()
        assert await stream.next_batch() == []
    elif end == "fail":
        reader.feed_eof()
        with pytest.raises(IncompleteStreamError):
            await stream.next_batch()
    elif end == "close":
        await stream.aclose()
    assert repr(stream) == f"<AsyncStream {state}, {chunks} chunks, response={stream.response!r}>"
    await stream.aclose()


# -- a JSON completion standing in for a stream -----------------------------------------------


COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-9",
    "object": "chat.completion",
    "created": 1700000009,
    "model": "agent-model",
    "system_fingerprint": "fp-7",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Looking it up.",
                "reasoning_content": "The user wants a lookup.",
                "refusal": "partly refused",
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": 1}'},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "search", "arguments": "{}"},
                    },
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": {"content": [{"token": "Look", "logprob": -0.5, "top_logprobs": []}]},
        },
        {
            "index": 1,
            "message": {"role": "assistant", "content": "Second answer."},
            "finish_reason": "stop",
        },
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    "retrieval": {"retrieved_data": [{"id": "doc-1", "index": "kb", "score": 0.5}]},
    "functions": {"called_functions": ["lookup"]},
    "guardrails": {"triggered_guardrails": []},
    "agent_trace": "kept as it came",  # a field this client does not know
}

#: The one chunk a stream request yields when the server answers with COMPLETION.
CHUNK: dict[str, Any] = {
    "id": "chatcmpl-9",
    "object": "chat.completion.chunk",
    "created": 1700000009,
    "model": "agent-model",
    "system_fingerprint": "fp-7",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": "Looking it up.",
                "reasoning_content": "The user wants a lookup.",
                "refusal": "partly refused",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": 1}'},
                    },
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "search", "arguments": "{}"},
                    },
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": {"content": [{"token": "Look", "logprob": -0.5, "top_logprobs": []}]},
        },
        {
            "index": 1,
            "delta": {"role": "assistant", "content": "Second answer."},
            "finish_reason": "stop",
        },
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    "retrieval": {"retrieved_data": [{"id": "doc-1", "index": "kb", "score": 0.5}]},
    "functions": {"called_functions": ["lookup"]},
    "guardrails": {"triggered_guardrails": []},
}


async def test_a_json_completion_streams_as_one_chunk_with_all_its_content(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.respond(json=COMPLETION)
    async with await open_stream(async_client) as stream:
        assert stream.response.status == 200
        assert stream.response.content_type == "application/json"
        chunks = [c async for c in stream]
        final = await stream.get_final_completion()
    assert [c.to_dict() for c in chunks] == [CHUNK]
    assert chunks == [ChatCompletionChunk.from_dict(CHUNK)]
    # The answer is the completion itself, the field this client does not know included.
    assert final == ChatCompletion.from_dict(COMPLETION)
    assert final.to_dict()["agent_trace"] == "kept as it came"
    assert final.response is stream.response


async def test_relaying_a_json_completion(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.respond(json=COMPLETION)
    stream = await open_stream(async_client)
    relayed = b"".join([piece async for piece in stream.sse_bytes()])
    head, _, done = relayed.partition(b"\n\n")
    assert head.startswith(b"data: ")
    assert json.loads(head[len(b"data: ") :]) == CHUNK
    assert done == b"data: [DONE]\n\n"


# -- relaying: the server's bytes, unchanged --------------------------------------------------


async def test_a_relay_passes_on_each_event_exactly_as_the_server_sent_it(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    # Spacing and key order no serialiser would reproduce, one event per network read.
    sent = [
        '{ "choices" : [{"delta": {"role": "assistant", "content": "Hel"}, "index": 0}],'
        ' "id": "c1" }',
        '{"id":"c1","choices":[{"index":0,"delta":{"content":"lo"}}]}',
        '{"id" : "c1", "choices" : [ {"index" : 0, "delta" : {}, "finish_reason" : "stop"} ]}',
    ]
    server.stream(events=[f"data: {data}\n\n" for data in sent], interval=0.03)
    stream = await open_stream(async_client)
    pieces = [piece async for piece in stream.sse_bytes()]
    assert b"".join(pieces) == b"".join(
        [f"data: {data}\n\n".encode() for data in sent] + [b"data: [DONE]\n\n"]
    )
    assert len(pieces) >= 3  # it took several reads: each batch paired with its own events
    assert stream.failure is None


# -- what the hooks are told of a stream's end ------------------------------------------------


class Told(Hooks):
    """Records each event with its hook's name."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_request(self, event: CallStarted) -> None:
        self.events.append(("on_request", event))

    def on_response(self, event: CallEnded) -> None:
        self.events.append(("on_response", event))

    def on_error(self, event: CallFailed) -> None:
        self.events.append(("on_error", event))

    def ended(self, name: str) -> tuple[CallStarted, Any]:
        """The call's start and its one terminal event, ``name``."""
        assert [hook for hook, _ in self.events] == ["on_request", name]
        return self.events[0][1], self.events[1][1]


class AsyncTold(Told):
    """The same, with async methods that really suspend."""

    async def on_response(self, event: CallEnded) -> None:  # type: ignore[override]
        await asyncio.sleep(0.001)
        self.events.append(("on_response", event))

    async def on_error(self, event: CallFailed) -> None:  # type: ignore[override]
        await asyncio.sleep(0.001)
        self.events.append(("on_error", event))


async def wait_until(condition: Any, timeout: float = 2.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - polling a plain condition
            await asyncio.sleep(0.005)


def check_times(started: CallStarted, ended: CallEnded | CallFailed) -> None:
    """The event's duration runs from the call's start to its report, and the first chunk
    came within it."""
    assert ended.time_to_first_chunk is not None
    assert 0 < ended.time_to_first_chunk <= ended.duration
    assert ended.duration <= time.monotonic() - started.started


@pytest.mark.parametrize("kind", [Told, AsyncTold])
@pytest.mark.parametrize(
    "how", ["to_the_end", "final_completion", "break", "break_without_with", "aclose", "dropped"]
)
async def test_how_a_stream_ended_is_told_once_with_what_arrived(
    server: FakeAgentServer, kind: type[Told], how: str
) -> None:
    told = kind()
    server.reply(["one", " two", " three"], interval=0.02)
    async with server.client(hooks=[told], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        response = stream.response
        arrived = ""
        if how == "to_the_end":
            async for chunk in stream:
                arrived += text([chunk])
        elif how == "final_completion":
            arrived = (await stream.get_final_completion()).choices[0].message.content or ""
        elif how == "break":
            async with stream:
                async for chunk in stream:
                    arrived += text([chunk])
                    if arrived:
                        break
        elif how == "break_without_with":
            async for chunk in stream:
                arrived += text([chunk])
                if arrived:
                    break
            # Told by the loop's own clean-up, without aclose().
            await wait_until(lambda: len(told.events) == 2)
        elif how == "aclose":
            while not arrived:
                arrived += text(await stream.next_batch())
            await stream.aclose()
        else:
            while not arrived:
                arrived += text(await stream.next_batch())
            raw = stream._raw
            del stream
            gc.collect()
            assert raw is not None
            raw.close()
        if how == "dropped" and kind is AsyncTold:
            # An async hook cannot be awaited from the garbage collector: it is not told.
            assert [hook for hook, _ in told.events] == ["on_request"]
            return
        started, ended = told.ended("on_response")
    assert isinstance(ended, CallEnded)
    assert ended.call_id == started.call_id
    assert ended.outcome == ("complete" if how in ("to_the_end", "final_completion") else "closed")
    assert ended.completion.choices[0].message.content == arrived
    assert ended.completion.response is response
    assert ended.response is response
    assert arrived == ("one two three" if ended.outcome == "complete" else "one")
    check_times(started, ended)


@pytest.mark.parametrize("kind", [Told, AsyncTold])
@pytest.mark.parametrize("how", ["cut", "error_event"])
async def test_a_stream_that_fails_tells_the_error_and_what_arrived(
    server: FakeAgentServer, kind: type[Told], how: str
) -> None:
    told = kind()
    if how == "cut":
        server.fault("cut", after=2)
    else:
        server.stream(
            events=[chunk_dict("Hi"), 'event: error\ndata: {"error": {"message": "busy"}}\n\n'],
            done=False,
            interval=0.02,
        )
    async with server.client(hooks=[told], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        with pytest.raises(APIError) as raised:
            async for _ in stream:
                pass
        started, failed = told.ended("on_error")
    assert isinstance(failed, CallFailed)
    assert failed.call_id == started.call_id
    assert failed.error is raised.value
    assert failed.partial is raised.value.partial
    assert failed.partial is not None and failed.partial == stream.snapshot()
    assert failed.partial.choices
    assert failed.response is stream.response
    check_times(started, failed)


async def test_a_cancelled_read_tells_the_cancellation_and_what_arrived(
    server: FakeAgentServer,
) -> None:
    told = AsyncTold()  # awaited although the read was cancelled
    server.fault("stall", after=1)
    async with server.client(hooks=[told], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        assert await stream.next_batch()
        with anyio.move_on_after(0.1):
            await stream.next_batch()
        await stream.aclose()
        started, failed = told.ended("on_error")
    assert isinstance(failed, CallFailed)
    assert failed.call_id == started.call_id
    assert isinstance(failed.error, asyncio.CancelledError)
    assert failed.partial == stream.snapshot()
    assert failed.partial is not None and failed.partial.choices[0].message.role == "assistant"
    assert failed.response is stream.response
    check_times(started, failed)


@pytest.mark.parametrize("how", ["read", "dropped"])
async def test_a_json_completion_stream_tells_the_completion(
    server: FakeAgentServer, how: str
) -> None:
    told = Told()
    server.respond(json=COMPLETION)
    async with server.client(hooks=[told], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        response = stream.response
        if how == "read":
            await stream.get_final_completion()
        else:
            del stream
            gc.collect()
        started, ended = told.ended("on_response")
    assert ended.call_id == started.call_id
    assert ended.completion == ChatCompletion.from_dict(COMPLETION)
    assert ended.completion.response is response
    assert ended.response is response
    assert ended.outcome == ("complete" if how == "read" else "closed")


class Unexpected(Exception):
    """Not an error agentchat expects from the network: a bug somewhere below it."""


@pytest.mark.parametrize("kind", [Told, AsyncTold])
async def test_an_unexpected_error_in_a_read_is_told_as_the_calls_error(
    server: FakeAgentServer, kind: type[Told]
) -> None:
    told = kind()
    server.fault("stall", after=1)
    async with server.client(hooks=[told], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        assert await stream.next_batch()
        read = await blocked_read(stream)
        assert stream._raw is not None
        stream._raw.content.set_exception(Unexpected("below agentchat"))
        with pytest.raises(Unexpected):
            await read
        await stream.aclose()  # told already: not told again
        started, failed = told.ended("on_error")
    assert isinstance(failed, CallFailed)
    assert failed.call_id == started.call_id
    assert isinstance(failed.error, Unexpected)
    assert failed.partial == stream.snapshot()
    assert failed.partial is not None and failed.partial.choices[0].message.role == "assistant"
    assert failed.response is stream.response
    check_times(started, failed)


@pytest.mark.parametrize("kind", [Told, AsyncTold])
async def test_a_read_whose_coroutine_is_closed_tells_the_sync_hooks_at_once(
    server: FakeAgentServer, kind: type[Told]
) -> None:
    """A coroutine being closed (``GeneratorExit``) cannot await: the sync hooks are told
    there and then; an async hook cannot be."""
    told = kind()
    server.fault("stall", after=1)
    async with server.client(hooks=[told], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        assert await stream.next_batch()
        read = stream.next_batch()
        read.send(None)  # now waiting for the network
        read.close()
        if kind is AsyncTold:
            assert [hook for hook, _ in told.events] == ["on_request"]
            await stream.aclose()
            return
        started, failed = told.ended("on_error")
        await stream.aclose()
    assert isinstance(failed, CallFailed)
    assert failed.call_id == started.call_id
    assert isinstance(failed.error, GeneratorExit)
    assert failed.partial == stream.snapshot()
    assert failed.partial is not None and failed.partial.choices[0].message.role == "assistant"
    assert failed.response is stream.response
    check_times(started, failed)
