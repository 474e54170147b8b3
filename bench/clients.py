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
    "AGENTCHAT_OTEL",
    "AGENTCHAT_OTEL_SDK",
    "AGENTCHAT_SYNC",
    "CLIENTS",
    "OPENAI",
    "OPENAI_SYNC",
    "PYDO",
    "PYDO_SYNC",
    "RAW",
    "RAW_FAST",
    "RAW_ORJSON",
    "AsyncBenchClient",
    "BenchClient",
    "SyncBenchClient",
    "available",
    "is_sync",
    "isolated",
    "label",
    "make_client",
    "preload",
]

RAW: Final = "raw"
RAW_FAST: Final = "raw-fast"
RAW_ORJSON: Final = "raw-orjson"
OPENAI: Final = "openai"
OPENAI_SYNC: Final = "openai-sync"
PYDO: Final = "pydo"
PYDO_SYNC: Final = "pydo-sync"
AGENTCHAT: Final = "agentchat"
AGENTCHAT_SYNC: Final = "agentchat-sync"
AGENTCHAT_OTEL: Final = "agentchat-otel"
AGENTCHAT_OTEL_SDK: Final = "agentchat-otel-sdk"

#: Seconds any one read or connect may take before a client gives up (a hang fails the run).
TIMEOUT: Final = 60.0
#: ``stream()`` looks at the clock every 16 chunks: a stream past its deadline is cut short.
_CHECK_EVERY: Final = 15


