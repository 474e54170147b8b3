"""The results as a markdown table and a JSON file, and the ``docs/benchmarks.md`` page.

Every figure is a median over interleaved rounds, shown with its ratio to raw aiohttp
measured in the same run (and, in scenarios that have it, to agentchat's async client), how
much the rounds spread, and how busy the server was meanwhile. A second table sets agentchat
beside pydo, DigitalOcean's SDK, scenario by scenario, where the run has pydo's rows.

    python -m bench.report [--from bench/results/latest.json]

rewrites ``docs/benchmarks.md`` from a run's JSON file without measuring anything: for a
change to the page's text (``_DOCS_INTRO``, the notes, the tables' layout) between two runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from .budget import Verdict, judge
from .clients import (
    AGENTCHAT,
    AGENTCHAT_OTEL,
    AGENTCHAT_OTEL_SDK,
    AGENTCHAT_SYNC,
    PYDO,
    PYDO_SYNC,
    label,
)
from .measure import CLIENT_WAIT, SERVER_CPU, SERVER_WAIT, Series, ratio
from .scenarios import ScenarioResult, Settings

__all__ = [
    "SERVER_BUSY",
    "RunInfo",
    "budget_table",
    "docs_page",
    "load_run",
    "main",
    "pydo_pairs",
    "pydo_table",
    "results_json",
    "results_markdown",
    "results_table",
    "telemetry_table",
    "write_outputs",
]

#: Server CPU use from which a figure is flagged: the server may have set the pace.
SERVER_BUSY: Final = 0.8
#: The share of a client's (or the server's) time spent waiting for a CPU from which a
#: figure is flagged: another process on the machine disturbed it.
DISTURBED: Final = 0.1

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"
DOCS_PAGE: Final = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


@dataclass
class RunInfo:
    mode: str  # "quick" or "full" (with any --rounds)
    settings: Settings
    machine: dict[str, object]
    client_pinned: bool
    server_pinned: bool
    started: str  # ISO 8601, UTC
    seconds: float
    command: str
    #: Digests of agentchat's sources at the start and at the end of the run.
    sources: tuple[str | None, str | None] = (None, None)

    @property
    def sources_changed(self) -> bool:
        return self.sources[0] != self.sources[1]


def _number(value: float, unit: str) -> str:
    if unit in ("req/s", "chunks/s"):
        return f"{value:,.0f}"
    if unit == "MiB":
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _times(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}x"


def _cpu(series: Series) -> str:
    load = series.server_cpu
    if load is None:
        return "-"
    return f"{load:.0%}" + (" (!)" if load >= SERVER_BUSY else "")


def _waits(series: Series) -> str:
    client, server = series.share(CLIENT_WAIT), series.share(SERVER_WAIT)
    if client is None and server is None:
        return "-"
    shown = " / ".join("-" if w is None else f"{w:.0%}" for w in (client, server))
    disturbed = any(w is not None and w >= DISTURBED for w in (client, server))
    return shown + (" (!)" if disturbed else "")


def results_table(results: Sequence[ScenarioResult]) -> str:
    """One row per client and scenario: median, ratios, spread, server CPU, CPU waits."""
    lines = [
        "| scenario | client | median | vs raw aiohttp | vs agentchat async | spread "
        "| server CPU | waited for a CPU (client / server) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        baseline = result.get(result.baseline)
        reference = result.get(result.reference) if result.reference else None
        for index, series in enumerate(result.series):
            title = result.title if index == 0 else ""
            versus_reference = "" if series is reference else _times(ratio(series, reference))
            lines.append(
                f"| {title} | {series.label} | {_number(series.median, result.unit)} "
                f"{result.unit} | {_times(ratio(series, baseline))} | {versus_reference} "
                f"| {series.spread:.0%} | {_cpu(series)} | {_waits(series)} |"
            )
    return "\n".join(lines)


def details_table(results: Sequence[ScenarioResult]) -> str:
    """The RSS scenario's other figures, when it ran."""
    result = next((r for r in results if r.key == "rss"), None)
    if result is None:
        return ""
    lines = [
        "| client | peak RSS | RSS before the streams | per stream | time to open them all |",
        "|---|---:|---:|---:|---:|",
    ]
    for series in result.series:
        before = series.detail("before_mib")
        per_stream = series.detail("per_stream_kib")
        seconds = series.detail("open_seconds")
        lines.append(
            f"| {series.label} | {series.median:.1f} MiB "
            f"| {'' if before is None else f'{before:.1f} MiB'} "
            f"| {'' if per_stream is None else f'{per_stream:.1f} KiB'} "
            f"| {'' if seconds is None else f'{seconds:.2f} s'} |"
        )
    return "\n".join(lines)


