"""Client CPU instructions per call, counted by valgrind's callgrind: a figure the machine's
noise does not move.

    python -m bench.instructions [--concurrency 1 64] [--calls 200 1200] [--streams]

On a shared machine the wall-clock rounds of ``bench.run`` can disagree by half; an instruction
count repeats to within about 1%. Each client runs the plain (non-stream) call against the
benchmark server twice under callgrind, with two different numbers of calls; the difference
between the two counts, divided by the difference in calls, is the cost of one call with the
interpreter's start-up, the imports and the first connection taken out. Only the client
process is counted (callgrind does not follow the server, which runs as in ``bench.run``).
With ``--streams`` each call is a short stream instead (20 chunks, read to the end: the
time-to-first-chunk scenario's). Needs ``valgrind`` on the PATH; runs in a few minutes. Prints
the figures and writes them to ``bench/results/instructions.txt`` (``instructions-streams.txt``
with ``--streams``). Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

from .clients import AgentchatAsync, AsyncBenchClient, RawAiohttp
from .payloads import FIRST, SMALL
from .server import ROOT, ServerProcess

CLIENTS: dict[str, Callable[[str, int | None], AsyncBenchClient]] = {
    "raw aiohttp": RawAiohttp,
    "agentchat": AgentchatAsync,
}
RESULT = ROOT / "bench" / "results" / "instructions.txt"
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


async def _calls(client: AsyncBenchClient, calls: int, concurrency: int, streams: bool) -> None:
    limit = asyncio.Semaphore(concurrency)
    call = client.first_chunk if streams else client.complete

    async def one() -> None:
        async with limit:
            await call()

    await call()  # the first connection and lazy imports, in both counts alike
    await asyncio.gather(*(one() for _ in range(calls)))
    await client.aclose()


def _child(client: str, url: str, calls: int, concurrency: int, streams: bool) -> None:
    path = FIRST if streams else SMALL
    asyncio.run(_calls(CLIENTS[client](f"{url}/{path}", None), calls, concurrency, streams))


def count(client: str, url: str, calls: int, concurrency: int, streams: bool = False) -> int:
    """Instructions the client process executed for ``calls`` calls (and its start-up)."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions",
        "--child", client, url, str(calls), str(concurrency), "1" if streams else "0",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    match = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"{client} under callgrind failed:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--calls", type=int, nargs=2, default=[200, 1200])
    parser.add_argument("--streams", action="store_true", help="short streams, not calls")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        client, url, calls, concurrency, streams = args.child
        _child(client, url, int(calls), int(concurrency), streams == "1")
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench.instructions needs valgrind (apt install valgrind)")
    few, many = sorted(args.calls)
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    say(f"python -m bench.instructions, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}")
    with ServerProcess().start() as server:
        for concurrency in args.concurrency:
            kind = "20-chunk streams" if args.streams else "non-stream calls"
            say(f"{kind} at concurrency {concurrency}: client instructions per call")
            per_call: dict[str, float] = {}
            for client in CLIENTS:
                extra = count(client, server.url, many, concurrency, args.streams)
                extra -= count(client, server.url, few, concurrency, args.streams)
                per_call[client] = extra / (many - few)
            base = per_call["raw aiohttp"]
            for client, value in per_call.items():
                say(f"  {client:12} {value / 1000:8,.0f}k   {value / base:.3f}x")
    result = RESULT.with_name("instructions-streams.txt") if args.streams else RESULT
    result.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
