"""Record what a real llama.cpp ``llama-server`` sends, byte for byte, for the replay tests.

    .nox/live/bin/python scripts/record_llama_fixtures.py

Starts one ``llama-server`` on 127.0.0.1 with ``tests/live/llama.py`` (the model and the tool
template of the ``live`` nox session), sends each case's request with the standard library's
``http.client`` and writes, per case, into ``tests/fixtures/llamacpp/``:

- ``<case>.body``: the response body exactly as received (after HTTP's chunked framing is
  taken off: every byte of the event stream, comment lines and line ends included);
- ``<case>.json``: the request, the status, the content type, the sizes of the reads the
  body arrived in, and the server's build.

The replay tests (``tests/test_real_servers.py``) serve these bytes again and check the
client against what a plain ``json`` reading of them says. Recording again replaces the
files; the tests derive every expected value from the bytes, so they need no edit.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "llamacpp"

sys.path.insert(0, str(ROOT))

from tests.live.llama import LlamaServer, llama_server  # noqa: E402

PATH = "/v1/chat/completions"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name"}},
            "required": ["city"],
        },
    },
}
#: One worked example of a call and its result, then a question that needs the tool again.
TOOL_CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You answer weather questions by calling get_weather."},
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_paris",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_paris", "content": '{"temp_c": 18, "sky": "clear"}'},
    {"role": "assistant", "content": "It is 18 °C and clear in Paris."},
    {"role": "user", "content": "And in Tokyo?"},
]
HELLO = [{"role": "user", "content": "Say hello to Zoë in five words, with one emoji."}]
BASE: dict[str, Any] = {"model": "local", "temperature": 0, "seed": 42}

#: case name -> (request body, API key override or None)
CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "stream_usage": (
        {
            **BASE,
            "messages": HELLO,
            "max_tokens": 24,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        None,
    ),
    "stream_n2_usage": (
        {
            **BASE,
            "temperature": 0.9,
            "messages": HELLO,
            "max_tokens": 16,
            "n": 2,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        None,
    ),
    "stream_tool_call": (
        {
            **BASE,
            "messages": TOOL_CONVERSATION,
            "tools": [WEATHER_TOOL],
            # SmolLM2-135M would rather answer in words, or write a <tool_response> of its
            # own (this llama-server does not force a call for tool_choice="required"): ban
            # the "response" token (7639) and favour "<" (44), and it writes the
            # <tool_call> block of the worked example, which llama-server turns into a call.
            "logit_bias": {"7639": -100, "44": 5},
            "max_tokens": 64,
            "stream": True,
        },
        None,
    ),
    "stream_logprobs": (
        {
            **BASE,
            "messages": HELLO,
            "max_tokens": 8,
            "logprobs": True,
            "top_logprobs": 2,
            "stream": True,
        },
        None,
    ),
    "completion_logprobs": (
        {**BASE, "messages": HELLO, "max_tokens": 8, "logprobs": True, "top_logprobs": 2},
        None,
    ),
    "error_400": ({**BASE, "messages": "not a list of messages", "max_tokens": 8}, None),
    # A client mistake that llama-server answers with 500: an assistant message to continue
    # (a prefill) that its tool-call parser then cannot read.
    "error_500": (
        {
            **BASE,
            "messages": [*HELLO, {"role": "assistant", "content": "<tool_call>\n{"}],
            "tools": [WEATHER_TOOL],
            "max_tokens": 8,
        },
        None,
    ),
    "stream_error_500": (
        {
            **BASE,
            "messages": [*HELLO, {"role": "assistant", "content": "<tool_call>\n{"}],
            "tools": [WEATHER_TOOL],
            "max_tokens": 8,
            "stream": True,
        },
        None,
    ),
    "error_401": ({**BASE, "messages": HELLO, "max_tokens": 8}, "not-the-key"),
}

#: A prompt long enough (about 900 tokens) for the server to take seconds over it on one
#: thread: with --sse-ping-interval 1 it sends ":" keep-alive comments before the first event.
LONG_PROMPT = " ".join(f"Item {i}: the quick brown fox jumps over the lazy dog." for i in range(70))
PING_CASE = (
    "stream_pings",
    {
        **BASE,
        "messages": [{"role": "user", "content": LONG_PROMPT + "\nSum it up in five words."}],
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True},
    },
)


def record(server: LlamaServer, body: dict[str, Any], key: str) -> dict[str, Any]:
    """Send one request; the status, content type, read sizes and the exact body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    try:
        connection.request(
            "POST",
            server.api_prefix + PATH,
            body=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept": "text/event-stream" if body.get("stream") else "application/json",
                "Authorization": f"Bearer {key}",
            },
        )
        started = time.monotonic()
        response = connection.getresponse()
        reads: list[bytes] = []
        times: list[float] = []
        while piece := response.read1(65536):
            reads.append(piece)
            times.append(round(time.monotonic() - started, 3))
        return {
            "status": response.status,
            "content_type": response.getheader("Content-Type", ""),
            "reads": [len(piece) for piece in reads],
            "read_times": times,
            "raw": b"".join(reads),
        }
    finally:
        connection.close()


def server_build(server: LlamaServer) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            "GET",
            server.api_prefix + "/props",
            headers={"Authorization": f"Bearer {server.api_key}"},
        )
        props = json.loads(connection.getresponse().read() or b"{}")
    except (OSError, ValueError):
        return None
    finally:
        connection.close()
    return props.get("build_info") if isinstance(props, dict) else None


def save(name: str, body: dict[str, Any], result: dict[str, Any], build: Any) -> None:
    raw = result.pop("raw")
    (OUT / f"{name}.body").write_bytes(raw)
    meta = {"request": body, **result, "server": "llama-server", "build": build}
    (OUT / f"{name}.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    print(f"{name}: HTTP {result['status']}, {len(raw)} bytes in {len(result['reads'])} reads")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with llama_server() as server:
        build = server_build(server)
        for name, (body, key) in CASES.items():
            save(name, body, record(server, body, key or server.api_key), build)
    name, body = PING_CASE
    with llama_server(
        slots=1, ctx_per_slot=2048, extra_args=["--sse-ping-interval", "1"]
    ) as server:
        save(name, body, record(server, body, server.api_key), server_build(server))


if __name__ == "__main__":
    main()
