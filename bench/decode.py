"""Stream decoding in memory, without a socket: the parsing cost of a stream on its own.

The same recorded stream of 20,000 chunks, cut into the 64 KiB reads the server sends, is
decoded by

- raw: what a hand-written aiohttp loop does per line (split lines, ``json.loads`` of each
  ``data:`` payload into a dict), or the same with ``orjson.loads``;
- agentchat: its SSE decoder, the ``ChatCompletionChunk`` attrs objects its converter builds,
  and their accumulation into the final completion (what ``async for`` plus
  ``get_final_completion()`` do).

The network scenarios add the socket, aiohttp's reading and the event loop to this; the
difference between the two shows where a stream's time goes. agentchat is driven through its
internal modules here (``_sse``, ``_streaming``, ``_accumulate``), as the earlier
``bench/stream_decode.py`` was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Final

from . import payloads
from .clients import AGENTCHAT, RAW, RAW_ORJSON

__all__ = ["DECODERS", "LABELS", "recorded_reads"]

LABELS: Final = {
    RAW: "raw split + json.loads",
    RAW_ORJSON: "raw split + orjson.loads",
    AGENTCHAT: "agentchat decoder + attrs + accumulate",
}


def recorded_reads(chunks: int = payloads.STREAM_LONG) -> list[bytes]:
    """A stream of ``chunks`` chunks as the client's socket reads deliver it."""
    return payloads.batches(b"".join(payloads.sse_events(chunks)))


def _split_and_load(reads: list[bytes], loads: Callable[[bytes], Any]) -> int:
    count = 0
    buffer = b""
    for data in reads:
        buffer += data
        lines = buffer.split(b"\n")
        buffer = lines.pop()
        for line in lines:
            if line.startswith(b"data: "):
                payload = line[6:]
                if payload == b"[DONE]":
                    return count
                loads(payload)
                count += 1
    return count


def decode_raw(reads: list[bytes]) -> int:
    return _split_and_load(reads, json.loads)


def decode_raw_orjson(reads: list[bytes]) -> int:
    import orjson

    return _split_and_load(reads, orjson.loads)


def decode_agentchat(reads: list[bytes]) -> int:
    from agentchat._accumulate import CompletionAccumulator
    from agentchat._response import ResponseInfo
    from agentchat._sse import SSEDecoder
    from agentchat._streaming import chunks_from_events

    decoder = SSEDecoder()
    accumulator = CompletionAccumulator()
    info = ResponseInfo(status=200, headers={}, url="memory")
    count = 0
    for data in reads:
        batch, done, _ = chunks_from_events(decoder.feed(data), count, info)
        for chunk in batch:
            accumulator.add(chunk)
        count += len(batch)
        if done:
            break
    accumulator.snapshot()
    return count


DECODERS: Final[dict[str, Callable[[list[bytes]], int]]] = {
    RAW: decode_raw,
    RAW_ORJSON: decode_raw_orjson,
    AGENTCHAT: decode_agentchat,
}


def chunks_per_second(decoder: Callable[[list[bytes]], int], reads: list[bytes]) -> float:
    """Decode ``reads`` once; the chunks per second."""
    started = time.perf_counter()
    count = decoder(reads)
    seconds = time.perf_counter() - started
    if count != payloads.STREAM_LONG:
        raise RuntimeError(f"decoded {count} chunks, expected {payloads.STREAM_LONG}")
    return count / seconds
