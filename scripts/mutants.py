"""Mutation testing of the modules where a silent bug costs most, one module at a time.

    python scripts/mutants.py                 # every module below, then the report
    python scripts/mutants.py _sse _backoff   # only these
    python scripts/mutants.py --report        # the report of the last runs, nothing run

mutmut (3.x) plants one small bug at a time in a module (``<`` for ``<=``, ``and`` for
``or``, a changed constant, a dropped argument, ...) and runs the tests that cover the
mutated function; a mutant that no test notices *survives*. Each module is mutated in a
copy of the repository of its own, ``.mutants/<module>/``, with only the test files that are
about it selected (:data:`MODULES`), so one run stays within minutes on two cores and a
survivor means "these tests do not notice", not "the whole suite does not notice".
mutmut remembers its results there: a second run only retests what changed.

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

#: The modules mutated, and the test files that are about each.
MODULES: dict[str, list[str]] = {
    "_sse": ["tests/test_sse.py", "tests/test_real_servers.py"],
    "_accumulate": [
        "tests/test_streaming.py",
        "tests/test_real_servers.py",
        "tests/test_varied_answers.py",
    ],
    "_streaming": [
        "tests/test_streaming.py",
        "tests/test_faults.py",
        "tests/test_nothing_lost.py",
        "tests/test_varied_answers.py",
    ],
    "_transport": [
        "tests/test_wire.py",
        "tests/test_faults.py",
        "tests/test_keepalive.py",
        "tests/test_pool.py",
        "tests/test_errors_and_metadata.py",
    ],
    "_backoff": ["tests/test_rate_limits.py", "tests/test_faults.py"],
    "_pacing": ["tests/test_fanout.py", "tests/test_rate_limits.py"],
    "_fanout": ["tests/test_fanout.py", "tests/test_rate_limits.py"],
    "_batch": ["tests/test_batch.py"],
    "_validate": ["tests/test_validation.py", "tests/test_models.py"],
}

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


def _configure(target: Path, module: str, tests: list[str]) -> None:
    quoted = ", ".join(f'"{test}"' for test in tests if (ROOT / test).exists())
    patterns = ", ".join(f"'{pattern}'" for pattern in DO_NOT_MUTATE)
    config = f"""

[tool.mutmut]
source_paths = ["agentchat"]
only_mutate = ["agentchat/{module}.py"]
pytest_add_cli_args_test_selection = [{quoted}]
pytest_add_cli_args = ["-p", "no:randomly", "-q", "-p", "no:cacheprovider"]
do_not_mutate_patterns = [{patterns}]
"""
    pyproject = target / "pyproject.toml"
    pyproject.write_text(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8") + config, encoding="utf-8"
    )


def run(module: str) -> float:
    """Mutate ``module`` in its own copy of the repository; the seconds it took.

    Raises :class:`RuntimeError` when mutmut could not run (its clean run failed, say)."""
    target = WORK / module
    target.mkdir(parents=True, exist_ok=True)
    _copy_tree(target)
    _configure(target, module, MODULES[module])
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
        raise RuntimeError(f"mutmut failed on {module} (exit {done.returncode}):\n{tail}")
    return time.monotonic() - started


def survivors(module: str) -> list[tuple[str, str]]:
    """``(name, status)`` of every mutant of ``module`` that was not killed."""
    target = WORK / module
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
        if name and status and status not in ("killed", "skipped", "not checked"):
            found.append((name, status))
    return found


def _diff(module: str, name: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=WORK / module,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def _counts(module: str) -> str:
    log = WORK / module / "mutmut.log"
    if not log.exists():
        return "not run"
    # mutmut's progress line: "N/M  🎉 killed 🫥 no tests  ⏰ timeout  🤔 suspicious  🙁 survived"
    last = [part for part in log.read_text(encoding="utf-8").split("\r") if "/" in part]
    return last[-1].strip() if last else "no progress line"


def report(modules: list[str], timings: dict[str, float]) -> tuple[str, int]:
    """The Markdown report, and how many survivors are not known to be equivalent."""
    lines = ["# Mutation testing report", ""]
    unexplained = 0
    for module in modules:
        left = survivors(module)
        took = f", {timings[module]:.0f} s" if module in timings else ""
        lines += [f"## agentchat/{module}.py", "", f"`{_counts(module)}`{took}", ""]
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
    args = parser.parse_args()
    modules = args.modules or list(MODULES)
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown modules {unknown}: choose from {', '.join(MODULES)}")
    timings: dict[str, float] = {}
    if not args.report:
        for module in modules:
            print(f"mutating agentchat/{module}.py ...", flush=True)
            try:
                timings[module] = run(module)
            except RuntimeError as error:
                print(error, file=sys.stderr)
                return 2
            print(f"  {_counts(module)} ({timings[module]:.0f} s)", flush=True)
    text, unexplained = report(modules, timings)
    WORK.mkdir(exist_ok=True)
    (WORK / "report.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\n{unexplained} surviving mutants not known to be equivalent (.mutants/report.md)")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
