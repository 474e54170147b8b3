"""The clients compared, one class each, all with the same interface.

Async clients have coroutine methods, sync clients the same methods blocking:

- ``complete()``: one non-stream call, the answer parsed (a dict, a pydantic model, an attrs
  class);
- ``stream(deadline)``: one streamed call read to ``data: [DONE]``, each chunk parsed, or
  until ``time.perf_counter()`` passes ``deadline`` (then closed early); returns the number
  of chunks read;
- ``first_chunk()``: one streamed call; returns the seconds until its first chunk was yielded
  (the rest of the stream is then read, untimed, so the connection is reused);
- ``hold()``: open a stream and take its first chunk; returns the function that closes it;
- ``aclose()`` / ``close()``.

Every client is made for one server path prefix (see :mod:`bench.payloads`): ``base`` is
``{server_url}/{prefix}``. ``connections`` is the size of its connection pool, ``None`` for the
library's default.

Each library is imported by the first client that needs it, so that a process measuring one
client (the peak-RSS child, :mod:`bench.rss`) holds no other library in memory.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Final

import aiohttp

from .payloads import MESSAGES, MODEL, TOKEN

if TYPE_CHECKING:
    from agentchat import AgentClient, AsyncAgentClient

__all__ = [
    "AGENTCHAT",
    "AGENTCHAT_SYNC",
    "CLIENTS",
    "OPENAI",
    "OPENAI_SYNC",
    "RAW",
    "RAW_ORJSON",
    "AsyncBenchClient",
    "BenchClient",
    "SyncBenchClient",
    "available",
    "label",
    "make_client",
    "preload",
]

RAW: Final = "raw"
RAW_ORJSON: Final = "raw-orjson"
OPENAI: Final = "openai"
OPENAI_SYNC: Final = "openai-sync"
AGENTCHAT: Final = "agentchat"
AGENTCHAT_SYNC: Final = "agentchat-sync"

#: Seconds any one read or connect may take before a client gives up (a hang fails the run).
TIMEOUT: Final = 60.0
#: ``stream()`` looks at the clock every 16 chunks: a stream past its deadline is cut short.
_CHECK_EVERY: Final = 15


class AsyncBenchClient(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    sync: ClassVar[bool] = False

    @abstractmethod
    async def complete(self) -> object: ...

    @abstractmethod
    async def stream(self, deadline: float = math.inf) -> int: ...

    @abstractmethod
    async def first_chunk(self) -> float: ...

    @abstractmethod
    async def hold(self) -> Callable[[], Awaitable[None]]: ...

    @abstractmethod
    async def aclose(self) -> None: ...


class SyncBenchClient(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    sync: ClassVar[bool] = True

    @abstractmethod
    def complete(self) -> object: ...

    @abstractmethod
    def stream(self, deadline: float = math.inf) -> int: ...

    @abstractmethod
    def first_chunk(self) -> float: ...

    @abstractmethod
    def hold(self) -> Callable[[], None]: ...

    @abstractmethod
    def close(self) -> None: ...


BenchClient = AsyncBenchClient | SyncBenchClient


class _SDKAsync(AsyncBenchClient):
    """An SDK whose ``create(..., stream=True)`` returns an async stream that is also an async
    context manager (agentchat and openai): the calls and loops are the same for both."""

    _create: Any

    async def complete(self) -> object:
        answer: object = await self._create(model=MODEL, messages=MESSAGES)
        return answer

    async def stream(self, deadline: float = math.inf) -> int:
        count = 0
        async with await self._create(model=MODEL, messages=MESSAGES, stream=True) as stream:
            async for _chunk in stream:
                count += 1
                if not count & _CHECK_EVERY and time.perf_counter() > deadline:
                    break
        return count

    async def first_chunk(self) -> float:
        started = time.perf_counter()
        first = 0.0
        async with await self._create(model=MODEL, messages=MESSAGES, stream=True) as stream:
            async for _chunk in stream:
                if not first:
                    first = time.perf_counter() - started
        return first


class _SDKSync(SyncBenchClient):
    """The blocking twin of :class:`_SDKAsync`."""

    _create: Any

    def complete(self) -> object:
        answer: object = self._create(model=MODEL, messages=MESSAGES)
        return answer

    def stream(self, deadline: float = math.inf) -> int:
        count = 0
        with self._create(model=MODEL, messages=MESSAGES, stream=True) as stream:
            for _chunk in stream:
                count += 1
                if not count & _CHECK_EVERY and time.perf_counter() > deadline:
                    break
        return count

    def first_chunk(self) -> float:
        started = time.perf_counter()
        first = 0.0
        with self._create(model=MODEL, messages=MESSAGES, stream=True) as stream:
            for _chunk in stream:
                if not first:
                    first = time.perf_counter() - started
        return first


# -- raw aiohttp ---------------------------------------------------------------------------


class RawAiohttp(AsyncBenchClient):
    """The floor: one ``aiohttp.ClientSession``; ``post``, ``read`` and ``json.loads`` for a
    plain call; ``async for line in resp.content`` and ``json.loads`` of each ``data:``
    payload into a dict for a stream, stopping at ``[DONE]``."""

    name = RAW
    label = "raw aiohttp"

    def __init__(self, base: str, connections: int | None) -> None:
        self._url = f"{base}/api/v1/chat/completions?agent=true"
        self._headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._loads: Callable[[bytes], Any] = json.loads

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            # limit=0 is aiohttp's "no limit"; None keeps its default (100).
            limit = 100 if self._connections is None else self._connections
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=limit),
                timeout=aiohttp.ClientTimeout(sock_connect=TIMEOUT, sock_read=TIMEOUT),
            )
        return self._session

    def _body(self, stream: bool) -> bytes:
        request: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}
        if stream:
            request["stream"] = True
        return json.dumps(request).encode()

    async def complete(self) -> object:
        async with self._open().post(
            self._url, data=self._body(False), headers=self._headers
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            data = await response.read()
        return self._loads(data)

    async def stream(self, deadline: float = math.inf) -> int:
        loads = self._loads
        count = 0
        async with self._open().post(
            self._url, data=self._body(True), headers=self._headers
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            async for line in response.content:
                if line.startswith(b"data: "):
                    if line.startswith(b"data: [DONE]"):
                        break
                    loads(line[6:])
                    count += 1
                    if not count & _CHECK_EVERY and time.perf_counter() > deadline:
                        break
        return count

    async def first_chunk(self) -> float:
        loads = self._loads
        started = time.perf_counter()
        first = 0.0
        async with self._open().post(
            self._url, data=self._body(True), headers=self._headers
        ) as response:
            async for line in response.content:
                if line.startswith(b"data: "):
                    if line.startswith(b"data: [DONE]"):
                        break
                    loads(line[6:])
                    if not first:
                        first = time.perf_counter() - started
        return first

    async def hold(self) -> Callable[[], Awaitable[None]]:
        response = await self._open().post(self._url, data=self._body(True), headers=self._headers)
        async for line in response.content:
            if line.startswith(b"data: "):
                self._loads(line[6:])
                break

        async def close() -> None:
            response.close()

        return close

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class RawAiohttpOrjson(RawAiohttp):
    """Raw aiohttp with ``orjson.loads`` instead of ``json.loads`` (agentchat's JSON decoder
    where orjson is installed): the floor when the decoder is not the standard library's."""

    name = RAW_ORJSON
    label = "raw aiohttp + orjson"

    def __init__(self, base: str, connections: int | None) -> None:
        super().__init__(base, connections)
        import orjson

        self._loads = orjson.loads


