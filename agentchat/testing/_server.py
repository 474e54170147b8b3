"""A fake agent endpoint on 127.0.0.1 for tests and demos: no account, no network.

It speaks ``POST /api/v1/chat/completions?agent=true`` like a real agent: it checks the bearer
key, rejects malformed bodies the way the real (FastAPI) endpoint does, and answers
deterministically by echoing the last user message. Any response can be scripted instead,
and every request it receives is recorded.

It serves the same on ``POST /v1/chat/completions`` (no ``agent`` query): the path of
DigitalOcean serverless inference and, under the base URL ``{url}/v1``, of any
OpenAI-compatible server.

The scripting helpers (``reply``, ``reply_tool_calls``, ``error``, ``rate_limited``, ``fault``,
``delay``) queue :class:`ScriptedReply` and :class:`ScriptedError` answers: the reply is built
by the same :meth:`FakeAgentServer.completion` and :meth:`FakeAgentServer.chunks` as the
default answer, as JSON or as a stream, whichever the request asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

import attrs
from aiohttp import web

from .._client import AsyncAgentClient, AsyncInferenceClient, AsyncOpenAICompatibleClient

__all__ = [
    "FakeAgentServer",
    "RecordedRequest",
    "ScriptedError",
    "ScriptedReply",
    "ScriptedResponse",
    "ScriptedStream",
    "ScriptedToolCall",
]

COMPLETIONS_PATH = "/api/v1/chat/completions"
#: Serverless inference's path, and an OpenAI-compatible server's under the base URL ``/v1``.
STANDARD_PATH = "/v1/chat/completions"
CREATED = 1_700_000_000
#: The largest write of a stream cut at random (``split``).
SPLIT_MAX = 16
#: The error ``id`` a scripted error gets for its status when none is given, as DigitalOcean
#: names them.
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "server_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}


@attrs.frozen
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    #: When it arrived (``time.monotonic()``).
    received_at: float = 0.0

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` the request sent (empty when the body has none)."""
        payload = _loads_or_empty(self.body)
        messages = payload.get("messages") if isinstance(payload, dict) else None
        return list(messages) if isinstance(messages, list) else []

    @property
    def last_user_content(self) -> Any:
        """The ``content`` of the last user message sent: the text the agent is asked to
        answer (``None`` when there is no user message)."""
        return _last_user_content(self.messages)

    @property
    def model(self) -> str | None:
        """The ``model`` the request named."""
        payload = _loads_or_empty(self.body)
        return payload.get("model") if isinstance(payload, dict) else None

    @property
    def stream(self) -> bool:
        """Whether the request asked for a stream (``"stream": true``)."""
        payload = _loads_or_empty(self.body)
        return isinstance(payload, dict) and payload.get("stream") is True

    @property
    def token(self) -> str | None:
        """The bearer key sent in ``Authorization`` (``None`` when there was none)."""
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        return key if scheme.lower() == "bearer" else None


