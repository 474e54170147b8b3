"""Nothing that arrived is lost: every chunk decoded before a stream fails reaches the caller,
in order, before the error, whatever the split of the bytes across network reads; the error
carries the partial completion and the chunk count.

Two layers:

- a hypothesis property at the stream level: a real aiohttp ``StreamReader`` fed with random
  splits of N valid events followed by each kind of failure, read through ``AsyncStream`` and
  through the generated sync ``Stream`` (exact control of the reads, hundreds of examples);
- the same failures from a real server on 127.0.0.1, for both call styles, with a reader
  fast and slow (a slow reader finds the rest of the data buffered when the failure comes).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentchat import (
    APIError,
    APIResponseValidationError,
    APIStreamError,
    APITimeoutError,
    AsyncAgentClient,
    AsyncStream,
    IncompleteStreamError,
    Stream,
    Timeout,
)
from agentchat._portal import LoopThread
from agentchat._response import ResponseInfo
from agentchat.testing import FakeAgentServer
from agentchat.testing._server import ScriptedStream

from .conftest import USER, checked_out

# -- the failures ----------------------------------------------------------------------------

#: failure kind -> (the bytes that carry it, or None for a connection-level failure; the
#: error class; the server's code where it has one)
FAILURES: dict[str, tuple[bytes | None, type[APIError], str | None]] = {
    "event_error": (
        b'event: error\ndata: {"error": {"message": "overloaded", "code": "busy"}}\n\n',
        APIStreamError,
        "busy",
    ),
    "error_payload": (
        b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n',
        APIStreamError,
        "server_error",
    ),
    "do_error_payload": (
        b'data: {"id": "agent_failed", "message": "the agent failed", "request_id": "r1"}\n\n',
        APIStreamError,
        "agent_failed",
    ),
    "not_json": (b"data: {oops\n\n", APIResponseValidationError, None),
    "not_an_object": (b"data: [1, 2]\n\n", APIResponseValidationError, None),
    "mistyped": (
        b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": 5}}]}\n\n',
        APIResponseValidationError,
        None,
    ),
    "end_of_body": (None, IncompleteStreamError, None),
    "cut": (None, IncompleteStreamError, None),
    "idle_timeout": (None, APITimeoutError, None),
}

#: What a server might still send after a failure: none of it may be delivered.
AFTER = (
    b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "LATE"}}]}\n\n'
    b"data: [DONE]\n\n"
)


def words(n: int) -> list[str]:
    return [f"w{i} " for i in range(n)]


def event(content: str) -> bytes:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def body(n: int, failure: str) -> bytes:
    """N valid events, then the failure's bytes (and what a server might send after them)."""
    carried = FAILURES[failure][0]
    valid = b"".join(event(word) for word in words(n))
    return valid + carried + AFTER if carried is not None else valid


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def check_failure(
    failure: str,
    n: int,
    delivered: list[str],
    error: APIError,
    snapshot: Callable[[], Any],
) -> None:
    """Exactly the N chunks, in order, then the right error with what arrived attached."""
    _, kind, code = FAILURES[failure]
    assert delivered == words(n)
    assert type(error) is kind, repr(error)
    if code is not None:
        assert getattr(error, "code", None) == code
    assert error.chunks == n
    partial = error.partial
    assert partial is not None
    if n:
        assert partial.choices[0].message.content == "".join(words(n))
    else:
        assert partial.choices == ()
    assert snapshot() == partial


# -- the property, at the stream level ------------------------------------------------------


class _Protocol:
    """The little of aiohttp's protocol that a ``StreamReader`` touches (flow control)."""

    _reading_paused = False
    connected = True

    def pause_reading(self, **_: Any) -> None:
        self._reading_paused = True

    def resume_reading(self, **_: Any) -> None:
        self._reading_paused = False


