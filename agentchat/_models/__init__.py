"""The attrs models of requests and responses (frozen, slotted; unknown fields in ``extra``).

Each class's module is imported on first use (``__getattr__``): creating attrs classes is most
of agentchat's import time, and a client needs the models only once it makes a call (the
stream chunk classes only once it streams).
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._base import Model

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
    from ._agent_info import (
        FunctionsInfo,
        GuardrailsInfo,
        RetrievalInfo,
        RetrievedData,
        TriggeredGuardrail,
    )
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

#: The submodule of each class, imported on first use.
_MODULES = {
    **dict.fromkeys(
        ("FunctionsInfo", "GuardrailsInfo", "RetrievalInfo", "RetrievedData", "TriggeredGuardrail"),
        "_agent_info",
    ),
    **dict.fromkeys(
        ("ChatCompletionChunk", "ChoiceDelta", "ChunkChoice", "ToolCallDelta"), "_chunk"
    ),
    **dict.fromkeys(
        (
            "CacheCreation",
            "ChatCompletion",
            "Choice",
            "ChoiceLogprobs",
            "CompletionTokensDetails",
            "PromptTokensDetails",
            "TokenLogprob",
            "TopLogprob",
            "Usage",
        ),
        "_completion",
    ),
    **dict.fromkeys(("ChatMessage", "FunctionCall", "ToolCall"), "_messages"),
    **dict.fromkeys(("KBFilter", "StreamOptions"), "_options"),
    **dict.fromkeys(
        ("FunctionDefinition", "NamedToolChoice", "Tool", "ToolChoiceFunction"), "_tools"
    ),
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found directly from now on
    return value