@attrs.frozen
class ScriptedResponse:
    """A response the server sends instead of its default answer.

    Give ``json`` (any JSON value) or ``body`` (bytes or text, sent as is). ``delay`` waits
    that many seconds before sending the headers (less if the client goes away first).
    ``fault`` breaks the exchange instead of answering normally:

    - ``"reset"``: drop the connection without answering (also what a pooled keep-alive
      connection that died looks like to the client that reuses it);
    - ``"close_mid_body"``: send the headers and half the body, then drop the connection;
    - ``"stall_mid_body"``: send the headers and half the body, then nothing, until the
      client goes away.
    """

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    fault: Literal["reset", "close_mid_body", "stall_mid_body"] | None = None

    def encoded(self) -> tuple[bytes, str]:
        """The body bytes and their content type."""
        if self.body is not None:
            raw = self.body.encode() if isinstance(self.body, str) else self.body
            return raw, self.content_type or "text/plain"
        return json.dumps(self.json).encode(), self.content_type or "application/json"

    async def send(self, request: web.Request) -> web.StreamResponse:
        """Answer ``request`` as scripted, faults included."""
        if self.delay and not await _pause(request, self.delay):
            return web.Response(status=499)  # the client went away while we waited
        raw, content_type = self.encoded()
        if self.fault == "reset":
            _drop(request)
            return web.Response(status=499)
        if self.fault in ("close_mid_body", "stall_mid_body"):
            response = web.StreamResponse(status=self.status, headers=dict(self.headers))
            response.content_type = content_type
            response.content_length = len(raw)
            await response.prepare(request)
            await response.write(raw[: len(raw) // 2])
            if self.fault == "close_mid_body":
                _drop(request)
            else:
                await _pause(request, 3600)
            return response
        response = web.Response(status=self.status, body=raw, headers=dict(self.headers))
        response.content_type = content_type
        return response


@attrs.frozen
class ScriptedStream:
    """An event-stream response the server sends instead of its default one, with faults.

    ``events``: each a dict (sent as ``data: <json>``) or ``str``/``bytes`` (written as is, for
    malformed data, ``event: error`` blocks and the like); ``None`` means the chunks the server
    would send for the request. Then, in order:

    - ``stop_after``: send only the first N events;
    - ``done``: end with ``data: [DONE]``;
    - ``cut``: drop the connection abruptly instead of ending the body;
    - ``stall``: keep the connection open and send nothing more (``heartbeat``: send
      ``: ping`` comments this often while stalled), until the client goes away.

    ``write_size`` splits the bytes into writes of that size (1: byte by byte);
    ``split`` (a seed) into writes of random sizes, 1 to 16 bytes, the same for the same
    seed: boundaries fall anywhere, inside ``data:``, inside a UTF-8 character, between a
    ``\\r`` and its ``\\n``, across events (``None``: the server's ``split``).
    ``ensure_ascii=False`` sends non-ASCII text in the JSON as UTF-8 bytes rather than
    ``\\u`` escapes, as most servers do (``None``: the server's ``ensure_ascii``).
    ``interval`` waits between events; ``line_ending`` is ``"\\n"``, ``"\\r\\n"`` or
    ``"\\r"``.
    """

    events: Sequence[Mapping[str, Any] | str | bytes] | None = None
    stop_after: int | None = None
    done: bool = True
    cut: bool = False
    stall: bool = False
    heartbeat: float | None = None
    write_size: int | None = None
    split: int | None = None
    ensure_ascii: bool | None = None
    interval: float = 0.0
    line_ending: str = "\n"
    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content_type: str = "text/event-stream"


@attrs.frozen
class ScriptedToolCall:
    """A tool call a :class:`ScriptedReply` makes: the function's ``name`` and its
    ``arguments``, a dict (sent JSON-encoded, as the wire format has them) or a string sent
    as is (to test arguments that are not valid JSON). ``id`` defaults to
    ``call_<request>_<choice>_<position>``."""

    name: str
    arguments: Mapping[str, Any] | str = attrs.field(factory=dict)
    id: str | None = None

    def encoded_arguments(self) -> str:
        """The arguments as the wire format carries them: a JSON string."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments))


def _usages(usage: Sequence[Mapping[str, Any]] | None) -> tuple[dict[str, Any], ...] | None:
    """Scripted usage objects, as a tuple of copies (``None``: the word count)."""
    if usage is None:
        return None
    if isinstance(usage, Mapping) or not usage:
        raise ValueError("usage must be a non-empty list of usage objects (dicts)")
    return tuple(dict(item) for item in usage)


@attrs.frozen
class ScriptedReply:
    """An answer built like the default one, with scripted content: JSON for a plain request,
    a stream of chunks for ``"stream": true``, whichever the request asks for.

    ``content`` is the assistant's text (``None``: the default echo, or no text beside
    ``tool_calls``); ``pieces``, when given, is that text streamed one delta per piece
    (otherwise the text streams word by word, as the default answer does).
    ``tool_calls`` are parallel calls (``finish_reason`` then defaults to ``"tool_calls"``),
    streamed one after the other: each call's ``id`` and name, then its arguments in pieces
    of 8 characters; with ``interleave_calls``, the fragments of the calls alternate (the
    first of each call, then the second of each, ...), as OpenAI and vLLM may send them.
    ``usage`` (a list of usage objects) replaces the word-count usage: the JSON answer has
    the last one; a stream sends each in a chunk with empty ``choices`` (whether or not the
    request asked for ``stream_options.include_usage``), the last after the answer's end
    and the others spread over the answer, as running counts are.
    ``delay`` waits before the headers; ``interval`` between streamed events; ``split`` (a
    seed) writes the stream in pieces of random sizes (see :class:`ScriptedStream`).

    ``fault`` breaks the exchange: ``"reset"`` drops the connection without answering;
    ``"cut"`` drops it after ``after`` events of a stream (half of a JSON body); ``"stall"``
    goes silent there instead, until the client goes away.
    """

    content: str | None = None
    pieces: Sequence[str] | None = None
    tool_calls: Sequence[ScriptedToolCall] = ()
    finish_reason: str | None = None
    delay: float = 0.0
    interval: float = 0.0
    fault: Literal["reset", "cut", "stall"] | None = None
    after: int = 2
    interleave_calls: bool = False
    usage: Sequence[Mapping[str, Any]] | None = attrs.field(default=None, converter=_usages)
    split: int | None = None

    @property
    def scripts_content(self) -> bool:
        """Whether it says what the assistant answers (text or tool calls), rather than only
        how the default answer is sent (a delay, a fault)."""
        return self.pieces is not None or self.content is not None or bool(self.tool_calls)

    def text(self, default: str) -> str | None:
        """The assistant's text: the scripted one, else ``default`` when nothing else is
        scripted (an echo), else none (a reply of tool calls only)."""
        if self.pieces is not None:
            return "".join(self.pieces)
        if self.content is not None:
            return self.content
        return None if self.tool_calls else default


@attrs.frozen
class ScriptedError:
    """An error answered in DigitalOcean's shape, ``{"id", "message", "request_id"}``, with
    the server's usual headers. ``code`` (the ``id``) defaults to the status's usual name.
    ``retry_after`` (seconds) adds ``Retry-After`` (whole seconds, rounded up) and
    ``retry-after-ms``, and zeroes ``ratelimit-remaining``, as a rate limit's 429 does."""

    status: int = 500
    message: str = "Scripted error"
    code: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)

    def send(self, headers: Mapping[str, str]) -> web.Response:
        """The error response, ``headers`` being the server's usual ones for the request."""
        extra = dict(headers)
        if self.retry_after is not None:
            extra["retry-after"] = str(math.ceil(self.retry_after))
            extra["retry-after-ms"] = str(math.ceil(self.retry_after * 1000))
            extra["ratelimit-remaining"] = "0"
        extra.update(self.headers)
        code = self.code or ERROR_CODES.get(self.status, "error")
        return _do_error(self.status, code, self.message, extra)