# -- agentchat -----------------------------------------------------------------------------


class AgentchatAsync(_SDKAsync):
    """``AsyncAgentClient``: ``ChatCompletion`` and ``ChatCompletionChunk`` attrs objects."""

    name = AGENTCHAT
    label = "agentchat (async)"

    def __init__(self, base: str, connections: int | None) -> None:
        from agentchat import AsyncAgentClient

        self._client: AsyncAgentClient
        if connections is None:
            self._client = AsyncAgentClient(TOKEN, base, timeout=TIMEOUT)
        else:
            self._client = AsyncAgentClient(
                TOKEN, base, timeout=TIMEOUT, max_connections=connections
            )
        self._create = self._client.agent.chat.completions.create

    async def hold(self) -> Callable[[], Awaitable[None]]:
        stream = await self._create(model=MODEL, messages=MESSAGES, stream=True)
        chunks = aiter(stream)
        await anext(chunks)

        async def close() -> None:
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()
            await stream.aclose()

        return close

    async def aclose(self) -> None:
        await self._client.aclose()


class AgentchatSync(_SDKSync):
    """``AgentClient``: the generated blocking facade over the async core."""

    name = AGENTCHAT_SYNC
    label = "agentchat (sync)"

    def __init__(self, base: str, connections: int | None) -> None:
        from agentchat import AgentClient

        self._client: AgentClient
        if connections is None:
            self._client = AgentClient(TOKEN, base, timeout=TIMEOUT)
        else:
            self._client = AgentClient(TOKEN, base, timeout=TIMEOUT, max_connections=connections)
        self._create = self._client.agent.chat.completions.create

    def hold(self) -> Callable[[], None]:
        stream = self._create(model=MODEL, messages=MESSAGES, stream=True)
        chunks = iter(stream)
        next(chunks)

        def close() -> None:
            if isinstance(chunks, Generator):
                chunks.close()
            stream.close()

        return close

    def close(self) -> None:
        self._client.close()


