"""agentchat's performance budget: each row a ratio between two series of the same run.

Ratios, not absolute figures, so that the budget holds on any machine: raw aiohttp measured
in the same run, interleaved with agentchat, is the yardstick. Streams are held to the fast
raw reader (``iter_any()``, :class:`bench.clients.RawAiohttpFast`), plain calls to the usual
one (the same code for a plain call); the fan-out to ``asyncio.gather`` with a semaphore over
raw aiohttp; the sync facade to agentchat's own async client, and so is its OpenTelemetry
API without an SDK; import time to ``import aiohttp``. Each ratio is the median of the
per-round ratios (:func:`bench.measure.ratio`). One row is a difference, not a ratio: the
command line's ``--help`` in milliseconds over a bare interpreter's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .clients import AGENTCHAT, AGENTCHAT_OTEL, AGENTCHAT_SYNC, RAW, RAW_FAST
from .fanout import FANOUT_AGENTCHAT, FANOUT_GATHER
from .measure import difference as paired_difference
from .measure import ratio as paired_ratio
from .scenarios import ScenarioResult

__all__ = ["RULES", "Rule", "Verdict", "judge"]


@dataclass(frozen=True)
class Rule:
    row: str
    scenario: str
    client: str  # the series held to the limit
    against: str  # the series it is divided by
    limit: float
    at_most: bool  # the ratio must be <= limit (times, memory), else >= limit (rates)
    wording: str
    #: Judged on the difference (client minus against, in the scenario's unit), not the ratio.
    over: bool = False

    @property
    def bound(self) -> str:
        suffix = " ms over" if self.over else "x"
        return f"{'<=' if self.at_most else '>='} {self.limit:g}{suffix}"


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "non-stream latency c=1",
        "latency",
        AGENTCHAT,
        RAW,
        1.05,
        True,
        "<= 1.05x raw aiohttp's time",
    ),
    Rule(
        "non-stream throughput c=64",
        "throughput",
        AGENTCHAT,
        RAW,
        0.95,
        False,
        ">= 0.95x raw aiohttp's req/s",
    ),
    Rule(
        "stream chunks/s, 1 x 20k, as typed attrs chunks",
        "stream",
        AGENTCHAT,
        RAW_FAST,
        1.0,
        False,
        ">= 1.0x raw aiohttp iter_any + json.loads dicts",
    ),
    Rule(
        "stream chunks/s, 64 x 500, as typed attrs chunks",
        "streams64",
        AGENTCHAT,
        RAW_FAST,
        1.0,
        False,
        ">= 1.0x raw aiohttp iter_any + json.loads dicts",
    ),
    Rule(
        "time to first chunk",
        "ttfc",
        AGENTCHAT,
        RAW_FAST,
        1.10,
        True,
        "<= 1.10x raw aiohttp iter_any's time",
    ),
    Rule(
        "fan-out: create_many, 10% 503s",
        "fanout",
        FANOUT_AGENTCHAT,
        FANOUT_GATHER,
        0.90,
        False,
        ">= 0.90x gather + semaphore over raw aiohttp, req/s",
    ),
    Rule(
        "telemetry: otel API without an SDK, non-stream latency c=1",
        "latency",
        AGENTCHAT_OTEL,
        AGENTCHAT,
        1.05,
        True,
        "<= 1.05x agentchat without it (`telemetry=False`)",
    ),
    Rule(
        "sync facade: non-stream latency c=1",
        "sync-latency",
        AGENTCHAT_SYNC,
        AGENTCHAT,
        1.25,
        True,
        "<= 1.25x agentchat async",
    ),
    Rule(
        "sync facade: stream chunks/s",
        "sync-stream",
        AGENTCHAT_SYNC,
        AGENTCHAT,
        0.9,
        False,
        ">= 0.9x agentchat async",
    ),
    Rule(
        "peak RSS, 1,000 open streams",
        "rss",
        AGENTCHAT,
        RAW,
        1.3,
        True,
        "<= 1.3x raw aiohttp",
    ),
    Rule(
        "import time: `import agentchat`",
        "import",
        "import-agentchat",
        "import-aiohttp",
        1.2,
        True,
        "<= 1.2x `import aiohttp`",
    ),
    Rule(
        "import time: `from agentchat import AsyncAgentClient`",
        "import",
        "import-agentchat-async",
        "import-aiohttp",
        1.15,
        True,
        "<= 1.15x `import aiohttp`",
    ),
    Rule(
        "import time: `from agentchat import AgentClient`",
        "import",
        "import-agentchat-sync",
        "import-aiohttp",
        1.25,
        True,
        "<= 1.25x `import aiohttp`",
    ),
    Rule(
        "command line: `agentchat --help`",
        "import",
        "cli-help",
        "bare-interpreter",
        150.0,
        True,
        "< 150 ms over a bare interpreter (`python -c pass`)",
        over=True,
    ),
)


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    #: The ratio (the difference, for a rule that is ``over``); None: the scenario (or one of
    #: its series) was not run.
    ratio: float | None

    @property
    def shown(self) -> str:
        if self.ratio is None:
            return "-"
        return f"{self.ratio:.0f} ms" if self.rule.over else f"{self.ratio:.2f}x"

    @property
    def passed(self) -> bool | None:
        if self.ratio is None:
            return None
        if self.rule.at_most:
            return self.ratio <= self.rule.limit
        return self.ratio >= self.rule.limit

    @property
    def outcome(self) -> str:
        return {True: "PASS", False: "FAIL", None: "not run"}[self.passed]


def judge(results: Sequence[ScenarioResult]) -> list[Verdict]:
    """The verdict of every budget row on the results of one run."""
    by_key = {result.key: result for result in results}
    verdicts = []
    for rule in RULES:
        ratio = None
        result = by_key.get(rule.scenario)
        if result is not None:
            measured = result.get(rule.client)
            if measured is not None:
                compare = paired_difference if rule.over else paired_ratio
                ratio = compare(measured, result.get(rule.against))
        verdicts.append(Verdict(rule, ratio))
    return verdicts
