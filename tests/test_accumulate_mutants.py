"""What a stream adds up to, field by field: the exact completion built from chunks (text,
reasoning, refusals, tool calls, logprobs, agent extras, unknown fields) and the usage rules,
including llama.cpp's usage chunk per choice (:func:`per_choice_total`); and a corner of
the SSE decoder that tests/test_sse.py leaves open.

The completions are compared with ``to_dict()``, which also holds ``extra`` (left out of
``==``)."""

from __future__ import annotations

from typing import Any

import pytest

from agentchat import AsyncAgentClient, ChatCompletionChunk, Usage
from agentchat._accumulate import CompletionAccumulator, per_choice_total
from agentchat._sse import ServerSentEvent, SSEDecoder
from agentchat.testing import FakeAgentServer

from .conftest import open_stream

BOM = b"\xef\xbb\xbf"


def accumulate(*chunks: dict[str, Any]) -> dict[str, Any]:
    accumulator = CompletionAccumulator()
    for chunk in chunks:
        accumulator.add(ChatCompletionChunk.from_dict(chunk))
    return accumulator.snapshot().to_dict()


def chunk(*choices: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "choices": list(choices), **top}


def delta(index: int | None = 0, finish_reason: str | None = None, **fields: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {"delta": fields, "finish_reason": finish_reason}
    if index is not None:
        choice["index"] = index
    return choice


def calls(*fragments: dict[str, Any]) -> dict[str, Any]:
    return chunk(delta(tool_calls=list(fragments)))


def tool_calls_of(*chunks: dict[str, Any]) -> list[dict[str, Any]]:
    message = accumulate(*chunks)["choices"][0]["message"]
    return list(message.get("tool_calls", ()))


def call(
    id: str | None, name: str | None, arguments: str, type: str = "function"
) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    result: dict[str, Any] = {"type": type, "function": function}
    if id is not None:
        result["id"] = id
    return result


# -- tool calls -----------------------------------------------------------------------------

TOOL_CALL_CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    # id and type from the first fragment that has them; a call whose fragments name no type
    # is a "function" call; names and arguments concatenated; empty pieces add nothing.
    "type and id from the first fragment that has them, names and arguments joined": (
        [
            calls({"index": 0, "id": "a", "type": "custom", "function": {"name": "look"}}),
            calls({"index": 0, "id": "z", "type": "function", "function": {"name": "up"}}),
            calls({"index": 0, "function": {"name": "", "arguments": '{"q"'}}),
            calls({"index": 1, "id": "b", "function": {"name": "f", "arguments": ""}}),
            calls({"index": 0, "function": {"arguments": ":1}"}}),
            calls({"index": 1, "function": {"arguments": "{}"}}),
            calls({"index": 1}),
        ],
        [call("a", "lookup", '{"q":1}', type="custom"), call("b", "f", "{}")],
    ),
    "calls in index order, whatever order they came in": (
        [
            calls({"index": 2, "id": "c", "function": {"name": "h", "arguments": "3"}}),
            calls({"index": 0, "id": "a", "function": {"name": "f", "arguments": "1"}}),
        ],
        [call("a", "f", "1"), call("c", "h", "3")],
    ),
    "a call with no name": (
        [calls({"index": 0, "id": "a", "function": {"arguments": "{}"}})],
        [call("a", None, "{}")],
    ),
    # Fragments without an index: the first call is at index 0, a new id is the next call,
    # an id already seen continues that call, no id continues the latest call.
    "indexless first fragment is call 0, continued by index 0": (
        [
            calls({"id": "a", "function": {"name": "f", "arguments": "{"}}),
            calls({"index": 0, "function": {"arguments": "}"}}),
        ],
        [call("a", "f", "{}")],
    ),
    "indexless new ids are calls 0, 1, 2, continued by their index": (
        [
            calls({"id": "a", "function": {"name": "f", "arguments": "1"}}),
            calls({"id": "b", "function": {"name": "g", "arguments": "2"}}),
            calls({"index": 1, "function": {"arguments": "2"}}),
            calls({"id": "c", "function": {"name": "h", "arguments": "3"}}),
            calls({"index": 2, "function": {"arguments": "3"}}),
        ],
        [call("a", "f", "1"), call("b", "g", "22"), call("c", "h", "33")],
    ),
    "indexless fragments continue the latest call or the one their id names": (
        [
            calls({"id": "a", "function": {"name": "f", "arguments": "1"}}),
            calls({"function": {"arguments": "1"}}),
            calls({"id": "b", "function": {"name": "g", "arguments": "2"}}),
            calls({"id": "a", "function": {"arguments": "1"}}),
            calls({"function": {"arguments": "2"}}),
        ],
        [call("a", "f", "111"), call("b", "g", "22")],
    ),
    "an id arriving after the call started without one is that call's": (
        [
            calls({"function": {"name": "f", "arguments": "1"}}),
            calls({"id": "a", "function": {"arguments": "2"}}),
        ],
        [call("a", "f", "12")],
    ),
}


