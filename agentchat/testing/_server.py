"""A fake agent endpoint on 127.0.0.1 for tests and demos: no account, no network.

It speaks ``POST /api/v1/chat/completions?agent=true`` like a real agent: it checks the bearer
key, rejects malformed bodies the way the real (FastAPI) endpoint does, and answers
deterministically by echoing the last user message. Any response can be scripted instead,
and every request it receives is recorded.

It serves the same on ``POST /v1/chat/completions`` (no ``agent`` query): the path of
DigitalOcean serverless inference and, under the base URL ``{url}/v1``, of any
OpenAI-compatible server.
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

__all__ = ["FakeAgentServer", "RecordedRequest", "ScriptedResponse", "ScriptedStream"]

COMPLETIONS_PATH = "/api/v1/chat/completions"
#: Serverless inference's path, and an OpenAI-compatible server's under the base URL ``/v1``.
STANDARD_PATH = "/v1/chat/completions"
CREATED = 1_700_000_000


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
    interval: float = 0.0
    line_ending: str = "\n"
    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content_type: str = "text/event-stream"


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
    ) -> None:
        self.token = token
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
        self._script: deque[ScriptedResponse | ScriptedStream] = deque()
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

    def enqueue(self, *responses: ScriptedResponse | ScriptedStream) -> None:
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
        response = await self._answer(request, body, number)
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
        events = script.events
        if events is None:
            number = int(headers["x-request-id"].rpartition("-")[2])
            events = self.chunks(payload, number) if payload.get("messages") else []
        if script.stop_after is not None:
            events = events[: script.stop_after]
        end = script.line_ending.encode()
        interval = script.interval or self.stream_delay
        encoded = [
            (event.encode() if isinstance(event, str) else event)
            if isinstance(event, (str, bytes))
            else b"data: " + json.dumps(event).encode() + end + end
            for event in events
        ]
        self.open_streams += 1
        self.peak_streams = max(self.peak_streams, self.open_streams)
        try:
            if self._hold is not None and encoded:
                await _write(response, encoded.pop(0), script.write_size)
                await self._held()
            if not interval and not script.write_size:
                encoded = [b"".join(encoded)]  # no pacing asked for: one write, at once
            for raw in encoded:
                await _write(response, raw, script.write_size)
                if interval and not await _pause(request, interval):
                    return response
            return await self._end_stream(request, response, script)
        finally:
            self.open_streams -= 1

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
        if script.done:
            await _write(response, b"data: [DONE]" + end + end, script.write_size)
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

    def chunks(self, payload: Mapping[str, Any], number: int = 1) -> list[dict[str, Any]]:
        """The chunk objects the server streams for ``payload``: the same answer as
        :meth:`completion`, word by word, with the choices interleaved when ``n > 1``.

        The first delta of each choice is ``{"role": "assistant", "content": null}``; a named
        ``tool_choice`` streams the call's id and name, then its arguments in fragments;
        ``stream_options.include_usage`` adds a usage chunk (empty ``choices``), once per
        choice as soon as that choice finishes when ``n > 1``, as some servers do.
        """
        completion = self.completion(payload, number)
        head = {
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
        }
        per_choice = [_choice_deltas(choice) for choice in completion["choices"]]
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        chunks: list[dict[str, Any]] = []
        longest = max(len(deltas) for deltas in per_choice)
        for step in range(longest):
            for deltas in per_choice:
                if step < len(deltas):
                    chunks.append({**head, "choices": [deltas[step]]})
                    if step == len(deltas) - 1 and include_usage and len(per_choice) > 1:
                        chunks.append({**head, "choices": [], "usage": completion["usage"]})
        extras: dict[str, Any] = {
            k: completion[k] for k in ("retrieval", "functions", "guardrails") if k in completion
        }
        if extras:
            chunks[-1] = {**chunks[-1], **extras}
        if include_usage and len(per_choice) == 1:
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

    def completion(self, payload: Mapping[str, Any], number: int = 1) -> dict[str, Any]:
        """The deterministic answer to ``payload``: each choice echoes the last user message."""
        messages = payload["messages"]
        last_user = next(
            (m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), ""
        )
        reply = f"Echo: {last_user}"
        forced = payload.get("tool_choice")
        choices = []
        for index in range(payload.get("n") or 1):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": reply,
                "refusal": None,
                "reasoning_content": None,
            }
            finish_reason = "stop"
            if isinstance(forced, dict):
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
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            )
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
        completion_tokens = len(reply.split()) * len(choices)
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


def _choice_deltas(choice: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One choice of a completion as the sequence of stream deltas that add up to it."""
    index = choice["index"]
    message = choice["message"]

    def step(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}

    steps = [step({"role": "assistant", "content": None})]
    if message.get("content"):
        words = message["content"].split(" ")
        pieces = [word + " " for word in words[:-1]] + [words[-1]]
        steps += [step({"content": piece}) for piece in pieces if piece]
    for i, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        steps.append(
            step(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": function["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        arguments = function["arguments"]
        for start in range(0, len(arguments), 8):
            fragment = arguments[start : start + 8]
            steps.append(step({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}))
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


async def _write(response: web.StreamResponse, raw: bytes, size: int | None) -> None:
    if not size:
        await response.write(raw)
        return
    for start in range(0, len(raw), size):
        await response.write(raw[start : start + size])


def _loads_or_empty(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return {}
