"""agentchat's three clients, async or sync, behind one async API for the live tests.

A test body is written once against :class:`Chat` and runs for every client it is given:
``AsyncAgentClient`` / ``AgentClient`` against the server started with ``--api-prefix /api``,
and ``AsyncOpenAICompatibleClient`` / ``OpenAICompatibleClient`` and ``AsyncInferenceClient`` /
``InferenceClient`` against the one without. A sync client's blocking calls run in a worker
thread (``asyncio.to_thread``), never on the test's event loop; its streams are wrapped in
:class:`SyncStreamBehindAsync`, whose ``break`` reaches the sync iterator's own clean-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import pytest

import agentchat
from agentchat import (
    AgentClient,
    AsyncAgentClient,
    AsyncInferenceClient,
    AsyncOpenAICompatibleClient,
    BatchReport,
    ChatCompletion,
    ChatCompletionChunk,
    InferenceClient,
    OpenAICompatibleClient,
    Outcome,
    ResponseInfo,
    Stream,
    ToolRunResult,
)

from ..flavours import SyncStreamBehindAsync
from .llama import LlamaServer

Kind = Literal["agent", "openai", "inference"]
Flavour = Literal["async", "sync"]
#: llama-server answers as the model it loaded, whatever the request names; it is started
#: with ``--alias smollm2``, so that is what the responses say.
MODEL = "smollm2"


def kinds(*names: Kind) -> pytest.MarkDecorator:
    """Run a test for these client kinds: ``agent`` (the agent client, on the server with
    ``--api-prefix /api``), ``openai`` (the OpenAI-compatible client) and ``inference`` (the
    serverless-inference client), both on the server without a prefix."""
    return pytest.mark.parametrize("kind", names)


class LiveStream(Protocol):
    """What the tests use of a stream: :class:`agentchat.AsyncStream` itself, or a sync
    :class:`agentchat.Stream` behind :class:`SyncStreamBehindAsync`."""

    @property
    def response(self) -> ResponseInfo: ...

    @property
    def closed(self) -> bool: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]: ...

    def text_stream(self, choice: int = 0) -> AsyncIterator[str]: ...

    async def get_final_completion(self) -> ChatCompletion: ...

    def snapshot(self) -> ChatCompletion: ...

    async def aclose(self) -> None: ...


class Chat:
    """One client of ``kind`` and ``flavour`` pointed at ``server``, seen through the async
    API: ``await chat.create(...)``, ``await chat.create_all(...)``, ``await
    chat.run_batch(...)``. ``client`` is the agentchat client itself."""

    def __init__(self, kind: Kind, flavour: Flavour, server: LlamaServer, **options: Any) -> None:
        self.kind = kind
        self.flavour = flavour
        self.server = server
        self.client: Any = _make_client(kind, flavour, server, **options)
        if kind == "agent":
            self._completions: Any = self.client.agent.chat.completions
        else:
            self._completions = self.client.chat.completions

    @property
    def sync(self) -> bool:
        return self.flavour == "sync"

    async def create(self, **params: Any) -> Any:
        """``create()`` with the suite's model unless ``params`` names one: a
        :class:`ChatCompletion`, or a :class:`LiveStream` with ``stream=True``."""
        params.setdefault("model", MODEL)
        if not self.sync:
            return await self._completions.create(**params)
        result = await asyncio.to_thread(lambda: self._completions.create(**params))
        if isinstance(result, Stream):
            return SyncStreamBehindAsync(result)
        return result

    async def complete(self, **params: Any) -> ChatCompletion:
        """A call without streaming."""
        completion: ChatCompletion = await self.create(**params)
        assert isinstance(completion, ChatCompletion), completion
        return completion

    async def stream(self, **params: Any) -> LiveStream:
        """A streamed call."""
        stream: LiveStream = await self.create(stream=True, **params)
        return stream

    async def create_all(
        self, requests: Iterable[Mapping[str, Any]], **options: Any
    ) -> list[Outcome]:
        if not self.sync:
            outcomes: list[Outcome] = await self._completions.create_all(requests, **options)
            return outcomes
        return await asyncio.to_thread(
            lambda: list(self._completions.create_all(requests, **options))
        )

    async def run_tools(self, **params: Any) -> ToolRunResult:
        """``run_tools()`` (not streamed) with the suite's model unless ``params`` names one."""
        params.setdefault("model", MODEL)
        if not self.sync:
            result: ToolRunResult = await self._completions.run_tools(**params)
            return result
        return await asyncio.to_thread(lambda: self._completions.run_tools(**params))

    async def run_batch(self, input_path: Path, output_path: Path, **options: Any) -> BatchReport:
        if not self.sync:
            report: BatchReport = await agentchat.run_batch(
                self.client, input_path, output_path, **options
            )
            return report
        return await asyncio.to_thread(
            lambda: agentchat.run_batch(self.client, input_path, output_path, **options)
        )

    async def aclose(self) -> None:
        if self.sync:
            await asyncio.to_thread(self.client.close)
        else:
            await self.client.aclose()

    async def __aenter__(self) -> Chat:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Chat {self.flavour} {self.kind} {self.server.url}{self.server.api_prefix}>"


def _make_client(kind: Kind, flavour: Flavour, server: LlamaServer, **options: Any) -> Any:
    """The client of ``kind`` and ``flavour`` for ``server``: the agent client for the agent
    path (``--api-prefix /api``), the others for ``/v1`` at the server's root."""
    sync = flavour == "sync"
    root = server.url + server.api_prefix
    if kind == "agent":
        assert server.api_prefix == "/api", "the agent path is /api/v1/chat/completions"
        agent_class = AgentClient if sync else AsyncAgentClient
        return agent_class(server.api_key, server.url, **options)
    if kind == "openai":
        compatible_class = OpenAICompatibleClient if sync else AsyncOpenAICompatibleClient
        return compatible_class(root + "/v1", server.api_key, **options)
    inference_class = InferenceClient if sync else AsyncInferenceClient
    return inference_class(server.api_key, root, **options)
