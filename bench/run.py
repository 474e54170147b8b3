"""The benchmark suite's command line (``nox -s bench`` runs it; so can ``python -m bench.run``
from the repository root, with agentchat, orjson, openai and pydo installed; a client whose
library is missing is left out).

    python -m bench.run [--quick] [--rounds N] [--only SCENARIO ...] [--output-docs]
                        [--profile CLIENT]

Prints each scenario as it finishes, then the table and the budget; writes
``bench/results/latest.json`` and ``latest.md`` (and ``docs/benchmarks.md`` with
``--output-docs``), except in a ``--profile`` run, whose figures the profiler distorts.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import sys
import time
from collections.abc import Sequence

from .budget import judge
from .clients import CLIENTS, isolated, preload
from .measure import CLIENT_WAIT, ratio
from .profiling import ClientProfiler
from .report import (
    RESULTS_DIR,
    RunInfo,
    budget_table,
    pydo_table,
    results_table,
    telemetry_table,
    write_outputs,
)
from .scenarios import FULL, QUICK, SCENARIOS, Context, Scenario, ScenarioResult, run_scenario
from .server import ServerProcess
from .system import (
    CLIENT_CORE,
    machine_info,
    pin_to_cpu,
    raise_open_files_limit,
    source_fingerprint,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    keys = ", ".join(s.key for s in SCENARIOS)
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="agentchat against raw aiohttp, the openai SDK and pydo, on a local server.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds and calls (under two minutes)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"counted rounds per client (default {FULL.rounds}, quick {QUICK.rounds})",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SCENARIO",
        help=f"run only this scenario (repeatable, or comma-separated): {keys}",
    )
    parser.add_argument("--output-docs", action="store_true", help="also write docs/benchmarks.md")
    parser.add_argument(
        "--profile",
        metavar="CLIENT",
        choices=sorted(CLIENTS),
        help="cProfile this client's rounds; print its top 10 functions by self time per "
        "scenario (its figures are then slowed by the profiler)",
    )
    return parser


def _selected(only: Sequence[str] | None) -> list[Scenario]:
    if not only:
        return list(SCENARIOS)
    wanted = {key.strip() for item in only for key in item.split(",") if key.strip()}
    unknown = wanted - {s.key for s in SCENARIOS}
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return [s for s in SCENARIOS if s.key in wanted]


def _summary(result: ScenarioResult) -> str:
    baseline = result.get(result.baseline)
    lines = [f"  {result.title} ({result.seconds:.1f} s)"]
    for series in result.series:
        versus = ratio(series, baseline)
        shown = "" if versus is None else f"{versus:5.2f}x"
        cpu = "" if series.server_cpu is None else f"server CPU {series.server_cpu:4.0%}"
        waited = series.share(CLIENT_WAIT)
        if waited is not None:
            cpu += f"  client waited {waited:4.0%}"
        lines.append(
            f"    {series.label:<40} {series.median:>12,.3f} {result.unit:<9} {shown}  {cpu}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            raise SystemExit("--rounds must be at least 1")
        settings = settings.with_rounds(args.rounds)
    scenarios = _selected(args.only)
    machine = machine_info()  # before pinning: nproc counts the CPUs this process may use
    sources_at_start = source_fingerprint()
    raise_open_files_limit()
    started = time.perf_counter()
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results: list[ScenarioResult] = []
    with ServerProcess() as server:
        client_pinned = pin_to_cpu(CLIENT_CORE)
        profiler = ClientProfiler(args.profile) if args.profile else None
        # Every library in memory now; then what is alive is frozen out of the collector's
        # full passes, so the gc.collect() before each round is quick and the collections
        # inside rounds scan the objects of the calls, not the modules of three libraries.
        preload(sorted(name for name in CLIENTS if not isolated(name)))
        gc.collect()
        gc.freeze()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        ctx = Context(server=server, loop=loop, settings=settings, profiler=profiler)
        try:
            for number, scenario in enumerate(scenarios, 1):
                print(f"[{number}/{len(scenarios)}] {scenario.title} ...", flush=True)
                result = run_scenario(scenario, ctx)
                results.append(result)
                print(_summary(result), flush=True)
                if result.profile:
                    print(f"\n  cProfile of {args.profile}, top functions by self time:")
                    print("    " + result.profile.replace("\n", "\n    ") + "\n", flush=True)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            asyncio.set_event_loop(None)
        server_pinned = server.pinned
    info = RunInfo(
        mode=("quick" if args.quick else "full")
        + (f", {args.rounds} rounds" if args.rounds is not None else ""),
        settings=settings,
        machine=machine,
        client_pinned=client_pinned,
        server_pinned=server_pinned,
        started=started_at,
        seconds=time.perf_counter() - started,
        command="python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv),
        sources=(sources_at_start, source_fingerprint()),
    )
    verdicts = judge(results)
    if info.sources_changed:
        print("\n(!) agentchat's source files changed during the run: re-run for clean figures.")
    print()
    print(results_table(results))
    print()
    telemetry = telemetry_table(results)
    if telemetry:
        print("The cost of OpenTelemetry (ratios to agentchat without telemetry):")
        print(telemetry)
        print()
    versus_pydo = pydo_table(results)
    if versus_pydo:
        print("agentchat and pydo (agentchat's figure over pydo's, paired by round):")
        print(versus_pydo)
        print()
    print(budget_table(verdicts))
    print()
    if args.profile:
        # The profiled client's figures are slowed by the profiler: keep them out of the files.
        print(f"(!) {args.profile} ran under cProfile: its figures are slowed by the profiler.")
        print(f"{info.mode} run took {info.seconds:.0f} s; no result files written (--profile)")
        return 0
    written = write_outputs(info, results, verdicts, results_dir=RESULTS_DIR, docs=args.output_docs)
    print(f"{info.mode} run took {info.seconds:.0f} s; wrote {', '.join(map(str, written))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
