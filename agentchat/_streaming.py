"""``AsyncStream``: a streamed chat completion, read as attrs chunks.

The stream reads the response body in whatever pieces the network delivers, decodes them
with :class:`~agentchat._sse.SSEDecoder`, and converts each event into a
:class:`ChatCompletionChunk`. Only ``data: [DONE]`` ends it: a body that ends (or breaks)
before that raises :class:`IncompleteStreamError`, so a cut connection never looks like a
complete answer.

Nothing that arrived is lost: when a failure (an error event, malformed data, a cut, a
timeout) follows valid chunks, those chunks are delivered first, in order, and the error is
raised by the read after them, carrying the partial completion (``error.partial``) and the
chunk count (``error.chunks``).

Closing: leaving ``async with``, ``aclose()``, breaking out of ``async for``, an exception in
the loop body and task cancellation all close the connection (a ``break`` without ``async
with`` closes it when the abandoned iterator is finalised, right after the loop).

Reading again: what a read after the first ends does depends only on what the reader has
seen, never on how fast the server was. A stream whose reader was told its end (``async
for`` ran out, ``next_batch()`` returned ``[]``, ``get_final_completion()`` returned) is
finished: ``get_final_completion()`` and ``snapshot()`` keep returning the answer, and any
other read raises :class:`StreamConsumedError`. A stream its user closed before that (a
``break``, an exception in the loop, ``aclose()``, leaving ``async with``, a cancelled read),
even one whose ``[DONE]`` had already arrived, raises :class:`StreamClosedError` on every
read. A failure the reader was given is raised again by every read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, NoReturn, ParamSpec, TypeVar

import aiohttp

from . import _json
from ._accumulate import CompletionAccumulator
from ._errors import (
    APIError,
    APIResponseValidationError,
    APIStreamError,
    APITimeoutError,
    IncompleteStreamError,
    StreamClosedError,
    StreamConsumedError,
    parse_error_body,
    snippet,
)
from ._models._chunk import ChatCompletionChunk, ChoiceDelta, ChunkChoice, ToolCallDelta
from ._models._completion import ChatCompletion
from ._relay import SSE_DONE, sse_error, sse_frames, text_of
from ._response import ResponseInfo
from ._sse import ServerSentEvent, SSEDecoder
from ._timeouts import Timeout
from ._transport import logger

if TYPE_CHECKING:
    from ._hooks import CallEnded, CallFailed, CallStarted

__all__ = ["AsyncStream", "chunks_from_events", "chunks_of_completion"]

#: How long to wait, after ``data: [DONE]``, for the response body to end so that its
#: connection can be reused.
END_OF_BODY_GRACE = 0.25

# What the reader of a stream has been given (``AsyncStream._outcome``); ``None`` while it
# is still reading.
_ENDED = "ended"  # the end: the last chunks, then ``[]``
_FAILED = "failed"  # the stream's failure was raised to it
_CLOSED = "closed"  # its user closed the stream before either

_T = TypeVar("_T")
_P = ParamSpec("_P")


if sys.version_info >= (3, 11):

    async def _read_within(content: aiohttp.StreamReader, seconds: float) -> bytes:
        async with asyncio.timeout(seconds):
            return await content.readany()

else:  # pragma: no cover - Python 3.10

    async def _read_within(content: aiohttp.StreamReader, seconds: float) -> bytes:
        return await asyncio.wait_for(content.readany(), seconds)


class _Cut(Exception):
    """Internal: the connection broke during a read; ``unread`` holds the bytes that had
    arrived before the break and not been read yet."""

    def __init__(self, unread: bytes) -> None:
        self.unread = unread


def _unread(content: aiohttp.StreamReader) -> bytes:
    """The bytes aiohttp had received but not handed out when the connection broke.

    Once an exception is set on an aiohttp ``StreamReader``, every read raises it at once,
    even with data still buffered: without this, chunks that reached the client before a
    cut would be lost whenever the reader was slower than the network. The buffer is a
    private attribute (a deque of bytes in aiohttp 3.x); ``tests/test_streaming.py`` fails
    if a new aiohttp changes it.
    """
    buffer = getattr(content, "_buffer", None)
    if not buffer:
        return b""
    data = b"".join(buffer)
    buffer.clear()
    return data


def _reader(
    method: Callable[Concatenate[AsyncStream, _P], AsyncIterator[_T]],
) -> Callable[Concatenate[AsyncStream, _P], AsyncIterator[_T]]:
    """Mark an async generator method of :class:`AsyncStream` as a reader of the stream: the
    iterator it returns is watched (see ``AsyncStream._watch``), so that a loop over it left
    early closes the stream at once. (The sync facade's twin is a plain generator, closed
    at once by Python; this decorator is not copied to it.)"""

    @functools.wraps(method)
    def read(stream: AsyncStream, /, *args: _P.args, **kwargs: _P.kwargs) -> AsyncIterator[_T]:
        return stream._watch(method(stream, *args, **kwargs))

    return read


class AsyncStream:
    """A streamed chat completion.

    ::

        async with await client.agent.chat.completions.create(..., stream=True) as stream:
            print(stream.response.request_id)          # known before the first chunk
            async for chunk in stream:
                ...
            completion = await stream.get_final_completion()

    ``response`` has the status, headers, request id and rate limits. :meth:`snapshot` is
    the completion the chunks received so far add up to; :meth:`text_stream` yields just the
    text.
    """

    def __init__(
        self,
        response: aiohttp.ClientResponse | None,
        info: ResponseInfo,
        *,
        timeout: Timeout,
        deadline: float | None = None,
    ) -> None:
        self.response: ResponseInfo = info
        """The HTTP response: status, headers, request id and rate limits."""
        self._raw = response
        self._decoder = SSEDecoder()
        self._accumulator = CompletionAccumulator()
        self._idle = timeout.stream_idle
        self._read_timeout = timeout.read
        self._total = timeout.total
        self._deadline = deadline  # loop time by which the whole call must be done
        self._loop = asyncio.get_running_loop()
        self._wait_started: float | None = None  # when the wait for the next event began
        self._last_data = self._loop.time()  # when bytes last arrived (headers count)
        self._bound = "idle"  # which limit the current read waits for
        self._finished = response is None  # [DONE] seen (or nothing to read)
        self._closed = False  # the connection was dropped before [DONE]
        self._outcome: str | None = None  # what the reader has been given: _ENDED, ...
        # Weak references to the iterators handed out (async for, text_stream(), the
        # relays): one dropped before the end closes the stream at that moment.
        self._readers: list[weakref.ref[Any]] | None = None
        self._chunks = 0
        self._completion: ChatCompletion | None = None  # a 200 that was JSON, not a stream
        self._pending: list[ChatCompletionChunk] | None = None  # read, not yet delivered
        self._failure: APIError | None = None  # raised once the chunks before it are delivered
        # The events of the latest batch, for next_batch_raw(): kept for the first batch
        # and, once a relay has asked for them, for every batch (keeping them alive until the
        # next read costs a stream that is not relayed about 0.25% of its CPU).
        self._events: list[ServerSentEvent] | None = None
        self._keep_events = False
        # The hooks to tell how this stream ends (see _observe), until they are told.
        self._observer: _Observer | None = None

    @classmethod
    def from_completion(cls, completion: ChatCompletion, timeout: Timeout) -> AsyncStream:
        """A finished stream whose chunks are the given completion's content: what a stream
        request yields when the server answers with a plain JSON completion instead."""
        info = completion.response
        assert info is not None
        stream = cls(None, info, timeout=timeout)
        stream._completion = completion
        stream._pending = chunks_of_completion(completion)
        return stream

    # -- iteration ------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._watch(self._iterate())

    async def _iterate(self) -> AsyncIterator[ChatCompletionChunk]:
        try:
            while True:
                batch = await self.next_batch()
                if not batch:
                    return
                for chunk in batch:
                    yield chunk
        finally:
            # Reached on break, on an exception in the loop body, on cancellation and on
            # errors alike; a no-op once the end or a failure has been given.
            self._close_by_user()
            if self._observer is not None:
                await self._settle()

    def _watch(self, reader: _T) -> _T:
        """Hand out ``reader``, an iterator over this stream, noting when it is dropped.

        A loop left early (``break``, an exception in its body) drops its iterator at once,
        but the iterator's own clean-up, which closes the connection, runs a moment later as
        a task of the loop: a read in between would still find data. So a reader dropped
        before the end, started or not, closes the stream there and then (only the state
        changes here, as a finaliser must do no I/O; the connection goes with the clean-up,
        or with that next read)."""
        this = weakref.ref(self)

        def dropped(_: object) -> None:
            stream = this()
            if stream is not None and stream._outcome is None:
                stream._outcome = _CLOSED

        if self._readers is None:
            self._readers = []
        self._readers.append(weakref.ref(reader, dropped))
        return reader

    async def next_batch(self) -> list[ChatCompletionChunk]:
        """The chunks that the next network read completes (at least one), or ``[]`` once
        the stream has ended. Lower-level than ``async for``, for moving chunks in bulk.

        ``[]`` comes once: reading on after it raises :class:`~agentchat.StreamConsumedError`
        (``get_final_completion()`` and ``snapshot()`` still return the answer)."""
        batch = await self._receive()
        add = self._accumulator.add  # every chunk received is folded in, once
        for chunk in batch:
            add(chunk)
        return batch

    async def _receive(self) -> list[ChatCompletionChunk]:
        try:
            if self._outcome is not None:
                self._refuse()
            pending = self._pending
            if pending is not None:
                self._pending = None
            elif self._failure is not None:  # held back until the chunks before it were given
                self._raise_failure()
            else:
                pending = await self._read_batch()
        except BaseException as error:
            if self._observer is not None:
                await self._settle(error)
            raise
        if not pending:
            self._outcome = _ENDED
            if self._observer is not None:
                await self._settle()
        self._chunks += len(pending)
        return pending

    def _refuse(self) -> NoReturn:
        """Raise what a read gets once the reader has been given the end, a failure or a
        close."""
        if self._outcome == _FAILED:
            self._raise_failure()
        if self._outcome == _ENDED:
            raise StreamConsumedError(
                "This stream was already read to its end; use get_final_completion() or "
                "snapshot() for the answer (a stream can be iterated only once).",
                chunks=self._chunks,
            )
        self._drop_connection()  # not yet done if a dropped iterator's clean-up is pending
        raise StreamClosedError(
            f"This stream was closed by its user after {self._chunks} chunks, before its end "
            "(a break out of a loop over it, an exception in that loop, aclose()/close(), "
            "leaving its 'with' block, or a cancelled read): nothing more can be read from "
            "it. stream.snapshot() is what had arrived.",
            chunks=self._chunks,
        )

    async def prime(self) -> None:
        """Read until the first event has arrived (keeping it for the caller), so that a
        failure before it can still be retried: the request is then repeated. Once an event
        has been delivered, a failure is raised, never replayed."""
        if self._pending is None and not self._finished and self._outcome is None:
            self._pending = await self._read_batch()

    async def _read_batch(self) -> list[ChatCompletionChunk]:
        """Read until at least one chunk (or the end) arrives; the chunks, not yet counted.

        A failure found in the same read as some chunks is held back until they have been
        delivered (see :meth:`_fail_after`)."""
        while not self._finished:
            cut: BaseException | None = None
            try:
                data = await self._read()
            except _Cut as broken:  # what arrived before the break is still decoded
                data, cut = broken.unread, broken.__cause__
            except asyncio.CancelledError:
                self._close_by_user()
                raise
            if cut is not None:
                events = self._decoder.feed(data) + self._decoder.end()
            else:
                events = self._decoder.feed(data) if data else self._decoder.end()
            batch: list[ChatCompletionChunk] = []
            if events:
                self._wait_started = None  # a real event arrived: restart the idle clock
                batch, done, failure = chunks_from_events(events, self._chunks, self.response)
                if self._keep_events or not self._chunks:
                    self._events = events
                if failure is not None:
                    return self._fail_after(batch, failure)
                if done:
                    await self._finish()
                    return batch
                if batch and cut is None:
                    return batch
            if cut is not None or not data:
                return self._fail_after(batch, self._incomplete(len(batch), cut), cut)
        return []

    def _incomplete(self, more: int, cut: BaseException | None) -> IncompleteStreamError:
        """The error for a body that ended, or a connection that broke, before [DONE]."""
        chunks = self._chunks + more
        if cut is None:
            what = f"The stream ended after {chunks} chunks without 'data: [DONE]'"
            detail = ""
        else:
            what = f"The connection broke after {chunks} chunks, before 'data: [DONE]'"
            detail = f" ({str(cut) or type(cut).__name__})"  # some errors have no text
        return IncompleteStreamError(
            f"{what}: the answer is incomplete{detail}", chunks=chunks, response=self.response
        )

    async def _read(self) -> bytes:
        """The next bytes of the body; bounded by the read timeout (no bytes at all), the
        idle timeout (no event: heartbeats do not count) and the call's deadline, with one
        timer for whichever comes first."""
        assert self._raw is not None
        content = self._raw.content
        now = self._loop.time()
        if self._wait_started is None:
            self._wait_started = now
        limits = []
        if self._idle is not None:
            limits.append((self._wait_started + self._idle, "idle"))
        if self._read_timeout is not None:
            limits.append((self._last_data + self._read_timeout, "read"))
        if self._deadline is not None:
            limits.append((self._deadline, "total"))
        try:
            if not limits:
                data = await content.readany()
            else:
                limit, self._bound = min(limits)
                if limit <= now:
                    raise TimeoutError
                data = await _read_within(content, limit - now)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, RuntimeError) as exc:
            # aiohttp raises a bare RuntimeError("Connection closed.") when the session or the
            # connection went away under the reader (the client was closed mid-stream).
            raise _Cut(_unread(content)) from exc
        except (TimeoutError, asyncio.TimeoutError) as exc:  # distinct types before 3.11
            self._fail_after([], self._timeout_error(), exc)
        self._last_data = self._loop.time()
        return data

    def _timeout_error(self) -> APITimeoutError:
        if self._bound == "total":
            what = f"did not finish within its total timeout of {self._total:g} s"
        elif self._bound == "read":
            what = f"sent no data for {self._read_timeout:g} s (read timeout)"
        else:
            what = (
                f"sent no event for {self._idle:g} s (stream_idle timeout; heartbeats do not count)"
            )
        return APITimeoutError(
            f"The stream {what}, after {self._chunks} chunks", attempts=self.response.attempts
        )

    async def _finish(self) -> None:
        """[DONE] arrived: the answer is complete. Give the connection back to the pool once
        the response body has ended (its last bytes usually follow [DONE] at once; a server
        that keeps the body open longer than a moment gets its connection closed instead)."""
        raw = self._raw
        if raw is not None and not raw.content.is_eof():
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError, aiohttp.ClientError):
                await asyncio.wait_for(raw.content.wait_eof(), END_OF_BODY_GRACE)
        self._finished = True
        if raw is not None:
            if raw.content.is_eof():
                raw.release()
            else:
                raw.close()

    def _fail_after(
        self,
        batch: list[ChatCompletionChunk],
        error: APIError,
        cause: BaseException | None = None,
    ) -> list[ChatCompletionChunk]:
        """The stream failed after ``batch``: drop the connection, and return the batch so
        that it is delivered; the read after it raises ``error``. With nothing to deliver,
        raise at once."""
        if cause is not None:
            error.__cause__ = cause
        self._failure = error
        self._drop_connection()
        if not batch:
            self._raise_failure()
        return batch

    def _raise_failure(self) -> NoReturn:
        """Raise the stream's failure with what arrived before it (every chunk delivered so
        far is in the accumulator by now)."""
        error = self._failure
        assert error is not None
        if error.partial is None:
            error.partial = self.snapshot()
            error.chunks = self._chunks
        self._outcome = _FAILED
        raise error

    def _drop_connection(self) -> None:
        """Close the connection unless the stream finished normally."""
        if not self._finished and not self._closed:
            self._closed = True
            if self._raw is not None:
                self._raw.close()

    def _close_by_user(self) -> None:
        """The stream's user is done with it: unless the reader was already given the end or
        a failure, the stream is closed (every later read raises
        :class:`StreamClosedError`), whether or not ``[DONE]`` had arrived."""
        if self._outcome is None:
            self._outcome = _CLOSED
        self._drop_connection()

    async def aclose(self) -> None:
        """Close the stream and its connection. Safe to call at any time, more than once.

        Closed before its end, the stream cannot be read any further: a read raises
        :class:`~agentchat.StreamClosedError` (``snapshot()`` still returns what arrived)."""
        self._close_by_user()
        if self._observer is not None:
            await self._settle()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_by_user()
        if self._observer is not None:
            await self._settle(shield=exc is not None and not isinstance(exc, Exception))

    # -- hooks ----------------------------------------------------------------------------

    def _observe(
        self, hooks: tuple[object, ...], started: CallStarted, time_to_first_chunk: float
    ) -> None:
        """Tell ``hooks`` how this stream ends, once: read to its end (``on_response``,
        ``"complete"``), failed (``on_error`` with ``partial``), closed before its end
        (``on_response``, ``"closed"``), cancelled while reading (``on_error``, shielded), or
        dropped without being closed (``on_response``, ``"closed"``, sync hooks only, when
        it is collected). Nothing is done per chunk: only where the stream ends."""
        dropped = weakref.finalize(
            self,
            _report_dropped,
            hooks,
            started,
            time_to_first_chunk,
            self._accumulator,
            self.response,
            self._completion,
        )
        dropped.atexit = False
        self._observer = _Observer(hooks, started, time_to_first_chunk, dropped)

    async def _settle(self, error: BaseException | None = None, *, shield: bool = False) -> None:
        """Tell the hooks how the stream ended, if it has (or ``error``, a cancellation or
        an unexpected error, ended the read); once."""
        from ._hooks import CallEnded, CallFailed, call_hooks, call_hooks_now, call_hooks_shielded

        observer = self._observer
        outcome = self._outcome
        if observer is None or (outcome is None and error is None):
            return
        self._observer = None
        observer.dropped.detach()
        started = observer.started
        duration = time.monotonic() - started.started
        cancelled = error is not None and not isinstance(error, Exception)
        name = "on_error"
        event: CallEnded | CallFailed
        if error is not None and (cancelled or outcome is None):
            event = CallFailed(
                started.call_id,
                error,
                duration,
                partial=self.snapshot() if self._chunks else None,
                response=self.response,
                time_to_first_chunk=observer.time_to_first_chunk,
            )
        elif outcome == _FAILED and self._failure is not None:
            failure = self._failure
            event = CallFailed(
                started.call_id,
                failure,
                duration,
                partial=(failure.partial or self.snapshot()) if self._chunks else None,
                response=self.response,
                time_to_first_chunk=observer.time_to_first_chunk,
            )
        else:
            name = "on_response"
            event = CallEnded(
                started.call_id,
                self.snapshot(),
                self.response,
                duration,
                observer.time_to_first_chunk,
                "complete" if outcome == _ENDED else "closed",
            )
        if isinstance(error, GeneratorExit):  # a coroutine being closed cannot await
            call_hooks_now(observer.hooks, name, event)
        elif cancelled or shield:
            await call_hooks_shielded(observer.hooks, name, event)
        else:
            await call_hooks(observer.hooks, name, event)

    @property
    def closed(self) -> bool:
        """True once the stream has ended or been closed: its reader was given the end or
        its failure, or it was closed before its end. (Whether ``[DONE]`` has reached the
        client does not count: that depends on the network.)"""
        return self._outcome is not None

    @property
    def chunks_received(self) -> int:
        """How many chunks have been delivered so far."""
        return self._chunks

    @property
    def failure(self) -> APIError | None:
        """The error that ended this stream, once one has (``None`` otherwise): raised to
        the reader, or, by :meth:`sse_bytes`, sent on as an error frame and kept here for
        the service's own logs (with ``.partial`` and ``.chunks``)."""
        return self._failure

    # -- results --------------------------------------------------------------------------

    def snapshot(self) -> ChatCompletion:
        """The completion that the chunks received so far add up to: those already yielded
        and the rest of the current network read. Linear in their size: call it when
        needed rather than per chunk."""
        if self._completion is not None:
            return self._completion
        completion = self._accumulator.snapshot()
        object.__setattr__(completion, "response", self.response)
        return completion

    async def get_final_completion(self) -> ChatCompletion:
        """Read the rest of the stream and return the whole answer as a
        :class:`ChatCompletion` (with this stream's ``response`` metadata). Once the stream
        has been read to its end, it just returns the answer again."""
        if self._outcome != _ENDED:
            while await self.next_batch():
                pass
        return self.snapshot()

    @_reader
    async def text_stream(self, choice: int = 0) -> AsyncIterator[str]:
        """Yield only the text of one choice as it arrives (empty pieces skipped)."""
        async for chunk in self:
            for part in chunk.choices:
                if (part.index or 0) == choice and part.delta.content:
                    yield part.delta.content

    # -- relaying -------------------------------------------------------------------------

    async def next_batch_raw(self) -> list[tuple[ChatCompletionChunk, str]]:
        """Like :meth:`next_batch`, each chunk paired with its event data exactly as the
        server sent it (the JSON text): for passing a stream on unchanged."""
        self._keep_events = True
        batch = await self.next_batch()
        events = self._events
        if events is None:  # a JSON completion stands in for the stream
            return [(chunk, _json.dumps(chunk.to_dict()).decode()) for chunk in batch]
        # The chunks came from the batch's "message" events, in order; any after them (an
        # error, [DONE]) made no chunk, and zip stops before them.
        data = [event.data for event in events if event.event == "message"]
        return list(zip(batch, data, strict=False))

    @_reader
    async def sse_bytes(self) -> AsyncIterator[bytes]:
        """Relay this stream as server-sent events, e.g. from a web service to a browser::

            return StreamingResponse(stream.sse_bytes(), media_type="text/event-stream")

        Each chunk goes out as ``data: <json>`` exactly as the server sent it (one piece of
        bytes per network read), then ``data: [DONE]``. A failure mid-stream goes out after
        the chunks that arrived before it, as an ``event: error`` frame with
        ``{"error": {"message", "code"}}``, never as a silent end; the error is logged
        (WARNING, logger ``agentchat``) and kept in :attr:`failure`. The stream is closed
        when the relay ends or is abandoned (the browser went away).
        """
        async with self:
            try:
                while batch := await self.next_batch_raw():
                    yield sse_frames(batch)
            except APIError as error:
                # Sent on, not raised: say so in the service's log.
                logger.warning(
                    "Relayed stream failed after %d chunks (request_id=%s): %s",
                    error.chunks,
                    self.response.request_id,
                    error,
                )
                yield sse_error(error)
            else:
                yield SSE_DONE

    @_reader
    async def text_bytes(self, choice: int = 0) -> AsyncIterator[bytes]:
        """Relay only the text of one choice, as UTF-8 bytes for a ``text/plain`` response
        (one piece per network read, empty pieces skipped).

        Plain text cannot say "error": a failure mid-stream is raised after the text that
        arrived before it, so the web framework aborts the response and the reader sees it
        fail rather than end short. The stream is closed when the relay ends or is
        abandoned.
        """
        async with self:
            while batch := await self.next_batch():
                text = text_of(batch, choice)
                if text:
                    yield text.encode()

    def __repr__(self) -> str:
        # The reader's view: "finished" once it was given the end, not when [DONE] arrived.
        state = {_ENDED: "finished", _FAILED: "failed", _CLOSED: "closed"}.get(
            self._outcome or "", "open"
        )
        return f"<AsyncStream {state}, {self._chunks} chunks, response={self.response!r}>"


