"""Write every ``agentchat`` command's ``--help`` into docs/cli.md, so the page cannot rot.

    python scripts/cli_help_docs.py            # rewrite the blocks that are out of date
    python scripts/cli_help_docs.py --check    # exit 1 if one is (tests/test_docs_cli.py)

Each block is a ```text fence right after a comment naming the command:

    <!-- cli-help: agentchat batch -->
    ```text
    usage: agentchat batch [-h] ...
    ```

The commands are ``agentchat`` itself and each one of ``agentchat._cli.COMMANDS``. A command
without a block is appended at the end of the page under a ``### `agentchat NAME --help```
heading (the page keeps its ``--help`` section last for that); a block for a command that does
not exist is an error.

**Stable output.** The help is rendered in this process by the real parser
(``agentchat._cli.main([..., "--help"])``, whose modules import only the standard library),
with ``COLUMNS=100`` (argparse wraps to the width ``shutil.get_terminal_size()`` reads from
it) and colour off (``NO_COLOR``, ``PYTHON_COLORS=0``: Python 3.14's argparse colours help on a
terminal). The program name is fixed by the parser (``prog="agentchat"``), so the output does
not depend on how Python was started.

**Python versions.** Python 3.13 changed argparse's layout in two ways: an option with a short
and a long form shows its metavar once (``-m, --model NAME``, where 3.10-3.12 print ``-m NAME,
--model NAME`` and put the help on the next line), and a usage line may break inside a group
(``[--serverless |`` / ``--base-url URL | --demo]``). The words are the same. So a block is up
to date when it equals the output exactly, or when both are equal after :func:`normalise`,
which rewrites the older option form to 3.13's and collapses every run of whitespace. A block
written on any Python from 3.10 to 3.13 passes on all of them, and this script rewrites a
block only when its words differ, with the running Python's layout.

It runs with any Python >= 3.10 from a checkout, without installing anything: the repository
root goes first on ``sys.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"
#: The terminal width the blocks are rendered at.
COLUMNS = 100
ENVIRONMENT = {"COLUMNS": str(COLUMNS), "LINES": "50", "NO_COLOR": "1", "PYTHON_COLORS": "0"}
PROGRAM = "agentchat"
DESCRIPTION = "Write every agentchat command's --help into docs/cli.md."

_MARKER = re.compile(r"^<!--\s*cli-help:\s*(?P<command>[^>]*?)\s*-->\s*$")
_FENCE_OPEN = re.compile(r"^```text\s*$")
_FENCE_CLOSE = re.compile(r"^```\s*$")
# Python < 3.13: "  -m NAME, --model NAME" (every option string with the metavar).
_REPEATED_METAVAR = re.compile(
    r"^(?P<indent> +)(?P<first>-[^\s,]+) (?P<metavar>[^,\n]+?)"
    r"(?P<more>(?:, -[^\s,]+ (?P=metavar))+)(?=  |$)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Block:
    """One help block of the page: the command it shows and its lines (0-based, the
    content between the fences)."""

    command: str  # "agentchat" or "agentchat NAME"
    marker: int  # the line of the comment
    start: int  # the first line of content
    end: int  # the closing fence
    text: str  # the content, without a final newline


def commands() -> list[str]:
    """Every command whose help the page shows, in ``--help``'s order."""
    from agentchat._cli import COMMANDS

    return [PROGRAM, *(f"{PROGRAM} {name}" for name, _module in COMMANDS)]


