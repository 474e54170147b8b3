"""Shared fixtures: a fake agent server on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import pytest

from agentchat import AsyncAgentClient, AsyncStream, ChatCompletion, MessageParam
from agentchat.testing import FakeAgentServer

from .flavours import make_client

USER: list[MessageParam] = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(autouse=True)
def _no_agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real agent, serverless or OpenAI settings."""
    for name in (
        "AGENT_ACCESS_KEY",
        "AGENT_ENDPOINT",
        "MODEL_ACCESS_KEY",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def server() -> AsyncIterator[FakeAgentServer]:
    async with FakeAgentServer() as fake:
        yield fake


@pytest.fixture(params=["async", "sync"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Which call style a shared test exercises: the async core, or the generated sync
    facade behind the async API (see ``tests/flavours.py``)."""
    return str(request.param)


@pytest.fixture
def connect(server: FakeAgentServer, flavour: str) -> Callable[..., AsyncAgentClient]:
    """Make a client of the test's flavour for the fake server, with the given options."""

    def factory(**options: Any) -> AsyncAgentClient:
        return cast(AsyncAgentClient, make_client(flavour, server.token, server.url, **options))

    return factory


@pytest.fixture
async def client(connect: Callable[..., AsyncAgentClient]) -> AsyncIterator[AsyncAgentClient]:
    """A client of the test's flavour without retries."""
    async with connect(max_retries=0) as agent_client:
        yield agent_client


@pytest.fixture
async def async_client(server: FakeAgentServer) -> AsyncIterator[AsyncAgentClient]:
    """An async client, for the tests of what only the async API has (cancelling a task)."""
    async with server.client(max_retries=0) as agent_client:
        yield agent_client


Connect = Callable[..., AsyncAgentClient]


async def create(client: AsyncAgentClient, **kwargs: Any) -> ChatCompletion:
    """A plain call with the usual model and message (``kwargs`` override them)."""
    call: dict[str, Any] = {"model": "m", "messages": USER, **kwargs}
    completion: ChatCompletion = await client.agent.chat.completions.create(**call)
    return completion


async def open_stream(client: AsyncAgentClient, **kwargs: Any) -> AsyncStream:
    """A streamed call with the usual model and message (``kwargs`` override them)."""
    call: dict[str, Any] = {"model": "m", "messages": USER, **kwargs}
    stream: AsyncStream = await client.agent.chat.completions.create(stream=True, **call)
    return stream


def wait_until(condition: object, timeout: float = 2.0) -> bool:
    """Poll ``condition`` (a callable) from blocking code until it is true; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def checked_out(client: AsyncAgentClient) -> int:
    """Connections the client's pool has handed out and not yet got back."""
    session = client._transport.session
    if session is None or session.connector is None:
        return 0
    return len(session.connector._acquired)


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose listener never accepts and whose queue is full: connecting to it hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in (*fillers, listener):
        sock.close()
