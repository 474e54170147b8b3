"""What each public import pulls in: what a program pays before its first request.

The benchmark holds the import times to a budget (``docs/benchmarks.md``); these tests hold
the reasons to it. Each module below is made or imported only by the first call that needs
it, and importing it earlier again would cost milliseconds nobody notices until the
benchmark. Each probe runs in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What the sync facade needs at import (it wraps AsyncStream in its Stream), and the first
#: stream of an async client: the stream, its parts and the models it builds.
SYNC_NEEDS = (
    "agentchat._streaming",
    "agentchat._models._completion",
    "agentchat._models._agent_info",
    "agentchat._models._chunk",
    "agentchat._sse",
    "agentchat._accumulate",
)

#: Imported by the first call, stream, fan-out or tool run, or the sync facade's first call:
#: never by the import of an async client class.
FIRST_USE = (
    *SYNC_NEEDS,
    "agentchat._fanout",
    "agentchat._tools._runner",
    "agentchat._convert",
    "anyio",
)


def _loaded(statement: str) -> set[str]:
    probe = (
        f"import sys\n{statement}\nprint(' '.join(m for m in {FIRST_USE!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        ("from agentchat import AsyncAgentClient", ()),
        ("from agentchat import AsyncInferenceClient, AsyncOpenAICompatibleClient", ()),
        ("from agentchat import AgentClient", SYNC_NEEDS),
    ],
)
def test_a_client_import_leaves_first_use_modules_alone(
    statement: str, allowed: tuple[str, ...]
) -> None:
    assert _loaded(statement) <= set(allowed)


def test_every_model_is_still_exported() -> None:
    # Exported lazily by agentchat._models (and so by agentchat): the classes of their modules.
    loaded = _loaded(
        "import agentchat, agentchat._models as models, importlib\n"
        "for name, module in models._MODULES.items():\n"
        "    cls = getattr(importlib.import_module(f'agentchat._models.{module}'), name)\n"
        "    assert getattr(models, name) is cls and getattr(agentchat, name) is cls, name\n"
        "assert sorted(models._MODULES) == sorted(set(models.__all__) - {'Model'})\n"
        "from agentchat._models import ChatCompletion, Usage\n"
        "assert ChatCompletion.from_dict({'choices': []}).choices == ()"
    )
    assert {"agentchat._models._completion", "agentchat._models._chunk"} <= loaded


def test_the_chunk_classes_are_still_exported() -> None:
    # Exported lazily by agentchat._models (and so by agentchat): the same classes.
    loaded = _loaded(
        "from agentchat import ChatCompletionChunk, ChoiceDelta\n"
        "from agentchat._models import ChunkChoice, ToolCallDelta\n"
        "from agentchat._models._chunk import ChatCompletionChunk as Chunk\n"
        "assert ChatCompletionChunk is Chunk"
    )
    assert "agentchat._models._chunk" in loaded
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        import agentchat._models as models

        models.Nothing  # noqa: B018
