"""The sync facade, generated from the async core by ``scripts/generate_sync.py``."""

from ._client import (
    Agent,
    AgentClient,
    Chat,
    Completions,
    FanOut,
    InferenceClient,
    OpenAICompatibleClient,
    StandardChat,
    StandardCompletions,
    Stream,
    ToolRun,
)

__all__ = [
    "Agent",
    "AgentClient",
    "Chat",
    "Completions",
    "FanOut",
    "InferenceClient",
    "OpenAICompatibleClient",
    "StandardChat",
    "StandardCompletions",
    "Stream",
    "ToolRun",
]
