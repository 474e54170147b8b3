"""Completions, streams and errors against a real llama-server.

Each test runs for the async and the sync client, and for the agent client (``--api-prefix
/api`` server) and at least one client of the plain ``/v1`` server. Prompts are short (the
server reads about 100 prompt tokens a second here) and deterministic (``temperature=0``, or
a seed) wherever an assertion needs the same answer twice.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from agentchat import (
    AuthenticationError,
    BadRequestError,
    ChatCompletionChunk,
    MessageParam,
)

from .clients import MODEL, Chat, kinds
from .llama import LlamaServer


def user(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


COUNT = user("Count from 1 to 10, separated by commas.")


@kinds("agent", "openai", "inference")
async def test_completion(chat: Chat) -> None:
    completion = await chat.complete(messages=user("Say hello."), max_tokens=16, temperature=0)

    assert completion.response.status == 200
    assert completion.response.content_type == "application/json"
    # The agent path on the --api-prefix server; the standard one, at the root, otherwise.
    path = "/api/v1/chat/completions?agent=true" if chat.kind == "agent" else "/v1/chat/completions"
    assert completion.response.url == chat.server.url + path
    # llama-server sends no request-id header; its completion id is in the body.
    assert completion.response.request_id is None or completion.response.request_id
    assert completion.id and completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    (choice,) = completion.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    assert choice.message.tool_calls is None
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens and usage.completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert 0 < usage.completion_tokens <= 16
    # llama.cpp's own additions are kept, not dropped.
    assert "timings" in completion.extra


@kinds("agent", "openai")
async def test_stream_with_usage(chat: Chat) -> None:
    stream = await chat.stream(
        messages=COUNT, max_tokens=40, temperature=0, stream_options={"include_usage": True}
    )
    chunks: list[ChatCompletionChunk] = []
    async with stream:
        assert stream.response.status == 200
        assert stream.response.content_type == "text/event-stream"
        async for chunk in stream:
            chunks.append(chunk)
        final = await stream.get_final_completion()

    # llama.cpp's first delta carries only the role (content null).
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", None)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) >= 5, pieces  # the text came a token at a time
    text = "".join(pieces)
    assert "1, 2, 3" in text
    # The usage chunk comes last, with no choices.
    assert chunks[-1].choices == () and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    # The accumulated completion is exactly the streamed text, with the stream's usage.
    (choice,) = final.choices
    assert choice.message.content == text
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert final.usage == chunks[-1].usage
    # One content chunk per token; llama.cpp's count includes the end-of-turn token too.
    assert final.usage.completion_tokens in (len(pieces), len(pieces) + 1)
    assert final.id == chunks[0].id and final.model == MODEL
    assert len({c.id for c in chunks}) == 1


def long_prompt() -> list[MessageParam]:
    """About 400 tokens that no earlier request shares (a fresh number first, so the prompt
    cache has nothing of it): llama-server takes 3-4 s to read them, in silence. (It looks
    for silence once a second, so a ping at an interval of 1 s needs more than 2 s of it.)"""
    nonce = uuid.uuid4().int % 10**9
    filler = " ".join(f"Line {n}: the sea is calm and the sky is grey." for n in range(30))
    return user(f"Note {nonce}. {filler} Now say hello.")


def raw_stream(server: LlamaServer, body: dict[str, Any]) -> bytes:
    """The body of a streamed call exactly as llama-server sends it (stdlib, no agentchat)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            "POST",
            f"{server.api_prefix}/v1/chat/completions",
            body=json.dumps(body),
            headers={
                "Authorization": f"Bearer {server.api_key}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        assert response.status == 200, response.read()
        return response.read()
    finally:
        connection.close()


#: The wire of one long-prompt stream per server (read once: each takes 3-4 s).
_PING_WIRES: dict[str, bytes] = {}


@kinds("agent", "openai")
async def test_stream_with_ping_comments(chat: Chat, server: LlamaServer) -> None:
    """llama-server keeps a silent stream alive with ``:`` comment lines (after 30 s of
    silence by default; ``sse_ping_interval`` in the request sets it). It sends the headers at
    once and then reads the prompt, so a long prompt means pings before the first event.
    They are skipped: no chunk, no error, the same answer."""
    ping = {"sse_ping_interval": 1}
    wire = _PING_WIRES.get(server.url)
    if wire is None:
        body = {"messages": long_prompt(), "max_tokens": 4, "stream": True, **ping}
        wire = _PING_WIRES[server.url] = await asyncio.to_thread(raw_stream, server, body)
    # What the wire carries: ":" comment lines (each with its blank line) before the events.
    head = wire[: wire.index(b"data:")]
    assert head.startswith(b":\n\n") and set(head.split(b"\n\n")) == {b":", b""}, wire[:200]
    assert wire.endswith(b"data: [DONE]\n\n")

    stream = await chat.stream(messages=long_prompt(), max_tokens=4, temperature=0, extra_body=ping)
    async with stream:
        chunks = [chunk async for chunk in stream]
        final = await stream.get_final_completion()
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.choices for chunk in chunks)  # no empty chunk made of a ping
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text and final.choices[0].message.content == text
    assert final.choices[0].finish_reason in ("stop", "length")


