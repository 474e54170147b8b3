"""Answers varied where real servers vary them, against the fake agent on 127.0.0.1: parallel
tool calls with interleaved fragments, several usage chunks, text that looks like the
protocol, and the stream's bytes cut anywhere. Each test names the bug it is there to catch."""

from __future__ import annotations

import itertools
import json
from typing import Any

import attrs
import pytest
from aiohttp import web

from agentchat import (
    AsyncAgentClient,
    ChatCompletion,
    ChatCompletionChunk,
    FunctionCall,
    MessageParam,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
    function_tool,
)
from agentchat._sse import SSEDecoder
from agentchat.testing import FakeAgentServer, ScriptedReply, ScriptedStream, ScriptedToolCall

from .conftest import USER, open_stream

CALLS = [
    ScriptedToolCall("get_weather", {"city": "Paris, France", "unit": "celsius"}, id="call_w"),
    ScriptedToolCall("get_time", {"zone": "Europe/Rome", "format": "24h"}, id="call_t"),
]
EXPECTED_CALLS = [
    ("call_w", "get_weather", '{"city": "Paris, France", "unit": "celsius"}'),
    ("call_t", "get_time", '{"zone": "Europe/Rome", "format": "24h"}'),
]

#: Text that looks like the event-stream protocol (each a delta of its own), then more text:
#: a client that takes any of it for the protocol ends or garbles the answer.
LOOKALIKES = [
    "data: [DONE]",
    "\n\ndata: [DONE]\n\n",
    "[DONE]",
    '\n\ndata: {"choices": []}\n\n',
    'event: error\ndata: {"error": {"message": "not an error"}}\n\n',
    ": ping\n\n",
    "id: 7\nretry: 10\n\n",
    "CRLF\r\n\r\nand a lone CR\r",
]
AFTER = ["and ", "the ", "answer ", "goes ", "on."]


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def read_stream(
    client: AsyncAgentClient, **kwargs: Any
) -> tuple[list[ChatCompletionChunk], ChatCompletion]:
    """Every chunk of one streamed call, and its final completion."""
    stream = await open_stream(client, **kwargs)
    async with stream:
        chunks = [chunk async for chunk in stream]
        final = await stream.get_final_completion()
    return chunks, final


def calls_of(completion: ChatCompletion) -> list[tuple[str | None, str | None, str | None]]:
    """The first choice's tool calls: id, function name, arguments."""
    calls = completion.choices[0].message.tool_calls or ()
    functions = [call.function or FunctionCall() for call in calls]
    return [(c.id, f.name, f.arguments) for c, f in zip(calls, functions, strict=True)]


# -- parallel tool calls, fragments interleaved ---------------------------------------------------


