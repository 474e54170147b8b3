"""Streaming against the fake agent on 127.0.0.1: chunks, accumulation, every fault, and
connection hygiene after each way a stream can end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agentchat import (
    AgentChatError,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStreamError,
    APITimeoutError,
    AsyncAgentClient,
    AuthenticationError,
    ChatCompletion,
    ChatCompletionChunk,
    IncompleteStreamError,
    StreamClosedError,
    StreamConsumedError,
    Timeout,
)
from agentchat.testing import FakeAgentServer

from .conftest import USER, checked_out, open_stream

TOOLS = [{"type": "function", "function": {"name": "lookup"}}]
FORCE_TOOL = {"type": "function", "function": {"name": "lookup"}}


async def assert_connection_gone(server: FakeAgentServer, client: AsyncAgentClient) -> None:
    """The server sees the connection closed within a second; nothing is checked out."""
    assert await server.wait_for_connections(0, timeout=1.0), "server still holds a connection"
    assert checked_out(client) == 0


def chunk(content: str, index: int = 0) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": index, "delta": {"content": content}, "finish_reason": None}],
    }


# -- the happy path -------------------------------------------------------------------------


async def test_stream_yields_typed_chunks_and_adds_up_to_the_answer(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    async with await open_stream(client) as stream:
        # Metadata is there before the first chunk.
        assert stream.response.status == 200
        assert stream.response.request_id == "req-1"
        assert stream.response.content_type == "text/event-stream"
        assert stream.response.rate_limit.limit == 100_000
        chunks = [chunk async for chunk in stream]
        final = await stream.get_final_completion()
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", None)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: Hello there"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == "Echo: Hello there"
    assert final.choices[0].message.role == "assistant"
    assert final.choices[0].finish_reason == "stop"
    assert final.id == "chatcmpl-fake-1" and final.model == "m"
    assert final.response is stream.response
    request = server.requests[0]
    assert request.headers["Accept"] == "text/event-stream"
    assert request.json()["stream"] is True


async def test_text_stream_yields_only_the_text(client: AsyncAgentClient) -> None:
    async with await open_stream(client) as stream:
        pieces = [piece async for piece in stream.text_stream()]
    assert pieces == ["Echo: ", "Hello ", "there"]


async def test_snapshot_grows_while_iterating(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(events=[chunk("a"), chunk("b"), chunk("c")], interval=0.05)
    seen = []
    async with await open_stream(client) as stream:
        async for _ in stream:
            seen.append(stream.snapshot().choices[0].message.content)
    # Each snapshot holds what has been received: here one chunk per network read.
    assert seen == ["a", "ab", "abc"]


async def test_interleaved_choices_tool_calls_and_a_usage_chunk_per_choice(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    kwargs: dict[str, Any] = {
        "n": 3,
        "tools": TOOLS,
        "tool_choice": FORCE_TOOL,
        "stream_options": {"include_usage": True},
    }
    async with await open_stream(client, **kwargs) as stream:
        chunks = [c async for c in stream]
        final = await stream.get_final_completion()
    usage_chunks = [c for c in chunks if not c.choices]
    assert len(usage_chunks) == 3  # one per choice, as some servers send it
    assert usage_chunks[0] is not chunks[-1]  # ... before the other choices finished
    indexes = [c.choices[0].index for c in chunks[:6] if c.choices]
    assert indexes == [0, 1, 2, 0, 1, 2]  # interleaved
    expected = ChatCompletion.from_dict(server.completion(server.requests[0].json()))
    assert [c.message.tool_calls for c in final.choices] == [
        c.message.tool_calls for c in expected.choices
    ]
    assert [c.finish_reason for c in final.choices] == ["tool_calls"] * 3
    assert final.usage == expected.usage


async def test_usage_chunk_and_agent_extras(client: AsyncAgentClient) -> None:
    async with await open_stream(
        client,
        stream_options={"include_usage": True},
        include_retrieval_info=True,
        include_guardrails_info=True,
    ) as stream:
        chunks = [c async for c in stream]
        final = await stream.get_final_completion()
    assert chunks[-1].choices == () and chunks[-1].usage is not None
    assert final.usage is not None and final.usage.total_tokens == chunks[-1].usage.total_tokens
    assert final.retrieval is not None and final.guardrails is not None


async def test_unknown_fields_in_chunks_are_kept(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    event = chunk("hi")
    event["provider"] = "x"
    event["choices"][0]["delta"]["annotations"] = [1]
    server.stream(events=[event])
    async with await open_stream(client) as stream:
        (received,) = [c async for c in stream]
        final = await stream.get_final_completion()
    assert received.extra == {"provider": "x"}
    assert received.choices[0].delta.extra == {"annotations": [1]}
    assert final.extra == {"provider": "x"}


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("write_size", [None, 1, 7])
async def test_any_line_ending_and_any_write_size(
    server: FakeAgentServer, client: AsyncAgentClient, line_ending: str, write_size: int | None
) -> None:
    text = "Olá, 東京 🚀 — done"
    server.stream(
        events=[chunk(text[:5]), chunk(text[5:])], line_ending=line_ending, write_size=write_size
    )
    async with await open_stream(client) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == text


async def test_several_events_in_one_read_and_one_event_over_many_reads(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    big = "x" * 200_000
    server.stream(events=[chunk("a"), chunk("b"), chunk(big), chunk("c")])
    async with await open_stream(client) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "ab" + big + "c"


async def test_other_event_types_and_comments_are_skipped(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(events=[": keep-alive\n\n", "event: ping\ndata: {}\n\n", chunk("ok")])
    async with await open_stream(client) as stream:
        chunks = [c async for c in stream]
    assert len(chunks) == 1 and chunks[0].choices[0].delta.content == "ok"


async def test_a_completed_stream_returns_its_connection_to_the_pool(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    for _ in range(3):
        async with await open_stream(client) as stream:
            await stream.get_final_completion()
        assert checked_out(client) == 0
    assert server.open_connections == 1  # one pooled keep-alive connection, reused


# -- streams cut short ------------------------------------------------------------------------


async def test_clean_end_without_done_raises(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(stop_after=3, done=False)
    received = []
    with pytest.raises(IncompleteStreamError, match="without 'data: \\[DONE\\]'") as info:
        async with await open_stream(client) as stream:
            async for c in stream:
                received.append(c)
    assert len(received) == 3 and info.value.chunks == 3
    assert info.value.response is not None and info.value.response.status == 200
    # The HTTP response itself ended cleanly, so its connection is healthy and pooled.
    assert checked_out(client) == 0
    await open_stream(client)  # ... and reusable
    assert server.open_connections == 1


async def test_dropped_connection_raises(server: FakeAgentServer, client: AsyncAgentClient) -> None:
    server.stream(stop_after=2, done=False, cut=True)
    with pytest.raises(IncompleteStreamError, match="incomplete"):
        async with await open_stream(client) as stream:
            await stream.get_final_completion()
    await assert_connection_gone(server, client)


async def test_cut_in_the_middle_of_an_event_raises(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(events=[chunk("a"), 'data: {"id": "c", "choi'], done=False, cut=True)
    with pytest.raises(IncompleteStreamError):
        async with await open_stream(client) as stream:
            await stream.get_final_completion()
    await assert_connection_gone(server, client)


async def test_stalled_stream_hits_the_idle_timeout(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(stop_after=2, done=False, stall=True)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="stream_idle") as info:
        async with await open_stream(client, timeout=Timeout(stream_idle=0.3)) as stream:
            await stream.get_final_completion()
    assert 0.25 <= time.monotonic() - started < 2
    assert isinstance(info.value, TimeoutError)
    await assert_connection_gone(server, client)


async def test_heartbeats_do_not_reset_the_idle_timer(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(stop_after=2, done=False, stall=True, heartbeat=0.05)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="heartbeats do not count"):
        async with await open_stream(client, timeout=Timeout(stream_idle=0.4)) as stream:
            await stream.get_final_completion()
    assert time.monotonic() - started < 2
    await assert_connection_gone(server, client)


async def test_slow_but_steady_stream_is_not_an_idle_timeout(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(events=[chunk(str(i)) for i in range(6)], interval=0.1)
    async with await open_stream(client, timeout=Timeout(stream_idle=0.3)) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "012345"


async def test_total_timeout_bounds_the_whole_stream(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(events=[chunk(str(i)) for i in range(20)], interval=0.1)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="total timeout"):
        async with await open_stream(client, timeout=Timeout(total=0.5)) as stream:
            await stream.get_final_completion()
    assert time.monotonic() - started < 1.5
    await assert_connection_gone(server, client)


# -- errors inside the stream -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message", "code"),
    [
        (
            'event: error\ndata: {"error": {"message": "model overloaded", "code": "busy"}}\n\n',
            "model overloaded",
            "busy",
        ),
        ("event: error\ndata: upstream died\n\n", "upstream died", None),
        (
            'data: {"error": {"message": "quota exceeded", "type": "quota"}}\n\n',
            "quota exceeded",
            "quota",
        ),
        (
            'data: {"id": "server_error", "message": "agent crashed"}\n\n',
            "agent crashed",
            "server_error",
        ),
    ],
)
async def test_errors_reported_mid_stream_raise_with_the_servers_message(
    server: FakeAgentServer,
    client: AsyncAgentClient,
    event: str,
    message: str,
    code: str | None,
) -> None:
    server.stream(events=[chunk("partial"), event], done=False, stall=True)
    with pytest.raises(APIStreamError) as info:
        async with await open_stream(client) as stream:
            await stream.get_final_completion()
    assert info.value.message == message
    assert info.value.code == code
    assert message in str(info.value)
    await assert_connection_gone(server, client)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("data: {not json at all\n\n", "is not JSON: '{not json at all'"),
        ("data: [1, 2]\n\n", "is not a JSON object"),
        ('data: {"choices": [{"delta": {"content": 5}}]}\n\n', "unexpected type"),
        ("data: " + "y" * 5000 + "\n\n", "... (5000 chars)"),
    ],
)
async def test_malformed_events_raise_showing_the_data(
    server: FakeAgentServer, client: AsyncAgentClient, event: str, expected: str
) -> None:
    server.stream(events=[chunk("ok"), event], done=False, stall=True)
    with pytest.raises(APIResponseValidationError) as info:
        async with await open_stream(client) as stream:
            await stream.get_final_completion()
    assert expected in str(info.value)
    assert "Event 2 of the stream" in str(info.value)
    assert len(str(info.value)) < 400
    await assert_connection_gone(server, client)


async def test_error_status_raises_from_create_not_from_iteration(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.respond(401, json={"id": "unauthorized", "message": "Unable to authenticate you."})
    with pytest.raises(AuthenticationError):
        await open_stream(client)
    assert checked_out(client) == 0


# -- a 200 that is not an event stream ------------------------------------------------------


async def test_a_json_completion_becomes_a_finished_stream(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    body = server.completion(
        {"messages": USER, "tool_choice": FORCE_TOOL, "include_functions_info": True}
    )
    server.respond(json=body)
    async with await open_stream(client) as stream:
        chunks = [c async for c in stream]
        final = await stream.get_final_completion()
    assert len(chunks) == 1
    delta = chunks[0].choices[0].delta
    assert delta.tool_calls is not None and delta.tool_calls[0].index == 0
    expected = ChatCompletion.from_dict(body)
    assert final == expected
    assert final.response is not None and final.response.content_type == "application/json"
    # The accumulated chunks add up to the same answer.
    assert stream.closed


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"json": {"error": {"message": "no streaming here"}}}, "an error: no streaming here"),
        (
            {"body": "<html>maintenance</html>", "content_type": "text/html"},
            "Expected an event stream from HTTP 200, got text/html",
        ),
    ],
)
async def test_a_200_that_is_neither_stream_nor_completion_raises(
    server: FakeAgentServer, client: AsyncAgentClient, kwargs: dict[str, Any], expected: str
) -> None:
    server.respond(**kwargs)
    with pytest.raises(APIResponseValidationError, match=expected.replace("(", r"\(")):
        await open_stream(client)
    assert checked_out(client) == 0


# -- closing -----------------------------------------------------------------------------------


async def test_break_inside_async_with_closes_the_connection(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(stop_after=2, done=False, stall=True)
    async with await open_stream(client) as stream:
        async for _ in stream:
            break
    assert stream.closed
    await assert_connection_gone(server, client)


async def test_break_without_async_with_closes_the_connection(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(stop_after=2, done=False, stall=True)
    stream = await open_stream(client)
    async for _ in stream:
        break
    await assert_connection_gone(server, client)
    with pytest.raises(StreamClosedError, match="closed by its user"):
        await stream.get_final_completion()


async def test_an_exception_in_the_loop_body_closes_the_connection(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(stop_after=2, done=False, stall=True)
    with pytest.raises(RuntimeError, match="boom"):
        async with await open_stream(client) as stream:
            async for _ in stream:
                raise RuntimeError("boom")
    await assert_connection_gone(server, client)


async def test_cancelling_the_task_mid_stream_closes_the_connection(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.stream(stop_after=2, done=False, stall=True)
    first_chunk = asyncio.Event()

    async def consume() -> None:
        async with await open_stream(async_client) as stream:
            async for _ in stream:
                first_chunk.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_chunk.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_connection_gone(server, async_client)


async def test_cancelling_a_bare_next_batch_closes_the_connection(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.stream(stop_after=1, done=False, stall=True)
    stream = await open_stream(async_client)
    assert len(await stream.next_batch()) == 1
    task = asyncio.create_task(stream.next_batch())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.closed
    await assert_connection_gone(server, async_client)


async def test_aclose_before_reading(server: FakeAgentServer, client: AsyncAgentClient) -> None:
    server.stream(stop_after=2, done=False, stall=True)
    stream = await open_stream(client)
    await stream.aclose()
    await stream.aclose()
    assert stream.closed and stream.chunks_received == 0
    await assert_connection_gone(server, client)


async def test_closing_the_client_closes_open_streams(server: FakeAgentServer) -> None:
    server.stream(stop_after=2, done=False, stall=True)
    client = server.client()
    stream = await open_stream(client)
    await client.aclose()
    assert await server.wait_for_connections(0)
    with pytest.raises((IncompleteStreamError, AgentChatError)):
        await stream.get_final_completion()


async def test_stream_chunks_match_what_the_server_sent(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    expected = server.chunks({"messages": USER, "model": "m", "n": 2}, 1)
    async with await open_stream(client, n=2) as stream:
        received = [c async for c in stream]
    assert received == [ChatCompletionChunk.from_dict(e) for e in expected]


@pytest.fixture
def stdlib_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decode with the json module, as agentchat does where orjson is not installed."""
    import json

    monkeypatch.setattr("agentchat._json.loads", json.loads)


