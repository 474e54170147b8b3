"""A client's life across event loops: one ``asyncio.run()`` after another, and the blocking
client called from inside a running loop.

Real servers on 127.0.0.1 throughout: a fake agent on a thread of its own, or, to show what
blocking the caller's loop does, on the test's own loop.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentchat import (
    AgentChatError,
    AgentClient,
    APITimeoutError,
    AsyncAgentClient,
    Timeout,
    _portal,
)
from agentchat.testing import FakeAgentServer

from .conftest import USER, create, open_stream, wait_until

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def thread_server() -> Iterator[FakeAgentServer]:
    """A fake agent on its own loop in a background thread: it answers whatever the test's
    thread does."""
    with FakeAgentServer().in_thread() as fake:
        yield fake


@pytest.fixture
def first_blocking_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if no blocking call had been made from a running loop in this process yet."""
    monkeypatch.setattr(_portal, "_warned_blocking_a_loop", False)


# -- one client, one asyncio.run() after another -----------------------------------------------


def test_one_client_serves_one_asyncio_run_after_another_without_warnings(
    thread_server: FakeAgentServer,
) -> None:
    client = AsyncAgentClient(thread_server.token, thread_server.url, max_retries=0)
    left_open: list[object] = []

    async def step(n: int) -> str | None:
        said = [{"role": "user", "content": f"step {n}"}]
        completion = await create(client, messages=said)
        async with await open_stream(client, messages=said) as stream:
            streamed = await stream.get_final_completion()
        assert streamed.choices[0].message.content == completion.choices[0].message.content
        # A stream left open (mid-answer) when the loop ends.
        thread_server.stream(stop_after=2, done=False, stall=True)
        left_open.append(await open_stream(client))
        return completion.choices[0].message.content

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(3):
            assert asyncio.run(step(n)) == f"Echo: step {n}"
            left_open.clear()  # the stream left open goes now: its connection must not warn
            gc.collect()
            # The loop's shutdown closed the session, and with it every connection.
            assert client._transport.session is None
            assert wait_until(lambda: thread_server.open_connections == 0)
        asyncio.run(client.aclose())
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert len(thread_server.requests) == 9
    with pytest.raises(AgentChatError, match="closed"):
        asyncio.run(create(client))


def test_no_unclosed_warning_in_a_script_that_runs_the_client_twice() -> None:
    # In a fresh interpreter in development mode, every warning an error: what a user's
    # script would print at exit (aiohttp's "Unclosed client session" came from the garbage
    # collector, after the clear error of the second asyncio.run()).
    code = textwrap.dedent(
        """
        import asyncio, warnings
        warnings.simplefilter("error")
        from agentchat import AsyncAgentClient
        from agentchat.testing import FakeAgentServer

        with FakeAgentServer().in_thread() as server:
            client = AsyncAgentClient(server.token, server.url)

            async def ask(text):
                said = [{"role": "user", "content": text}]
                completion = await client.agent.chat.completions.create(model="m", messages=said)
                return completion.choices[0].message.content

            print(asyncio.run(ask("one")))
            print(asyncio.run(ask("two")))   # no aclose(): the loop's end closes the session
            del client
        """
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Echo: one", "Echo: two"]
    assert done.stderr == ""


def test_two_loops_at_the_same_time_still_get_a_clear_error(
    thread_server: FakeAgentServer,
) -> None:
    client = AsyncAgentClient(thread_server.token, thread_server.url, max_retries=0)
    errors: list[BaseException] = []

    async def first_loop() -> None:
        await create(client)

        def other_loop() -> None:
            try:
                asyncio.run(create(client))
            except BaseException as exc:  # examined below
                errors.append(exc)

        other = threading.Thread(target=other_loop)
        other.start()
        await asyncio.to_thread(other.join, 10)
        await client.aclose()

    asyncio.run(first_loop())
    assert len(errors) == 1 and isinstance(errors[0], AgentChatError)
    assert "another event loop, which is still running" in str(errors[0])


# -- a blocking call from inside a running loop -------------------------------------------------


def test_a_blocking_call_from_inside_a_running_loop_warns_once_at_the_callers_line(
    thread_server: FakeAgentServer, first_blocking_call: None
) -> None:
    with AgentClient(thread_server.token, thread_server.url, max_retries=0) as client:

        async def handler() -> list[str | None]:
            answers = []
            for _ in range(3):
                completion = client.agent.chat.completions.create(model="m", messages=USER)
                answers.append(completion.choices[0].message.content)
            return answers

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert asyncio.run(handler()) == ["Echo: Hello there"] * 3
            assert asyncio.run(handler()) == ["Echo: Hello there"] * 3
            # From a thread without a loop: no warning.
            client.agent.chat.completions.create(model="m", messages=USER)
    assert len(caught) == 1  # once per process
    warning = caught[0]
    assert warning.category is RuntimeWarning
    assert "running an asyncio event loop" in str(warning.message)
    assert "AsyncAgentClient" in str(warning.message)
    assert warning.filename == __file__  # the caller's line, not agentchat's


async def test_a_blocking_call_to_a_server_on_the_callers_own_loop_warns_and_does_not_hang(
    server: FakeAgentServer, first_blocking_call: None
) -> None:
    # The fake agent runs on this test's loop, which the blocking call blocks: the server
    # cannot answer until the call gives up. Nothing hangs: the warning comes first, and the
    # call ends at its timeout.
    with AgentClient(server.token, server.url, max_retries=0, timeout=Timeout(total=1.0)) as client:
        started = time.monotonic()
        with (
            pytest.warns(RuntimeWarning, match="blocking agentchat call") as caught,
            pytest.raises(APITimeoutError, match="total timeout"),
        ):
            client.agent.chat.completions.create(model="m", messages=USER)
        assert time.monotonic() - started < 5
        assert caught[0].filename == __file__
    # The loop runs again: the server answers a client that does not block it.
    async with server.client(max_retries=0) as async_client:
        assert (await create(async_client)).choices


async def test_with_warnings_as_errors_the_blocking_call_stops_before_sending(
    server: FakeAgentServer, first_blocking_call: None
) -> None:
    # As in this suite (filterwarnings = error): the warning is raised, at once.
    with AgentClient(server.token, server.url, max_retries=0) as client:
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(RuntimeWarning, match="AsyncAgentClient"):
                client.agent.chat.completions.create(model="m", messages=USER)
        assert time.monotonic() - started < 1
    await asyncio.sleep(0.05)
    assert server.requests == []
