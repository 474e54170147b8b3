"""Turn streamed chunks back into the ``ChatCompletion`` a non-streamed call would return.

Fragments are appended to lists as they arrive and joined once, when a snapshot is taken, so
accumulating a stream is linear in its size: nothing is re-joined or re-serialised per chunk.
"""

from __future__ import annotations

from typing import Any

from ._models._agent_info import FunctionsInfo, GuardrailsInfo, RetrievalInfo
from ._models._base import EMPTY_EXTRA
from ._models._chunk import ChatCompletionChunk
from ._models._completion import ChatCompletion, Choice, ChoiceLogprobs, TokenLogprob, Usage
from ._models._messages import ChatMessage, FunctionCall, ToolCall

__all__ = ["CompletionAccumulator"]


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

    Per choice (choices may interleave when ``n > 1``): the first role, content, reasoning and
    refusal text joined, tool calls merged by their ``index`` (id and type from the first
    fragment that has them, name and argument fragments concatenated), the last
    ``finish_reason``, and logprob entries concatenated. Usage is the last usage seen (a server
    may send one per choice); ``id``, ``model``, ``created`` and the agent extras likewise.
    Unknown top-level fields of the chunks are merged into ``extra``.
    """

    __slots__ = (
        "_choices",
        "_extra",
        "created",
        "functions",
        "guardrails",
        "id",
        "model",
        "retrieval",
        "system_fingerprint",
        "usage",
    )

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._extra: dict[str, Any] = {}
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.system_fingerprint: str | None = None
        self.usage: Usage | None = None
        self.retrieval: RetrievalInfo | None = None
        self.functions: FunctionsInfo | None = None
        self.guardrails: GuardrailsInfo | None = None

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Fold one chunk in: constant work per fragment."""
        if self.id is None:
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        if chunk.system_fingerprint is not None:
            self.system_fingerprint = chunk.system_fingerprint
        if chunk.usage is not None:
            self.usage = chunk.usage
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
            state = choices.get(index)
            if state is None:
                state = choices[index] = _ChoiceState()
            delta = choice.delta
            if delta.content is not None:
                state.content.append(delta.content)
            if delta.reasoning_content is not None:
                state.reasoning.append(delta.reasoning_content)
            if delta.refusal is not None:
                state.refusal.append(delta.refusal)
            if delta.role is not None and state.role is None:
                state.role = delta.role
            if delta.tool_calls:
                for fragment in delta.tool_calls:
                    call = state.tool_calls.get(fragment.index or 0)
                    if call is None:
                        call = state.tool_calls[fragment.index or 0] = _ToolCallState()
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
            logprobs = choice.logprobs
            if logprobs is not None:
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


def _join(parts: list[str]) -> str | None:
    return "".join(parts) if parts else None


def _tuple(items: list[TokenLogprob] | None) -> tuple[TokenLogprob, ...] | None:
    return tuple(items) if items is not None else None
