"""The non-streamed answer: ``chat.completion`` and everything inside it.

Fields the spec calls required may be missing from real responses (DigitalOcean's own
example omits several): every field is optional and becomes ``None`` when absent, with two
exceptions that keep the common path free of ``None`` checks: ``ChatCompletion.choices`` (a
body without a ``choices`` list is not a completion and raises
:class:`~agentchat.APIResponseValidationError`) and ``Choice.message`` (an empty
:class:`ChatMessage` when absent).
"""

from __future__ import annotations

import attrs

from .._response import ResponseInfo
from ._agent_info import FunctionsInfo, GuardrailsInfo, RetrievalInfo
from ._base import Model
from ._messages import ChatMessage

__all__ = [
    "CacheCreation",
    "ChatCompletion",
    "Choice",
    "ChoiceLogprobs",
    "CompletionTokensDetails",
    "PromptTokensDetails",
    "TokenLogprob",
    "TopLogprob",
    "Usage",
]


@attrs.frozen(kw_only=True)
class TopLogprob(Model):
    """One of the most likely tokens at a position, with its log probability."""

    token: str | None = None
    logprob: float | None = None
    bytes: tuple[int, ...] | None = None


@attrs.frozen(kw_only=True)
class TokenLogprob(Model):
    """A generated token, its log probability, and the most likely alternatives."""

    token: str | None = None
    logprob: float | None = None
    bytes: tuple[int, ...] | None = None
    top_logprobs: tuple[TopLogprob, ...] | None = None


@attrs.frozen(kw_only=True)
class ChoiceLogprobs(Model):
    """Log probabilities of a choice's content and refusal tokens."""

    content: tuple[TokenLogprob, ...] | None = None
    refusal: tuple[TokenLogprob, ...] | None = None


@attrs.frozen(kw_only=True)
class Choice(Model):
    """One generated answer. ``finish_reason`` is ``stop``, ``length``, ``tool_calls``,
    ``content_filter`` (or a newer value the server invents)."""

    index: int | None = None
    message: ChatMessage = attrs.field(factory=ChatMessage)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


@attrs.frozen(kw_only=True)
class CacheCreation(Model):
    """Prompt tokens written to the prompt cache, by cache lifetime."""

    ephemeral_5m_input_tokens: int | None = None
    ephemeral_1h_input_tokens: int | None = None


@attrs.frozen(kw_only=True)
class PromptTokensDetails(Model):
    """OpenAI-style breakdown of the prompt tokens."""

    cached_tokens: int | None = None
    audio_tokens: int | None = None


@attrs.frozen(kw_only=True)
class CompletionTokensDetails(Model):
    """OpenAI-style breakdown of the completion tokens."""

    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


@attrs.frozen(kw_only=True)
class Usage(Model):
    """Token counts of the request, with the cache and detail breakdowns when sent."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cache_created_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


@attrs.frozen(kw_only=True)
class ChatCompletion(Model):
    """A ``chat.completion``: the answer to a non-streamed call.

    ``retrieval``, ``functions`` and ``guardrails`` are the agent extras, present when the
    request asked for them (``include_retrieval_info=True`` and so on). ``response`` is the
    HTTP metadata of the call that produced this object; one built by hand (``from_dict``,
    the constructor) has an empty one: status 0, no headers, ``request_id`` ``None``.
    """

    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: tuple[Choice, ...] = ()
    usage: Usage | None = None
    system_fingerprint: str | None = None
    retrieval: RetrievalInfo | None = None
    functions: FunctionsInfo | None = None
    guardrails: GuardrailsInfo | None = None
    response: ResponseInfo = attrs.field(
        default=ResponseInfo(status=0, headers={}, url=""), repr=False, eq=False
    )
