"""The resource trees under the clients: ``agent.chat.completions`` (agent endpoints) and
``chat.completions`` (serverless inference, OpenAI-compatible servers)."""

from ._agent import AsyncAgent, AsyncChat
from ._chat import AsyncStandardChat
from ._completions import AsyncCompletions, AsyncStandardCompletions

__all__ = [
    "AsyncAgent",
    "AsyncChat",
    "AsyncCompletions",
    "AsyncStandardChat",
    "AsyncStandardCompletions",
]
