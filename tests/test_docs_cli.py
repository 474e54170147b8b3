"""docs/cli.md tells the truth about the command line.

- Every command's ``--help`` block is what the command prints (scripts/cli_help_docs.py
  writes them; its docstring says how the layouts of Python 3.10-3.13 are reconciled), and the
  process prints what the script renders in-process.
- Every ``<!-- cli-output -->`` ```console block runs: each ``$ agentchat ...`` line is run
  (as ``python -m agentchat``, in a temporary directory holding the page's
  ``<!-- cli-file: NAME -->`` blocks) and must print the lines under it, stdout and stderr
  together, and exit 0. Ports of 127.0.0.1 are masked. ``agentchat serve`` serves until
  stopped: its lines are read, then it is sent SIGTERM.
- Every ``agentchat`` command in the page's shell blocks is accepted by the real parser.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO

import pytest

from agentchat._cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"
#: The longest any command of the page may take.
BOUND = 30.0


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cli_help_docs", ROOT / "scripts" / "cli_help_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


script = _load_script()


# -- the page's fenced blocks -------------------------------------------------------------------


@dataclass(frozen=True)
class Fenced:
    """A fenced block of the page: its language, the comment right before it, its lines."""

    line: int  # 1-based, the opening fence
    info: str
    comment: str
    lines: list[str]


def fenced_blocks(text: str) -> list[Fenced]:
    lines = text.splitlines()
    blocks = []
    number = 0
    while number < len(lines):
        opening = re.match(r"^\s*```(\w*)\s*$", lines[number])
        if not opening:
            number += 1
            continue
        before = number - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        comment = lines[before].strip() if before >= 0 else ""
        end = number + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            end += 1
        blocks.append(Fenced(number + 1, opening[1], comment, lines[number + 1 : end]))
        number = end + 1
    return blocks


BLOCKS = fenced_blocks(PAGE.read_text(encoding="utf-8"))
OUTPUTS = [block for block in BLOCKS if block.comment == "<!-- cli-output -->"]
FILES = {
    match[1]: "\n".join(block.lines) + "\n"
    for block in BLOCKS
    if (match := re.fullmatch(r"<!--\s*cli-file:\s*(\S+)\s*-->", block.comment))
}


def environment(home: Path) -> dict[str, str]:
    """None of the developer's settings: no server, key, model or colour choice."""
    ours = ("AGENT_", "MODEL_ACCESS_KEY", "INFERENCE_", "OPENAI_", "AGENTCHAT_")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ours) and name not in {"NO_COLOR", "FORCE_COLOR", "COLUMNS"}
    }
    return env | {"HOME": str(home), "PYTHONIOENCODING": "utf-8"}


# -- --help -------------------------------------------------------------------------------------


def test_every_help_block_is_current() -> None:
    problems = script.problems(PAGE.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems) + "\nrun: python scripts/cli_help_docs.py"


@pytest.mark.parametrize("command", script.commands())
def test_the_process_prints_what_the_script_renders(command: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *command.split(), "--help"],
        capture_output=True,
        text=True,
        env=environment(tmp_path) | script.ENVIRONMENT,
        cwd=tmp_path,
        timeout=BOUND,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.rstrip("\n") == script.render(command)


# What Python 3.12 and 3.13 print for the same parser at 100 columns.
OLD_LAYOUT = """\
usage: agentchat batch [-h] -o OUTPUT [--no-progress] [--endpoint URL]
                       [--serverless | --base-url URL | --demo] [--ask-key]

request:
  -m NAME, --model NAME
                        the model (default: $AGENTCHAT_MODEL)
  -s TEXT, --system TEXT
                        a system prompt
  -q, --quiet           only the answer"""
NEW_LAYOUT = """\
usage: agentchat batch [-h] -o OUTPUT [--no-progress] [--endpoint URL] [--serverless |
                       --base-url URL | --demo] [--ask-key]

request:
  -m, --model NAME      the model (default: $AGENTCHAT_MODEL)
  -s, --system TEXT     a system prompt
  -q, --quiet           only the answer"""


def test_the_layouts_of_python_versions_compare_equal_and_words_do_not() -> None:
    assert script.up_to_date(OLD_LAYOUT, NEW_LAYOUT)
    assert script.up_to_date(NEW_LAYOUT, OLD_LAYOUT)
    assert not script.up_to_date(OLD_LAYOUT, NEW_LAYOUT.replace("a system", "the system"))
    assert not script.up_to_date(OLD_LAYOUT, NEW_LAYOUT.replace("-s, --system", "--system"))
    assert script.normalise("  -x X [X ...], --xs X [X ...]  help") == "-x, --xs X [X ...] help"