@kinds("agent", "openai")
async def test_stream_two_choices(chat: Chat) -> None:
    stream = await chat.stream(
        messages=user("Write a sentence about the sea."),
        n=2,
        max_tokens=12,
        temperature=1.0,
        seed=7,
        stream_options={"include_usage": True},
    )
    order: list[int] = []
    texts: dict[int, list[str]] = {0: [], 1: []}
    usage_chunks = 0
    finish: dict[int, str | None] = {}
    async with stream:
        async for chunk in stream:
            if chunk.usage is not None:
                usage_chunks += 1
            for c in chunk.choices:
                assert c.index is not None
                if c.index not in order:  # each choice starts with its role-only delta
                    assert (c.delta.role, c.delta.content) == ("assistant", None)
                order.append(c.index)
                if c.delta.content:
                    texts[c.index].append(c.delta.content)
                if c.finish_reason is not None:
                    finish[c.index] = c.finish_reason
        final = await stream.get_final_completion()

    assert set(order) == {0, 1}
    # llama.cpp interleaves the choices (they are decoded in one batch) rather than sending
    # one after the other; and it may send a usage chunk per choice.
    assert order != sorted(order), order
    assert usage_chunks >= 1
    assert [c.index for c in final.choices] == [0, 1]
    for choice in final.choices:
        assert choice.index is not None
        assert choice.message.content == "".join(texts[choice.index])
        assert choice.message.content
        assert choice.finish_reason == finish[choice.index]
        assert choice.finish_reason in ("stop", "length")
    assert final.usage is not None and final.usage.completion_tokens


@kinds("agent", "inference")
async def test_logprobs(chat: Chat) -> None:
    completion = await chat.complete(
        messages=user("Say hello."), max_tokens=4, temperature=0, logprobs=True, top_logprobs=3
    )
    (choice,) = completion.choices
    assert choice.logprobs is not None and choice.logprobs.content
    entries = choice.logprobs.content
    assert completion.usage is not None
    assert len(entries) == completion.usage.completion_tokens
    assert "".join(e.token or "" for e in entries) == choice.message.content
    for entry in entries:
        assert isinstance(entry.token, str)
        assert entry.logprob is not None and entry.logprob <= 0.0
        assert entry.bytes is not None and bytes(entry.bytes).decode("utf-8", "replace")
        assert isinstance(entry.extra.get("id"), int)  # llama.cpp adds the token id
        assert entry.top_logprobs is not None and len(entry.top_logprobs) == 3
        for top in entry.top_logprobs:
            assert isinstance(top.token, str) and top.logprob is not None
            assert isinstance(top.extra.get("id"), int)
        # temperature 0: the chosen token is the most likely one
        assert entry.top_logprobs[0].token == entry.token
        assert [t.logprob for t in entry.top_logprobs] == sorted(
            (t.logprob for t in entry.top_logprobs if t.logprob is not None), reverse=True
        )

    # Streamed, the entries come a chunk at a time and are concatenated.
    stream = await chat.stream(
        messages=user("Say hello."), max_tokens=4, temperature=0, logprobs=True, top_logprobs=3
    )
    async with stream:
        final = await stream.get_final_completion()
    streamed = final.choices[0].logprobs
    assert streamed is not None and streamed.content is not None
    assert [e.token for e in streamed.content] == [e.token for e in entries]


