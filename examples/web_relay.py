"""A web service that relays an agent's streamed answer to a browser: aiohttp.web only.

    python examples/web_relay.py              # then open http://127.0.0.1:8080/
    python examples/web_relay.py --self-test  # start, chat once, check, exit (what nox runs)

The agent is the fake one embedded in agentchat (no account, no network) unless
``$AGENT_ENDPOINT`` or ``$AGENT_ACCESS_KEY`` is set: then it is that agent.

- ``GET /``: a page that posts the conversation and reads the answer as it streams.
- ``POST /chat`` with ``{"messages": [{"role": "user", "content": "..."}, ...]}``: the
  answer as server-sent events, the agent's chunks byte for byte (``stream.sse_bytes()``),
  ``data: [DONE]`` at the end, or an ``event: error`` frame if the answer fails midway.
- ``POST /chat.txt``: the same, just the text (``stream.text_bytes()``).

See docs/web.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from agentchat import (
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncAgentClient,
    AsyncStream,
    InvalidRequestError,
    MessageParam,
    PoolTimeoutError,
)
from agentchat.testing import FakeAgentServer

log = logging.getLogger("web_relay")

MODEL = "llama3.3-70b-instruct"
SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly."
#: What a browser may send: it chooses the user and assistant turns, never the system prompt.
ROLES = ("user", "assistant")
MAX_MESSAGES = 100
MAX_CHARS = 32_000

#: The one client of the app: made at startup, closed at shutdown, shared by every request.
CLIENT = web.AppKey("client", AsyncAgentClient)

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each piece on at once instead of buffering
}


async def agent_client(app: web.Application) -> AsyncIterator[None]:
    """The app's lifetime (``cleanup_ctx``): start the fake agent unless a real one is
    configured, and make the one client; on shutdown close both."""
    if os.environ.get("AGENT_ENDPOINT") or os.environ.get("AGENT_ACCESS_KEY"):
        async with AsyncAgentClient() as client:  # both variables are needed: a clear error
            print(f"agent: {client.agent_endpoint}", flush=True)
            app[CLIENT] = client
            yield
        return
    # stream_delay: the fake agent pauses between words, as a model does.
    async with FakeAgentServer(stream_delay=0.05) as server, server.client() as client:
        print(f"agent: the embedded fake agent at {server.url}", flush=True)
        app[CLIENT] = client
        yield


# -- the routes ----------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def chat(request: web.Request) -> web.StreamResponse:
    """The answer as server-sent events."""
    opened = await open_stream(request)
    if isinstance(opened, web.Response):
        return opened
    async with opened as stream:  # closes the agent connection however this ends
        response = web.StreamResponse(
            headers={**STREAM_HEADERS, "Content-Type": "text/event-stream"}
        )
        await response.prepare(request)
        # sse_bytes() never raises an APIError: a failure midway is sent as an
        # `event: error` frame after the chunks that arrived before it.
        async for piece in stream.sse_bytes():
            await response.write(piece)
        await response.write_eof()
        return response


async def chat_text(request: web.Request) -> web.StreamResponse:
    """The answer as plain text."""
    opened = await open_stream(request)
    if isinstance(opened, web.Response):
        return opened
    async with opened as stream:
        response = web.StreamResponse(
            headers={**STREAM_HEADERS, "Content-Type": "text/plain; charset=utf-8"}
        )
        await response.prepare(request)
        try:
            async for piece in stream.text_bytes():
                await response.write(piece)
        except APIError as error:
            # The text that arrived has been sent; plain text cannot say "error", so the
            # response must break rather than end: drop the connection without the end of
            # the chunked body, and the reader sees an incomplete response.
            log.warning("answer failed after %d chunks: %s", error.chunks, error)
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
        return response


async def open_stream(request: web.Request) -> AsyncStream | web.Response:
    """Check the request and ask the agent: the stream, or the error response to send.

    ``create()`` returns once the agent's first event has arrived, so every failure before
    the answer starts (the agent's error statuses, after the retries; timeouts; the agent
    unreachable; a rejected parameter) is raised here, while a status can still say so.
    """
    try:
        body: Any = await request.json()
    except ValueError:
        return error_response(400, "The body must be JSON.", "invalid_json")
    messages = check_messages(body)
    if isinstance(messages, str):
        return error_response(400, messages, "invalid_messages")
    try:
        return await request.app[CLIENT].agent.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": SYSTEM_PROMPT}, *messages],
            stream=True,
        )
    except InvalidRequestError as error:  # rejected before anything was sent
        # Not str(error): it quotes the value, and the value holds the system prompt.
        return error_response(400, f"{error.param}: {error.allowed}", "invalid_request")
    except PoolTimeoutError as error:  # our own overload: every pooled connection was busy
        log.warning("agent pool full: %s", error)
        return error_response(503, "Too busy right now; try again shortly.", "busy")
    except APITimeoutError as error:
        # The details (the agent's URL, which timeout) are for the log, not the browser.
        log.warning("agent timeout: %s", error)
        return error_response(504, "The agent did not answer in time.", "agent_timeout")
    except APIStatusError as error:
        log.warning("agent error: %s", error)
        message = f"The agent answered HTTP {error.status_code}: {error.message}"
        return error_response(502, message, "agent_error")
    except APIError as error:  # unreachable, cut before the first event, a malformed answer
        log.warning("agent failure: %s", error)
        return error_response(502, "The agent could not be reached.", "agent_unavailable")


def check_messages(body: Any) -> list[MessageParam] | str:
    """The conversation in a request body, or what is wrong with it."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return 'Expected {"messages": [{"role": "user", "content": "..."}, ...]}.'
    if len(messages) > MAX_MESSAGES:
        return f"At most {MAX_MESSAGES} messages."
    checked: list[MessageParam] = []
    chars = 0
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in ROLES or not isinstance(content, str):
            return f'messages[{i}] must be {{"role": "user" or "assistant", "content": "text"}}.'
        chars += len(content)
        checked.append(
            {"role": "user", "content": content}
            if role == "user"
            else {"role": "assistant", "content": content}
        )
    if chars > MAX_CHARS:
        return f"At most {MAX_CHARS} characters in all."
    if checked[-1]["role"] != "user":
        return "The last message must be the user's."
    return checked


