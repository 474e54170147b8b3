"""A client measured in a process of its own, round by round, beside the runner's clients.

Some clients change their whole process: ``agentchat + otel SDK`` configures OpenTelemetry's
global providers, which cannot be unset and would reach every other client of the runner
(:mod:`bench.otel`). Such a client (``isolated`` in :mod:`bench.clients`) runs in a worker:

    python -m bench.isolated CLIENT SERVER_URL SCENARIO SETTINGS_JSON

The worker makes the client for the scenario's server path, imports what it needs, calls
``gc.freeze()`` as the runner does, and prints one JSON line ``{"ready": pid}``. Then, for
every line ``round`` on its stdin, it collects garbage, does one round of the scenario's work
(the same :class:`bench.scenarios.InProcess` functions the runner uses), prints
``{"value": figure}``, and only then lets :func:`bench.otel.between_rounds` flush what the
round recorded. ``close`` (or the end of its stdin) closes the client and ends it.

The runner interleaves the worker's rounds with its own clients' (:class:`Worker` is a
round like any other), so a slow spell of the machine touches them alike. The worker
inherits the runner's CPU pinning; its CPU waits are counted with the runner's.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import select
import subprocess
import sys
from typing import IO, Any

from .server import ROOT

__all__ = ["Worker", "main"]

#: Seconds a worker may take to start (imports, the client) before the run fails.
START_LIMIT = 120.0


class Worker:
    """The runner's handle on one worker process: ``round()`` is one round of its client."""

    def __init__(
        self, client: str, server_url: str, scenario: str, settings: str, limit: float
    ) -> None:
        self.client = client
        self._limit = limit
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.isolated", client, server_url, scenario, settings],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.pid = self._process.pid
        self._read("ready", START_LIMIT)

    def _read(self, key: str, limit: float) -> Any:
        stdout = self._process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], limit)
        line = stdout.readline() if ready else ""
        if not line:
            self.close()
            why = "ended" if ready else f"gave no answer in {limit:g} s"
            raise RuntimeError(f"the worker of {self.client} {why} (its stderr is above)")
        return json.loads(line)[key]

    def _send(self, command: str) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()

    def round(self) -> float:
        self._send("round")
        return float(self._read("value", self._limit))

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._send("close")
                self._process.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()


def _serve(args: list[str], answers: IO[str]) -> None:
    from . import otel
    from .clients import AsyncBenchClient, make_client, preload
    from .scenarios import SCENARIOS, InProcess, Settings

    name, server_url, key, settings_json = args
    settings = Settings(**json.loads(settings_json))
    work = next(s.run for s in SCENARIOS if s.key == key)
    if not isinstance(work, InProcess):
        raise SystemExit(f"scenario {key} does not run clients in process")
    limit = settings.round_seconds * 3 + 60
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    preload([name])
    client = make_client(name, f"{server_url}/{work.prefix}")
    gc.collect()
    gc.freeze()

    def answer(key: str, value: object) -> None:
        answers.write(json.dumps({key: value}) + "\n")
        answers.flush()

    answer("ready", os.getpid())
    try:
        for line in sys.stdin:
            if line.strip() != "round":
                break
            gc.collect()
            if isinstance(client, AsyncBenchClient):
                value = loop.run_until_complete(
                    asyncio.wait_for(work.run_async(client, settings), limit)
                )
            elif work.run_sync is not None:
                value = work.run_sync(client, settings)
            else:
                raise SystemExit(f"{name} is a sync client: scenario {key} has no sync work")
            answer("value", value)
            otel.between_rounds()
    finally:
        if isinstance(client, AsyncBenchClient):
            loop.run_until_complete(client.aclose())
        else:
            client.close()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def main() -> None:
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    # The answers go to the real stdout; anything else printed goes to stderr.
    answers = sys.stdout
    sys.stdout = sys.stderr
    _serve(sys.argv[1:], answers)


if __name__ == "__main__":
    main()
