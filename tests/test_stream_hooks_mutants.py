"""``AsyncStream``: what a stream tells its hooks when it ends, and when it must not, and the
details of its end found untested by mutation testing of ``agentchat/_streaming.py``
(``_observe``, ``_settle``, ``__aexit__``, ``prime``, ``_drop_connection``,
``chunks_from_events``).

- The reader's view decides the report: a failure that had arrived but was never given to the
  reader does not make a stream closed by that reader "failed".
- Which hook calls are shielded from a cancellation: only those of a cancelled read or of an
  ``async with`` block left by a cancellation; a close, a normal exit from ``async with``, an
  exit by an exception and the end of a read are not, so a deadline that expires while an
  async hook awaits still ends the call there.
- ``prime()`` on a stream that is already primed, closed or failed reads nothing.
- The connection is given back to the pool or closed once, however often the stream is closed.
- Events that are not chunks: their exact errors; chunks with a ``message``/``error`` field.
- A stream still open at interpreter exit is not reported then (a child process).

Real servers on 127.0.0.1 (the fake agent), or a real aiohttp ``StreamReader`` fed by hand
where the test must see what is done with the connection.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import textwrap
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from agentchat import (
    APIResponseValidationError,
    APIStreamError,
    AsyncAgentClient,
    CallEnded,
    CallFailed,
    Hooks,
    IncompleteStreamError,
    StreamClosedError,
    Timeout,
)
from agentchat.testing import FakeAgentServer

from .conftest import open_stream
from .test_streaming_mutants import Told, _Response, chunk_dict, event, memory_stream

ROOT = Path(__file__).resolve().parents[1]


# -- a failure that arrived but was never read ------------------------------------------------


@pytest.mark.parametrize("how", ["aclose", "break_in_async_with"])
async def test_a_stream_closed_before_its_failure_was_read_is_told_closed(
    server: FakeAgentServer, how: str
) -> None:
    """The error event comes in the same network read as the chunk before it: the stream
    knows its failure (``stream.failure``) but holds it back until that chunk is read. A
    reader that closes the stream first was never given the failure, so the hooks are told
    what a close is told (``on_response``, ``"closed"``, with what was read), exactly as if
    the error had come a moment later."""
    told = Told()
    error = 'event: error\ndata: {"error": {"message": "busy"}}\n\n'
    first = f"data: {json.dumps(chunk_dict('Hi'))}\n\n"
    server.stream(events=[first + error], done=False)  # one write: one network read
    async with server.client(hooks=[told], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        assert isinstance(stream.failure, APIStreamError)  # arrived with the first chunk
        if how == "aclose":
            assert [c.choices[0].delta.content for c in await stream.next_batch()] == ["Hi"]
            await stream.aclose()
        else:
            async with stream:
                async for chunk in stream:
                    assert chunk.choices[0].delta.content == "Hi"
                    break
        started, ended = told.ended("on_response")
    assert isinstance(ended, CallEnded)
    assert ended.call_id == started.call_id
    assert ended.outcome == "closed"
    assert ended.completion.choices[0].message.content == "Hi"
    with pytest.raises(StreamClosedError):
        await stream.next_batch()


# -- shielded or not: a deadline that expires while an async hook awaits ----------------------


class Slow(Hooks):
    """Async end hooks that await ``pause`` seconds; ``scope``, when set, is cancelled as the
    hook starts: the caller's deadline expiring exactly while the hook awaits."""

    def __init__(self, pause: float, scope: anyio.CancelScope | None = None) -> None:
        self.pause = pause
        self.scope = scope
        self.entered: list[Any] = []
        self.finished: list[Any] = []

    async def _end(self, event: CallEnded | CallFailed) -> None:
        self.entered.append(event)
        if self.scope is not None:
            self.scope.cancel()
        await asyncio.sleep(self.pause)
        self.finished.append(event)

    async def on_response(self, event: CallEnded) -> None:
        await self._end(event)

    async def on_error(self, event: CallFailed) -> None:
        await self._end(event)


class Boom(Exception):
    """An error in the user's code inside ``async with stream``."""


