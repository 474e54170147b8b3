"""The event-loop thread behind the sync facade (hand-written support for ``_sync/``).

Each :class:`~agentchat.AgentClient` owns one :class:`LoopThread`: a daemon thread running an
asyncio loop inside an anyio :class:`~anyio.from_thread.BlockingPortal`, started on the first
call and stopped by ``close()``. Every sync method hands its coroutine to that loop with
``anyio.from_thread.run`` (the loop's token) and waits: one implementation, the async core,
serves both call styles.

- Any thread may call, several at once: the portal is thread-safe.
- Calling from the loop thread itself (from inside a coroutine the client is running) would
  deadlock, so it raises :class:`~agentchat.AgentChatError` instead.
- Calling from a thread that runs an event loop of its own (sync code inside an ``async def``,
  a notebook cell) works, but blocks that loop until the call returns: every other task of
  it waits, and a server or task on that loop that the call waits for cannot answer (a
  deadlock until a timeout fires). The first such call in the process warns
  (``RuntimeWarning``, pointing to ``AsyncAgentClient``); it cannot be told from a harmless
  one, so it is not refused.
- Ctrl-C (or any exception) while waiting cancels the call in the loop, waits for the
  cancellation to finish (so its connection is closed), and re-raises: the client stays
  usable.
- The thread is a daemon and clients still open at interpreter exit are closed by an
  ``atexit`` hook, so a forgotten ``close()`` never hangs the exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import queue
import sys
import threading
import warnings
import weakref
from asyncio import _get_running_loop
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import AgentChatError

if TYPE_CHECKING:
    import anyio
    import anyio.from_thread
    import anyio.lowlevel
    from anyio.from_thread import BlockingPortal
    from anyio.lowlevel import EventLoopToken

__all__ = ["LoopThread"]

_T = TypeVar("_T")

#: How long a cancelled call may take to wind down (close its connection) before the
#: interrupted caller gets control back anyway.
CANCEL_GRACE = 5.0

_open_threads: weakref.WeakSet[LoopThread] = weakref.WeakSet()

#: Whether a blocking call from a thread running an event loop has been warned about (once
#: per process).
_warned_blocking_a_loop = False

BLOCKING_A_LOOP = (
    "A blocking agentchat call (AgentClient, Stream, FanOut) was made from a thread that is "
    "running an asyncio event loop, for instance from inside an 'async def': that loop and "
    "every task on it are blocked until the call returns, and if what the call waits for "
    "runs on that loop (a local server, a task), it waits until a timeout fires. In async "
    "code use AsyncAgentClient and await its calls. (Warned once per process.)"
)

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _import_anyio() -> None:
    """Import anyio (the global ``anyio`` of this module) when the first loop starts, or a
    client never used is closed: not with the package, so ``from agentchat import
    AgentClient`` costs about 12 ms less (``-X importtime``)."""
    global anyio
    import anyio
    import anyio.from_thread
    import anyio.lowlevel


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
        self._portal: BlockingPortal | None = None  # owns the loop; stops it on close
        self._token: EventLoopToken | None = None  # how other threads reach the loop
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        return self._token is not None

    def call(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        """Await ``fn()`` in the loop and return its result (or raise its exception)."""
        token = self._enter()
        if not _warned_blocking_a_loop and _get_running_loop() is not None:
            _warn_blocking_a_loop()
        tasks: list[asyncio.Task[Any]] = []
        try:
            # One round trip: the portal's own call()/start_task_soon() first wait for the
            # loop to spawn the task, which doubled the cost of a sync call.
            return anyio.from_thread.run(_run, fn, tasks, token=token)
        except BaseException:
            if tasks and not tasks[0].done():
                # Interrupted while waiting (Ctrl-C): cancel the call in the loop, and let it
                # finish closing its connection before giving the caller control back.
                with contextlib.suppress(BaseException):
                    anyio.from_thread.run(_cancel_and_wait, tasks[0], token=token)
            raise

    def call_sync(self, fn: Callable[[], _T]) -> _T:
        """Run the plain function ``fn`` in the loop thread, where the objects it touches
        live, and return its result."""
        return anyio.from_thread.run_sync(fn, token=self._enter())

    def enter_context(
        self, context: AbstractAsyncContextManager[Any]
    ) -> AbstractContextManager[Any]:
        """Enter an async context manager in a task of the loop that stays until the returned
        context manager is exited (what anyio's portal does for task groups)."""
        self._enter()
        assert self._portal is not None
        blocking = self._portal.wrap_async_context_manager(context)
        blocking.__enter__()
        return blocking

    def _enter(self) -> EventLoopToken:
        """The loop's token, starting the loop on first use; refuses its own thread."""
        token = self._token or self._start()
        if threading.current_thread() is self._thread:
            raise AgentChatError(
                "A sync agentchat client was called from its own event-loop thread, which "
                "would deadlock. Inside async code, use AsyncAgentClient instead."
            )
        return token

    def close(self) -> None:
        """Run ``on_close`` (the client's ``aclose``) in the loop, then stop the loop and join
        its thread. Safe to call more than once, and from an ``atexit`` hook."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            portal, self._portal = self._portal, None
            thread, self._thread = self._thread, None
            self._token = None
        _open_threads.discard(self)
        if portal is None or thread is None:
            if self._on_close is not None:
                # Never used: close the client anyway (it then refuses further calls).
                _import_anyio()
                anyio.run(self._on_close, backend="asyncio")
            return
        try:
            if self._on_close is not None:
                portal.call(self._on_close)
        finally:
            portal.call(portal.stop)
            thread.join(timeout=CANCEL_GRACE)

    def _start(self) -> EventLoopToken:
        with self._lock:
            if self._closed:
                raise AgentChatError("This client has been closed; create a new one.")
            if self._token is None:
                _import_anyio()
                ready: queue.SimpleQueue[tuple[BlockingPortal, EventLoopToken] | BaseException]
                ready = queue.SimpleQueue()
                thread = threading.Thread(
                    target=_run_loop, args=(ready,), name=self._name, daemon=True
                )
                thread.start()
                started = ready.get()
                if isinstance(started, BaseException):
                    raise started
                self._thread = thread
                self._portal, self._token = started
                _open_threads.add(self)
            return self._token


def _warn_blocking_a_loop() -> None:
    """Warn, once per process, that a blocking call blocks the caller's own event loop; the
    warning points at the caller's line (the first frame outside agentchat)."""
    global _warned_blocking_a_loop
    _warned_blocking_a_loop = True
    level, frame = 1, sys._getframe()
    while frame.f_code.co_filename.startswith(_PACKAGE) and frame.f_back is not None:
        level, frame = level + 1, frame.f_back
    warnings.warn(BLOCKING_A_LOOP, RuntimeWarning, stacklevel=level)


def _run_loop(
    ready: queue.SimpleQueue[tuple[BlockingPortal, EventLoopToken] | BaseException],
) -> None:
    async def main() -> None:
        async with anyio.from_thread.BlockingPortal() as portal:
            ready.put((portal, anyio.lowlevel.current_token()))
            await portal.sleep_until_stopped()

    try:
        anyio.run(main, backend="asyncio")  # aiohttp needs asyncio
    except BaseException as exc:  # pragma: no cover - the loop failed to start
        ready.put(exc)


async def _run(fn: Callable[[], Awaitable[_T]], tasks: list[asyncio.Task[Any]]) -> _T:
    task = asyncio.current_task()
    if task is not None:
        tasks.append(task)  # so that an interrupted caller can cancel it
    return await fn()


async def _cancel_and_wait(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with anyio.move_on_after(CANCEL_GRACE):
        await asyncio.wait({task})


@atexit.register
def _close_open_threads() -> None:
    for loop_thread in list(_open_threads):
        loop_thread.close()
