"""What real OpenAI-compatible servers send, byte for byte, and what the client makes of it.

Part one builds the bytes by hand, one test (or group) per habit seen on llama.cpp's
``llama-server``, vLLM and Ollama: the role-only first delta, interleaved choices with a usage
chunk per choice, ``:`` keep-alive comments, reads that cut events (and characters) anywhere,
integer error codes, errors in the middle of a stream, client mistakes answered with a 500,
and fields the models do not know.

Part two replays streams recorded from a real ``llama-server`` (``tests/fixtures/llamacpp``,
made by ``scripts/record_llama_fixtures.py``) in small uneven pieces, and checks the typed
chunks and the accumulated completion against what a plain ``json`` reading of the same bytes
says.

Every reply comes from a real aiohttp server on 127.0.0.1 in the test's own loop, which writes
exactly the given bytes, piece by piece (a float between pieces is a pause, so the client
reads them apart).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web

from agentchat import (
    APIStreamError,
    APITimeoutError,
    AsyncAgentClient,
    AsyncOpenAICompatibleClient,
    AsyncStream,
    AuthenticationError,
    BadRequestError,
    ChatCompletion,
    ChatCompletionChunk,
    InternalServerError,
    OpenAICompatibleClient,
    Timeout,
)
from agentchat._errors import parse_error_body
from agentchat._sse import ServerSentEvent, SSEDecoder

from .conftest import USER
from .flavours import make_client

pytestmark = pytest.mark.timeout(30)

KEY = "live-test-key"
PATH = "/api/v1/chat/completions"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llamacpp"

Piece = bytes | float


@attrs.frozen
class Reply:
    """One scripted answer: the status, the content type and the body, written piece by
    piece (a float between pieces is a pause in seconds)."""

    pieces: Sequence[Piece]
    status: int = 200
    content_type: str = "text/event-stream"


class WireServer:
    """An OpenAI-compatible endpoint on 127.0.0.1 that answers each request with the next
    scripted :class:`Reply`, written exactly as given."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Any] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(PATH, self._answer)
        app.router.add_post("/v1/chat/completions", self._answer)  # an OpenAI-style base URL
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(json.loads(await request.read()))
        reply = self.replies.popleft()
        response = web.StreamResponse(
            status=reply.status, headers={"Content-Type": reply.content_type}
        )
        await response.prepare(request)
        for piece in reply.pieces:
            if isinstance(piece, float):
                await asyncio.sleep(piece)
            else:
                await response.write(piece)
        await response.write_eof()
        return response


@pytest.fixture
async def wire() -> AsyncIterator[WireServer]:
    server = WireServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture(params=["async", "sync"])
async def both(request: pytest.FixtureRequest, wire: WireServer) -> AsyncIterator[Any]:
    """A client of each call style (the sync one behind the async API, see ``flavours``)."""
    async with make_client(str(request.param), KEY, wire.url, max_retries=0) as client:
        yield client


@pytest.fixture
async def client(wire: WireServer) -> AsyncIterator[AsyncAgentClient]:
    async with AsyncAgentClient(KEY, wire.url, max_retries=0) as agent_client:
        yield agent_client


async def open_stream(client: Any, **kwargs: Any) -> AsyncStream:
    call: dict[str, Any] = {"model": "m", "messages": USER, **kwargs}
    stream: AsyncStream = await client.agent.chat.completions.create(stream=True, **call)
    return stream


async def read_all(client: Any, **kwargs: Any) -> tuple[list[ChatCompletionChunk], ChatCompletion]:
    async with await open_stream(client, **kwargs) as stream:
        chunks = [chunk async for chunk in stream]
        return chunks, await stream.get_final_completion()


# -- llama.cpp's bytes, built by hand ----------------------------------------------------------

CREATED = 1_767_000_000
FINGERPRINT = "b7000-0123abcd"
TIMINGS = {
    "cache_n": 0,
    "prompt_n": 12,
    "prompt_ms": 31.5,
    "prompt_per_token_ms": 2.625,
    "prompt_per_second": 380.9,
    "predicted_n": 3,
    "predicted_ms": 40.1,
    "predicted_per_token_ms": 13.4,
    "predicted_per_second": 74.8,
}


def dumps(value: Any) -> bytes:
    """JSON as llama.cpp writes it: compact, UTF-8 unescaped."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def data(value: Any, eol: bytes = b"\n") -> bytes:
    return b"data: " + dumps(value) + eol + eol


DONE = b"data: [DONE]\n\n"


def llama_chunk(
    delta: dict[str, Any],
    index: int = 0,
    finish_reason: str | None = None,
    logprobs: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """A chunk in llama.cpp's key order, with its ``system_fingerprint`` and ``timings``."""
    choice: dict[str, Any] = {"finish_reason": finish_reason, "index": index, "delta": delta}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return {
        "choices": [choice],
        "created": CREATED,
        "id": "chatcmpl-llama",
        "model": "qwen",
        "system_fingerprint": FINGERPRINT,
        "object": "chat.completion.chunk",
        "timings": TIMINGS,
        **extra,
    }


