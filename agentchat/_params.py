"""The request fields of ``chat.completions.create`` as types: for the method's overloads and
for callers who build requests as dicts (batch jobs, fan-out)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict

from ._models._messages import ChatMessage
from ._models._options import KBFilter, StreamOptions
from ._models._tools import NamedToolChoice, Tool
from ._timeouts import Timeout

__all__ = [
    "CompletionCreateParams",
    "MessageParam",
    "ReasoningEffort",
    "RetrievalMethod",
    "ToolChoiceParam",
    "ToolParam",
]

MessageParam = ChatMessage | Mapping[str, Any]
ToolParam = Tool | Mapping[str, Any]
ToolChoiceParam = Literal["none", "auto", "required"] | NamedToolChoice | Mapping[str, Any]
KBFilterParam = KBFilter | Mapping[str, Any]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
RetrievalMethod = Literal["rewrite", "step_back", "sub_queries", "none"]


class _RequiredParams(TypedDict):
    messages: Iterable[MessageParam]
    model: str


class CompletionCreateParams(_RequiredParams, total=False):
    """Every keyword of ``create()`` except ``stream``: ``messages`` and ``model`` are
    required, the rest optional (``None`` is the same as leaving a field out)."""

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
    k: int | None
    retrieval_method: RetrievalMethod | None
    kb_filters: Iterable[KBFilterParam] | None
    filter_kb_content_by_query_metadata: bool | None
    instruction_override: str | None
    include_functions_info: bool | None
    include_retrieval_info: bool | None
    include_guardrails_info: bool | None
    provide_citations: bool | None
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, str] | None
    extra_body: Mapping[str, Any] | None
    timeout: float | Timeout | None
    max_retries: int | None
