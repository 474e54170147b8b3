"""One client carries a busy web service: its connection pool, the pool timeout, and 1,000
streams open at once, against real servers on 127.0.0.1, for both call styles.
"""

from __future__ import annotations

import asyncio
import errno
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import pytest
from yarl import URL

from agentchat import (
    AgentClient,
    APIConnectionError,
    APITimeoutError,
    AsyncAgentClient,
    AsyncStream,
    ConfigurationError,
    MessageParam,
    PoolTimeoutError,
    Timeout,
)
from agentchat._client import DEFAULT_MAX_CONNECTIONS
from agentchat._transport import connection_error
from agentchat.testing import FakeAgentServer

from .conftest import Connect, checked_out, create, open_stream


def said(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.005)


# -- the settings -------------------------------------------------------------------------------


def test_the_pool_timeout_defaults_to_60_s_and_a_plain_number_leaves_it_there() -> None:
    assert Timeout().pool == 60.0
    assert Timeout.of(5) == Timeout(connect=5, read=5, stream_idle=5, total=None, pool=60.0)
    assert Timeout(pool=None).pool is None


@pytest.mark.parametrize("bad", [0, -1, float("inf"), "10", True])
def test_a_bad_pool_timeout_is_refused(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"Timeout\.pool"):
        Timeout(pool=bad)


def test_the_pool_timeout_is_aiohttps_connect_and_connect_its_sock_connect() -> None:
    mapped = Timeout(connect=3, read=7, pool=11).to_aiohttp()
    assert (mapped.connect, mapped.sock_connect, mapped.sock_read) == (11, 3, 7)
    assert mapped.total is None


async def test_the_default_pool_holds_1000_connections_with_no_per_host_cap(
    server: FakeAgentServer,
) -> None:
    assert DEFAULT_MAX_CONNECTIONS == 1000
    async with server.client() as client:
        await create(client)
        session = client._transport.session
        assert session is not None
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert connector.limit == 1000
        assert connector.limit_per_host == 0  # unlimited: nothing caps below max_connections


# -- the pool timeout ---------------------------------------------------------------------------


async def test_a_call_that_waits_past_the_pool_timeout_fails_at_once_without_a_retry(
    server: FakeAgentServer, connect: Connect
) -> None:
    server.response_delay = 1.5
    async with connect(max_connections=2, max_retries=2) as client:
        slow = [asyncio.ensure_future(create(client, messages=said(f"slow {i}"))) for i in range(2)]
        await until(lambda: len(server.requests) == 2)  # both connections in use
        started = time.monotonic()
        with pytest.raises(PoolTimeoutError) as info:
            await create(client, timeout=Timeout(pool=0.3))
        waited = time.monotonic() - started
        assert isinstance(info.value, APITimeoutError)  # a kind of timeout, for old handlers
        message = str(info.value)
        assert "connection from the pool" in message
        assert "max_connections=2" in message
        assert "pool timeout 0.3 s" in message
        assert "Timeout.pool" in message  # ... and what to do about it
        assert info.value.attempts == 1  # not retried: a retry only adds to the pool's load
        assert 0.25 <= waited < 1.2  # before the slow calls gave a connection back
        assert len(server.requests) == 2  # the timed-out call never reached the server
        answers = [
            completion.choices[0].message.content for completion in await asyncio.gather(*slow)
        ]
        assert answers == ["Echo: slow 0", "Echo: slow 1"]
        server.response_delay = 0
        assert (await create(client)).choices[0].message.content == "Echo: Hello there"
        assert checked_out(client) == 0
    assert len(server.requests) == 3


async def test_a_waiting_call_that_gets_a_connection_in_time_succeeds(
    server: FakeAgentServer, connect: Connect
) -> None:
    server.response_delay = 0.5
    async with connect(max_connections=2) as client:
        calls = [
            asyncio.ensure_future(create(client, messages=said(f"call {i}"))) for i in range(2)
        ]
        await until(lambda: len(server.requests) == 2)
        waiting = await create(client, messages=said("third"))  # the default pool timeout
        assert waiting.choices[0].message.content == "Echo: third"
        assert waiting.response is not None and waiting.response.attempts == 1
        await asyncio.gather(*calls)
        assert checked_out(client) == 0
    first, _, third = server.requests
    assert third.json()["messages"] == said("third")
    # It was sent only once one of the two connections came back: the pool held it.
    assert third.received_at - first.received_at >= 0.45


