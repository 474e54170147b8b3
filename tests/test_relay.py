"""Relaying a stream to a browser: ``sse_bytes()`` and ``text_bytes()`` inside real web apps.

The agent is the fake server on 127.0.0.1; the web service is a real aiohttp.web app or a
real Starlette app served by uvicorn, both holding one ``AsyncAgentClient``; the browser is an
aiohttp client reading the service's response. What the browser gets must be exactly the
agent's events; a failure mid-answer must reach it as an error (an ``event: error`` frame, or
a broken plain-text response), never as a silent end; and a browser that goes away must close
the agent connection within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agentchat import (
    AgentClient,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AsyncAgentClient,
    AsyncStream,
    ChatCompletion,
    IncompleteStreamError,
    ResponseInfo,
)
from agentchat._relay import error_code, sse_error, sse_frames
from agentchat._sse import SSEDecoder
from agentchat.testing import FakeAgentServer
from agentchat.testing._server import ScriptedResponse, ScriptedStream

from .conftest import USER

PATH = "/api/v1/chat/completions"  # the relay serves the agent's own path: it is an agent too

#: Events whose exact text a re-encoding would change: a null field, key order, a float
#: with a trailing zero, non-ASCII text, an unknown field, spacing.
EVENTS = [
    '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
    '"delta":{"role":"assistant","content":null},"finish_reason":null}]}',
    '{"choices": [{"delta": {"content": "Hé "}, "index": 0}], "id": "c1", "x_new": 1.0}',
    '{"id":"c1","choices":[{"index":0,"delta":{"content":"wörld"},"finish_reason":null}]}',
    '{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}',
]
TEXT = "Hé wörld"
ERROR_EVENT = 'event: error\ndata: {"error": {"message": "overloaded", "code": "busy"}}\n\n'


def sse(data: str) -> str:
    return f"data: {data}\n\n"


def parse(body: bytes) -> list[tuple[str, str]]:
    """What a browser's EventSource sees: (event type, data) of each event."""
    decoder = SSEDecoder()
    return [(e.event, e.data) for e in decoder.feed(body) + decoder.end()]


# -- the web services ---------------------------------------------------------------------


async def relay_stream(agent: AsyncAgentClient, payload: Any) -> AsyncStream:
    messages = payload.get("messages", USER) if isinstance(payload, dict) else USER
    return await agent.agent.chat.completions.create(model="m", messages=messages, stream=True)


Service = Callable[[AsyncAgentClient], contextlib.AbstractAsyncContextManager[str]]


