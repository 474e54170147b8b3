"""Request checks: every limit of the spec, enforced before anything is sent.

Each checker takes the value the caller passed and returns the JSON-ready value to send:
attrs request objects (``ChatMessage``, ``Tool``, ...) become dicts here, so everything after
this module sees one format. A rejected value raises :class:`~agentchat.InvalidRequestError`
naming the parameter (with its path inside lists and objects), the value and what is allowed.

Only fields that are present are checked; a call with two fields pays for two checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import InvalidRequestError
from ._json import dumps
from ._models._base import Model

__all__ = [
    "CHECKED_FIELDS",
    "MESSAGE_KEYS",
    "REASONING_EFFORTS",
    "RETRIEVAL_METHODS",
    "ROLES",
    "check_body",
    "check_json",
]

ROLES = ("system", "developer", "user", "assistant", "tool")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
RETRIEVAL_METHODS = ("rewrite", "step_back", "sub_queries", "none")
TOOL_CHOICES = ("none", "auto", "required")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN_ID = re.compile(r"-?[0-9]+")


def _fail(param: str, value: Any, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(param, value, allowed)


def _choices(options: tuple[str, ...]) -> str:
    return "one of " + ", ".join(repr(o) for o in options)


# -- primitives -------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    # An int is finite however large (math.isfinite() of one beyond a float's range raises).
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))
    )


def _string(param: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(param, value, "a string is required")
    return value


def _optional_string(param: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _fail(param, value, "a string or None is required")
    return value


def _bool(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(param, value, "True or False is required")
    return value


def _int_range(low: int | None, high: int | None) -> Callable[[str, Any], int]:
    if high is None:
        allowed = f"an integer >= {low}" if low is not None else "an integer"
    else:
        allowed = f"an integer from {low} to {high}"

    def check(param: str, value: Any) -> int:
        if (
            not _is_int(value)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise _fail(param, value, f"{allowed} is required")
        return value  # type: ignore[no-any-return]

    return check


def _number_range(low: float, high: float) -> Callable[[str, Any], float]:
    def check(param: str, value: Any) -> float:
        if not _is_number(value) or not low <= value <= high:
            raise _fail(param, value, f"a number from {low:g} to {high:g} is required")
        return value  # type: ignore[no-any-return]

    return check


def _one_of(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(param: str, value: Any) -> str:
        if value not in options or not isinstance(value, str):
            raise _fail(param, value, _choices(options) + " is required")
        return value

    return check


def _object(param: str, value: Any, kind: str) -> dict[str, Any]:
    """A dict, or an agentchat model turned into one; anything else is rejected."""
    if isinstance(value, dict):
        return value
    if isinstance(value, Model):
        try:
            return value.to_dict()
        except (TypeError, ValueError, AttributeError) as exc:
            raise _fail(param, value, f"a {kind} with fields of the right types ({exc})") from None
    raise _fail(param, value, f"a dict or an agentchat {kind} is required")


def _list(param: str, value: Any, what: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise _fail(param, value, f"a list of {what} is required")
    return value


# -- messages ---------------------------------------------------------------------------------


def _check_tool_call(param: str, value: Any) -> dict[str, Any]:
    call = _object(param, value, "ToolCall")
    _string(f"{param}.id", call.get("id"))
    if call.get("type") != "function":
        raise _fail(f"{param}.type", call.get("type"), "'function' is required")
    function = _object(f"{param}.function", call.get("function"), "FunctionCall")
    _string(f"{param}.function.name", function.get("name"))
    _string(f"{param}.function.arguments", function.get("arguments"))
    if function is not call.get("function"):
        call = {**call, "function": function}
    return call


#: The keys a message dict may have, per role: the spec's message fields (refusal,
#: reasoning_content and tool_calls on assistant messages only, tool_call_id on tool messages
#: only) and OpenAI's optional participant ``name``. The TypedDicts in _params.py say the same.
MESSAGE_KEYS: dict[str, tuple[str, ...]] = {
    "system": ("role", "content", "name"),
    "developer": ("role", "content", "name"),
    "user": ("role", "content", "name"),
    "assistant": ("role", "content", "refusal", "reasoning_content", "tool_calls", "name"),
    "tool": ("role", "content", "tool_call_id"),
}
_MESSAGE_KEY_SETS = {role: frozenset(keys) for role, keys in MESSAGE_KEYS.items()}


def _unknown_message_key(param: str, message: Mapping[str, Any], role: str, key: Any) -> Exception:
    """A dict message with a key that is no field of its role: say which fields it has, the
    likely intended one, and how to send a field agentchat does not know."""
    allowed = MESSAGE_KEYS[role]
    if not isinstance(key, str):
        return _fail(f"{param} key", key, "message keys are strings")
    article = "an" if role == "assistant" else "a"
    hint = ""
    import difflib  # only on this error path: keep it off import time

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    others = [r for r, keys in MESSAGE_KEYS.items() if key in keys]
    if close:
        hint = f" (did you mean {close[0]!r}?)"
    elif others:
        hint = f" (it belongs to {' and '.join(others)} messages)"
    return _fail(
        f"{param}.{key}",
        message[key],
        f"{article} {role} message has no field {key!r}{hint}; its fields are "
        + ", ".join(allowed)
        + ". To send a field agentchat does not know, pass the message as "
        f"ChatMessage(role={role!r}, ..., extra={{{key!r}: ...}})",
    )


def _check_message(param: str, value: Any) -> dict[str, Any]:
    # A dict is the caller's own words, so its keys are checked against its role's fields: a
    # misspelt key would otherwise be sent and ignored. A ChatMessage has only real fields,
    # and its ``extra`` is the deliberate way to send one agentchat does not model.
    plain = isinstance(value, dict)
    message = value if plain else _object(param, value, "ChatMessage")
    role = message.get("role")
    if role not in ROLES or not isinstance(role, str):
        raise _fail(f"{param}.role", role, _choices(ROLES) + " is required")
    if plain and not message.keys() <= _MESSAGE_KEY_SETS[role]:
        allowed = _MESSAGE_KEY_SETS[role]
        key = next(k for k in message if k not in allowed)
        raise _unknown_message_key(param, message, role, key)
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _fail(f"{param}.content", content, "a string or None is required (text content only)")
    for key in ("refusal", "reasoning_content"):
        if key in message:
            _optional_string(f"{param}.{key}", message[key])
    if "tool_call_id" in message:
        _string(f"{param}.tool_call_id", message["tool_call_id"])
    if "name" in message:
        _string(f"{param}.name", message["name"])
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        _list(f"{param}.tool_calls", tool_calls, "tool calls")
        checked = [
            _check_tool_call(f"{param}.tool_calls[{i}]", c) for i, c in enumerate(tool_calls)
        ]
        message = {**message, "tool_calls": checked}
    return message


_ROLE_SET = frozenset(ROLES)
_PLAIN_MESSAGE_KEYS = frozenset({"role", "content"})


def _check_messages(param: str, value: Any) -> list[dict[str, Any]]:
    messages = _list(param, value, "messages (dicts or ChatMessage)")
    if not messages:
        raise _fail(param, value, "at least one message is required")
    checked = []
    for i, message in enumerate(messages):
        # The common message, {"role": ..., "content": "..."}, is checked without the
        # general path (and its per-message parameter names).
        if (
            type(message) is dict
            and message.keys() <= _PLAIN_MESSAGE_KEYS
            and type(message.get("role")) is str  # an unhashable role goes the long way
            and message.get("role") in _ROLE_SET
            and type(message.get("content")) in (str, type(None))
        ):
            checked.append(message)
        else:
            checked.append(_check_message(f"{param}[{i}]", message))
    return checked


# -- tools ------------------------------------------------------------------------------------


def _tool_name(param: str, value: Any) -> str:
    if not isinstance(value, str) or not _TOOL_NAME.fullmatch(value):
        raise _fail(param, value, "1 to 64 characters of A-Z, a-z, 0-9, '_' or '-' are required")
    return value


def _check_tool(param: str, value: Any) -> dict[str, Any]:
    tool = _object(param, value, "Tool")
    if tool.get("type") != "function":
        raise _fail(f"{param}.type", tool.get("type"), "'function' is required")
    function = _object(f"{param}.function", tool.get("function"), "FunctionDefinition")
    _tool_name(f"{param}.function.name", function.get("name"))
    if "description" in function:
        _string(f"{param}.function.description", function["description"])
    if "parameters" in function and not isinstance(function["parameters"], Mapping):
        raise _fail(
            f"{param}.function.parameters",
            function["parameters"],
            "a JSON Schema object (dict) is required",
        )
    if function is not tool.get("function"):
        tool = {**tool, "function": function}
    return tool


def _check_tools(param: str, value: Any) -> list[dict[str, Any]]:
    tools = _list(param, value, "tools (dicts or Tool)")
    return [_check_tool(f"{param}[{i}]", t) for i, t in enumerate(tools)]


def _check_tool_choice(param: str, value: Any) -> str | dict[str, Any]:
    if isinstance(value, str):
        if value not in TOOL_CHOICES:
            raise _fail(param, value, _choices(TOOL_CHOICES) + ", or a NamedToolChoice")
        return value
    choice = _object(param, value, "NamedToolChoice")
    if choice.get("type") != "function":
        raise _fail(f"{param}.type", choice.get("type"), "'function' is required")
    function = _object(f"{param}.function", choice.get("function"), "ToolChoiceFunction")
    _tool_name(f"{param}.function.name", function.get("name"))
    if function is not choice.get("function"):
        choice = {**choice, "function": function}
    return choice


# -- other fields -----------------------------------------------------------------------------


def _check_stop(param: str, value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and 1 <= len(value) <= 4:
        for i, item in enumerate(value):
            _string(f"{param}[{i}]", item)
        return list(value)
    raise _fail(param, value, "a string or a list of 1 to 4 strings is required")


def _check_logit_bias(param: str, value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise _fail(param, value, "a dict of token id to integer bias is required")
    result: dict[str, int] = {}
    for token, bias in value.items():
        if _is_int(token):
            token = str(token)
        elif not isinstance(token, str) or not _TOKEN_ID.fullmatch(token):
            raise _fail(f"{param} key", token, "a token id (an integer) is required")
        if not _is_int(bias) or not -100 <= bias <= 100:
            raise _fail(f"{param}[{token!r}]", bias, "an integer from -100 to 100 is required")
        result[token] = bias
    return result


def _check_metadata(param: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(param, value, "a dict of string keys to string values is required")
    if len(value) > 16:
        raise _fail(param, f"<{len(value)} pairs>", "at most 16 key-value pairs are allowed")
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > 64:
            raise _fail(f"{param} key", key, "a string of at most 64 characters is required")
        if not isinstance(item, str) or len(item) > 512:
            raise _fail(f"{param}[{key!r}]", item, "a string of at most 512 characters is required")
    return dict(value)


def _check_stream_options(param: str, value: Any) -> dict[str, Any]:
    options = _object(param, value, "StreamOptions")
    if "include_usage" in options:
        _bool(f"{param}.include_usage", options["include_usage"])
    return options


def _check_kb_filter(param: str, value: Any) -> dict[str, Any]:
    kb_filter = _object(param, value, "KBFilter")
    _string(f"{param}.index", kb_filter.get("index"))
    if "path" in kb_filter:
        _optional_string(f"{param}.path", kb_filter["path"])
    return kb_filter


def _check_kb_filters(param: str, value: Any) -> list[dict[str, Any]]:
    filters = _list(param, value, "KB filters (dicts or KBFilter)")
    return [_check_kb_filter(f"{param}[{i}]", f) for i, f in enumerate(filters)]


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "messages": _check_messages,
    "model": _string,
    "max_tokens": _int_range(0, None),
    "max_completion_tokens": _int_range(256, None),
    "frequency_penalty": _number_range(-2, 2),
    "presence_penalty": _number_range(-2, 2),
    "top_logprobs": _int_range(0, 20),
    "tools": _check_tools,
    "tool_choice": _check_tool_choice,
    "stream": _bool,
    "stop": _check_stop,
    "logit_bias": _check_logit_bias,
    "logprobs": _bool,
    "n": _int_range(1, 128),
    "stream_options": _check_stream_options,
    "reasoning_effort": _one_of(REASONING_EFFORTS),
    "seed": _int_range(None, None),
    "metadata": _check_metadata,
    "temperature": _number_range(0, 2),
    "top_p": _number_range(0, 1),
    "user": _string,
    # Agent-only extras.
    "k": _int_range(0, None),
    "retrieval_method": _one_of(RETRIEVAL_METHODS),
    "kb_filters": _check_kb_filters,
    "filter_kb_content_by_query_metadata": _bool,
    "instruction_override": _string,
    "include_functions_info": _bool,
    "include_retrieval_info": _bool,
    "include_guardrails_info": _bool,
    "provide_citations": _bool,
}


#: The request fields create() takes (and checks).
CHECKED_FIELDS = frozenset(_CHECKS)


def check_body(body: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise every field present in ``body`` (in place), then the rules that
    tie fields together. Returns ``body``."""
    checks = _CHECKS
    for name, value in body.items():
        body[name] = checks[name](name, value)
    if "top_logprobs" in body and body.get("logprobs") is not True:
        raise _fail(
            "top_logprobs", body["top_logprobs"], "it may only be set together with logprobs=True"
        )
    if "stream_options" in body and body.get("stream") is not True:
        raise _fail(
            "stream_options", body["stream_options"], "it may only be set together with stream=True"
        )
    return body


def check_json(body: Mapping[str, Any]) -> bytes:
    """Encode ``body``; if it is not JSON-serialisable, name the field that is not."""
    try:
        return dumps(body)
    except (TypeError, ValueError) as exc:
        for name, value in body.items():
            try:
                dumps(value)
            except (TypeError, ValueError):
                raise _fail(name, value, f"a JSON-serialisable value is required ({exc})") from None
        raise  # pragma: no cover - the whole failed, so some part must have