def test_the_script_rewrites_stale_blocks_and_adds_missing_ones() -> None:
    page = "# page\n\n<!-- cli-help: agentchat serve -->\n```text\nold\n```\n\nafter\n"
    new, changed = script.update(page)
    assert changed == sorted(script.commands())
    blocks = {block.command: block.text for block in script.parse(new.splitlines())}
    assert blocks == {command: script.render(command) for command in script.commands()}
    assert new.index("after") < new.index("### `agentchat --help`")  # appended at the end
    assert script.update(new) == (new, [])
    assert script.problems(new) == []
    with pytest.raises(ValueError, match="agentchat nope"):
        script.update("<!-- cli-help: agentchat nope -->\n```text\n```\n")
    unclosed = "<!-- cli-help: agentchat -->\n```text\nusage\n"
    assert script.problems(unclosed) == ["line 2: the ```text block is not closed"]


# -- the outputs the page shows -----------------------------------------------------------------


def _mask(text: str) -> str:
    return re.sub(r"\b127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def _steps(block: Fenced) -> list[tuple[str, list[str]]]:
    """The block's commands, each with the lines it prints."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"docs/cli.md:{block.line}: output before any command"
            steps[-1][1].append(line)
    return steps


def _lines(stream: IO[str]) -> tuple[queue.SimpleQueue[str | None], threading.Thread]:
    """The lines of ``stream`` as they come (``None`` at its end), read by a thread so that
    every wait can be bounded; and the thread."""
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return lines, reader


def _serve(argv: list[str], count: int, env: dict[str, str], cwd: Path) -> tuple[str, int]:
    """Start a command that serves until stopped, read its first ``count`` lines, stop it
    with SIGTERM: what it printed and its exit code."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=cwd,
    )
    assert process.stdout is not None
    lines, reader = _lines(process.stdout)
    try:
        got: list[str] = []
        deadline = time.monotonic() + BOUND
        while len(got) < count:
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                if line is None:
                    break
                got.append(line)
            if time.monotonic() > deadline:
                break
        process.terminate()
        code = process.wait(timeout=BOUND)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=BOUND)
        reader.join(BOUND)  # the process has ended: its stdout is at its end
        process.stdout.close()
    return "\n".join(got), code


@pytest.mark.parametrize("block", OUTPUTS, ids=[f"line-{block.line}" for block in OUTPUTS])
def test_a_shown_output_is_what_the_command_prints(block: Fenced, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for name, content in FILES.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    env = environment(home)
    for command, expected in _steps(block):
        words = shlex.split(command)
        assert words[0] == "agentchat", f"docs/cli.md:{block.line}: not agentchat: {command}"
        argv = [sys.executable, "-m", "agentchat", *words[1:]]
        if words[1] == "serve":
            printed, code = _serve(argv, len(expected), env, tmp_path)
        else:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                cwd=tmp_path,
                timeout=BOUND,
                check=False,
            )
            printed, code = done.stdout, done.returncode
        shown = "\n".join(line.rstrip() for line in expected)
        actual = "\n".join(line.rstrip() for line in printed.rstrip("\n").splitlines())
        assert (code, _mask(actual)) == (0, _mask(shown)), f"$ {command}"


# -- the commands the page shows ----------------------------------------------------------------

SHELL = {"sh", "bash", "console", "shell"}


def shown_commands() -> Iterator[tuple[int, list[str]]]:
    """Every ``agentchat`` command of the page's shell blocks: (its line, its arguments)."""
    for block in BLOCKS:
        if block.info not in SHELL:
            continue
        for offset, line in enumerate(block.lines, start=1):
            if block.info == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            command: list[str] = []
            for token in [*lexer, ";"]:
                if token and set(token) <= set("();<>|&"):
                    if command[:1] == ["agentchat"]:
                        yield block.line + offset, command[1:]
                    command = []
                else:
                    command.append(token)


SHOWN = list(shown_commands())


def test_the_page_shows_commands() -> None:
    assert len(SHOWN) >= 10
    assert {words[0] for _, words in SHOWN} == {"chat", "batch", "serve"}


@pytest.mark.parametrize(("line", "words"), SHOWN, ids=[f"line-{line}" for line, _ in SHOWN])
def test_every_command_shown_is_accepted(line: int, words: list[str]) -> None:
    errors = io.StringIO()
    code: str | int | None = 0
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(words)
        except SystemExit as done:  # --help and --version exit 0; an error exits 2
            code = done.code
    assert code == 0, f"docs/cli.md:{line}: {errors.getvalue()}"
