"""Faults on the wire, against real servers on 127.0.0.1, for both call styles: the client
never hangs, never leaks a connection and never loses (or duplicates) an answer.

Each test runs under the suite's hard timeout (pytest-timeout), so a hang fails fast.
"""

from __future__ import annotations

import asyncio
import email.utils
import gc
import logging
import time
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from agentchat import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncAgentClient,
    AsyncStream,
    IncompleteStreamError,
    Timeout,
    _backoff,
)
from agentchat.testing import FakeAgentServer

from .conftest import USER, Connect, checked_out, create
from .flavours import make_client


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without a Retry-After wait 10 ms instead of the real backoff."""
    monkeypatch.setattr("agentchat._transport.backoff_delay", lambda retry: 0.01)


# -- statuses and Retry-After -----------------------------------------------------------------


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.fixture
def low_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every random draw of the backoff is its lower bound: waits are exact, runs repeat."""
    monkeypatch.setattr(_backoff, "random", SimpleNamespace(uniform=lambda low, high: low))


@pytest.mark.parametrize(
    ("headers", "least_wait", "most_wait"),
    [
        ({"retry-after": "0.3"}, 0.3, 0.65),
        ({"retry-after-ms": "300"}, 0.3, 0.65),
        ({"retry-after": "HTTP-DATE"}, 0.0, 1.35),  # a date has one-second resolution
        ({}, 0.75, 1.1),  # nothing said: a 429's first backoff step, 0.5 s + 0.25 s of jitter
    ],
    ids=["seconds", "milliseconds", "http-date", "none"],
)
async def test_429_is_retried_after_the_wait_the_server_asks(
    server: FakeAgentServer,
    connect: Connect,
    fast_backoff: None,
    low_jitter: None,
    headers: dict[str, str],
    least_wait: float,
    most_wait: float,
) -> None:
    # Every other wait is far from these bounds, whatever the draw: the plain backoff is
    # 0.01 s (fast_backoff), a 429's backoff exactly 0.75 s (low_jitter).
    if headers.get("retry-after") == "HTTP-DATE":
        headers = {"retry-after": _http_date(1)}
    server.respond(429, json={"id": "too_many_requests", "message": "slow down"}, headers=headers)
    async with connect(max_retries=2) as client:
        completion = await create(client)
    first, retry = server.requests
    waited = retry.received_at - first.received_at  # not the client's start-up
    assert least_wait <= waited < most_wait
    assert completion.response is not None and completion.response.attempts == 2
    assert [status for _, status in server.answered] == [429, 200]


async def test_the_attempt_number_is_sent_with_each_request(
    server: FakeAgentServer, connect: Connect, fast_backoff: None
) -> None:
    server.respond(503, json={"id": "x", "message": "busy"}, times=2)
    async with connect(max_retries=2) as client:
        await create(client)
    assert [r.headers["X-Agentchat-Attempt"] for r in server.requests] == ["1", "2", "3"]


# -- connections that break ---------------------------------------------------------------------


async def test_connection_reset_before_the_response_is_retried(
    server: FakeAgentServer, connect: Connect, fast_backoff: None
) -> None:
    # The first reset is sent again at once, uncounted (it looks like a stale pooled
    # connection); the second is a failed attempt, retried.
    server.respond(fault="reset", times=2)
    async with connect(max_retries=1) as client:
        completion = await create(client)
        assert completion.response is not None and completion.response.attempts == 2
        assert checked_out(client) == 0


async def test_connection_reset_without_retries_left_is_a_connection_error(
    server: FakeAgentServer, connect: Connect
) -> None:
    server.respond(fault="reset", times=2)  # the first is re-sent once, uncounted
    async with connect(max_retries=0) as client:
        with pytest.raises(APIConnectionError, match="Connection error"):
            await create(client)
        assert checked_out(client) == 0


async def test_connection_closed_mid_body_is_retried(
    server: FakeAgentServer, connect: Connect, fast_backoff: None
) -> None:
    server.respond(json=server.completion({"messages": USER}), fault="close_mid_body")
    async with connect(max_retries=1) as client:
        completion = await create(client)
        assert completion.choices[0].message.content == "Echo: Hello there"
        assert completion.response is not None and completion.response.attempts == 2
        assert checked_out(client) == 0


