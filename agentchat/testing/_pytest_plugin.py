"""agentchat's pytest plugin: fixtures to test code that calls an agent, against a fake one.

pytest loads it wherever agentchat is installed (the ``pytest11`` entry point ``agentchat``;
``-p no:agentchat`` turns it off). The fixtures:

- ``fake_agent``: a running :class:`~agentchat.testing.FakeAgentServer`, on its own loop in a
  background thread, so that sync tests, pytest-asyncio tests and anyio tests can all use it;
  stopped after the test. ``@pytest.mark.fake_agent(**options)`` (on the test, its class or
  its module: the closest wins, option by option) passes options to the server
  (``token=``, ``rate_limit=``, ``enforce_rate_limit=``, ``stream_delay=``...).
- ``agent_client``: an :class:`~agentchat.AsyncAgentClient` for it; its session is opened in
  the loop of the test that uses it and closed when that loop shuts down (or after the test).
- ``sync_agent_client``: an :class:`~agentchat.AgentClient` for it, closed after the test.
- ``fake_agent_clients``: a :class:`~agentchat.testing.FakeAgentClients` factory for every
  client kind (serverless inference, OpenAI-compatible, with options), closed after the test.
- ``fake_agent_env``: sets ``AGENT_ENDPOINT``, ``AGENT_ACCESS_KEY``, ``MODEL_ACCESS_KEY``,
  ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` to the fake's for the test, for code that builds
  its own client from the environment; it gives the same server as ``fake_agent``.

Loading the plugin must stay cheap, as every pytest run of a project that installs agentchat
pays for it: this module imports nothing but pytest, and the fake server (aiohttp, the
clients) is imported by the fixtures, when a test asks for one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from agentchat import AgentClient, AsyncAgentClient
    from agentchat.testing import FakeAgentClients, FakeAgentServer

__all__ = [
    "agent_client",
    "fake_agent",
    "fake_agent_clients",
    "fake_agent_env",
    "pytest_configure",
    "sync_agent_client",
]

MARKER = "fake_agent"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): options of the FakeAgentServer of agentchat's fake_agent "
        "fixture (token=, rate_limit=, enforce_rate_limit=, stream_delay=, ...)",
    )


def marker_options(node: pytest.Item) -> dict[str, Any]:
    """The server options the ``fake_agent`` marks give ``node``: those of its module, then
    its class, then the test itself, the closest winning option by option."""
    options: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers(MARKER))):  # farthest first
        if mark.args:
            pytest.fail(
                f"@pytest.mark.{MARKER} takes keyword options only (token=..., "
                f"stream_delay=...), not {mark.args!r}",
                pytrace=False,
            )
        options.update(mark.kwargs)
    return options


@pytest.fixture
def fake_agent(request: pytest.FixtureRequest) -> Iterator[FakeAgentServer]:
    """A :class:`~agentchat.testing.FakeAgentServer` running in a background thread for the
    test; ``@pytest.mark.fake_agent(**options)`` configures it."""
    from agentchat.testing import FakeAgentServer

    options = marker_options(request.node) if isinstance(request.node, pytest.Item) else {}
    try:
        server = FakeAgentServer(**options)
    except TypeError as exc:
        pytest.fail(f"@pytest.mark.{MARKER}: {exc}", pytrace=False)
    with server.in_thread() as running:
        yield running


@pytest.fixture
def fake_agent_clients(fake_agent: FakeAgentServer) -> Iterator[FakeAgentClients]:
    """A factory of clients of every kind for ``fake_agent``, all closed after the test."""
    from agentchat.testing import FakeAgentClients

    clients = FakeAgentClients(fake_agent)
    try:
        yield clients
    finally:
        clients.close()


@pytest.fixture
def agent_client(fake_agent_clients: FakeAgentClients) -> AsyncAgentClient:
    """An :class:`~agentchat.AsyncAgentClient` for ``fake_agent``, with the default options.

    A plain fixture, not an async one, so any async plugin can use it: the client opens its
    session in the test's loop on the first call, and the loop's shutdown closes it."""
    return fake_agent_clients.agent()


@pytest.fixture
def sync_agent_client(fake_agent_clients: FakeAgentClients) -> AgentClient:
    """An :class:`~agentchat.AgentClient` for ``fake_agent``, closed after the test."""
    return fake_agent_clients.sync_agent()


@pytest.fixture
def fake_agent_env(fake_agent: FakeAgentServer, monkeypatch: pytest.MonkeyPatch) -> FakeAgentServer:
    """Point the environment at ``fake_agent`` for the test, so that ``AgentClient()``,
    ``InferenceClient()`` and ``OpenAICompatibleClient()`` (and their async twins) made
    without arguments by the code under test use it."""
    monkeypatch.setenv("AGENT_ENDPOINT", fake_agent.url)
    monkeypatch.setenv("AGENT_ACCESS_KEY", fake_agent.token)
    monkeypatch.setenv("MODEL_ACCESS_KEY", fake_agent.token)
    monkeypatch.setenv("INFERENCE_ENDPOINT", fake_agent.url)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_agent.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", fake_agent.token)
    return fake_agent