@pytest.mark.parametrize(
    ("chunks", "expected"), list(TOOL_CALL_CASES.values()), ids=list(TOOL_CALL_CASES)
)
def test_tool_call_fragments_add_up(
    chunks: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    assert tool_calls_of(*chunks) == expected


def test_no_tool_calls_and_an_empty_tool_call_list_are_none() -> None:
    assert (
        "tool_calls"
        not in accumulate(chunk(delta(content="x", tool_calls=[])))["choices"][0]["message"]
    )


async def test_a_streamed_tool_call_without_type_is_a_function_call(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    fragments = [
        {"index": 0, "id": "call_1", "function": {"name": "lookup", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"city":'}},
        {"index": 0, "function": {"arguments": ' "Oslo"}'}},
        {"index": 1, "id": "call_2", "type": "custom", "function": {"name": "t"}},
    ]
    server.stream(
        events=[
            chunk(delta(role="assistant", tool_calls=[f]), model="m", created=1) for f in fragments
        ]
        + [chunk(delta(finish_reason="tool_calls"), model="m", created=1)]
    )
    async with await open_stream(client) as stream:
        final = await stream.get_final_completion()
    assert final.to_dict() == {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        call("call_1", "lookup", '{"city": "Oslo"}'),
                        call("call_2", "t", "", type="custom"),
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }


# -- text, reasoning, refusals, logprobs, top-level fields ----------------------------------


def logprob(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -1.0, "bytes": [ord(token)], "top_logprobs": []}


def test_interleaved_choices_add_up_exactly() -> None:
    final = accumulate(
        chunk(
            delta(1, role="bot", reasoning_content="r1"),  # any role, as sent
            created=5,
            model="m1",
            system_fingerprint="fp1",
            retrieval={"retrieved_data": [{"id": "d1"}]},
            x_first="kept",
            x_both="first",
        ),
        chunk(
            delta(None, role="assistant", content="He", reasoning="think "),
            id="c2",
            created=6,
            model="m2",
            functions={"called_functions": ["f"]},
            guardrails={"triggered_guardrails": []},
            x_both="second",
        ),
        chunk(
            delta(0, role="user", content="llo", reasoning="hard", reasoning_content="!"),
            delta(1, content="B", refusal="no", reasoning={"not": "text"}),
            system_fingerprint="fp2",
        ),
        chunk(
            {
                "index": 0,
                "delta": {},
                "logprobs": {"content": [logprob("H"), logprob("e")], "refusal": None},
                "finish_reason": "length",
            },
            {"index": 1, "delta": {"refusal": "pe"}, "logprobs": {"refusal": [logprob("n")]}},
        ),
        chunk(
            {"index": 0, "delta": {"content": ""}, "logprobs": {"content": [logprob("l")]}},
            {"index": 1, "delta": {}, "logprobs": {"content": [], "refusal": [logprob("o")]}},
            delta(2, content="third"),
            system_fingerprint=None,
            retrieval=None,
        ),
        chunk(delta(0, finish_reason="stop"), delta(1), delta(2, finish_reason="stop")),
    )
    assert final == {
        "id": "c1",
        "object": "chat.completion",
        "created": 5,
        "model": "m1",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "reasoning_content": "think !",  # "reasoning" beside it: not read
                },
                "finish_reason": "stop",
                "logprobs": {"content": [logprob("H"), logprob("e"), logprob("l")]},
            },
            {
                "index": 1,
                "message": {
                    "role": "bot",
                    "content": "B",
                    "reasoning_content": "r1",
                    "refusal": "nope",
                },
                "logprobs": {"content": [], "refusal": [logprob("n"), logprob("o")]},
            },
            {
                "index": 2,
                "message": {"role": "assistant", "content": "third"},
                "finish_reason": "stop",
            },
        ],
        "system_fingerprint": "fp2",
        "retrieval": {"retrieved_data": [{"id": "d1"}]},
        "functions": {"called_functions": ["f"]},
        "guardrails": {"triggered_guardrails": []},
        "x_first": "kept",
        "x_both": "second",
    }


def test_a_role_only_stream_and_no_chunks() -> None:
    assert accumulate(chunk(delta(role="assistant"))) == {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant"}}],
    }
    assert accumulate() == {"object": "chat.completion", "choices": []}
    snapshot = CompletionAccumulator().snapshot()
    assert snapshot.extra == {} and snapshot.usage is None


# -- usage ----------------------------------------------------------------------------------


def usage(prompt: int | None, completion: int | None, **more: Any) -> dict[str, Any]:
    counts = {"prompt_tokens": prompt, "completion_tokens": completion}
    if prompt is not None and completion is not None:
        counts["total_tokens"] = prompt + completion
    return {k: v for k, v in {**counts, **more}.items() if v is not None}


def usage_chunk(prompt: int | None, completion: int | None, **more: Any) -> dict[str, Any]:
    return chunk(usage=usage(prompt, completion, **more))


USAGE_CASES: dict[str, tuple[list[dict[str, Any]], dict[str, Any] | None]] = {
    "none": ([chunk(delta(content="a"))], None),
    "null usage counts for nothing": (
        [chunk(delta(content="a"), usage=None), chunk(usage=None)],
        None,
    ),
    "the last usage on chunks with choices (cumulative)": (
        [
            chunk(delta(content="a"), usage=usage(5, 1)),
            chunk(delta(content="b"), usage=usage(5, 2)),
            chunk(delta(content="c"), usage=None),
        ],
        usage(5, 2),
    ),
    "a usage chunk wins over the running usage": (
        [chunk(delta(content="a"), usage=usage(5, 9)), usage_chunk(5, 1)],
        usage(5, 1),
    ),
    "one usage chunk for two choices is the usage, as sent": (
        [
            chunk(delta(0, content="a"), delta(1, content="b")),
            chunk(usage={"prompt_tokens": 5, "completion_tokens": 2}),  # no total: none added
        ],
        {"prompt_tokens": 5, "completion_tokens": 2},
    ),
    "several usage chunks in a one-choice stream: the last": (
        [chunk(delta(content="a")), usage_chunk(5, 1, x="first"), usage_chunk(5, 2, x="last")],
        usage(5, 2, x="last"),
    ),
    "a usage chunk per choice (llama.cpp): added up": (
        [
            chunk(delta(0, content="a"), delta(1, content="b")),
            usage_chunk(5, 1),
            usage_chunk(5, 2),
        ],
        usage(5, 3),
    ),
}


@pytest.mark.parametrize(("chunks", "expected"), list(USAGE_CASES.values()), ids=list(USAGE_CASES))
def test_usage_of_a_stream(chunks: list[dict[str, Any]], expected: dict[str, Any] | None) -> None:
    assert accumulate(*chunks).get("usage") == expected


def details(**counts: int | None) -> dict[str, Any]:
    return {k: v for k, v in counts.items() if v is not None}


PER_CHOICE_CASES: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "prompt once (the largest), completions summed": (
        [usage(12, 3), usage(11, 4), usage(12, 0)],
        usage(12, 7),
    ),
    # Without a prompt count, each total counts that choice's completion: they add up.
    "no prompt counts: totals summed": (
        [
            {"completion_tokens": 3, "total_tokens": 3},
            {"completion_tokens": 4, "total_tokens": 4},
        ],
        {"completion_tokens": 7, "total_tokens": 7},
    ),
    "no completion counts: totals summed": (
        [{"prompt_tokens": 2, "total_tokens": 5}, {"prompt_tokens": 2, "total_tokens": 6}],
        {"prompt_tokens": 2, "total_tokens": 11},
    ),
    "only totals": ([{"total_tokens": 5}, {"total_tokens": 6}], {"total_tokens": 11}),
    "no counts at all": ([{}, {}], {}),
    "completion details summed, field by field": (
        [
            usage(
                4,
                3,
                completion_tokens_details=details(
                    reasoning_tokens=1, audio_tokens=0, accepted_prediction_tokens=3
                ),
            ),
            usage(4, 1),
            usage(
                4,
                5,
                completion_tokens_details=details(
                    reasoning_tokens=2, accepted_prediction_tokens=4, rejected_prediction_tokens=5
                ),
            ),
        ],
        usage(
            4,
            9,
            completion_tokens_details=details(
                reasoning_tokens=3,
                audio_tokens=0,
                accepted_prediction_tokens=7,
                rejected_prediction_tokens=5,
            ),
        ),
    ),
    "cache counts the largest, cache and prompt details the last given": (
        [
            usage(
                4,
                1,
                cache_created_input_tokens=5,
                cache_creation={"ephemeral_5m_input_tokens": 1},
                prompt_tokens_details={"cached_tokens": 1},
                x="first",
            ),
            usage(
                4,
                1,
                cache_created_input_tokens=3,
                cache_read_input_tokens=7,
                cache_creation={"ephemeral_1h_input_tokens": 2},
                x="middle",
            ),
            usage(4, 1, cache_read_input_tokens=6, x="last", y=1),
        ],
        usage(
            4,
            3,
            cache_created_input_tokens=5,
            cache_read_input_tokens=7,
            cache_creation={"ephemeral_1h_input_tokens": 2},
            prompt_tokens_details={"cached_tokens": 1},
            x="last",
            y=1,
        ),
    ),
}


