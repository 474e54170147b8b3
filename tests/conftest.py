"""Shared fixtures: a fake agent server on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentchat import AsyncAgentClient
from agentchat.testing import FakeAgentServer

USER = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(autouse=True)
def _no_agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real agent settings."""
    monkeypatch.delenv("AGENT_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AGENT_ENDPOINT", raising=False)


@pytest.fixture
async def server() -> AsyncIterator[FakeAgentServer]:
    async with FakeAgentServer() as fake:
        yield fake


@pytest.fixture
async def client(server: FakeAgentServer) -> AsyncIterator[AsyncAgentClient]:
    async with server.client(max_retries=0) as agent_client:
        yield agent_client


def checked_out(client: AsyncAgentClient) -> int:
    """Connections the client's pool has handed out and not yet got back."""
    session = client._transport.session
    if session is None or session.connector is None:
        return 0
    return len(session.connector._acquired)
