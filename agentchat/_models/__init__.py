"""The attrs models of requests and responses (frozen, slotted; unknown fields in ``extra``).

The stream chunk classes are imported on first use (``__getattr__``): a program that makes
plain calls only does not pay for creating them at import.
"""

from typing import TYPE_CHECKING, Any

from ._agent_info import (
    FunctionsInfo,
    GuardrailsInfo,
    RetrievalInfo,
    RetrievedData,
    TriggeredGuardrail,
)
from ._base import Model
from ._completion import (
    CacheCreation,
    ChatCompletion,
    Choice,
    ChoiceLogprobs,
    CompletionTokensDetails,
    PromptTokensDetails,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from ._messages import ChatMessage, FunctionCall, ToolCall
from ._options import KBFilter, StreamOptions
from ._tools import FunctionDefinition, NamedToolChoice, Tool, ToolChoiceFunction

__all__ = [
    "CacheCreation",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "Choice",
    "ChoiceDelta",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionsInfo",
    "GuardrailsInfo",
    "KBFilter",
    "Model",
    "NamedToolChoice",
    "PromptTokensDetails",
    "RetrievalInfo",
    "RetrievedData",
    "StreamOptions",
    "TokenLogprob",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoiceFunction",
    "TopLogprob",
    "TriggeredGuardrail",
    "Usage",
]

if TYPE_CHECKING:
    from ._chunk import ChatCompletionChunk, ChoiceDelta, ChunkChoice, ToolCallDelta

_CHUNK_CLASSES = frozenset({"ChatCompletionChunk", "ChoiceDelta", "ChunkChoice", "ToolCallDelta"})


def __getattr__(name: str) -> Any:
    if name in _CHUNK_CLASSES:
        from . import _chunk

        return getattr(_chunk, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