@pytest.mark.parametrize(
    ("usages", "expected"), list(PER_CHOICE_CASES.values()), ids=list(PER_CHOICE_CASES)
)
def test_per_choice_total(usages: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert per_choice_total([Usage.from_dict(u) for u in usages]).to_dict() == expected
    # The same through a stream of two choices, a usage chunk for each.
    streamed = accumulate(
        chunk(delta(0, content="a"), delta(1, content="b")), *(chunk(usage=u) for u in usages)
    )
    assert streamed["usage"] == expected


# -- the SSE decoder ------------------------------------------------------------------------


@pytest.mark.parametrize("reads", [[b"\n" + BOM + b"data: x\n\n"], [b"\n", BOM + b"data: x\n\n"]])
def test_a_bom_after_a_leading_line_break_is_not_a_bom(reads: list[bytes]) -> None:
    # Only the stream's first bytes may be a byte-order mark; here the first line is blank,
    # the next one's field name is "\ufeffdata": unknown, ignored, so no event.
    decoder = SSEDecoder()
    events = [event for read in reads for event in decoder.feed(read)]
    assert events + decoder.end() == []


def test_a_bom_at_the_start_of_a_later_read_is_not_a_bom() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"data: x\n\n") + decoder.feed(BOM + b"data: y\n\n") + decoder.end()
    assert events == [ServerSentEvent("x")]  # the second line's field is "\ufeffdata"


@pytest.mark.parametrize("first_read", [b":\n", b":"])
def test_a_first_read_shorter_than_a_bom_is_decoded(first_read: bytes) -> None:
    # (Not held back as if it could be the start of a byte-order mark.)
    decoder = SSEDecoder()
    assert decoder.feed(first_read) == []
    assert decoder.feed(b"\n" if first_read == b":" else b"") == []
    assert decoder.comments == 1
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent("x")]


def test_fields_without_a_space_after_the_colon_keep_their_whole_value() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"event:ping\nid:7\nretry:10\nerror:{}\n\n") + decoder.end()
    assert events == [ServerSentEvent("{}", "error", "7", 10)]
    decoder = SSEDecoder()
    assert decoder.feed(b"event:ping\ndata: x\n\n") == [ServerSentEvent("x", "ping")]
