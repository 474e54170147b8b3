"""The docs' examples: the test examples run as written under plain pytest, the names the
docs give can be imported, and scripts/check_doc_examples.py (which ``nox -s typecheck`` runs
to type-check every example) reads the blocks and their directives as documented."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import agentchat
import agentchat.testing

ROOT = Path(__file__).resolve().parents[1]


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_doc_examples", ROOT / "scripts" / "check_doc_examples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def _block_defining(path: str, name: str) -> str:
    for block in checker.parse_blocks(Path(path), (ROOT / path).read_text()):
        if re.search(rf"^(async )?def {name}\(", "\n".join(block.code), re.MULTILINE):
            return "\n".join(block.code) + "\n"
    raise AssertionError(f"no block of {path} defines {name}()")


def _run_pytest(tmp_path: Path, source: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as a test module with plain pytest: the project's configuration
    (``asyncio_mode = "auto"``) is not in play, as it is not in a user's project."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_example.py").write_text(source)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options]
    return subprocess.run(
        [*command, "test_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [("docs/testing.md", "test_my_code"), ("docs/sync.md", "test_my_script")],
)
def test_the_docs_test_examples_pass_under_plain_pytest(
    tmp_path: Path, path: str, name: str
) -> None:
    result = _run_pytest(tmp_path, _block_defining(path, name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "not natively supported" not in result.stdout


def test_the_async_example_runs_with_anyios_plugin_instead(tmp_path: Path) -> None:
    source = _block_defining("docs/testing.md", "test_my_code").replace(
        "@pytest.mark.asyncio\n", "@pytest.mark.anyio\n"
    )
    result = _run_pytest(tmp_path, source, "-p", "no:asyncio")  # anyio's plugin only
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_without_its_mark_the_async_example_is_not_run(tmp_path: Path) -> None:
    # Why docs/testing.md says to mark it: plain pytest does not run a coroutine.
    source = _block_defining("docs/testing.md", "test_my_code").replace(
        "@pytest.mark.asyncio\n", ""
    )
    result = _run_pytest(tmp_path, source)
    assert "async def functions are not natively supported" in result.stdout
    assert "1 passed" not in result.stdout


def test_every_name_docs_testing_md_gives_is_importable() -> None:
    text = (ROOT / "docs" / "testing.md").read_text()
    spans = re.findall(r"`([^`]+)`", text)
    named = {m for span in spans for m in re.findall(r"(?:^|\.)([A-Z]\w+)(?=$|[(.])", span)}
    assert {"FakeAgentServer", "ScriptedResponse", "ScriptedStream", "RecordedRequest"} <= named
    for name in named:
        assert hasattr(agentchat.testing, name) or hasattr(agentchat, name), name
    from agentchat.testing import ScriptedStream

    assert ScriptedStream(stop_after=1).stop_after == 1
    assert set(agentchat.testing.__all__) >= {"ScriptedStream", "ScriptedResponse"}


# -- scripts/check_doc_examples.py -------------------------------------------------------------

MARKDOWN = """\
# Title

<!-- doc-check: name=app -->
```python
import asyncio

app = 1
```

Prose between blocks.

<!-- doc-check: after=app -->
<!-- doc-check: setup
from typing import Any
client: Any
-->
```python
await asyncio.sleep(app)
x: int = "nope"
```

<!-- no-check: shows a syntax on purpose -->
```python
this is not python
```

```python
def f() -> None:
    await_me = 1
```

```bash
echo not python
```
"""


def test_blocks_and_their_directives_are_read() -> None:
    blocks = checker.parse_blocks(Path("doc.md"), MARKDOWN)
    assert [b.first_line for b in blocks] == [5, 18, 24, 28]
    first, second, skipped, plain = blocks
    assert first.name == "app" and first.after == [] and first.skip is None
    assert second.after == ["app"]
    assert [text for text, _ in second.setup] == ["from typing import Any", "client: Any"]
    assert skipped.skip == "shows a syntax on purpose"
    assert plain.name is None and plain.after == [] and plain.setup == [] and plain.skip is None


def test_a_block_is_built_after_its_predecessors_and_mapped_back_to_its_lines() -> None:
    blocks = checker.parse_blocks(Path("doc.md"), MARKDOWN)
    by_name = {b.name: b for b in blocks if b.name}
    text, origin = checker.build_module(blocks[1], by_name)
    lines = text.splitlines()
    # The setup stays at module level; the code awaits, so it runs inside an async def.
    assert lines[:3] == ["from typing import Any", "client: Any", checker.WRAPPER]
    assert lines[3:] == [
        "    import asyncio",
        "",
        "    app = 1",
        "    await asyncio.sleep(app)",
        '    x: int = "nope"',
    ]
    assert [line for _, line in origin] == [14, 15, 18, 5, 6, 7, 18, 19]
    text, _ = checker.build_module(blocks[3], by_name)
    assert checker.WRAPPER not in text  # no top-level await: checked as written


def test_an_unknown_directive_is_an_error() -> None:
    with pytest.raises(SystemExit, match="unknown doc-check directive"):
        checker.parse_blocks(Path("doc.md"), "<!-- doc-check: nmae=x -->\n```python\n```\n")


def test_directives_inside_a_content_tab_lose_the_tabs_indentation() -> None:
    text = (
        '=== "agentchat"\n\n'
        "    <!-- doc-check: run\n"
        "    if True:\n"
        "        fake_agent.reply('x')\n"
        "    -->\n"
        "    ```python\n"
        "    print(1)\n"
        "    ```\n"
    )
    (block,) = checker.parse_blocks(Path("tab.md"), text)
    assert [line for line, _ in block.run] == ["if True:", "    fake_agent.reply('x')"]
    assert block.code == ["print(1)"]