async def test_waiting_for_the_pool_does_not_count_against_a_streams_read_timeout(
    server: FakeAgentServer, connect: Connect
) -> None:
    server.stream(stop_after=1, done=False, stall=True)  # holds the only connection
    async with connect(max_connections=1, max_retries=0) as client:
        holder: AsyncStream = await open_stream(client)

        async def release() -> None:
            await asyncio.sleep(0.6)
            await holder.aclose()

        releasing = asyncio.ensure_future(release())
        try:
            started = time.monotonic()
            stream: AsyncStream = await open_stream(client, timeout=Timeout(read=0.25, pool=5))
            async with stream:
                final = await stream.get_final_completion()
        finally:
            await releasing
        assert time.monotonic() - started >= 0.5  # it did wait for the pool, past `read`
        assert final.choices[0].message.content == "Echo: Hello there"
        assert stream.response.attempts == 1
    assert len(server.requests) == 2


async def test_a_stream_waiting_past_the_pool_timeout_is_told_so_not_a_read_timeout(
    server: FakeAgentServer, connect: Connect
) -> None:
    server.stream(stop_after=1, done=False, stall=True)
    async with connect(max_connections=1, max_retries=2) as client:
        holder: AsyncStream = await open_stream(client)
        async with holder:
            with pytest.raises(PoolTimeoutError, match="connection from the pool") as info:
                await open_stream(client, timeout=Timeout(read=0.1, pool=0.4))
            assert "max_connections=1" in str(info.value)
            assert info.value.attempts == 1
    assert len(server.requests) == 1


async def test_a_streams_slow_headers_are_still_bounded_by_read_and_retried(
    server: FakeAgentServer, connect: Connect
) -> None:
    events = b"".join(
        b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "%s"}}]}\n\n' % word
        for word in (b"a", b"b")
    )
    events += b"data: [DONE]\n\n"
    server.respond(body=events, content_type="text/event-stream", delay=3, times=2)
    async with connect(max_retries=1, timeout=Timeout(read=0.3)) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match=r"read timeout 0\.3 s") as info:
            await open_stream(client)
        assert time.monotonic() - started < 2.5
        assert info.value.attempts == 2
        assert checked_out(client) == 0


async def test_an_open_stream_leaves_aiohttps_per_read_timer_off(
    server: FakeAgentServer, connect: Connect
) -> None:
    """The stream bounds its reads itself: aiohttp's ``sock_read`` timer, which guarded the
    headers, would otherwise be re-armed on every TCP read of the body."""
    server.stream(stop_after=1, done=False, stall=True)
    async with connect(max_retries=0, timeout=Timeout(read=30)) as client:
        stream: AsyncStream = await open_stream(client)
        async with stream:
            session = client._transport.session
            assert session is not None and session.connector is not None
            (protocol,) = session.connector._acquired  # the stream's connection
            assert protocol.read_timeout is None
            assert protocol._read_timeout_handle is None


@pytest.mark.parametrize(
    ("timeout", "bound"),
    [
        (Timeout(connect=0.2), r"connect timeout 0\.2 s"),
        # aiohttp's connect bound (the pool timeout) covers opening the connection too:
        (Timeout(connect=5, pool=0.2), r"pool timeout 0\.2 s, which bounds opening"),
    ],
    ids=["connect", "pool-shorter"],
)
async def test_a_real_connect_timeout_is_still_a_connect_timeout_and_retried(
    unanswered_port: int, timeout: Timeout, bound: str
) -> None:
    # The pool is far from full: the socket connect is what hangs.
    async with AsyncAgentClient("k", f"http://127.0.0.1:{unanswered_port}") as client:
        with pytest.raises(APITimeoutError, match=bound) as info:
            await create(client, timeout=timeout, max_retries=1)
        assert "Timed out connecting" in str(info.value)
        assert "connection from the pool" not in str(info.value)
        assert not isinstance(info.value, PoolTimeoutError)
        assert info.value.attempts == 2


# -- out of file descriptors --------------------------------------------------------------------

ENDPOINT_URL = URL("http://127.0.0.1:9/api/v1/chat/completions?agent=true")


def _soft_file_limit() -> str:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft != resource.RLIM_INFINITY
    return str(soft)


@pytest.mark.skipif(sys.platform == "win32", reason="no resource module, no RLIMIT_NOFILE")
def test_running_out_of_file_descriptors_names_the_limit() -> None:
    cause = OSError(errno.EMFILE, "Too many open files")
    try:
        try:
            raise cause
        except OSError as exc:
            raise aiohttp.ClientConnectionError("Cannot connect to host 127.0.0.1:9") from exc
    except aiohttp.ClientConnectionError as wrapped:
        error = connection_error(wrapped, ENDPOINT_URL, "connecting")
    assert isinstance(error, APIConnectionError)
    assert "Cannot connect to host 127.0.0.1:9" in error.message
    assert "RLIMIT_NOFILE" in error.message
    assert f"limit ({_soft_file_limit()}) is reached" in error.message
    assert "each open stream" in error.message
    assert "ulimit -n" in error.message


