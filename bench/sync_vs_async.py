"""Sync facade vs async core: non-stream latency at concurrency 1 and stream chunks per second,
against the same fake agent running in its own process.

    python bench/sync_vs_async.py [--calls 300] [--chunks 20000] [--rounds 5]

Rounds interleave the two styles (A B A B ...); medians are reported. Not part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from agentchat import AgentClient, AsyncAgentClient

SERVER = """
import asyncio, sys
from agentchat.testing import FakeAgentServer
async def main():
    async with FakeAgentServer() as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""

MESSAGES = [{"role": "user", "content": "hello"}]


def long_question(chunks: int) -> list[dict[str, str]]:
    # The fake agent streams the echo of the question word by word: one chunk per word.
    return [{"role": "user", "content": " ".join(["w"] * (chunks - 3))}]


async def async_latency(client: AsyncAgentClient, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await client.agent.chat.completions.create(model="m", messages=MESSAGES)
    return (time.perf_counter() - started) / calls


def sync_latency(client: AgentClient, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        client.agent.chat.completions.create(model="m", messages=MESSAGES)
    return (time.perf_counter() - started) / calls


async def async_stream(client: AsyncAgentClient, messages: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    count = 0
    async with await client.agent.chat.completions.create(
        model="m", messages=messages, stream=True
    ) as stream:
        async for _ in stream:
            count += 1
    return count / (time.perf_counter() - started)


def sync_stream(client: AgentClient, messages: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    count = 0
    with client.agent.chat.completions.create(model="m", messages=messages, stream=True) as stream:
        for _ in stream:
            count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        question = long_question(args.chunks)
        loop = asyncio.new_event_loop()
        async_client = AsyncAgentClient("test-key", url)
        sync_client = AgentClient("test-key", url)
        results: dict[str, list[float]] = {k: [] for k in ("al", "sl", "as", "ss")}
        loop.run_until_complete(async_latency(async_client, 20))  # warm up both
        sync_latency(sync_client, 20)
        for _ in range(args.rounds):
            results["al"].append(loop.run_until_complete(async_latency(async_client, args.calls)))
            results["sl"].append(sync_latency(sync_client, args.calls))
            results["as"].append(loop.run_until_complete(async_stream(async_client, question)))
            results["ss"].append(sync_stream(sync_client, question))
        loop.run_until_complete(async_client.aclose())
        loop.close()
        sync_client.close()
    finally:
        server.terminate()
        server.wait()
    al, sl = statistics.median(results["al"]), statistics.median(results["sl"])
    as_, ss = statistics.median(results["as"]), statistics.median(results["ss"])
    print(f"medians of {args.rounds} rounds; server in its own process")
    print(
        f"non-stream latency c=1: async {al * 1e3:.3f} ms, sync {sl * 1e3:.3f} ms, "
        f"sync/async {sl / al:.2f}x"
    )
    print(
        f"stream of {args.chunks} chunks: async {as_:,.0f} chunks/s, sync {ss:,.0f} chunks/s, "
        f"sync/async {ss / as_:.2f}x"
    )


if __name__ == "__main__":
    main()
