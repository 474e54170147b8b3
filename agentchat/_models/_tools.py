"""Tool definitions and the forced-tool choice, for the request's ``tools`` and
``tool_choice``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._base import Model

__all__ = ["FunctionDefinition", "NamedToolChoice", "Tool", "ToolChoiceFunction"]


@attrs.frozen(kw_only=True)
class FunctionDefinition(Model):
    """A function the model may call. ``name`` matches ``[A-Za-z0-9_-]{1,64}``;
    ``parameters`` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True)
class Tool(Model):
    """A tool the model may call; only functions exist today."""

    function: FunctionDefinition
    type: str = "function"


@attrs.frozen(kw_only=True)
class ToolChoiceFunction(Model):
    """Names the function a :class:`NamedToolChoice` forces."""

    name: str


@attrs.frozen(kw_only=True)
class NamedToolChoice(Model):
    """Force the model to call one function: ``{"type": "function", "function": {"name": ...}}``."""

    function: ToolChoiceFunction
    type: str = "function"

    @classmethod
    def for_function(cls, name: str) -> NamedToolChoice:
        """The choice that forces the function called ``name``."""
        return cls(function=ToolChoiceFunction(name=name))
