"""``client.agent`` and ``client.agent.chat``: the namespaces that lead to completions,
named as in pydo so code moves over by changing the import."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._completions import AsyncCompletions

if TYPE_CHECKING:
    from .._client import _AsyncClient

__all__ = ["AsyncAgent", "AsyncChat"]


class AsyncChat:
    """``client.agent.chat``."""

    def __init__(self, client: _AsyncClient) -> None:
        self.completions = AsyncCompletions(client)
        """The agent's chat completions: ``create()``, ``create_many()``, ``create_all()``
        and ``run_tools()``."""


class AsyncAgent:
    """``client.agent``: the operations of one agent endpoint."""

    def __init__(self, client: _AsyncClient) -> None:
        self.chat = AsyncChat(client)
        """``client.agent.chat``, which holds ``completions``."""
