"""The transport's edges found missing by mutation testing (second round): the 60 s cap and
the call's deadline at exactly their bound, the whole message of a retry refused for the
deadline, and the error built from an error status whose body is empty, not JSON, not UTF-8,
cut short, or of a status agentchat has no name for; what the ``on_retry`` hooks are told, a
300 taken for an error, the words of a read timeout, a refused connection and a connect
timeout without a pool timeout, when a full pool is blamed for a timeout, and the aiohttp
timeout made once per ``Timeout``.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import anyio
import pytest

from agentchat import (
    AgentChatError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncAgentClient,
    BadRequestError,
    InternalServerError,
    PoolTimeoutError,
    RateLimitError,
    RetryScheduled,
    Timeout,
    _transport,
)
from agentchat.testing import FakeAgentServer

from .conftest import create, open_stream

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The transport's sleeps between attempts, recorded instead of slept (as in
    tests/test_rate_limits.py: ``_sleep`` is the module's seam for this)."""
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(_transport, "_sleep", record)
    return delays


# -- the waits at their bounds -----------------------------------------------------------------


async def test_a_retry_after_of_exactly_60_s_is_waited(
    server: FakeAgentServer, slept: list[float]
) -> None:
    """Only a wait *over* 60 s is refused."""
    server.respond(
        429, json={"id": "too_many_requests", "message": "slow down"}, headers={"retry-after": "60"}
    )
    async with server.client(max_retries=1) as client:
        completion = await create(client)
    assert slept == [60.0]
    assert completion.response is not None and completion.response.attempts == 2


async def test_a_wait_ending_exactly_at_the_deadline_is_started(
    server: FakeAgentServer, slept: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a wait that would end *after* the call's total timeout is refused. The
    transport's clock is frozen (its module's ``time``: the only way to make the wait end at
    the deadline to the bit); the sleep is recorded, so the real deadline is never near."""
    monkeypatch.setattr(_transport, "time", SimpleNamespace(monotonic=lambda: 1000.0))
    server.respond(503, json={"id": "x", "message": "down"}, headers={"retry-after": "2"})
    async with server.client(max_retries=1) as client:
        completion = await create(client, timeout=Timeout(total=2.0))
    assert slept == [2.0]
    assert completion.response is not None and completion.response.attempts == 2


async def test_a_retry_refused_for_the_deadline_keeps_the_servers_message(
    server: FakeAgentServer, slept: list[float]
) -> None:
    server.respond(503, json={"id": "x", "message": "down"}, headers={"retry-after": "5"})
    async with server.client(max_retries=3) as client:
        with pytest.raises(InternalServerError) as info:
            await create(client, timeout=Timeout(total=1.0))
    assert info.value.message == (
        "down; not retried: waiting 5.00 s would pass the call's total timeout"
    )
    assert slept == [] and info.value.attempts == 1


# -- the error of an error status --------------------------------------------------------------


async def test_an_empty_error_body_gives_the_reason_alone(server: FakeAgentServer) -> None:
    server.respond(500, body="", content_type="text/plain")
    async with server.client(max_retries=0) as client:
        with pytest.raises(InternalServerError) as info:
            await create(client)
    error = info.value
    assert error.message == "Internal server error"
    assert error.body is None and error.code is None


async def test_a_text_error_body_is_kept_as_text(server: FakeAgentServer) -> None:
    server.respond(502, body="upstream connect error", content_type="text/plain")
    async with server.client(max_retries=0) as client:
        with pytest.raises(InternalServerError) as info:
            await create(client)
    error = info.value
    assert error.message == "Bad gateway: 'upstream connect error'"
    assert error.body == "upstream connect error" and error.code is None


async def test_an_error_body_not_in_utf8_is_decoded_with_replacements(
    server: FakeAgentServer,
) -> None:
    server.respond(400, body=b"bad \xff\xfe input", content_type="text/plain")
    async with server.client(max_retries=0) as client:
        with pytest.raises(BadRequestError) as info:
            await create(client)
    assert info.value.body == "bad \ufffd\ufffd input"
    assert info.value.message == "Bad request: 'bad \ufffd\ufffd input'"


@pytest.mark.parametrize(
    ("body", "message"), [("", "error"), ("I am a teapot", "error: 'I am a teapot'")]
)
async def test_a_status_without_a_name_is_called_error(
    server: FakeAgentServer, body: str, message: str
) -> None:
    server.respond(418, body=body, content_type="text/plain")
    async with server.client(max_retries=0) as client:
        with pytest.raises(APIStatusError) as info:
            await create(client)
    assert type(info.value) is APIStatusError
    assert info.value.status_code == 418 and info.value.message == message


async def test_an_error_body_cut_short_gives_the_reason_alone(server: FakeAgentServer) -> None:
    """The error's body could not be read: nothing of it is shown, nothing made up."""
    server.respond(400, json={"id": "bad", "message": "no"}, fault="close_mid_body")
    async with server.client(max_retries=0) as client:
        with pytest.raises(BadRequestError) as info:
            await create(client)
    error = info.value
    assert error.message == "Bad request"
    assert error.body is None and error.code is None