class _Observer:
    """The hooks a stream reports its end to, with what they need (see
    :meth:`AsyncStream._observe`)."""

    __slots__ = ("dropped", "hooks", "started", "time_to_first_chunk")

    def __init__(
        self,
        hooks: tuple[object, ...],
        started: CallStarted,
        time_to_first_chunk: float,
        dropped: weakref.finalize[..., Any],
    ) -> None:
        self.hooks = hooks
        self.started = started
        self.time_to_first_chunk = time_to_first_chunk
        self.dropped = dropped


def _report_dropped(
    hooks: tuple[object, ...],
    started: CallStarted,
    time_to_first_chunk: float,
    accumulator: CompletionAccumulator,
    response: ResponseInfo,
    completion: ChatCompletion | None,
) -> None:
    """An observed stream was collected without having been closed: tell the (sync) hooks it
    ended as closed, with what had arrived. Runs wherever the collector does: no awaiting."""
    from ._hooks import CallEnded, call_hooks_now

    try:
        if completion is None:
            completion = accumulator.snapshot()
            object.__setattr__(completion, "response", response)
        event = CallEnded(
            started.call_id,
            completion,
            response,
            time.monotonic() - started.started,
            time_to_first_chunk,
            "closed",
        )
    except Exception:  # a finaliser must not raise
        logger.warning("could not report a dropped stream to its hooks", exc_info=True)
        return
    call_hooks_now(hooks, "on_response", event)


