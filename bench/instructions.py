"""Client CPU instructions and memory allocations per call and per chunk, counted by valgrind:
figures the machine's noise does not move.

    python -m bench.instructions [--concurrency 1 64] [--calls 200 1200]
                                 [--streams | --chunks | --stages | --fanout
                                  | --fanout-scenario] [--allocations]

On a shared machine the wall-clock rounds of ``bench.run`` can disagree by half; an instruction
count repeats to within about 1%. Each client runs the plain (non-stream) call against the
benchmark server twice under callgrind, with two different numbers of calls; the difference
between the two counts, divided by the difference in calls, is the cost of one call with the
interpreter's start-up, the imports and the first connection taken out. Only the client
process is counted (callgrind does not follow the server, which runs as in ``bench.run``).

- ``--streams``: each call is a short stream instead (20 chunks, read to the end: the
  time-to-first-chunk scenario's).
- ``--chunks``: the cost of one streamed chunk: one stream of 20,000 chunks against one of
  500, the difference divided by 19,500 (concurrency does not apply).
- ``--fanout``: the cost of one request of a fan-out: agentchat's ``create_many`` (ordered,
  adaptive pacing on) against the same client's calls under ``asyncio.gather`` and a
  semaphore, and against raw aiohttp's (concurrency 64 unless given; no failures, so that
  both counts run the same requests).
- ``--fanout-scenario``: the cost of one request of ``bench.run``'s fan-out scenario itself:
  ``bench.fanout``'s two runners (``create_many``, and gather + semaphore over raw aiohttp)
  against its fake agent, which fails 10% of requests with 503 and sends rate-limit headers
  (concurrency 64, 400 against 2,400 requests).
- ``--stages``: the cost of one chunk in memory, stage by stage (no socket): the raw floor's
  line split and ``json.loads``, and agentchat's SSE decoder, ``orjson.loads``, the compiled
  structure function that builds the three attrs objects, and the accumulator; each the
  difference between 20,000 and 2,000 repetitions.
- ``--allocations``: count heap allocations (and bytes) instead of instructions, under
  valgrind's DHAT with ``PYTHONMALLOC=malloc``, so that every object the interpreter
  allocates is one ``malloc``.

Needs ``valgrind`` on the PATH; runs in a few minutes. Prints the figures and writes them to
``bench/results/`` (``instructions.txt``, ``instructions-streams.txt``,
``instructions-chunks.txt``, ``instructions-stages.txt``, and ``allocations*.txt`` for
``--allocations``). Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

from .clients import AgentchatAsync, AsyncBenchClient, RawAiohttp, RawAiohttpFast
from .payloads import FIRST, SMALL, STREAM_LONG, STREAM_SHORT, stream_kind
from .server import ROOT, ServerProcess

CLIENTS: dict[str, Callable[[str, int | None], AsyncBenchClient]] = {
    "raw aiohttp": RawAiohttp,
    "raw iter_any": RawAiohttpFast,
    "agentchat": AgentchatAsync,
    "create_many": AgentchatAsync,  # --fanout only: agentchat's fan-out
}
RESULTS = ROOT / "bench" / "results"
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
_TOTAL = re.compile(r"Total:\s*([\d,]+) bytes in ([\d,]+) blocks")


async def _calls(client: AsyncBenchClient, calls: int, concurrency: int, mode: str) -> None:
    if mode == "chunks":
        # One stream of `calls` chunks (its path was chosen by the parent); nothing before it
        # but what both counts share.
        await client.stream()
        await client.aclose()
        return
    if mode == "fanout" and isinstance(client, AgentchatAsync):
        await _fan_out(client, calls, concurrency)
        return
    limit = asyncio.Semaphore(concurrency)
    call = client.first_chunk if mode == "streams" else client.complete

    async def one() -> None:
        async with limit:
            await call()

    await call()  # the first connection and lazy imports, in both counts alike
    await asyncio.gather(*(one() for _ in range(calls)))
    await client.aclose()


async def _fan_out(client: AgentchatAsync, calls: int, concurrency: int) -> None:
    """``calls`` requests through ``create_many``, after one plain call (as in :func:`_calls`)."""
    from .payloads import MESSAGES, MODEL

    await client.complete()
    requests = ({"model": MODEL, "messages": MESSAGES} for _ in range(calls))
    create_many = client._client.agent.chat.completions.create_many
    async with create_many(requests, max_concurrency=concurrency) as outcomes:
        async for outcome in outcomes:
            outcome.result()
    await client.aclose()


#: The stages of ``--stages``: what one chunk costs in memory, in each.
STAGES = (
    "raw: split into lines",
    "raw: json.loads",
    "agentchat: SSE decoder",
    "agentchat: orjson.loads",
    "agentchat: structure (3 attrs objects)",
    "agentchat: accumulate",
)


def _stage(stage: int, repeat: int) -> None:
    """Run stage number ``stage`` of :data:`STAGES` ``repeat`` times (on ``repeat`` events)."""
    import json

    import orjson

    from agentchat._accumulate import CompletionAccumulator
    from agentchat._sse import SSEDecoder
    from agentchat._streaming import _chunk_hook

    from .payloads import sse_events

    events = sse_events(STREAM_LONG)
    data = events[1].split(b"data: ", 1)[1].strip()
    hook = _chunk_hook()
    chunk = hook(orjson.loads(data), None)
    blob = b"".join(events[:repeat])
    if stage == 0:
        for line in blob.split(b"\n"):
            if line[:6] == b"data: ":
                line[6:]  # the slice is the work
    elif stage == 1:
        for _ in range(repeat):
            json.loads(data)
    elif stage == 2:
        SSEDecoder().feed(blob)
    elif stage == 3:
        for _ in range(repeat):
            orjson.loads(data)
    elif stage == 4:
        decoded = orjson.loads(data)
        for _ in range(repeat):
            hook(decoded, None)
    else:
        add = CompletionAccumulator().add
        for _ in range(repeat):
            add(chunk)


def _stages(say: Callable[[str], None]) -> None:
    say("client instructions per chunk, in memory, by stage")
    for number, name in enumerate(STAGES):
        counts = []
        for repeat in (STREAM_LONG, 2_000):
            command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
            command += [sys.executable, "-m", "bench.instructions", "--stage", str(number)]
            command.append(str(repeat))
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            match = _COLLECTED.search(done.stderr)
            if done.returncode != 0 or match is None:
                raise RuntimeError(f"stage {name} under valgrind failed:\n{done.stderr[-2000:]}")
            counts.append(int(match.group(1)))
        say(f"  {name:40} {(counts[0] - counts[1]) / (STREAM_LONG - 2_000) / 1000:7.1f}k")


def _child(client: str, url: str, calls: int, concurrency: int, mode: str) -> None:
    path = {"calls": SMALL, "fanout": SMALL, "streams": FIRST, "chunks": stream_kind(calls)}[mode]
    if mode == "fanout" and client != "create_many":
        mode = "calls"  # the baselines: gather + semaphore
    asyncio.run(_calls(CLIENTS[client](f"{url}/{path}", None), calls, concurrency, mode))


def _scenario_child(name: str, url: str, requests: int) -> None:
    """One of ``bench.fanout``'s runners: a few requests first (the first connections and lazy
    imports, in both counts alike), then ``requests`` of them."""
    from . import fanout

    _, runner = fanout.RUNNERS[name]
    asyncio.run(runner(url, fanout.questions(50, f"warm-{requests}"), 64))
    asyncio.run(runner(url, fanout.questions(requests, f"{name}-{requests}"), 64))


def _fanout_scenario(say: Callable[[str], None], *, allocations: bool) -> None:
    from . import fanout

    few, many = 400, 2_400
    server = fanout.Server(chaos=fanout.CHAOS_503, rate_limit=fanout.ADVERTISED_LIMIT)
    try:
        say("client " + ("allocations" if allocations else "instructions") + " per request,")
        say("the fan-out scenario (10% 503s, rate-limit headers, concurrency 64)")
        per_request: dict[str, float] = {}
        for name in (fanout.FANOUT_GATHER, fanout.FANOUT_AGENTCHAT):
            counts = []
            for requests in (many, few):
                child = ["--scenario-child", name, server.url, str(requests)]
                counts.append(_valgrind(child, allocations=allocations, what=name))
                server.counts()  # and forget what it answered
            per_request[name] = (counts[0] - counts[1]) / (many - few)
        base = per_request[fanout.FANOUT_GATHER]
        for name, value in per_request.items():
            shown = f"{value:8,.1f}" if allocations else f"{value / 1000:8,.1f}k"
            say(f"  {fanout.RUNNERS[name][0]:42} {shown}   {value / base:.3f}x")
    finally:
        server.close()


def count(
    client: str, url: str, calls: int, concurrency: int, mode: str = "calls", *, allocations: bool
) -> int:
    """Instructions (or heap allocations) of the client process for ``calls`` calls (and its
    start-up)."""
    child = ["--child", client, url, str(calls), str(concurrency), mode]
    return _valgrind(child, allocations=allocations, what=client)


def _valgrind(arguments: list[str], *, allocations: bool, what: str) -> int:
    """Run ``python -m bench.instructions ARGUMENTS`` under valgrind: its instructions (or heap
    allocations)."""
    if allocations:
        tool = ["valgrind", "--tool=dhat", "--dhat-out-file=/dev/null"]
        env = {**os.environ, "PYTHONMALLOC": "malloc"}
    else:
        tool = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        env = dict(os.environ)
    child = [sys.executable, "-m", "bench.instructions", *arguments]
    done = subprocess.run(tool + child, cwd=ROOT, env=env, capture_output=True, text=True)
    match = (_TOTAL if allocations else _COLLECTED).search(done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"{what} under valgrind failed:\n{done.stderr[-2000:]}")
    return int(match.group(2 if allocations else 1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--calls", type=int, nargs=2, default=[200, 1200])
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--streams", action="store_true", help="short streams, not calls")
    kind.add_argument("--chunks", action="store_true", help="the cost of one streamed chunk")
    kind.add_argument("--fanout", action="store_true", help="create_many against gather")
    kind.add_argument(
        "--fanout-scenario", action="store_true", help="bench.run's fan-out scenario, per request"
    )
    parser.add_argument(
        "--allocations", action="store_true", help="count heap allocations, not instructions"
    )
    kind.add_argument("--stages", action="store_true", help="one chunk in memory, by stage")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--scenario-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--stage", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        _stage(*args.stage)
        return
    if args.child:
        client, url, calls, concurrency, mode = args.child
        _child(client, url, int(calls), int(concurrency), mode)
        return
    if args.scenario_child:
        name, url, requests = args.scenario_child
        _scenario_child(name, url, int(requests))
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench.instructions needs valgrind (apt install valgrind)")
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    today = datetime.datetime.now(datetime.timezone.utc)
    say(f"python -m bench.instructions {' '.join(sys.argv[1:])}, {today:%Y-%m-%d}")
    if args.stages:
        _stages(say)
        (RESULTS / "instructions-stages.txt").write_text("\n".join(lines) + "\n")
        return
    if args.fanout_scenario:
        _fanout_scenario(say, allocations=args.allocations)
        what = "allocations" if args.allocations else "instructions"
        (RESULTS / f"{what}-fanout-scenario.txt").write_text("\n".join(lines) + "\n")
        return
    mode = (
        "chunks"
        if args.chunks
        else "streams"
        if args.streams
        else "fanout"
        if args.fanout
        else "calls"
    )
    few, many = (STREAM_SHORT, STREAM_LONG) if args.chunks else sorted(args.calls)
    levels = [1] if args.chunks else args.concurrency
    if args.fanout and "--concurrency" not in sys.argv:
        levels = [64]
    what = "allocations" if args.allocations else "instructions"
    unit = {"calls": "call", "fanout": "request", "streams": "20-chunk stream", "chunks": "chunk"}[
        mode
    ]
    with ServerProcess().start() as server:
        for concurrency in levels:
            at = "" if args.chunks else f" at concurrency {concurrency}"
            say(f"client {what} per {unit}{at}")
            per_unit: dict[str, float] = {}
            for client in CLIENTS:
                if mode in ("calls", "fanout") and client == "raw iter_any":
                    continue  # its plain call is raw aiohttp's
                if mode != "fanout" and client == "create_many":
                    continue
                counts = [
                    count(client, server.url, n, concurrency, mode, allocations=args.allocations)
                    for n in (many, few)
                ]
                per_unit[client] = (counts[0] - counts[1]) / (many - few)
            base = per_unit.get("raw iter_any", per_unit["raw aiohttp"])
            for client, value in per_unit.items():
                shown = f"{value:8,.1f}" if args.allocations else f"{value / 1000:8,.1f}k"
                say(f"  {client:12} {shown}   {value / base:.3f}x")
    suffix = {"calls": "", "fanout": "-fanout", "streams": "-streams", "chunks": "-chunks"}[mode]
    (RESULTS / f"{what}{suffix}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