async def test_an_error_after_a_retry_counts_every_attempt(
    server: FakeAgentServer, slept: list[float]
) -> None:
    """A status that is not retried, met on a retry, still says how many attempts were made."""
    server.respond(503, json={"id": "x", "message": "down"})
    server.respond(400, json={"id": "bad_request", "message": "no"})
    async with server.client(max_retries=2) as client:
        with pytest.raises(BadRequestError) as info:
            await create(client)
    assert info.value.attempts == 2
    assert str(info.value).endswith("(after 2 attempts)")
    assert len(slept) == 1 and len(server.requests) == 2


# -- the response's metadata -------------------------------------------------------------------


async def test_elapsed_is_the_time_from_sending_to_the_headers(server: FakeAgentServer) -> None:
    server.delay(0.1)
    async with server.client(max_retries=0) as client:
        completion = await create(client)
    assert completion.response is not None
    assert 0.09 <= completion.response.elapsed < 2.0


# -- what the on_retry hooks are told ----------------------------------------------------------


class _RetryRecorder:
    """A hook that records each :class:`RetryScheduled` it is told about."""

    def __init__(self) -> None:
        self.events: list[RetryScheduled] = []

    def on_retry(self, event: RetryScheduled) -> None:
        self.events.append(event)


@pytest.mark.parametrize("total", [None, 60.0], ids=["no-deadline", "deadline"])
async def test_each_retry_is_told_its_attempt_error_delay_and_reason(
    server: FakeAgentServer, slept: list[float], total: float | None
) -> None:
    """One retry of each reason: a back-off, a ``Retry-After`` of a 503 and a 429's reset;
    with or without a total timeout (two paths into the retry loop)."""
    server.respond(503, json={"id": "x", "message": "down"})
    server.respond(503, json={"id": "x", "message": "still down"}, headers={"retry-after": "2"})
    server.respond(
        429,
        json={"id": "too_many_requests", "message": "slow down"},
        headers={"ratelimit-reset": "3"},
    )
    hook = _RetryRecorder()
    async with server.client(max_retries=3, hooks=[hook]) as client:
        completion = await create(client, timeout=Timeout(total=total))
    assert completion.response is not None and completion.response.attempts == 4
    events = hook.events
    assert [(event.attempt, event.reason) for event in events] == [
        (1, "backoff"),
        (2, "retry-after"),
        (3, "rate-limit-reset"),
    ]
    assert [event.delay for event in events] == slept
    assert 0.25 <= slept[0] <= 0.5 and slept[1] == 2.0 and 2.0 < slept[2] < 5.0
    assert [type(event.error) for event in events] == [
        InternalServerError,
        InternalServerError,
        RateLimitError,
    ]
    assert [event.error.message for event in events] == ["down", "still down", "slow down"]
    assert len({event.call_id for event in events}) == 1


# -- a redirect is an error --------------------------------------------------------------------


async def test_a_300_is_an_unexpected_redirect(server: FakeAgentServer) -> None:
    """300 is the first status that is not a success: redirects are not followed."""
    server.respond(300, body="", content_type="text/plain", headers={"location": "/elsewhere"})
    async with server.client(max_retries=2) as client:
        with pytest.raises(APIStatusError) as info:
            await create(client)
    assert info.value.status_code == 300 and info.value.message == "Unexpected redirect"
    assert info.value.attempts == 1 and len(server.requests) == 1


# -- the words of a timeout or a failed connection ---------------------------------------------


async def test_a_read_timeout_says_it_was_waiting_for_the_response(
    server: FakeAgentServer,
) -> None:
    server.delay(2.0)
    async with server.client(max_retries=0) as client:
        with anyio.fail_after(5), pytest.raises(APITimeoutError) as info:
            await create(client, timeout=Timeout(read=0.1))
    assert str(info.value) == (
        f"Timed out waiting for the response ({server.url}/api/v1/chat/completions; "
        "read timeout 0.1 s)"
    )


