"""Tools the model may call that agentchat runs itself: plain Python functions made tools by
:func:`function_tool`, their JSON Schema derived from their type hints."""

from __future__ import annotations

from ._function import FunctionTool, ToolArgumentsError, ToolDefinitionError, function_tool

__all__ = ["FunctionTool", "ToolArgumentsError", "ToolDefinitionError", "function_tool"]