@contextlib.asynccontextmanager
async def aiohttp_service(agent: AsyncAgentClient) -> AsyncIterator[str]:
    """An aiohttp.web app relaying the agent: SSE at the agent's path, text at /text."""

    def relay(as_sse: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            stream = await relay_stream(agent, await request.json())
            kind = "text/event-stream" if as_sse else "text/plain; charset=utf-8"
            response = web.StreamResponse(headers={"Content-Type": kind})
            await response.prepare(request)
            async for piece in stream.sse_bytes() if as_sse else stream.text_bytes():
                await response.write(piece)
            await response.write_eof()
            return response

        return handler

    app = web.Application()
    app.router.add_post(PATH, relay(as_sse=True))
    app.router.add_post("/text", relay(as_sse=False))
    # handler_cancellation: a browser that goes away cancels the handler, and with it the
    # read from the agent, even while the agent is silent.
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def starlette_service(agent: AsyncAgentClient) -> AsyncIterator[str]:
    """The same relay as a Starlette app, served by uvicorn."""

    async def relay_sse(request: Request) -> StreamingResponse:
        stream = await relay_stream(agent, await request.json())
        return StreamingResponse(stream.sse_bytes(), media_type="text/event-stream")

    async def relay_text(request: Request) -> StreamingResponse:
        stream = await relay_stream(agent, await request.json())
        return StreamingResponse(stream.text_bytes(), media_type="text/plain")

    app = Starlette(
        routes=[
            Route(PATH, relay_sse, methods=["POST"]),
            Route("/text", relay_text, methods=["POST"]),
        ]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="critical", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


SERVICES: dict[str, Service] = {"aiohttp.web": aiohttp_service, "starlette": starlette_service}


@pytest.fixture(params=sorted(SERVICES))
async def service(
    request: pytest.FixtureRequest, server: FakeAgentServer
) -> AsyncIterator[tuple[str, AsyncAgentClient]]:
    """A running web service (its URL) relaying the fake agent with one client."""
    async with server.client(max_retries=0) as agent, SERVICES[request.param](agent) as url:
        yield url, agent


async def browse(url: str, path: str = PATH) -> bytes:
    async with aiohttp.ClientSession() as browser, browser.post(url + path, json={}) as response:
        assert response.status == 200
        return await response.read()


# -- what the browser receives ------------------------------------------------------------


async def test_the_browser_receives_exactly_the_agents_events(
    server: FakeAgentServer, service: tuple[str, AsyncAgentClient]
) -> None:
    url, _ = service
    server.enqueue(ScriptedStream(events=[sse(e) for e in EVENTS], write_size=7))
    assert parse(await browse(url)) == [("message", e) for e in [*EVENTS, "[DONE]"]]


async def test_the_text_relay_sends_the_text(
    server: FakeAgentServer, service: tuple[str, AsyncAgentClient]
) -> None:
    url, _ = service
    server.enqueue(ScriptedStream(events=[sse(e) for e in EVENTS], interval=0.01))
    assert (await browse(url, "/text")).decode() == TEXT


async def test_a_failure_mid_answer_reaches_the_browser_after_the_chunks(
    server: FakeAgentServer, service: tuple[str, AsyncAgentClient]
) -> None:
    url, _ = service
    server.enqueue(ScriptedStream(events=[*(sse(e) for e in EVENTS[:3]), ERROR_EVENT], done=False))
    received = parse(await browse(url))
    assert received[:3] == [("message", e) for e in EVENTS[:3]]
    assert received[3:] == [
        (
            "error",
            json.dumps({"error": {"message": "overloaded", "code": "busy"}}, separators=(",", ":")),
        )
    ]


async def test_an_agentchat_client_reading_the_relay_gets_the_same_chunks_and_error(
    server: FakeAgentServer, service: tuple[str, AsyncAgentClient]
) -> None:
    """The relay speaks the agent's wire format: agentchat itself, pointed at the service,
    sees the agent's chunks and then the agent's error, with its message and code."""
    url, _ = service
    server.enqueue(ScriptedStream(events=[*(sse(e) for e in EVENTS[:3]), ERROR_EVENT], done=False))
    async with AsyncAgentClient("unused", url, max_retries=0) as reader:
        stream = await reader.agent.chat.completions.create(model="m", messages=USER, stream=True)
        texts = []
        with pytest.raises(APIStreamError) as caught:
            async for chunk in stream:
                texts.append(chunk.choices[0].delta.content)
    assert texts == [None, "Hé ", "wörld"]
    assert (caught.value.message, caught.value.code) == ("overloaded", "busy")
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == TEXT


async def test_a_cut_agent_connection_reaches_the_browser_as_an_error_frame(
    server: FakeAgentServer, service: tuple[str, AsyncAgentClient]
) -> None:
    url, _ = service
    server.enqueue(ScriptedStream(events=[sse(e) for e in EVENTS[:2]], done=False, cut=True))
    received = parse(await browse(url))
    assert received[:2] == [("message", e) for e in EVENTS[:2]]
    (kind, data), *rest = received[2:]
    assert kind == "error" and not rest
    error = json.loads(data)["error"]
    assert error["code"] == "incomplete_stream"
    assert "after 2 chunks" in error["message"]


async def test_a_failure_mid_text_breaks_the_text_response(
    server: FakeAgentServer, service: tuple[str, AsyncAgentClient]
) -> None:
    """Plain text cannot carry an error: the response is aborted, so the browser sees it
    fail (rather than end short) after the text that arrived."""
    url, _ = service
    server.enqueue(ScriptedStream(events=[*(sse(e) for e in EVENTS[:3]), ERROR_EVENT], done=False))
    received = b""
    async with aiohttp.ClientSession() as browser, browser.post(url + "/text", json={}) as response:
        with pytest.raises(aiohttp.ClientPayloadError):
            async for piece in response.content.iter_any():
                received += piece
    assert received.decode() == TEXT


# -- a browser that goes away -------------------------------------------------------------


@pytest.mark.parametrize("agent_behaviour", ["streaming", "silent"])
async def test_a_browser_that_disconnects_closes_the_agent_connection_within_a_second(
    server: FakeAgentServer, service: tuple[str, AsyncAgentClient], agent_behaviour: str
) -> None:
    url, agent = service
    if agent_behaviour == "streaming":
        events = [sse(EVENTS[2])] * 400
        server.enqueue(ScriptedStream(events=events, interval=0.05))
    else:  # one event, then the agent thinks (sends nothing) for as long as it is allowed
        server.enqueue(ScriptedStream(events=[sse(EVENTS[0])], done=False, stall=True))
    async with aiohttp.ClientSession() as browser:
        response = await browser.post(url + PATH, json={})
        first = await response.content.readuntil(b"\n\n")
        assert first.startswith(b"data: ")
        assert server.open_connections == 1
        response.close()  # the browser tab is closed
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await server.wait_for_connections(0, timeout=1.0), "the agent connection stayed open"
    assert loop.time() - started < 1.0
    session = agent._transport.session
    assert session is not None and session.connector is not None
    assert len(session.connector._acquired) == 0


# -- the sync facade ----------------------------------------------------------------------


def test_the_sync_stream_relays_the_same_bytes() -> None:
    """Flask or Django: the blocking ``Stream`` has the same relays, as plain generators."""
    with FakeAgentServer().in_thread() as server:
        server.enqueue(
            ScriptedStream(events=[sse(e) for e in EVENTS], write_size=5),
            ScriptedStream(events=[*(sse(e) for e in EVENTS[:3]), ERROR_EVENT], done=False),
            ScriptedStream(events=[sse(e) for e in EVENTS]),
        )
        with AgentClient(server.token, server.url, max_retries=0) as client:
            create = client.agent.chat.completions.create
            whole = b"".join(create(model="m", messages=USER, stream=True).sse_bytes())
            failed = b"".join(create(model="m", messages=USER, stream=True).sse_bytes())
            stream = create(model="m", messages=USER, stream=True)
            text = b"".join(stream.text_bytes())
            assert stream.closed
    assert parse(whole) == [("message", e) for e in [*EVENTS, "[DONE]"]]
    assert parse(failed)[:3] == [("message", e) for e in EVENTS[:3]]
    assert parse(failed)[3][0] == "error" and "busy" in parse(failed)[3][1]
    assert text.decode() == TEXT


# -- frames and codes ---------------------------------------------------------------------


def test_multi_line_data_is_sent_as_data_lines_a_reader_joins_back() -> None:
    chunk = ChatCompletion.from_dict({"choices": []})  # any object; only the data is sent
    frames = sse_frames([(chunk, '{"a":\n1}')])  # type: ignore[list-item]
    assert frames == b'data: {"a":\ndata: 1}\n\n'
    assert parse(frames) == [("message", '{"a":\n1}')]


INFO = ResponseInfo(status=200, headers={}, url="memory")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (APIStreamError("m", code="busy", body=None, response=INFO), "busy"),
        (APIStreamError("m", code=None, body=None, response=INFO), "stream_error"),
        (APITimeoutError("m"), "timeout"),
        (IncompleteStreamError("m", chunks=2, response=INFO), "incomplete_stream"),
        (APIResponseValidationError("m", body="x", response=INFO), "invalid_response"),
        (
            APIStatusError("m", response=ResponseInfo(status=503, headers={}, url="u"), body=None),
            "http_503",
        ),
        (APIError("m"), "api_error"),
    ],
)
def test_error_frames_carry_the_message_and_a_stable_code(error: APIError, code: str) -> None:
    assert error_code(error) == code
    frame = sse_error(error)
    assert parse(frame) == [
        ("error", json.dumps({"error": {"message": "m", "code": code}}, separators=(",", ":")))
    ]


