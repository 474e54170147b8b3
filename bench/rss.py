"""The peak-memory child: a fresh interpreter that opens many streams at once with one client,
waits until every one has delivered its first chunk, and reports its peak RSS.

    python -m bench.rss CLIENT BASE_URL STREAMS

prints one JSON line: ``peak_kib`` (``ru_maxrss`` of this process once all streams are open),
``before_kib`` (the same after the imports and the client's creation, before any stream),
``open_seconds`` and ``streams``. The server's ``stall`` prefix sends one chunk and then
nothing until the client closes, so every stream stays open until all are counted.

Async clients open the streams concurrently (``asyncio.gather``); the sync clients, which
block, open them one after another and keep them all open.

The measuring is done in a child forked at once from this fresh interpreter. Linux keeps a
process's ``ru_maxrss`` across ``exec``, so a process started by the (large) runner would
report the runner's peak when its own is smaller; a forked child starts its count afresh.
``vmhwm_kib`` (the peak of ``/proc/self/status``) is reported beside it as a cross-check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from .clients import AsyncBenchClient, SyncBenchClient, make_client
from .system import raise_open_files_limit

__all__ = ["main"]

#: The most any one child may take to open its streams.
OPEN_LIMIT = 180.0
#: Connections beyond the streams, so the pool never makes a stream wait.
POOL_MARGIN = 16


def _peak_kib() -> int:
    # Kilobytes on Linux (bytes on macOS, where this suite is not meant to run).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _vmhwm_kib() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


async def _hold_async(client: AsyncBenchClient, streams: int) -> tuple[int, float]:
    started = time.perf_counter()
    closers: list[Callable[[], Awaitable[None]]] = await asyncio.wait_for(
        asyncio.gather(*(client.hold() for _ in range(streams))), OPEN_LIMIT
    )
    opened = time.perf_counter() - started
    peak = _peak_kib()
    for close in closers:
        await close()
    await client.aclose()
    return peak, opened


def _hold_sync(client: SyncBenchClient, streams: int) -> tuple[int, float]:
    started = time.perf_counter()
    deadline = started + OPEN_LIMIT
    closers: list[Callable[[], None]] = []
    for _ in range(streams):
        closers.append(client.hold())
        if time.perf_counter() > deadline:
            raise TimeoutError(f"opened only {len(closers)} streams in {OPEN_LIMIT:g} s")
    opened = time.perf_counter() - started
    peak = _peak_kib()
    for close in closers:
        close()
    client.close()
    return peak, opened


def measure(name: str, base: str, streams: int) -> dict[str, float | None]:
    raise_open_files_limit(streams * 2 + 1024)
    connections = 0 if name.startswith("raw") else streams + POOL_MARGIN  # 0: aiohttp's no limit
    if name.startswith("openai"):
        connections = min(connections, 1000)
    client = make_client(name, base, connections)
    before = _peak_kib()
    if isinstance(client, AsyncBenchClient):
        peak, opened = asyncio.run(_hold_async(client, streams))
    else:
        peak, opened = _hold_sync(client, streams)
    return {
        "peak_kib": peak,
        "vmhwm_kib": _vmhwm_kib(),
        "before_kib": before,
        "open_seconds": opened,
        "streams": streams,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client")
    parser.add_argument("base")
    parser.add_argument("streams", type=int)
    args = parser.parse_args()
    if not hasattr(os, "fork"):
        print(json.dumps(measure(args.client, args.base, args.streams)), flush=True)
        return
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child: measure, print, and leave without running any cleanup twice
        code = 1
        try:
            print(json.dumps(measure(args.client, args.base, args.streams)), flush=True)
            code = 0
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