def llama_usage(prompt: int, completion: int) -> dict[str, Any]:
    """llama.cpp's usage chunk: empty choices, that task's counts."""
    return {
        "choices": [],
        "created": CREATED,
        "id": "chatcmpl-llama",
        "model": "qwen",
        "system_fingerprint": FINGERPRINT,
        "object": "chat.completion.chunk",
        "usage": {
            "completion_tokens": completion,
            "prompt_tokens": prompt,
            "total_tokens": prompt + completion,
        },
        "timings": {**TIMINGS, "predicted_n": completion},
    }


ROLE = {"role": "assistant", "content": None}


async def test_first_delta_is_role_with_null_content(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    wire.enqueue(
        Reply(
            [
                data(llama_chunk(ROLE)),
                data(llama_chunk({"content": "Hello"})),
                data(llama_chunk({"content": " world"})),
                data(llama_chunk({}, finish_reason="stop")),
                DONE,
            ]
        )
    )
    chunks, final = await read_all(client)
    assert len(chunks) == 4
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", None)
    assert chunks[-1].choices[0].delta.content is None
    assert chunks[-1].choices[0].finish_reason == "stop"
    message = final.choices[0].message
    assert (message.role, message.content) == ("assistant", "Hello world")
    assert message.tool_calls is None and message.reasoning_content is None
    assert final.choices[0].finish_reason == "stop"
    assert (final.id, final.model, final.created) == ("chatcmpl-llama", "qwen", CREATED)
    assert final.system_fingerprint == FINGERPRINT
    assert final.usage is None  # not asked for, not invented


# -- n > 1: interleaved choices, a usage chunk per choice ----------------------------------------

#: llama.cpp with n=2 and include_usage: each choice is a task of its own; its usage chunk
#: follows its finish chunk at once, and counts the prompt and that choice's tokens only.
N2_EVENTS = [
    llama_chunk(ROLE, 0),
    llama_chunk(ROLE, 1),
    llama_chunk({"content": "Hi"}, 0),
    llama_chunk({"content": "Hello"}, 1),
    llama_chunk({"content": " there"}, 0),
    llama_chunk({"content": "!"}, 1),
    llama_chunk({}, 0, "stop"),
    llama_usage(12, 3),
    llama_chunk({"content": " How"}, 1),
    llama_chunk({}, 1, "length"),
    llama_usage(12, 4),
]


async def test_interleaved_choices_with_a_usage_chunk_per_choice(
    wire: WireServer, both: Any
) -> None:
    body = b"".join(data(event) for event in N2_EVENTS) + DONE
    # Cut the body where the server's writes would: a few events per read, one cut mid-event.
    cut = len(body) // 3 + 17
    wire.enqueue(Reply([body[:cut], 0.01, body[cut:]]))
    chunks, final = await read_all(both, n=2, stream_options={"include_usage": True})
    assert len(chunks) == len(N2_EVENTS)
    indexes = [c.choices[0].index if c.choices else None for c in chunks]
    assert indexes == [0, 1, 0, 1, 0, 1, 0, None, 1, 1, None]
    usage_chunks = [c for c in chunks if not c.choices]
    assert [u.usage.completion_tokens for u in usage_chunks if u.usage] == [3, 4]
    # The first usage chunk came before choice 1 had finished.
    assert chunks.index(usage_chunks[0]) < len(chunks) - 2
    assert [c.index for c in final.choices] == [0, 1]
    assert [c.message.content for c in final.choices] == ["Hi there", "Hello! How"]
    assert [c.finish_reason for c in final.choices] == ["stop", "length"]
    assert [c.message.role for c in final.choices] == ["assistant", "assistant"]
    # Each usage chunk counted its own choice: the prompt once, the completions summed.
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (12, 7)
    assert final.usage.total_tokens == 19


async def test_one_usage_chunk_after_all_choices_is_the_usage(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    # OpenAI's and vLLM's way for n > 1: one usage chunk, for the whole request, at the end.
    events = [event for event in N2_EVENTS if event["choices"]]
    events.append(llama_usage(12, 7))
    wire.enqueue(Reply([b"".join(data(e) for e in events) + DONE]))
    _, final = await read_all(client, n=2, stream_options={"include_usage": True})
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (12, 7)
    assert final.usage.total_tokens == 19


async def test_repeated_usage_in_a_one_choice_stream_is_not_added_up(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    events = [
        llama_chunk(ROLE),
        llama_usage(12, 0),  # a server that reports the prompt first
        llama_chunk({"content": "ok"}),
        llama_chunk({}, finish_reason="stop"),
        llama_usage(12, 1),
    ]
    wire.enqueue(Reply([b"".join(data(e) for e in events) + DONE]))
    _, final = await read_all(client, stream_options={"include_usage": True})
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (12, 1)


# -- keep-alive comments -------------------------------------------------------------------------


async def test_ping_comments_before_the_first_event_are_not_chunks_and_keep_reads_alive(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    # llama-server sends ":\n\n" while it processes a long prompt. Here the pings come every
    # 0.05 s for 0.3 s, longer than the read timeout (0.15 s): bytes arrive, so no read times
    # out; no event arrives either, but well within stream_idle.
    pings: list[Piece] = []
    for ping in [b":\n\n", b": ping\n\n", b":\r\n\r\n"] * 2:
        pings += [ping, 0.05]
    events: list[Piece] = [
        data(llama_chunk(ROLE)),
        b":\n\n",
        data(llama_chunk({"content": "late"})),
        0.05,
        b":\n\n",
        data(llama_chunk({}, finish_reason="stop")),
        DONE,
    ]
    wire.enqueue(Reply([*pings, *events]))
    timeout = Timeout(connect=2, read=0.15, stream_idle=5)
    chunks, final = await read_all(client, timeout=timeout)
    assert [c.choices[0].delta.content for c in chunks] == [None, "late", None]
    assert final.choices[0].message.content == "late"
    assert final.choices[0].finish_reason == "stop"


async def test_ping_comments_do_not_count_as_events_for_stream_idle(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    # The other side of it: a server that only pings has sent no event. stream_idle (0.3 s)
    # fires although bytes kept arriving (the read timeout, 5 s, does not).
    wire.enqueue(Reply([piece for _ in range(40) for piece in (b":\n\n", 0.05)] + [DONE]))
    timeout = Timeout(connect=2, read=5, stream_idle=0.3)
    with pytest.raises(APITimeoutError, match="stream_idle") as caught:
        await read_all(client, timeout=timeout)
    assert caught.value.chunks == 0


# -- reads that do not align with events ---------------------------------------------------------

TEXT = ["Olá", ", 東京", " 🚀", " — ", "ok"]


def split_events_body(eol: bytes) -> bytes:
    events = [llama_chunk(ROLE)]
    events += [llama_chunk({"content": piece}) for piece in TEXT]
    events.append(llama_chunk({}, finish_reason="stop"))
    return b"".join(data(e, eol) for e in events) + b"data: [DONE]" + eol + eol


def pieces_cut_at(body: bytes, cuts: list[int]) -> list[Piece]:
    pieces: list[Piece] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(body)]:
        if cut > start:
            pieces += [body[start:cut], 0.002]
            start = cut
    return pieces


def inside_characters(body: bytes) -> list[int]:
    """A cut after the first byte of every multi-byte UTF-8 character."""
    return [i + 1 for i, byte in enumerate(body) if byte >= 0xC0]


def mid_events(body: bytes) -> list[int]:
    """A cut in the middle of every event, and one right inside each ``data:``."""
    starts = [i for i in range(len(body)) if body.startswith(b"data:", i)]
    return [s + 3 for s in starts] + [s + 40 for s in starts]


def at_line_ends(body: bytes) -> list[int]:
    """A cut between every CR and its LF."""
    return [i + 1 for i, byte in enumerate(body) if byte == 13]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize(
    "cutter",
    [
        lambda body: [],  # the whole stream in one write
        mid_events,
        inside_characters,
        at_line_ends,
        lambda body: list(range(7, len(body), 23)),  # uneven pieces across everything
    ],
    ids=["one-read", "mid-event", "mid-character", "cr-lf-apart", "every-23-bytes"],
)
async def test_reads_that_cut_events_characters_and_line_ends_anywhere(
    wire: WireServer, client: AsyncAgentClient, eol: bytes, cutter: Any
) -> None:
    body = split_events_body(eol)
    wire.enqueue(Reply(pieces_cut_at(body, cutter(body))))
    chunks, final = await read_all(client)
    assert [c.choices[0].delta.content for c in chunks] == [None, *TEXT, None]
    assert final.choices[0].message.content == "".join(TEXT)
    assert final.choices[0].finish_reason == "stop"


# -- errors ---------------------------------------------------------------------------------------


def llama_error(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": kind}}


async def test_status_error_with_an_integer_code_and_no_param(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    message = "'messages' must be an array of objects"
    wire.enqueue(
        Reply(
            [dumps(llama_error(400, message, "invalid_request_error"))],
            status=400,
            content_type="application/json; charset=utf-8",
        )
    )
    with pytest.raises(BadRequestError) as caught:
        await client.agent.chat.completions.create(model="m", messages=USER)
    error = caught.value
    assert (error.status_code, error.message, error.code) == (400, message, "400")
    assert error.body == llama_error(400, message, "invalid_request_error")
    assert str(error) == f"HTTP 400: {message} [400]"


async def test_a_401_from_llama_server(wire: WireServer, client: AsyncAgentClient) -> None:
    body = llama_error(401, "Invalid API Key", "authentication_error")
    wire.enqueue(Reply([dumps(body)], status=401, content_type="application/json"))
    with pytest.raises(AuthenticationError) as caught:
        await open_stream(client)
    assert (caught.value.message, caught.value.code) == ("Invalid API Key", "401")


async def test_a_client_mistake_answered_with_500_carries_the_servers_message(
    wire: WireServer,
) -> None:
    # llama-server answers some mistakes of the request (a tool-call template it cannot
    # apply, arguments it cannot parse) with 500. A 5xx is retried; the last error still
    # says what the server said.
    message = "Failed to parse tool call arguments as JSON: [json.exception.parse_error.101]"
    body = dumps(llama_error(500, message, "server_error"))
    wire.enqueue(*[Reply([body], status=500, content_type="application/json")] * 2)
    async with AsyncAgentClient(KEY, wire.url, max_retries=1) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.agent.chat.completions.create(model="m", messages=USER)
    error = caught.value
    assert (error.status_code, error.message, error.code, error.attempts) == (
        500,
        message,
        "500",
        2,
    )
    assert message in str(error) and len(wire.requests) == 2


#: The three ways a stream reports an error after some chunks: llama.cpp now (an error object
#: as data), llama.cpp before (an ``error:`` field, then [DONE]), and an ``event: error``.
MID_STREAM_ERRORS = {
    "data-error-object": data(llama_error(500, "the slot was released", "server_error")),
    "error-field-then-done": b'error: {"code":500,"message":"the slot was released",'
    b'"type":"server_error"}\n\n' + DONE,
    "event-error": b"event: error\n"
    + data({"code": 500, "message": "the slot was released", "type": "server_error"}),
}


@pytest.mark.parametrize("kind", list(MID_STREAM_ERRORS))
async def test_an_error_in_the_middle_of_a_stream(wire: WireServer, both: Any, kind: str) -> None:
    before = [llama_chunk(ROLE), llama_chunk({"content": "Partial"})]
    wire.enqueue(Reply([b"".join(data(e) for e in before), 0.01, MID_STREAM_ERRORS[kind]]))
    seen: list[str | None] = []
    with pytest.raises(APIStreamError) as caught:
        async with await open_stream(both) as stream:
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content)
    error = caught.value
    assert seen == [None, "Partial"]  # what arrived before the error, then the error
    assert (error.message, error.code) == ("the slot was released", "500")
    assert str(error) == "Error in stream: the slot was released [500]"
    assert error.chunks == 2
    assert error.partial is not None
    assert error.partial.choices[0].message.content == "Partial"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (llama_error(400, "bad n", "invalid_request_error"), ("bad n", "400")),
        ({"code": 500, "message": "slot gone", "type": "server_error"}, ("slot gone", "500")),
        ({"message": "no code here", "type": "server_error"}, ("no code here", "server_error")),
        (  # vLLM's older, flat shape
            {"object": "error", "message": "too long", "type": "BadRequestError", "code": 400},
            ("too long", "400"),
        ),
    ],
)
def test_error_bodies_with_integer_codes(body: Any, expected: tuple[str, str]) -> None:
    assert parse_error_body(body) == expected


def test_the_decoder_reads_llamas_error_field_as_an_error_event() -> None:
    raw = b'data: {"a":1}\n\nerror: {"code":500}\n\ndata: [DONE]\n\n'
    for pieces in ([raw], [raw[:20], raw[20:25], raw[25:]], [bytes([b]) for b in raw]):
        decoder = SSEDecoder()
        events = [event for piece in pieces for event in decoder.feed(piece)] + decoder.end()
        assert events == [
            ServerSentEvent('{"a":1}'),
            ServerSentEvent('{"code":500}', "error"),
            ServerSentEvent("[DONE]"),
        ]


# -- fields the models do not know --------------------------------------------------------------

TOKEN_LOGPROB = {
    "id": 9707,
    "token": "Hello",
    "bytes": [72, 101, 108, 108, 111],
    "logprob": -0.0123,
    "top_logprobs": [
        {"id": 9707, "token": "Hello", "bytes": [72, 101, 108, 108, 111], "logprob": -0.0123},
        {"id": 13048, "token": "Hi", "bytes": [72, 105], "logprob": -4.52},
    ],
}


async def test_extra_fields_are_kept_and_never_break_structuring(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    progress = {"total": 12, "cache": 0, "processed": 12, "time_ms": 31}
    events = [
        llama_chunk(ROLE, prompt_progress=progress, __verbose={"slot": 0, "n_ctx": 4096}),
        llama_chunk({"content": "Hello"}, logprobs={"content": [TOKEN_LOGPROB]}),
        llama_chunk({}, finish_reason="stop"),
    ]
    wire.enqueue(Reply([b"".join(data(e) for e in events) + DONE]))
    chunks, final = await read_all(client, logprobs=True, top_logprobs=2)
    assert chunks[0].extra == {
        "timings": TIMINGS,
        "prompt_progress": progress,
        "__verbose": {"slot": 0, "n_ctx": 4096},
    }
    assert chunks[0].system_fingerprint == FINGERPRINT
    logprobs = chunks[1].choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    (entry,) = logprobs.content
    assert (entry.token, entry.logprob, entry.bytes) == ("Hello", -0.0123, (72, 101, 108, 108, 111))
    assert entry.extra == {"id": 9707}
    assert entry.top_logprobs is not None
    assert [(t.token, t.logprob, t.extra) for t in entry.top_logprobs] == [
        ("Hello", -0.0123, {"id": 9707}),
        ("Hi", -4.52, {"id": 13048}),
    ]
    assert entry["id"] == 9707  # the mapping view sees it too
    # The accumulated completion: the logprobs, and the chunks' unknown fields (the last).
    choice = final.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content == (entry,)
    assert choice.logprobs.content[0].extra == {"id": 9707}
    assert final.extra["timings"] == TIMINGS and final.extra["prompt_progress"] == progress
    assert final.to_dict()["choices"][0]["logprobs"]["content"][0]["id"] == 9707


async def test_a_completion_with_timings_and_logprob_ids(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    body = {
        "choices": [
            {
                "finish_reason": "stop",
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "logprobs": {"content": [TOKEN_LOGPROB]},
            }
        ],
        "created": CREATED,
        "model": "qwen",
        "system_fingerprint": FINGERPRINT,
        "object": "chat.completion",
        "usage": {"completion_tokens": 1, "prompt_tokens": 12, "total_tokens": 13},
        "id": "chatcmpl-llama",
        "timings": TIMINGS,
    }
    wire.enqueue(Reply([dumps(body)], content_type="application/json; charset=utf-8"))
    completion = await client.agent.chat.completions.create(
        model="m", messages=USER, logprobs=True, top_logprobs=2
    )
    assert completion.choices[0].message.content == "Hello"
    assert completion.extra == {"timings": TIMINGS}
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert logprobs.content[0].extra == {"id": 9707}
    assert completion.usage is not None and completion.usage.total_tokens == 13
    assert completion.to_dict() == body


# -- vLLM and Ollama habits -----------------------------------------------------------------------


def openai_chunk(
    delta: dict[str, Any], finish_reason: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-vllm",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }


async def test_null_usage_on_every_chunk_but_the_last_and_empty_content_deltas(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    events = [
        openai_chunk({"role": "assistant", "content": ""}, usage=None),
        openai_chunk({"content": "Hi"}, usage=None),
        openai_chunk({"content": ""}, usage=None),
        openai_chunk({"content": "!"}, usage=None),
        openai_chunk({}, "stop", usage=None),  # finish_reason on an empty delta
        {
            **openai_chunk({}),
            "choices": [],
            "usage": {"prompt_tokens": 5, "total_tokens": 7, "completion_tokens": 2},
        },
    ]
    wire.enqueue(Reply([b"".join(data(e) for e in events) + DONE]))
    chunks, final = await read_all(client, stream_options={"include_usage": True})
    assert [c.usage for c in chunks[:-1]] == [None] * 5
    assert final.choices[0].message.content == "Hi!"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and final.usage.to_dict() == {
        "prompt_tokens": 5,
        "total_tokens": 7,
        "completion_tokens": 2,
    }


async def test_tool_call_fragments_whose_later_pieces_omit_id_type_and_name(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    def call(fragment: dict[str, Any]) -> dict[str, Any]:
        return openai_chunk({"tool_calls": [fragment]})

    events = [
        openai_chunk({"role": "assistant", "content": None}),
        call(
            {
                "index": 0,
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ),
        call({"index": 0, "function": {"arguments": '{"city": '}}),
        call({"index": 0, "function": {"arguments": '"Paris"}'}}),
        call({"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time"}}),
        call({"index": 1, "function": {"arguments": "{}"}}),
        openai_chunk({}, "tool_calls"),
    ]
    wire.enqueue(Reply([b"".join(data(e) for e in events) + DONE]))
    _, final = await read_all(client)
    message = final.choices[0].message
    assert message.content is None and final.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    assert [
        (c.id, c.type, c.function.name if c.function else None) for c in message.tool_calls
    ] == [
        ("call_a", "function", "get_weather"),
        ("call_b", "function", "get_time"),
    ]
    assert [c.function.arguments if c.function else None for c in message.tool_calls] == [
        '{"city": "Paris"}',
        "{}",
    ]


async def test_tool_calls_without_an_index_are_told_apart_by_their_id(
    wire: WireServer, client: AsyncAgentClient
) -> None:
    # Some servers (older Ollama) send each call whole, without an index.
    whole = [
        {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
        {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": '{"x":1}'}},
    ]
    events = [
        openai_chunk({"role": "assistant", "content": "", "tool_calls": whole}),
        openai_chunk({}, "tool_calls"),
    ]
    wire.enqueue(Reply([b"".join(data(e) for e in events) + DONE]))
    _, final = await read_all(client)
    calls = final.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in calls if c.function] == [
        ("call_1", "a", "{}"),
        ("call_2", "b", '{"x":1}'),
    ]


@pytest.mark.parametrize(
    "field",
    ["reasoning_content", "reasoning", "both"],
)
async def test_reasoning_deltas_under_either_name(
    wire: WireServer, client: AsyncAgentClient, field: str
) -> None:
    def thought(text: str) -> dict[str, Any]:
        if field == "both":  # vLLM while it moved from one name to the other
            return {"reasoning_content": text, "reasoning": text}
        return {field: text}

    events = [
        openai_chunk({"role": "assistant", "content": ""}),
        openai_chunk(thought("Let me ")),
        openai_chunk(thought("think.")),
        openai_chunk({"content": "42"}),
        openai_chunk({}, "stop"),
    ]
    wire.enqueue(Reply([b"".join(data(e) for e in events) + DONE]))
    chunks, final = await read_all(client)
    message = final.choices[0].message
    assert message.reasoning_content == "Let me think."
    assert message.content == "42"
    if field != "reasoning_content":
        assert chunks[1].choices[0].delta.extra == {"reasoning": "Let me "}


# -- replaying real llama-server recordings -------------------------------------------------------


def fixture_cases() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


def load_case(name: str) -> tuple[dict[str, Any], bytes]:
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    return meta, (FIXTURES / f"{name}.body").read_bytes()


def kind_of(name: str) -> str:
    """``stream``, ``stream-error`` (a stream that reports an error in the middle),
    ``completion`` or ``status-error``."""
    meta, raw = load_case(name)
    if meta["status"] >= 400:
        return "status-error"
    if not meta["request"].get("stream"):
        return "completion"
    return "stream-error" if b'data: {"error"' in raw else "stream"


CASES = {name: kind_of(name) for name in fixture_cases()}
STREAM_CASES = [name for name, kind in CASES.items() if kind == "stream"]
STREAM_ERROR_CASES = [name for name, kind in CASES.items() if kind == "stream-error"]
COMPLETION_CASES = [name for name, kind in CASES.items() if kind == "completion"]
ERROR_CASES = [name for name, kind in CASES.items() if kind == "status-error"]


def plain_events(raw: bytes) -> tuple[list[Any], int]:
    """The recorded stream read the plain way, without agentchat: the JSON of each ``data:``
    line before ``[DONE]``, and how many comment lines there were."""
    payloads: list[Any] = []
    comments = 0
    for line in raw.decode("utf-8").replace("\r\n", "\n").split("\n"):
        if line.startswith(":"):
            comments += 1
        elif line.startswith("data: "):
            if line == "data: [DONE]":
                break
            payloads.append(json.loads(line[len("data: ") :]))
        else:
            assert line == "", f"a line this reading does not expect: {line!r}"
    return payloads, comments


def expected_completion(chunks: list[Any]) -> dict[str, Any]:
    """What the chunks add up to, worked out from the plain JSON: per choice index its text,
    reasoning, finish reason, tool calls and logprob entries; and the usage (one usage chunk
    is the usage; several in a stream of several choices are per choice and add up, the
    prompt counted once)."""
    choices: dict[int, dict[str, Any]] = {}
    usages = []
    for chunk in chunks:
        if not chunk["choices"] and chunk.get("usage"):
            usages.append(chunk["usage"])
        for choice in chunk["choices"]:
            state = choices.setdefault(
                choice.get("index", 0),
                {"content": None, "reasoning": None, "finish": None, "calls": {}, "logprobs": []},
            )
            delta = choice.get("delta") or {}
            for key, field in (("content", "content"), ("reasoning", "reasoning_content")):
                if delta.get(field) is not None:
                    state[key] = (state[key] or "") + delta[field]
            if choice.get("finish_reason") is not None:
                state["finish"] = choice["finish_reason"]
            for call in delta.get("tool_calls") or []:
                into = state["calls"].setdefault(
                    call["index"], {"id": None, "name": "", "args": ""}
                )
                into["id"] = into["id"] or call.get("id")
                function = call.get("function") or {}
                into["name"] += function.get("name") or ""
                into["args"] += function.get("arguments") or ""
            state["logprobs"] += (choice.get("logprobs") or {}).get("content") or []
    usage = None
    if len(usages) == 1 or (usages and len(choices) == 1):
        usage = usages[-1]
    elif usages:
        prompt = max(u["prompt_tokens"] for u in usages)
        completion = sum(u["completion_tokens"] for u in usages)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        details = [u["prompt_tokens_details"] for u in usages if u.get("prompt_tokens_details")]
        if details:  # the prompt's: the same in each
            usage["prompt_tokens_details"] = details[-1]
    return {"choices": choices, "usage": usage}


def without_nulls(value: Any) -> Any:
    """JSON with every ``null`` member left out, as ``to_dict()`` leaves out ``None`` fields."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def replay_pieces(raw: bytes, how: str, reads: list[int]) -> list[Piece]:
    """The body in small uneven pieces (a pause now and then, so the client reads them
    apart), or in the pieces the recording read it in."""
    sizes = reads if how == "as-recorded" else [1, 5, 2, 17, 3, 64, 9, 250, 4, 33, 7]
    pieces: list[Piece] = []
    start = 0
    step = 0
    while start < len(raw):
        size = sizes[step % len(sizes)]
        pieces.append(raw[start : start + size])
        start += size
        step += 1
        if step % 6 == 0 or how == "as-recorded":
            pieces.append(0.001)
    return pieces


def replay(meta: dict[str, Any], raw: bytes, how: str) -> Reply:
    return Reply(
        replay_pieces(raw, how, meta.get("reads") or [len(raw)]),
        status=meta["status"],
        content_type=meta["content_type"],
    )


def check_against_recording(
    chunks: list[ChatCompletionChunk], final: ChatCompletion, plain: list[Any]
) -> None:
    assert len(chunks) == len(plain)
    for typed, raw_chunk in zip(chunks, plain, strict=True):
        assert typed.id == raw_chunk.get("id")
        assert typed.model == raw_chunk.get("model")
        assert len(typed.choices) == len(raw_chunk["choices"])
        for part, raw_choice in zip(typed.choices, raw_chunk["choices"], strict=True):
            delta = raw_choice.get("delta") or {}
            assert part.index == raw_choice.get("index")
            assert part.finish_reason == raw_choice.get("finish_reason")
            assert part.delta.role == delta.get("role")
            assert part.delta.content == delta.get("content")
        if raw_chunk.get("usage") is None:
            assert typed.usage is None
        else:
            assert typed.usage is not None and typed.usage.to_dict() == raw_chunk["usage"]
        # Every field of the JSON is somewhere: a model's field, or its extra.
        assert set(typed.to_dict()) | {k for k, v in raw_chunk.items() if v is None} == set(
            raw_chunk
        )
    expected = expected_completion(plain)
    assert [c.index for c in final.choices] == sorted(expected["choices"])
    for choice in final.choices:
        want = expected["choices"][choice.index]
        assert choice.message.content == want["content"]
        assert choice.message.reasoning_content == want["reasoning"]
        assert choice.finish_reason == want["finish"]
        calls = choice.message.tool_calls or ()
        assert [(c.id, c.function.name, c.function.arguments) for c in calls if c.function] == [
            (call["id"], call["name"], call["args"]) for _, call in sorted(want["calls"].items())
        ]
        entries = choice.logprobs.content if choice.logprobs and choice.logprobs.content else ()
        assert [e.to_dict() for e in entries] == want["logprobs"]
    if expected["usage"] is None:
        assert final.usage is None
    else:
        assert final.usage is not None and final.usage.to_dict() == expected["usage"]
    first = plain[0]
    assert (final.id, final.model, final.created) == (
        first.get("id"),
        first.get("model"),
        first.get("created"),
    )


async def replay_stream_async(url: str) -> tuple[list[ChatCompletionChunk], ChatCompletion]:
    async with AsyncOpenAICompatibleClient(f"{url}/v1", KEY, max_retries=0) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        async with stream:
            chunks = [chunk async for chunk in stream]
            return chunks, await stream.get_final_completion()


def replay_stream_sync(url: str) -> tuple[list[ChatCompletionChunk], ChatCompletion]:
    with (
        OpenAICompatibleClient(f"{url}/v1", KEY, max_retries=0) as client,
        client.chat.completions.create(model="m", messages=USER, stream=True) as stream,
    ):
        chunks = list(stream)
        return chunks, stream.get_final_completion()


@pytest.mark.parametrize("how", ["uneven", "as-recorded"])
@pytest.mark.parametrize("style", ["async", "sync"])
@pytest.mark.parametrize("case", STREAM_CASES)
async def test_recorded_llama_streams_replayed(
    wire: WireServer, case: str, style: str, how: str
) -> None:
    meta, raw = load_case(case)
    plain, _ = plain_events(raw)
    assert plain, "the recording holds no chunk"
    wire.enqueue(replay(meta, raw, how))
    if style == "async":
        chunks, final = await replay_stream_async(wire.url)
    else:
        chunks, final = await asyncio.to_thread(replay_stream_sync, wire.url)
    check_against_recording(chunks, final, plain)


@pytest.mark.parametrize("case", COMPLETION_CASES)
async def test_recorded_llama_completion_replayed(wire: WireServer, case: str) -> None:
    meta, raw = load_case(case)
    plain = json.loads(raw)
    wire.enqueue(replay(meta, raw, "uneven"))
    async with AsyncOpenAICompatibleClient(f"{wire.url}/v1", KEY, max_retries=0) as client:
        completion = await client.chat.completions.create(model="m", messages=USER)
    assert completion.id == plain["id"] and completion.model == plain["model"]
    assert len(completion.choices) == len(plain["choices"])
    for choice, raw_choice in zip(completion.choices, plain["choices"], strict=True):
        assert choice.index == raw_choice["index"]
        assert choice.finish_reason == raw_choice["finish_reason"]
        assert choice.message.content == raw_choice["message"].get("content")
        raw_logprobs = (raw_choice.get("logprobs") or {}).get("content") or []
        entries = choice.logprobs.content if choice.logprobs and choice.logprobs.content else ()
        assert [e.to_dict() for e in entries] == raw_logprobs
        assert [(e.token, e.logprob, e.extra.get("id")) for e in entries] == [
            (r["token"], r["logprob"], r.get("id")) for r in raw_logprobs
        ]
    assert completion.usage is not None and completion.usage.to_dict() == plain["usage"]
    assert completion.to_dict() == without_nulls(plain)


STATUS_ERRORS = {400: BadRequestError, 401: AuthenticationError, 500: InternalServerError}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("case", ERROR_CASES)
async def test_recorded_llama_errors_replayed(wire: WireServer, case: str, stream: bool) -> None:
    meta, raw = load_case(case)
    plain = json.loads(raw)["error"]
    # A 5xx is retried (once here): the error after the retry still has the server's words.
    retries = 1 if meta["status"] >= 500 else 0
    wire.enqueue(*[replay(meta, raw, "uneven")] * (retries + 1))
    async with AsyncOpenAICompatibleClient(f"{wire.url}/v1", KEY, max_retries=retries) as client:
        with pytest.raises(STATUS_ERRORS[meta["status"]]) as caught:
            await client.chat.completions.create(model="m", messages=USER, stream=stream)
    error = caught.value
    assert (error.status_code, error.attempts) == (meta["status"], retries + 1)
    assert error.message == plain["message"]
    assert error.code == str(plain["code"])
    assert plain["message"] in str(error)
    assert error.body == json.loads(raw)


@pytest.mark.parametrize("style", ["async", "sync"])
@pytest.mark.parametrize("case", STREAM_ERROR_CASES)
async def test_recorded_llama_stream_errors_replayed(
    wire: WireServer, case: str, style: str
) -> None:
    # A stream that starts, then reports an error as a data line, and ends without [DONE]:
    # the chunks before the error are delivered, then the server's error is raised.
    meta, raw = load_case(case)
    plain, _ = plain_events(raw)
    before = [payload for payload in plain if "error" not in payload]
    (failure,) = [payload["error"] for payload in plain if "error" in payload]
    assert plain[len(before)] == {"error": failure}  # the error comes last
    wire.enqueue(replay(meta, raw, "uneven"))
    seen: list[ChatCompletionChunk] = []

    def read_sync() -> None:
        with (
            OpenAICompatibleClient(f"{wire.url}/v1", KEY, max_retries=0) as client,
            client.chat.completions.create(model="m", messages=USER, stream=True) as stream,
        ):
            for chunk in stream:
                seen.append(chunk)

    with pytest.raises(APIStreamError) as caught:
        if style == "sync":
            await asyncio.to_thread(read_sync)
        else:
            async with AsyncOpenAICompatibleClient(f"{wire.url}/v1", KEY, max_retries=0) as client:
                stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
                async with stream:
                    async for chunk in stream:
                        seen.append(chunk)
    error = caught.value
    assert (error.message, error.code) == (failure["message"], str(failure["code"]))
    assert error.body == {"error": failure}
    assert [chunk.id for chunk in seen] == [payload["id"] for payload in before]
    assert error.chunks == len(before)
    assert error.partial is not None
    assert [c.message.role for c in error.partial.choices] == ["assistant"]


async def test_recorded_keep_alive_pings_before_the_first_event(wire: WireServer) -> None:
    # The recording's reads at a twentieth of their real pace: the ":" pings, about a
    # second apart on the server (50 ms here), last longer than the read timeout (0.15 s)
    # before the first event. They keep the read alive, and none of them is a chunk.
    meta, raw = load_case("stream_pings")
    plain, comments = plain_events(raw)
    assert comments >= 3 and raw.startswith(b":")
    pieces: list[Piece] = []
    start = 0
    previous = 0.0
    for size, at in zip(meta["reads"], meta["read_times"], strict=True):
        pieces += [(at - previous) / 20, raw[start : start + size]]
        start, previous = start + size, at
    first_event_at = meta["read_times"][comments] / 20
    assert first_event_at > 0.15
    wire.enqueue(Reply(pieces, content_type=meta["content_type"]))
    timeout = Timeout(connect=2, read=0.15, stream_idle=10)
    async with AsyncOpenAICompatibleClient(f"{wire.url}/v1", KEY, timeout=timeout) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        async with stream:
            chunks = [chunk async for chunk in stream]
            final = await stream.get_final_completion()
    check_against_recording(chunks, final, plain)


def test_the_recordings_are_there() -> None:
    # The replay tests above take their cases from the files: none must go missing unseen.
    assert {
        "stream_usage",
        "stream_n2_usage",
        "stream_tool_call",
        "stream_logprobs",
        "completion_logprobs",
        "error_400",
        "error_401",
        "error_500",
        "stream_error_500",
        "stream_pings",
    } <= set(fixture_cases())
    assert {"stream", "stream-error", "completion", "status-error"} == set(CASES.values())