async def test_a_body_that_stalls_times_out_reading_the_response(
    server: FakeAgentServer,
) -> None:
    """The headers came, then half the body: the read timeout fires while it is read."""
    server.fault("stall")
    async with server.client(max_retries=0) as client:
        with anyio.fail_after(5), pytest.raises(APITimeoutError) as info:
            await create(client, timeout=Timeout(read=0.1))
    assert str(info.value) == (
        f"Timed out reading the response ({server.url}/api/v1/chat/completions; read timeout 0.1 s)"
    )
    assert info.value.attempts == 1


async def test_a_body_cut_short_is_a_connection_error_while_reading_the_response(
    server: FakeAgentServer,
) -> None:
    """The server drops the connection halfway through the body: aiohttp's error is named."""
    server.fault("cut")
    async with server.client(max_retries=0) as client:
        with anyio.fail_after(5), pytest.raises(APIConnectionError) as info:
            await create(client)
    cause = info.value.__cause__
    assert isinstance(cause, aiohttp.ClientError) and str(cause)
    assert str(info.value) == (
        f"Connection error while reading the response ({server.url}/api/v1/chat/completions): "
        f"{cause}"
    )


async def test_a_stream_with_a_deadline_bounds_its_reads_itself(
    server: FakeAgentServer,
) -> None:
    """Once a stream's headers have come, its read timeout is its own (aiohttp's socket
    timer is stopped), with a total timeout as without one. The reader takes its time over
    each chunk, so the second arrives while it is busy: counted from its arrival (aiohttp's
    timer) the server's stall would break the connection before the stream's read timeout,
    counted from the read that took it."""
    server.stream(stop_after=2, done=False, stall=True, interval=0.01)
    chunks = 0
    async with server.client(max_retries=0) as client:
        with anyio.fail_after(5):
            stream = await open_stream(client, timeout=Timeout(read=0.2, total=30))
            with pytest.raises(APITimeoutError) as info:
                async with stream:
                    async for _ in stream:
                        chunks += 1
                        await asyncio.sleep(0.1)
    assert chunks == 2
    assert str(info.value) == "The stream sent no data for 0.2 s (read timeout), after 2 chunks"


async def test_a_refused_connection_says_it_was_connecting() -> None:
    with socket.socket() as probe:  # a port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AsyncAgentClient("k", f"http://127.0.0.1:{port}", max_retries=0) as client:
        with anyio.fail_after(5), pytest.raises(APIConnectionError) as info:
            await create(client)
    assert not isinstance(info.value, APITimeoutError)
    assert str(info.value).startswith(
        f"Connection error while connecting (http://127.0.0.1:{port}/api/v1/chat/completions): "
    )


async def test_a_connect_timeout_without_a_pool_timeout(unanswered_port: int) -> None:
    """With no pool bound, a timeout while connecting is the connect timeout's: the pool is
    not even looked at."""
    url = f"http://127.0.0.1:{unanswered_port}"
    async with AsyncAgentClient("k", url, max_retries=0) as client:
        with anyio.fail_after(5), pytest.raises(APITimeoutError) as info:
            await create(client, timeout=Timeout(connect=0.1, pool=None))
    assert type(info.value) is APITimeoutError
    assert str(info.value) == (
        f"Timed out connecting ({url}/api/v1/chat/completions; connect timeout 0.1 s)"
    )


# -- a full pool is blamed only once its whole bound has passed --------------------------------

POOL = 0.05


