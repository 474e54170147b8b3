"""A pooled connection the server closed as a request went out on it is re-sent at once.

Servers close idle keep-alive connections (llama.cpp's llama-server after 5 s); one may close a
connection just as the client sends a request on it, and aiohttp then fails the POST before any
response byte (it only retries idempotent methods itself). agentchat sends it again at once on a
new connection, without sleeping and without counting a retry, once per call.

The raw server here closes a connection on receipt of a request, deterministically: the race
the real servers lose now and then.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator
from typing import Literal

import aiohttp
import anyio
import pytest

from agentchat import APIConnectionError, AsyncAgentClient, Timeout, _transport
from agentchat._transport import _closed_by_server
from agentchat.testing import FakeAgentServer

from .conftest import checked_out, create, open_stream

ANSWER = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
    }
).encode()


CHUNK = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
    }
).encode()
EVENTS = b"data: " + CHUNK + b"\n\ndata: [DONE]\n\n"


class RawServer:
    """HTTP/1.1 on 127.0.0.1 by hand. ``answer_per_connection`` requests on each connection
    are answered with keep-alive (JSON, or an event stream when the body asks for one); the
    next one is read whole and the connection is closed without a byte of answer: with a FIN
    (``close="fin"``) or a reset (``close="rst"``).

    ``seen`` lists each request as (connection number, request number on it, attempt header).
    """

    def __init__(self, answer_per_connection: int, close: Literal["fin", "rst"] = "fin") -> None:
        self.answer_per_connection = answer_per_connection
        self.close = close
        self.seen: list[tuple[int, int, str]] = []
        self._connections = itertools.count(1)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = next(self._connections)
        try:
            for number in itertools.count(1):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the client closed it
                headers = dict(
                    line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if line
                )
                fields = {name.lower(): value for name, value in headers.items()}
                body = json.loads(await reader.readexactly(int(fields.get("content-length", "0"))))
                self.seen.append((connection, number, fields.get("x-agentchat-attempt", "")))
                if number > self.answer_per_connection:
                    if self.close == "rst":  # SO_LINGER 0: close() sends a reset
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    return
                kind, payload = (
                    (b"text/event-stream", EVENTS)
                    if body.get("stream")
                    else (b"application/json", ANSWER)
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nConnection: keep-alive\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (kind, len(payload), payload)
                )
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The transport's sleeps between attempts, recorded instead of slept."""
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(_transport, "_sleep", record)
    return delays


@pytest.fixture
async def keepalive_then_close() -> AsyncIterator[RawServer]:
    async with RawServer(answer_per_connection=1) as server:
        yield server


@pytest.mark.parametrize("close", ["fin", "rst"])
async def test_a_pooled_connection_closed_on_the_next_request_is_sent_again(
    close: Literal["fin", "rst"], slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        RawServer(answer_per_connection=1, close=close) as server,
        AsyncAgentClient("k", server.url, max_retries=0) as client,
    ):
        first = await create(client)
        with caplog.at_level(logging.DEBUG, logger="agentchat"):
            second = await create(client)
        assert checked_out(client) == 0
    assert first.id == second.id == "c1"
    assert second.response is not None and second.response.attempts == 1
    # The second call went out on the pooled connection, which the server closed; then once
    # more, on a new connection, as the same attempt, without a sleep.
    assert server.seen == [(1, 1, "1"), (1, 2, "1"), (2, 1, "1")]
    assert slept == []
    assert any("closed by the server" in r.getMessage() for r in caplog.records)


async def test_each_call_has_its_own_free_resend(
    keepalive_then_close: RawServer, slept: list[float]
) -> None:
    # From the second call on, each finds its pooled connection closed and is sent again once.
    async with AsyncAgentClient("k", keepalive_then_close.url, max_retries=0) as client:
        for _ in range(3):
            completion = await create(client)
            assert completion.response is not None and completion.response.attempts == 1
    assert keepalive_then_close.seen == [
        (1, 1, "1"),
        (1, 2, "1"),
        (2, 1, "1"),
        (2, 2, "1"),
        (3, 1, "1"),
    ]
    assert slept == []