class _Response:
    """What ``AsyncStream`` uses of an aiohttp response; records whether it was closed."""

    def __init__(self, content: aiohttp.StreamReader) -> None:
        self.content = content
        self.closed = False

    def release(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class Scenario:
    """One example: the reads the network delivers, then the failure."""

    def __init__(self, failure: str, pieces: list[bytes], eager: bool) -> None:
        self.failure = failure
        self.pieces = pieces
        self.eager = eager  # everything arrives before the first read (a slow reader)
        self.response: _Response | None = None
        self._feeder: asyncio.Task[None] | None = None

    async def open(self) -> AsyncStream:
        """The stream, made in the running loop; the reads arrive from a task."""
        loop = asyncio.get_running_loop()
        reader = aiohttp.StreamReader(_Protocol(), 2**16, loop=loop)  # type: ignore[arg-type]
        self.response = _Response(reader)
        idle = 0.02 if self.failure == "idle_timeout" else 10.0
        stream = AsyncStream(
            cast(aiohttp.ClientResponse, self.response),
            ResponseInfo(status=200, headers={}, url="memory"),
            timeout=Timeout(read=None, stream_idle=idle),
        )
        if self.eager:
            await self._feed(reader)
        else:
            self._feeder = loop.create_task(self._feed(reader))
        return stream

    async def _feed(self, reader: aiohttp.StreamReader) -> None:
        for piece in self.pieces:
            reader.feed_data(piece)
            if not self.eager:
                await asyncio.sleep(0)
        if self.failure == "cut":
            reader.set_exception(aiohttp.ClientPayloadError("Response payload is not completed"))
        elif self.failure != "idle_timeout":  # idle: the server goes quiet
            reader.feed_eof()

    async def finish(self) -> None:
        if self._feeder is not None:
            await self._feeder


scenarios = st.builds(
    lambda failure, n, cuts, eager: (failure, n, split(body(n, failure), cuts), eager),
    st.sampled_from(sorted(FAILURES)),
    st.integers(min_value=0, max_value=6),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    st.booleans(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_async_stream_delivers_every_chunk_before_the_error(
    example: tuple[str, int, list[bytes], bool],
) -> None:
    failure, n, pieces, eager = example
    scenario = Scenario(failure, pieces, eager)

    async def run() -> None:
        stream = await scenario.open()
        delivered: list[str] = []
        with pytest.raises(APIError) as caught:
            async for chunk in stream:
                delivered.append(chunk.choices[0].delta.content or "")
        check_failure(failure, n, delivered, caught.value, stream.snapshot)
        assert scenario.response is not None and scenario.response.closed
        # The failure stands: reading again raises it again, and delivers nothing more.
        with pytest.raises(type(caught.value)):
            await stream.get_final_completion()
        await scenario.finish()

    asyncio.run(run())


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread(name="test-nothing-lost")
    yield thread
    thread.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=scenarios)
def test_sync_stream_delivers_every_chunk_before_the_error(
    loop_thread: LoopThread, example: tuple[str, int, list[bytes], bool]
) -> None:
    failure, n, pieces, eager = example
    scenario = Scenario(failure, pieces, eager)
    stream = Stream(loop_thread.call(scenario.open), loop_thread)
    delivered: list[str] = []
    with pytest.raises(APIError) as caught:
        for chunk in stream:
            delivered.append(chunk.choices[0].delta.content or "")
    check_failure(failure, n, delivered, caught.value, stream.snapshot)
    assert scenario.response is not None and scenario.response.closed
    loop_thread.call(scenario.finish)


@pytest.mark.parametrize("n", [0, 3])
async def test_the_same_failure_reaches_next_batch_text_stream_and_the_final_completion(
    n: int,
) -> None:
    for read in ("next_batch", "text_stream", "get_final_completion"):
        scenario = Scenario("event_error", [body(n, "event_error")], eager=True)
        stream = await scenario.open()
        delivered: list[str] = []
        with pytest.raises(APIStreamError) as caught:
            if read == "next_batch":
                while batch := await stream.next_batch():
                    delivered += [c.choices[0].delta.content or "" for c in batch]
            elif read == "text_stream":
                async for text in stream.text_stream():
                    delivered.append(text)
            else:
                await stream.get_final_completion()
                pytest.fail("no error")
        if read == "get_final_completion":
            delivered = words(n)  # not seen one by one, but in the partial
        check_failure("event_error", n, delivered, caught.value, stream.snapshot)
        # Closed by the failure itself: no `async with` or `async for` here to close it.
        assert scenario.response is not None and scenario.response.closed, read


# -- the same, from a real server -----------------------------------------------------------


def scripted(n: int, failure: str, interval: float) -> ScriptedStream:
    carried = FAILURES[failure][0]
    events: list[Any] = [event(word).decode() for word in words(n)]
    if carried is not None:
        events += [carried, AFTER]
    return ScriptedStream(
        events=events,
        done=False,
        cut=failure == "cut",
        stall=failure == "idle_timeout",
        interval=interval,
    )


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("reader", ["fast", "slow"])
async def test_a_real_stream_delivers_every_chunk_before_the_error(
    server: FakeAgentServer,
    connect: Callable[..., AsyncAgentClient],
    failure: str,
    reader: str,
) -> None:
    """A slow reader sleeps at the first chunk while the server sends the rest and fails:
    the rest is then waiting in aiohttp's buffer when the failure is found."""
    n = 4
    server.enqueue(scripted(n, failure, interval=0.02))
    async with connect(max_retries=0, timeout=Timeout(stream_idle=0.5)) as client:
        stream = await client.agent.chat.completions.create(model="m", messages=USER, stream=True)
        delivered: list[str] = []
        with pytest.raises(APIError) as caught:
            async with stream:
                async for chunk in stream:
                    delivered.append(chunk.choices[0].delta.content or "")
                    if reader == "slow" and len(delivered) == 1:
                        await asyncio.sleep(0.3)
        check_failure(failure, n, delivered, caught.value, stream.snapshot)
        # No connection is held. One whose body was cut short is closed; one whose body had
        # ended (it all arrived, after the failure event) may stay pooled, healthy.
        assert checked_out(client) == 0
        if failure in ("cut", "idle_timeout"):
            assert await server.wait_for_connections(0, timeout=1.0)


@pytest.mark.parametrize(
    ("timeout", "says"),
    [
        (Timeout(stream_idle=0.3, read=None), "stream_idle"),
        (Timeout(stream_idle=None, read=0.3), "read timeout"),
        (Timeout(stream_idle=None, read=None, total=1.0), "total timeout"),
    ],
    ids=["idle", "read", "total"],
)
async def test_every_timeout_comes_after_the_chunks_that_arrived(
    server: FakeAgentServer,
    connect: Callable[..., AsyncAgentClient],
    timeout: Timeout,
    says: str,
) -> None:
    """The stream goes silent after four events: whichever bound fires, the four chunks come
    first and the timeout carries them."""
    server.enqueue(scripted(4, "idle_timeout", interval=0.02))
    async with connect(max_retries=0, timeout=timeout) as client:
        stream = await client.agent.chat.completions.create(model="m", messages=USER, stream=True)
        delivered: list[str] = []
        with pytest.raises(APITimeoutError, match=says) as caught:
            async with stream:
                async for chunk in stream:
                    delivered.append(chunk.choices[0].delta.content or "")
        check_failure("idle_timeout", 4, delivered, caught.value, stream.snapshot)
        assert checked_out(client) == 0


#: The failures after which a server may keep the connection open, sending nothing more.
HELD_OPEN = sorted(set(FAILURES) - {"cut", "end_of_body"})


@pytest.mark.parametrize("failure", HELD_OPEN)
@pytest.mark.parametrize("read", ["next_batch", "get_final_completion"])
async def test_a_failed_stream_closes_its_connection_at_once(
    server: FakeAgentServer, failure: str, read: str
) -> None:
    """The server holds the connection open after the failure. Read without ``async with``
    or ``async for`` (whose clean-up would close it anyway), the failure itself must close
    it, at once: not when the stream is collected, nor when the client is closed."""
    carried = FAILURES[failure][0]
    events: list[Any] = [event(word) for word in words(2)] + ([carried] if carried else [])
    server.enqueue(ScriptedStream(events=events, done=False, stall=True))
    async with server.client(max_retries=0, timeout=Timeout(stream_idle=0.2)) as client:
        stream = await client.agent.chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(FAILURES[failure][1]):
            if read == "next_batch":
                while await stream.next_batch():
                    pass
            else:
                await stream.get_final_completion()
        assert checked_out(client) == 0, "the connection is still checked out after the error"
        assert await server.wait_for_connections(0), "the connection is still open"
        assert stream.closed