async def test_a_full_pool_is_blamed_only_once_its_bound_has_passed(
    server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's bound fires (its one connection is held by a slow call); the transport's
    clock (its module's ``time``: the only way to choose the wait it measures) says the
    wait was ``waited``. Shorter than the pool's bound, less 0.01 s for a timer firing early,
    the timeout cannot be the pool's: it is the connect timeout's, full pool or not."""
    server.delay(0.4)
    blamed: dict[float, str] = {}
    async with server.client(max_connections=1, max_retries=0) as client:
        holder = asyncio.ensure_future(create(client))
        with anyio.fail_after(5):
            assert await server.wait_for_connections(1)  # the one connection is in use
            for waited in (0.0, POOL - 0.02, POOL - 0.01):
                with monkeypatch.context() as clock:
                    ticks = iter([0.0, waited])  # the attempt's start, then the timeout
                    clock.setattr(
                        _transport,
                        "time",
                        SimpleNamespace(monotonic=lambda: next(ticks, waited)),  # noqa: B023
                    )
                    with pytest.raises(APITimeoutError) as info:
                        await create(client, timeout=Timeout(pool=POOL))
                blamed[waited] = type(info.value).__name__
                if not isinstance(info.value, PoolTimeoutError):
                    assert str(info.value).endswith(
                        "; pool timeout 0.05 s, which bounds opening the connection too)"
                    )
            assert not holder.done()  # the pool was full throughout
            await holder
    assert blamed == {
        0.0: "APITimeoutError",  # at once
        POOL - 0.02: "APITimeoutError",  # just before the bound
        POOL - 0.01: "PoolTimeoutError",  # at the bound
    }
    assert len(server.requests) == 1


# -- the aiohttp timeout -----------------------------------------------------------------------


async def test_a_timeout_is_converted_for_aiohttp_once(
    server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transport keeps the aiohttp timeout of each :class:`Timeout` it has met, so a call
    does not build one again (counted at ``Timeout.to_aiohttp``, the conversion)."""
    converted: list[Timeout] = []
    convert = Timeout.to_aiohttp

    def counted(self: Timeout) -> object:
        converted.append(self)
        return convert(self)

    monkeypatch.setattr(Timeout, "to_aiohttp", counted)
    async with server.client(max_retries=0) as client:
        for _ in range(3):
            await create(client, timeout=Timeout(read=30))
        await create(client, timeout=Timeout(read=31))
    assert converted == [Timeout(read=30), Timeout(read=31)]


# -- the session: one per loop, none after closing ---------------------------------------------


async def test_a_closed_client_says_so_word_for_word(server: FakeAgentServer) -> None:
    client = server.client(max_retries=0)
    assert client.closed is False  # a bool, before and after the first call
    await create(client)
    assert client.closed is False
    await client.aclose()
    assert client.closed is True
    with pytest.raises(AgentChatError) as info:
        await create(client)
    assert str(info.value) == "This client has been closed; create a new one."
    assert len(server.requests) == 1


async def test_a_client_in_use_in_another_running_loop_says_so_word_for_word(
    server: FakeAgentServer,
) -> None:
    async with server.client(max_retries=0) as client:
        await create(client)  # its session belongs to this loop, which goes on running

        def call_from_another_loop() -> BaseException | None:
            try:
                asyncio.run(create(client))
            except AgentChatError as exc:
                return exc
            return None

        with anyio.fail_after(5):
            error = await asyncio.to_thread(call_from_another_loop)
    assert str(error) == (
        "This client is in use in another event loop, which is still running; "
        "create one client per event loop."
    )
    assert len(server.requests) == 1


def test_a_loop_closed_without_shutting_down_leaves_the_client_usable() -> None:
    """A loop closed by hand (no ``shutdown_asyncgens()``, as old scripts do) could not close
    the client's session: the next loop gets a new one, streams and closing included. In a
    fresh interpreter: the session left behind is only collected there."""
    code = textwrap.dedent(
        """
        import asyncio
        from agentchat import AsyncAgentClient
        from agentchat.testing import FakeAgentServer

        async def ask(client, stream):
            said = [{"role": "user", "content": "hi"}]
            create = client.agent.chat.completions.create
            if not stream:
                return (await create(model="m", messages=said)).choices[0].message.content
            async with await create(model="m", messages=said, stream=True) as events:
                return (await events.get_final_completion()).choices[0].message.content

        async def second(client):
            texts = [await ask(client, stream=True), await ask(client, stream=False)]
            await client.aclose()
            return texts

        with FakeAgentServer().in_thread() as server:
            client = AsyncAgentClient(server.token, server.url, max_retries=0)
            loop = asyncio.new_event_loop()
            print(loop.run_until_complete(ask(client, stream=False)))
            loop.close()
            print(*asyncio.run(second(client)))
            print(len(server.requests))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Echo: hi", "Echo: hi Echo: hi", "3"]


async def test_trust_env_takes_the_proxy_from_the_environment(
    server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``trust_env=True`` the request goes through ``HTTP_PROXY``: here the fake agent
    itself, which answers the proxied request; the agent's own address is a closed port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", server.url)
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with AsyncAgentClient(
        server.token, f"http://{closed}", max_retries=0, trust_env=True
    ) as client:
        with anyio.fail_after(5):
            completion = await create(client)
    assert completion.choices[0].message.content == "Echo: Hello there"
    assert server.last_request.headers["Host"] == closed
