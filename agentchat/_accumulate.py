"""Turn streamed chunks back into the ``ChatCompletion`` a non-streamed call would return.

Fragments are appended to lists as they arrive and joined once, when a snapshot is taken, so
accumulating a stream is linear in its size: nothing is re-joined or re-serialised per chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ._models._agent_info import FunctionsInfo, GuardrailsInfo, RetrievalInfo
from ._models._base import EMPTY_EXTRA
from ._models._chunk import ChatCompletionChunk
from ._models._completion import (
    ChatCompletion,
    Choice,
    ChoiceLogprobs,
    CompletionTokensDetails,
    TokenLogprob,
    Usage,
)
from ._models._messages import ChatMessage, FunctionCall, ToolCall

__all__ = ["CompletionAccumulator", "per_choice_total"]

_T = TypeVar("_T")


class _ToolCallState:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self) -> None:
        self.id: str | None = None
        self.type: str | None = None
        self.name: list[str] = []
        self.arguments: list[str] = []

    def build(self) -> ToolCall:
        return ToolCall(
            id=self.id,
            type=self.type or "function",
            function=FunctionCall(name=_join(self.name), arguments="".join(self.arguments)),
        )


class _ChoiceState:
    __slots__ = (
        "content",
        "content_logprobs",
        "finish_reason",
        "reasoning",
        "refusal",
        "refusal_logprobs",
        "role",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, _ToolCallState] = {}
        self.finish_reason: str | None = None
        self.content_logprobs: list[TokenLogprob] | None = None
        self.refusal_logprobs: list[TokenLogprob] | None = None

    def build(self, index: int) -> Choice:
        tool_calls = None
        if self.tool_calls:
            tool_calls = tuple(self.tool_calls[i].build() for i in sorted(self.tool_calls))
        logprobs = None
        if self.content_logprobs is not None or self.refusal_logprobs is not None:
            logprobs = ChoiceLogprobs(
                content=_tuple(self.content_logprobs), refusal=_tuple(self.refusal_logprobs)
            )
        message = ChatMessage(
            role=self.role or "assistant",
            content=_join(self.content),
            reasoning_content=_join(self.reasoning),
            refusal=_join(self.refusal),
            tool_calls=tool_calls,
        )
        return Choice(
            index=index, message=message, finish_reason=self.finish_reason, logprobs=logprobs
        )


class CompletionAccumulator:
    """Collects chunks; :meth:`snapshot` builds the completion they add up to so far.

    Per choice (choices may interleave when ``n > 1``): the first role; content, reasoning and
    refusal text joined (reasoning from ``reasoning_content``, or from ``reasoning``, the name
    vLLM, Ollama and OpenRouter use, in a delta without ``reasoning_content``); tool calls
    merged by their ``index`` (id and type from the first fragment that has them, name and
    argument fragments concatenated; a fragment without an ``index`` continues the latest
    call, unless its ``id`` is another call's); the last ``finish_reason``; logprob entries
    concatenated. ``id``, ``model`` and ``created`` come from the first chunk, the fingerprint
    and the agent extras from the last that has them. Unknown top-level fields of the chunks
    are merged into ``extra``.

    Usage: the chunk with empty ``choices`` that ``stream_options.include_usage`` adds carries
    it. One such chunk (OpenAI, vLLM, Ollama, DigitalOcean) is the usage. Several, in a
    stream of more than one choice, are llama.cpp's: it sends one per choice, right after
    that choice finishes, each counting the prompt and *that choice's* completion tokens
    only (each choice is a task of its own on the server), so they add up: the prompt once
    (the largest of their counts), the completion tokens summed, the total the two together
    (see :func:`per_choice_total`). Several in a one-choice stream are repeats: the last wins.
    With no such chunk, the last usage carried by a chunk with choices (vLLM's
    ``continuous_usage_stats``, cumulative) is the usage; ``"usage": null`` counts for
    nothing.
    """

    __slots__ = (
        "_choices",
        "_extra",
        "_running_usage",
        "_usages",
        "created",
        "functions",
        "guardrails",
        "id",
        "model",
        "retrieval",
        "system_fingerprint",
    )

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._extra: dict[str, Any] = {}
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.system_fingerprint: str | None = None
        self._usages: list[Usage] = []  # of the usage chunks (empty choices), in order
        self._running_usage: Usage | None = None  # the last one on a chunk with choices
        self.retrieval: RetrievalInfo | None = None
        self.functions: FunctionsInfo | None = None
        self.guardrails: GuardrailsInfo | None = None

    @property
    def usage(self) -> Usage | None:
        """The usage of the chunks so far, by the rule in the class docstring."""
        usages = self._usages
        if not usages:
            return self._running_usage
        if len(usages) == 1 or len(self._choices) < 2:
            return usages[-1]
        return per_choice_total(usages)

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Fold one chunk in: constant work per fragment."""
        if self.id is None:
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        if chunk.system_fingerprint is not None:
            self.system_fingerprint = chunk.system_fingerprint
        if chunk.usage is not None:
            if chunk.choices:
                self._running_usage = chunk.usage
            else:
                self._usages.append(chunk.usage)
        if chunk.retrieval is not None:
            self.retrieval = chunk.retrieval
        if chunk.functions is not None:
            self.functions = chunk.functions
        if chunk.guardrails is not None:
            self.guardrails = chunk.guardrails
        if chunk.extra is not EMPTY_EXTRA:
            self._extra.update(chunk.extra)
        choices = self._choices
        for choice in chunk.choices:
            index = choice.index or 0
            try:
                state = choices[index]
            except KeyError:
                state = choices[index] = _ChoiceState()
            delta = choice.delta
            if delta.content is not None:
                state.content.append(delta.content)
            if delta.reasoning_content is not None:
                state.reasoning.append(delta.reasoning_content)
            elif delta.extra is not EMPTY_EXTRA:  # unknown fields: vLLM's "reasoning"?
                _other_reasoning(state, delta.extra)
            if delta.refusal is not None:
                state.refusal.append(delta.refusal)
            if delta.role is not None and state.role is None:
                state.role = delta.role
            if delta.tool_calls is not None:  # (an empty tuple loops zero times)
                calls = state.tool_calls
                for fragment in delta.tool_calls:
                    position = fragment.index
                    if position is None:
                        position = _position_of(calls, fragment.id)
                    call = calls.get(position)
                    if call is None:
                        call = calls[position] = _ToolCallState()
                    if fragment.id is not None and call.id is None:
                        call.id = fragment.id
                    if fragment.type is not None and call.type is None:
                        call.type = fragment.type
                    function = fragment.function
                    if function is not None:
                        if function.name:
                            call.name.append(function.name)
                        if function.arguments:
                            call.arguments.append(function.arguments)
            if choice.finish_reason is not None:
                state.finish_reason = choice.finish_reason
            if choice.logprobs is not None:
                logprobs = choice.logprobs
                if logprobs.content is not None:
                    if state.content_logprobs is None:
                        state.content_logprobs = []
                    state.content_logprobs.extend(logprobs.content)
                if logprobs.refusal is not None:
                    if state.refusal_logprobs is None:
                        state.refusal_logprobs = []
                    state.refusal_logprobs.extend(logprobs.refusal)

    def snapshot(self) -> ChatCompletion:
        """The completion the chunks so far add up to (linear in what has arrived)."""
        return ChatCompletion(
            id=self.id,
            object="chat.completion",
            created=self.created,
            model=self.model,
            choices=tuple(self._choices[i].build(i) for i in sorted(self._choices)),
            usage=self.usage,
            system_fingerprint=self.system_fingerprint,
            retrieval=self.retrieval,
            functions=self.functions,
            guardrails=self.guardrails,
            extra=dict(self._extra) if self._extra else EMPTY_EXTRA,
        )


def per_choice_total(usages: list[Usage]) -> Usage:
    """The usage of a request from the usages of its choices, each counting the prompt and
    its own completion (llama.cpp's per-choice usage chunks): the prompt counted once (the
    largest count given), completion tokens and their details summed, and the total the two
    together. The prompt's cache counts and details are the largest (or the last) given;
    unknown fields are those of the last usage."""
    prompt = _largest([u.prompt_tokens for u in usages])
    completion = _sum([u.completion_tokens for u in usages])
    if prompt is not None and completion is not None:
        total: int | None = prompt + completion
    else:  # the totals of usages without a prompt count are completion counts
        total = _sum([u.total_tokens for u in usages])
    details = [u.completion_tokens_details for u in usages if u.completion_tokens_details]
    completion_details = None
    if details:
        completion_details = CompletionTokensDetails(
            reasoning_tokens=_sum([d.reasoning_tokens for d in details]),
            audio_tokens=_sum([d.audio_tokens for d in details]),
            accepted_prediction_tokens=_sum([d.accepted_prediction_tokens for d in details]),
            rejected_prediction_tokens=_sum([d.rejected_prediction_tokens for d in details]),
        )
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cache_created_input_tokens=_largest([u.cache_created_input_tokens for u in usages]),
        cache_read_input_tokens=_largest([u.cache_read_input_tokens for u in usages]),
        cache_creation=_last([u.cache_creation for u in usages]),
        prompt_tokens_details=_last([u.prompt_tokens_details for u in usages]),
        completion_tokens_details=completion_details,
        extra=usages[-1].extra,
    )


def _other_reasoning(state: _ChoiceState, extra: Mapping[str, Any]) -> None:
    """Reasoning text under the name vLLM, Ollama and OpenRouter use, ``reasoning``."""
    text = extra.get("reasoning")
    if type(text) is str:
        state.reasoning.append(text)


def _position_of(calls: dict[int, _ToolCallState], call_id: str | None) -> int:
    """Where a tool-call fragment without an ``index`` goes (some servers leave it out): to
    the latest call, unless it names another call's ``id`` (a new call); 0 for the first."""
    if not calls:
        return 0
    latest = max(calls)
    if call_id is not None:
        for position, call in calls.items():
            if call.id == call_id:
                return position
        if calls[latest].id is not None:
            return latest + 1
    return latest


def _largest(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _sum(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _last(values: list[_T | None]) -> _T | None:
    for value in reversed(values):
        if value is not None:
            return value
    return None


def _join(parts: list[str]) -> str | None:
    return "".join(parts) if parts else None


def _tuple(items: list[TokenLogprob] | None) -> tuple[TokenLogprob, ...] | None:
    return tuple(items) if items is not None else None
