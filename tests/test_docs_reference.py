"""The API reference (docs/reference/*.md) has an entry for every public name, and every entry
names something that exists.

An entry is a mkdocstrings directive, ``::: agentchat.Name`` on a line of its own, optionally
followed by indented ``options:``. The pages are read as text and the names imported, so this
runs in milliseconds without mkdocs; the strict site build (``nox -s docs``) checks the
rendering and the cross-references.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import agentchat
import agentchat.testing

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"

#: A directive and the indented option lines under it.
DIRECTIVE = re.compile(r"^::: *(?P<name>\S+)[ \t]*\n(?P<options>(?:[ \t]+\S.*\n|[ \t]*\n)*)", re.M)
#: ``members: [a, b]``: the entry shows these members only, in this order.
MEMBERS = re.compile(r"^\s*members:\s*\[(?P<names>[^\]]*)\]", re.M)


@dataclass(frozen=True)
class Entry:
    page: str
    name: str
    members: tuple[str, ...] | None  # an explicit member list, if the entry has one


def entries() -> list[Entry]:
    found = []
    for page in sorted(REFERENCE.glob("*.md")):
        for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            listed = MEMBERS.search(match.group("options"))
            members = None
            if listed:
                members = tuple(n.strip() for n in listed.group("names").split(",") if n.strip())
            found.append(Entry(page.name, match.group("name"), members))
    return found


def resolve(path: str) -> object:
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(path)


PUBLIC = [f"agentchat.{name}" for name in agentchat.__all__] + [
    f"agentchat.testing.{name}" for name in agentchat.testing.__all__
]


def test_the_pages_have_entries() -> None:
    assert len(entries()) > len(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_has_an_entry(name: str) -> None:
    documented = {entry.name for entry in entries()}
    assert name in documented, f"no `::: {name}` in docs/reference/*.md"


@pytest.mark.parametrize("entry", entries(), ids=lambda entry: entry.name)
def test_every_entry_exists(entry: Entry) -> None:
    resolve(entry.name)


def test_no_name_has_two_entries() -> None:
    names = [entry.name for entry in entries()]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_public_objects_are_documented_by_their_public_name() -> None:
    """An entry through a private module (``agentchat._resources.AsyncCompletions``) is for
    what has no public name: an object exported by ``agentchat`` is documented as
    ``agentchat.Name``, where users import it from."""
    public = {id(resolve(name)) for name in PUBLIC}
    private = [
        entry.name
        for entry in entries()
        if any(part.startswith("_") and part != "__version__" for part in entry.name.split("."))
    ]
    assert private, "the resource classes are documented through agentchat._resources"
    assert [name for name in private if id(resolve(name)) in public] == []


@pytest.mark.parametrize("entry", [e for e in entries() if e.members], ids=lambda entry: entry.name)
def test_member_lists_are_complete(entry: Entry) -> None:
    """An entry that lists its members (to put ``create`` first) must list every public
    one: a method added later would otherwise be left out of the reference silently."""
    obj = resolve(entry.name)
    public = {name for name in dir(obj) if not name.startswith("_")}
    assert entry.members is not None
    assert sorted(public - set(entry.members)) == []
    assert sorted(set(entry.members) - public) == []


def test_the_resources_are_documented() -> None:
    """``client.agent.chat.completions`` and ``client.chat.completions`` are not in
    ``__all__`` but are where requests are made: async and sync, with their methods."""
    documented = {entry.name: entry for entry in entries()}
    from agentchat import _resources, _sync

    for module, names in (
        ("agentchat._resources", _resources.__all__),
        ("agentchat._sync", [n for n in _sync.__all__ if f"agentchat.{n}" not in PUBLIC]),
    ):
        for name in names:
            assert f"{module}.{name}" in documented, f"no `::: {module}.{name}`"
    for name in ("AsyncCompletions", "AsyncStandardCompletions"):
        members = documented[f"agentchat._resources.{name}"].members or ()
        assert {"create", "create_many", "create_all", "run_tools"} <= set(members)
