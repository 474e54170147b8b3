"""Mutation testing of the modules where a silent bug costs most, one module at a time.

    python scripts/mutants.py                 # every module below, then the report
    python scripts/mutants.py _sse _backoff   # only these
    python scripts/mutants.py --report        # the report of the last runs, nothing run
    python scripts/mutants.py --equivalents   # EQUIVALENT as the table in docs/development.md

mutmut (3.x) plants one small bug at a time in a module (``<`` for ``<=``, ``and`` for
``or``, a changed constant, a dropped argument, ...) and runs the tests that cover the
mutated function; a mutant that no test notices *survives*. Each module is mutated in a
copy of the repository, ``.mutants/work/``, against the test files that are about them
(:data:`TESTS`); for each mutant, mutmut runs only those tests that run the mutated function,
fastest first, and stops at the first failure. mutmut remembers its results there: a second
run only retests what changed.

The report (``.mutants/report.md``, also printed) lists every surviving mutant with its
diff. Survivors that are equivalent (no test could tell them apart from the original) are
listed with the reason in :data:`EQUIVALENT` and in docs/development.md; the run fails if
any other survives. ``nox -s mutants`` runs this script.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutants"

#: The modules mutated: where a silent bug costs most.
MODULES = [
    "_sse",
    "_accumulate",
    "_streaming",
    "_transport",
    "_backoff",
    "_pacing",
    "_fanout",
    "_batch",
    "_validate",
]
#: The tests that may kill them: the suite less what is about other things (the command
#: line, the docs, telemetry, tools, the sync facade's threads) and the slow contract tests.
#: mutmut runs, for each mutant, only those of them that run the mutated function.
TESTS = [
    "tests/test_sse.py",
    "tests/test_real_servers.py",
    "tests/test_streaming.py",
    "tests/test_varied_answers.py",
    "tests/test_faults.py",
    "tests/test_nothing_lost.py",
    "tests/test_wire.py",
    "tests/test_keepalive.py",
    "tests/test_pool.py",
    "tests/test_lifecycle.py",
    "tests/test_errors_and_metadata.py",
    "tests/test_rate_limits.py",
    "tests/test_client_config.py",
    "tests/test_fanout.py",
    "tests/test_batch.py",
    "tests/test_validation.py",
    "tests/test_models.py",
    "tests/test_unit_mocked.py",
    # what streams report to hooks and telemetry (AsyncStream._observe, _settle)
    "tests/test_hooks.py",
]

#: Tests that run agentchat in a child process: mutmut's instrumented package does not run
#: there (and the child would not see the mutant under test). Their guarantees are held by
#: in-process tests too (a killed batch's durability: tests/test_batch.py).
SUBPROCESS_TESTS = [
    "tests/test_lifecycle.py::test_no_unclosed_warning_in_a_script_that_runs_the_client_twice",
    "tests/test_batch.py::test_help_and_python_dash_m",
    "tests/test_batch.py::test_killed_mid_run_then_resumed_loses_and_repeats_nothing",
    "tests/test_batch.py::test_a_retry_killed_mid_run_then_resumed_loses_and_repeats_nothing",
]

#: Load tests: seconds each, and every mutant of the functions they run would run them again
#: (a survivor runs every test that covers it). They hold scale, not exact behaviour; the
#: precise tests beside them are what kill mutants.
STRESS_TESTS = [
    "tests/test_fanout.py::test_10000_requests_with_503s_and_429s_each_succeed_exactly_once",
    "tests/test_fanout.py::test_memory_stays_flat_for_100000_lazy_inputs",
    "tests/test_pool.py::test_one_sync_client_shared_by_1000_threads_carries_1000_streams_at_once",
    "tests/test_pool.py::test_one_async_client_with_default_settings_carries_1000_streams_at_once",
    "tests/test_sse.py::test_2_mb_of_small_events",
]

#: Survivors that no test can kill, by mutmut's name for them, with the reason. Keep
#: docs/development.md's list in step.
EQUIVALENT: dict[str, str] = {}

#: Lines never mutated: logging (what is logged is not behaviour the tests pin down, and
#: its text is free to change) and ``__repr__`` strings.
DO_NOT_MUTATE = [r"\blog(ger)?\.(debug|info|warning|error|exception)\(", r"# pragma: no mutate"]


def _copy_tree(target: Path) -> None:
    """The repository's files (tracked or not ignored) into ``target``, fresh."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if not source.is_file() or name.startswith((".mutants/", "site/")):
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if not destination.exists() or destination.read_bytes() != source.read_bytes():
            shutil.copyfile(source, destination)


