"""scripts/mutants.py (``nox -s mutants``): its module and test lists name files that exist,
and every mutant it calls equivalent is documented, with the same reason, in
docs/development.md (the issue's rule: each survivor left is explained where developers read)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "scripts" / "mutants.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


mutants = _load()


def test_the_mutated_modules_and_the_selected_tests_exist() -> None:
    for module in mutants.MODULES:
        assert (ROOT / "agentchat" / f"{module}.py").is_file(), module
    for test in mutants.TESTS:
        assert (ROOT / test).is_file(), test
    for test in (
        mutants.SUBPROCESS_TESTS + mutants.STRESS_TESTS + [*mutants.KILLED_IN_A_CHILD.values()]
    ):
        path, _, name = test.partition("::")
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), test


def test_every_equivalent_mutant_is_documented_with_its_reason() -> None:
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    for name, reason in mutants.EQUIVALENT.items():
        assert name.startswith("agentchat._"), name
        assert any(name.startswith(f"agentchat.{m}.") for m in mutants.MODULES), name
        assert f"`{name}`" in text, f"{name} is not listed in docs/development.md"
        assert reason in text, f"the reason for {name} differs in docs/development.md"


def test_a_rerun_retries_the_mutants_left_without_tests(tmp_path: Path) -> None:
    meta = tmp_path / "agentchat" / "_pacing.py.meta"
    meta.parent.mkdir()
    codes = {"m_1": 1, "m_2": mutants.NO_TESTS, "m_3": 0, "m_4": mutants.NO_TESTS, "m_5": None}
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {"m_1": 0.5}}))
    untouched = tmp_path / "agentchat" / "_sse.py.meta"
    untouched.write_text(json.dumps({"exit_code_by_key": {"s_1": 1}}))
    before = untouched.stat().st_mtime_ns

    assert mutants.forget_untested(tmp_path) == 2
    data = json.loads(meta.read_text())
    assert data["exit_code_by_key"] == {"m_1": 1, "m_2": None, "m_3": 0, "m_4": None, "m_5": None}
    assert data["durations_by_key"] == {"m_1": 0.5}  # the rest of mutmut's record is kept
    assert untouched.stat().st_mtime_ns == before  # nothing to clear: not rewritten
    assert mutants.forget_untested(tmp_path) == 0