def chunks_of_completion(completion: ChatCompletion) -> list[ChatCompletionChunk]:
    """One chunk holding a whole completion's content, as a server that streams it in one
    piece would send it (plus the usage, when the completion has one)."""
    choices = []
    for choice in completion.choices:
        message = choice.message
        tool_calls = None
        if message.tool_calls:
            tool_calls = tuple(
                ToolCallDelta(index=i, id=call.id, type=call.type, function=call.function)
                for i, call in enumerate(message.tool_calls)
            )
        delta = ChoiceDelta(
            role=message.role,
            content=message.content,
            reasoning_content=message.reasoning_content,
            refusal=message.refusal,
            tool_calls=tool_calls,
        )
        choices.append(
            ChunkChoice(
                index=choice.index,
                delta=delta,
                finish_reason=choice.finish_reason,
                logprobs=choice.logprobs,
            )
        )
    return [
        ChatCompletionChunk(
            id=completion.id,
            object="chat.completion.chunk",
            created=completion.created,
            model=completion.model,
            choices=tuple(choices),
            usage=completion.usage,
            system_fingerprint=completion.system_fingerprint,
            retrieval=completion.retrieval,
            functions=completion.functions,
            guardrails=completion.guardrails,
        )
    ]


def chunks_from_events(
    events: list[ServerSentEvent], received: int, response: ResponseInfo
) -> tuple[list[ChatCompletionChunk], bool, APIError | None]:
    """Convert decoded events into chunks.

    Returns the chunks, whether ``data: [DONE]`` was among the events (events after it are
    ignored), and the failure that stopped the conversion, if any: an
    :class:`APIStreamError` for an error the server reports in the stream, an
    :class:`APIResponseValidationError` for data that is not a chunk. The chunks before a
    failure are returned with it, so that none is lost. ``received`` counts the chunks
    before these, for messages.
    """
    structure = _chunk_hook()
    batch: list[ChatCompletionChunk] = []
    for data, kind, _, _ in events:
        if data == "[DONE]":
            return batch, True, None
        if kind != "message":
            if kind == "error":
                return batch, False, _server_error(data, response)
            continue  # other event types (pings, ...) carry no chunk
        try:
            decoded = _json.loads(data)
        except ValueError:
            return batch, False, _malformed(received + len(batch), "is not JSON", data, response)
        if type(decoded) is not dict:
            problem = "is not a JSON object"
            return batch, False, _malformed(received + len(batch), problem, data, response)
        if "choices" not in decoded and ("error" in decoded or "message" in decoded):
            return batch, False, _server_error(data, response, decoded)
        try:
            batch.append(structure(decoded, ChatCompletionChunk))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            error = _malformed(
                received + len(batch), f"has a field of an unexpected type ({exc})", data, response
            )
            error.__cause__ = exc
            return batch, False, error
    return batch, False, None


@functools.cache
def _chunk_hook() -> Callable[[Any, Any], ChatCompletionChunk]:
    """The compiled chunk structure function, made on first use rather than at import (the
    converter, cattrs with it, is imported then too: ``import agentchat`` stays cheap)."""
    from ._convert import converter

    return converter.get_structure_hook(ChatCompletionChunk)


def _server_error(data: str, response: ResponseInfo, decoded: Any = None) -> APIStreamError:
    if decoded is None:
        try:
            decoded = _json.loads(data)
        except ValueError:
            decoded = data
    message, code = parse_error_body(decoded)
    if message is None:
        message = data if isinstance(decoded, str) else snippet(data)
    return APIStreamError(message, code=code, body=decoded, response=response)


def _malformed(
    before: int, problem: str, data: str, response: ResponseInfo
) -> APIResponseValidationError:
    return APIResponseValidationError(
        f"Event {before + 1} of the stream {problem}: {snippet(data)}",
        body=data,
        response=response,
        attempts=response.attempts,
    )