#: What the server can be scripted to answer with (``enqueue()`` takes any of them).
Scripted = ScriptedResponse | ScriptedStream | ScriptedReply | ScriptedError


class FakeAgentServer:
    """An agent endpoint on 127.0.0.1 with an ephemeral port.

    ::

        async with FakeAgentServer() as server:
            async with server.client() as client:
                completion = await client.agent.chat.completions.create(...)
            assert server.requests[0].json()["model"] == ...

    ``token`` is the access key it accepts. ``rate_limit`` requests per ``rate_window``
    seconds (100,000 a minute by default, not to slow tests down) is the limit its
    ``ratelimit-limit``, ``ratelimit-remaining`` and ``ratelimit-reset`` headers advertise,
    counted in fixed windows;
    with ``enforce_rate_limit`` a request over it gets a 429 with ``Retry-After`` until the
    window resets. ``stream_delay`` is the pause between streamed chunks (for demos), and
    ``response_delay`` the wait before each default answer (to make a batch take time).
    ``keepalive_timeout`` is how long an idle keep-alive connection stays open before the
    server closes it.

    Wire variations, for every stream (a :class:`ScriptedStream` or a reply can set its
    own): ``split``, a seed, writes each stream's bytes in pieces of random sizes (1 to 16
    bytes; each stream's sizes come from the seed and the request's number, so a run
    repeats), as a network may cut them; ``ensure_ascii=False`` sends non-ASCII text as
    UTF-8 bytes rather than ``\\u`` escapes, so that pieces can end inside a character.

    Load: ``open_streams`` is how many streams the server is sending right now and
    ``peak_streams`` the most it has sent at once; :meth:`hold_streams` makes each stream wait
    after its first event until a given number are open together, which proves that a
    client (or a web service relaying one) really holds that many at the same moment.
    """

    def __init__(
        self,
        *,
        token: str = "test-key",
        model: str = "fake-agent",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int = 100_000,
        rate_window: float = 60.0,
        enforce_rate_limit: bool = False,
        stream_delay: float = 0.0,
        response_delay: float = 0.0,
        keepalive_timeout: float = 75.0,
        split: int | None = None,
        ensure_ascii: bool = True,
    ) -> None:
        self.token = token
        self.split = split
        self.ensure_ascii = ensure_ascii
        self.stream_delay = stream_delay
        self.response_delay = response_delay
        self.model = model
        self.host = host
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.enforce_rate_limit = enforce_rate_limit
        self._window_start = time.time()
        self._window_count = 0
        self.requests: list[RecordedRequest] = []
        #: Every request with the status it was answered with (0: dropped without answer).
        self.answered: list[tuple[RecordedRequest, int]] = []
        self.keepalive_timeout = keepalive_timeout
        self._chaos: list[tuple[float, int, dict[str, str], random.Random]] = []
        self._port = port
        self._script: deque[Scripted] = deque()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.open_streams = 0
        self.peak_streams = 0
        self._hold: tuple[int, asyncio.Event, float] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to give a client as ``agent_endpoint``."""
        if self._runner is None:
            raise RuntimeError("The server is not running; use 'async with' or start()")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> FakeAgentServer:
        app = web.Application()
        app.router.add_post(COMPLETIONS_PATH, self._completions)
        app.router.add_post(STANDARD_PATH, self._completions)
        app.router.add_get("/health", self._health)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            keepalive_timeout=self.keepalive_timeout,
        )
        await runner.setup()
        # A large accept queue: a burst of a thousand connects must not be dropped and retried.
        site = web.TCPSite(runner, self.host, self._port, backlog=4096)
        await site.start()
        self._port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeAgentServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[FakeAgentServer]:
        """Run the server on an event loop of its own in a background thread, for testing
        blocking code (the sync :class:`~agentchat.AgentClient`)::

            with FakeAgentServer().in_thread() as server:
                with AgentClient(server.token, server.url) as client:
                    ...
        """
        started: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        loop_box: list[asyncio.AbstractEventLoop] = []
        stop_box: list[asyncio.Event] = []

        async def serve() -> None:
            loop_box.append(asyncio.get_running_loop())
            stop_box.append(asyncio.Event())
            try:
                await self.start()
            except BaseException as exc:
                started.put(exc)
                return
            started.put(None)
            try:
                await stop_box[0].wait()
            finally:
                await self.close()

        thread = threading.Thread(target=asyncio.run, args=(serve(),), name="fake-agent")
        thread.start()
        error = started.get()
        if error is not None:
            thread.join()
            raise error
        try:
            yield self
        finally:
            loop_box[0].call_soon_threadsafe(stop_box[0].set)
            thread.join()

    def client(self, **options: Any) -> AsyncAgentClient:
        """An :class:`~agentchat.AsyncAgentClient` pointed at this server with its key."""
        return AsyncAgentClient(self.token, self.url, **options)

    def inference_client(self, **options: Any) -> AsyncInferenceClient:
        """An :class:`~agentchat.AsyncInferenceClient` (serverless inference) pointed at this
        server with its key."""
        return AsyncInferenceClient(self.token, self.url, **options)

    def compatible_client(self, **options: Any) -> AsyncOpenAICompatibleClient:
        """An :class:`~agentchat.AsyncOpenAICompatibleClient` with this server's ``/v1`` as
        its base URL, and its key."""
        return AsyncOpenAICompatibleClient(f"{self.url}/v1", self.token, **options)

    # -- scripting -------------------------------------------------------------------------

    def respond(
        self,
        status: int = 200,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        delay: float = 0.0,
        fault: Literal["reset", "close_mid_body", "stall_mid_body"] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` completion requests with this response (see
        :class:`ScriptedResponse` for ``delay`` and ``fault``)."""
        scripted = ScriptedResponse(
            status=status,
            json=json,
            body=body,
            headers=dict(headers or {}),
            content_type=content_type,
            delay=delay,
            fault=fault,
        )
        self._script.extend([scripted] * times)

    def hold_streams(self, count: int, timeout: float = 30.0) -> None:
        """From now on, each stream pauses after its first event until ``count`` streams are
        open at the same moment (or ``timeout`` seconds have passed), then goes on. Once
        ``count`` is reached the gate stays open."""
        self._hold = (count, asyncio.Event(), timeout)

    def enqueue(self, *responses: Scripted) -> None:
        """Answer the next requests with ``responses``, in order."""
        self._script.extend(responses)

    def fail_randomly(
        self,
        rate: float,
        *,
        status: int = 503,
        headers: Mapping[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        """From now on, answer a ``rate`` share of requests (chosen by a seeded random
        generator, so runs repeat) with ``status``. Calls add up (10% 503s and 2% 429s are
        two calls); ``rate=0`` removes them all."""
        if rate <= 0:
            self._chaos.clear()
        else:
            self._chaos.append((rate, status, dict(headers or {}), random.Random(seed)))

    def stream(self, **options: Any) -> None:
        """Answer the next request with a :class:`ScriptedStream` made of ``options``."""
        self._script.append(ScriptedStream(**options))

    # -- scripting helpers: what tests script most -----------------------------------------

    def reply(
        self,
        text: str | Sequence[str],
        *,
        finish_reason: str | None = None,
        interval: float = 0.0,
        delay: float = 0.0,
        usage: Sequence[Mapping[str, Any]] | None = None,
        split: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with ``text``, as JSON or as a stream, whichever
        each asks for. A string streams word by word; a list of strings streams one delta
        per piece (``interval`` seconds apart) and is their concatenation as JSON.
        ``delay`` waits before the headers. ``usage``: the usage objects to report, the last
        being the answer's (see :class:`ScriptedReply`); ``split``: a seed, to write the
        stream in pieces of random sizes."""
        if isinstance(text, str):
            reply = ScriptedReply(content=text, finish_reason=finish_reason)
        else:
            reply = ScriptedReply(pieces=tuple(text), finish_reason=finish_reason)
        reply = attrs.evolve(reply, interval=interval, delay=delay, usage=usage, split=split)
        self._queue(reply, times)

    def reply_tool_calls(
        self,
        calls: Sequence[tuple[str, Mapping[str, Any] | str] | ScriptedToolCall],
        *,
        text: str | None = None,
        finish_reason: str | None = None,
        interval: float = 0.0,
        delay: float = 0.0,
        interleave: bool = False,
        usage: Sequence[Mapping[str, Any]] | None = None,
        split: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with these tool calls, made in parallel: each a
        ``(name, arguments)`` pair or a :class:`ScriptedToolCall`. ``text`` is content sent
        beside them (none by default); ``finish_reason`` defaults to ``"tool_calls"``.
        ``interleave`` streams the calls' fragments alternately rather than one call after
        the other; ``usage`` and ``split`` are as for :meth:`reply`."""
        scripted = tuple(
            call if isinstance(call, ScriptedToolCall) else ScriptedToolCall(*call)
            for call in calls
        )
        if not scripted:
            raise ValueError("reply_tool_calls() needs at least one call")
        reply = ScriptedReply(
            content=text,
            tool_calls=scripted,
            finish_reason=finish_reason,
            interval=interval,
            delay=delay,
            interleave_calls=interleave,
            usage=usage,
            split=split,
        )
        self._queue(reply, times)

    def reply_tool_call(
        self, name: str, arguments: Mapping[str, Any] | str | None = None, *, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests with one call of the function ``name``."""
        self.reply_tool_calls([(name, {} if arguments is None else arguments)], times=times)

    def error(
        self,
        status: int = 500,
        message: str = "Scripted error",
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with an error of ``status`` in DigitalOcean's
        shape (``{"id": code, "message": message, "request_id": ...}``)."""
        scripted = ScriptedError(status, message, code=code, headers=dict(headers or {}))
        self._queue(scripted, times)

    def rate_limited(self, retry_after: float = 0.05, *, times: int = 1) -> None:
        """Answer the next ``times`` requests with a 429, as a rate limit does: ``Retry-After``
        (whole seconds, rounded up), ``retry-after-ms`` (``retry_after`` exactly, which
        agentchat's clients prefer) and ``ratelimit-remaining: 0``. The default is short so
        that a client's retry does not slow the test down."""
        scripted = ScriptedError(
            429, "API rate limit exceeded.", code="too_many_requests", retry_after=retry_after
        )
        self._queue(scripted, times)

    def fault(
        self,
        kind: Literal["reset", "cut", "stall"] = "reset",
        *,
        after: int = 2,
        times: int = 1,
    ) -> None:
        """Break the next ``times`` exchanges: ``"reset"`` drops the connection without an
        answer; ``"cut"`` sends ``after`` events of the (default) stream, or half of a JSON
        body, then drops the connection; ``"stall"`` sends as much, then nothing until the
        client goes away (to test timeouts)."""
        self._queue(ScriptedReply(fault=kind, after=after), times)

    def delay(self, seconds: float, *, times: int = 1) -> None:
        """Send the next ``times`` answers (the default echo) only after ``seconds`` (less if
        the client goes away first)."""
        self._queue(ScriptedReply(delay=seconds), times)

    def _queue(self, scripted: Scripted, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be 1 or more, not {times!r}")
        self._script.extend([scripted] * times)

    # -- what was received -----------------------------------------------------------------

    @property
    def last_request(self) -> RecordedRequest:
        """The last request received (``AssertionError`` if none was)."""
        if not self.requests:
            raise AssertionError("The fake agent has received no request")
        return self.requests[-1]

    @property
    def call_count(self) -> int:
        """How many completion requests the server has received."""
        return len(self.requests)

    @property
    def pending(self) -> int:
        """Scripted responses not yet sent."""
        return len(self._script)

    @property
    def open_connections(self) -> int:
        """TCP connections from clients that the server currently holds open."""
        runner = self._runner
        if runner is None or runner.server is None:
            return 0
        return len(runner.server.connections)

    async def wait_for_connections(self, count: int, timeout: float = 1.0) -> bool:
        """Wait until the server holds exactly ``count`` open connections; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.open_connections != count:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    # -- handlers --------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
            received_at=time.monotonic(),
        )
        self.requests.append(recorded)
        number = next(self._ids)
        try:
            response = await self._answer(request, body, number)
        except ConnectionResetError:  # the client left while the answer was being written
            self.answered.append((recorded, 0))
            raise
        transport = request.transport
        dropped = transport is None or transport.is_closing()
        self.answered.append((recorded, 0 if dropped else response.status))
        return response

    async def _answer(self, request: web.Request, body: bytes, number: int) -> web.StreamResponse:
        headers = self._headers(number)
        if "retry-after" in headers:  # over the enforced rate limit
            return _do_error(429, "too_many_requests", "API rate limit exceeded.", headers)
        if self._script:
            scripted = self._script.popleft()
            if isinstance(scripted, ScriptedStream):
                return await self._send_stream(request, scripted, _loads_or_empty(body), headers)
            if isinstance(scripted, ScriptedReply):
                return await self._send_reply(request, scripted, body, headers, number)
            if isinstance(scripted, ScriptedError):
                return scripted.send(headers)
            return await scripted.send(request)
        for rate, status, extra, chance in self._chaos:
            if chance.random() < rate:
                return _do_error(
                    status, "unavailable", "Randomly failed (fail_randomly)", {**headers, **extra}
                )
        if self.response_delay and not await _pause(request, self.response_delay):
            return web.Response(status=499)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _do_error(401, "unauthorized", "Unable to authenticate you.", headers)
        if request.path == COMPLETIONS_PATH and request.query.get("agent") != "true":
            return _do_error(404, "not_found", "The agent query parameter must be 'true'.", headers)
        try:
            payload = json.loads(body)
        except ValueError:
            return _fastapi_error([("body",)], "JSON decode error", "json_invalid", headers)
        problem = _check_payload(payload)
        if problem is not None:
            loc, msg, kind = problem
            return _fastapi_error([loc], msg, kind, headers)
        if payload.get("stream") is True:
            return await self._send_stream(request, ScriptedStream(), payload, headers)
        return web.json_response(self.completion(payload, number), headers=headers)

    async def _send_reply(
        self,
        request: web.Request,
        reply: ScriptedReply,
        body: bytes,
        headers: dict[str, str],
        number: int,
    ) -> web.StreamResponse:
        """Answer with the default answer's shape and the reply's content: chunks through
        :meth:`_send_stream` for a stream request, else the completion as JSON."""
        payload = _loads_or_empty(body)
        if not isinstance(payload, dict):
            payload = {}
        if reply.delay and not await _pause(request, reply.delay):
            return web.Response(status=499)  # the client went away while we waited
        if reply.fault == "reset":
            _drop(request)
            return web.Response(status=499)
        if payload.get("stream") is True:
            stream = ScriptedStream(
                events=self.chunks(payload, number, reply),
                stop_after=reply.after if reply.fault else None,
                done=reply.fault is None,
                cut=reply.fault == "cut",
                stall=reply.fault == "stall",
                interval=reply.interval,
                split=reply.split,
            )
            return await self._send_stream(request, stream, payload, headers)
        completion = self.completion(payload, number, reply)
        if reply.fault is None:
            return web.json_response(completion, headers=headers)
        broken = ScriptedResponse(
            json=completion,
            headers=headers,
            fault="close_mid_body" if reply.fault == "cut" else "stall_mid_body",
        )
        return await broken.send(request)

    async def _send_stream(
        self,
        request: web.Request,
        script: ScriptedStream,
        payload: Mapping[str, Any],
        headers: dict[str, str],
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=script.status,
            headers={**headers, "Cache-Control": "no-cache", **script.headers},
        )
        response.content_type = script.content_type
        await response.prepare(request)
        number = int(headers["x-request-id"].rpartition("-")[2])
        events = script.events
        if events is None:
            events = self.chunks(payload, number) if payload.get("messages") else []
        if script.stop_after is not None:
            events = events[: script.stop_after]
        end = script.line_ending.encode()
        interval = script.interval or self.stream_delay
        ascii_only = self.ensure_ascii if script.ensure_ascii is None else script.ensure_ascii
        encoded = [
            (event.encode() if isinstance(event, str) else event)
            if isinstance(event, (str, bytes))
            else b"data: " + json.dumps(event, ensure_ascii=ascii_only).encode() + end + end
            for event in events
        ]
        done = b"data: [DONE]" + end + end if script.done else b""
        sizes = self._write_sizes(script, number)
        self.open_streams += 1
        self.peak_streams = max(self.peak_streams, self.open_streams)
        try:
            if self._hold is not None and encoded:
                await _write(response, encoded.pop(0), sizes)
                await self._held()
            if not interval and script.split is None and self.split is None:
                if not script.write_size:
                    encoded = [b"".join(encoded)]  # no pacing asked for: one write, at once
            elif not interval:  # random pieces: across events and [DONE] too
                encoded, done = [b"".join(encoded) + done], b""
            for raw in encoded:
                await _write(response, raw, sizes)
                if interval and not await _pause(request, interval):
                    return response
            if done:
                await _write(response, done, sizes)
            return await self._end_stream(request, response, script)
        finally:
            self.open_streams -= 1

    def _write_sizes(self, script: ScriptedStream, number: int) -> Iterator[int] | None:
        """The sizes of the writes a stream is cut into (``None``: as they come)."""
        if script.write_size:
            return itertools.repeat(script.write_size)
        if script.split is not None:
            chance = random.Random(script.split)
        elif self.split is not None:
            chance = random.Random(f"{self.split}:{number}")
        else:
            return None
        return iter(lambda: chance.randint(1, SPLIT_MAX), 0)

    async def _held(self) -> None:
        assert self._hold is not None
        count, all_open, timeout = self._hold
        if self.open_streams >= count:
            all_open.set()
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(all_open.wait(), timeout)

    async def _end_stream(
        self, request: web.Request, response: web.StreamResponse, script: ScriptedStream
    ) -> web.StreamResponse:
        end = script.line_ending.encode()
        transport = request.transport
        if script.cut:
            _drop(request)
            return response
        if script.stall:
            while transport is not None and not transport.is_closing():
                await asyncio.sleep(script.heartbeat or 0.01)
                if script.heartbeat and not transport.is_closing():
                    await response.write(b": ping" + end + end)
            return response
        await response.write_eof()
        return response

    def chunks(
        self, payload: Mapping[str, Any], number: int = 1, reply: ScriptedReply | None = None
    ) -> list[dict[str, Any]]:
        """The chunk objects the server streams for ``payload``: the same answer as
        :meth:`completion`, word by word (or in the ``reply``'s pieces), with the choices
        interleaved when ``n > 1``.

        The first delta of each choice is ``{"role": "assistant", "content": null}``; a named
        ``tool_choice`` streams the call's id and name, then its arguments in fragments;
        ``stream_options.include_usage`` adds a usage chunk (empty ``choices``), once per
        choice as soon as that choice finishes when ``n > 1``, counting that choice's tokens
        only, as llama.cpp does. A reply's ``usage`` list is sent instead, whatever the
        request asked: one chunk with empty ``choices`` each, the last at the end, the others
        spread over the answer.
        """
        completion = self.completion(payload, number, reply)
        pieces = reply.pieces if reply is not None else None
        interleave = reply is not None and reply.interleave_calls
        scripted_usage = reply.usage if reply is not None else None
        head = {
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
        }
        per_choice = [
            _choice_deltas(choice, pieces, interleave) for choice in completion["choices"]
        ]
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        if scripted_usage:
            include_usage = False
        chunks: list[dict[str, Any]] = []
        # With n > 1, llama.cpp sends each choice's own usage: the prompt and that choice's
        # completion tokens (each choice is a task of its own), which a client adds up.
        usage = completion["usage"]
        own = usage["completion_tokens"] // len(per_choice)
        own_usage = {
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": own,
            "total_tokens": usage["prompt_tokens"] + own,
        }
        longest = max(len(deltas) for deltas in per_choice)
        # Scripted running counts go after evenly spaced steps; the last count at the end.
        running: dict[int, list[dict[str, Any]]] = {}
        for i, count in enumerate((scripted_usage or ())[:-1]):
            step = max(0, (i + 1) * longest // len(scripted_usage or ()) - 1)
            running.setdefault(step, []).append(dict(count))
        for step in range(longest):
            for deltas in per_choice:
                if step < len(deltas):
                    chunks.append({**head, "choices": [deltas[step]]})
                    if step == len(deltas) - 1 and include_usage and len(per_choice) > 1:
                        chunks.append({**head, "choices": [], "usage": own_usage})
            chunks += [{**head, "choices": [], "usage": count} for count in running.get(step, ())]
        extras: dict[str, Any] = {
            k: completion[k] for k in ("retrieval", "functions", "guardrails") if k in completion
        }
        if extras:
            chunks[-1] = {**chunks[-1], **extras}
        if (include_usage and len(per_choice) == 1) or scripted_usage:
            chunks.append({**head, "choices": [], "usage": completion["usage"]})
        return chunks

    def _headers(self, number: int) -> dict[str, str]:
        """The request id and the rate-limit headers, counting this request in its window
        (and, when the limit is enforced and exceeded, ``Retry-After`` until the reset)."""
        now = time.time()
        if now >= self._window_start + self.rate_window:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        reset = self._window_start + self.rate_window
        headers = {
            "x-request-id": f"req-{number}",
            "ratelimit-limit": str(self.rate_limit),
            "ratelimit-remaining": str(max(0, self.rate_limit - self._window_count)),
            "ratelimit-reset": f"{reset:.3f}",
        }
        if self.enforce_rate_limit and self._window_count > self.rate_limit:
            wait = reset - now
            headers["retry-after"] = str(math.ceil(wait))
            headers["retry-after-ms"] = str(math.ceil(wait * 1000))
        return headers

    def completion(
        self, payload: Mapping[str, Any], number: int = 1, reply: ScriptedReply | None = None
    ) -> dict[str, Any]:
        """The deterministic answer to ``payload``: each choice echoes the last user message,
        or says what ``reply`` scripts (its text, its tool calls)."""
        sent = payload.get("messages")
        messages = [m for m in sent if isinstance(m, dict)] if isinstance(sent, list) else []
        last_user = _last_user_content(messages) or ""
        echo = f"Echo: {last_user}"
        text = echo if reply is None else reply.text(echo)
        forced = payload.get("tool_choice")
        n = payload.get("n")
        choices = []
        for index in range(n if isinstance(n, int) and n > 0 else 1):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": text,
                "refusal": None,
                "reasoning_content": None,
            }
            finish_reason = "stop"
            if reply is not None and reply.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": call.id or f"call_{number}_{index}_{position}",
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.encoded_arguments()},
                    }
                    for position, call in enumerate(reply.tool_calls)
                ]
                finish_reason = "tool_calls"
            elif isinstance(forced, dict) and (reply is None or not reply.scripts_content):
                name = forced["function"]["name"]
                message["content"] = None
                message["tool_calls"] = [
                    {
                        "id": f"call_{number}_{index}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps({"echo": last_user})},
                    }
                ]
                finish_reason = "tool_calls"
            if reply is not None and reply.finish_reason is not None:
                finish_reason = reply.finish_reason
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            )
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
        completion_tokens = len((text or "").split()) * len(choices)
        result: dict[str, Any] = {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion",
            "created": CREATED,
            "model": payload.get("model") or self.model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        if reply is not None and reply.usage:
            result["usage"] = dict(reply.usage[-1])
        if payload.get("include_retrieval_info"):
            result["retrieval"] = {
                "retrieved_data": [{"id": "doc-1", "index": "kb-fake", "score": 0.9}]
            }
        if payload.get("include_functions_info"):
            result["functions"] = {"called_functions": []}
        if payload.get("include_guardrails_info"):
            result["guardrails"] = {"triggered_guardrails": []}
        return result


def _check_payload(payload: Any) -> tuple[tuple[str | int, ...], str, str] | None:
    """The first problem a FastAPI model would report for this body, if any."""
    if not isinstance(payload, dict):
        return ("body",), "Input should be a valid dictionary", "dict_type"
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        return ("body", "messages"), "Field required or empty", "missing"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return ("body", "messages", i, "role"), "Field required", "missing"
    return None


def _do_error(status: int, code: str, message: str, headers: dict[str, str]) -> web.Response:
    body = {"id": code, "message": message, "request_id": headers["x-request-id"]}
    return web.json_response(body, status=status, headers=headers)


def _fastapi_error(
    locs: list[tuple[str | int, ...]], msg: str, kind: str, headers: dict[str, str]
) -> web.Response:
    detail = [{"loc": list(loc), "msg": msg, "type": kind} for loc in locs]
    return web.json_response({"detail": detail}, status=422, headers=headers)


def _last_user_content(messages: Sequence[Mapping[str, Any]]) -> Any:
    """The ``content`` of the last user message, ``None`` when there is none."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message.get("content")
    return None


def _choice_deltas(
    choice: Mapping[str, Any], pieces: Sequence[str] | None = None, interleave: bool = False
) -> list[dict[str, Any]]:
    """One choice of a completion as the sequence of stream deltas that add up to it: the
    text word by word, or in ``pieces`` when given; then the tool calls, one after the
    other, or with their fragments alternating when ``interleave``."""
    index = choice["index"]
    message = choice["message"]

    def step(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}

    steps = [step({"role": "assistant", "content": None})]
    if message.get("content"):
        if pieces is None:
            words = message["content"].split(" ")
            pieces = [word + " " for word in words[:-1]] + [words[-1]]
        steps += [step({"content": piece}) for piece in pieces if piece]
    per_call: list[list[dict[str, Any]]] = []
    for i, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        first = {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {"name": function["name"], "arguments": ""},
        }
        arguments = function["arguments"]
        per_call.append(
            [first]
            + [
                {"index": i, "function": {"arguments": arguments[start : start + 8]}}
                for start in range(0, len(arguments), 8)
            ]
        )
    if interleave:  # the first fragment of each call, then the second of each, ...
        fragments = [
            f for group in itertools.zip_longest(*per_call) for f in group if f is not None
        ]
    else:
        fragments = [fragment for call_fragments in per_call for fragment in call_fragments]
    steps += [step({"tool_calls": [fragment]}) for fragment in fragments]
    steps.append(step({}, choice["finish_reason"]))
    return steps


def _drop(request: web.Request) -> None:
    """Close the connection at once, without a clean end (as a crash or a reset would)."""
    if request.transport is not None:
        request.transport.abort()


async def _pause(request: web.Request, seconds: float) -> bool:
    """Sleep, but stop early (returning False) when the client closes the connection, so a
    scripted delay never outlives its request."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            return False
        await asyncio.sleep(min(remaining, 0.01))
    return True


async def _write(response: web.StreamResponse, raw: bytes, sizes: Iterator[int] | None) -> None:
    """Write ``raw`` at once, or in pieces of the given ``sizes``.

    After each piece the server lets its event loop go round twice: a client on the same loop
    (a test's async client) then reads that piece before the next is sent, so that each
    piece reaches its decoder as a read of its own, boundaries where they were cut. (Without
    this, the pieces pile up in the socket and the client reads them all at once.) A client
    on another loop may still read several pieces at once, as a network can join them."""
    if sizes is None:
        await response.write(raw)
        return
    start = 0
    while start < len(raw):
        size = next(sizes)
        await response.write(raw[start : start + size])
        start += size
        await asyncio.sleep(0)  # the client's loop reads the socket...
        await asyncio.sleep(0)  # ... and the client's task takes what it read


def _loads_or_empty(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return {}
