"""Fan-out: many chat completions with bounded, paced concurrency, and one outcome per input.

::

    async with client.agent.chat.completions.create_many(requests, max_concurrency=64) as results:
        async for outcome in results:          # input order (ordered=False: as completed)
            print(outcome.index, outcome.completion or outcome.error)

- The input (any iterable or async iterable of ``create()`` keyword dicts, or :class:`Request`
  objects carrying an id) is read lazily, only as workers free up, so a million inputs take
  no more memory than a hundred. At most ``max_buffered`` outcomes wait (in input order, for
  an earlier one; otherwise for the caller to read them): by default the larger of 1,024 and
  16 x ``max_concurrency``, so that one slow request does not stall the rest.
- Every input ends as exactly one :class:`Outcome`: its completion, or the error that ended
  it (after the transport's retries). Nothing is dropped or run twice. ``fail_fast=True``
  stops at the first error instead and raises it.
- Workers are anyio tasks in one task group; leaving the ``async with`` (or cancelling the
  task that iterates) cancels the requests in flight and closes their connections; the
  outcomes already received are the caller's.
- Pacing (adaptive concurrency, 429 pauses, ``ratelimit-*`` headers, the caller's
  requests- and tokens-per-minute) is :class:`~agentchat._pacing.Pacer`'s.
- Streamed requests (``stream=True``) are accumulated into completions, with their chunks
  kept on the outcome when ``keep_chunks=True``.
- An input whose ``tools`` hold functions (:class:`~agentchat.FunctionTool` objects or plain
  functions) is a whole tool run (``run_tools()``'s keywords): every round of it is paced
  like any other request, and its outcome carries the :class:`~agentchat.ToolRunResult`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import AgentChatError, InvalidRequestError
from ._models._base import Model
from ._models._chunk import ChatCompletionChunk
from ._models._completion import ChatCompletion
from ._pacing import Pacer
from ._streaming import AsyncStream
from ._transport import current_pacing

if TYPE_CHECKING:
    from ._resources._completions import _AsyncCompletionsBase
    from ._tools._runner import ToolRunResult

__all__ = ["AsyncFanOut", "Outcome", "Progress", "Request", "RequestsInput"]

#: The smallest default ``max_buffered``: outcomes that may wait in input order.
MIN_DEFAULT_BUFFERED = 1024


@attrs.frozen
class Request:
    """One input of a fan-out: the keyword arguments of ``create()``, and an id of the
    caller's that the outcome carries back (a ``custom_id``)."""

    params: Mapping[str, Any]
    id: str | None = None


RequestsInput = Iterable[Mapping[str, Any] | Request] | AsyncIterable[Mapping[str, Any] | Request]


@attrs.frozen
class Outcome:
    """What became of one input: ``completion`` or ``error``, never both.

    ``index`` is the input's position, ``id`` its :class:`Request` id (``None`` for a plain
    dict). ``chunks`` holds a streamed request's chunks when ``keep_chunks=True``.
    ``tool_run`` is the :class:`~agentchat.ToolRunResult` of an input whose ``tools`` hold
    functions to run (its ``completion`` is then the run's final answer).
    """

    index: int
    id: str | None
    completion: ChatCompletion | None = None
    error: Exception | None = None
    chunks: tuple[ChatCompletionChunk, ...] | None = None
    tool_run: ToolRunResult | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> ChatCompletion:
        """The completion, or raise the error that ended this input."""
        if self.error is not None:
            raise self.error
        assert self.completion is not None
        return self.completion


@attrs.frozen
class Progress:
    """Counts of a running fan-out, for progress callbacks and bars.

    - ``done``: inputs that succeeded (ended with a completion). Failures are not in it.
    - ``failed``: inputs that ended with an error (after the transport's retries).
    - ``finished`` (``done + failed``): inputs that have their outcome, either way.
    - ``in_flight``: requests being sent or awaited now.
    - ``elapsed``: seconds since the fan-out started.
    - ``tokens``: tokens used so far, from the completions' usage.
    - ``concurrency``: how many requests may be in flight at once now (it adapts).
    - ``rate_limited``: 429 answers received so far (a 429 is retried; the input fails only
      if its retries run out).
    """

    done: int
    failed: int
    in_flight: int
    elapsed: float
    tokens: int
    concurrency: int
    rate_limited: int

    @property
    def finished(self) -> int:
        """Inputs that have their outcome: succeeded (``done``) or ``failed``."""
        return self.done + self.failed

    @property
    def rate(self) -> float:
        """Finished inputs (succeeded or failed) per second so far."""
        return self.finished / self.elapsed if self.elapsed > 0 else 0.0


