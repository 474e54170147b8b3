"""Every ```python block of the README and docs/ runs, as written, against the fake agent.

``nox -s typecheck`` type-checks the same blocks (scripts/check_doc_examples.py, which also
parses them and their directives for this module). Here each block is executed:

- A :class:`~agentchat.testing.FakeAgentServer` runs in a background thread, and the
  environment points every client made without arguments at it: ``AGENT_ENDPOINT``,
  ``AGENT_ACCESS_KEY``, ``MODEL_ACCESS_KEY``, ``INFERENCE_ENDPOINT``, ``OPENAI_BASE_URL`` and
  ``OPENAI_API_KEY``. Its default answer echoes the last user message.
- The block's module (its ``setup`` lines, the blocks it comes ``after``, each one's hidden
  ``run`` lines, then its code) runs with ``__name__ == "__main__"`` in an empty temporary
  directory. A block that awaits at the top level runs inside an ``async def`` under
  ``asyncio.run``, as the type check wraps it.
- Bare annotations in ``setup`` (``client: AsyncAgentClient``) are filled in by type
  (:data:`FIXTURES`); clients made so are closed after the block.
- ``run`` lines see the server as ``fake_agent``, to script its answers.
- A block followed by an ``output`` block must print exactly that (``...`` matches anything).
- A block that defines pytest tests (``def test_...``) is also run by pytest itself: every
  such block of the docs becomes a test module, and one plain ``pytest`` process (no project
  configuration, as in a user's project, but warnings as errors) runs them all; each block's
  tests must pass.
- ``no-run REASON`` and ``skip REASON`` blocks are reported as skipped with their reason; a
  block that includes a repository file (``--8<--``) must name a file that a test runs.

Warnings are errors here as in the whole suite, so an example that leaks a session fails.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import logging
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import agentchat
from agentchat.testing import FakeAgentServer

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 30.0  # seconds per block


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_doc_examples", ROOT / "scripts" / "check_doc_examples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


checker = _load_checker()
BLOCKS = list(checker.collect(checker.markdown_files([])))
BY_FILE: dict[Path, dict[str, Any]] = {}
for _block in BLOCKS:
    if _block.name:
        BY_FILE.setdefault(_block.path, {})[_block.name] = _block


def _question() -> Any:
    with agentchat.AgentClient() as client:
        return client.agent.chat.completions.create(
            model="fake-agent", messages=[{"role": "user", "content": "Hello"}]
        )


_CLIENTS = (
    "AsyncAgentClient",
    "AgentClient",
    "AsyncInferenceClient",
    "InferenceClient",
    "AsyncOpenAICompatibleClient",
    "OpenAICompatibleClient",
)
#: What a bare annotation in a block's ``setup`` stands for, by its type's last name.
FIXTURES: dict[str, Callable[[FakeAgentServer], Any]] = {
    "FakeAgentServer": lambda server: server,
    "ChatCompletion": lambda server: _question(),
    "Logger": lambda server: logging.getLogger("docs.example"),
}


def _make(kind: type[Any]) -> Callable[[FakeAgentServer], Any]:
    """A client of ``kind`` made with no arguments: the environment points it at the fake."""
    return lambda server: kind()


FIXTURES.update({name: _make(getattr(agentchat, name)) for name in _CLIENTS})
_BARE = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<type>[\w.]+)\s*(?:#.*)?$")


def _params() -> Iterator[Any]:
    for block in BLOCKS:
        marks = []
        if block.skip:
            marks.append(pytest.mark.skip(reason=f"not run: {block.skip}"))
        elif block.no_run:
            marks.append(pytest.mark.skip(reason=f"not run: {block.no_run}"))
        yield pytest.param(block, id=f"{block.path}:{block.first_line - 1}", marks=marks)


def _fixtures(block: Any, server: FakeAgentServer) -> dict[str, Any]:
    """The values of the bare annotations in ``setup`` that no ``run`` line assigns."""
    chain = [block, *(BY_FILE[block.path][name] for name in block.after)]
    assigned = {
        m.group(1)
        for b in chain
        for text, _ in b.run
        if (m := re.match(r"\s*([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)", text))
    }
    values: dict[str, Any] = {}
    for current in chain:
        for text, line in current.setup:
            bare = _BARE.match(text)
            if not bare or bare.group("name") in assigned:
                continue
            kind = bare.group("type").rsplit(".", 1)[-1]
            if kind not in FIXTURES:
                pytest.fail(
                    f"{current.path}:{line}: nothing fills {text.strip()!r} to run the block: "
                    f"assign it in a 'doc-check: run' comment, or add {kind} to FIXTURES "
                    f"in {Path(__file__).name}"
                )
            values[bare.group("name")] = FIXTURES[kind](server)
    return values


def _matches(expected: list[str], printed: str) -> bool:
    want = "\n".join(line.rstrip() for line in expected).strip("\n")
    got = "\n".join(line.rstrip() for line in printed.splitlines()).strip("\n")
    pattern = ".*?".join(re.escape(part) for part in want.split("..."))
    return re.fullmatch(pattern, got, re.DOTALL) is not None


_ASYNC_CLIENTS = (
    agentchat.AsyncAgentClient,
    agentchat.AsyncInferenceClient,
    agentchat.AsyncOpenAICompatibleClient,
)
_SYNC_CLIENTS = (agentchat.AgentClient, agentchat.InferenceClient, agentchat.OpenAICompatibleClient)


@pytest.fixture
def fake_in_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeAgentServer]:
    with FakeAgentServer().in_thread() as server:
        for name, value in {
            "AGENT_ENDPOINT": server.url,
            "AGENT_ACCESS_KEY": server.token,
            "MODEL_ACCESS_KEY": server.token,
            "INFERENCE_ENDPOINT": server.url,
            "OPENAI_BASE_URL": f"{server.url}/v1",
            "OPENAI_API_KEY": server.token,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        root.handlers[:] = []  # as in a fresh script: logging.basicConfig() takes effect
        try:
            yield server
        finally:  # an example may configure logging: leave it as it was
            root.handlers[:], root.level = handlers, level


def _defined_tests(block: Any) -> list[str]:
    """The names of the pytest tests the block defines at its top level."""
    try:
        tree = ast.parse("\n".join(block.code))
    except SyntaxError:
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    ]


def _module_name(block: Any) -> str:
    return "test_" + re.sub(r"\W", "_", f"{block.path.with_suffix('')}_{block.first_line}")


@pytest.fixture(scope="session")
def pytest_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Per test module of the docs' test blocks: each test's outcome under plain pytest."""
    folder = tmp_path_factory.mktemp("doc-tests")
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings =\n    error\n"
    (folder / "pytest.ini").write_text(ini)
    written = []
    for block in BLOCKS:
        if block.skip or block.no_run or not _defined_tests(block):
            continue
        source, _ = checker.build_module(block, BY_FILE.get(block.path, {}))
        (folder / f"{_module_name(block)}.py").write_text(source, encoding="utf-8")
        written.append(f"{_module_name(block)}.py")
    if not written:
        return {}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    result = subprocess.run(
        [*command, "--junit-xml=report.xml", *written],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if not (folder / "report.xml").exists():
        pytest.fail(f"pytest did not run the docs' tests:\n{result.stdout}\n{result.stderr}")
    outcomes: dict[str, dict[str, str]] = {}
    for case in ElementTree.parse(folder / "report.xml").iter("testcase"):
        # Not `find(...) or find(...)`: an Element without children is false.
        failed = case.find("failure")
        failed = case.find("error") if failed is None else failed
        skipped = case.find("skipped")
        outcome = "failed" if failed is not None else "skipped" if skipped is not None else "passed"
        detail = (
            (failed.get("message", "") + "\n" + (failed.text or "")) if failed is not None else ""
        )
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcomes.setdefault(module, {})[case.get("name", "")] = outcome + detail
    return outcomes


@pytest.mark.parametrize("block", list(_params()))
def test_doc_block_runs(
    block: Any,
    fake_in_thread: FakeAgentServer,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    if block.include is not None:
        _check_include(block)
        return
    tests = _defined_tests(block)
    if tests:
        outcomes = request.getfixturevalue("pytest_outcomes").get(_module_name(block), {})
        ran = {name.partition("[")[0] for name in outcomes}
        assert ran == set(tests), f"{block.label}: pytest ran {sorted(outcomes)}, not {tests}"
        failed = {name: why for name, why in outcomes.items() if not why.startswith("passed")}
        assert not failed, f"{block.label}: under pytest, {failed}"
    source, _ = checker.build_module(block, BY_FILE.get(block.path, {}), run=True)
    namespace: dict[str, Any] = {"__name__": "__main__", "fake_agent": fake_in_thread}
    namespace.update(_fixtures(block, fake_in_thread))
    clients = [v for v in namespace.values() if isinstance(v, _SYNC_CLIENTS)]
    async_clients = [v for v in namespace.values() if isinstance(v, _ASYNC_CLIENTS)]
    code = compile(source, f"{block.path}:{block.first_line - 1}", "exec")
    try:
        exec(code, namespace)  # the module: for an async block, it defines the wrapper
        wrapper = namespace.get("_doc_example") if checker.WRAPPER in source else None
        if wrapper is not None:

            async def main() -> None:
                try:
                    await asyncio.wait_for(wrapper(), TIMEOUT)
                finally:
                    for client in async_clients:
                        await client.aclose()

            asyncio.run(main())
        elif async_clients:
            asyncio.run(_close_all(async_clients))
    finally:
        for client in clients:
            client.close()
    printed = capsys.readouterr().out
    if block.output is not None:
        expected = "\n".join(block.output)
        assert _matches(block.output, printed), (
            f"{block.label} printed:\n{printed}\nand its output block shows:\n{expected}"
        )


async def _close_all(clients: list[Any]) -> None:
    for client in clients:
        await client.aclose()


def _check_include(block: Any) -> None:
    path = ROOT / block.include
    assert path.is_file(), f"{block.label}: includes {block.include}, which does not exist"
    tests = ROOT / "tests"
    mentioned = any(
        block.include in test.read_text(encoding="utf-8")
        for test in tests.rglob("test_*.py")
        if test.name != Path(__file__).name
    )
    assert mentioned, f"{block.label}: no test under tests/ runs {block.include}"


def test_every_block_is_run_or_says_why_not() -> None:
    assert len(BLOCKS) > 40
    for block in BLOCKS:
        assert block.skip is None or block.skip.strip(), block.label
        assert block.no_run is None or block.no_run.strip(), block.label
