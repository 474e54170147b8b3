"""Clients pointed at a fake agent, closed together when a test ends.

:class:`FakeAgentClients` is what the pytest plugin's ``fake_agent_clients`` fixture gives: one
method per client class, each taking the client's usual options. The async clients open their
aiohttp session lazily, in the event loop of the test that first uses them, whichever plugin
(pytest-asyncio, anyio) runs that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import Any

from .._client import (
    AsyncAgentClient,
    AsyncInferenceClient,
    AsyncOpenAICompatibleClient,
    _AsyncClient,
)
from .._sync import AgentClient, InferenceClient, OpenAICompatibleClient
from ._server import FakeAgentServer

__all__ = ["FakeAgentClients"]

#: How long closing one async client in a loop of another thread may take at teardown.
CLOSE_TIMEOUT = 5.0

SyncClient = AgentClient | InferenceClient | OpenAICompatibleClient


class FakeAgentClients:
    """Makes clients of every kind for ``server``, with its URL and key, and closes them all
    in :meth:`close`.

    ``agent()``, ``inference()`` and ``compatible()`` make the async clients
    (:class:`~agentchat.AsyncAgentClient`, :class:`~agentchat.AsyncInferenceClient`,
    :class:`~agentchat.AsyncOpenAICompatibleClient`); ``sync_agent()``, ``sync_inference()``
    and ``sync_compatible()`` their blocking twins. Options (``max_retries=0``,
    ``timeout=1.0``, ...) go to the client's constructor.
    """

    def __init__(self, server: FakeAgentServer) -> None:
        self.server = server
        self._async: list[_AsyncClient] = []
        self._sync: list[SyncClient] = []

    # -- async clients ---------------------------------------------------------------------

    def agent(self, **options: Any) -> AsyncAgentClient:
        """An :class:`~agentchat.AsyncAgentClient` for the fake agent."""
        client = self.server.client(**options)
        self._async.append(client)
        return client

    def inference(self, **options: Any) -> AsyncInferenceClient:
        """An :class:`~agentchat.AsyncInferenceClient` (serverless inference) for the fake."""
        client = self.server.inference_client(**options)
        self._async.append(client)
        return client

    def compatible(self, **options: Any) -> AsyncOpenAICompatibleClient:
        """An :class:`~agentchat.AsyncOpenAICompatibleClient` with the fake's ``/v1`` as its
        base URL."""
        client = self.server.compatible_client(**options)
        self._async.append(client)
        return client

    # -- blocking clients ------------------------------------------------------------------

    def sync_agent(self, **options: Any) -> AgentClient:
        """An :class:`~agentchat.AgentClient` for the fake agent."""
        client = AgentClient(self.server.token, self.server.url, **options)
        self._sync.append(client)
        return client

    def sync_inference(self, **options: Any) -> InferenceClient:
        """An :class:`~agentchat.InferenceClient` (serverless inference) for the fake."""
        client = InferenceClient(self.server.token, self.server.url, **options)
        self._sync.append(client)
        return client

    def sync_compatible(self, **options: Any) -> OpenAICompatibleClient:
        """An :class:`~agentchat.OpenAICompatibleClient` with the fake's ``/v1`` as its base
        URL."""
        client = OpenAICompatibleClient(f"{self.server.url}/v1", self.server.token, **options)
        self._sync.append(client)
        return client

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Close every client made, from blocking code (a fixture's teardown).

        A blocking client is closed with ``close()``. An async client's session belongs to
        the loop that made it: when that loop has already shut down (a function-scoped loop
        of pytest-asyncio, anyio's plugin, ``asyncio.run()``), its shutdown closed the session
        (the transport registers an async generator for that); when the loop is still open
        and idle (a module- or session-scoped loop), the client is closed in it; when it runs
        in another thread, it is closed there.
        """
        sync, self._sync = self._sync, []
        clients, self._async = self._async, []
        for sync_client in sync:
            sync_client.close()
        for client in clients:
            _close_async(client)


def _close_async(client: _AsyncClient) -> None:
    """Close ``client`` in the loop its session belongs to, if that loop can still run it."""
    transport = client._transport
    loop = transport._loop
    if transport.session is None or loop is None or loop.is_closed():
        return  # no session, or its loop's shutdown closed it
    if not loop.is_running():
        loop.run_until_complete(client.aclose())
    elif asyncio._get_running_loop() is not loop:  # running in another thread
        future = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            future.result(CLOSE_TIMEOUT)
