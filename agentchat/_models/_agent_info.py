"""The agent-only response objects: what was retrieved, which functions ran, which
guardrails fired. Present when the request sets ``include_retrieval_info``,
``include_functions_info`` or ``include_guardrails_info``."""

from __future__ import annotations

import attrs

from ._base import Model

__all__ = [
    "FunctionsInfo",
    "GuardrailsInfo",
    "RetrievalInfo",
    "RetrievedData",
    "TriggeredGuardrail",
]


@attrs.frozen(kw_only=True)
class RetrievedData(Model):
    """A knowledge-base chunk used for the answer: its id, the KB (``index``) and the score."""

    id: str | None = None
    index: str | None = None
    score: float | None = None


@attrs.frozen(kw_only=True)
class RetrievalInfo(Model):
    """The ``retrieval`` object of an agent response."""

    retrieved_data: tuple[RetrievedData, ...] | None = None


@attrs.frozen(kw_only=True)
class FunctionsInfo(Model):
    """The ``functions`` object of an agent response."""

    called_functions: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class TriggeredGuardrail(Model):
    """A guardrail that fired, with its rule name and message."""

    message: str | None = None
    rule_name: str | None = None


@attrs.frozen(kw_only=True)
class GuardrailsInfo(Model):
    """The ``guardrails`` object of an agent response."""

    triggered_guardrails: tuple[TriggeredGuardrail, ...] | None = None