def telemetry_table(results: Sequence[ScenarioResult]) -> str:
    """The cost of agentchat's OpenTelemetry: in each scenario that ran the telemetry rows,
    their medians beside agentchat's without telemetry, and their ratios to it."""
    rows = [r for r in results if r.get(AGENTCHAT_OTEL) or r.get(AGENTCHAT_OTEL_SDK)]
    if not rows:
        return ""
    names = (AGENTCHAT, AGENTCHAT_OTEL, AGENTCHAT_OTEL_SDK)
    lines = [
        "| scenario | " + " | ".join(label(name) for name in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for result in rows:
        without = result.get(AGENTCHAT)
        cells = []
        for name in names:
            series = result.get(name)
            if series is None:
                cells.append("-")
                continue
            shown = f"{_number(series.median, result.unit)} {result.unit}"
            if series is not without:
                shown += f" ({_times(ratio(series, without)) or '-'})"
            cells.append(shown)
        lines.append(f"| {result.title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The series set side by side in :func:`pydo_table`: (pydo's, agentchat's, what they are).
PYDO_PAIRS: Final[tuple[tuple[str, str, str], ...]] = (
    (PYDO, AGENTCHAT, "async"),
    (PYDO_SYNC, AGENTCHAT_SYNC, "sync"),
    ("import-pydo", "import-agentchat-sync", "sync client's import"),
    ("import-pydo-async", "import-agentchat-async", "async client's import"),
    ("client-pydo-async", "client-agentchat-async", "import, then make an async client"),
    ("client-pydo-sync", "client-agentchat-sync", "import, then make a sync client"),
)


@dataclass(frozen=True)
class PydoPair:
    """agentchat's series beside pydo's in one scenario."""

    result: ScenarioResult
    pydo: Series
    agentchat: Series
    kind: str

    @property
    def ratio(self) -> float | None:
        """agentchat's figure over pydo's (the median of the per-round ratios)."""
        return ratio(self.agentchat, self.pydo)

    @property
    def better(self) -> str:
        """The client that did better in every round, or ``mixed`` when each did better in
        some (then the difference is noise until more rounds settle it)."""
        mine, theirs = self.agentchat.values, self.pydo.values
        if len(mine) == len(theirs) and all(theirs):
            ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
        else:  # not paired round by round: the medians alone
            ratios = [self.agentchat.median / self.pydo.median] if self.pydo.median else []
        if not ratios:
            return "-"
        up = self.result.higher_is_better
        if all(r > 1 if up else r < 1 for r in ratios):
            return "agentchat"
        if all(r < 1 if up else r > 1 for r in ratios):
            return "pydo"
        return "mixed"


def pydo_pairs(results: Sequence[ScenarioResult]) -> list[PydoPair]:
    """Every scenario's pydo series with agentchat's counterpart, in the run's order."""
    pairs = []
    for result in results:
        for pydo, agentchat, kind in PYDO_PAIRS:
            pydo_series, agentchat_series = result.get(pydo), result.get(agentchat)
            if pydo_series is not None and agentchat_series is not None:
                pairs.append(PydoPair(result, pydo_series, agentchat_series, kind))
    return pairs


def pydo_table(results: Sequence[ScenarioResult]) -> str:
    """agentchat beside pydo, scenario by scenario: both medians, the ratio of agentchat's
    figure to pydo's, and which did better in every round ("" when the run has no pydo
    rows)."""
    pairs = pydo_pairs(results)
    if not pairs:
        return ""
    lines = [
        "| scenario | pydo | agentchat | agentchat / pydo | better |",
        "|---|---:|---:|---:|---|",
    ]
    for pair in pairs:
        unit, title = pair.result.unit, pair.result.title
        if not title.startswith(f"{pair.kind}:"):  # "sync: ..." says it already
            title += f" ({pair.kind})"
        lines.append(
            f"| {title} "
            f"| {_number(pair.pydo.median, unit)} {unit} "
            f"| {_number(pair.agentchat.median, unit)} {unit} "
            f"| {_times(pair.ratio) or '-'} | {pair.better} |"
        )
    return "\n".join(lines)


def budget_table(verdicts: Sequence[Verdict]) -> str:
    lines = ["| budget row | measured | budget | result |", "|---|---:|---|---|"]
    for verdict in verdicts:
        lines.append(
            f"| {verdict.rule.row} | {verdict.shown} | {verdict.rule.wording} | {verdict.outcome} |"
        )
    return "\n".join(lines)


def _workloads(results: Sequence[ScenarioResult]) -> str:
    return "\n".join(f"- **{r.title}**: {r.workload} ({r.seconds:.0f} s)." for r in results)


def _busy_note(results: Sequence[ScenarioResult]) -> str:
    busy = [
        f"{r.title} ({s.label}, {s.server_cpu:.0%})"
        for r in results
        for s in r.series
        if s.server_cpu is not None and s.server_cpu >= SERVER_BUSY
    ]
    if not busy:
        return (
            f"The server stayed under {SERVER_BUSY:.0%} of its CPU in every scenario: the "
            "clients, not the server, set the pace."
        )
    return (
        f"(!) The server used {SERVER_BUSY:.0%} or more of its CPU in: {'; '.join(busy)}. "
        "There it may have set the pace, and the ratios understate the differences."
    )


def _disturbed_note(results: Sequence[ScenarioResult]) -> str:
    disturbed = sorted(
        {
            r.title
            for r in results
            for s in r.series
            for w in (s.share(CLIENT_WAIT), s.share(SERVER_WAIT))
            if w is not None and w >= DISTURBED
        }
    )
    if not disturbed:
        return (
            "Neither the clients nor the server waited for a CPU for more than "
            f"{DISTURBED:.0%} of any figure's time: no other process got in the way."
        )
    return (
        f"(!) The client or the server waited for its CPU {DISTURBED:.0%} of the time or more "
        f"in: {'; '.join(disturbed)}. Another process on the machine had that CPU (or the "
        "client's own threads did, which share CPU 1 with the caller: the event-loop thread "
        "of agentchat's sync facade, or the worker threads in which pydo's async client "
        "looks up proxy and `.netrc` settings). Such figures are noisier; the interleaving "
        "spreads a disturbance over all clients, but re-run before trusting a close call "
        "there."
    )


def _machine_lines(info: RunInfo) -> str:
    machine = info.machine
    libraries = machine.get("libraries")
    versions = (
        ", ".join(f"{name} {version}" for name, version in libraries.items())
        if isinstance(libraries, dict)
        else ""
    )
    pinning = (
        "server pinned to CPU 0, clients to CPU 1"
        if info.client_pinned and info.server_pinned
        else "not pinned (the OS did not allow it)"
    )
    return "\n".join(
        [
            f"- CPUs: {machine.get('nproc')} (`nproc`), {machine.get('cpu_model')}; {pinning}",
            f"- {machine.get('python')} on {machine.get('os')}",
            f"- libraries: {versions}",
            f"- run: `{info.command}` ({info.mode}), {info.started}, took {info.seconds:.0f} s",
            f"- agentchat sources: {info.sources[0]}"
            + (
                f" at the start, {info.sources[1]} at the end: (!) they changed during the run, "
                "so its figures mix two versions of the library"
                if info.sources_changed
                else " (unchanged during the run)"
            ),
        ]
    )


def _pydo_section(results: Sequence[ScenarioResult]) -> str:
    table = pydo_table(results)
    if not table:
        return (
            "This run has no pydo rows (pydo was not installed, `--only` left out the "
            "scenarios that have them, or the run predates them)."
        )
    return (
        "pydo, DigitalOcean's SDK, beside agentchat in every scenario that ran both: the "
        "async clients, the sync clients, and the imports. Medians as above; *agentchat / "
        "pydo* is the median over rounds of agentchat's figure divided by pydo's in the same "
        "round (for times and memory below 1.00x means agentchat took less, for rates above "
        "1.00x means agentchat did more); *better* is the one that did better in every "
        "round, *mixed* where each did better in some.\n\n" + table
    )


def results_markdown(
    info: RunInfo,
    results: Sequence[ScenarioResult],
    verdicts: Sequence[Verdict],
    level: int = 2,
) -> str:
    """The results section: machine, table, server note, RSS details, telemetry, workloads,
    agentchat beside pydo, budget, under headings of ``level``."""
    heading = "#" * level
    parts = [
        f"{heading} Machine",
        _machine_lines(info),
        f"{heading} Results",
        "Medians of interleaved rounds. *vs raw aiohttp*: the median over rounds of the "
        "figure divided by raw aiohttp's in the same round (for times and memory lower is "
        "better, for rates higher); *vs agentchat async* likewise. *spread*: (max - min) / "
        "median of the rounds. *server CPU*: the server process's CPU time over the wall "
        "time of that client's rounds. *waited for a CPU*: "
        "the time the client's threads and the server's spent ready to run while something "
        "else had their CPU (`run_delay` in `/proc/<pid>/task/*/schedstat`), over the same "
        "wall time. A quick run (3 rounds) is a smoke test: trust the full run's ratios.",
        results_table(results),
        _busy_note(results),
        _disturbed_note(results),
    ]
    details = details_table(results)
    if details:
        parts += ["Peak RSS in detail (medians):", details]
    telemetry = telemetry_table(results)
    if telemetry:
        parts += [
            "The cost of OpenTelemetry (medians; in brackets, the ratio to agentchat without "
            "telemetry, as *vs agentchat async* above):",
            telemetry,
        ]
    else:
        parts.append(
            "This run has no OpenTelemetry rows (`opentelemetry-api` and `-sdk` were not "
            "installed, `--only` left out the latency, throughput and stream scenarios, or the "
            "run predates those rows), so the telemetry budget row is `not run`."
        )
    parts += ["What each round does:", _workloads(results)]
    parts += [f"{heading} agentchat and pydo", _pydo_section(results)]
    parts += [f"{heading} Budget", budget_table(verdicts)]
    return "\n\n".join(parts) + "\n"


def results_json(
    info: RunInfo, results: Sequence[ScenarioResult], verdicts: Sequence[Verdict]
) -> dict[str, Any]:
    scenarios = []
    for result in results:
        baseline = result.get(result.baseline)
        reference = result.get(result.reference) if result.reference else None
        scenarios.append(
            {
                "key": result.key,
                "title": result.title,
                "unit": result.unit,
                "higher_is_better": result.higher_is_better,
                "workload": result.workload,
                "seconds": round(result.seconds, 2),
                "baseline": result.baseline,
                "reference": result.reference,
                "results": [
                    {
                        "client": s.client,
                        "label": s.label,
                        "median": s.median,
                        "samples": s.values,
                        "spread": s.spread,
                        "ratio_to_baseline": ratio(s, baseline),
                        "ratio_to_reference": ratio(s, reference),
                        "ratio_of_medians_to_baseline": (
                            s.median / baseline.median if baseline and baseline.median else None
                        ),
                        "server_cpu": s.server_cpu,
                        "client_waited": s.share(CLIENT_WAIT),
                        "server_waited": s.share(SERVER_WAIT),
                        "wall_seconds": round(s.wall_seconds, 3),
                        "details": {name: s.detail(name) for name in s.details},
                    }
                    for s in result.series
                ],
            }
        )
    versus_pydo = [
        {
            "scenario": pair.result.key,
            "pydo": pair.pydo.client,
            "agentchat": pair.agentchat.client,
            "kind": pair.kind,
            "ratio": pair.ratio,
            "better": pair.better,
        }
        for pair in pydo_pairs(results)
    ]
    return {
        "started": info.started,
        "seconds": round(info.seconds, 1),
        "mode": info.mode,
        "command": info.command,
        "settings": asdict(info.settings),
        "machine": info.machine,
        "pinned": {"client": info.client_pinned, "server": info.server_pinned},
        "agentchat_sources": {
            "start": info.sources[0],
            "end": info.sources[1],
            "changed": info.sources_changed,
        },
        "scenarios": scenarios,
        "versus_pydo": versus_pydo,
        "budget": [
            {
                "row": v.rule.row,
                "scenario": v.rule.scenario,
                "client": v.rule.client,
                "against": v.rule.against,
                "bound": v.rule.bound,
                "ratio": v.ratio,
                "passed": v.passed,
            }
            for v in verdicts
        ],
    }


_DOCS_INTRO = """\
# Benchmarks

How agentchat compares with **raw aiohttp** (hand-written `aiohttp` loops: the floor for a
Python client; streams have two, the line-by-line `async for line in response.content` most
people write and the fastest honest one, `iter_any()`), the official **`openai` SDK** and
**pydo** (DigitalOcean's official Python SDK), async and sync, all talking to one local
OpenAI-compatible server. The suite lives in
[`bench/`](https://github.com/agentchat/agentchat/tree/main/bench); it is not part of the
test run, and this page is written by it. [agentchat and pydo](#agentchat-and-pydo) sets
the two side by side, scenario by scenario; the [budget](#budget) at the end is what
agentchat holds itself to.

## Running it

```bash
nox -s bench                          # the full run (about 11 minutes on 2 cores)
nox -s bench -- --quick               # fewer rounds and calls: under two minutes
nox -s bench -- --only stream,rss     # some scenarios only; also --rounds N
nox -s bench -- --profile agentchat   # cProfile one client: top 10 functions by self time
nox -s bench -- --output-docs         # also rewrite this page with the run's figures
nox -s bench -- --help                # every option, and the scenarios --only takes
```

Every run prints the table and writes `bench/results/latest.json` (every sample, ratio and
server CPU figure) and `bench/results/latest.md`. The session installs agentchat (with
orjson), the `openai` SDK and `pydo` (neither is a dependency of agentchat), and
`opentelemetry-api` and `-sdk` for the telemetry rows. Without nox, `python -m bench.run`
takes the same options from the repository root once those are installed (a client whose
library is missing is left out). Let the run have the machine to itself: it pins the server
and the clients to one core each.

Three more commands, run on their own:

- `python -m bench.instructions` (needs `valgrind`; about 4 minutes) counts the client's CPU
  instructions per plain call, raw aiohttp against agentchat, under callgrind at concurrency
  1 and 64 (`--streams`: per 20-chunk stream instead; `--chunks`: per streamed chunk, one
  stream of 20,000 against one of 500; `--stages`: one chunk in memory, stage by stage;
  `--fanout`: per request of `create_many` against gather + semaphore; `--fanout-scenario`:
  per request of the `fanout` scenario itself, its fake agent and runners; `--allocations`: heap
  allocations instead, under DHAT with `PYTHONMALLOC=malloc`). The counts repeat to within
  about 1% from run to run, so they settle a close call the wall clock cannot. Its outputs
  are in
  [`bench/results/`](https://github.com/agentchat/agentchat/tree/main/bench/results)
  (`instructions*.txt`, `allocations*.txt`).
- `python -m bench.fanout` runs `create_many` against a hand-written `asyncio.gather` +
  semaphore over raw aiohttp, with 503s and 429s, then a paced run under an enforced rate
  limit (the suite's `fanout` scenario is its first mix, 10% 503s).
- `python -m bench.report` rewrites this page from `bench/results/latest.json` without
  measuring, after a change to its text in `bench/report.py`.

## How to read the ratios

- Absolute figures are this machine's. The ratios are what carry over to another machine:
  each compares two clients measured side by side, in the same rounds.
- **vs raw aiohttp** is the client's figure divided by raw aiohttp's. For times and memory
  (ms, MiB) lower is better: 1.10x is 10% more time (or memory) than the hand-written
  loop. For rates (req/s, chunks/s) higher is better: 0.90x is 10% fewer per second.
- Raw aiohttp parses with the standard library's `json.loads` into dicts; agentchat parses
  with orjson into typed attrs objects. The stream scenarios' ratios are against *raw
  aiohttp, iter_any* (whatever bytes arrived, split into lines by hand): a ratio above 1.00x
  means agentchat reads typed chunks faster than that reads dicts. *raw aiohttp* there is
  the line-by-line reader (one await per line), and *raw aiohttp + orjson* the line-by-line
  floor with agentchat's JSON decoder.
- **vs agentchat async** compares with agentchat's own async client: for `agentchat (sync)`
  it is the cost of the blocking facade's thread hop.
- **spread** says how much the rounds of a figure disagreed. A difference smaller than the
  spread is noise until a second run, or an instruction count, confirms it.
- **(!)** marks a figure taken while the server was busy 80% of the time or more (it may have
  set the pace) or while a process waited for a CPU 10% of the time or more (something else
  ran on the machine).
- The **budget** rows are judged on a full run; a quick run (3 rounds) is a smoke test that
  can miss a row by noise alone.

## How it measures

- **The server** is an `aiohttp.web` server in its own process, pinned to CPU 0 while the
  clients run on CPU 1 (where the OS allows pinning). Every body is encoded once at start-up:
  the completion JSON, and each whole stream, already cut into 64 KiB writes; a request costs
  it its HTTP parsing and a few writes. Any method and path is answered, so the openai SDK's
  `/v1/chat/completions` and the `/api/v1/chat/completions?agent=true` of agentchat and pydo
  get the same bytes. Its CPU time is read from `/proc/<pid>/stat` around every round and
  shown beside each figure as a share of one CPU: a figure taken while the server was busy
  80% of the time or more is flagged `(!)`, since there the server may have set the pace.
- **The clients** run side by side in one process, in interleaved rounds (A B C A B C ...),
  so a slow spell of the machine touches all of them; each client's first round warms it up
  and is not counted; figures are medians over rounds. A ratio is the median of the per-round
  ratios (each client against raw aiohttp's round just before it), so that a change of the
  machine's speed during the run cancels out; the JSON also has the ratio of the medians.
  Plain calls parse the answer (a dict for raw aiohttp, pydantic models for openai, `DotDict`
  objects, dicts with attribute access, for pydo, attrs classes for agentchat) and streams
  parse every chunk likewise. Raw aiohttp uses the
  standard library's `json.loads`; *raw aiohttp + orjson* shows that floor with the JSON
  decoder agentchat uses (orjson, where it is installed).
- **Bounded rounds**: every round stops at its count of calls or chunks, or after a time
  limit (0.5 s quick, 3 s full) with the rate of what it did by then. The openai SDK's
  streams are slow enough to hit the limit; their figures then come from part of a stream.
- **pydo** is made as its documentation shows, `pydo.Client(token, agent_endpoint=...)` and
  `pydo.aio.Client(...)`, and called as `client.agent.chat.completions.create(...)`, its
  streams read in a `with` (`async with`) block. Its azure-core pipeline refuses to send a
  bearer token over plain http, and the server is plain http on 127.0.0.1; azure-core's
  per-call `enforce_https=False` does not reach the pipeline through pydo's `create()`. So
  the pydo rows pass pydo's `authentication_policy=` the policy pydo builds by default
  (azure-core's `BearerTokenCredentialPolicy` with pydo's credential and scope), subclassed
  only to allow http: one dict store per request. Everything else is pydo's default: its
  policies (retry, logging, tracing) and transport (requests, or aiohttp for `pydo.aio`)
  with azure-core's settings, `trust_env` among them, so aiohttp looks up proxy and `.netrc`
  settings in a worker thread on every request, which shows in the *waited for a CPU*
  column. As for every client, reads and connects time out after 60 s, and in the peak-RSS
  children the pool holds all 1,000 streams. pydo's sync client opens a new connection for
  every stream: closing a stream closes its connection, even one read to the end.
  `bench/pydo_http.py` has the details.
- **Garbage collection**: the libraries are imported and `gc.freeze()` is called before the
  first round, and a `gc.collect()` runs before every round, outside the timing.
- **OpenTelemetry**: every agentchat row is made with `telemetry=False` except two, beside
  `agentchat (async)` in the latency, throughput and stream scenarios: *agentchat + otel API,
  no SDK* (`telemetry=True` with `opentelemetry-api` installed and no provider configured:
  the API's no-op tracer and meter) and *agentchat + otel SDK* (`telemetry=True` in a worker
  process of its own whose global providers are the SDK's: a `TracerProvider` with a
  `BatchSpanProcessor` whose exporter drops the spans, and a `MeterProvider` with an
  `InMemoryMetricReader`; its rounds are interleaved with the others', and the spans of a
  round are flushed and the metrics collected after it, untimed). A global provider cannot
  be unset, so the SDK's never exists in the process of the other clients. Their medians and
  ratios to agentchat without telemetry have a table of their own.
- **Sync clients** are not run at concurrency 64: 64 threads would measure the GIL and thread
  switching more than the library. Their sequential and streaming figures have scenarios of
  their own, beside agentchat's async client. The sync facade's event-loop thread runs on the
  same CPU as its caller, as every client thread here does (so do the worker threads of
  pydo's async client).
- **Peak RSS** is `ru_maxrss` of a fresh process per client that opens 1,000 streams at once
  (the sync clients: one after another, all kept open) and reads it once every stream has its
  first chunk; the server sends each stream one chunk and then stalls until the client
  closes. The measuring process is forked from a fresh interpreter, because Linux carries
  `ru_maxrss` across `exec` and a child of the large runner would report the runner's peak;
  `/proc/self/status`'s `VmHWM` is recorded beside it in the JSON as a check.
- **Import time** is `time.perf_counter()` around the one statement in a fresh interpreter,
  with bytecode caches written (as from an installed wheel), interpreter start-up excluded.
  pydo imports its HTTP library (requests, or aiohttp) and its resource classes only when the
  first client is made, so four statements also make a client, agentchat's and pydo's, sync
  and async: what a program pays before its first request.
- **Decoding in memory** replays the 20,000-chunk stream from memory in 64 KiB reads, with no
  socket: the parsing cost alone (raw line splitting and `json.loads`, against agentchat's
  SSE decoder, attrs chunks and accumulation of the final completion).
- **Disturbances**: the time the client's and the server's threads spent ready to run while
  something else had their CPU (`run_delay` in `/proc/<pid>/task/*/schedstat`) is shown
  beside each figure and flagged `(!)` from 10% of its time. On a quiet machine it is near 0;
  it includes a client's own threads, which share CPU 1 with the caller: the event-loop
  thread of agentchat's sync client, the worker threads of pydo's async client.

The machine is shared and small (2 cores); the spread column says how much the rounds of
each figure disagreed. A quick run (3 rounds) is a smoke test that can miss a budget row by
noise alone; the full run's ratios are the ones to hold the budget to, and a close call
deserves a second run, or an instruction count (`python -m bench.instructions`, above).

One source of noise is not the machine's. asyncio reads a socket into a fresh 256 KiB buffer
and shrinks it to what arrived. With glibc, whether that buffer comes from the heap or from a
new `mmap` (three system calls and a page fault per response) depends on what the process
happened to allocate and free early. It varies from one process to the next and affects every
aiohttp client alike; in an A/B it was worth about 20-35 µs of system time per call. A
high-throughput process can pin the choice with `MALLOC_MMAP_THRESHOLD_=1048576
MALLOC_TRIM_THRESHOLD_=4194304` in its environment; agentchat does not tune its host's
allocator itself.

"""


_DOCS_LIMITS = """\

## Where the budget is not met, and why

The wall clock of one run moves by more than some of these margins (see each row's spread), so
each row below is read against instruction counts (`python -m bench.instructions`, counted
under callgrind; they repeat to within about 1%), kept in
[`bench/results/`](https://github.com/agentchat/agentchat/tree/main/bench/results).

- **Streams, against the fastest raw reader** (1 x 20,000 and 64 x 500 chunks, >= 1.00x). Not
  met with typed, frozen, slotted attrs chunks built in Python, which the design fixes, and
  type-checked as they are built, which the guarantees fix. One chunk in memory (`--stages`)
  costs the floor 39.0k instructions: 3.6k to split lines, 35.4k for `json.loads` into dicts.
  It costs agentchat 45.5k: 9.2k for the SSE decoder, 9.9k for `orjson.loads`, 23.3k to build
  the three attrs objects, and 3.1k to accumulate the final completion. Over the network
  (`--chunks`) a chunk costs agentchat 51.0k against the floor's 40.5k
  (62.6k before this round).
  - The objects cost 34.8k before this round. A frozen class refuses attribute stores, so each
    field went through its slot's setter, a Python-level call; each object is now built as a
    subclass that adds no slots and takes plain stores, then switched to its frozen class
    (`agentchat/_frozen.py`). The switch only works with both `__setattr__` and `__delattr__`
    restored to `object`'s: they fill one type slot, and with either overridden every store
    is a Python call again, which is why an earlier attempt with an unfrozen twin class
    measured slower.
  - What is left is the work itself: reading about 25 fields from the decoded dicts, checking
    each one's JSON type (a wrong type raises instead of being carried), keeping unknown fields
    in `extra`, and making three objects. To reach 1.00x the objects would have to cost
    16.8k, less than three quarters of that; the ways there give up a guarantee or the design
    (no type checks, no `extra`, lazy chunks that stay dicts until read, a C extension).
  - Against the line-by-line reader most people write, agentchat's streams are 1.35x to 1.66x
    faster (this round's two full runs).
- **Non-stream throughput at c=64** (>= 0.95x) and **latency c=1** (<= 1.05x). A plain call
  costs agentchat 663.4k instructions at c=64 against raw aiohttp's 610.9k (1.086x; 1.126x
  before this round), and 639.4k against 600.8k at c=1 (1.064x; 1.103x before). At c=64 the
  client is CPU-bound on this machine, so that row follows the ratio, and the wall clock adds
  its noise: this round's two full runs read 0.87x and 0.90x for c=64, and 1.24x and 0.95x
  for latency. What agentchat does per call that the raw loop does not, by `timeit` in memory:
  checking the request (1.8 us); building five typed objects and the response's metadata from
  the answer, after orjson's 2.0 us; rate limits (1.3 us without rate-limit headers); counting
  attempts and the retry loop's layers. Each is a guarantee or the typed result.
- **Fan-out** (`create_many` >= 0.90x gather + semaphore). In this scenario
  (`--fanout-scenario`: the fake agent, with its 503s and rate-limit headers) a request costs
  `create_many` 705.3k instructions against gather's 670.8k (1.051x; 1.111x before this
  round). It was also measured unfairly until this round: the fake agent advertised a limit of
  100,000 requests a minute, which the scenario exceeds, so in late windows the fan-out's
  pacer read `ratelimit-remaining: 0` and waited for the reset, as it should, while gather,
  which reads no headers, went on (2 of the 9 rounds of the last run before this one came in
  under 400 req/s). The server now advertises a limit no run reaches, and still sends the
  headers, which the pacer reads on every response. The wall clock shows more than the
  instructions do: this round's two full runs read 0.90x and 0.85x (0.83x and 0.94x as the
  ratio of the medians), and the client's CPU time per request (`getrusage`) is about 1.2x
  gather's (1.3x before this round). Its profile has the same shape as gather's (the same
  shares in the interpreter loop, the allocator and the collector); before this round,
  cachegrind's simulation gave it 1.05x the instruction-cache misses, 1.06x the data-cache
  misses and 1.17x the branch mispredictions of gather, per request. A machine with hardware
  counters would tell the rest.
- **Time to first chunk** (<= 1.10x) is not met: 1.17x and 1.18x in this round's two full runs
  (each round now the median of its 20 streams, not their mean, which one stream held up by
  a collection could move by a tenth). It is about 0.2 ms over the floor's 1.1 ms. A call
  that waits on the network finds its CPU cold when the answer comes, and what runs between
  the response's headers and the first chunk costs several times its `timeit` figure: taking
  the headers, opening the stream (its decoder, its accumulator, the weak references that
  close it when dropped), the timer that bounds each read by the idle and read timeouts, and
  building and accumulating the first typed chunk. Timed with `perf_counter` marks: about
  90 us from the headers to the first read, 100 us for that read and its chunk, and 30 us to
  hand the chunk to the caller; the floor splits the bytes and calls `json.loads` once. Each
  step is a guarantee: a stream cut before its first event is retried, every wait is bounded,
  and a dropped stream is closed.
- **Rows that pass or fail with the machine's noise.** Latency c=1 read 1.24x and 0.95x
  (1.064x in instructions, above). The sync facade's latency read 1.17x and 1.33x, the latter
  with the client waiting for a CPU 12% of the time (flagged (!)).
"""


def docs_page(info: RunInfo, results: Sequence[ScenarioResult], verdicts: Sequence[Verdict]) -> str:
    figures = results_markdown(info, results, verdicts, level=3)
    return _DOCS_INTRO + "## The latest figures\n\n" + figures + _DOCS_LIMITS


def write_outputs(
    info: RunInfo,
    results: Sequence[ScenarioResult],
    verdicts: Sequence[Verdict],
    *,
    results_dir: Path = RESULTS_DIR,
    docs: bool = False,
) -> list[Path]:
    """Write ``latest.json`` and ``latest.md`` (and the docs page); return the paths."""
    results_dir.mkdir(parents=True, exist_ok=True)
    written = [results_dir / "latest.json", results_dir / "latest.md"]
    written[0].write_text(json.dumps(results_json(info, results, verdicts), indent=2) + "\n")
    written[1].write_text(
        "# agentchat benchmarks: latest run\n\n" + results_markdown(info, results, verdicts)
    )
    if docs:
        DOCS_PAGE.write_text(docs_page(info, results, verdicts))
        written.append(DOCS_PAGE)
    return written


def _series(record: dict[str, Any]) -> Series:
    """A series back from :func:`results_json`: its samples as they were; its meters from
    their shares of the wall time; each detail as its median (all the report shows)."""
    wall = float(record["wall_seconds"])
    shares = {SERVER_CPU: "server_cpu", SERVER_WAIT: "server_waited", CLIENT_WAIT: "client_waited"}
    return Series(
        client=record["client"],
        label=record["label"],
        values=[float(value) for value in record["samples"]],
        details={name: [value] for name, value in record["details"].items() if value is not None},
        wall_seconds=wall,
        metered={
            meter: record[key] * wall for meter, key in shares.items() if record[key] is not None
        },
    )


def load_run(path: Path) -> tuple[RunInfo, list[ScenarioResult]]:
    """A run read back from the JSON file :func:`write_outputs` wrote: its figures, ratios and
    notes render as they did (a budget row added since shows ``not run``)."""
    data = json.loads(path.read_text())
    results = [
        ScenarioResult(
            key=scenario["key"],
            title=scenario["title"],
            unit=scenario["unit"],
            higher_is_better=scenario["higher_is_better"],
            baseline=scenario["baseline"],
            reference=scenario["reference"],
            workload=scenario["workload"],
            series=[_series(record) for record in scenario["results"]],
            seconds=scenario["seconds"],
        )
        for scenario in data["scenarios"]
    ]
    sources = data["agentchat_sources"]
    info = RunInfo(
        mode=data["mode"],
        settings=Settings(**data["settings"]),
        machine=data["machine"],
        client_pinned=data["pinned"]["client"],
        server_pinned=data["pinned"]["server"],
        started=data["started"],
        seconds=data["seconds"],
        command=data["command"],
        sources=(sources["start"], sources["end"]),
    )
    return info, results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Rewrite docs/benchmarks.md from a run's JSON file, without measuring.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=RESULTS_DIR / "latest.json",
        help="the run's JSON file (default: bench/results/latest.json)",
    )
    args = parser.parse_args(argv)
    info, results = load_run(args.source)
    DOCS_PAGE.write_text(docs_page(info, results, judge(results)))
    print(f"wrote {DOCS_PAGE} from {args.source} ({info.mode} run of {info.started})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
