"""What is measured: the scenarios, the clients each compares, and the work of one round.

Every in-process scenario runs its clients in interleaved rounds (:mod:`bench.measure`)
against one server path prefix (a client that changes its whole process, the OpenTelemetry
SDK's, runs its rounds in a worker process of its own, :mod:`bench.isolated`, interleaved
with the others); the peak-RSS scenario runs each client in a fresh child
process (:mod:`bench.rss`), and the import scenario each statement in a fresh interpreter
(:mod:`bench.imports`). Each round is bounded twice: by its count of calls or chunks, and by
time (``Settings.round_seconds``; a round that hits it reports what it did in that time).

The sync clients are left out of the concurrency-64 scenarios: 64 threads would measure the
GIL and thread switching more than the library, and a program that wants 64 requests in
flight uses the async client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final

from . import decode, fanout, payloads
from .clients import (
    AGENTCHAT,
    AGENTCHAT_OTEL,
    AGENTCHAT_OTEL_SDK,
    AGENTCHAT_SYNC,
    OPENAI,
    OPENAI_SYNC,
    PYDO,
    PYDO_SYNC,
    RAW,
    RAW_FAST,
    RAW_ORJSON,
    AsyncBenchClient,
    BenchClient,
    SyncBenchClient,
    available,
    available_module,
    is_sync,
    isolated,
    label,
    make_client,
)
from .imports import COMMANDS, STATEMENTS, command_ms, import_ms
from .isolated import Worker
from .measure import CLIENT_WAIT, SERVER_CPU, SERVER_WAIT, Meter, Round, Series, interleave
from .profiling import ClientProfiler
from .server import ROOT, ServerProcess
from .system import SERVER_CORE, process_wait_seconds

__all__ = [
    "FULL",
    "QUICK",
    "SCENARIOS",
    "Context",
    "InProcess",
    "Scenario",
    "ScenarioResult",
    "Settings",
    "run_scenario",
]


@dataclass(frozen=True)
class Settings:
    """How much work a run does."""

    rounds: int  # counted rounds per client (one more, uncounted, warms up)
    latency_calls: int  # calls per round, sequential scenarios
    throughput_calls: int  # calls per round at concurrency 64
    big_calls: int  # calls per round of the 100 KB body
    first_calls: int  # streams per round, time to first chunk
    rss_rounds: int  # child processes per client, peak RSS
    rss_streams: int  # streams held open by each of them
    rss_sync: bool  # whether the sync clients have an RSS child too (they open streams slowly)
    import_rounds: int  # fresh interpreters per import statement
    round_seconds: float  # the most one round may take; it stops early past it
    # requests per round of the fan-out scenario (each round runs all of them: its figure is
    # whether every one succeeded exactly once, and how fast)
    fanout_requests: int = 10_000

    def with_rounds(self, rounds: int) -> Settings:
        """``rounds`` counted rounds; no more RSS children per client than that either."""
        return replace(self, rounds=rounds, rss_rounds=min(rounds, self.rss_rounds))


QUICK: Final = Settings(
    rounds=3,
    latency_calls=100,
    throughput_calls=640,
    big_calls=30,
    first_calls=8,
    rss_rounds=1,
    rss_streams=1000,
    rss_sync=False,
    import_rounds=3,
    round_seconds=0.5,
    fanout_requests=2_000,
)
FULL: Final = Settings(
    rounds=9,
    latency_calls=300,
    throughput_calls=2560,
    big_calls=100,
    first_calls=20,
    rss_rounds=3,
    rss_streams=1000,
    rss_sync=True,
    import_rounds=15,
    round_seconds=3.0,
)

CONCURRENCY: Final = 64


@dataclass
class Context:
    """What a scenario runs with."""

    server: ServerProcess
    loop: asyncio.AbstractEventLoop
    settings: Settings
    profiler: ClientProfiler | None = None


@dataclass
class ScenarioResult:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    baseline: str  # the series the ratios are against
    reference: str | None  # the second reference (agentchat async), if any
    workload: str
    series: list[Series]
    seconds: float
    profile: str = ""

    def get(self, client: str) -> Series | None:
        return next((s for s in self.series if s.client == client), None)


RunFn = Callable[["Scenario", Context, list[str]], list[Series]]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    clients: tuple[str, ...]
    workload: Callable[[Settings], str]
    run: RunFn
    baseline: str = RAW
    reference: str | None = AGENTCHAT


# -- the work of one round ------------------------------------------------------------------

AsyncWork = Callable[[AsyncBenchClient, Settings], Awaitable[float]]
SyncWork = Callable[[SyncBenchClient, Settings], float]


def _sequential(calls_of: Callable[[Settings], int]) -> tuple[AsyncWork, SyncWork]:
    """Calls one after another; the figure is milliseconds per call."""

    async def run_async(client: AsyncBenchClient, settings: Settings) -> float:
        calls, done = calls_of(settings), 0
        started = time.perf_counter()
        deadline = started + settings.round_seconds
        while done < calls:
            await client.complete()
            done += 1
            if time.perf_counter() > deadline:
                break
        return (time.perf_counter() - started) / done * 1e3

    def run_sync(client: SyncBenchClient, settings: Settings) -> float:
        calls, done = calls_of(settings), 0
        started = time.perf_counter()
        deadline = started + settings.round_seconds
        while done < calls:
            client.complete()
            done += 1
            if time.perf_counter() > deadline:
                break
        return (time.perf_counter() - started) / done * 1e3

    return run_async, run_sync


async def _concurrent(client: AsyncBenchClient, settings: Settings) -> float:
    """64 workers, each calling one after another; the figure is requests per second."""
    per_worker = max(1, settings.throughput_calls // CONCURRENCY)
    deadline = time.perf_counter() + settings.round_seconds

    async def worker() -> int:
        done = 0
        while done < per_worker:
            await client.complete()
            done += 1
            if time.perf_counter() > deadline:
                break
        return done

    started = time.perf_counter()
    done = await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return sum(done) / (time.perf_counter() - started)


def _check(counts: list[int], chunks: int, cut_short: bool) -> int:
    """The chunks read in all; each stream must have had all of them, unless the round ran
    out of time (then its streams were cut short)."""
    if any(count != chunks for count in counts) and not (cut_short and all(counts)):
        raise RuntimeError(f"expected {chunks} chunks per stream, got {sorted(set(counts))}")
    return sum(counts)


def _streams(concurrent: int, chunks: int) -> tuple[AsyncWork, SyncWork]:
    """``concurrent`` streams at once (the sync clients: one); the figure is chunks per
    second, all streams together, from the request to the last chunk (or to the end of the
    round's time, for a client too slow to finish in it)."""

    async def run_async(client: AsyncBenchClient, settings: Settings) -> float:
        started = time.perf_counter()
        deadline = started + settings.round_seconds
        counts = await asyncio.gather(*(client.stream(deadline) for _ in range(concurrent)))
        ended = time.perf_counter()
        return _check(list(counts), chunks, ended > deadline) / (ended - started)

    def run_sync(client: SyncBenchClient, settings: Settings) -> float:
        started = time.perf_counter()
        deadline = started + settings.round_seconds
        count = client.stream(deadline)
        ended = time.perf_counter()
        return _check([count], chunks, ended > deadline) / (ended - started)

    return run_async, run_sync


async def _first_async(client: AsyncBenchClient, settings: Settings) -> float:
    """Streams one after another; the figure is the median milliseconds to the first chunk.

    The median, not the mean: each figure is about a millisecond, and one stream that a
    collection or the scheduler held up moved a round's mean by a tenth.
    """
    times: list[float] = []
    deadline = time.perf_counter() + settings.round_seconds
    while len(times) < settings.first_calls:
        times.append(await client.first_chunk())
        if time.perf_counter() > deadline:
            break
    return statistics.median(times) * 1e3


def _first_sync(client: SyncBenchClient, settings: Settings) -> float:
    times: list[float] = []
    deadline = time.perf_counter() + settings.round_seconds
    while len(times) < settings.first_calls:
        times.append(client.first_chunk())
        if time.perf_counter() > deadline:
            break
    return statistics.median(times) * 1e3


# -- running scenarios ----------------------------------------------------------------------


def _meters(
    ctx: Context, *, server: bool, client: bool, workers: tuple[int, ...] = ()
) -> dict[str, Meter]:
    """The meters read around each round: the server's CPU and waits, the waits of this
    process and of the ``workers`` (the processes of isolated clients) together."""
    meters: dict[str, Meter] = {}
    if server:
        meters[SERVER_CPU] = ctx.server.cpu_seconds
        meters[SERVER_WAIT] = ctx.server.wait_seconds
    if client:
        pids = (os.getpid(), *workers)

        def client_wait() -> float | None:
            waits = [process_wait_seconds(pid) for pid in pids]
            return None if None in waits else sum(w for w in waits if w is not None)

        meters[CLIENT_WAIT] = client_wait
    return meters


def _round(
    ctx: Context, client: BenchClient, run_async: AsyncWork, run_sync: SyncWork | None
) -> Round:
    settings = ctx.settings
    # A hard stop well past the round's own time limit: a hang fails the run instead.
    limit = settings.round_seconds * 3 + 60
    if isinstance(client, AsyncBenchClient):
        async_client = client

        def run() -> float:
            work = run_async(async_client, settings)
            return ctx.loop.run_until_complete(asyncio.wait_for(work, limit))

        return run
    if run_sync is None:
        raise ValueError(f"{client.name} is a sync client: this scenario has no sync work")
    sync_work, sync_client = run_sync, client
    return lambda: sync_work(sync_client, settings)


def _close(ctx: Context, client: BenchClient) -> None:
    if isinstance(client, AsyncBenchClient):
        ctx.loop.run_until_complete(client.aclose())
    else:
        client.close()


@dataclasses.dataclass(frozen=True)
class InProcess:
    """A scenario's run: its clients side by side in interleaved rounds against the server
    path ``prefix``, each round one call of ``run_async`` (``run_sync`` for a sync client).
    An isolated client does the same rounds in a worker process (:mod:`bench.isolated`)."""

    prefix: str
    run_async: AsyncWork
    run_sync: SyncWork | None = None

    def __call__(self, scenario: Scenario, ctx: Context, names: list[str]) -> list[Series]:
        base = f"{ctx.server.url}/{self.prefix}"
        clients: list[BenchClient] = []
        workers: list[Worker] = []
        try:
            runners: list[tuple[str, str, Round]] = []
            settings = json.dumps(dataclasses.asdict(ctx.settings))
            limit = ctx.settings.round_seconds * 3 + 90
            for name in names:
                if isolated(name):
                    workers.append(Worker(name, ctx.server.url, scenario.key, settings, limit))
                    runners.append((name, label(name), workers[-1].round))
                else:
                    client = make_client(name, base)
                    clients.append(client)
                    runners.append(
                        (name, client.label, _round(ctx, client, self.run_async, self.run_sync))
                    )
            meters = _meters(ctx, server=True, client=True, workers=tuple(w.pid for w in workers))
            return interleave(runners, ctx.settings.rounds, meters, profiler=ctx.profiler)
        finally:
            for client in clients:
                _close(ctx, client)
            for worker in workers:
                worker.close()


def _run_rss(scenario: Scenario, ctx: Context, names: list[str]) -> list[Series]:
    if not ctx.settings.rss_sync:
        names = [name for name in names if not is_sync(name)]
    base = f"{ctx.server.url}/{payloads.STALL}"
    streams = ctx.settings.rss_streams
    details: dict[str, dict[str, list[float]]] = {name: {} for name in names}

    def runner(name: str) -> Round:
        def run() -> float:
            done = subprocess.run(
                [sys.executable, "-m", "bench.rss", name, base, str(streams)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=300,
            )
            if done.returncode != 0:
                raise RuntimeError(f"the RSS child of {name} failed:\n{done.stderr}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            peak, before = figures["peak_kib"], figures["before_kib"]
            for key, value in (
                ("before_mib", before / 1024),
                ("per_stream_kib", (peak - before) / streams),
                ("open_seconds", figures["open_seconds"]),
            ):
                details[name].setdefault(key, []).append(value)
            return float(peak) / 1024

        return run

    runners = [(name, label(name), runner(name)) for name in names]
    # A fresh process per round: nothing to warm up.
    meters = _meters(ctx, server=True, client=False)
    series = interleave(runners, ctx.settings.rss_rounds, meters, warmup=False)
    for record in series:
        record.details = details[record.client]
    return series


def _run_decode(scenario: Scenario, ctx: Context, names: list[str]) -> list[Series]:
    reads = decode.recorded_reads()

    def runner(name: str) -> Round:
        decoder = decode.DECODERS[name]
        return lambda: decode.chunks_per_second(decoder, reads)

    runners = [(name, decode.LABELS[name], runner(name)) for name in names]
    meters = _meters(ctx, server=False, client=True)
    return interleave(runners, ctx.settings.rounds, meters, profiler=ctx.profiler)


def _run_fanout(scenario: Scenario, ctx: Context, names: list[str]) -> list[Series]:
    """``create_many`` and gather + semaphore, each round all of ``fanout_requests`` through
    a fake agent (in a process of its own, on the server's CPU) that fails 10% with 503; a
    round fails unless every request succeeded, each exactly once."""
    requests = ctx.settings.fanout_requests
    server = fanout.Server(
        chaos=fanout.CHAOS_503, cpu=SERVER_CORE, rate_limit=fanout.ADVERTISED_LIMIT
    )
    limit = requests / 100 + 60  # a hard stop: even 100 requests/s would be far too slow

    def runner(name: str) -> tuple[str, str, Round]:
        label, run_all = fanout.RUNNERS[name]
        rounds = 0

        def run() -> float:
            nonlocal rounds
            rounds += 1
            texts = fanout.questions(requests, f"{name}-{rounds}")
            started = time.perf_counter()
            work = run_all(server.url, texts, CONCURRENCY)
            ok = ctx.loop.run_until_complete(asyncio.wait_for(work, limit))
            rate = requests / (time.perf_counter() - started)
            counts = server.counts()
            if ok != requests or counts["succeeded"] != requests or counts["twice"]:
                raise RuntimeError(f"{label}: {ok}/{requests} ok; the server saw {counts}")
            return rate

        return name, label, run

    try:
        meters = _meters(ctx, server=False, client=True)
        return interleave([runner(name) for name in names], ctx.settings.rounds, meters)
    finally:
        server.close()


def _run_imports(scenario: Scenario, ctx: Context, names: list[str]) -> list[Series]:
    statements = {key: statement for key, statement, _ in STATEMENTS}
    commands = {key: (shown, arguments) for key, shown, arguments in COMMANDS}

    def runner(key: str) -> tuple[str, str, Round]:
        if key in commands:
            shown, arguments = commands[key]
            return key, shown, lambda: command_ms(arguments)
        return key, statements[key], lambda: import_ms(statements[key])

    return interleave([runner(key) for key in names], ctx.settings.import_rounds, {})


def _import_available(key: str) -> bool:
    module = next((module for k, _, module in STATEMENTS if k == key), "agentchat")
    return available_module(module)


#: The stream scenarios' clients: both raw floors (the fast one first: the baseline), raw
#: with agentchat's JSON decoder, the SDKs, agentchat with and without telemetry.
_STREAM_CLIENTS: Final = (
    RAW_FAST,
    RAW,
    RAW_ORJSON,
    OPENAI,
    PYDO,
    AGENTCHAT,
    AGENTCHAT_OTEL,
    AGENTCHAT_OTEL_SDK,
)

SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario(
        key="latency",
        title="non-stream latency, c=1",
        unit="ms/call",
        higher_is_better=False,
        clients=(RAW, OPENAI, PYDO, AGENTCHAT, AGENTCHAT_OTEL, AGENTCHAT_OTEL_SDK),
        workload=lambda s: f"{s.latency_calls} sequential calls per round, a 0.5 KB completion",
        run=InProcess(payloads.SMALL, *_sequential(lambda s: s.latency_calls)),
    ),
    Scenario(
        key="throughput",
        title="non-stream throughput, c=64",
        unit="req/s",
        higher_is_better=True,
        clients=(RAW, OPENAI, PYDO, AGENTCHAT, AGENTCHAT_OTEL, AGENTCHAT_OTEL_SDK),
        workload=lambda s: (
            f"{s.throughput_calls} calls per round from {CONCURRENCY} concurrent workers "
            "(asyncio.gather); sync clients not run"
        ),
        run=InProcess(payloads.SMALL, _concurrent),
    ),
    Scenario(
        key="big",
        title="100 KB body latency, c=1",
        unit="ms/call",
        higher_is_better=False,
        clients=(RAW, OPENAI, PYDO, AGENTCHAT),
        workload=lambda s: f"{s.big_calls} sequential calls per round, content of 100 KB",
        run=InProcess(payloads.BIG, *_sequential(lambda s: s.big_calls)),
    ),
    Scenario(
        key="stream",
        title="1 stream x 20,000 chunks",
        unit="chunks/s",
        higher_is_better=True,
        clients=_STREAM_CLIENTS,
        baseline=RAW_FAST,
        workload=lambda s: "one stream of 20,000 chunks per round, each parsed into an object",
        run=InProcess(
            payloads.stream_kind(payloads.STREAM_LONG), *_streams(1, payloads.STREAM_LONG)
        ),
    ),
    Scenario(
        key="streams64",
        title="64 streams x 500 chunks",
        unit="chunks/s",
        higher_is_better=True,
        clients=_STREAM_CLIENTS,
        baseline=RAW_FAST,
        workload=lambda s: f"{CONCURRENCY} concurrent streams of 500 chunks per round, in total",
        run=InProcess(
            payloads.stream_kind(payloads.STREAM_SHORT),
            *_streams(CONCURRENCY, payloads.STREAM_SHORT),
        ),
    ),
    Scenario(
        key="ttfc",
        title="time to first chunk",
        unit="ms",
        higher_is_better=False,
        clients=(
            RAW_FAST,
            RAW,
            OPENAI,
            PYDO,
            AGENTCHAT,
            OPENAI_SYNC,
            PYDO_SYNC,
            AGENTCHAT_SYNC,
        ),
        baseline=RAW_FAST,
        workload=lambda s: (
            f"{s.first_calls} streams per round, their median; the server sends the first "
            f"chunk, then the other {payloads.FIRST_STREAM_CHUNKS - 1} after "
            f"{payloads.FIRST_DELAY * 1e3:g} ms"
        ),
        run=InProcess(payloads.FIRST, _first_async, _first_sync),
    ),
    Scenario(
        key="sync-latency",
        title="sync: non-stream latency, c=1",
        unit="ms/call",
        higher_is_better=False,
        clients=(RAW, AGENTCHAT, AGENTCHAT_SYNC, OPENAI_SYNC, PYDO_SYNC),
        workload=lambda s: f"{s.latency_calls} sequential calls per round, a 0.5 KB completion",
        run=InProcess(payloads.SMALL, *_sequential(lambda s: s.latency_calls)),
    ),
    Scenario(
        key="sync-stream",
        title="sync: 1 stream x 20,000 chunks",
        unit="chunks/s",
        higher_is_better=True,
        clients=(RAW, AGENTCHAT, AGENTCHAT_SYNC, OPENAI_SYNC, PYDO_SYNC),
        workload=lambda s: "one stream of 20,000 chunks per round, each parsed into an object",
        run=InProcess(
            payloads.stream_kind(payloads.STREAM_LONG), *_streams(1, payloads.STREAM_LONG)
        ),
    ),
    Scenario(
        key="decode",
        title="decoding 20,000 chunks in memory",
        unit="chunks/s",
        higher_is_better=True,
        clients=(RAW, RAW_ORJSON, AGENTCHAT),
        workload=lambda s: (
            "the 20,000-chunk stream decoded from memory in 64 KiB reads, no socket: raw "
            "splits lines and parses dicts; agentchat decodes, builds attrs chunks and "
            "accumulates the final completion"
        ),
        run=_run_decode,
    ),
    Scenario(
        key="rss",
        title="peak RSS, 1,000 open streams",
        unit="MiB",
        higher_is_better=False,
        clients=(RAW, OPENAI, PYDO, AGENTCHAT, AGENTCHAT_SYNC, OPENAI_SYNC, PYDO_SYNC),
        workload=lambda s: (
            f"a fresh process per client opens {s.rss_streams} streams at once (sync clients: "
            "one after another) and reports ru_maxrss once all have their first chunk; "
            f"{s.rss_rounds} process(es) per client"
            + ("" if s.rss_sync else "; sync clients skipped in a quick run")
        ),
        run=_run_rss,
    ),
    Scenario(
        key="fanout",
        title="fan-out, c=64, 10% 503s",
        unit="req/s",
        higher_is_better=True,
        clients=(fanout.FANOUT_GATHER, fanout.FANOUT_AGENTCHAT),
        workload=lambda s: (
            f"{s.fanout_requests:,} requests per round at concurrency {CONCURRENCY} against "
            "the fake agent, which fails 10% of them with 503 (retry-after-ms: 20); every "
            "request must succeed exactly once"
        ),
        run=_run_fanout,
        baseline=fanout.FANOUT_GATHER,
        reference=None,
    ),
    Scenario(
        key="import",
        title="import time",
        unit="ms",
        higher_is_better=False,
        clients=tuple(key for key, _, _ in STATEMENTS) + tuple(key for key, _, _ in COMMANDS),
        workload=lambda s: (
            f"{s.import_rounds} fresh interpreters per statement, perf_counter around the "
            "statement; the two commands timed whole, start to exit"
        ),
        run=_run_imports,
        baseline="import-aiohttp",
        reference=None,
    ),
)


def run_scenario(scenario: Scenario, ctx: Context) -> ScenarioResult:
    """Run one scenario with the clients that are installed."""
    check = _import_available if scenario.key == "import" else available
    names = [name for name in scenario.clients if check(name)]
    if ctx.profiler is not None:
        ctx.profiler.start()
    started = time.perf_counter()
    series = scenario.run(scenario, ctx, names)
    return ScenarioResult(
        key=scenario.key,
        title=scenario.title,
        unit=scenario.unit,
        higher_is_better=scenario.higher_is_better,
        baseline=scenario.baseline,
        reference=scenario.reference,
        workload=scenario.workload(ctx.settings),
        series=series,
        seconds=time.perf_counter() - started,
        profile=ctx.profiler.summary() if ctx.profiler is not None else "",
    )
