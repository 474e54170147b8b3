"""Griffe extension of the API reference: the docstrings' Sphinx markup, as Markdown.

agentchat's docstrings are written for help() and Sphinx: inline code in double backquotes,
cross-references such as :class:`~agentchat.Timeout` and literal blocks introduced by "::".
mkdocstrings renders Markdown, so this extension (``extensions:`` of the mkdocstrings handler
in mkdocs.yml) rewrites the docstrings the reference shows before they are parsed:

- inline code in double backquotes becomes Markdown code in single ones;
- a cross-reference (:class:, :meth:, :func:, :attr:, :data:, ...) becomes an autorefs link,
  [`Timeout`][agentchat.Timeout], when its target has an entry in docs/reference/*.md; plain
  code when the target exists but has no entry (a private helper, another library's class);
  and plain code plus a warning, which fails the strict build, when it names nothing: fix the
  docstring. A target is looked up as Sphinx does: in the class, then the module, then the
  enclosing packages, then ``agentchat``. One reached through a private path
  (``agentchat._hooks.Hooks``) links to its public entry (``agentchat.Hooks``);
- a paragraph ending in "::" and the indented block after it become a fenced Python block.

What is documented is read from the ``:::`` directives of ``docs/reference/*.md``: each
directive's object, its public members and, for a directive with ``inherited_members``, the
members it inherits from private base classes (``_AsyncClient``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from griffe import Alias, AliasResolutionError, Class, CyclicAliasError, Extension, Object, logger

REFERENCE = Path(__file__).parent / "reference"

# A ``:::`` directive and the indented options under it.
_DIRECTIVE = re.compile(r"^::: *(\S+)[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.MULTILINE)
# ``:role:`target``` or ``:role:`title <target>```, with Sphinx's ``~`` (show the last part)
# and ``!`` (no link) prefixes; a domain (``:py:class:``) is allowed.
_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<text>[^`]+)`")
_LITERAL = re.compile(r"``(?P<code>(?:(?!``).)+?)``")
_CODE_FENCE = re.compile(r"^\s*(```|~~~)")
_CALLABLE_ROLES = frozenset({"meth", "func"})


def _directives(page_text: str) -> list[tuple[str, bool, list[str] | None]]:
    """The ``:::`` directives of a page: the identifier, whether ``inherited_members`` is
    set, and the ``members`` selected (``None``: all, ``[]``: none)."""
    found = []
    for match in _DIRECTIVE.finditer(page_text):
        options = match.group(2)
        inherited = re.search(r"^\s*inherited_members:\s*true\s*$", options, re.M) is not None
        members: list[str] | None = None
        listed = re.search(r"^\s*members:\s*(.*?)\s*$", options, re.M)
        if listed:
            value = listed.group(1)
            members = re.findall(r"\w+", value) if value.startswith("[") else []
            if value == "true":
                members = None
        found.append((match.group(1), inherited, members))
    return found


def _target(obj: Object | Alias) -> Object | None:
    """The object ``obj`` is, through aliases; ``None`` when that is outside the package."""
    try:
        final = obj.final_target if isinstance(obj, Alias) else obj
    except (AliasResolutionError, CyclicAliasError):
        return None
    return final if isinstance(final, Object) else None


class RstToMarkdown(Extension):
    """Rewrite the Sphinx markup of the documented docstrings as Markdown (see the module)."""

    def __init__(self, package: str = "agentchat") -> None:
        super().__init__()
        self.package = package

    def on_package(self, *, pkg: Object, loader: Any, **kwargs: Any) -> None:
        if pkg.name != self.package:
            return
        self.collection = loader.modules_collection
        # Any path of a documented object (public, canonical, inherited) -> its entry's id.
        self.entries: dict[str, str] = {}
        rendered: dict[int, Object] = {}  # id -> object whose docstring the reference shows
        for page in sorted(REFERENCE.glob("*.md")):
            for identifier, inherited, members in _directives(page.read_text(encoding="utf-8")):
                try:
                    obj = self.collection[identifier]
                except KeyError:
                    continue  # tests/test_docs_reference.py and mkdocstrings report it
                self._add(identifier, obj, rendered, inherited=inherited, selected=members)
        for obj in rendered.values():
            if obj.docstring is not None:
                obj.docstring.value = self.convert(obj.docstring.value, obj)

    def _add(
        self,
        identifier: str,
        obj: Object | Alias,
        rendered: dict[int, Object],
        *,
        inherited: bool = False,
        selected: list[str] | None = None,
    ) -> None:
        """Record ``obj``, shown as ``identifier``, and the members its entry shows."""
        target = _target(obj)
        if target is None:
            return
        self.entries.setdefault(identifier, identifier)
        self.entries.setdefault(obj.path, identifier)
        self.entries.setdefault(target.path, identifier)
        rendered[id(target)] = target
        if not isinstance(target, Class):
            return
        members = dict(target.members)
        if inherited:
            for base in reversed(target.mro()):
                if base.name.startswith("_"):
                    members.update(base.members)
            members.update(target.members)
        for name, member in members.items():
            shown = not name.startswith("_") if selected is None else name in selected
            if shown:
                self._add(f"{identifier}.{name}", member, rendered)

    # -- conversion ----------------------------------------------------------------------------

    def convert(self, text: str, obj: Object) -> str:
        """``text``, a docstring of ``obj``, with its Sphinx markup as Markdown."""
        lines = _fence_literal_blocks(text.splitlines())
        out = []
        in_fence = False
        for line in lines:
            if _CODE_FENCE.match(line):
                in_fence = not in_fence
            elif not in_fence:
                line = _ROLE.sub(lambda m: self._reference(m, obj), line)
                line = _LITERAL.sub(lambda m: _code_span(m.group("code")), line)
            out.append(line)
        return "\n".join(out)

    def _reference(self, match: re.Match[str], obj: Object) -> str:
        role, text = match.group("role"), match.group("text")
        title, _, explicit = text.partition(" <")
        if explicit:
            target, shown = explicit.rstrip(">"), title
        else:
            target = text.lstrip("!")
            shown = target.lstrip("~.").rsplit(".", 1)[-1] if target.startswith("~") else target
            target = target.lstrip("~.")
            if role in _CALLABLE_ROLES and not shown.endswith(")"):
                shown += "()"
        target = target.removesuffix("()")
        code = _code_span(shown) if not explicit else shown
        if text.startswith("!"):
            return code
        found = self._resolve(target, obj)
        if found is None:
            head = target.split(".", 1)[0]
            if "." in target and head != self.package and self._resolve(head, obj) is None:
                return code  # another library's object (no inventory is loaded)
            where = obj.relative_filepath if obj.filepath else obj.path
            logger.warning(
                "%s:%s: %s: :%s:`%s` names nothing", where, obj.lineno, obj.path, role, text
            )
            return code
        entry = self.entries.get(found.path)
        if entry is None:
            final = _target(found)
            entry = self.entries.get(final.path) if final is not None else None
        return f"[{code}][{entry}]" if entry else code

    def _resolve(self, target: str, obj: Object) -> Object | Alias | None:
        """What ``target`` names, looked up from ``obj`` as Sphinx does."""
        scope: Object | None = obj if isinstance(obj, Class) else obj.parent
        while scope is not None:
            found = _lookup(scope, target.split("."))
            if found is not None:
                return found
            scope = scope.parent
        for path in (target, f"{self.package}.{target}"):
            try:
                named: Object | Alias = self.collection[path]
            except (KeyError, AliasResolutionError, CyclicAliasError):
                continue
            return named
        return None


def _lookup(scope: Object | Alias, parts: list[str]) -> Object | Alias | None:
    """``scope.parts[0].parts[1]...``, through aliases and inherited members."""
    current: Object | Alias = scope
    for part in parts:
        holder = _target(current)
        if holder is None:
            return None
        members = holder.all_members if isinstance(holder, Class) else holder.members
        if part not in members:
            return None
        current = members[part]
    return current


def _code_span(code: str) -> str:
    """``code`` as a Markdown code span (longer fences when it holds backticks)."""
    if "`" not in code:
        return f"`{code}`"
    return f"`` {code} ``"


def _fence_literal_blocks(lines: list[str]) -> list[str]:
    """RST literal blocks (a paragraph ending in ``::``, or a lone ``::``, then an indented
    block) as fenced Python blocks."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        i += 1
        if not line.endswith("::"):
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip())
        if line.strip() != "::":  # a lone ``::`` goes; "text::" keeps one colon, "text ::" none
            out.append(line[:-2].rstrip() if line[-3:-2] == " " else line[:-1])
        block: list[str] = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            block.append(lines[i].rstrip())
            i += 1
        code = [b for b in block if b]
        if not code:
            continue
        margin = min(len(b) - len(b.lstrip()) for b in code)
        first = block.index(code[0])
        last = len(block) - block[::-1].index(code[-1])
        pad = " " * indent
        out += ["", f"{pad}```python"]
        out += [pad + b[margin:] if b else "" for b in block[first:last]]
        out += [f"{pad}```", ""]
    return out
