"""The event-loop thread behind the sync facade (hand-written support for ``_sync/``).

Each :class:`~agentchat.AgentClient` owns one :class:`LoopThread`: a daemon thread running an
asyncio loop with an anyio :class:`~anyio.from_thread.BlockingPortal`, started on the first
call and stopped by ``close()``. Every sync method hands its coroutine to that loop and waits:
one implementation, the async core, serves both call styles.

- Any thread may call, several at once: the portal is thread-safe.
- A program that already runs a loop in its main thread (a notebook) is fine: this loop is
  another thread's.
- Calling from the loop thread itself (from inside a coroutine the client is running) would
  deadlock, so it raises :class:`~agentchat.AgentChatError` instead.
- Ctrl-C (or any exception) while waiting cancels the call in the loop, waits for the
  cancellation to finish (so its connection is closed), and re-raises: the client stays
  usable.
- The thread is a daemon and clients still open at interpreter exit are closed by an
  ``atexit`` hook, so a forgotten ``close()`` never hangs the exit.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from ._errors import AgentChatError

__all__ = ["LoopThread"]

_T = TypeVar("_T")

#: How long a cancelled call may take to wind down (close its connection) before the
#: interrupted caller gets control back anyway.
CANCEL_GRACE = 5.0

_open_threads: weakref.WeakSet[LoopThread] = weakref.WeakSet()


class LoopThread:
    """An asyncio loop in a daemon thread, started on first use, and a portal into it."""

    def __init__(
        self,
        on_close: Callable[[], Awaitable[Any]] | None = None,
        name: str = "agentchat-loop",
    ) -> None:
        self._on_close = on_close  # run in the loop by close(): the client's aclose
        self._name = name
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        return self._portal is not None

    def call(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        """Await ``fn()`` in the loop and return its result (or raise its exception)."""
        result: _T = self._wait(_guarded, fn)
        return result

    def call_sync(self, fn: Callable[[], _T]) -> _T:
        """Run the plain function ``fn`` in the loop thread, where the objects it touches
        live, and return its result."""
        result: _T = self._wait(_guarded_sync, fn)
        return result

    def _wait(self, runner: Callable[..., Awaitable[_T]], fn: Callable[[], Any]) -> _T:
        portal = self._portal or self._start()
        if threading.current_thread() is self._thread:
            raise AgentChatError(
                "A sync agentchat client was called from its own event-loop thread, which "
                "would deadlock. Inside async code, use AsyncAgentClient instead."
            )
        scopes: list[anyio.CancelScope] = []
        future: Future[_T] = portal.start_task_soon(runner, fn, scopes)
        try:
            result: _T = future.result()
            return result
        except BaseException:
            if not future.done():
                # Interrupted while waiting (Ctrl-C): cancel the call in the loop, and let it
                # finish closing its connection before giving the caller control back.
                portal.call(_cancel, scopes)
                with contextlib.suppress(BaseException):  # its outcome no longer matters
                    future.result(timeout=CANCEL_GRACE)
            raise

    def close(self) -> None:
        """Run ``on_close`` (the client's ``aclose``) in the loop, then stop the loop and join
        its thread. Safe to call more than once, and from an ``atexit`` hook."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            portal, self._portal = self._portal, None
            thread, self._thread = self._thread, None
        _open_threads.discard(self)
        if portal is None or thread is None:
            if self._on_close is not None:
                # Never used: close the client anyway (it then refuses further calls).
                anyio.run(self._on_close, backend="asyncio")
            return
        try:
            if self._on_close is not None:
                portal.call(self._on_close)
        finally:
            portal.call(portal.stop)
            thread.join(timeout=CANCEL_GRACE)

    def _start(self) -> BlockingPortal:
        with self._lock:
            if self._closed:
                raise AgentChatError("This client has been closed; create a new one.")
            if self._portal is None:
                ready: queue.SimpleQueue[BlockingPortal | BaseException] = queue.SimpleQueue()
                thread = threading.Thread(
                    target=_run_loop, args=(ready,), name=self._name, daemon=True
                )
                thread.start()
                started = ready.get()
                if isinstance(started, BaseException):
                    raise started
                self._thread = thread
                self._portal = started
                _open_threads.add(self)
            return self._portal


def _run_loop(ready: queue.SimpleQueue[BlockingPortal | BaseException]) -> None:
    async def main() -> None:
        async with BlockingPortal() as portal:
            ready.put(portal)
            await portal.sleep_until_stopped()

    try:
        anyio.run(main, backend="asyncio")  # aiohttp needs asyncio
    except BaseException as exc:  # pragma: no cover - the loop failed to start
        ready.put(exc)


async def _guarded(fn: Callable[[], Awaitable[_T]], scopes: list[anyio.CancelScope]) -> _T:
    with anyio.CancelScope() as scope:
        scopes.append(scope)
        return await fn()
    # Only reached when cancelled from the caller's thread, which no longer waits for this.
    raise anyio.get_cancelled_exc_class()


async def _guarded_sync(fn: Callable[[], _T], scopes: list[anyio.CancelScope]) -> _T:
    return fn()


def _cancel(scopes: list[anyio.CancelScope]) -> None:
    for scope in scopes:
        scope.cancel()


@atexit.register
def _close_open_threads() -> None:
    for loop_thread in list(_open_threads):
        loop_thread.close()
