"""Interleaved rounds and medians, with the server's CPU use beside every figure.

A scenario hands :func:`interleave` one *round* per client: a blocking callable that does a
bounded amount of work and returns the figure of that round (milliseconds per call, requests
or chunks per second, ...). Rounds run A B C A B C ..., so a slow minute of the machine (the
other core busy, a frequency change) touches every client alike; the first round of each
client warms it up (connections, caches, lazy imports) and is not counted. The figure
reported is the median of the rest, and a ratio between two clients is the median of their
per-round ratios (:func:`ratio`), which a drift of the machine's speed during the run does
not bias as the ratio of two medians taken over different halves of it can be.

Around every round, *meters* are read: counters of seconds that only grow, such as the
server's CPU time from ``/proc``. A meter's growth over the wall time of a client's rounds
is its share: the server's CPU share says how busy it was (near 100% the server, not the
client, would set the pace), and the time the client's or the server's threads waited for a
CPU says whether another process on the machine disturbed the figure.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .profiling import ClientProfiler

__all__ = [
    "CLIENT_WAIT",
    "SERVER_CPU",
    "SERVER_WAIT",
    "Meter",
    "Round",
    "Series",
    "difference",
    "interleave",
    "ratio",
]

#: A round of one client: does its bounded work and returns the figure.
Round = Callable[[], float]
#: A counter of seconds that only grows (None where the OS does not keep it).
Meter = Callable[[], float | None]

# The meters the scenarios use.
SERVER_CPU = "server_cpu"  # the server's CPU time, user and system
SERVER_WAIT = "server_wait"  # the time the server's threads waited for a CPU
CLIENT_WAIT = "client_wait"  # the time this process's threads waited for a CPU


@dataclass
class Series:
    """Everything measured for one client in one scenario."""

    client: str
    label: str
    values: list[float] = field(default_factory=list)
    #: Other figures of each round (e.g. RSS before the streams), by name.
    details: dict[str, list[float]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    #: How much each meter grew during the counted rounds (None: not known).
    metered: dict[str, float | None] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """(max - min) / median of the counted rounds: how noisy the figure is."""
        if len(self.values) < 2 or not self.median:
            return 0.0
        return (max(self.values) - min(self.values)) / self.median

    def share(self, meter: str) -> float | None:
        """A meter's growth over the wall time of the counted rounds (a fraction of one CPU
        for CPU time), or None if it was not measured."""
        grown = self.metered.get(meter)
        if grown is None or self.wall_seconds <= 0:
            return None
        return grown / self.wall_seconds

    @property
    def server_cpu(self) -> float | None:
        """The server's CPU use during this client's rounds, as a fraction of one CPU."""
        return self.share(SERVER_CPU)

    def detail(self, name: str) -> float | None:
        values = self.details.get(name)
        return statistics.median(values) if values else None


def ratio(series: Series, other: Series | None) -> float | None:
    """How ``series`` compares with ``other``: the median, over rounds, of the ratio of their
    figures in the same round (each pair ran back to back, so a slow spell of the machine
    touches both and cancels out). Without paired rounds, the ratio of the medians."""
    if other is None or not other.values:
        return None
    if len(series.values) == len(other.values) and all(other.values):
        return statistics.median(a / b for a, b in zip(series.values, other.values, strict=True))
    return series.median / other.median if other.median else None


def difference(series: Series, other: Series | None) -> float | None:
    """``series`` minus ``other``: the median, over rounds, of the difference of their figures
    in the same round. Without paired rounds, the difference of the medians."""
    if other is None or not other.values:
        return None
    if len(series.values) == len(other.values):
        return statistics.median(a - b for a, b in zip(series.values, other.values, strict=True))
    return series.median - other.median


def _read(meters: Mapping[str, Meter]) -> dict[str, float | None]:
    return {name: meter() for name, meter in meters.items()}


def interleave(
    runners: Sequence[tuple[str, str, Round]],
    rounds: int,
    meters: Mapping[str, Meter],
    *,
    profiler: ClientProfiler | None = None,
    warmup: bool = True,
) -> list[Series]:
    """Run ``rounds`` counted rounds of each ``(client, label, round)``, interleaved, after one
    uncounted warm-up round each (unless ``warmup`` is False), reading ``meters`` around
    every round."""
    series = [Series(name, label, metered=dict.fromkeys(meters, 0.0)) for name, label, _ in runners]
    for number in range(rounds + (1 if warmup else 0)):
        counted = number > 0 or not warmup
        for (name, _, run), record in zip(runners, series, strict=True):
            gc.collect()  # garbage of the previous client is not this one's to collect
            before = _read(meters)
            started = time.perf_counter()
            value = profiler.run(name, run) if profiler is not None and counted else run()
            wall = time.perf_counter() - started
            after = _read(meters)
            if not counted:
                continue
            record.values.append(value)
            record.wall_seconds += wall
            for meter, grown in record.metered.items():
                first, last = before[meter], after[meter]
                if grown is None or first is None or last is None:
                    record.metered[meter] = None
                else:
                    record.metered[meter] = grown + (last - first)
    return series
