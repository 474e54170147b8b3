"""The benchmark server: an OpenAI-compatible ``aiohttp.web`` server in a process of its own,
built so that it is never the bottleneck.

- Every body is encoded once at start-up: the completion JSON, and each stream whole, already
  cut into 64 KiB writes; a request costs the server its HTTP parsing and a few writes.
- Any method and any path is answered; the first path segment picks the body
  (:mod:`bench.payloads`), so ``{url}/small/v1/chat/completions`` (the openai SDK) and
  ``{url}/small/api/v1/chat/completions?agent=true`` (agentchat) get the same answer.
- It pins itself to CPU 0 (the runner pins the clients to CPU 1), accepts thousands of
  connections, and exits when its standard input closes, so it never outlives the runner.

    python -m bench.server      # prints one JSON line: {"url": ..., "pid": ..., "pinned": ...}

:class:`ServerProcess` is the runner's handle on it, and reads its CPU time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType

from aiohttp import web

from . import payloads
from .system import (
    SERVER_CORE,
    pin_to_cpu,
    process_cpu_seconds,
    process_wait_seconds,
    raise_open_files_limit,
)

__all__ = ["ServerProcess", "main"]

ROOT = Path(__file__).resolve().parent.parent
#: A stalled stream ends by itself after this long, should its client never go away.
STALL_LIMIT = 300.0
#: The server exits by itself after this long, should the runner never close its stdin.
LIFETIME_LIMIT = 4 * 3600.0

_JSON_HEADERS: Mapping[str, str] = {"Content-Type": "application/json"}
_SSE_HEADERS: Mapping[str, str] = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def _json_handler(body: bytes) -> Handler:
    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(body=body, headers=_JSON_HEADERS)

    return handle


def _stream_handler(pieces: list[bytes]) -> Handler:
    """The whole stream in pieces of 64 KiB; the last goes with the end of the body."""
    head, last = pieces[:-1], pieces[-1]

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        for piece in head:
            await response.write(piece)
        await response.write_eof(last)
        return response

    return handle


def _first_handler(first: bytes, rest: bytes) -> Handler:
    """One chunk at once, the rest after a fixed delay: a client that yields its first chunk
    only when more data arrives shows a time to first chunk of at least the delay."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        await response.write(first)
        await asyncio.sleep(payloads.FIRST_DELAY)
        await response.write_eof(rest)
        return response

    return handle


def _stall_handler(first: bytes) -> Handler:
    """One chunk, then nothing until the client goes away (the handler is cancelled then)."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        await response.write(first)
        await asyncio.sleep(STALL_LIMIT)
        await response.write_eof(b"data: [DONE]\n\n")
        return response

    return handle


def build_handlers() -> dict[str, Handler]:
    """Every body the server sends, encoded now, by path prefix."""
    handlers = {
        payloads.SMALL: _json_handler(payloads.completion_body(200)),
        payloads.BIG: _json_handler(payloads.completion_body(payloads.BIG_CONTENT_BYTES)),
    }
    for chunks in (payloads.STREAM_LONG, payloads.STREAM_SHORT):
        body = b"".join(payloads.sse_events(chunks))
        handlers[payloads.stream_kind(chunks)] = _stream_handler(payloads.batches(body))
    events = payloads.sse_events(payloads.FIRST_STREAM_CHUNKS)
    handlers[payloads.FIRST] = _first_handler(events[0], b"".join(events[1:]))
    handlers[payloads.STALL] = _stall_handler(events[0])
    return handlers


def make_dispatcher(handlers: Mapping[str, Handler]) -> Handler:
    async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
        await request.read()  # the whole request, so the connection can be reused
        parts = request.path.split("/", 2)
        handler = handlers.get(parts[1]) if len(parts) > 1 else None
        if handler is None:
            return web.Response(status=404, text=f"no body for {request.path}")
        return await handler(request)

    return dispatch


async def serve(stop: asyncio.Event, announce: Callable[[str], None]) -> None:
    """Serve on a free port of 127.0.0.1, tell ``announce`` its URL, and run until ``stop``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)  # 1,000 streams connect at once in the RSS scenario
    server = web.Server(
        make_dispatcher(build_handlers()), handler_cancellation=True, access_log=None
    )
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, listener, shutdown_timeout=1.0).start()
    announce(f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        await asyncio.wait_for(stop.wait(), LIFETIME_LIMIT)
    except (asyncio.TimeoutError, TimeoutError):
        pass
    finally:
        await runner.cleanup()


def main() -> None:
    facts: dict[str, object] = {
        "pinned": pin_to_cpu(SERVER_CORE),
        "open_files": raise_open_files_limit(),
    }
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def announce(url: str) -> None:
        print(json.dumps({"url": url, **facts}), flush=True)

    def wait_for_stdin_to_close() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
    try:
        loop.run_until_complete(serve(stop, announce))
    finally:
        loop.close()


class ServerProcess:
    """The runner's handle on the server: start it, read its CPU time, stop it.

    ::

        with ServerProcess() as server:
            url = server.url
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.pinned = False

    def start(self) -> ServerProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        self._process = process
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the benchmark server did not start (see its error above)")
        announced = json.loads(line)
        self.url = str(announced["url"])
        self.pinned = bool(announced["pinned"])
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def cpu_seconds(self) -> float | None:
        """The server's CPU time so far (user and system), or None where /proc is missing."""
        return process_cpu_seconds(self.pid)

    def wait_seconds(self) -> float | None:
        """The time the server has spent ready to run but waiting for its CPU, so far."""
        return process_wait_seconds(self.pid)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the server's signal to exit
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    main()