@pytest.mark.skipif(sys.platform == "win32", reason="no resource module, no RLIMIT_NOFILE")
def test_the_hint_finds_emfile_in_aiohttps_os_error() -> None:
    class Wrapped(aiohttp.ClientConnectionError):
        def __init__(self, os_error: OSError) -> None:
            super().__init__("Cannot connect to host")
            self.os_error = os_error

    error = connection_error(
        Wrapped(OSError(errno.EMFILE, "Too many open files")), ENDPOINT_URL, "x"
    )
    assert "RLIMIT_NOFILE" in error.message


def test_other_connection_errors_get_no_file_limit_hint() -> None:
    refused = OSError(errno.ECONNREFUSED, "Connection refused")
    try:
        raise aiohttp.ClientConnectionError("Cannot connect") from refused
    except aiohttp.ClientConnectionError as wrapped:
        error = connection_error(wrapped, ENDPOINT_URL, "connecting")
    assert "RLIMIT_NOFILE" not in error.message
    assert error.message == (
        "Connection error while connecting (http://127.0.0.1:9/api/v1/chat/completions): "
        "Cannot connect"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="no resource module, no RLIMIT_NOFILE")
async def test_a_connect_that_runs_out_of_file_descriptors_says_so(
    server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path: aiohttp wraps the socket's EMFILE in ClientConnectorError."""

    async def no_socket(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr("aiohappyeyeballs.start_connection", no_socket)
    async with server.client(max_retries=0) as client:
        with pytest.raises(APIConnectionError, match="RLIMIT_NOFILE") as info:
            await create(client)
    assert "Too many open files" in str(info.value)
    assert server.requests == []


# -- 1,000 streams at once through one client ---------------------------------------------------

STREAMS = 1000
#: Sockets the test holds: both ends of each stream, plus the interpreter's own.
FILES_NEEDED = 4500


@pytest.fixture
def enough_files() -> Iterator[None]:
    """Raise the soft limit on open files to what 1,000 streams at both ends need."""
    if sys.platform == "win32":
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= FILES_NEEDED:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < FILES_NEEDED:
        pytest.skip(f"the hard RLIMIT_NOFILE ({hard}) is below the {FILES_NEEDED} files needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILES_NEEDED, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
async def many_streams(enough_files: None) -> AsyncIterator[FakeAgentServer]:
    """The fake agent, its streams held after their first event until 1,000 are open."""
    async with FakeAgentServer() as server:
        server.hold_streams(STREAMS, timeout=30)
        yield server


def report(what: str, seconds: float) -> None:
    print(f"\n{what}: {seconds:.2f} s")  # shown with -s; the measurement behind the docs


async def test_one_async_client_with_default_settings_carries_1000_streams_at_once(
    many_streams: FakeAgentServer,
) -> None:
    async with AsyncAgentClient(many_streams.token, many_streams.url) as client:

        async def one(key: int) -> str | None:
            stream: AsyncStream = await client.agent.chat.completions.create(
                model="m", messages=said(str(key)), stream=True
            )
            async with stream:
                final = await stream.get_final_completion()
            return final.choices[0].message.content

        started = time.monotonic()
        texts = await asyncio.gather(*(one(key) for key in range(STREAMS)))
        elapsed = time.monotonic() - started
        assert checked_out(client) == 0
    report(f"{STREAMS} concurrent streams, one AsyncAgentClient", elapsed)
    assert many_streams.peak_streams == STREAMS  # all open at once: nothing capped them
    assert len(many_streams.requests) == STREAMS  # and none was retried
    assert texts == [f"Echo: {key}" for key in range(STREAMS)]
    assert elapsed < 15  # a loose bound: a few seconds on two cores


async def test_one_sync_client_shared_by_1000_threads_carries_1000_streams_at_once(
    many_streams: FakeAgentServer,
) -> None:
    def one(client: AgentClient, key: int) -> str | None:
        with client.agent.chat.completions.create(
            model="m", messages=said(str(key)), stream=True
        ) as stream:
            return stream.get_final_completion().choices[0].message.content

    def run_all() -> tuple[list[str | None], float]:
        with (
            AgentClient(many_streams.token, many_streams.url) as client,
            ThreadPoolExecutor(max_workers=STREAMS) as threads,
        ):
            started = time.monotonic()
            texts = list(threads.map(lambda key: one(client, key), range(STREAMS)))
            return texts, time.monotonic() - started

    # The server runs on this test's loop; the client on its own loop thread.
    texts, elapsed = await asyncio.get_running_loop().run_in_executor(None, run_all)
    report(f"{STREAMS} concurrent streams, one AgentClient, {STREAMS} threads", elapsed)
    assert many_streams.peak_streams == STREAMS
    assert len(many_streams.requests) == STREAMS
    assert texts == [f"Echo: {key}" for key in range(STREAMS)]
    assert elapsed < 15
