"""The resource tree under the client: ``agent.chat.completions``."""

from ._agent import AsyncAgent, AsyncChat
from ._completions import AsyncCompletions

__all__ = ["AsyncAgent", "AsyncChat", "AsyncCompletions"]
