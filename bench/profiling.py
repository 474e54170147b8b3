"""An optional cProfile of one client's counted rounds, summarised per scenario by self time.

``python -m bench.run --profile agentchat`` prints, after each scenario, the functions where
that client spent the most time of its own (``tottime``). The profiler slows the profiled
client down, so the figures of a profiled run are not comparable: use it to find where the
time goes, not to measure. cProfile sees only the calling thread: for ``agentchat-sync`` it
shows the caller's side of the portal, not the event-loop thread's work.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable

__all__ = ["ClientProfiler"]


class ClientProfiler:
    """Profiles the rounds of the client named ``client``, one profile per scenario."""

    def __init__(self, client: str, top: int = 10) -> None:
        self.client = client
        self.top = top
        self._profile: cProfile.Profile | None = None

    def start(self) -> None:
        """Begin a scenario's profile."""
        self._profile = cProfile.Profile()

    def run(self, client: str, fn: Callable[[], float]) -> float:
        """Run ``fn``, under the profiler when it is the profiled client's round."""
        profile = self._profile
        if client != self.client or profile is None:
            return fn()
        profile.enable()
        try:
            return fn()
        finally:
            profile.disable()

    def summary(self) -> str:
        """The top functions by self time of the scenario just run ('' if none ran)."""
        profile, self._profile = self._profile, None
        if profile is None:
            return ""
        out = io.StringIO()
        try:
            stats = pstats.Stats(profile, stream=out)
        except TypeError:  # nothing was recorded
            return ""
        stats.strip_dirs().sort_stats("tottime").print_stats(self.top)
        text = out.getvalue()
        # Keep the table: drop pstats' preamble up to the header line.
        start = text.find("   ncalls")
        return text[start:].rstrip() if start >= 0 else text.rstrip()
