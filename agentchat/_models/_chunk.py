"""The streamed answer: ``chat.completion.chunk`` events and the deltas inside them.

As with completions, every field is optional (``None`` when absent) except ``choices``, which
is a tuple (empty for the usage chunk ``stream_options.include_usage`` adds), and
``ChunkChoice.delta``, an empty :class:`ChoiceDelta` when absent.
"""

from __future__ import annotations

import attrs

from ._agent_info import FunctionsInfo, GuardrailsInfo, RetrievalInfo
from ._base import Model
from ._completion import ChoiceLogprobs, Usage
from ._messages import FunctionCall

__all__ = ["ChatCompletionChunk", "ChoiceDelta", "ChunkChoice", "ToolCallDelta"]


@attrs.frozen(kw_only=True)
class ToolCallDelta(Model):
    """A fragment of a tool call. Fragments with the same ``index`` belong to one call: the
    first usually carries ``id`` and the function name, later ones pieces of the arguments."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None


@attrs.frozen(kw_only=True)
class ChoiceDelta(Model):
    """What one chunk adds to a choice's message."""

    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] | None = None


@attrs.frozen(kw_only=True)
class ChunkChoice(Model):
    """One choice's part of a chunk; ``finish_reason`` is set on its last chunk."""

    index: int | None = None
    delta: ChoiceDelta = attrs.field(factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


@attrs.frozen(kw_only=True)
class ChatCompletionChunk(Model):
    """A ``chat.completion.chunk``: one event of a streamed answer."""

    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: tuple[ChunkChoice, ...] = ()
    usage: Usage | None = None
    system_fingerprint: str | None = None
    retrieval: RetrievalInfo | None = None
    functions: FunctionsInfo | None = None
    guardrails: GuardrailsInfo | None = None
