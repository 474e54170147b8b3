"""Fan-out against a hand-written `asyncio.gather` + semaphore over raw aiohttp.

    python -m bench.fanout [--requests 10000] [--concurrency 64] [--rounds 3]

Both run against the same fake agent in its own process, which fails 10% of requests with
503, then also 2% with 429 (``retry-after-ms: 20``); both retry those, so every request ends
as one success (agentchat's fan-out also pauses every worker on a 429 and halves its
concurrency, as it should for a real rate limit). Reported: requests per second (medians of
interleaved rounds) and whether each request succeeded exactly once. Then a paced run: the
server enforces 100 requests per 2-second window and advertises it in ``ratelimit-*``
headers; reported is how many of the requests the limit allowed over the run each client
sent, and the 429s it drew. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

import aiohttp

from agentchat import AsyncAgentClient

SERVER = """
import asyncio, json, os, sys
from agentchat.testing import FakeAgentServer
options = json.loads(sys.argv[1])
chaos = options.pop("chaos")
cpu = options.pop("cpu", None)
if cpu is not None and hasattr(os, "sched_setaffinity"):
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        pass
async def main():
    async with FakeAgentServer(**options) as server:
        for rate, status, seed in chaos:
            server.fail_randomly(rate, status=status, headers={"retry-after-ms": "20"}, seed=seed)
        print(server.url, flush=True)
        # Each line on stdin asks for the counts (read off the loop, which keeps serving).
        while await asyncio.to_thread(sys.stdin.readline):
            counts = {}
            for request, status in server.answered:
                counts[str(status)] = counts.get(str(status), 0) + 1
            successes = {}
            for request, status in server.answered:
                if status == 200:
                    key = request.json()["messages"][0]["content"]
                    successes[key] = successes.get(key, 0) + 1
            print(json.dumps({"statuses": counts, "twice": sum(v > 1 for v in successes.values()),
                              "succeeded": len(successes)}), flush=True)
            server.answered.clear()