class AsyncFanOut:
    """A running fan-out: an async context manager and an async iterator of
    :class:`Outcome` (see the module docstring). Made by ``completions.create_many()``."""

    def __init__(
        self,
        completions: _AsyncCompletionsBase,
        requests: RequestsInput,
        *,
        max_concurrency: int = 16,
        ordered: bool = True,
        fail_fast: bool = False,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        adaptive: bool = True,
        keep_chunks: bool = False,
        max_buffered: int | None = None,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> None:
        _positive("max_concurrency", max_concurrency)
        if requests_per_minute is not None:
            _positive("requests_per_minute", requests_per_minute)
        if tokens_per_minute is not None:
            _positive("tokens_per_minute", tokens_per_minute)
        self._completions = completions
        # A sync iterable is read with next(): no async generator around it for every input.
        self._input: Iterator[Any] | AsyncIterator[Any] = _input(requests)
        self._ordered = ordered
        self._fail_fast = fail_fast
        self._keep_chunks = keep_chunks
        # At most this many outcomes wait: for an earlier one (ordered), or for the caller.
        # Generous by default: in input order, one slow or retried request holds back all
        # that finish after it, and once this window is full every worker stops. Retries
        # with a few backoffs take several round trips, so a window of a few round trips'
        # worth of outcomes stalls the whole fan-out, again and again.
        self._window = (
            max_buffered
            if max_buffered is not None
            else max(MIN_DEFAULT_BUFFERED, 16 * max_concurrency)
        )
        _positive("max_buffered", self._window)
        self._on_progress = on_progress
        self.pacer: Pacer = Pacer(
            max_concurrency,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            adaptive=adaptive,
        )
        # Bounded: a caller who reads slowly holds the workers back, and so the input.
        send, receive = anyio.create_memory_object_stream[Outcome](max_buffer_size=self._window)
        self._send: MemoryObjectSendStream[Outcome] = send
        self._receive: MemoryObjectReceiveStream[Outcome] = receive
        self._input_lock = anyio.Lock()
        self._next_index = 0
        self._next_out = 0  # ordered: the index the caller gets next
        self._held: dict[int, Outcome] = {}  # ordered: finished, waiting for earlier ones
        self._emit_lock = anyio.Lock()  # ordered: one worker at a time hands outcomes out
        self._slot_freed = anyio.Event()
        self._exhausted = False
        self._closed = False
        self._failure: Exception | None = None
        self._task_group: TaskGroup | None = None  # runs _run; entered by __aenter__
        # Cancels the workers only: the task group's own scope also covers the caller's
        # code inside `async with`, which stopping the fan-out must not cancel.
        self._workers_scope = anyio.CancelScope()
        self._started = 0.0
        self._done = 0
        self._failed = 0
        self._tokens = 0

    # -- the context manager runs the workers ----------------------------------------------

    async def __aenter__(self) -> AsyncFanOut:
        self._started = time.monotonic()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return None
        # Leaving early (break, an error, cancellation) cancels what is still running. The
        # workers never raise (a failure is an outcome), so the task group is left without
        # the caller's exception, which then propagates as it is, not in an ExceptionGroup.
        self._workers_scope.cancel()
        try:
            await task_group.__aexit__(None, None, None)
        finally:
            self._receive.close()
        return None

    async def aclose(self) -> None:
        """Stop: cancel the requests in flight and close their connections."""
        self._closed = True
        self._workers_scope.cancel()

    @property
    def closed(self) -> bool:
        """True once every outcome has been handed out, or the fan-out was stopped."""
        return self._closed

    # -- outcomes ----------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Outcome]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Outcome]:
        while True:
            batch = await self.next_batch()
            if not batch:
                return
            for outcome in batch:
                yield outcome

    async def next_batch(self) -> list[Outcome]:
        """The outcomes ready now (at least one), or ``[]`` when every input has one."""
        if self._task_group is None:
            raise AgentChatError(
                "Use the fan-out as a context manager: `async with ... as results`"
            )
        try:
            batch = [await self._receive.receive()]
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._closed = True
            if self._failure is not None:
                raise self._failure from None
            return []
        while True:
            try:
                batch.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                return batch

    @property
    def progress(self) -> Progress:
        """The counts so far."""
        return Progress(
            done=self._done,
            failed=self._failed,
            in_flight=self.pacer.in_flight,
            elapsed=time.monotonic() - self._started if self._started else 0.0,
            tokens=self._tokens,
            concurrency=self.pacer.concurrency,
            rate_limited=self.pacer.rate_limited,
        )

    # -- the workers -------------------------------------------------------------------------

    async def _run(self) -> None:
        current_pacing.set(self.pacer)  # inherited by the workers' tasks
        try:
            with self._workers_scope:
                async with anyio.create_task_group() as workers:
                    for _ in range(self.pacer.max_concurrency):
                        workers.start_soon(self._work)
        finally:
            self._send.close()

    async def _work(self) -> None:
        # What this worker holds the limiter's token for: the limiter counts it rather than
        # the task, so taking and giving back a token does not look the task up each time.
        worker = object()
        while True:
            taken = await self._take()
            if taken is None:
                return
            index, params, id_ = taken
            limiter = self.pacer.limiter
            try:
                limiter.acquire_on_behalf_of_nowait(worker)
            except anyio.WouldBlock:
                await limiter.acquire_on_behalf_of(worker)
            self.pacer.in_flight += 1
            try:
                outcome = await self._execute(index, params, id_)
            finally:
                self.pacer.in_flight -= 1
                limiter.release_on_behalf_of(worker)
            if outcome.error is not None and self._fail_fast:
                self._failure = outcome.error
                self._workers_scope.cancel()
            await self._deliver(outcome)

    async def _take(self) -> tuple[int, Mapping[str, Any], str | None] | None:
        """The next input (its index, ``create()`` keywords and id), read lazily; in ordered
        mode, not more than ``window`` ahead of the next outcome the caller is waiting for."""
        await _acquire(self._input_lock)
        try:
            if self._exhausted:
                return None
            while self._ordered and self._next_index >= self._next_out + self._window:
                self._slot_freed = anyio.Event()
                await self._slot_freed.wait()
            source = self._input
            if isinstance(source, Iterator):
                item = next(source, _END)
            else:
                try:
                    item = await source.__anext__()
                except StopAsyncIteration:
                    item = _END
            if item is _END:
                self._exhausted = True
                return None
            index = self._next_index
            self._next_index += 1
        finally:
            self._input_lock.release()
        if type(item) is dict or (isinstance(item, Mapping) and not isinstance(item, Model)):
            return index, item, None  # models read as Mappings, but are not create() keywords
        if isinstance(item, Request):
            return index, item.params, item.id
        return index, {"__invalid__": item}, None

    async def _execute(self, index: int, params: Mapping[str, Any], id_: str | None) -> Outcome:
        tool_run: ToolRunResult | None = None
        try:
            if "__invalid__" in params:
                raise InvalidRequestError(
                    f"requests[{index}]",
                    params["__invalid__"],
                    "a dict of create() arguments or an agentchat Request is required",
                )
            tools = params.get("tools")
            if isinstance(tools, (list, tuple)) and any(callable(tool) for tool in tools):
                # Functions to run (FunctionTool objects are callable): a tool run.
                from ._tools._runner import complete_tool_run  # loaded only when used

                tool_run = await complete_tool_run(self._completions, params)
                result: ChatCompletion | AsyncStream = tool_run.completion
            else:
                result = await self._completions.create(**params)
            chunks: tuple[ChatCompletionChunk, ...] | None = None
            if isinstance(result, AsyncStream):
                async with result:
                    if self._keep_chunks:
                        chunks = tuple([chunk async for chunk in result])
                    completion = await result.get_final_completion()
            else:
                completion = result
        except Exception as error:  # every failure becomes this input's outcome
            return Outcome(index=index, id=id_, error=error)
        usage = tool_run.usage if tool_run is not None else completion.usage
        if usage is not None and usage.total_tokens:
            self._tokens += usage.total_tokens
            self.pacer.record_tokens(usage.total_tokens)
        return Outcome(index=index, id=id_, completion=completion, chunks=chunks, tool_run=tool_run)

    async def _deliver(self, outcome: Outcome) -> None:
        if outcome.error is None:
            self._done += 1
        else:
            self._failed += 1
        if self._on_progress is not None:
            self._on_progress(self.progress)
        if not self._ordered:
            await self._put(outcome)
            return
        self._held[outcome.index] = outcome
        if outcome.index != self._next_out:
            # Not the next one: whoever delivers that one (or is handing outcomes out now)
            # hands this one out after it, so only that worker needs the lock.
            return
        await _acquire(self._emit_lock)  # a send may wait: keep the order across workers
        try:
            while self._next_out in self._held:
                ready = self._held.pop(self._next_out)
                self._next_out += 1
                self._slot_freed.set()
                await self._put(ready)
        finally:
            self._emit_lock.release()

    async def _put(self, outcome: Outcome) -> None:
        try:
            self._send.send_nowait(outcome)
        except anyio.WouldBlock:  # the caller is behind: wait for room
            await self._send.send(outcome)


async def _acquire(lock: anyio.Lock) -> None:
    """Take it at once when free: anyio's awaitable acquire always goes once through the
    event loop, which for thousands of quick requests costs more than the requests."""
    try:
        lock.acquire_nowait()
    except anyio.WouldBlock:
        await lock.acquire()


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequestError(name, value, "an integer >= 1 is required")


#: What ``_take`` reads at the end of the input.
_END: Any = object()


def _input(requests: RequestsInput) -> Iterator[Any] | AsyncIterator[Any]:
    """An iterator over ``requests``: async if it is async iterable, else sync."""
    if isinstance(requests, AsyncIterable):
        return requests.__aiter__()
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(requests, Iterable):
        raise InvalidRequestError(
            "requests", requests, "an iterable or async iterable of create() argument dicts"
        )
    return iter(requests)
