"""Run one test body against both call styles.

``SyncBehindAsync`` puts the generated sync :class:`~agentchat.AgentClient` behind the async
API: each blocking call runs in a worker thread (``asyncio.to_thread``), so the fake server,
which runs on the test's own event loop, keeps serving while the sync client waits. A test
written against ``AsyncAgentClient`` then proves the same behaviour for the sync facade.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

from agentchat import AgentClient, AsyncAgentClient, ChatCompletion, ChatCompletionChunk, Stream
from agentchat._response import ResponseInfo
from agentchat._sync._client import ToolRun
from agentchat._transport import Transport

_DONE = object()


class SyncStreamBehindAsync:
    """A sync :class:`Stream` with the :class:`AsyncStream` API."""

    def __init__(self, stream: Stream) -> None:
        self.sync = stream
        self.response: ResponseInfo = stream.response

    async def __aenter__(self) -> SyncStreamBehindAsync:
        await asyncio.to_thread(self.sync.__enter__)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.sync.__exit__, exc_type, exc, tb)

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return _iterate(iter(self.sync))

    async def text_stream(self, choice: int = 0) -> AsyncIterator[str]:
        async for text in _iterate(self.sync.text_stream(choice)):
            yield text

    async def next_batch(self) -> list[ChatCompletionChunk]:
        return await asyncio.to_thread(self.sync.next_batch)

    async def get_final_completion(self) -> ChatCompletion:
        return await asyncio.to_thread(self.sync.get_final_completion)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.sync.close)

    def snapshot(self) -> ChatCompletion:
        return self.sync.snapshot()

    @property
    def closed(self) -> bool:
        return self.sync.closed

    @property
    def chunks_received(self) -> int:
        return self.sync.chunks_received


async def _iterate(items: Iterator[Any]) -> AsyncIterator[Any]:
    """Drive a sync iterator from a worker thread; leaving early closes it (so a ``break``
    in the test reaches the sync iterator's own clean-up)."""
    try:
        while True:
            item = await asyncio.to_thread(next, items, _DONE)
            if item is _DONE:
                return
            yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


class SyncToolRunBehindAsync:
    """A sync :class:`ToolRun` with the :class:`AsyncToolRun` API."""

    def __init__(self, run: ToolRun) -> None:
        self.sync = run

    async def __aenter__(self) -> SyncToolRunBehindAsync:
        await asyncio.to_thread(self.sync.__enter__)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.sync.__exit__, exc_type, exc, tb)

    def __aiter__(self) -> AsyncIterator[Any]:
        return _iterate(iter(self.sync))

    async def next_batch(self) -> list[Any]:
        return await asyncio.to_thread(self.sync.next_batch)

    async def get_result(self) -> Any:
        return await asyncio.to_thread(self.sync.get_result)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.sync.close)

    @property
    def closed(self) -> bool:
        return self.sync.closed


class _Completions:
    def __init__(self, client: AgentClient) -> None:
        self._client = client

    async def create(self, **kwargs: Any) -> Any:
        create: Callable[..., Any] = self._client.agent.chat.completions.create
        result = await asyncio.to_thread(create, **kwargs)
        if isinstance(result, Stream):
            return SyncStreamBehindAsync(result)
        return result

    async def run_tools(self, **kwargs: Any) -> Any:
        run_tools: Callable[..., Any] = self._client.agent.chat.completions.run_tools
        result = await asyncio.to_thread(run_tools, **kwargs)
        if isinstance(result, ToolRun):
            return SyncToolRunBehindAsync(result)
        return result

    async def create_all(self, requests: Any, **kwargs: Any) -> Any:
        create_all: Callable[..., Any] = self._client.agent.chat.completions.create_all
        return await asyncio.to_thread(create_all, requests, **kwargs)


class _Namespace:
    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


class SyncBehindAsync:
    """An :class:`AgentClient` with the :class:`AsyncAgentClient` API, for shared tests."""

    def __init__(self, token: str, endpoint: str, **options: Any) -> None:
        self.sync = AgentClient(token, endpoint, **options)
        self.agent = _Namespace(chat=_Namespace(completions=_Completions(self.sync)))

    @property
    def _transport(self) -> Transport:
        # For the connection-hygiene checks: the pool of the async core underneath.
        return self.sync._async._transport

    async def aclose(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> SyncBehindAsync:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def make_client(flavour: str, token: str, endpoint: str, **options: Any) -> Any:
    """An async client, or the sync one behind the async API."""
    if flavour == "sync":
        return SyncBehindAsync(token, endpoint, **options)
    return AsyncAgentClient(token, endpoint, **options)
