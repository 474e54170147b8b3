"""Connections against a real llama-server: streams left early free their slots, and a pooled
connection that the server closed while idle is not a failure."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

from agentchat import MessageParam, Stream

from ..flavours import SyncStreamBehindAsync
from .clients import Chat, LiveStream, kinds
from .llama import LlamaServer, server_log

#: cpp-httplib, llama-server's HTTP layer, closes a keep-alive connection idle for 5 s
#: (``Keep-Alive: timeout=5, max=100``); no flag changes it.
SERVER_KEEP_ALIVE = 5.0
#: The bound on a short call once the server's slots are free (it takes well under a second
#: then; with all 4 slots still generating 900 tokens each it would take minutes).
PROMPT = 15.0


def user(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


def slots(server: LlamaServer) -> list[dict[str, Any]]:
    """llama-server's ``GET /slots``: one entry per slot, ``is_processing`` among them."""
    request = urllib.request.Request(
        f"{server.url}{server.api_prefix}/slots",
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        found: list[dict[str, Any]] = json.load(response)
        return found


async def read_then_break(stream: LiveStream, *, texts: int) -> int:
    """Read chunks until ``texts`` of them carried text, then ``break``: in an ``async for``
    over an async stream, in a plain ``for`` (in a worker thread) over a sync one, so the
    ``break`` is the caller's own in both. Returns the text chunks seen."""
    if isinstance(stream, SyncStreamBehindAsync):
        return await asyncio.to_thread(_read_then_break_sync, stream.sync, texts)
    seen = 0
    async for chunk in stream:
        seen += sum(1 for c in chunk.choices if c.delta.content)
        if seen >= texts:
            break
    return seen


def _read_then_break_sync(stream: Stream, texts: int) -> int:
    seen = 0
    for chunk in stream:
        seen += sum(1 for c in chunk.choices if c.delta.content)
        if seen >= texts:
            break
    return seen


def wait_for_idle_slots(server: LlamaServer, timeout: float) -> int:
    """Poll ``/slots`` until no slot is processing, at most ``timeout`` seconds; returns how
    many still are."""
    deadline = time.monotonic() + timeout
    while True:
        busy = sum(bool(slot.get("is_processing")) for slot in slots(server))
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.1)


@kinds("agent", "openai")
async def test_leaving_streams_frees_slots(chat: Chat, server: LlamaServer) -> None:
    """With 4 slots, 8 long streams opened one after another and left after two chunks each
    all start at once, and a 9th short call finishes promptly: each ``break`` closed its
    connection, and llama-server stopped generating for it."""
    story = user("Write a very long story about a dragon and a knight.")
    assert len(slots(server)) == 4
    for seed in range(8):
        stream = await chat.stream(
            messages=story, max_tokens=900, temperature=0.8, seed=seed, timeout=PROMPT
        )
        assert await read_then_break(stream, texts=2) == 2
        assert stream.closed, f"stream {seed} still open after break"

    # The slots go idle once llama-server notices the closed connections (at its next write).
    busy = await asyncio.to_thread(wait_for_idle_slots, server, 10.0)
    assert busy == 0, f"{busy} slots still generating; server log:\n{server_log(server)}"

    started = time.monotonic()
    completion = await chat.complete(messages=user("Say hi."), max_tokens=4, timeout=PROMPT)
    assert completion.choices[0].message.content
    assert time.monotonic() - started < PROMPT


@kinds("agent", "openai")
async def test_pooled_connection_after_server_idle_timeout(chat: Chat) -> None:
    """A call, a pause past the server's keep-alive timeout, a call on the same client
    without retries (``max_retries=0``): the pooled connection the server closed meanwhile
    must not fail it. Then the same after a stream read to its end."""
    first = await chat.complete(messages=user("Say hi."), max_tokens=4)
    assert first.response.status == 200

    await asyncio.sleep(SERVER_KEEP_ALIVE + 1.5)
    stream = await chat.stream(messages=user("Say hi."), max_tokens=4)
    async with stream:
        streamed = await stream.get_final_completion()
    assert stream.response.status == 200
    assert streamed.choices[0].message.content

    await asyncio.sleep(SERVER_KEEP_ALIVE + 1.5)
    last = await chat.complete(messages=user("Say hi."), max_tokens=4)
    assert last.response.status == 200
    assert last.response.attempts == 1
    assert last.choices[0].message.content
