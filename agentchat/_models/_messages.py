"""Messages and the tool calls inside them: the request's ``messages`` and the response's
``choices[].message`` are the same class, so an answer can be appended to the conversation
as it is."""

from __future__ import annotations

import attrs

from ._base import Model

__all__ = ["ChatMessage", "FunctionCall", "ToolCall"]


@attrs.frozen(kw_only=True)
class FunctionCall(Model):
    """The function a tool call invokes: its name and its arguments as a JSON string."""

    name: str | None = None
    arguments: str | None = None


@attrs.frozen(kw_only=True)
class ToolCall(Model):
    """One tool call made by the model (assistant messages only)."""

    id: str | None = None
    type: str | None = "function"
    function: FunctionCall | None = None


@attrs.frozen(kw_only=True)
class ChatMessage(Model):
    """A message of the conversation, sent in ``messages`` or received in a choice.

    ``role`` is one of ``system``, ``developer``, ``user``, ``assistant``, ``tool``.
    """

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None