async def test_relays_close_the_stream_when_abandoned(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    """A consumer that stops early (and closes the iterator, as frameworks do) closes the
    agent connection."""
    server.enqueue(ScriptedStream(events=[sse(EVENTS[2])] * 50, interval=0.02))
    for relay in ("sse_bytes", "text_bytes"):
        if relay == "text_bytes":
            server.enqueue(ScriptedStream(events=[sse(EVENTS[2])] * 50, interval=0.02))
        stream = await async_client.agent.chat.completions.create(
            model="m", messages=USER, stream=True
        )
        pieces: AsyncIterator[bytes] = getattr(stream, relay)()
        assert await anext(pieces)
        await pieces.aclose()  # type: ignore[attr-defined]
        assert stream.closed
        assert await server.wait_for_connections(0, timeout=1.0)


async def test_a_json_answer_to_a_stream_request_is_relayed_as_one_chunk(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    """A server that answers ``stream=True`` with a whole JSON completion: the relay sends
    that completion as one chunk, then [DONE]."""
    completion = server.completion({"model": "m", "messages": USER})
    server.enqueue(ScriptedResponse(json=completion))
    stream = await async_client.agent.chat.completions.create(model="m", messages=USER, stream=True)
    received = parse(b"".join([piece async for piece in stream.sse_bytes()]))
    assert [kind for kind, _ in received] == ["message", "message"]
    chunk = json.loads(received[0][1])
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"][0]["delta"]["content"] == completion["choices"][0]["message"]["content"]
    assert received[1][1] == "[DONE]"


async def test_a_relayed_failure_is_logged_and_kept_on_the_stream(
    server: FakeAgentServer, async_client: AsyncAgentClient, caplog: pytest.LogCaptureFixture
) -> None:
    """``sse_bytes()`` sends the failure on instead of raising it: the service still learns
    of it, from its log and from ``stream.failure``."""
    server.enqueue(ScriptedStream(events=[*(sse(e) for e in EVENTS[:3]), ERROR_EVENT], done=False))
    stream = await async_client.agent.chat.completions.create(model="m", messages=USER, stream=True)
    with caplog.at_level("WARNING", logger="agentchat"):
        relayed = b"".join([piece async for piece in stream.sse_bytes()])
    assert parse(relayed)[-1][0] == "error"
    failure = stream.failure
    assert isinstance(failure, APIStreamError) and failure.code == "busy"
    assert failure.chunks == 3
    assert failure.partial is not None and failure.partial.choices[0].message.content == TEXT
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert "after 3 chunks" in record.getMessage() and "overloaded" in record.getMessage()