asyncio.run(main())
"""


#: The two series of the ``fanout`` scenario of ``bench.run`` (and its budget row).
FANOUT_GATHER: Final = "fanout-gather"
FANOUT_AGENTCHAT: Final = "fanout-agentchat"
#: 10% of requests fail with 503 (``retry-after-ms: 20``): what both must retry.
CHAOS_503: Final = [(0.10, 503, 1)]
#: The limit the throughput runs' server advertises in its ``ratelimit-*`` headers: more than
#: a whole run sends. The fake agent's default, 100,000 a minute, is less than these runs send
#: in a minute (2,000 to 3,000 requests a second), and once a window's ``ratelimit-remaining``
#: reached 0, agentchat's pacer waited for its reset, as it should, while gather (which reads
#: no headers) went on: 2 of the 9 agentchat rounds of one full run came in under 400 req/s.
#: The headers are still sent, so the pacer still reads them on every response.
ADVERTISED_LIMIT: Final = 1_000_000_000


class Server:
    """The fake agent in a subprocess (on CPU ``cpu``, where given); ``counts()`` reports
    what it answered since the last call."""

    def __init__(self, **options: Any) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def counts(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("report\n")
        self.process.stdin.flush()
        result: dict[str, Any] = json.loads(self.process.stdout.readline())
        return result

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def questions(count: int, tag: str) -> list[str]:
    return [f"{tag} {i}" for i in range(count)]


async def agentchat_run(url: str, texts: list[str], concurrency: int) -> int:
    requests = ({"model": "m", "messages": [{"role": "user", "content": text}]} for text in texts)
    ok = 0
    async with (
        AsyncAgentClient("test-key", url, max_retries=10) as client,
        client.agent.chat.completions.create_many(requests, max_concurrency=concurrency) as results,
    ):
        async for outcome in results:
            ok += outcome.ok
    return ok


async def gather_run(url: str, texts: list[str], concurrency: int) -> int:
    """What people write by hand: one task per request, a semaphore, a retry loop."""
    semaphore = asyncio.Semaphore(concurrency)
    endpoint = f"{url}/api/v1/chat/completions?agent=true"
    headers = {"Authorization": "Bearer test-key", "Content-Type": "application/json"}

    async def one(session: aiohttp.ClientSession, text: str) -> bool:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})
        async with semaphore:
            for _ in range(11):
                async with session.post(endpoint, data=body, headers=headers) as response:
                    if response.status == 200:
                        json.loads(await response.read())
                        return True
                    await response.read()
                    wait = float(response.headers.get("retry-after-ms", "500")) / 1000
                await asyncio.sleep(wait)
        return False

    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(one(session, text) for text in texts))
    return sum(results)


Runner = Callable[[str, list[str], int], Coroutine[Any, Any, int]]
#: The runners by series, with their labels.
RUNNERS: Final[dict[str, tuple[str, Runner]]] = {
    FANOUT_GATHER: ("asyncio.gather + semaphore, raw aiohttp", gather_run),
    FANOUT_AGENTCHAT: ("agentchat create_many", agentchat_run),
}


def timed(runner: Runner, url: str, texts: list[str], concurrency: int) -> tuple[float, int]:
    """Requests per second over the whole run, and how many succeeded."""
    started = time.perf_counter()
    ok = asyncio.run(runner(url, texts, concurrency))
    return len(texts) / (time.perf_counter() - started), ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runners: dict[str, Runner] = {"agentchat create_many": agentchat_run}
    runners["asyncio.gather + semaphore, raw aiohttp"] = gather_run

    mixes = {
        "10% 503s": CHAOS_503,
        "10% 503s and 2% 429s": [(0.10, 503, 1), (0.02, 429, 2)],
    }
    for label, chaos in mixes.items():
        server = Server(chaos=chaos, rate_limit=ADVERTISED_LIMIT)
        rates: dict[str, list[float]] = {name: [] for name in runners}
        checks: dict[str, list[str]] = {name: [] for name in runners}
        try:
            for round_number in range(args.rounds):
                for name, runner in runners.items():
                    texts = questions(args.requests, f"{name[:5]}-{round_number}")
                    rate, ok = timed(runner, server.url, texts, args.concurrency)
                    counts = server.counts()
                    rates[name].append(rate)
                    exact = counts["succeeded"] == args.requests and counts["twice"] == 0
                    checks[name].append(
                        f"{ok}/{args.requests} ok, each once: {exact}, "
                        f"statuses {counts['statuses']}"
                    )
        finally:
            server.close()
        print(
            f"{args.requests} requests at concurrency {args.concurrency}, {label} "
            f"(retry-after-ms: 20), median of {args.rounds} interleaved rounds"
        )
        baseline = statistics.median(rates["asyncio.gather + semaphore, raw aiohttp"])
        for name, values in rates.items():
            median = statistics.median(values)
            print(
                f"  {name:42} {median:8,.0f} req/s  {median / baseline:5.2f}x   {checks[name][-1]}"
            )

    # The server counts in fixed windows that open at the first request after the last one
    # closed, so a run of `elapsed` seconds spans ceil(elapsed / window) windows and may send
    # `limit` requests in each: that is the allowance the achieved count is set against. Each
    # client starts after a full quiet window, so neither inherits the other's used budget.
    limit, window, count = 100, 2.0, 600
    paced = Server(rate_limit=limit, rate_window=window, enforce_rate_limit=True, chaos=[])
    try:
        print(
            f"\npaced: {count} requests, the server allows {limit} per {window:g} s "
            f"({limit / window * 60:,.0f} per minute) and answers 429 beyond"
        )
        for name, runner in runners.items():
            time.sleep(window)
            rate, ok = timed(runner, paced.url, questions(count, name[:5]), args.concurrency)
            counts = paced.counts()
            elapsed = count / rate
            allowed = limit * math.ceil(elapsed / window)
            print(
                f"  {name:42} {rate * 60:6,.0f} req/min in {elapsed:5.2f} s: {count} of the "
                f"{allowed} allowed in {allowed // limit} windows ({count / allowed:.2f}), "
                f"{counts['statuses'].get('429', 0)} 429s, {ok}/{count} ok"
            )
    finally:
        paced.close()


if __name__ == "__main__":
    main()
