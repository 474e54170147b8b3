"""Type-check every ```python block of the README and the docs with ``mypy --strict``.

    python scripts/check_doc_examples.py            # exit 1 if any block fails
    python scripts/check_doc_examples.py --list     # how each block is checked, nothing run
    python scripts/check_doc_examples.py FILE.md    # only these files

The blocks come from ``README.md``, ``docs/*.md`` and ``examples/**/*.md`` (the examples'
``.py`` files are checked by ``mypy`` itself). Each block becomes a module of its own, checked
with the project's mypy configuration (``--strict``); errors are reported at their line in
the Markdown file. A block with a top-level ``await``, ``async with`` or ``async for`` (as the
README's examples are written) is checked inside an ``async def``.

A block that is a fragment says what it takes as given, in an HTML comment right before it
(GitHub does not show them). Each key goes on its own line, or one key on the comment's line:

    <!-- doc-check: name=relay-app -->          other blocks of the file can build on this one
    <!-- doc-check: after=relay-app,errors -->  checked after those blocks' code (a sequel)
    <!-- doc-check: setup
    client: AsyncAgentClient
    -->                                          lines checked before the block, not shown
    <!-- doc-check: skip REASON -->             not checked, not run (or <!-- no-check: REASON -->)

``setup`` lines are module-level code (declarations such as ``client: AsyncAgentClient``,
and the imports they need); a block checked inside an ``async def`` still sees them.

tests/test_docs_run.py also *runs* every block against the fake agent (see its docstring),
with these directives of its own, which this script reads and ignores:

    <!-- doc-check: no-run REASON -->          checked here but not run (say why)
    <!-- doc-check: run
    fake_agent.reply("It is sunny.")
    -->                                        lines run before the block, not shown or checked
    <!-- doc-check: output -->                 before the fenced block that follows a Python
                                               block: what that block prints

A block whose only line is ``--8<-- "examples/x.py"`` includes a file of the repository
(pymdownx.snippets, on the site): the file is type-checked by mypy itself and run by its tests.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("README.md", "docs/**/*.md", "examples/**/*.md")
WRAPPER = "async def _doc_example() -> None:"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_COMMENT_START = re.compile(r"^\s*<!--\s*(?P<kind>doc-check|no-check)\b:?(?P<rest>.*)$")
_INCLUDE = re.compile(r'^\s*--8<--\s+"(?P<path>[^"]+)"\s*$')
_MYPY_LINE = re.compile(r"^(?P<path>[^:]+\.py):(?P<line>\d+):(?:\d+:)? (?P<what>.*)$")


@dataclass
class Block:
    """One ```python block and the directives before it."""

    path: Path  # relative to ROOT
    number: int  # 1-based, within its file
    first_line: int  # the Markdown line of the block's first code line
    code: list[str]
    name: str | None = None
    after: list[str] = field(default_factory=list)
    setup: list[tuple[str, int]] = field(default_factory=list)  # (line, Markdown line)
    skip: str | None = None
    no_run: str | None = None  # checked, not run, for this reason
    run: list[tuple[str, int]] = field(default_factory=list)  # hidden lines run before it
    output: list[str] | None = None  # what it prints, from the fenced block after it
    include: str | None = None  # the repository file it stands for (``--8<-- "path"``)

    @property
    def label(self) -> str:
        return f"{self.path}:{self.first_line - 1} (block {self.number})"


def markdown_files(arguments: list[str]) -> list[Path]:
    if arguments:
        return [Path(a).resolve().relative_to(ROOT) for a in arguments]
    found: list[Path] = []
    for pattern in SOURCES:
        found.extend(sorted(p.relative_to(ROOT) for p in ROOT.glob(pattern)))
    return found


def parse_blocks(path: Path, text: str) -> list[Block]:
    """The ```python blocks of a Markdown text, with the directives just before each."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: dict[str, object] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        comment = _COMMENT_START.match(line)
        if comment:
            body: list[tuple[str, int]] = []
            rest = comment.group("rest")
            end = i
            if "-->" in rest:
                rest = rest[: rest.index("-->")]
            else:
                end = i + 1
                margin = len(line) - len(line.lstrip())  # inside a content tab, say
                while end < len(lines) and "-->" not in lines[end]:
                    text = lines[end]
                    body.append((text[min(margin, len(text) - len(text.lstrip())) :], end + 1))
                    end += 1
                if end >= len(lines):
                    raise SystemExit(f"{path}:{i + 1}: unterminated doc-check comment")
            _directives(path, i + 1, comment.group("kind"), rest.strip(), body, pending)
            i = end + 1
            continue
        fence = _FENCE.match(line)
        if fence:
            marker = fence.group("fence")
            start = i + 1
            i = start
            while i < len(lines) and not lines[i].lstrip().startswith(marker):
                i += 1
            indent = len(fence.group("indent"))
            code = [text_line[indent:] for text_line in lines[start:i]]
            if pending.pop("output", False):
                if not blocks or fence.group("info").lower() in ("python", "py", "python3"):
                    raise SystemExit(f"{path}:{start}: doc-check output: no Python block before")
                blocks[-1].output = code
            elif fence.group("info").lower() in ("python", "py", "python3"):
                block = Block(path, len(blocks) + 1, start + 1, code)
                block.name = pending.pop("name", None)  # type: ignore[assignment]
                block.after = pending.pop("after", [])  # type: ignore[assignment]
                block.setup = pending.pop("setup", [])  # type: ignore[assignment]
                block.skip = pending.pop("skip", None)  # type: ignore[assignment]
                block.no_run = pending.pop("no-run", None)  # type: ignore[assignment]
                block.run = pending.pop("run", [])  # type: ignore[assignment]
                included = _INCLUDE.match(code[0]) if len(code) == 1 else None
                block.include = included.group("path") if included else None
                blocks.append(block)
            pending.clear()
            i += 1
            continue
        if line.strip():
            pending.clear()  # directives apply to the block right after them only
        i += 1
    return blocks


