"""agentchat: an async-first client for hosted AI agents that speak the OpenAI
chat-completions wire format: DigitalOcean agent endpoints first, DigitalOcean serverless
inference (``AsyncInferenceClient``) and any OpenAI-compatible server
(``AsyncOpenAICompatibleClient``: llama.cpp, vLLM, Ollama, ...) with the same code.

    from agentchat import AsyncAgentClient

    async with AsyncAgentClient() as client:    # $AGENT_ACCESS_KEY, $AGENT_ENDPOINT
        completion = await client.agent.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}]
        )

    with AgentClient() as client:               # the same, blocking
        completion = client.agent.chat.completions.create(...)

Names are imported on first use, so ``import agentchat`` stays cheap until a client is made.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._batch import BatchInputError, BatchReport, BatchStoppedError, run_batch
    from ._client import AsyncAgentClient, AsyncInferenceClient, AsyncOpenAICompatibleClient
    from ._errors import (
        AgentChatError,
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APIStreamError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConflictError,
        IncompleteStreamError,
        InternalServerError,
        InvalidRequestError,
        NotFoundError,
        PermissionDeniedError,
        PoolTimeoutError,
        RateLimitError,
        StreamClosedError,
        StreamConsumedError,
        UnprocessableEntityError,
    )
    from ._fanout import AsyncFanOut, Outcome, Progress, Request
    from ._models import (
        CacheCreation,
        ChatCompletion,
        ChatCompletionChunk,
        ChatMessage,
        Choice,
        ChoiceDelta,
        ChoiceLogprobs,
        ChunkChoice,
        CompletionTokensDetails,
        FunctionCall,
        FunctionDefinition,
        FunctionsInfo,
        GuardrailsInfo,
        KBFilter,
        Model,
        NamedToolChoice,
        PromptTokensDetails,
        RetrievalInfo,
        RetrievedData,
        StreamOptions,
        TokenLogprob,
        Tool,
        ToolCall,
        ToolCallDelta,
        ToolChoiceFunction,
        TopLogprob,
        TriggeredGuardrail,
        Usage,
    )
    from ._params import (
        AssistantMessageParam,
        ChatCompletionCreateParams,
        CompletionCreateParams,
        DeveloperMessageParam,
        FunctionCallParam,
        MessageParam,
        SystemMessageParam,
        ToolCallParam,
        ToolMessageParam,
        UserMessageParam,
    )
    from ._response import RateLimit, RateLimitBucket, ResponseInfo
    from ._streaming import AsyncStream
    from ._sync import (
        AgentClient,
        FanOut,
        InferenceClient,
        OpenAICompatibleClient,
        Stream,
        ToolRun,
    )
    from ._sync import AgentClient as Client  # pydo's name: code moves over by its import
    from ._timeouts import Timeout
    from ._tools import FunctionTool, ToolArgumentsError, ToolDefinitionError, function_tool
    from ._tools._runner import (
        AsyncToolRun,
        ErrorText,
        RoundEnd,
        TextDelta,
        ToolCallEvent,
        ToolCallRecord,
        ToolError,
        ToolLike,
        ToolResultEvent,
        ToolRound,
        ToolRoundLimitError,
        ToolRunEvent,
        ToolRunResult,
        UnknownToolError,
    )

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AgentChatError",
    "AgentClient",
    "AssistantMessageParam",
    "AsyncAgentClient",
    "AsyncFanOut",
    "AsyncInferenceClient",
    "AsyncOpenAICompatibleClient",
    "AsyncStream",
    "AsyncToolRun",
    "AuthenticationError",
    "BadRequestError",
    "BatchInputError",
    "BatchReport",
    "BatchStoppedError",
    "CacheCreation",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionCreateParams",
    "ChatMessage",
    "Choice",
    "ChoiceDelta",
    "ChoiceLogprobs",
    "ChunkChoice",
    "Client",
    "CompletionCreateParams",
    "CompletionTokensDetails",
    "ConfigurationError",
    "ConflictError",
    "DeveloperMessageParam",
    "ErrorText",
    "FanOut",
    "FunctionCall",
    "FunctionCallParam",
    "FunctionDefinition",
    "FunctionTool",
    "FunctionsInfo",
    "GuardrailsInfo",
    "IncompleteStreamError",
    "InferenceClient",
    "InternalServerError",
    "InvalidRequestError",
    "KBFilter",
    "MessageParam",
    "Model",
    "NamedToolChoice",
    "NotFoundError",
    "OpenAICompatibleClient",
    "Outcome",
    "PermissionDeniedError",
    "PoolTimeoutError",
    "Progress",
    "PromptTokensDetails",
    "RateLimit",
    "RateLimitBucket",
    "RateLimitError",
    "Request",
    "ResponseInfo",
    "RetrievalInfo",
    "RetrievedData",
    "RoundEnd",
    "Stream",
    "StreamClosedError",
    "StreamConsumedError",
    "StreamOptions",
    "SystemMessageParam",
    "TextDelta",
    "Timeout",
    "TokenLogprob",
    "Tool",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEvent",
    "ToolCallParam",
    "ToolCallRecord",
    "ToolChoiceFunction",
    "ToolDefinitionError",
    "ToolError",
    "ToolLike",
    "ToolMessageParam",
    "ToolResultEvent",
    "ToolRound",
    "ToolRoundLimitError",
    "ToolRun",
    "ToolRunEvent",
    "ToolRunResult",
    "TopLogprob",
    "TriggeredGuardrail",
    "UnknownToolError",
    "UnprocessableEntityError",
    "Usage",
    "UserMessageParam",
    "__version__",
    "function_tool",
    "run_batch",
]

# Public name -> the private module that defines it (imported on first access).
_EXPORTS = {
    "APIConnectionError": "._errors",
    "APIError": "._errors",
    "APIResponseValidationError": "._errors",
    "APIStatusError": "._errors",
    "APIStreamError": "._errors",
    "APITimeoutError": "._errors",
    "AgentChatError": "._errors",
    "AgentClient": "._sync",
    "AsyncAgentClient": "._client",
    "AsyncInferenceClient": "._client",
    "AsyncOpenAICompatibleClient": "._client",
    "InferenceClient": "._sync",
    "OpenAICompatibleClient": "._sync",
    "ChatCompletionCreateParams": "._params",
    "AsyncFanOut": "._fanout",
    "AsyncStream": "._streaming",
    "AuthenticationError": "._errors",
    "BadRequestError": "._errors",
    "BatchInputError": "._batch",
    "BatchReport": "._batch",
    "BatchStoppedError": "._batch",
    "CacheCreation": "._models",
    "ChatCompletion": "._models",
    "ChatCompletionChunk": "._models",
    "ChatMessage": "._models",
    "Choice": "._models",
    "ChoiceDelta": "._models",
    "ChoiceLogprobs": "._models",
    "ChunkChoice": "._models",
    "Client": "._sync",  # pydo's name for AgentClient (_ALIASES)
    "CompletionCreateParams": "._params",
    "CompletionTokensDetails": "._models",
    "ConfigurationError": "._errors",
    "ConflictError": "._errors",
    "FanOut": "._sync",
    "FunctionCall": "._models",
    "FunctionDefinition": "._models",
    "FunctionsInfo": "._models",
    "GuardrailsInfo": "._models",
    "IncompleteStreamError": "._errors",
    "PoolTimeoutError": "._errors",
    "InternalServerError": "._errors",
    "InvalidRequestError": "._errors",
    "KBFilter": "._models",
    "Model": "._models",
    "NamedToolChoice": "._models",
    "NotFoundError": "._errors",
    "Outcome": "._fanout",
    "PermissionDeniedError": "._errors",
    "Progress": "._fanout",
    "PromptTokensDetails": "._models",
    "RateLimit": "._response",
    "RateLimitBucket": "._response",
    "RateLimitError": "._errors",
    "Request": "._fanout",
    "ResponseInfo": "._response",
    "RetrievalInfo": "._models",
    "RetrievedData": "._models",
    "Stream": "._sync",
    "StreamClosedError": "._errors",
    "StreamConsumedError": "._errors",
    "StreamOptions": "._models",
    "Timeout": "._timeouts",
    "TokenLogprob": "._models",
    "Tool": "._models",
    "ToolCall": "._models",
    "ToolCallDelta": "._models",
    "ToolChoiceFunction": "._models",
    "TopLogprob": "._models",
    "TriggeredGuardrail": "._models",
    "UnprocessableEntityError": "._errors",
    "Usage": "._models",
    "run_batch": "._batch",
    "AssistantMessageParam": "._params",
    "DeveloperMessageParam": "._params",
    "FunctionCallParam": "._params",
    "MessageParam": "._params",
    "SystemMessageParam": "._params",
    "ToolCallParam": "._params",
    "ToolMessageParam": "._params",
    "UserMessageParam": "._params",
    "FunctionTool": "._tools",
    "ToolArgumentsError": "._tools",
    "ToolDefinitionError": "._tools",
    "function_tool": "._tools",
    "AsyncToolRun": "._tools._runner",
    "ErrorText": "._tools._runner",
    "RoundEnd": "._tools._runner",
    "TextDelta": "._tools._runner",
    "ToolCallEvent": "._tools._runner",
    "ToolCallRecord": "._tools._runner",
    "ToolError": "._tools._runner",
    "ToolLike": "._tools._runner",
    "ToolResultEvent": "._tools._runner",
    "ToolRound": "._tools._runner",
    "ToolRoundLimitError": "._tools._runner",
    "ToolRunEvent": "._tools._runner",
    "ToolRunResult": "._tools._runner",
    "UnknownToolError": "._tools._runner",
    "ToolRun": "._sync",
}


# Public names that are another name's object: pydo's ``Client`` is the blocking AgentClient.
_ALIASES = {"Client": "AgentClient"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentchat' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), _ALIASES.get(name, name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
