"""The bytes the benchmark server sends, built once at its start, and what the clients send.

Every answer is a realistic OpenAI-style body: compact JSON as the hosted APIs send it, a
``chat.completion`` for the plain calls and ``chat.completion.chunk`` events (one token each)
for the streams. The server picks the body by the first segment of the request path, so every
client reaches the same body whatever path it appends (``/api/v1/chat/completions?agent=true``
for agentchat, ``/v1/chat/completions`` for the openai SDK).
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = [
    "BIG",
    "BIG_CONTENT_BYTES",
    "FIRST",
    "FIRST_DELAY",
    "FIRST_STREAM_CHUNKS",
    "MESSAGES",
    "MODEL",
    "SMALL",
    "STALL",
    "STREAM_LONG",
    "STREAM_SHORT",
    "TOKEN",
    "WRITE_SIZE",
    "batches",
    "completion_body",
    "sse_events",
    "stream_kind",
]

MODEL: Final = "bench-model"
TOKEN: Final = "bench-token"
MESSAGES: Final[list[dict[str, str]]] = [{"role": "user", "content": "Say hello."}]
CREATED: Final = 1_700_000_000

#: The server writes streams in pieces of this size (and the kernel delivers them so).
WRITE_SIZE: Final = 64 * 1024

# Path prefixes: what the server answers under each.
SMALL: Final = "small"  # a short chat.completion
BIG: Final = "big"  # a chat.completion whose content is about 100 KB
FIRST: Final = "first"  # one chunk, then the rest after FIRST_DELAY
STALL: Final = "stall"  # one chunk, then nothing until the client goes away
STREAM_LONG: Final = 20_000
STREAM_SHORT: Final = 500
FIRST_STREAM_CHUNKS: Final = 20  # chunks of the FIRST stream
FIRST_DELAY: Final = 0.02
BIG_CONTENT_BYTES: Final = 100_000


def stream_kind(chunks: int) -> str:
    """The path prefix of a plain stream of ``chunks`` chunks."""
    return f"stream{chunks}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _words(count: int) -> list[str]:
    return [f" word{i % 97}" for i in range(count)]


def completion_body(content_bytes: int) -> bytes:
    """A ``chat.completion`` JSON body whose message content is about ``content_bytes`` long."""
    words: list[str] = []
    size = 0
    for word in _words(content_bytes):
        if size >= content_bytes:
            break
        words.append(word)
        size += len(word)
    content = "".join(words).lstrip()
    return _dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 12,
                "completion_tokens": len(words),
                "total_tokens": 12 + len(words),
            },
        }
    )


def _chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
    return _dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
    )


def sse_events(chunks: int) -> list[bytes]:
    """The events of a stream of ``chunks`` chunks (at least 2), ``data: [DONE]`` last.

    The first chunk carries the role, the last the finish reason, the others a token each.
    """
    if chunks < 2:
        raise ValueError("a stream has at least two chunks")
    events = [_chunk({"role": "assistant", "content": ""}, None)]
    events += [_chunk({"content": word}, None) for word in _words(chunks - 2)]
    events.append(_chunk({}, "stop"))
    return [b"data: " + event + b"\n\n" for event in events] + [b"data: [DONE]\n\n"]


def batches(body: bytes, size: int = WRITE_SIZE) -> list[bytes]:
    """``body`` cut into writes of ``size`` bytes."""
    return [body[i : i + size] for i in range(0, len(body), size)] or [b""]
