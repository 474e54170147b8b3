"""The request fields of ``chat.completions.create`` as types: for the method's overloads and
for callers who build requests as dicts (batch jobs, fan-out)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict

from ._models._messages import ChatMessage, FunctionCall, ToolCall
from ._models._options import KBFilter, StreamOptions
from ._models._tools import NamedToolChoice, Tool
from ._timeouts import Timeout

__all__ = [
    "AGENT_FIELDS",
    "AssistantMessageParam",
    "ChatCompletionCreateParams",
    "CompletionCreateParams",
    "DeveloperMessageParam",
    "FunctionCallParam",
    "MessageParam",
    "ReasoningEffort",
    "RetrievalMethod",
    "Role",
    "SystemMessageParam",
    "ToolCallParam",
    "ToolChoiceParam",
    "ToolMessageParam",
    "ToolParam",
    "UserMessageParam",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]

# -- messages -------------------------------------------------------------------------------
# One TypedDict per role, with the fields the spec gives that role (``ChatMessage`` in
# spec/agent-inference.openapi.yaml: refusal, reasoning_content and tool_calls are "assistant
# messages only", tool_call_id "tool messages only") plus OpenAI's optional ``name``. A type
# checker then rejects a misspelt key or role in a dict literal; at run time create() rejects
# the same dicts before sending (agentchat/_validate.py keeps the same table). A field
# agentchat does not know yet goes in ``ChatMessage(..., extra={...})``.
# (Required keys in a base class and ``total=False`` for the rest, as in CompletionCreateParams:
# no NotRequired, so nothing beyond ``typing`` is needed at run time on Python 3.10.)


class FunctionCallParam(TypedDict):
    """The function a tool call invokes: its name and its arguments as a JSON string."""

    name: str
    arguments: str


class ToolCallParam(TypedDict):
    """One tool call of an assistant message, as the model sent it."""

    id: str
    type: Literal["function"]
    function: FunctionCallParam | FunctionCall


class _SystemMessage(TypedDict):
    role: Literal["system"]
    content: str


class SystemMessageParam(_SystemMessage, total=False):
    """``{"role": "system", "content": ...}``: instructions for the model."""

    name: str


class _DeveloperMessage(TypedDict):
    role: Literal["developer"]
    content: str


class DeveloperMessageParam(_DeveloperMessage, total=False):
    """``{"role": "developer", "content": ...}``: instructions, for models that take them
    under this role."""

    name: str


class _UserMessage(TypedDict):
    role: Literal["user"]
    content: str


class UserMessageParam(_UserMessage, total=False):
    """``{"role": "user", "content": ...}``."""

    name: str


class _AssistantMessage(TypedDict):
    role: Literal["assistant"]


class AssistantMessageParam(_AssistantMessage, total=False):
    """An earlier answer of the model: its text, or the tool calls it made."""

    content: str | None
    refusal: str | None
    reasoning_content: str | None
    tool_calls: Sequence[ToolCallParam | ToolCall]
    name: str


class ToolMessageParam(TypedDict):
    """The result of a tool call, answering the assistant's call ``tool_call_id``."""

    role: Literal["tool"]
    content: str
    tool_call_id: str


MessageParam = (
    SystemMessageParam
    | DeveloperMessageParam
    | UserMessageParam
    | AssistantMessageParam
    | ToolMessageParam
    | ChatMessage
)
"""A message of ``messages=``: a dict of one of the roles, or a :class:`ChatMessage` of any
role (an assistant message of an earlier answer goes back as it is)."""
ToolParam = Tool | Mapping[str, Any]
ToolChoiceParam = Literal["none", "auto", "required"] | NamedToolChoice | Mapping[str, Any]
KBFilterParam = KBFilter | Mapping[str, Any]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
RetrievalMethod = Literal["rewrite", "step_back", "sub_queries", "none"]


class _RequiredParams(TypedDict):
    messages: Iterable[MessageParam]
    model: str


class ChatCompletionCreateParams(_RequiredParams, total=False):
    """Every keyword of the standard ``create()`` (serverless inference, OpenAI-compatible
    servers) except ``stream``: ``messages`` and ``model`` are required, the rest optional
    (``None`` is the same as leaving a field out)."""

    max_tokens: int | None
    max_completion_tokens: int | None
    frequency_penalty: float | None
    presence_penalty: float | None
    top_logprobs: int | None
    tools: Iterable[ToolParam] | None
    tool_choice: ToolChoiceParam | None
    stop: str | Sequence[str] | None
    logit_bias: Mapping[str, int] | Mapping[int, int] | None
    logprobs: bool | None
    n: int | None
    stream_options: StreamOptions | Mapping[str, Any] | None
    reasoning_effort: ReasoningEffort | None
    seed: int | None
    metadata: Mapping[str, str] | None
    temperature: float | None
    top_p: float | None
    user: str | None
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, str] | None
    extra_body: Mapping[str, Any] | None
    timeout: float | Timeout | None
    max_retries: int | None


class CompletionCreateParams(ChatCompletionCreateParams, total=False):
    """Every keyword of an agent's ``create()`` except ``stream``: the standard ones and the
    agent's own fields."""

    k: int | None
    retrieval_method: RetrievalMethod | None
    kb_filters: Iterable[KBFilterParam] | None
    filter_kb_content_by_query_metadata: bool | None
    instruction_override: str | None
    include_functions_info: bool | None
    include_retrieval_info: bool | None
    include_guardrails_info: bool | None
    provide_citations: bool | None


#: The request fields only DigitalOcean agent endpoints take.
AGENT_FIELDS = frozenset(CompletionCreateParams.__annotations__) - frozenset(
    ChatCompletionCreateParams.__annotations__
)
