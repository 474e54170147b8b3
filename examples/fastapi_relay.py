"""A FastAPI service that relays an agent's streamed answer as server-sent events.

    python -m pip install fastapi uvicorn
    python examples/fastapi_relay.py              # serves http://127.0.0.1:8080/chat
    python examples/fastapi_relay.py --self-test  # start, chat once, check, exit

    curl -N http://127.0.0.1:8080/chat -H 'Content-Type: application/json' \\
        -d '{"messages": [{"role": "user", "content": "Hello"}]}'

The agent is the fake one embedded in agentchat (no account, no network) unless
``$AGENT_ENDPOINT`` or ``$AGENT_ACCESS_KEY`` is set: then it is that agent.

``POST /chat`` with ``{"messages": [{"role": "user", "content": "..."}, ...]}`` answers with
the agent's chunks as server-sent events, byte for byte (``stream.sse_bytes()``), then
``data: [DONE]``, or an ``event: error`` frame if the answer fails midway. A call that fails
before the answer starts gets a JSON error, ``{"error": {"message", "code"}}``; a body that
is not such a conversation gets FastAPI's 422.

The same app in aiohttp.web, with a page for a browser: examples/web_relay.py. See
docs/web.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator
from typing import Literal

import aiohttp
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from agentchat import (
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncAgentClient,
    InvalidRequestError,
    MessageParam,
    PoolTimeoutError,
)
from agentchat.testing import FakeAgentServer

log = logging.getLogger("fastapi_relay")

MODEL = "llama3.3-70b-instruct"
SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly."

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each piece on at once instead of buffering
}


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifetime: make the one client that every request shares, close it on
    shutdown. Without an agent configured, start the embedded fake agent for it."""
    if os.environ.get("AGENT_ENDPOINT") or os.environ.get("AGENT_ACCESS_KEY"):
        async with AsyncAgentClient() as client:  # both variables are needed: a clear error
            log.info("agent: %s", client.agent_endpoint)
            app.state.agent = client
            yield
        return
    # stream_delay: the fake agent pauses between words, as a model does.
    async with FakeAgentServer(stream_delay=0.05) as server, server.client() as client:
        log.info("agent: the embedded fake agent at %s", server.url)
        app.state.agent = client
        yield


app = FastAPI(lifespan=lifespan)


class Message(BaseModel):
    # A browser chooses the user and assistant turns, never the system prompt.
    role: Literal["user", "assistant"]
    content: str = Field(max_length=32_000)


class Chat(BaseModel):
    messages: list[Message] = Field(min_length=1, max_length=100)


@app.post("/chat")
async def chat(body: Chat, request: Request) -> Response:
    """The answer as server-sent events."""
    if body.messages[-1].role != "user":
        return error_response(400, "The last message must be the user's.", "invalid_messages")
    messages: list[MessageParam] = [{"role": "system", "content": SYSTEM_PROMPT}]
    for message in body.messages:
        if message.role == "user":
            messages.append({"role": "user", "content": message.content})
        else:
            messages.append({"role": "assistant", "content": message.content})
    client: AsyncAgentClient = request.app.state.agent
    try:
        # Returns once the agent's first event has arrived: every failure before the answer
        # starts is raised here, while a status can still say so.
        stream = await client.agent.chat.completions.create(
            model=MODEL, messages=messages, stream=True
        )
    except (InvalidRequestError, APIError) as error:
        status, message_text, code = http_error(error)
        return error_response(status, message_text, code)
    # sse_bytes() never raises an APIError: a failure midway is sent as an `event: error`
    # frame after the chunks that arrived before it. It closes the agent connection when it
    # ends, or at once when the browser goes away: on uvicorn, StreamingResponse then
    # cancels the relay, even while it waits for the agent.
    return StreamingResponse(
        stream.sse_bytes(), media_type="text/event-stream", headers=STREAM_HEADERS
    )


def http_error(error: InvalidRequestError | APIError) -> tuple[int, str, str]:
    """The status, message and code to answer with when ``create()`` fails. The details
    (the agent's URL, which timeout) go to the log, not to the browser."""
    if isinstance(error, InvalidRequestError):  # rejected before anything was sent
        # Not str(error): it quotes the value, and the value holds the system prompt.
        return 400, f"{error.param}: {error.allowed}", "invalid_request"
    log.warning("agent call failed: %s", error)
    if isinstance(error, PoolTimeoutError):  # our own overload: every connection was busy
        return 503, "Too busy right now; try again shortly.", "busy"
    if isinstance(error, APITimeoutError):
        return 504, "The agent did not answer in time.", "agent_timeout"
    if isinstance(error, APIStatusError):
        return 502, f"The agent answered HTTP {error.status_code}: {error.message}", "agent_error"
    return 502, "The agent could not be reached.", "agent_unavailable"


def error_response(status: int, message: str, code: str) -> JSONResponse:
    """An error in the shape of the stream's own error frames."""
    return JSONResponse({"error": {"message": message, "code": code}}, status_code=status)


# -- serving, and the self-test --------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve the app with uvicorn in this event loop (port 0: any free port) and yield its
    URL; on exit, stop it (the lifespan closes the client)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # the lifespan's startup has run
            if task.done():
                task.result()  # it failed to start: say why
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://{f'[{host}]' if ':' in host else host}:{bound}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def self_test() -> int:
    """Serve on an ephemeral port, chat once, check a bad request, stop."""
    async with serving() as url, aiohttp.ClientSession() as browser:
        print(f"fastapi relay: {url}/chat")
        conversation = {"messages": [{"role": "user", "content": "What is 2 + 2?"}]}
        async with browser.post(f"{url}/chat", json=conversation) as response:
            kind = response.headers["Content-Type"]
            if response.status != 200 or not kind.startswith("text/event-stream"):
                raise RuntimeError(f"/chat answered HTTP {response.status} {kind}")
            body = await response.read()
        print(f"/chat relayed {len(body)} bytes, ending {body[-14:]!r}")
        if not body.endswith(b"data: [DONE]\n\n"):
            raise RuntimeError("the stream did not end with [DONE]")
        bad = {"messages": [{"role": "assistant", "content": "Hi"}]}
        async with browser.post(f"{url}/chat", json=bad) as response:
            error = (await response.json())["error"]
            print(f"bad input: HTTP {response.status} {error}")
            if response.status != 400:
                raise RuntimeError(f"bad input got HTTP {response.status}, not 400")
    print("self-test passed")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; anyone who can "
        "reach the port can use the agent)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    parser.add_argument(
        "--self-test", action="store_true", help="start, chat once, check the answer, exit"
    )
    args = parser.parse_args()
    if args.self_test:
        logging.basicConfig(level=logging.WARNING)
        return asyncio.run(self_test())
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
