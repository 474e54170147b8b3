"""docs/changelog.md: its top version is the package's version, and its headings follow
Keep a Changelog (https://keepachangelog.com/en/1.1.0/).

The first ``## [X.Y.Z] - DATE`` heading must name ``agentchat.__version__``, with a date
(``YYYY-MM-DD``) once released or ``Unreleased`` before; an ``## [Unreleased]`` section with no
version may sit above it, for changes after a release. Versions go down the page, newest
first, and only the top one may be unreleased.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import agentchat

PAGE = Path(__file__).resolve().parents[1] / "docs" / "changelog.md"
VERSION = re.compile(
    r"^## \[(?P<version>\d+\.\d+\.\d+(?:[-.]?(?:a|b|rc)\d+)?)\] - "
    r"(?P<date>\d{4}-\d{2}-\d{2}|Unreleased)$"
)
KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def sections() -> list[str]:
    """The page's level-2 headings."""
    return [line for line in PAGE.read_text(encoding="utf-8").splitlines() if line[:3] == "## "]


def versions() -> list[tuple[str, str]]:
    """(version, date) of every version heading, top first; fails on any other heading
    but a leading ``## [Unreleased]``."""
    headings = sections()
    if headings[:1] == ["## [Unreleased]"]:
        headings = headings[1:]
    found = []
    for heading in headings:
        match = VERSION.match(heading)
        assert match, f"not a version heading ('## [X.Y.Z] - YYYY-MM-DD'): {heading!r}"
        found.append((match["version"], match["date"]))
    return found


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def test_the_top_version_is_the_package_version() -> None:
    top = versions()[:1]
    assert top, "docs/changelog.md has no '## [X.Y.Z] - DATE' heading"
    assert top[0][0] == agentchat.__version__, (
        f"docs/changelog.md's top version is {top[0][0]}, agentchat/_version.py says "
        f"{agentchat.__version__}"
    )


def test_versions_go_down_and_only_the_top_one_is_unreleased() -> None:
    found = versions()
    numbers = [_key(version) for version, _ in found]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)
    for version, date in found[1:]:
        assert date != "Unreleased", f"{version} is below the top and unreleased"
    for _version, date in found:
        if date != "Unreleased":
            datetime.date.fromisoformat(date)  # a real date, or ValueError


def test_changes_are_grouped_by_kind() -> None:
    kinds = re.findall(r"^### (.+)$", PAGE.read_text(encoding="utf-8"), re.MULTILINE)
    assert kinds, "no '### Added' (or Changed, Fixed, ...) section"
    assert set(kinds) <= KINDS, f"not a Keep a Changelog kind: {set(kinds) - KINDS}"