async def test_a_pooled_connection_found_dead_on_reuse_is_retried(
    server: FakeAgentServer, connect: Connect, fast_backoff: None
) -> None:
    async with connect(max_retries=0) as client:
        await create(client)
        assert server.open_connections == 1  # pooled
        server.respond(fault="reset")  # the next request finds that connection dead
        completion = await create(client)  # sent again at once, not counted as a retry
        assert completion.response is not None and completion.response.attempts == 1
        assert len(server.requests) == 3
        assert checked_out(client) == 0


async def test_keepalive_connection_closed_by_the_server_between_two_calls(
    flavour: str, fast_backoff: None
) -> None:
    async with (
        FakeAgentServer(keepalive_timeout=0.2) as server,
        make_client(flavour, server.token, server.url, max_retries=1) as client,
    ):
        await create(client)
        assert server.open_connections == 1
        await asyncio.sleep(0.5)  # the server closes the idle connection
        assert server.open_connections == 0
        completion = await create(client)
    assert completion.choices[0].message.content == "Echo: Hello there"


async def test_slow_headers_time_out_and_are_retried(
    server: FakeAgentServer, connect: Connect, fast_backoff: None
) -> None:
    server.respond(json={}, delay=3)
    async with connect(max_retries=1, timeout=Timeout(read=0.3)) as client:
        started = time.monotonic()
        completion = await create(client)
        assert time.monotonic() - started < 2
        assert completion.response is not None and completion.response.attempts == 2
        assert checked_out(client) == 0


async def test_slow_headers_without_retries_left_raise_a_timeout(
    server: FakeAgentServer, connect: Connect
) -> None:
    server.respond(json={}, delay=3, times=2)
    async with connect(max_retries=1, timeout=Timeout(read=0.2)) as client:
        with pytest.raises(APITimeoutError, match=r"read timeout 0\.2 s") as info:
            await create(client)
        assert info.value.attempts == 2
        assert checked_out(client) == 0


# -- streams: retried before their first event, never after ---------------------------------


async def test_a_stream_cut_before_its_first_event_is_retried(
    server: FakeAgentServer, connect: Connect, fast_backoff: None
) -> None:
    server.stream(stop_after=0, done=False, cut=True)
    async with connect(max_retries=1) as client:
        stream: AsyncStream = await client.agent.chat.completions.create(
            model="m", messages=USER, stream=True
        )
        async with stream:
            final = await stream.get_final_completion()
        assert final.choices[0].message.content == "Echo: Hello there"
        assert stream.response.attempts == 2
    assert len(server.requests) == 2


async def test_a_stream_that_fails_after_its_first_event_is_not_replayed(
    server: FakeAgentServer, connect: Connect, fast_backoff: None
) -> None:
    server.stream(stop_after=2, done=False, cut=True)
    async with connect(max_retries=3) as client:
        stream: AsyncStream = await client.agent.chat.completions.create(
            model="m", messages=USER, stream=True
        )
        with pytest.raises(IncompleteStreamError):
            async with stream:
                await stream.get_final_completion()
        assert checked_out(client) == 0
    assert len(server.requests) == 1


async def test_a_stream_silent_before_its_first_event_is_retried(
    server: FakeAgentServer, connect: Connect, fast_backoff: None
) -> None:
    server.stream(stop_after=0, done=False, stall=True)
    async with connect(max_retries=1, timeout=Timeout(stream_idle=0.3)) as client:
        stream: AsyncStream = await client.agent.chat.completions.create(
            model="m", messages=USER, stream=True
        )
        async with stream:
            final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Echo: Hello there"
    assert len(server.requests) == 2


# -- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
async def test_a_redirect_to_another_port_is_refused_and_the_key_goes_nowhere(
    server: FakeAgentServer, connect: Connect, status: int
) -> None:
    async with FakeAgentServer() as elsewhere:
        target = f"{elsewhere.url}/api/v1/chat/completions?agent=true"
        server.respond(status, headers={"Location": target}, body="")
        async with connect(max_retries=2) as client:
            with pytest.raises(APIStatusError) as info:
                await create(client)
        assert info.value.status_code == status
        assert "redirect" in info.value.message.lower()
        assert elsewhere.requests == []


