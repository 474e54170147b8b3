"""``AsyncStream``: a streamed chat completion, read as attrs chunks.

The stream reads the response body in whatever pieces the network delivers, decodes them
with :class:`~agentchat._sse.SSEDecoder`, and converts each event into a
:class:`ChatCompletionChunk`. Only ``data: [DONE]`` ends it: a body that ends (or breaks)
before that raises :class:`IncompleteStreamError`, so a cut connection never looks like a
complete answer.

Closing: leaving ``async with``, ``aclose()``, breaking out of ``async for``, an exception in
the loop body and task cancellation all close the connection (a ``break`` without ``async
with`` closes it when the abandoned iterator is finalised, right after the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, NoReturn

import aiohttp

from . import _json
from ._accumulate import CompletionAccumulator
from ._convert import converter
from ._errors import (
    AgentChatError,
    APIError,
    APIResponseValidationError,
    APIStreamError,
    APITimeoutError,
    IncompleteStreamError,
    parse_error_body,
    snippet,
)
from ._models._chunk import ChatCompletionChunk, ChoiceDelta, ChunkChoice, ToolCallDelta
from ._models._completion import ChatCompletion
from ._response import ResponseInfo
from ._sse import ServerSentEvent, SSEDecoder
from ._timeouts import Timeout

__all__ = ["AsyncStream", "chunks_from_events", "chunks_of_completion"]

#: How long to wait, after ``data: [DONE]``, for the response body to end so that its
#: connection can be reused.
END_OF_BODY_GRACE = 0.25


if sys.version_info >= (3, 11):

    async def _read_within(content: aiohttp.StreamReader, seconds: float) -> bytes:
        async with asyncio.timeout(seconds):
            return await content.readany()

else:  # pragma: no cover - Python 3.10

    async def _read_within(content: aiohttp.StreamReader, seconds: float) -> bytes:
        return await asyncio.wait_for(content.readany(), seconds)


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
        self._chunks = 0
        self._completion: ChatCompletion | None = None  # a 200 that was JSON, not a stream
        self._pending: list[ChatCompletionChunk] | None = None  # chunks of that completion

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
        return self._iterate()

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
            # errors alike; a no-op once [DONE] has been seen.
            self._drop_connection()

    async def next_batch(self) -> list[ChatCompletionChunk]:
        """The chunks that the next network read completes (at least one), or ``[]`` once
        the stream has ended. Lower-level than ``async for``, for moving chunks in bulk."""
        batch = await self._receive()
        add = self._accumulator.add  # every chunk received is folded in, once
        for chunk in batch:
            add(chunk)
        return batch

    async def _receive(self) -> list[ChatCompletionChunk]:
        pending = self._pending
        if pending is not None:
            self._pending = None
        elif self._closed:
            raise AgentChatError("This stream was closed before it finished.")
        else:
            pending = await self._read_batch()
        self._chunks += len(pending)
        return pending

    async def prime(self) -> None:
        """Read until the first event has arrived (keeping it for the caller), so that a
        failure before it can still be retried: the request is then repeated. Once an event
        has been delivered, a failure is raised, never replayed."""
        if self._pending is None and not self._finished:
            self._pending = await self._read_batch()

    async def _read_batch(self) -> list[ChatCompletionChunk]:
        """Read until at least one chunk (or the end) arrives; the chunks, not yet counted."""
        while not self._finished:
            try:
                data = await self._read()
            except asyncio.CancelledError:
                self._drop_connection()
                raise
            events = self._decoder.feed(data) if data else self._decoder.end()
            if events:
                self._wait_started = None  # a real event arrived: restart the idle clock
                try:
                    batch, done = chunks_from_events(events, self._chunks, self.response)
                except APIError as error:
                    self._fail(error)
                if done:
                    await self._finish()
                if batch:
                    return batch
            elif not data:
                self._fail(
                    IncompleteStreamError(
                        f"The stream ended after {self._chunks} chunks without 'data: [DONE]': "
                        "the answer is incomplete",
                        chunks=self._chunks,
                        response=self.response,
                    )
                )
        return []

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
            self._fail(
                IncompleteStreamError(
                    f"The connection broke after {self._chunks} chunks, before 'data: [DONE]': "
                    f"the answer is incomplete ({exc or type(exc).__name__})",
                    chunks=self._chunks,
                    response=self.response,
                ),
                exc,
            )
        except (TimeoutError, asyncio.TimeoutError) as exc:  # distinct types before 3.11
            self._fail(self._timeout_error(), exc)
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

    def _fail(self, error: APIError, cause: BaseException | None = None) -> NoReturn:
        self._drop_connection()
        raise error from cause

    def _drop_connection(self) -> None:
        """Close the connection unless the stream finished normally."""
        if not self._finished and not self._closed:
            self._closed = True
            if self._raw is not None:
                self._raw.close()

    async def aclose(self) -> None:
        """Close the stream and its connection. Safe to call at any time, more than once."""
        self._drop_connection()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._drop_connection()

    @property
    def closed(self) -> bool:
        """True once the stream has ended or been closed."""
        return self._finished or self._closed

    @property
    def chunks_received(self) -> int:
        """How many chunks have been delivered so far."""
        return self._chunks

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
        :class:`ChatCompletion` (with this stream's ``response`` metadata)."""
        while await self.next_batch():
            pass
        return self.snapshot()

    async def text_stream(self, choice: int = 0) -> AsyncIterator[str]:
        """Yield only the text of one choice as it arrives (empty pieces skipped)."""
        async for chunk in self:
            for part in chunk.choices:
                if (part.index or 0) == choice and part.delta.content:
                    yield part.delta.content

    def __repr__(self) -> str:
        state = "finished" if self._finished else "closed" if self._closed else "open"
        return f"<AsyncStream {state}, {self._chunks} chunks, response={self.response!r}>"


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
) -> tuple[list[ChatCompletionChunk], bool]:
    """Convert decoded events into chunks; the flag says ``data: [DONE]`` was among them
    (events after it are ignored). ``received`` counts the chunks before these, for messages.

    Raises :class:`APIStreamError` for an error the server reports in the stream and
    :class:`APIResponseValidationError` for data that is not a chunk.
    """
    structure = _chunk_hook()
    batch: list[ChatCompletionChunk] = []
    for data, kind, _, _ in events:
        if data == "[DONE]":
            return batch, True
        if kind != "message":
            if kind == "error":
                raise _server_error(data, response)
            continue  # other event types (pings, ...) carry no chunk
        try:
            decoded = _json.loads(data)
        except ValueError:
            raise _malformed(received + len(batch), "is not JSON", data, response) from None
        if type(decoded) is not dict:
            raise _malformed(received + len(batch), "is not a JSON object", data, response)
        if "choices" not in decoded and ("error" in decoded or "message" in decoded):
            raise _server_error(data, response, decoded)
        try:
            batch.append(structure(decoded, ChatCompletionChunk))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            problem = f"has a field of an unexpected type ({exc})"
            raise _malformed(received + len(batch), problem, data, response) from exc
    return batch, False


@functools.cache
def _chunk_hook() -> Callable[[Any, Any], ChatCompletionChunk]:
    """The compiled chunk structure function, made on first use rather than at import."""
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