async def test_interleaved_parallel_tool_calls_stay_two_calls(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    """Catches: tool-call fragments keyed by the choice's index instead of their own (the
    two calls merge into one)."""
    server.reply_tool_calls(CALLS, interleave=True)
    chunks, final = await read_stream(client)

    fragments = [
        call
        for chunk in chunks
        for choice in chunk.choices
        for call in choice.delta.tool_calls or ()
    ]
    # The wire is what the test claims: the calls alternate, each in several pieces, id and
    # name only on a call's first fragment.
    assert [f.index for f in fragments][:8] == [0, 1, 0, 1, 0, 1, 0, 1]
    for index, (call_id, name, arguments) in enumerate(EXPECTED_CALLS):
        own = [f for f in fragments if f.index == index]
        assert len(own) >= 4
        assert [(f.id, f.function and f.function.name) for f in own[:2]] == [
            (call_id, name),
            (None, None),
        ]
        assert all(f.id is None for f in own[1:])
        assert "".join((f.function and f.function.arguments) or "" for f in own) == arguments

    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert calls_of(final) == EXPECTED_CALLS
    assert [call.type for call in choice.message.tool_calls or ()] == ["function", "function"]


RESULTS = ["sunny in Paris, France (celsius)", "12:00 in Europe/Rome (24h)"]


@function_tool
def get_weather(city: str, unit: str) -> str:
    """The weather in a city."""
    return f"sunny in {city} ({unit})"


@function_tool
def get_time(zone: str, format: str) -> str:
    """The time in a zone."""
    return f"12:00 in {zone} ({format})"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_run_tools_runs_both_interleaved_calls(
    server: FakeAgentServer, client: AsyncAgentClient, stream: bool
) -> None:
    """Catches the same merge, as the tool runner sees it: one call of no known function
    instead of two calls. (The plain run is answered as JSON, and checks the fake.)"""
    server.reply_tool_calls(CALLS, interleave=True)
    server.reply("Sunny, noon.")
    call: dict[str, Any] = {"model": "m", "messages": USER, "tools": [get_weather, get_time]}
    if stream:
        async with await client.agent.chat.completions.run_tools(stream=True, **call) as run:
            events = [event async for event in run]
            result = await run.get_result()
        ran = [e.call for e in events if isinstance(e, ToolResultEvent)]
        assert [(c.id, c.name, c.arguments) for c in ran] == EXPECTED_CALLS
    else:
        result = await client.agent.chat.completions.run_tools(**call)
    assert result.text == "Sunny, noon."
    assert [(c.id, c.name, c.arguments, c.result, c.error) for c in result.calls] == [
        *[(i, n, a, r, None) for (i, n, a), r in zip(EXPECTED_CALLS, RESULTS, strict=True)]
    ]
    tool_messages = server.last_request.messages[-2:]
    assert [(m["tool_call_id"], m["content"]) for m in tool_messages] == [
        ("call_w", RESULTS[0]),
        ("call_t", RESULTS[1]),
    ]


async def test_streamed_run_announces_interleaved_calls_with_their_whole_arguments(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_calls(CALLS, interleave=True, interval=0.005)  # a read per event
    server.reply("Sunny, noon.")
    call: dict[str, Any] = {"model": "m", "messages": USER, "tools": [get_weather, get_time]}
    async with await client.agent.chat.completions.run_tools(stream=True, **call) as run:
        announced = [event async for event in run if isinstance(event, ToolCallEvent)]
    assert [(e.id, e.name, e.arguments) for e in announced] == EXPECTED_CALLS


# -- several usage chunks ------------------------------------------------------------------------


async def test_the_last_of_several_usage_chunks_is_the_usage(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    """Catches: the first usage chunk kept instead of the last (one choice: a later usage
    replaces an earlier one; only llama.cpp's per-choice usages, n > 1, add up)."""
    counts = [usage(3, 2), usage(3, 5), usage(3, 9)]
    text = "one two three four five six seven eight nine"
    server.reply(text, usage=counts, interval=0.002)  # about a read per event
    stream = await open_stream(client)
    async with stream:
        chunks: list[ChatCompletionChunk] = []
        while batch := await stream.next_batch():
            chunks += batch
            # At every point, the usage so far is the latest one sent.
            latest = next((c.usage for c in reversed(chunks) if c.usage is not None), None)
            so_far = stream.snapshot().usage
            assert tokens(so_far) == tokens(latest), "not the latest usage"
            assert so_far == latest
        final = await stream.get_final_completion()

    usages = [(i, c.usage) for i, c in enumerate(chunks) if not c.choices]
    assert [u.completion_tokens for _, u in usages if u is not None] == [2, 5, 9]
    finish = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].finish_reason)
    # The running counts came during the answer, the last after its end.
    assert usages[0][0] < finish < usages[-1][0] == len(chunks) - 1
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (3, 9)
    assert final.usage.total_tokens == 12
    assert final.choices[0].message.content == text


def tokens(usage: Usage | None) -> tuple[int | None, ...] | None:
    if usage is None:
        return None
    return (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


async def test_scripted_usage_as_json_is_the_last_one(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply("Hi.", usage=[usage(3, 1), usage(3, 2)])
    completion = await client.agent.chat.completions.create(model="m", messages=USER)
    assert completion.usage is not None and completion.usage.total_tokens == 5


# -- text that looks like the protocol ----------------------------------------------------------


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped", "utf8"])
async def test_text_that_looks_like_the_protocol_arrives_intact(
    server: FakeAgentServer, client: AsyncAgentClient, ensure_ascii: bool
) -> None:
    """Catches: ``[DONE]`` matched anywhere in an event's data instead of as the whole data
    (the stream then ends early, silently, at the first such text)."""
    server.ensure_ascii = ensure_ascii
    pieces = [*LOOKALIKES, "Grüße ✓ ", *AFTER]
    server.reply(pieces)
    chunks, final = await read_stream(client)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == pieces, "the stream ended early, or a delta was lost or changed"
    assert chunks[-1].choices[0].finish_reason == "stop"  # the stream reached its real end
    assert final.choices[0].message.content == "".join(pieces)
    assert final.choices[0].finish_reason == "stop"


async def test_protocol_lookalikes_in_tool_arguments_arrive_intact(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    """The same bug, in a tool call's arguments (split across fragments by the fake)."""
    arguments = {"note": "data: [DONE]\n\nevent: error\r\n: ping", "n": 1}
    server.reply_tool_calls([ScriptedToolCall("f", arguments, id="c1"), CALLS[1]], interleave=True)
    _, final = await read_stream(client)
    assert calls_of(final) == [
        ("c1", "f", ScriptedToolCall("f", arguments).encoded_arguments()),
        EXPECTED_CALLS[1],
    ]


# -- the bytes cut anywhere ----------------------------------------------------------------------

SEEDS = [1, 2, 3, 4, 5, 6]


def varied_events(server: FakeAgentServer, line_ending: str = "\n") -> list[Any]:
    """One answer with everything varied: protocol-like and non-ASCII text, interleaved
    tool calls, running usage counts; and, written as is, a heartbeat and one chunk sent
    as two ``data:`` lines (which a stray line break, a CRLF read as two, would split)."""
    reply = ScriptedReply(
        pieces=("data: [DONE]", "Größe 1 µm, 東京 ✓ 🙂"),
        tool_calls=(ScriptedToolCall("f", {"a": "ß✓"}), ScriptedToolCall("g", {"b": 12})),
        interleave_calls=True,
        usage=(usage(4, 3), usage(4, 30)),
    )
    events: list[Any] = server.chunks({"messages": USER}, 1, reply)
    end = line_ending
    head, _, tail = json.dumps(events[2], ensure_ascii=False).partition(", ")
    events[2] = f"data: {head},{end}data: {tail}{end}{end}"
    events.insert(1, f": ping{end}{end}")
    return events


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
async def test_the_bytes_cut_anywhere_give_the_same_chunks(
    server: FakeAgentServer, client: AsyncAgentClient, line_ending: str
) -> None:
    """Catches a decoder that mishandles a read ending inside ``data:``, inside a UTF-8
    character, between ``\\r`` and ``\\n``, or a line spread over several reads."""
    events = varied_events(server, line_ending)
    stream = ScriptedStream(events=events, line_ending=line_ending, ensure_ascii=False)
    server.enqueue(stream)
    whole_chunks, whole_final = await read_stream(client)
    assert len(whole_chunks) == len(events) - 1  # all but the heartbeat
    assert whole_final.choices[0].message.content == "data: [DONE]Größe 1 µm, 東京 ✓ 🙂"
    assert whole_final.usage is not None and whole_final.usage.completion_tokens == 30
    cuts: list[dict[str, Any]] = [{"write_size": 1}, *[{"split": seed} for seed in SEEDS]]
    for cut in cuts:
        server.enqueue(attrs.evolve(stream, **cut))
        chunks, final = await read_stream(client)
        assert chunks == whole_chunks, cut
        assert final == whole_final, cut


async def test_split_cuts_reach_the_client_as_reads_of_their_own(
    server: FakeAgentServer, async_client: AsyncAgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the test above relies on: the server writes pieces of 1 to 16 bytes, the same
    for the same seed, and the reads the client's decoder gets end inside ``data:``, inside
    a UTF-8 character and between ``\\r`` and ``\\n`` (an async client, on the server's
    loop; one on another loop may get pieces joined, as a network can join them)."""
    writes: list[int] = []
    reads: list[bytes] = []
    write, feed = web.StreamResponse.write, SSEDecoder.feed

    async def recording_write(self: web.StreamResponse, data: bytes) -> None:
        writes.append(len(data))
        await write(self, data)

    def recording_feed(self: SSEDecoder, chunk: bytes) -> Any:
        reads.append(chunk)
        return feed(self, chunk)

    monkeypatch.setattr(web.StreamResponse, "write", recording_write)
    monkeypatch.setattr(SSEDecoder, "feed", recording_feed)
    events = varied_events(server, "\r\n")
    cuts: list[list[int]] = []
    for seed in [1, 1, 2]:
        writes.clear()
        reads.clear()
        server.enqueue(
            ScriptedStream(events=events, line_ending="\r\n", split=seed, ensure_ascii=False)
        )
        await read_stream(async_client)
        cuts.append(list(writes))
        assert max(writes) <= 16 and min(writes) >= 1
        body = b"".join(reads)
        ends = list(itertools.accumulate(len(r) for r in reads))[:-1]
        assert len(ends) > len(writes) // 2  # the reads are (nearly all) the pieces
        assert any(body[end - 1 : end + 1] == b"\r\n" for end in ends)
        assert any(0x80 <= body[end] < 0xC0 for end in ends)  # a UTF-8 continuation byte
        inside_data = [
            end for end in ends for k in range(1, 5) if body[end - k : end - k + 5] == b"data:"
        ]
        assert inside_data
    assert cuts[0] == cuts[1] != cuts[2]


async def test_a_server_wide_split_cuts_every_stream(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    """``FakeAgentServer(split=seed)`` (here set on the running server): the default answer,
    cut at random, still adds up."""
    server.split, server.ensure_ascii = 7, False
    said: list[MessageParam] = [{"role": "user", "content": "Grüße aus Köln, ✓ data: [DONE]"}]
    _, final = await read_stream(client, messages=said)
    assert final.choices[0].message.content == "Echo: Grüße aus Köln, ✓ data: [DONE]"
