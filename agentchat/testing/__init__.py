"""Test helpers: a fake agent endpoint on 127.0.0.1 that users can test their own code against.

    from agentchat.testing import FakeAgentServer

``ScriptedResponse``, ``ScriptedStream``, ``ScriptedReply`` and ``ScriptedError`` are the
answers the scripting methods queue (``server.respond()``, ``server.stream()``,
``server.reply()``, ``server.error()``...; build them yourself for ``server.enqueue()``);
``ScriptedToolCall`` is a call a reply makes; ``RecordedRequest`` is what ``server.requests``
holds; ``FakeAgentClients`` is the client factory of the pytest plugin's
``fake_agent_clients`` fixture.

The pytest plugin (``agentchat.testing._pytest_plugin``, registered as ``agentchat``) is
loaded by pytest wherever agentchat is installed. Names are imported on first use, so that
loading it does not import aiohttp.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clients import FakeAgentClients
    from ._server import (
        FakeAgentServer,
        RecordedRequest,
        ScriptedError,
        ScriptedReply,
        ScriptedResponse,
        ScriptedStream,
        ScriptedToolCall,
    )

__all__ = [
    "FakeAgentClients",
    "FakeAgentServer",
    "RecordedRequest",
    "ScriptedError",
    "ScriptedReply",
    "ScriptedResponse",
    "ScriptedStream",
    "ScriptedToolCall",
]

_MODULES = dict.fromkeys(__all__, "._server") | {"FakeAgentClients": "._clients"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