async def test_the_json_module_fallback_streams_the_same(
    server: FakeAgentServer, client: AsyncAgentClient, stdlib_json: None
) -> None:
    expected = server.chunks({"messages": USER, "model": "m", "n": 2}, 1)
    async with await open_stream(client, n=2) as stream:
        received = [c async for c in stream]
    assert received == [ChatCompletionChunk.from_dict(e) for e in expected]
    server.stream(events=[chunk("ok"), "data: {not json\n\n"], done=False, stall=True)
    with pytest.raises(APIResponseValidationError, match="is not JSON"):
        async with await open_stream(client) as stream:
            await stream.get_final_completion()


# -- reading again: after a close by the user, after the end -----------------------------------

ROOT = Path(__file__).resolve().parents[1]
THREE = [chunk("a"), chunk("b"), chunk("c")]
#: Three chunks, sent so that when the reader has the last one, [DONE] has been read with it
#: (one write), or has not been sent yet (the chunks one by one, then nothing). The same code
#: must meet the same outcome in both.
TIMINGS: dict[str, dict[str, Any]] = {
    "[DONE] already read": {"events": [*THREE, "data: [DONE]\n\n"], "done": False},
    "[DONE] not sent yet": {"events": THREE, "interval": 0.02, "done": False, "stall": True},
}
Read = Callable[[Any], Awaitable[object]]