@kinds("agent", "openai")
async def test_stop(chat: Chat) -> None:
    full = await chat.complete(messages=COUNT, max_tokens=40, temperature=0)
    text = full.choices[0].message.content
    assert text and "5" in text, text

    stopped = await chat.complete(messages=COUNT, max_tokens=40, temperature=0, stop=["5", "five"])
    (choice,) = stopped.choices
    assert choice.finish_reason == "stop"
    assert choice.message.content == text[: text.index("5")]
    assert stopped.usage is not None and full.usage is not None
    assert (stopped.usage.completion_tokens or 0) < (full.usage.completion_tokens or 0)


@kinds("agent", "inference")
async def test_seed_repeats(chat: Chat) -> None:
    sea = user("Write a sentence about the sea.")

    async def sample(seed: int) -> str | None:
        completion = await chat.complete(messages=sea, max_tokens=24, temperature=0.9, seed=seed)
        return completion.choices[0].message.content

    first = await sample(1234)
    assert first
    assert await sample(1234) == first
    # The temperature is real: another seed samples another sentence.
    assert await sample(99) != first


@kinds("agent", "openai")
async def test_max_tokens_length(chat: Chat) -> None:
    completion = await chat.complete(messages=COUNT, max_tokens=5, temperature=0)
    (choice,) = completion.choices
    assert choice.finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5

    stream = await chat.stream(messages=COUNT, max_tokens=5, temperature=0)
    async with stream:
        final = await stream.get_final_completion()
    assert final.choices[0].finish_reason == "length"
    assert final.choices[0].message.content == choice.message.content


@kinds("agent", "openai", "inference")
async def test_server_rejects_request(chat: Chat) -> None:
    # agentchat does not check extra_body; llama-server refuses the value with a 400.
    bad = {"response_format": {"type": "bogus"}}
    with pytest.raises(BadRequestError) as caught:
        await chat.create(messages=user("Hi"), max_tokens=2, extra_body=bad)
    error = caught.value
    assert error.status_code == 400
    assert error.message is not None and "response_format" in error.message
    assert "bogus" in error.message
    # llama.cpp's body: {"error": {"code": 400, "message": ..., "type": "invalid_request_error"}}
    assert error.code == "400"
    assert isinstance(error.body, dict)
    assert error.body["error"]["type"] == "invalid_request_error"
    assert error.partial is None

    # The same for a stream: the 400 comes before any event, from create() itself.
    with pytest.raises(BadRequestError):
        await chat.create(messages=user("Hi"), max_tokens=2, stream=True, extra_body=bad)


@kinds("agent", "openai", "inference")
async def test_wrong_key(connect: Callable[..., Chat]) -> None:
    wrong = connect(api_key="not-the-key")
    with pytest.raises(AuthenticationError) as caught:
        await wrong.create(messages=user("Hi"), max_tokens=2)
    with pytest.raises(AuthenticationError):
        await wrong.create(messages=user("Hi"), max_tokens=2, stream=True)
    error = caught.value
    assert error.status_code == 401
    # {"error": {"message": "Invalid API Key", "type": "authentication_error", "code": 401}}
    assert error.message == "Invalid API Key"
    assert error.code == "401"
    assert "not-the-key" not in str(error) and "not-the-key" not in repr(error)
