"""``client.chat``: the namespace that leads to the standard completions of the serverless
inference and OpenAI-compatible clients, named as in pydo and the openai SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._completions import AsyncStandardCompletions

if TYPE_CHECKING:
    from .._client import _AsyncClient

__all__ = ["AsyncStandardChat"]


class AsyncStandardChat:
    """``client.chat`` of :class:`~agentchat.AsyncInferenceClient` and
    :class:`~agentchat.AsyncOpenAICompatibleClient`."""

    def __init__(self, client: _AsyncClient) -> None:
        self.completions = AsyncStandardCompletions(client)
        """The standard chat completions: ``create()``, ``create_many()``, ``create_all()``
        and ``run_tools()``."""
