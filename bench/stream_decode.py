"""Micro-benchmark: decode and convert a recorded stream of 20,000 chunks, in memory.

Compares, on the same bytes delivered in the same 64 KiB reads:

- ``raw``: what a hand-written aiohttp loop does per line: split lines, ``json.loads`` each
  ``data:`` payload into a dict (the floor for Python);
- ``agentchat``: the SSE decoder, ``ChatCompletionChunk`` attrs objects built by the cattrs
  converter, and accumulation into the final completion (what ``async for`` plus
  ``get_final_completion()`` do).

    python bench/stream_decode.py [--chunks 20000] [--rounds 7]

Reports the median chunks per second of each and their ratio. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from agentchat._accumulate import CompletionAccumulator
from agentchat._json import BACKEND
from agentchat._response import ResponseInfo
from agentchat._sse import SSEDecoder
from agentchat._streaming import chunks_from_events
from agentchat.testing import FakeAgentServer

READ_SIZE = 65536


def recorded_stream(chunks: int) -> bytes:
    """A realistic stream: the fake agent's chunks for a long answer, one word each."""
    server = FakeAgentServer()
    words = " ".join(f"word{i % 97}" for i in range(chunks - 3))
    payload = {"model": "m", "messages": [{"role": "user", "content": words}]}
    events = server.chunks(payload)
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return body + b"data: [DONE]\n\n"


def reads_of(body: bytes) -> list[bytes]:
    return [body[i : i + READ_SIZE] for i in range(0, len(body), READ_SIZE)]


def run_raw(reads: list[bytes]) -> int:
    """Line splitting and json.loads per data line, as an aiohttp loop would do it."""
    count = 0
    buffer = b""
    loads = json.loads
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


def run_agentchat(reads: list[bytes]) -> int:
    """agentchat's decoder, chunk conversion and accumulation, without the socket."""
    decoder = SSEDecoder()
    accumulator = CompletionAccumulator()
    info = ResponseInfo(status=200, headers={}, url="memory")
    count = 0
    for data in reads:
        batch, done = chunks_from_events(decoder.feed(data), count, info)
        for chunk in batch:
            accumulator.add(chunk)
        count += len(batch)
        if done:
            break
    accumulator.snapshot()
    return count


def measure(fn: Callable[[list[bytes]], int], reads: list[bytes]) -> tuple[float, int]:
    started = time.perf_counter()
    count = fn(reads)
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    body = recorded_stream(args.chunks)
    reads = reads_of(body)
    results: dict[str, list[float]] = {"raw": [], "agentchat": []}
    counts: dict[str, int] = {}
    for _ in range(args.rounds):  # interleaved rounds: A B A B ...
        for name, fn in (("raw", run_raw), ("agentchat", run_agentchat)):
            seconds, counts[name] = measure(fn, reads)
            results[name].append(counts[name] / seconds)
    assert counts["raw"] == counts["agentchat"], counts
    raw = statistics.median(results["raw"])
    ours = statistics.median(results["agentchat"])
    print(
        f"{counts['raw']} chunks, {len(body) / 1e6:.1f} MB, {len(reads)} reads of 64 KiB, "
        f"median of {args.rounds} rounds; agentchat decodes JSON with {BACKEND}"
    )
    print(f"raw split + json.loads (dicts)      {raw:12,.0f} chunks/s")
    print(f"agentchat decode + attrs + accumulate {ours:10,.0f} chunks/s")
    print(f"ratio agentchat / raw                {ours / raw:12.2f}x")


if __name__ == "__main__":
    main()