def _configure(target: Path, modules: list[str]) -> None:
    quoted = ", ".join(f'"{test}"' for test in TESTS if (ROOT / test).exists())
    mutated = ", ".join(f'"agentchat/{module}.py"' for module in modules)
    patterns = ", ".join(f"'{pattern}'" for pattern in DO_NOT_MUTATE)
    deselected = SUBPROCESS_TESTS + STRESS_TESTS
    deselect = "".join(f', "--deselect", "{test}"' for test in deselected)
    config = f"""

[tool.mutmut]
source_paths = ["agentchat"]
only_mutate = [{mutated}]
pytest_add_cli_args_test_selection = [{quoted}]
pytest_add_cli_args = ["-p", "no:randomly", "-q", "-p", "no:cacheprovider"{deselect}]
do_not_mutate_patterns = [{patterns}]
# What the tests read besides the package and themselves.
also_copy = ["docs/", "examples/", "scripts/", "spec/", "README.md"]
"""
    pyproject = target / "pyproject.toml"
    pyproject.write_text(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8") + config, encoding="utf-8"
    )


def run(modules: list[str]) -> float:
    """Mutate ``modules`` in the copy of the repository; the seconds it took.

    Raises :class:`RuntimeError` when mutmut could not run (its clean run failed, say)."""
    target = WORK / "work"
    target.mkdir(parents=True, exist_ok=True)
    _copy_tree(target)
    _configure(target, modules)
    started = time.monotonic()
    with (target / "mutmut.log").open("w", encoding="utf-8") as log:
        done = subprocess.run(
            [sys.executable, "-m", "mutmut", "run"],
            cwd=target,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    text = (target / "mutmut.log").read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0 or "Failed to run" in text:
        tail = "\n".join(text.splitlines()[-25:])
        raise RuntimeError(f"mutmut failed (exit {done.returncode}):\n{tail}")
    return time.monotonic() - started


def survivors(module: str) -> list[tuple[str, str]]:
    """``(name, status)`` of every mutant of ``module`` that was not killed."""
    target = WORK / "work"
    if not (target / "mutants").exists():
        return []
    listed = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "false"],
        cwd=target,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found = []
    for line in listed.splitlines():
        name, _, status = line.strip().partition(": ")
        if not name.startswith(f"agentchat.{module}."):
            continue
        if status not in ("killed", "skipped", "not checked"):
            found.append((name, status))
    return found


def _diff(module: str, name: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=WORK / "work",
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def _counts(module: str) -> str:
    """How many mutants of ``module`` ended how: ``killed 170, survived 3, ...``."""
    listed = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=WORK / "work",
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    counts: dict[str, int] = {}
    for line in listed.splitlines():
        name, _, status = line.strip().partition(": ")
        if name.startswith(f"agentchat.{module}."):
            counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "not run"


def report(modules: list[str], took: float | None) -> tuple[str, int]:
    """The Markdown report, and how many survivors are not known to be equivalent."""
    lines = ["# Mutation testing report", ""]
    if took is not None:
        lines += [f"This run took {took / 60:.1f} minutes.", ""]
    unexplained = 0
    for module in modules:
        left = survivors(module)
        lines += [f"## agentchat/{module}.py", "", _counts(module), ""]
        if not left:
            lines += ["No survivors.", ""]
            continue
        for name, status in left:
            reason = EQUIVALENT.get(name)
            unexplained += reason is None
            heading = f"### {name}: {status}"
            lines += [heading + (f" (equivalent: {reason})" if reason else ""), ""]
            lines += ["```diff", _diff(module, name), "```", ""]
    return "\n".join(lines), unexplained


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--report", action="store_true", help="report the last runs only")
    parser.add_argument(
        "--equivalents", action="store_true", help="print EQUIVALENT as a Markdown table"
    )
    args = parser.parse_args()
    if args.equivalents:
        print("| mutant | why no test can tell it from the original |\n|---|---|")
        for name, reason in sorted(EQUIVALENT.items()):
            print(f"| `{name}` | {reason} |")
        return 0
    modules = args.modules or list(MODULES)
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown modules {unknown}: choose from {', '.join(MODULES)}")
    took = None
    if not args.report:
        print(f"mutating {', '.join(modules)} (log: .mutants/work/mutmut.log) ...", flush=True)
        try:
            took = run(modules)
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 2
    text, unexplained = report(modules, took)
    WORK.mkdir(exist_ok=True)
    (WORK / "report.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\n{unexplained} surviving mutants not known to be equivalent (.mutants/report.md)")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