@pytest.mark.parametrize(
    ("how", "outcome"),
    [
        ("aclose", "closed"),
        ("async_with", "closed"),
        ("async_with_error", "closed"),
        ("read_to_the_end", "complete"),
    ],
)
async def test_a_deadline_that_expires_in_an_async_hook_of_a_normal_end_is_not_shielded(
    server: FakeAgentServer, how: str, outcome: str
) -> None:
    """Only a cancellation shields the hooks (see the next test): a stream that ends
    otherwise awaits its hooks as any code is awaited, so the caller's deadline, expiring
    while a slow hook awaits, ends the call at once instead of after the hook."""
    slow = Slow(pause=2.0)
    server.reply(["one", " two"])
    async with server.client(hooks=[slow], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with anyio.CancelScope() as scope:
            slow.scope = scope
            if how == "aclose":
                await stream.aclose()
            elif how == "async_with":
                async with stream:
                    pass
            elif how == "async_with_error":
                with pytest.raises(Boom):
                    async with stream:
                        raise Boom
            else:
                async for _ in stream:
                    pass
        took = loop.time() - began
    assert scope.cancelled_caught
    assert [event.outcome for event in slow.entered] == [outcome]
    assert slow.finished == []  # the hook's await was cancelled
    assert took < 0.5


async def test_an_async_with_block_left_by_a_cancellation_still_awaits_the_hooks(
    server: FakeAgentServer,
) -> None:
    """A task cancelled inside ``async with stream`` (anyio's cancellation is
    level-triggered: it stays in force while the block exits) still has its async hooks
    awaited to their end, shielded from it."""
    slow = Slow(pause=0.02)
    server.fault("stall", after=1)
    async with server.client(hooks=[slow], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        with anyio.CancelScope() as scope:
            async with stream:
                assert await stream.next_batch()
                scope.cancel()
                await asyncio.sleep(5)
    assert scope.cancelled_caught
    assert [event.outcome for event in slow.finished] == ["closed"]
    assert slow.finished == slow.entered


# -- prime() reads nothing once the stream is primed, closed or failed ----------------------


async def test_prime_on_a_stream_create_returned_keeps_its_first_event(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    """``create()`` returns a stream already primed (its first event read and kept for the
    reader): priming it again reads nothing and loses nothing."""
    server.reply(["one", " two", " three"], interval=0.01)
    stream = await open_stream(async_client)
    await stream.prime()
    await stream.prime()
    final = await stream.get_final_completion()
    assert final.choices[0].message.content == "one two three"


@pytest.mark.parametrize("end", ["closed", "failed"])
async def test_prime_on_a_closed_or_failed_stream_does_nothing(
    server: FakeAgentServer, async_client: AsyncAgentClient, end: str
) -> None:
    """Priming a stream its reader closed, or whose failure it was given, reads nothing
    from the dropped connection: every read still says what the stream's end was."""
    server.fault("stall" if end == "closed" else "cut", after=1)
    stream = await open_stream(async_client)
    assert await stream.next_batch()
    failure: IncompleteStreamError | None = None
    if end == "closed":
        await stream.aclose()
    else:
        with pytest.raises(IncompleteStreamError) as raised:
            await stream.next_batch()
        failure = raised.value
    await asyncio.wait_for(stream.prime(), 1.0)
    assert stream.failure is failure
    with pytest.raises(StreamClosedError if failure is None else IncompleteStreamError) as again:
        await stream.next_batch()
    if failure is not None:
        assert again.value is failure


# -- no time limit at all ---------------------------------------------------------------------


async def test_a_stream_without_any_time_limit_reads_to_its_end(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    """``None`` disables every bound: the reads just wait for the network."""
    server.reply(["one", " two", " three"], interval=0.01)
    no_limit = Timeout(read=None, stream_idle=None, total=None)
    stream = await open_stream(async_client, timeout=no_limit)
    final = await stream.get_final_completion()
    assert final.choices[0].message.content == "one two three"


# -- the connection is given back or closed once ---------------------------------------------


@pytest.mark.parametrize("end", ["read_to_the_end", "failed", "closed"])
async def test_a_streams_connection_is_released_or_closed_once(end: str) -> None:
    """However the stream ends and however often it is closed after that, its response is
    either given back to the pool (``[DONE]`` and the end of the body arrived) or closed,
    once: closing a finished stream does not close the connection it gave back."""
    stream, reader = memory_stream()
    response = cast(_Response, stream._raw)  # private: the stand-in records what was done
    reader.feed_data(event("a"))
    assert await stream.next_batch()
    if end == "read_to_the_end":
        reader.feed_data(b"data: [DONE]\n\n")
        reader.feed_eof()
        assert await stream.next_batch() == []
    elif end == "failed":
        reader.feed_eof()
        with pytest.raises(IncompleteStreamError):
            await stream.next_batch()
    await stream.aclose()
    async with stream:
        pass
    assert response.done_with == ["released" if end == "read_to_the_end" else "closed"]


# -- events that are not chunks ---------------------------------------------------------------


@pytest.mark.parametrize("last", ["chunk", "done"])
async def test_a_last_event_whose_blank_line_never_came_is_read_at_the_end_of_the_body(
    server: FakeAgentServer, async_client: AsyncAgentClient, last: str
) -> None:
    """The body ends right after the last event's ``data:`` line, without the blank line
    that ends an event: the event still counts. A ``[DONE]`` sent so ends the stream as
    usual; a chunk sent so is delivered before the stream fails for lack of ``[DONE]``."""
    tail = "data: [DONE]\n" if last == "done" else f"data: {json.dumps(chunk_dict(' b'))}\n"
    server.stream(events=[chunk_dict("a"), tail], done=False, interval=0.01)
    stream = await open_stream(async_client)
    texts: list[str | None] = []
    if last == "done":
        async for chunk in stream:
            texts.append(chunk.choices[0].delta.content)
        assert texts == ["a"]
        assert stream.failure is None
        return
    with pytest.raises(IncompleteStreamError) as raised:
        async for chunk in stream:
            texts.append(chunk.choices[0].delta.content)
    assert texts == ["a", " b"]
    assert raised.value.chunks == 2


async def test_a_data_event_with_an_error_without_a_message_shows_the_data(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    """A plain ``data:`` event holding an error object (not a chunk) fails the stream; with
    no message in it, the message is the data itself."""
    server.stream(events=[chunk_dict("a"), {"error": {"code": "busy"}}], done=False)
    stream = await open_stream(async_client)
    assert [c.choices[0].delta.content for c in await stream.next_batch()] == ["a"]
    with pytest.raises(APIStreamError) as raised:
        await stream.next_batch()
    error = raised.value
    assert error.message == repr('{"error": {"code": "busy"}}')
    assert error.code == "busy"
    assert error.body == {"error": {"code": "busy"}}
    assert error.response is stream.response
    assert error.chunks == 1


async def test_data_that_is_json_but_not_an_object_is_named_so(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.stream(events=[chunk_dict("a"), "data: [1, 2]\n\n"], done=False)
    stream = await open_stream(async_client)
    assert await stream.next_batch()
    with pytest.raises(APIResponseValidationError) as raised:
        await stream.next_batch()
    assert raised.value.message == "Event 2 of the stream is not a JSON object: '[1, 2]'"


async def test_a_chunk_with_a_field_of_the_wrong_type_fails_with_the_reason_as_cause(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.stream(events=[chunk_dict("a"), {"id": "c", "choices": 5}], done=False)
    stream = await open_stream(async_client)
    assert await stream.next_batch()
    with pytest.raises(APIResponseValidationError) as raised:
        await stream.next_batch()
    error = raised.value
    reason = "expected an array for ChatCompletionChunk.choices, got int 5"
    assert error.message == (
        f"Event 2 of the stream has a field of an unexpected type ({reason}): "
        + repr('{"id": "c", "choices": 5}')
    )
    assert isinstance(error.__cause__, TypeError)
    assert str(error.__cause__) == reason


@pytest.mark.parametrize("extra", ["message", "error"])
async def test_a_chunk_with_a_message_or_error_field_is_still_a_chunk(
    server: FakeAgentServer, async_client: AsyncAgentClient, extra: str
) -> None:
    """Only an object without ``choices`` is read as an error report: a chunk that also
    carries a ``message`` or ``error`` field (a server's extension) is a chunk, the field
    kept."""
    odd = {**chunk_dict(" b"), extra: "a note"}
    server.stream(events=[chunk_dict("a"), odd])
    stream = await open_stream(async_client)
    chunks = [chunk async for chunk in stream]
    assert [c.choices[0].delta.content for c in chunks] == ["a", " b"]
    assert chunks[1].to_dict()[extra] == "a note"
    assert stream.failure is None


# -- a stream still open at interpreter exit --------------------------------------------------

# Run in a child process that imports agentchat from the repository root (so, under mutmut,
# its instrumented copy, with the parent's MUTANT_UNDER_TEST in force). Two streams with a
# sync hook: the first is dropped (told at once: the hook works in this process), the second
# is still referenced when the interpreter exits and must not be told then.
AT_EXIT = textwrap.dedent(
    """
    import asyncio, gc
    from agentchat import AsyncAgentClient, Hooks
    from agentchat.testing import FakeAgentServer

    class Show(Hooks):
        def on_response(self, event):
            print("on_response", event.call_id, event.outcome, flush=True)

    kept = []

    async def main(server):
        client = AsyncAgentClient(
            server.token, server.url, hooks=[Show()], telemetry=False, max_retries=0
        )
        for _ in range(2):
            server.reply(["one", " two"])  # sent at once: the server is done before the exit
            stream = await client.agent.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
            assert await stream.next_batch()
            kept.append(stream)
        del stream
        kept.pop(0)
        gc.collect()
        print("exiting", flush=True)

    with FakeAgentServer().in_thread() as server:
        asyncio.run(main(server))
    """
)


async def test_a_stream_still_open_at_interpreter_exit_is_not_told_then(
    server: FakeAgentServer,
) -> None:
    """A stream dropped before the exit is told at once (``"closed"``); one still open when
    the interpreter exits is not told then. The first half runs here too: mutation testing
    maps tests to the functions they run in this process, and so runs this test for the
    mutants of ``AsyncStream._observe``."""
    told = Told()
    server.reply(["one", " two"])
    async with server.client(hooks=[told], telemetry=False, max_retries=0) as client:
        stream = await open_stream(client)
        assert await stream.next_batch()
        del stream
        gc.collect()
        started, ended = told.ended("on_response")
    assert ended.call_id == started.call_id
    assert ended.outcome == "closed"

    done = await anyio.run_process([sys.executable, "-c", AT_EXIT], cwd=ROOT, check=False)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, stderr
    assert stdout.splitlines() == ["on_response 1 closed", "exiting"], stderr