@pytest.mark.parametrize("max_retries", [0, 2])
@pytest.mark.parametrize("close", ["fin", "rst"])
async def test_a_server_that_hangs_up_on_every_request_still_fails(
    max_retries: int, close: Literal["fin", "rst"], slept: list[float]
) -> None:
    async with (
        RawServer(answer_per_connection=0, close=close) as server,
        AsyncAgentClient("k", server.url, max_retries=max_retries) as client,
    ):
        # Bounded: a re-send that is not once per call would go on for ever, sleeping nowhere.
        with anyio.fail_after(5), pytest.raises(APIConnectionError) as info:
            await create(client)
        assert checked_out(client) == 0
    assert info.value.attempts == max_retries + 1
    # max_retries + 1 counted attempts, each on a connection of its own, and one free re-send
    # (of the first): attempt numbers 1, 1, 2, 3, ...
    attempts = ["1", *(str(n) for n in range(1, max_retries + 2))]
    assert server.seen == [(n, 1, a) for n, a in enumerate(attempts, start=1)]
    assert len(slept) == max_retries  # the re-send did not sleep


async def test_a_stream_is_sent_again_too(keepalive_then_close: RawServer) -> None:
    async with AsyncAgentClient("k", keepalive_then_close.url, max_retries=0) as client:
        await create(client)
        async with await open_stream(client) as stream:
            contents = [chunk.choices[0].delta.content async for chunk in stream]
    assert contents == ["hi"]
    assert [connection for connection, _, _ in keepalive_then_close.seen] == [1, 1, 2]


async def test_aiohttps_own_keepalive_timeout() -> None:
    async with (
        FakeAgentServer(keepalive_timeout=0.2) as server,
        server.client(max_retries=0) as client,
    ):
        await create(client)
        assert server.open_connections == 1
        # Past the timeout: the server has closed the idle connection (bounded wait).
        assert await server.wait_for_connections(0, timeout=3)
        completion = await create(client, timeout=Timeout(total=5))
    assert completion.response is not None and completion.response.attempts == 1
    assert [status for _, status in server.answered] == [200, 200]


def _connector_error(code: int) -> aiohttp.ClientConnectorError:
    error = aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError)
    error.errno = code
    return error


def _body_not_written(cause: OSError) -> aiohttp.ClientOSError:
    """What aiohttp raises when writing the request body fails with ``cause``: no errno of
    its own when the cause has none (its ClientConnectionResetError on a closing socket)."""
    error = aiohttp.ClientOSError(cause.errno, "Can not write request body for http://x/")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "stale"),
    [
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientOSError(errno.ECONNRESET, "reset"), True),
        (aiohttp.ClientOSError(errno.EPIPE, "broken pipe"), True),
        (aiohttp.ClientConnectionResetError("Cannot write to closing transport"), True),
        (aiohttp.ClientOSError(errno.ETIMEDOUT, "timed out"), False),
        (aiohttp.ClientConnectionError("other"), False),
        (_connector_error(errno.ECONNRESET), False),  # while connecting: a new connection
        (_body_not_written(aiohttp.ClientConnectionResetError("closing transport")), True),
        (_body_not_written(BrokenPipeError(errno.EPIPE, "broken pipe")), True),
        (_body_not_written(OSError(errno.ENOSPC, "no space")), False),
        (_body_not_written(OSError("no errno")), False),
    ],
    ids=[
        "disconnected",
        "econnreset",
        "epipe",
        "closing-transport",
        "etimedout",
        "other",
        "connect",
        "body-closing-transport",
        "body-epipe",
        "body-other-errno",
        "body-no-errno",
    ],
)
def test_which_failures_are_a_closed_connection(error: aiohttp.ClientError, stale: bool) -> None:
    assert _closed_by_server(error) is stale