def error_response(status: int, message: str, code: str) -> web.Response:
    """An error in the shape of the stream's own error frames."""
    return web.json_response({"error": {"message": message, "code": code}}, status=status)


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(agent_client)
    app.router.add_get("/", index)
    app.router.add_post("/chat", chat)
    app.router.add_post("/chat.txt", chat_text)
    return app


# handler_cancellation=True: when the browser goes away, aiohttp.web cancels the handler.
# The cancellation reaches the read from the agent that the handler is waiting in, which
# closes the agent connection at once, even while the agent is silent (thinking, or stalled).
# Without it the handler only finds out at its next write, which may be minutes away.
HANDLER_CANCELLATION = True


# -- self-test -------------------------------------------------------------------------------


async def self_test() -> int:
    """Serve on an ephemeral port, chat once through each route, check a bad request."""
    runner = web.AppRunner(make_app(), handler_cancellation=HANDLER_CANCELLATION)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        print(f"web relay: {url}/")
        conversation = {"messages": [{"role": "user", "content": "What is 2 + 2?"}]}
        async with aiohttp.ClientSession(raise_for_status=True) as browser:
            async with browser.post(f"{url}/chat", json=conversation) as response:
                kind = response.headers["Content-Type"]
                if kind != "text/event-stream":
                    raise RuntimeError(f"/chat answered {kind}, not an event stream")
                sse_text = await read_events(response)
            print(f"/chat      relayed: {sse_text!r}")
            async with browser.post(f"{url}/chat.txt", json=conversation) as response:
                plain_text = await response.text()
            print(f"/chat.txt  relayed: {plain_text!r}")
            bad = {"messages": "hi"}
            async with browser.post(f"{url}/chat", json=bad, raise_for_status=False) as response:
                error = (await response.json())["error"]
                print(f"bad input: HTTP {response.status} {error}")
                if response.status != 400:
                    raise RuntimeError(f"bad input got HTTP {response.status}, not 400")
        if not sse_text or not plain_text:
            raise RuntimeError("no text was relayed")
    finally:
        await runner.cleanup()
    print("self-test passed")
    return 0