class AsyncBenchClient(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    sync: ClassVar[bool] = False
    #: Made only in a process of its own (:mod:`bench.isolated`): it changes its process.
    isolated: ClassVar[bool] = False

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
    isolated: ClassVar[bool] = False

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
    context manager (agentchat, openai and pydo): the calls and loops are the same for all."""

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


class RawAiohttpFast(RawAiohttp):
    """The fast floor: what a careful hand-written aiohttp stream reader does. It reads the
    body with ``response.content.iter_any()`` (whatever bytes have arrived, one await per
    read rather than per line), splits them on newlines itself, keeps the unfinished tail,
    and ``json.loads`` each ``data:`` payload into a dict, stopping at ``[DONE]``. Its plain
    call is :class:`RawAiohttp`'s (``read`` and ``json.loads``: nothing faster to do)."""

    name = RAW_FAST
    label = "raw aiohttp, iter_any"

    async def stream(self, deadline: float = math.inf) -> int:
        loads = self._loads
        count = 0
        tail = b""
        async with self._open().post(
            self._url, data=self._body(True), headers=self._headers
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            async for piece in response.content.iter_any():
                lines = (tail + piece).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    if line[:6] == b"data: ":
                        if line[6:12] == b"[DONE]":
                            return count
                        loads(line[6:])
                        count += 1
                if time.perf_counter() > deadline:  # once per read: a read holds many chunks
                    break
        return count

    async def first_chunk(self) -> float:
        loads = self._loads
        started = time.perf_counter()
        first = 0.0
        tail = b""
        async with self._open().post(
            self._url, data=self._body(True), headers=self._headers
        ) as response:
            async for piece in response.content.iter_any():
                lines = (tail + piece).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    if line[:6] == b"data: ":
                        if line[6:12] == b"[DONE]":
                            return first
                        loads(line[6:])
                        if not first:
                            first = time.perf_counter() - started
        return first

    async def hold(self) -> Callable[[], Awaitable[None]]:
        response = await self._open().post(self._url, data=self._body(True), headers=self._headers)
        tail = b""
        async for piece in response.content.iter_any():
            lines = (tail + piece).split(b"\n")
            tail = lines.pop()
            first = next((line for line in lines if line[:6] == b"data: "), None)
            if first is not None:
                self._loads(first[6:])
                break

        async def close() -> None:
            response.close()

        return close


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
    """``AsyncAgentClient``: ``ChatCompletion`` and ``ChatCompletionChunk`` attrs objects.

    ``telemetry=False``: no OpenTelemetry, even where opentelemetry-api is installed (as in
    the bench session); the telemetry rows are :class:`AgentchatOtel` and
    :class:`AgentchatOtelSDK`."""

    name = AGENTCHAT
    label = "agentchat (async)"
    telemetry: ClassVar[bool] = False

    def __init__(self, base: str, connections: int | None) -> None:
        from agentchat import AsyncAgentClient

        self._client: AsyncAgentClient
        if connections is None:
            self._client = AsyncAgentClient(TOKEN, base, timeout=TIMEOUT, telemetry=self.telemetry)
        else:
            self._client = AsyncAgentClient(
                TOKEN,
                base,
                timeout=TIMEOUT,
                max_connections=connections,
                telemetry=self.telemetry,
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


class AgentchatOtel(AgentchatAsync):
    """``AsyncAgentClient`` with ``telemetry=True`` (the default) and opentelemetry-api
    installed, but no SDK: no provider is ever configured in the runner's process, so its
    spans and metrics go to the API's no-op tracer and meter."""

    name = AGENTCHAT_OTEL
    label = "agentchat + otel API, no SDK"
    telemetry = True

    def __init__(self, base: str, connections: int | None) -> None:
        from .otel import check_no_sdk

        check_no_sdk()
        super().__init__(base, connections)
        _check_telemetry_on(self._client)


class AgentchatOtelSDK(AgentchatAsync):
    """``AsyncAgentClient`` with ``telemetry=True`` in a process whose global providers are
    the OpenTelemetry SDK's (a ``BatchSpanProcessor`` whose exporter drops the spans, an
    ``InMemoryMetricReader``; :func:`bench.otel.configure_sdk`): the cost of recording.
    Isolated: made only in a worker process (:mod:`bench.isolated`)."""

    name = AGENTCHAT_OTEL_SDK
    label = "agentchat + otel SDK"
    telemetry = True
    isolated = True

    def __init__(self, base: str, connections: int | None) -> None:
        from .otel import configure_sdk

        configure_sdk()
        super().__init__(base, connections)
        _check_telemetry_on(self._client)


def _check_telemetry_on(client: object) -> None:
    """Fail unless the client added agentchat's OpenTelemetry hooks to its own: a telemetry
    row that recorded nothing would pass for free telemetry."""
    from agentchat._otel import OpenTelemetryHooks

    hooks = getattr(client, "_hooks", ())
    if not any(isinstance(hook, OpenTelemetryHooks) for hook in hooks):
        raise RuntimeError("telemetry=True added no OpenTelemetryHooks to the client")


class AgentchatSync(_SDKSync):
    """``AgentClient``: the generated blocking facade over the async core."""

    name = AGENTCHAT_SYNC
    label = "agentchat (sync)"

    def __init__(self, base: str, connections: int | None) -> None:
        from agentchat import AgentClient

        self._client: AgentClient
        if connections is None:
            self._client = AgentClient(TOKEN, base, timeout=TIMEOUT, telemetry=False)
        else:
            self._client = AgentClient(
                TOKEN, base, timeout=TIMEOUT, max_connections=connections, telemetry=False
            )
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


# -- pydo, DigitalOcean's SDK --------------------------------------------------------------


class PydoAsync(_SDKAsync):
    """``pydo.aio.Client`` (an azure-core pipeline on aiohttp), made for the agent as its docs
    show (``agent_endpoint=``), called as ``client.agent.chat.completions.create(model=...,
    messages=..., stream=...)``. Answers are ``DotDict`` subclasses (``dict`` with attribute
    access: ``pydo.types.chat.ChatCompletion`` and ``ChatCompletionChunk``), from
    ``json.loads``; a stream is its ``AsyncSSEStream``, an async context manager whose
    ``close()`` ends it early. How it reaches the plain-http server, and its pool where the
    bench sets one: :mod:`bench.pydo_http`."""

    name = PYDO
    label = "pydo (async)"

    def __init__(self, base: str, connections: int | None) -> None:
        import pydo.aio

        from .pydo_http import async_options

        options = async_options(TOKEN, connections, TIMEOUT)
        self._client: Any = pydo.aio.Client(TOKEN, agent_endpoint=base, **options)
        self._create: Any = self._client.agent.chat.completions.create

    async def hold(self) -> Callable[[], Awaitable[None]]:
        stream: Any = await self._create(model=MODEL, messages=MESSAGES, stream=True)
        chunks: Any = aiter(stream)
        await anext(chunks)

        async def close() -> None:
            await chunks.aclose()
            await stream.close()

        return close

    async def aclose(self) -> None:
        await self._client.close()


class PydoSync(_SDKSync):
    """``pydo.Client``, pydo's blocking client (an azure-core pipeline on requests); the same
    calls and answers as :class:`PydoAsync`, a stream is its ``SSEStream``."""

    name = PYDO_SYNC
    label = "pydo (sync)"

    def __init__(self, base: str, connections: int | None) -> None:
        import pydo

        from .pydo_http import sync_options

        options = sync_options(TOKEN, connections, TIMEOUT)
        self._client: Any = pydo.Client(TOKEN, agent_endpoint=base, **options)
        self._create: Any = self._client.agent.chat.completions.create

    def hold(self) -> Callable[[], None]:
        stream: Any = self._create(model=MODEL, messages=MESSAGES, stream=True)
        chunks: Any = iter(stream)
        next(chunks)

        def close() -> None:
            chunks.close()
            stream.close()

        return close

    def close(self) -> None:
        self._client.close()


_CLASSES: Final = (
    RawAiohttp,
    RawAiohttpFast,
    RawAiohttpOrjson,
    OpenAIAsync,
    OpenAISync,
    PydoAsync,
    PydoSync,
    AgentchatAsync,
    AgentchatSync,
    AgentchatOtel,
    AgentchatOtelSDK,
)
#: Every client, by name: its class, called as ``cls(base, connections)``.
CLIENTS: Final[dict[str, Callable[[str, int | None], BenchClient]]] = {
    cls.name: cls for cls in _CLASSES
}
_LABELS: Final = {cls.name: cls.label for cls in _CLASSES}
_ISOLATED: Final = frozenset(cls.name for cls in _CLASSES if cls.isolated)
_SYNC: Final = frozenset(cls.name for cls in _CLASSES if cls.sync)

_NEEDS: Final = {
    RAW_ORJSON: "orjson",
    OPENAI: "openai",
    OPENAI_SYNC: "openai",
    PYDO: "pydo",
    PYDO_SYNC: "pydo",
    AGENTCHAT_OTEL: "opentelemetry.trace",
    AGENTCHAT_OTEL_SDK: "opentelemetry.sdk",
}
#: Imported by :func:`preload` with the client's library: what it imports lazily, when a
#: client is made or on its first answer (pydo's transport, resources and answer types).
_PRELOAD: Final[dict[str, tuple[str, ...]]] = {
    AGENTCHAT_OTEL: ("agentchat._otel",),
    AGENTCHAT_OTEL_SDK: ("agentchat._otel",),
    PYDO: (
        "pydo.aio",
        "pydo.aio.agents",
        "pydo.aio.gateway",
        "pydo.resources.aio.agent_inference",
        "pydo.resources.aio.inference",
        "pydo.types._type_registry",
        "azure.core.pipeline.transport._aiohttp",
    ),
    PYDO_SYNC: (
        "pydo.agents",
        "pydo.gateway",
        "pydo.resources.agent_inference",
        "pydo.resources.inference",
        "pydo.types._type_registry",
        "azure.core.pipeline.transport._requests_basic",
    ),
}


def available(name: str) -> bool:
    """False for a client whose library is not installed (the openai SDK and pydo are
    installed only in the bench session; orjson may be missing where it has no wheel)."""
    module = _NEEDS.get(name)
    return module is None or available_module(module)


def preload(names: list[str]) -> None:
    """Import the libraries of these clients now (the runner does, before it freezes the
    garbage collector's view of what is long-lived). Call it with the isolated clients only
    in their own process: the runner's never imports the OpenTelemetry SDK."""
    modules = {"agentchat", "agentchat._sync"}
    for name in names:
        if available(name):
            modules |= {_NEEDS.get(name, ""), *_PRELOAD.get(name, ())}
    for module in sorted(modules):
        if module and available_module(module):
            importlib.import_module(module)


def is_sync(name: str) -> bool:
    """True for a blocking client."""
    return name in _SYNC


def isolated(name: str) -> bool:
    """True for a client that is made only in a process of its own (:mod:`bench.isolated`)."""
    return name in _ISOLATED


def available_module(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def label(name: str) -> str:
    return _LABELS[name]


def make_client(name: str, base: str, connections: int | None = None) -> BenchClient:
    """A client of kind ``name`` for the server path ``base``. Make async clients inside the
    running event loop that will use them."""
    return CLIENTS[name](base, connections)