def _directives(
    path: Path,
    number: int,
    kind: str,
    rest: str,
    body: list[tuple[str, int]],
    pending: dict[str, object],
) -> None:
    if kind == "no-check":
        pending["skip"] = rest or "(no reason given)"
        return
    entries = [(rest, number)] if rest else []
    if not rest.startswith(("setup", "run")) or rest.startswith("run-"):
        entries += [(text.strip(), line) for text, line in body if text.strip()]
        body = []
    for entry, line in entries:
        key, _, value = entry.partition("=") if "=" in entry.split()[0] else entry.partition(" ")
        key, value = key.strip(), value.strip()
        if key == "name":
            pending["name"] = value
        elif key == "after":
            pending["after"] = [v.strip() for v in value.split(",") if v.strip()]
        elif key in ("skip", "no-run"):
            if not value:
                raise SystemExit(f"{path}:{line}: doc-check {key} needs a reason")
            pending[key] = value
        elif key == "output":
            pending["output"] = True
        elif key in ("setup", "run"):
            if not body:  # lines that were read as directives, or none at all
                raise SystemExit(
                    f"{path}:{line}: doc-check {key} takes the comment's following lines: "
                    f"start a comment of its own with '<!-- doc-check: {key}'"
                )
            pending[key] = body
            return
        else:
            raise SystemExit(f"{path}:{line}: unknown doc-check directive {entry!r}")


