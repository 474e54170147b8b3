"""What the benchmark asks of the operating system: CPU pinning, enough file descriptors, the
CPU time a process has used, and a description of the machine for the report."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import platform
import resource
from importlib import metadata
from pathlib import Path

__all__ = [
    "CLIENT_CORE",
    "SERVER_CORE",
    "cpu_model",
    "machine_info",
    "pin_to_cpu",
    "process_cpu_seconds",
    "process_wait_seconds",
    "raise_open_files_limit",
    "source_fingerprint",
]

#: The server runs on CPU 0, the clients (and their children) on CPU 1.
SERVER_CORE = 0
CLIENT_CORE = 1

_LIBRARIES = (
    "agentchat",
    "aiohttp",
    "openai",
    "pydo",
    "azure-core",
    "requests",
    "orjson",
    "attrs",
    "cattrs",
    "anyio",
    "httpx2",
)


def pin_to_cpu(cpu: int) -> bool:
    """Run the calling process (and the threads and children it starts later) on ``cpu`` only.

    Returns False, silently, where the OS has no affinity call or does not offer that CPU.
    """
    setter = getattr(os, "sched_setaffinity", None)
    getter = getattr(os, "sched_getaffinity", None)
    if setter is None or getter is None:
        return False
    if (os.cpu_count() or 1) < 2:
        return False  # one CPU: pinning both sides to it would only make them take turns
    try:
        setter(0, {cpu})
    except (OSError, ValueError):
        return False
    return True


def raise_open_files_limit(wanted: int = 65_536) -> int:
    """Raise the soft limit on open files towards ``wanted`` (never above the hard limit);
    returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds used by process ``pid`` so far, from ``/proc/<pid>/stat``
    (None where there is no /proc). Its resolution is one clock tick (usually 10 ms)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def process_wait_seconds(pid: int) -> float | None:
    """Seconds the threads of process ``pid`` have spent ready to run but waiting for a CPU
    (the ``run_delay`` of ``/proc/<pid>/task/*/schedstat``), or None where it is not kept.

    On a machine shared with other work this is the time another process had the CPU: a
    figure whose rounds waited much was disturbed. Threads that have ended no longer count.
    """
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for thread in threads:
        try:
            fields = Path(f"/proc/{pid}/task/{thread}/schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        if len(fields) < 2:
            return None
        total += int(fields[1])
    return total / 1e9


def source_fingerprint(package: str = "agentchat") -> str | None:
    """A digest of the package's Python sources as they are on disk now: taken at the start and
    at the end of a run, it tells whether the library changed while it was measured (the
    child processes import whatever is on disk when they start)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(Path(spec.origin).parent.rglob("*.py")):
        digest.update(str(path).encode())
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` says."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, object]:
    """The facts a reader needs to weigh the figures (call it before pinning: ``nproc`` is
    the number of CPUs this process may use, as the ``nproc`` command counts them)."""
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": {name: _version(name) for name in _LIBRARIES if _version(name)},
    }