async def _collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


#: Every way to read a stream (both call styles have these).
READS: dict[str, Read] = {
    "get_final_completion()": lambda stream: stream.get_final_completion(),
    "next_batch()": lambda stream: stream.next_batch(),
    "async for": lambda stream: _collect(stream),
    "text_stream()": lambda stream: _collect(stream.text_stream()),
}
#: ... and the relays, which the async API has (the sync ones are tested in test_sync.py).
RELAYS: dict[str, Read] = {
    "sse_bytes()": lambda stream: _collect(stream.sse_bytes()),
    "text_bytes()": lambda stream: _collect(stream.text_bytes()),
}


async def read_up_to_the_last_chunk(stream: Any) -> None:
    """Take chunks until "c", the last one, has been received (not [DONE])."""
    received = ""
    while not received.endswith("c"):
        received += "".join(c.choices[0].delta.content for c in await stream.next_batch())


async def assert_closed_by_its_user(stream: Any, reads: dict[str, Read], chunks: int) -> None:
    for read in reads.values():
        with pytest.raises(StreamClosedError, match=f"closed by its user after {chunks} chunks"):
            await read(stream)
    assert stream.snapshot().choices[0].message.content == "abc"  # what arrived, all of it


@pytest.mark.parametrize("timing", list(TIMINGS))
@pytest.mark.parametrize("close", ["break", "aclose()", "leaving async with"])
async def test_a_stream_closed_by_its_user_says_so_on_every_read_whatever_the_server_speed(
    server: FakeAgentServer, client: AsyncAgentClient, timing: str, close: str
) -> None:
    server.stream(**TIMINGS[timing])
    async with await open_stream(client) as stream:
        if close == "break":
            async for received in stream:
                if received.choices[0].delta.content == "c":
                    break
        else:
            await read_up_to_the_last_chunk(stream)
            if close == "aclose()":
                await stream.aclose()
    assert stream.closed
    await assert_closed_by_its_user(stream, READS, chunks=3)
    with pytest.raises(StreamClosedError) as info:
        await stream.get_final_completion()
    # Not a connection error: retry handlers (which catch APIConnectionError) leave it alone.
    assert not isinstance(info.value, (APIError, APIConnectionError))
    assert isinstance(info.value, AgentChatError) and info.value.chunks == 3
    assert "snapshot()" in str(info.value)
    assert checked_out(client) == 0