@contextlib.contextmanager
def _environment() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in ENVIRONMENT}
    os.environ.update(ENVIRONMENT)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def render(command: str) -> str:
    """``COMMAND --help`` as the command prints it at :data:`COLUMNS` columns, without the
    final newline."""
    from agentchat._cli import main

    words = command.split()
    if words[:1] != [PROGRAM]:
        raise ValueError(f"not an {PROGRAM} command: {command!r}")
    out = io.StringIO()
    with _environment(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main([*words[1:], "--help"])
        except SystemExit as done:
            code = done.code
        else:
            code = "no exit"
    if code not in (0, None):
        raise RuntimeError(f"{command} --help: {code}:\n{out.getvalue()}")
    return out.getvalue().rstrip("\n")


def normalise(text: str) -> str:
    """``text`` without what differs between Python versions: the option form of 3.13
    (``-m, --model NAME``) and every run of whitespace as one space."""

    def once(match: re.Match[str]) -> str:
        more = match["more"].split(", ")[1:]  # ", --model NAME" -> ["--model NAME"]
        options = [match["first"], *(part.split(" ", 1)[0] for part in more)]
        return f"{match['indent']}{', '.join(options)} {match['metavar']}"

    return " ".join(_REPEATED_METAVAR.sub(once, text).split())


def up_to_date(shown: str, actual: str) -> bool:
    """Whether a block showing ``shown`` is current for help that reads ``actual``."""
    return shown == actual or normalise(shown) == normalise(actual)


def parse(lines: Sequence[str]) -> list[Block]:
    """The help blocks of a page given as lines; a ValueError for a marker without its block."""
    blocks = []
    for number, line in enumerate(lines):
        marker = _MARKER.match(line)
        if not marker:
            continue
        opening = number + 1
        while opening < len(lines) and not lines[opening].strip():
            opening += 1
        if opening >= len(lines) or not _FENCE_OPEN.match(lines[opening]):
            raise ValueError(
                f"line {number + 1}: {line.strip()} is not followed by a ```text block"
            )
        end = opening + 1
        while end < len(lines) and not _FENCE_CLOSE.match(lines[end]):
            end += 1
        if end >= len(lines):
            raise ValueError(f"line {opening + 1}: the ```text block is not closed")
        command = " ".join(marker["command"].split())
        text = "\n".join(lines[opening + 1 : end])
        blocks.append(Block(command, number, opening + 1, end, text))
    return blocks


def problems(text: str) -> list[str]:
    """What is wrong with the help blocks of a page's ``text`` (nothing: an empty list)."""
    try:
        blocks = parse(text.splitlines())
    except ValueError as error:
        return [str(error)]
    known = commands()
    found: list[str] = []
    seen: set[str] = set()
    for block in blocks:
        where = f"line {block.marker + 1}"
        if block.command not in known:
            found.append(f"{where}: {block.command!r} is not a command (known: {', '.join(known)})")
            continue
        if block.command in seen:
            found.append(f"{where}: a second block for {block.command!r}")
            continue
        seen.add(block.command)
        actual = render(block.command)
        if not up_to_date(block.text, actual):
            diff = difflib.unified_diff(
                block.text.splitlines(),
                actual.splitlines(),
                f"{block.command} --help, as shown",
                f"{block.command} --help, as printed",
                lineterm="",
            )
            found.append(
                f"{where}: the words of {block.command} --help differ (the layout of another "
                "Python version would pass):\n" + "\n".join(diff)
            )
    found.extend(f"no block for {command!r}" for command in known if command not in seen)
    return found


def update(text: str) -> tuple[str, list[str]]:
    """The page's ``text`` with every stale block rewritten and missing ones appended, and
    the commands whose block changed. A ValueError for a block that names no command."""
    lines = text.splitlines()
    blocks = parse(lines)
    known = commands()
    unknown = [block.command for block in blocks if block.command not in known]
    if unknown:
        raise ValueError(f"blocks for commands that do not exist: {', '.join(unknown)}")
    changed = []
    for block in reversed(blocks):  # from the end, so earlier line numbers stay valid
        actual = render(block.command)
        if not up_to_date(block.text, actual):
            lines[block.start : block.end] = actual.splitlines()
            changed.append(block.command)
    shown = {block.command for block in blocks}
    for command in known:
        if command not in shown:
            lines += ["", f"### `{command} --help`", "", f"<!-- cli-help: {command} -->"]
            lines += ["```text", *render(command).splitlines(), "```"]
            changed.append(command)
    return "\n".join(lines) + "\n", sorted(changed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("page", nargs="?", type=Path, default=PAGE, help="default: docs/cli.md")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    text = args.page.read_text(encoding="utf-8")
    if args.check:
        found = problems(text)
        for problem in found:
            print(f"{args.page}: {problem}", file=sys.stderr)
        if found:
            print(f"run: python {Path(__file__).relative_to(ROOT)}", file=sys.stderr)
        return 1 if found else 0
    try:
        new, changed = update(text)
    except ValueError as error:
        print(f"{args.page}: {error}", file=sys.stderr)
        return 1
    if new != text:
        args.page.write_text(new, encoding="utf-8")
    print(f"{args.page}: " + (f"updated {', '.join(changed)}" if changed else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
