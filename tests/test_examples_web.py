"""The complete web services of docs/web.md, as users run them: examples/web_relay.py
(aiohttp.web) and examples/fastapi_relay.py (FastAPI, served by uvicorn).

Both self-tests run (they start the app with its embedded fake agent, chat through it and
stop it). The FastAPI app is then served on 127.0.0.1 against a FakeAgentServer, and an
aiohttp client plays the browser: it must receive the agent's events byte for byte, one
client shared by every request must be closed when the app stops, a failure mid-answer must
arrive as an error frame and one before the answer as a JSON error, and a browser that leaves
must close the agent connection. (tests/test_relay.py checks the relays themselves inside
aiohttp.web and Starlette apps of its own.)
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agentchat import AsyncAgentClient
from agentchat.testing import FakeAgentServer, ScriptedStream

ROOT = Path(__file__).resolve().parents[1]
HELLO = {"messages": [{"role": "user", "content": "Hello"}]}
#: Events whose exact text a re-encoding would change (a null, key order, non-ASCII text).
EVENTS = [
    '{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}',
    '{"choices": [{"delta": {"content": "Hé "}, "index": 0}], "id": "c1", "x_new": 1.0}',
    '{"id":"c1","choices":[{"index":0,"delta":{"content":"wörld"},"finish_reason":"stop"}]}',
]


def load(path: str) -> Any:
    """Import an example file as a module (examples/ is not a package)."""
    name = "example_" + Path(path).stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves the models' annotations through it
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def sse(data: str) -> str:
    return f"data: {data}\n\n"


# -- the self-tests ---------------------------------------------------------------------------


async def test_the_aiohttp_example_passes_its_self_test(capsys: pytest.CaptureFixture[str]) -> None:
    web_relay = load("examples/web_relay.py")
    assert await web_relay.self_test() == 0
    printed = capsys.readouterr().out
    assert "/chat      relayed: 'Echo: What is 2 + 2?'" in printed
    assert "/chat.txt  relayed: 'Echo: What is 2 + 2?'" in printed
    assert printed.endswith("self-test passed\n")


@pytest.fixture
def fastapi_relay() -> Any:
    pytest.importorskip("fastapi")
    return load("examples/fastapi_relay.py")


async def test_the_fastapi_example_passes_its_self_test(
    fastapi_relay: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await fastapi_relay.self_test() == 0
    assert capsys.readouterr().out.endswith("self-test passed\n")


# -- the FastAPI app against a fake agent ---------------------------------------------------


@pytest.fixture
def agent_env(server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the app's AsyncAgentClient() at the fake agent, as a deployment would."""
    monkeypatch.setenv("AGENT_ENDPOINT", server.url)
    monkeypatch.setenv("AGENT_ACCESS_KEY", server.token)


@pytest.fixture
async def service(fastapi_relay: Any, agent_env: None) -> AsyncIterator[str]:
    async with fastapi_relay.serving() as url:
        yield url


async def chat(url: str, body: Any = HELLO) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as browser, browser.post(f"{url}/chat", json=body) as r:
        return r.status, r.headers["Content-Type"], await r.read()


async def test_one_client_relays_every_request_byte_for_byte_and_is_closed_on_shutdown(
    fastapi_relay: Any, agent_env: None, server: FakeAgentServer
) -> None:
    server.enqueue(*[ScriptedStream(events=[sse(e) for e in EVENTS], write_size=7)] * 2)
    async with fastapi_relay.serving() as url:
        client = fastapi_relay.app.state.agent
        assert isinstance(client, AsyncAgentClient) and not client.closed
        for _ in range(2):
            status, kind, body = await chat(url)
            assert (status, kind.split(";")[0]) == (200, "text/event-stream")
            assert body == "".join(sse(e) for e in [*EVENTS, "[DONE]"]).encode()
        assert fastapi_relay.app.state.agent is client
        # Both answers came through one pooled connection of the one client.
        assert server.open_connections == 1
        assert server.requests[0].messages[0]["role"] == "system"
        assert server.requests[1].last_user_content == "Hello"
    assert client.closed  # the lifespan closed it when the app stopped
    assert await server.wait_for_connections(0)


async def test_a_failure_mid_answer_reaches_the_browser_as_an_error_frame(
    service: str, server: FakeAgentServer
) -> None:
    server.fault("cut", after=3)
    status, _, body = await chat(service)
    assert status == 200
    frames = body.decode().split("\n\n")
    assert [f.startswith("data: {") for f in frames[:3]] == [True] * 3
    assert frames[3].startswith("event: error\ndata: ")
    error = json.loads(frames[3].split("data: ", 1)[1])["error"]
    assert error["code"] == "incomplete_stream"
    assert "after 3 chunks" in error["message"]
    assert frames[4:] == [""]  # nothing after it: no [DONE]


async def test_a_refusal_before_the_answer_is_a_json_error(
    service: str, server: FakeAgentServer
) -> None:
    server.error(401, "Invalid access key")
    status, kind, body = await chat(service)
    assert (status, kind) == (502, "application/json")
    assert json.loads(body) == {
        "error": {
            "message": "The agent answered HTTP 401: Invalid access key",
            "code": "agent_error",
        }
    }
    status, _, body = await chat(service, {"messages": [{"role": "system", "content": "x"}]})
    assert status == 422  # FastAPI's validation: a browser never sends the system prompt
    assert len(server.requests) == 1


@pytest.mark.parametrize("agent", ["streaming", "silent", "not started"])
async def test_a_browser_that_leaves_closes_the_agent_connection(
    service: str, server: FakeAgentServer, agent: str
) -> None:
    if agent == "streaming":
        server.enqueue(ScriptedStream(events=[sse(EVENTS[1])] * 400, interval=0.05))
    elif agent == "silent":  # one event, then the model thinks, sending nothing
        server.enqueue(ScriptedStream(events=[sse(EVENTS[0])], done=False, stall=True))
    else:  # the browser leaves before the agent's first event: the relay has not begun
        server.reply(["a ", "b"] * 50, delay=0.3, interval=0.05)
    async with aiohttp.ClientSession() as browser:
        if agent == "not started":
            with pytest.raises(asyncio.TimeoutError):  # TimeoutError, on Python 3.11+
                await browser.post(
                    f"{service}/chat", json=HELLO, timeout=aiohttp.ClientTimeout(0.1)
                )
            assert server.open_connections == 1  # the service still waits for the agent
        else:
            response = await browser.post(f"{service}/chat", json=HELLO)
            assert (await response.content.readuntil(b"\n\n")).startswith(b"data: ")
            assert server.open_connections == 1
            response.close()  # the tab is closed
    assert await server.wait_for_connections(0, timeout=1.0), "the agent connection stayed open"