@pytest.mark.parametrize("timing", list(TIMINGS))
@pytest.mark.parametrize("reader", ["async for", "text_stream()", "sse_bytes()", "text_bytes()"])
async def test_a_read_right_after_a_break_raises_before_the_iterators_clean_up_has_run(
    server: FakeAgentServer, async_client: AsyncAgentClient, timing: str, reader: str
) -> None:
    # Python finalises an abandoned async iterator a moment after the break, as a task of the
    # loop: a read in between used to find the rest of the data (the whole answer) or the
    # connection being closed under it (IncompleteStreamError), by the server's speed.
    server.stream(**TIMINGS[timing])
    loops: dict[str, Callable[[Any], Any]] = {
        "async for": lambda stream: stream,
        "text_stream()": lambda stream: stream.text_stream(),
        "sse_bytes()": lambda stream: stream.sse_bytes(),
        "text_bytes()": lambda stream: stream.text_bytes(),
    }
    async with await open_stream(async_client) as stream:
        async for _ in loops[reader](stream):
            break
        # ... and no `await` between the break and the read.
        with pytest.raises(StreamClosedError, match="closed by its user"):
            await stream.get_final_completion()
        with pytest.raises(StreamClosedError, match="closed by its user"):
            await stream.next_batch()
    assert stream.chunks_received >= 1
    if timing == "[DONE] not sent yet":
        await assert_connection_gone(server, async_client)