async def read_events(response: aiohttp.ClientResponse) -> str:
    """Read an event stream to ``[DONE]`` as the page does; the text of choice 0."""
    text = ""
    buffer = b""
    async for piece in response.content.iter_any():
        buffer += piece
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            lines = frame.decode().split("\n")
            event = next((ln[7:] for ln in lines if ln.startswith("event: ")), "message")
            data = "\n".join(ln[6:] for ln in lines if ln.startswith("data: "))
            if event == "error":
                raise RuntimeError(f"the answer failed: {json.loads(data)['error']}")
            if data == "[DONE]":
                return text
            for choice in json.loads(data)["choices"]:
                if choice.get("index", 0) == 0:
                    text += choice["delta"].get("content") or ""
    raise RuntimeError(f"the stream ended without [DONE] after {text!r}")


# -- the page ------------------------------------------------------------------------------

# EventSource can only GET, so the page POSTs with fetch() and parses the event stream
# itself. This relay ends every line with "\n", so events are separated by "\n\n".
PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>agentchat web relay</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; }
  #log p { white-space: pre-wrap; margin: .5rem 0; }
  .user { font-weight: bold; } .error { color: #b00; }
  form { display: flex; gap: .5rem; } input { flex: 1; font: inherit; padding: .3rem; }
</style>
<div id="log"></div>
<form id="form"><input id="q" autofocus placeholder="Ask something"><button>Send</button></form>
<script>
const log = document.getElementById("log"), form = document.getElementById("form");
const q = document.getElementById("q"), turns = [];  // the conversation so far

function line(cls, text) {
  const p = document.createElement("p");
  p.className = cls;
  p.textContent = text;
  log.append(p);
  return p;
}

form.onsubmit = async (event) => {
  event.preventDefault();
  if (!q.value.trim()) return;
  const asked = {role: "user", content: q.value};
  q.value = "";
  line("user", asked.content);
  const answer = line("agent", "");
  const fail = (message) => line("error", "Error: " + message);
  form.querySelector("button").disabled = true;
  try {
    const response = await fetch("/chat", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({messages: [...turns, asked]}),
    });
    if (!response.ok) {  // refused before the answer started: a JSON error
      const body = await response.json().catch(() => null);
      return fail(body?.error?.message ?? "HTTP " + response.status);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return fail("the connection closed before the answer was complete");
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let kind = "message", data = [];
        for (const field of frame.split("\\n")) {
          if (field.startsWith("event: ")) kind = field.slice(7);
          else if (field.startsWith("data: ")) data.push(field.slice(6));
        }
        if (kind === "error") return fail(JSON.parse(data.join("\\n")).error.message);
        if (data.join("\\n") === "[DONE]") {
          turns.push(asked, {role: "assistant", content: answer.textContent});
          return;
        }
        for (const choice of JSON.parse(data.join("\\n")).choices ?? []) {
          if ((choice.index ?? 0) === 0) answer.textContent += choice.delta?.content ?? "";
        }
      }
    }
  } catch (error) {
    fail(error.message);
  } finally {
    form.querySelector("button").disabled = false;
    q.focus();
  }
};
</script>
</html>
"""


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
    host = f"[{args.host}]" if ":" in args.host else args.host
    web.run_app(
        make_app(),
        host=args.host,
        port=args.port,
        handler_cancellation=HANDLER_CANCELLATION,
        print=lambda _: print(f"web relay: http://{host}:{args.port}/  (Ctrl-C to stop)"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
