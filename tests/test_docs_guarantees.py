"""docs/guarantees.md names, for each reliability guarantee, the tests that hold it: every
row of its tables must name at least one test, and every test it names must exist, linked to
its file on GitHub.

The tests are found by reading the test files with :mod:`ast` (module-level ``test*``
functions and the ``test*`` methods of ``Test*`` classes), not by collecting the suite, so
this runs in milliseconds. A reference is ``tests/test_x.py::test_name`` or
``tests/test_x.py::TestClass::test_name``; a parameter id (``test_name[slow-cut]``) is
allowed and not checked.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "guarantees.md"
BLOB = "https://github.com/agentchat/agentchat/blob/main/"

#: A test reference anywhere in a row, linked or not.
REFERENCE = re.compile(r"(?P<path>tests/[\w/]+\.py)::(?P<name>\w+(?:::\w+)*)(?:\[[^\]`]*\])?")
#: A linked reference: [`tests/test_x.py::test_name`](https://github.com/...).
LINKED = re.compile(r"\[`(?P<ref>[^`]+)`\]\((?P<url>[^)\s]+)\)")
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


@dataclass(frozen=True)
class Row:
    line: int  # 1-based, in the page
    text: str

    @property
    def guarantee(self) -> str:
        return self.text.strip().strip("|").split("|")[0].strip()


def table_rows(markdown: str) -> list[Row]:
    """The data rows of every table: the lines after a header's separator, to the table's
    end."""
    rows: list[Row] = []
    in_body = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            in_body = False
        elif SEPARATOR.match(line.strip()):
            in_body = True
        elif in_body:
            rows.append(Row(number, line))
    return rows


def defined_tests(source: str) -> set[str]:
    """``name`` of each module-level test function, ``Class::name`` of each test method
    (nested ``Test*`` classes as ``Outer::Inner::name``)."""
    found: set[str] = set()

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name.startswith("test"):
                    found.add(prefix + node.name)
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                walk(node.body, f"{prefix}{node.name}::")

    walk(ast.parse(source).body, "")
    return found


@functools.cache
def names_in(path: str) -> frozenset[str]:
    file = ROOT / path
    return frozenset(defined_tests(file.read_text())) if file.is_file() else frozenset()


def problems(markdown: str) -> list[str]:
    """Everything wrong with the page's references, one line each (empty: all is well)."""
    rows = table_rows(markdown)
    if not rows:
        return ["no table rows found: the page has no guarantees to check"]
    found: list[str] = []
    for row in rows:
        where = f"line {row.line} ({row.guarantee[:60]!r})"
        if not row.guarantee:
            found.append(f"{where}: the guarantee cell is empty")
        references = list(REFERENCE.finditer(row.text))
        if not references:
            found.append(f"{where}: no test holds this guarantee")
        for match in references:
            path, name = match["path"], match["name"]
            if not (ROOT / path).is_file():
                found.append(f"{where}: {path} does not exist")
            elif name not in names_in(path):
                found.append(f"{where}: {path} has no test {name}")
        linked = list(LINKED.finditer(row.text))
        if len(linked) != len(references):
            found.append(f"{where}: every test reference must be a link to its file")
        for link in linked:
            reference = REFERENCE.fullmatch(link["ref"])
            if reference is None:
                found.append(f"{where}: {link['ref']!r} is not a tests/...py::test reference")
            elif link["url"] != BLOB + reference["path"]:
                found.append(f"{where}: {link['ref']} links to {link['url']}")
    return found


def test_every_guarantee_names_tests_that_exist() -> None:
    found = problems(PAGE.read_text())
    assert not found, "docs/guarantees.md:\n" + "\n".join(found)


def test_the_checker_reads_rows_classes_and_parameter_ids() -> None:
    """The checker itself: it finds class-level tests, strips parameter ids, and reports a
    row without a test, a missing test and a wrong link."""
    source = (
        "def test_plain(): ...\n"
        "async def test_async(): ...\n"
        "def helper(): ...\n"
        "class TestGroup:\n"
        "    def test_method(self): ...\n"
        "    class TestInner:\n"
        "        def test_deep(self): ...\n"
    )
    assert defined_tests(source) == {
        "test_plain",
        "test_async",
        "TestGroup::test_method",
        "TestGroup::TestInner::test_deep",
    }
    real = "tests/test_docs_guarantees.py"
    url = BLOB + real
    page = "\n".join(
        [
            "| Guarantee | Held by |",
            "|---|---|",
            f"| Holds. | [`{real}::test_every_guarantee_names_tests_that_exist[x-1]`]({url}) |",
            "| Nothing holds this. | |",
            f"| Gone. | [`{real}::test_gone`]({url}) |",
            f"| Misplaced. | [`{real}::test_every_guarantee_names_tests_that_exist`](elsewhere) |",
            f"| Unlinked. | `{real}::test_every_guarantee_names_tests_that_exist` |",
        ]
    )
    found = problems(page)
    assert len(found) == 4, found
    assert "line 4" in found[0] and "no test holds" in found[0]
    assert "line 5" in found[1] and "has no test test_gone" in found[1]
    assert "line 6" in found[2] and "links to elsewhere" in found[2]
    assert "line 7" in found[3] and "must be a link" in found[3]
    assert problems("# No tables\n") == ["no table rows found: the page has no guarantees to check"]