# -- the openai SDK ------------------------------------------------------------------------


def _openai_options(base: str, connections: int | None) -> dict[str, Any]:
    if connections is not None and connections > 1000:
        # Its default pool (1,000 connections) is the most this suite asks of it.
        raise ValueError("the openai clients here use the SDK's default pool of 1,000")
    return {"base_url": f"{base}/v1", "api_key": TOKEN, "timeout": TIMEOUT}


class OpenAIAsync(_SDKAsync):
    """``openai.AsyncOpenAI``: pydantic ``ChatCompletion`` and ``ChatCompletionChunk``."""

    name = OPENAI
    label = "openai (async)"

    def __init__(self, base: str, connections: int | None) -> None:
        import openai

        self._client: Any = openai.AsyncOpenAI(**_openai_options(base, connections))
        self._create: Any = self._client.chat.completions.create

    async def hold(self) -> Callable[[], Awaitable[None]]:
        stream: Any = await self._create(model=MODEL, messages=MESSAGES, stream=True)
        chunks: Any = aiter(stream)
        await anext(chunks)

        async def close() -> None:
            await stream.close()

        return close

    async def aclose(self) -> None:
        await self._client.close()


class OpenAISync(_SDKSync):
    """``openai.OpenAI``, the SDK's blocking client."""

    name = OPENAI_SYNC
    label = "openai (sync)"

    def __init__(self, base: str, connections: int | None) -> None:
        import openai

        self._client: Any = openai.OpenAI(**_openai_options(base, connections))
        self._create: Any = self._client.chat.completions.create

    def hold(self) -> Callable[[], None]:
        stream: Any = self._create(model=MODEL, messages=MESSAGES, stream=True)
        chunks: Any = iter(stream)
        next(chunks)

        def close() -> None:
            stream.close()

        return close

    def close(self) -> None:
        self._client.close()


_CLASSES: Final = (
    RawAiohttp,
    RawAiohttpOrjson,
    OpenAIAsync,
    OpenAISync,
    AgentchatAsync,
    AgentchatSync,
)
#: Every client, by name: its class, called as ``cls(base, connections)``.
CLIENTS: Final[dict[str, Callable[[str, int | None], BenchClient]]] = {
    cls.name: cls for cls in _CLASSES
}
_LABELS: Final = {cls.name: cls.label for cls in _CLASSES}

_NEEDS: Final = {RAW_ORJSON: "orjson", OPENAI: "openai", OPENAI_SYNC: "openai"}


def available(name: str) -> bool:
    """False for a client whose library is not installed (the openai SDK is installed only in
    the bench session; orjson may be missing where it has no wheel)."""
    module = _NEEDS.get(name)
    return module is None or available_module(module)


def preload(names: list[str]) -> None:
    """Import the libraries of these clients now (the runner does, before it freezes the
    garbage collector's view of what is long-lived)."""
    for module in {_NEEDS.get(name, "") for name in names} | {"agentchat", "agentchat._sync"}:
        if module and available_module(module):
            importlib.import_module(module)


def available_module(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def label(name: str) -> str:
    return _LABELS[name]


def make_client(name: str, base: str, connections: int | None = None) -> BenchClient:
    """A client of kind ``name`` for the server path ``base``. Make async clients inside the
    running event loop that will use them."""
    return CLIENTS[name](base, connections)