async def test_a_break_without_async_with_closes_the_stream_at_once(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.stream(**TIMINGS["[DONE] already read"])
    stream = await open_stream(async_client)
    async for _ in stream:
        break
    assert stream.closed and "closed" in repr(stream)
    await assert_closed_by_its_user(stream, {**READS, **RELAYS}, chunks=3)


async def test_a_stream_closed_before_reading_says_so_even_when_its_answer_is_there(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    # A plain JSON completion stands in for the stream: the whole answer is there at once.
    server.respond(json=server.completion({"messages": USER}))
    async with await open_stream(client) as stream:
        pass
    with pytest.raises(StreamClosedError, match="after 0 chunks"):
        await stream.get_final_completion()


@pytest.mark.parametrize("first", list(READS))
async def test_a_stream_read_to_its_end_gives_its_answer_and_refuses_another_read(
    client: AsyncAgentClient, first: str
) -> None:
    async with await open_stream(client) as stream:
        await READS[first](stream)
        if first == "next_batch()":  # a first batch: read the rest
            while await stream.next_batch():
                pass
        final = await stream.get_final_completion()
        assert final.choices[0].message.content == "Echo: Hello there"
        for name, read in READS.items():
            if name == "get_final_completion()":
                continue
            with pytest.raises(StreamConsumedError, match="already read to its end") as info:
                await read(stream)
            assert "get_final_completion() or snapshot()" in str(info.value)
            assert isinstance(info.value, StreamClosedError)
            assert not isinstance(info.value, APIError)
        assert await stream.get_final_completion() == final == stream.snapshot()
    assert await stream.get_final_completion() == final  # after leaving `async with` too


async def test_the_relays_of_a_stream_read_to_its_end_refuse_too(
    async_client: AsyncAgentClient,
) -> None:
    async with await open_stream(async_client) as stream:
        relayed = b"".join(await _collect(stream.sse_bytes()))
        assert relayed.endswith(b"data: [DONE]\n\n")
        for read in RELAYS.values():
            with pytest.raises(StreamConsumedError):
                await read(stream)
        assert (await stream.get_final_completion()).choices[0].message.content


async def test_a_failure_given_to_the_reader_stands_after_leaving_async_with(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.stream(stop_after=2, done=False, cut=True)
    with pytest.raises(IncompleteStreamError) as info:
        async with await open_stream(client) as stream:
            async for _ in stream:
                pass
    for read in READS.values():
        with pytest.raises(IncompleteStreamError) as again:
            await read(stream)
        assert again.value is info.value


async def test_forgetting_await_before_async_with_is_explained_in_the_docs(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    # Python refuses it before agentchat runs a line (a coroutine is not a context manager);
    # what it says, and the fix, are in docs/streaming.md.
    call: Any = async_client.agent.chat.completions.create(model="m", messages=USER, stream=True)
    try:
        with pytest.raises((TypeError, AttributeError)) as info:  # AttributeError on 3.10
            async with call:
                pass
    finally:
        call.close()  # else Python warns that it was never awaited
    assert server.requests == []  # nothing was sent
    docs = (ROOT / "docs" / "streaming.md").read_text()
    assert str(info.value) in docs
    assert "async with await client.agent.chat.completions.create(" in docs
