"""The attrs models of requests and responses (frozen, slotted; unknown fields in ``extra``)."""

from ._agent_info import (
    FunctionsInfo,
    GuardrailsInfo,
    RetrievalInfo,
    RetrievedData,
    TriggeredGuardrail,
)
from ._base import Model
from ._chunk import ChatCompletionChunk, ChoiceDelta, ChunkChoice, ToolCallDelta
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