def _top_level_async(source: str) -> bool:
    """Whether the code awaits outside any function (as the README's snippets do)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False  # mypy reports it

    def visit(node: ast.AST) -> bool:
        if isinstance(node, (ast.Await, ast.AsyncWith, ast.AsyncFor)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(node, ast.comprehension) and node.is_async:
            return True
        return any(visit(child) for child in ast.iter_child_nodes(node))

    return any(visit(statement) for statement in tree.body)


def build_module(
    block: Block, by_name: dict[str, Block], *, run: bool = False
) -> tuple[str, list[tuple[Path, int]]]:
    """The module text for ``block`` and, per module line, the Markdown line it came from.

    With ``run``, each block's ``run`` lines come before its code (the module to execute)."""
    setup: list[tuple[str, tuple[Path, int]]] = []
    body: list[tuple[str, tuple[Path, int]]] = []

    def add(current: Block, seen: tuple[str, ...]) -> None:
        for name in current.after:
            if name in seen or name not in by_name:
                raise SystemExit(f"{current.label}: after={name}: no such block before it")
            add(by_name[name], (*seen, name))
        setup.extend((text, (current.path, line)) for text, line in current.setup)
        if run:
            body.extend((text, (current.path, line)) for text, line in current.run)
        body.extend(
            (text, (current.path, current.first_line + n)) for n, text in enumerate(current.code)
        )

    add(block, (block.name or "",))
    origin: list[tuple[Path, int]] = []
    lines: list[str] = []
    for text, where in setup:
        lines.append(text)
        origin.append(where)
    if _top_level_async("\n".join(text for text, _ in body)):
        lines.append(WRAPPER)
        origin.append((block.path, block.first_line))
        body = [(f"    {text}" if text.strip() else text, where) for text, where in body]
    for text, where in body:
        lines.append(text)
        origin.append(where)
    return "\n".join(lines) + "\n", origin


def collect(paths: list[Path]) -> Iterator[Block]:
    for path in paths:
        yield from parse_blocks(path, (ROOT / path).read_text(encoding="utf-8"))


def module_name(block: Block) -> str:
    stem = re.sub(r"\W", "_", str(block.path.with_suffix("")))
    return f"doc_{stem}_{block.number}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="Markdown files (default: README and docs)")
    parser.add_argument("--list", action="store_true", help="show the blocks, check nothing")
    args = parser.parse_args()
    blocks = list(collect(markdown_files(args.files)))
    by_file: dict[Path, dict[str, Block]] = {}
    for block in blocks:
        if block.name:
            by_file.setdefault(block.path, {})[block.name] = block
    checked = [block for block in blocks if block.skip is None and block.include is None]
    if args.list:
        for block in blocks:
            how = f"skipped: {block.skip}" if block.skip else "checked"
            how = f"included: {block.include}" if block.include else how
            how += f", not run: {block.no_run}" if block.no_run else ""
            extras = [f"name={block.name}"] if block.name else []
            extras += [f"after={','.join(block.after)}"] if block.after else []
            extras += [f"setup: {len(block.setup)} lines"] if block.setup else []
            print(f"{block.label}: {how}" + (f" ({'; '.join(extras)})" if extras else ""))
        return 0

    with tempfile.TemporaryDirectory(prefix="doc-examples-") as tmp:
        origins: dict[str, list[tuple[Path, int]]] = {}
        files = []
        for block in checked:
            text, origin = build_module(block, by_file.get(block.path, {}))
            name = module_name(block)
            target = Path(tmp) / f"{name}.py"
            target.write_text(text, encoding="utf-8")
            origins[target.name] = origin
            files.append(str(target))
        if not files:
            print("no Python blocks to check")
            return 0
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *files],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    errors = 0
    for line in result.stdout.splitlines():
        found = _MYPY_LINE.match(line)
        if not found:
            continue
        lines_of = origins.get(Path(found.group("path")).name)
        if lines_of is None:  # an error outside the examples (in agentchat itself?)
            print(line)
            errors += found.group("what").startswith("error")
            continue
        path, md_line = lines_of[min(int(found.group("line")), len(lines_of)) - 1]
        print(f"{path}:{md_line}: {found.group('what')}")
        errors += found.group("what").startswith("error")
    skipped = len(blocks) - len(checked)
    summary = f"{len(checked)} Python blocks checked with mypy --strict ({skipped} skipped)"
    if result.returncode not in (0, 1) or (result.returncode and not errors):
        print(result.stdout + result.stderr, file=sys.stderr)
        print(f"mypy failed to run (exit {result.returncode})", file=sys.stderr)
        return 2
    if errors:
        print(f"{summary}: {errors} errors")
        return 1
    print(f"{summary}: no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