# -- many requests, random failures -------------------------------------------------------------


async def test_200_concurrent_requests_with_random_503s_each_succeed_exactly_once(
    server: FakeAgentServer, connect: Connect
) -> None:
    server.fail_randomly(0.1, status=503, headers={"retry-after-ms": "20"}, seed=7)
    async with connect(max_retries=5) as client:

        async def one(key: int) -> str | None:
            completion = await create(
                client, messages=[{"role": "user", "content": f"request {key}"}]
            )
            return completion.choices[0].message.content

        answers = await asyncio.gather(*(one(key) for key in range(200)))
        assert checked_out(client) == 0
    assert answers == [f"Echo: request {key}" for key in range(200)]
    statuses = Counter(status for _, status in server.answered)
    assert statuses[503] > 0  # failures did happen ...
    successes = Counter(
        request.json()["messages"][0]["content"]
        for request, status in server.answered
        if status == 200
    )
    assert successes == Counter(f"request {key}" for key in range(200))  # ... exactly once each


# -- cancellation at every phase (async: a cancelled task; sync: Ctrl-C, in test_sync) --------


async def _cancel_after(coro: Any, seconds: float) -> None:
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(seconds)
    assert not task.done(), "the call finished before it could be cancelled"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _no_leak(client: AsyncAgentClient) -> None:
    assert checked_out(client) == 0
    await client.aclose()
    gc.collect()  # an unclosed session or transport would warn now; warnings are errors


async def test_cancelled_while_connecting(unanswered_port: int) -> None:
    client = AsyncAgentClient("k", f"http://127.0.0.1:{unanswered_port}")
    await _cancel_after(create(client), 0.3)
    await _no_leak(client)


async def test_connect_timeout(unanswered_port: int) -> None:
    client = AsyncAgentClient("k", f"http://127.0.0.1:{unanswered_port}", max_retries=0)
    with pytest.raises(APITimeoutError):
        await create(client, timeout=Timeout(connect=0.3))
    await _no_leak(client)


async def test_cancelled_while_waiting_for_headers(server: FakeAgentServer) -> None:
    server.respond(json={}, delay=10)
    client = server.client()
    await _cancel_after(create(client), 0.3)
    assert await server.wait_for_connections(0)
    await _no_leak(client)


async def test_cancelled_while_reading_the_body(server: FakeAgentServer) -> None:
    server.respond(json=server.completion({"messages": USER}), fault="stall_mid_body")
    client = server.client()
    await _cancel_after(create(client), 0.3)
    assert await server.wait_for_connections(0)
    await _no_leak(client)


async def test_cancelled_mid_stream(server: FakeAgentServer) -> None:
    server.stream(stop_after=2, done=False, stall=True)
    client = server.client()

    async def consume() -> None:
        async with await client.agent.chat.completions.create(
            model="m", messages=USER, stream=True
        ) as stream:
            async for _ in stream:
                pass

    await _cancel_after(consume(), 0.3)
    assert await server.wait_for_connections(0)
    await _no_leak(client)


async def test_cancelled_during_the_sleep_before_a_retry(server: FakeAgentServer) -> None:
    server.respond(503, json={"id": "x", "message": "busy"}, headers={"retry-after": "5"})
    client = server.client(max_retries=2)
    await _cancel_after(create(client), 0.3)
    await _no_leak(client)


# -- logging ------------------------------------------------------------------------------------


async def test_logs_say_what_happened_without_secrets(
    server: FakeAgentServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.respond(503, json={"id": "x", "message": "busy"}, headers={"retry-after-ms": "1"})
    with caplog.at_level(logging.DEBUG, logger="agentchat"):
        async with server.client() as client:
            await create(client, messages=[{"role": "user", "content": "private words"}])
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "POST /api/v1/chat/completions -> 503" in text
    assert "POST /api/v1/chat/completions -> 200" in text
    assert "attempt 1" in text and "attempt 2" in text
    assert "request_id=req-2" in text
    assert " ms " in text
    assert "retrying in" in text
    assert "private words" not in text and server.token not in text
