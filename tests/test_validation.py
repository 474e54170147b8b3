"""Bad input is rejected before anything is sent, naming the parameter, the value and what is
allowed; good input of every shape passes. Each limit is exact (the limit itself accepted, the
nearest value past it rejected), leaving out any required field is rejected, and the exact
message of every check is kept in tests/fixtures/validation_messages.txt."""

from __future__ import annotations

import ast
import difflib
import json
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from agentchat import (
    AssistantMessageParam,
    AsyncAgentClient,
    AsyncStream,
    ChatMessage,
    ConfigurationError,
    FunctionCall,
    FunctionDefinition,
    InvalidRequestError,
    KBFilter,
    MessageParam,
    NamedToolChoice,
    Timeout,
    Tool,
    ToolCall,
    ToolCallParam,
    ToolChoiceFunction,
    _validate,
)
from agentchat._backoff import check_max_retries
from agentchat._timeouts import to_timeout
from agentchat._validate import CHECKED_FIELDS, check_body, check_json
from agentchat.testing import FakeAgentServer

from .conftest import USER

TOOL = {"type": "function", "function": {"name": "get_weather"}}

# (create() keyword arguments, the parameter the error must name, a fragment of "allowed")
BAD_INPUTS: list[tuple[dict[str, Any], str, str]] = [
    ({"messages": []}, "messages", "at least one message"),
    ({"messages": "hello"}, "messages", "list of messages"),
    ({"messages": [{"content": "no role"}]}, "messages[0].role", "one of 'system'"),
    ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role", "'developer'"),
    ({"messages": [ChatMessage(content="no role")]}, "messages[0].role", "one of"),
    ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content", "string or None"),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
        "messages[0].content",
        "text content only",
    ),
    ({"messages": [42]}, "messages[0]", "dict or an agentchat ChatMessage"),
    (
        {"messages": [{"role": "tool", "content": "x", "tool_call_id": 7}]},
        "messages[0].tool_call_id",
        "string",
    ),
    (
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}]},
        "messages[0].tool_calls[0].function",
        "dict or an agentchat FunctionCall",
    ),
    (
        {"messages": [{"role": "assistant", "tool_calls": [ToolCall(id="c")]}]},
        "messages[0].tool_calls[0].function",
        "FunctionCall",
    ),
    ({"model": 7}, "model", "string"),
    ({"temperature": 2.5}, "temperature", "from 0 to 2"),
    ({"temperature": -0.1}, "temperature", "from 0 to 2"),
    ({"temperature": math.nan}, "temperature", "number"),
    ({"temperature": True}, "temperature", "number"),
    ({"temperature": "1"}, "temperature", "number"),
    ({"top_p": 1.01}, "top_p", "from 0 to 1"),
    ({"frequency_penalty": -2.01}, "frequency_penalty", "from -2 to 2"),
    ({"presence_penalty": 3}, "presence_penalty", "from -2 to 2"),
    ({"n": 0}, "n", "from 1 to 128"),
    ({"n": 129}, "n", "from 1 to 128"),
    ({"n": 1.0}, "n", "integer"),
    ({"n": True}, "n", "integer"),
    ({"max_tokens": -1}, "max_tokens", ">= 0"),
    ({"max_completion_tokens": 255}, "max_completion_tokens", ">= 256"),
    ({"seed": 1.5}, "seed", "integer"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "from 0 to 20"),
    ({"top_logprobs": 5}, "top_logprobs", "logprobs=True"),
    ({"logprobs": False, "top_logprobs": 5}, "top_logprobs", "logprobs=True"),
    ({"logprobs": "yes"}, "logprobs", "True or False"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "1 to 4 strings"),
    ({"stop": []}, "stop", "1 to 4 strings"),
    ({"stop": ["a", 1]}, "stop[1]", "string"),
    ({"stop": 5}, "stop", "1 to 4 strings"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort", "'xhigh'"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "at most 16"),
    ({"metadata": {"k" * 65: "v"}}, "metadata key", "at most 64"),
    ({"metadata": {"k": "v" * 513}}, "metadata['k']", "at most 512"),
    ({"metadata": {"k": 5}}, "metadata['k']", "string"),
    ({"metadata": ["k"]}, "metadata", "dict"),
    ({"logit_bias": {"50256": 101}}, "logit_bias['50256']", "-100 to 100"),
    ({"logit_bias": {"token": 1}}, "logit_bias key", "token id"),
    ({"logit_bias": {"1": "x"}}, "logit_bias['1']", "integer"),
    ({"tools": TOOL}, "tools", "list of tools"),
    ({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}, "tools[0].type", "'function'"),
    (
        {"tools": [{"type": "function", "function": {"name": "has space"}}]},
        "tools[0].function.name",
        "1 to 64 characters",
    ),
    (
        {"tools": [{"type": "function", "function": {"name": "x" * 65}}]},
        "tools[0].function.name",
        "1 to 64 characters",
    ),
    (
        {"tools": [Tool(function=FunctionDefinition(name="ok", parameters=[]))]},  # type: ignore[arg-type]
        "tools[0].function.parameters",
        "JSON Schema object",
    ),
    ({"tools": [TOOL], "tool_choice": "sometimes"}, "tool_choice", "'required'"),
    (
        {"tool_choice": {"type": "function", "function": {"name": "bad name"}}},
        "tool_choice.function.name",
        "1 to 64",
    ),
    ({"tool_choice": {"type": "function"}}, "tool_choice.function", "ToolChoiceFunction"),
    ({"stream_options": {"include_usage": True}}, "stream_options", "stream=True"),
    ({"stream": "yes"}, "stream", "True or False"),
    ({"user": 12}, "user", "string"),
    ({"k": -1}, "k", ">= 0"),
    ({"retrieval_method": "magic"}, "retrieval_method", "'sub_queries'"),
    ({"kb_filters": [{"path": "/docs"}]}, "kb_filters[0].index", "string"),
    ({"kb_filters": [KBFilter(index="kb", path=3)]}, "kb_filters[0].path", "string"),  # type: ignore[arg-type]
    ({"include_retrieval_info": 1}, "include_retrieval_info", "True or False"),
    ({"provide_citations": "true"}, "provide_citations", "True or False"),
    ({"instruction_override": ["x"]}, "instruction_override", "string"),
    (
        {"filter_kb_content_by_query_metadata": None, "include_functions_info": 0},
        "include_functions_info",
        "True or False",
    ),
    ({"include_guardrails_info": "no"}, "include_guardrails_info", "True or False"),
    (
        {"messages": [ChatMessage(role="user", content="x", extra={"when": object()})]},
        "messages",
        "JSON-serialisable",
    ),
    # A message dict's keys are its role's fields: a typo is not sent and ignored.
    ({"messages": [{"role": "user", "contnet": "hi"}]}, "messages[0].contnet", "'content'?"),
    (
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "txt": "hi"}]},
        "messages[1].txt",
        "its fields are role, content, name",
    ),
    (
        {"messages": [{"role": "user", "content": "x", "tool_call_id": "c1"}]},
        "messages[0].tool_call_id",
        "it belongs to tool messages",
    ),
    (
        {"messages": [{"role": "tool", "content": "x", "tool_call_id": "c1", "name": "f"}]},
        "messages[0].name",
        "its fields are role, content, tool_call_id",
    ),
    (
        {"messages": [{"role": "user", "content": "x", "cache_control": {"type": "ephemeral"}}]},
        "messages[0].cache_control",
        "extra={'cache_control': ...}",
    ),
    ({"messages": [{"role": "user", "content": "x", 1: "y"}]}, "messages[0] key", "strings"),
    # A keyword create() does not take: a typo, or a field for extra_body.
    ({"temprature": 0.5}, "temprature", "did you mean temperature=?"),
    ({"response_format": {"type": "json_object"}}, "response_format", "extra_body="),
    ({"extra_body": {"weird": {1, 2}}}, "weird", "JSON-serialisable"),
    ({"extra_body": {"score": math.inf}}, "score", "JSON-serialisable"),
    ({"timeout": -1}, "timeout", "positive number"),
    ({"max_retries": -1}, "max_retries", ">= 0"),
    ({"extra_headers": {"X-Bad": "a\nb"}}, "extra_headers['X-Bad']", "line breaks"),
]


@pytest.mark.parametrize(
    ("kwargs", "param", "allowed"), BAD_INPUTS, ids=[f"{p}:{a}" for _, p, a in BAD_INPUTS]
)
async def test_bad_input_is_rejected_before_sending(
    server: FakeAgentServer,
    client: AsyncAgentClient,
    kwargs: dict[str, Any],
    param: str,
    allowed: str,
) -> None:
    call: dict[str, Any] = {"model": "m", "messages": USER, **kwargs}
    with pytest.raises(InvalidRequestError) as info:
        await client.agent.chat.completions.create(**call)
    error = info.value
    assert error.param == param
    assert allowed in error.allowed
    assert str(error).startswith(f"{param}=")
    assert server.requests == []
    assert isinstance(error, ValueError)


def test_error_message_names_parameter_value_and_what_is_allowed() -> None:
    error = InvalidRequestError("temperature", 3.5, "a number from 0 to 2 is required")
    assert str(error) == "temperature=3.5 is invalid: a number from 0 to 2 is required"


def test_long_values_are_truncated_in_the_message() -> None:
    error = InvalidRequestError("messages", ["x" * 500], "whatever")
    assert len(str(error)) < 200


async def test_a_generator_of_messages_is_accepted(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    await client.agent.chat.completions.create(model="m", messages=(m for m in USER))
    assert server.requests[0].json()["messages"] == USER


async def test_attrs_inputs_are_sent_exactly_like_dicts(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    as_dicts: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "kb_filters": [{"index": "kb-1", "path": "/docs"}],
    }

    as_attrs: dict[str, Any] = {
        "messages": [
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(
                role="assistant",
                tool_calls=(ToolCall(id="c1", function=FunctionCall(name="f", arguments="{}")),),
            ),
            ChatMessage(role="tool", content="42", tool_call_id="c1"),
        ],
        "tools": [
            Tool(
                function=FunctionDefinition(
                    name="f", description="d", parameters={"type": "object"}
                )
            )
        ],
        "tool_choice": NamedToolChoice.for_function("f"),
        "kb_filters": [KBFilter(index="kb-1", path="/docs")],
    }
    await client.agent.chat.completions.create(model="m", **as_dicts)
    await client.agent.chat.completions.create(model="m", **as_attrs)
    first, second = (r.json() for r in server.requests)
    # ChatMessage(content=None) omits "content"; everything else is identical.
    first["messages"][1].pop("content")
    assert first == second


async def test_none_means_not_sent(server: FakeAgentServer, client: AsyncAgentClient) -> None:
    await client.agent.chat.completions.create(
        model="m", messages=USER, temperature=None, stop=None, tools=None, user=None
    )
    assert server.requests[0].json() == {"model": "m", "messages": USER}


async def test_extra_body_can_send_an_explicit_null_and_is_not_checked(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    await client.agent.chat.completions.create(
        model="m", messages=USER, extra_body={"temperature": None, "future_field": {"x": 1}}
    )
    body = server.requests[0].json()
    assert body["temperature"] is None
    assert body["future_field"] == {"x": 1}


async def test_validation_does_not_mutate_the_callers_objects(
    client: AsyncAgentClient,
) -> None:
    message: AssistantMessageParam = {
        "role": "assistant",
        "tool_calls": [ToolCall(id="c", function=None)],
    }
    messages = [message]
    with pytest.raises(InvalidRequestError):
        await client.agent.chat.completions.create(model="m", messages=messages)
    assert messages == [message] and isinstance(message["tool_calls"][0], ToolCall)


def test_an_unknown_message_key_error_says_everything_needed_to_fix_it() -> None:
    from agentchat._validate import check_body

    with pytest.raises(InvalidRequestError) as info:
        check_body(
            {"messages": [{"role": "user", "content": "x"}, {"role": "user", "contnet": "hi"}]}
        )
    assert str(info.value) == (
        "messages[1].contnet='hi' is invalid: a user message has no field 'contnet' (did you "
        "mean 'content'?); its fields are role, content, name. To send a field agentchat does "
        "not know, pass the message as ChatMessage(role='user', ..., extra={'contnet': ...})"
    )


def test_an_unknown_keyword_error_points_to_extra_body() -> None:
    from agentchat._resources._completions import unknown_keyword

    error = unknown_keyword({"response_format": {"type": "json_object"}})
    assert str(error) == (
        "response_format={'type': 'json_object'} is invalid: create() has no parameter "
        "'response_format'; to send a request field agentchat does not know, pass "
        "extra_body={'response_format': ...} (extra_headers= and extra_query= do the same for "
        "headers and the query string)"
    )


async def test_every_field_of_every_role_is_accepted_as_a_dict(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    call: ToolCallParam = {
        "id": "c1",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
    }
    messages: list[MessageParam] = [
        {"role": "system", "content": "Be brief.", "name": "rules"},
        {"role": "developer", "content": "Answer in English.", "name": "dev"},
        {"role": "user", "content": "Weather?", "name": "ana"},
        {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "reasoning_content": "I should call f.",
            "tool_calls": [call],
            "name": "bot",
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
    ]
    await client.agent.chat.completions.create(model="m", messages=messages)
    assert server.requests[0].json()["messages"] == messages


async def test_a_chat_message_sends_fields_agentchat_does_not_know_through_extra(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    message = ChatMessage(role="user", content="hi", extra={"cache_control": {"type": "ephemeral"}})
    await client.agent.chat.completions.create(model="m", messages=[message])
    sent = server.requests[0].json()["messages"][0]
    assert sent == {"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}


def test_the_runtime_message_keys_are_the_typed_dicts_keys() -> None:
    from agentchat import _params
    from agentchat._validate import MESSAGE_KEYS

    typed: dict[str, Any] = {
        "system": _params.SystemMessageParam,
        "developer": _params.DeveloperMessageParam,
        "user": _params.UserMessageParam,
        "assistant": _params.AssistantMessageParam,
        "tool": _params.ToolMessageParam,
    }
    for role, cls in typed.items():
        assert set(MESSAGE_KEYS[role]) == cls.__required_keys__ | cls.__optional_keys__, role


# == Limits: each limit accepted, the nearest value past it rejected ==========================
# Checked with the validators themselves (pure: nothing can be sent); the wire test after them
# sends every one of these inputs through create().


def _above(x: float) -> float:
    """The nearest float above ``x`` (2.0000000000000004 for 2): nothing lies in between."""
    return math.nextafter(x, math.inf)


def _below(x: float) -> float:
    """The nearest float below ``x``."""
    return math.nextafter(x, -math.inf)


#: The spec's number ranges, both ends included.
NUMBER_RANGES: dict[str, tuple[int, int]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "frequency_penalty": (-2, 2),
    "presence_penalty": (-2, 2),
}
#: The integer ranges, both ends included; None: no bound on that side.
INT_RANGES: dict[str, tuple[int | None, int | None]] = {
    "n": (1, 128),
    "top_logprobs": (0, 20),
    "max_tokens": (0, None),
    "max_completion_tokens": (256, None),
    "k": (0, None),
    "seed": (None, None),
}
BOOL_FIELDS = (
    "stream",
    "logprobs",
    "filter_kb_content_by_query_metadata",
    "include_functions_info",
    "include_retrieval_info",
    "include_guardrails_info",
    "provide_citations",
)
#: What a field needs beside it to be accepted at all.
NEEDS: dict[str, dict[str, Any]] = {"top_logprobs": {"logprobs": True}}

ACCEPTED: list[Any] = []  # pytest.param(create() keywords)
REJECTED: list[Any] = []  # pytest.param(create() keywords, the parameter the error names)


def _label(kwargs: dict[str, Any]) -> str:
    return ",".join(f"{name}={value!r}" for name, value in kwargs.items())


def _accept(kwargs: dict[str, Any], label: str | None = None) -> None:
    ACCEPTED.append(pytest.param(kwargs, id=label or _label(kwargs)))


def _reject(kwargs: dict[str, Any], param: str, label: str | None = None) -> None:
    REJECTED.append(pytest.param(kwargs, param, id=label or _label(kwargs)))


def _limit_cases() -> None:
    """Fill ACCEPTED and REJECTED."""
    value: Any
    low: Any
    high: Any
    token: Any
    bias: Any
    usage: Any
    seconds: Any
    retries: Any
    for name, (low, high) in NUMBER_RANGES.items():
        for value in (low, float(low), high, float(high)):
            _accept({name: value})
        # True is 1 and False 0, both in every range: only the bool check rejects them.
        for value in (_below(low), _above(high), True, False, math.nan, math.inf, "1"):
            _reject({name: value}, name)

    for name, (low, high) in INT_RANGES.items():
        needs = NEEDS.get(name, {})
        if low is None:
            _accept({**needs, name: -(2**63)})
        else:
            _accept({**needs, name: low})
            _reject({**needs, name: low - 1}, name)
        if high is None:
            _accept({**needs, name: 2**63 - 1})
        else:
            _accept({**needs, name: high})
            _reject({**needs, name: high + 1}, name)
        some = low or 1
        for value in (float(some), True, False, str(some)):
            _reject({**needs, name: value}, name)

    for name in BOOL_FIELDS:
        _accept({name: True})
        _accept({name: False})
        for value in (1, 0, "true"):
            _reject({name: value}, name)

    for bias in (-100, 100):
        _accept({"logit_bias": {"50256": bias}})
    for bias in (-101, 101, True, 1.0, "1"):
        _reject({"logit_bias": {"50256": bias}}, "logit_bias['50256']")
    for token in (0, "0", 50256, "50256"):
        _accept({"logit_bias": {token: 1}})
    for token in ("", "1.5", " 1", "1a", "x", True, 1.5):
        _reject({"logit_bias": {token: 1}}, "logit_bias key")

    _accept({"metadata": {}})
    _accept({"metadata": {f"k{i}": "v" for i in range(16)}}, "metadata=16 pairs")
    _reject({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "metadata=17 pairs")
    _accept({"metadata": {"k" * 64: "v"}}, "metadata=key of 64")
    _reject({"metadata": {"k" * 65: "v"}}, "metadata key", "metadata=key of 65")
    _accept({"metadata": {"k": "v" * 512}}, "metadata=value of 512")
    _reject({"metadata": {"k": "v" * 513}}, "metadata['k']", "metadata=value of 513")

    _accept({"stop": ["a"]})
    _accept({"stop": ["a", "b", "c", "d"]})
    _reject({"stop": []}, "stop")
    _reject({"stop": ["a", "b", "c", "d", "e"]}, "stop")

    _accept({"messages": [{"role": "user", "content": "x"}]})
    _reject({"messages": []}, "messages")

    for tool_name in ("f", "f" * 64, "A-z_0-9"):
        _accept({"tools": [{"type": "function", "function": {"name": tool_name}}]})
        _accept({"tool_choice": {"type": "function", "function": {"name": tool_name}}})
    for tool_name in ("", "f" * 65, "a.b", "a b", "é"):
        _reject(
            {"tools": [{"type": "function", "function": {"name": tool_name}}]},
            "tools[0].function.name",
        )
        _reject(
            {"tool_choice": {"type": "function", "function": {"name": tool_name}}},
            "tool_choice.function.name",
        )

    # Fields that may only come with another.
    _reject({"top_logprobs": 0}, "top_logprobs")
    _reject({"logprobs": False, "top_logprobs": 0}, "top_logprobs")
    for usage in (True, False):
        _accept({"stream": True, "stream_options": {"include_usage": usage}})
    _accept({"stream": True, "stream_options": {}})
    _reject({"stream_options": {"include_usage": True}}, "stream_options")
    _reject({"stream": False, "stream_options": {"include_usage": True}}, "stream_options")
    for usage in (1, 0, "true"):
        _reject(
            {"stream": True, "stream_options": {"include_usage": usage}},
            "stream_options.include_usage",
        )

    # Good values of other shapes.
    _accept({"stop": "END"})
    _accept({"stop": ("a",)})
    _accept({"metadata": {f"k{i}": "v" * 512 for i in range(16)}}, "metadata=16 values of 512")
    _accept({"metadata": {"k" * 64: ""}}, "metadata=empty value")
    _accept({"logit_bias": {50256: -100, "11": 100}})
    _accept({"reasoning_effort": "none"})
    _accept({"retrieval_method": "none"})
    _accept({"tools": [TOOL], "tool_choice": "required"})
    _accept({"tools": [{"type": "function", "function": {"name": "A-z_0-9" * 9 + "x"}}]}, "tool=64")
    _accept({"stream_options": None})
    _accept({"messages": [{"role": "assistant", "content": None}]})
    _accept({"messages": [ChatMessage(role="user", content="hi", extra={"name": "bob"})]})

    # The call options: any positive number of seconds; any whole number of retries from 0.
    for seconds in (5e-324, 1, sys.float_info.max, Timeout(connect=5e-324)):
        _accept({"timeout": seconds})
    for seconds in (0, -0.0, _below(0), -1, math.inf, math.nan, True, "1"):
        _reject({"timeout": seconds}, "timeout")
    for retries in (0, 10):
        _accept({"max_retries": retries})
    for retries in (-1, True, False, 0.0, "0"):
        _reject({"max_retries": retries}, "max_retries")


_limit_cases()


def _check_call(kwargs: dict[str, Any]) -> None:
    """What create() checks before sending, called directly: the body's fields, its JSON
    encoding, then ``timeout`` and ``max_retries``. All of it is pure. As in create(), an
    optional keyword left at None is not given (``messages`` and ``model`` are always sent)."""
    given = {
        name: value
        for name, value in kwargs.items()
        if value is not None or name in ("messages", "model")
    }
    fields: dict[str, Any] = {"model": "m", "messages": list(USER), **given}
    timeout = fields.pop("timeout", None)
    max_retries = fields.pop("max_retries", None)
    check_json(check_body(fields))
    if timeout is not None:
        to_timeout(timeout)
    if max_retries is not None:
        check_max_retries(max_retries)


@pytest.mark.parametrize("kwargs", ACCEPTED)
def test_each_limit_itself_is_accepted(kwargs: dict[str, Any]) -> None:
    _check_call(kwargs)


@pytest.mark.parametrize(("kwargs", "param"), REJECTED)
def test_the_nearest_value_past_each_limit_is_rejected(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _check_call(kwargs)
    assert info.value.param == param


def test_the_limit_tables_name_every_ranged_and_boolean_field() -> None:
    """A field added with a range or as a boolean gets its limit cases here too."""
    made_by = {name: check.__qualname__ for name, check in _validate._CHECKS.items()}
    assert {n for n, by in made_by.items() if "_number_range" in by} == set(NUMBER_RANGES)
    assert {n for n, by in made_by.items() if "_int_range" in by} == set(INT_RANGES)
    assert {n for n, by in made_by.items() if by.endswith("_bool")} == set(BOOL_FIELDS)


@pytest.mark.parametrize("field", ["connect", "read", "stream_idle", "total", "pool"])
def test_each_timeout_field_takes_any_positive_number_of_seconds(field: str) -> None:
    seconds: Any
    for seconds in (5e-324, 1, sys.float_info.max, None):
        assert getattr(Timeout(**{field: seconds}), field) == seconds
    for seconds in (0, -0.0, _below(0), math.inf, math.nan, True, "1"):
        with pytest.raises(ConfigurationError, match=rf"^Timeout\.{field}="):
            Timeout(**{field: seconds})


# == Required fields: leaving out each one is rejected ========================================

CALL: dict[str, Any] = {
    "id": "c1",
    "type": "function",
    "function": {"name": "f", "arguments": "{}"},
}
FUNCTION = FunctionCall(name="f", arguments="{}")


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of ``mapping`` without ``key``; ``a.b`` leaves out ``b`` of the dict at ``a``."""
    head, _, rest = key.partition(".")
    if rest:
        return {**mapping, head: _without(mapping[head], rest)}
    return {name: value for name, value in mapping.items() if name != head}


def _calls(*calls: Any) -> dict[str, Any]:
    """create() keywords: one assistant message with these tool calls."""
    return {"messages": [{"role": "assistant", "content": None, "tool_calls": list(calls)}]}


_NAMED = {"type": "function", "function": {"name": "f"}}
_KB = {"index": "kb-1", "path": "/docs"}

REQUIRED: list[Any] = [
    pytest.param({"messages": None}, "messages", id="messages=None"),
    pytest.param({"model": None}, "model", id="model=None"),
    pytest.param({"messages": [{"content": "x"}]}, "messages[0].role", id="message.role"),
    pytest.param(
        {"messages": [ChatMessage(content="x")]}, "messages[0].role", id="ChatMessage.role"
    ),
    # A tool call: id, type, function, function.name, function.arguments.
    *(
        pytest.param(
            _calls(_without(CALL, key)), f"messages[0].tool_calls[0].{key}", id=f"call.{key}"
        )
        for key in ("id", "type", "function", "function.name", "function.arguments")
    ),
    pytest.param(_calls({**CALL, "id": None}), "messages[0].tool_calls[0].id", id="call.id=None"),
    pytest.param(
        _calls(ToolCall(function=FUNCTION)), "messages[0].tool_calls[0].id", id="ToolCall.id"
    ),
    pytest.param(
        _calls(ToolCall(id="c1", type=None, function=FUNCTION)),
        "messages[0].tool_calls[0].type",
        id="ToolCall.type",
    ),
    pytest.param(
        _calls(ToolCall(id="c1")), "messages[0].tool_calls[0].function", id="ToolCall.function"
    ),
    pytest.param(
        _calls(ToolCall(id="c1", function=FunctionCall(arguments="{}"))),
        "messages[0].tool_calls[0].function.name",
        id="FunctionCall.name",
    ),
    pytest.param(
        _calls(ToolCall(id="c1", function=FunctionCall(name="f"))),
        "messages[0].tool_calls[0].function.arguments",
        id="FunctionCall.arguments",
    ),
    pytest.param(
        {
            "messages": [
                ChatMessage(role="assistant", tool_calls=(ToolCall(function=FUNCTION),)),
            ]
        },
        "messages[0].tool_calls[0].id",
        id="ChatMessage.tool_calls[0].id",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u"},
                {"role": "assistant", "tool_calls": [CALL, _without(CALL, "id")]},
            ]
        },
        "messages[2].tool_calls[1].id",
        id="the second call of the third message",
    ),
    # A tool: type, function, function.name.
    *(
        pytest.param({"tools": [_without(TOOL, key)]}, f"tools[0].{key}", id=f"tool.{key}")
        for key in ("type", "function", "function.name")
    ),
    pytest.param(
        {"tools": [TOOL, Tool(function=FunctionDefinition(name=None))]},  # type: ignore[arg-type]
        "tools[1].function.name",
        id="FunctionDefinition.name",
    ),
    pytest.param(
        {"tools": [Tool(type=None, function=FunctionDefinition(name="f"))]},  # type: ignore[arg-type]
        "tools[0].type",
        id="Tool.type",
    ),
    # A named tool choice: type, function, function.name.
    *(
        pytest.param(
            {"tool_choice": _without(_NAMED, key)}, f"tool_choice.{key}", id=f"choice.{key}"
        )
        for key in ("type", "function", "function.name")
    ),
    pytest.param(
        {"tool_choice": NamedToolChoice(function=ToolChoiceFunction(name=None))},  # type: ignore[arg-type]
        "tool_choice.function.name",
        id="ToolChoiceFunction.name",
    ),
    pytest.param(
        {"tool_choice": NamedToolChoice(type=None, function=ToolChoiceFunction(name="f"))},  # type: ignore[arg-type]
        "tool_choice.type",
        id="NamedToolChoice.type",
    ),
    # A knowledge-base filter: index.
    pytest.param(
        {"kb_filters": [_KB, _without(_KB, "index")]}, "kb_filters[1].index", id="kb.index"
    ),
    pytest.param(
        {"kb_filters": [KBFilter(index=None)]},  # type: ignore[arg-type]
        "kb_filters[0].index",
        id="KBFilter.index",
    ),
]


@pytest.mark.parametrize(("kwargs", "param"), REQUIRED)
def test_leaving_out_a_required_field_is_rejected(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _check_call(kwargs)
    assert info.value.param == param
    assert "required" in info.value.allowed


def test_the_required_field_cases_are_valid_with_the_field() -> None:
    """The inputs above differ from good ones by the field left out, and nothing else."""
    _check_call(_calls(CALL))
    _check_call({"tools": [TOOL], "tool_choice": _NAMED, "kb_filters": [_KB]})


async def test_the_limits_hold_through_create_and_nothing_rejected_is_sent(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    """Every input of the limit and required-field tests, through create(): a rejected one
    raises naming the same parameter and sends nothing; an accepted one reaches the server
    exactly as given (a zero is not dropped as "not given", a tuple arrives as a list)."""
    create = async_client.agent.chat.completions.create
    wrong: list[str] = []
    for case in [*REJECTED, *REQUIRED]:
        kwargs, param = case.values
        try:
            await create(**{"model": "m", "messages": USER, **kwargs})
        except InvalidRequestError as exc:
            if exc.param != param:
                wrong.append(f"{case.id}: names {exc.param!r}, not {param!r}")
        else:
            wrong.append(f"{case.id}: not rejected")
    assert not wrong, "\n".join(wrong)
    assert server.requests == []

    sent = 0
    for case in ACCEPTED:
        (kwargs,) = case.values
        if "timeout" in kwargs:  # a 5e-324 s timeout is accepted, and then times out
            continue
        result = await create(**{"model": "m", "messages": USER, **kwargs})
        if isinstance(result, AsyncStream):
            await result.aclose()
        sent += 1
        body = server.requests[-1].json()
        for name, value in kwargs.items():
            given = json.loads(json.dumps(value, default=lambda model: model.to_dict()))
            if name != "max_retries" and body.get(name) != given:
                wrong.append(f"{case.id}: sent {name}={body.get(name)!r}")
    assert not wrong, "\n".join(wrong)
    assert len(server.requests) == sent


# == Known gaps: inputs that crash the checks instead of being rejected ======================


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        # `role in frozenset(...)` on the fast path: an unhashable role was a TypeError.
        pytest.param({"messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
        # math.isfinite() of an int beyond a float's range raises OverflowError.
        pytest.param({"temperature": 10**400}, "temperature"),
        pytest.param({"timeout": 10**400}, "timeout"),
    ],
)
def test_an_input_of_a_strange_type_is_rejected_not_crashed_on(
    kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _check_call(kwargs)
    assert info.value.param == param


# == The messages themselves: a golden file ==================================================

GOLDEN_FILE = Path(__file__).parent / "fixtures" / "validation_messages.txt"
GOLDEN_HEADER = """\
# The exact message of every check of a create() call: one bad input per check (the catalogue
# GOLDEN in tests/test_validation.py), one line per input: "[<case>] <str(error)>".
# These are user-facing: a line that changes here is a message that changed for users.
# When a change is intended, rewrite this file and review its diff:
#   AGENTCHAT_UPDATE_GOLDEN=1 .nox/tests/bin/pytest tests/test_validation.py -k golden
"""


class Bad(NamedTuple):
    """One bad input of the catalogue: create() keywords (on the agent client, or on the
    serverless one with ``standard=True``), or a function that raises."""

    case: str
    kwargs: dict[str, Any] | Callable[[], object]
    standard: bool = False


GOLDEN: list[Bad] = [
    # Strings and booleans: one per field.
    Bad("model: not a string", {"model": 7}),
    Bad("user: not a string", {"user": 12}),
    Bad("instruction_override: not a string", {"instruction_override": ["x"]}),
    *(Bad(f"{name}: not a bool", {name: 1}) for name in BOOL_FIELDS),
    # Integer ranges: one per field.
    Bad("max_tokens: below 0", {"max_tokens": -1}),
    Bad("max_completion_tokens: below 256", {"max_completion_tokens": 255}),
    Bad("top_logprobs: above 20", {"logprobs": True, "top_logprobs": 21}),
    Bad("n: above 128", {"n": 129}),
    Bad("n: a bool", {"n": True}),
    Bad("seed: not an integer", {"seed": 1.5}),
    Bad("k: below 0", {"k": -1}),
    # Number ranges: one per field.
    Bad("temperature: above 2", {"temperature": 2.5}),
    Bad("top_p: above 1", {"top_p": 1.5}),
    Bad("frequency_penalty: below -2", {"frequency_penalty": -2.5}),
    Bad("presence_penalty: above 2", {"presence_penalty": 2.5}),
    Bad("presence_penalty: NaN", {"presence_penalty": math.nan}),
    # One of a list.
    Bad("reasoning_effort: unknown", {"reasoning_effort": "extreme"}),
    Bad("retrieval_method: unknown", {"retrieval_method": "magic"}),
    # Messages.
    Bad("messages: not a list", {"messages": "hello"}),
    Bad("messages: empty", {"messages": []}),
    Bad("message: neither a dict nor a ChatMessage", {"messages": [42]}),
    Bad(
        "message: a ChatMessage with a field of the wrong type",
        {"messages": [ChatMessage(role="user", tool_calls=5)]},  # type: ignore[arg-type]
    ),
    Bad("message role: unknown", {"messages": [{"role": "bot", "content": "x"}]}),
    Bad("message role: missing", {"messages": [ChatMessage(content="x")]}),
    Bad(
        "message content: not text",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
    ),
    Bad("message refusal: not a string", {"messages": [{"role": "assistant", "refusal": 5}]}),
    Bad(
        "message reasoning_content: not a string",
        {"messages": [{"role": "assistant", "reasoning_content": ["x"]}]},
    ),
    Bad(
        "message tool_call_id: not a string",
        {"messages": [{"role": "tool", "content": "x", "tool_call_id": 7}]},
    ),
    Bad("message name: not a string", {"messages": [{"role": "user", "content": "x", "name": 7}]}),
    Bad("message key: not a string", {"messages": [{"role": "user", "content": "x", 1: "y"}]}),
    Bad("message key: misspelt", {"messages": [{"role": "user", "contnet": "hi"}]}),
    Bad(
        "message key: of another role",
        {"messages": [{"role": "user", "content": "x", "tool_call_id": "c1"}]},
    ),
    Bad(
        "message key: of several other roles",
        {"messages": [{"role": "tool", "content": "x", "tool_call_id": "c1", "name": "f"}]},
    ),
    Bad(
        "message key: of no role (an assistant message)",
        {"messages": [{"role": "assistant", "content": "x", "cache_control": {"type": "x"}}]},
    ),
    # Tool calls.
    Bad("tool_calls: not a list", {"messages": [{"role": "assistant", "tool_calls": CALL}]}),
    Bad("tool call: neither a dict nor a ToolCall", _calls("call")),
    Bad(
        "tool call: a ToolCall with a field of the wrong type",
        _calls(ToolCall(id="c1", function=5)),  # type: ignore[arg-type]
    ),
    Bad("tool call id: missing", _calls(_without(CALL, "id"))),
    Bad("tool call id: not a string", _calls({**CALL, "id": 5})),
    Bad("tool call type: not 'function'", _calls({**CALL, "type": "retrieval"})),
    Bad("tool call function: missing", _calls(_without(CALL, "function"))),
    Bad("tool call function.name: missing", _calls(_without(CALL, "function.name"))),
    Bad(
        "tool call function.arguments: a dict",
        _calls({**CALL, "function": {"name": "f", "arguments": {"city": "Paris"}}}),
    ),
    # Tools.
    Bad("tools: not a list", {"tools": TOOL}),
    Bad("tool: neither a dict nor a Tool", {"tools": ["get_weather"]}),
    Bad(
        "tool: a Tool with a field of the wrong type",
        {"tools": [Tool(function=5)]},  # type: ignore[arg-type]
    ),
    Bad("tool type: not 'function'", {"tools": [{**TOOL, "type": "retrieval"}]}),
    Bad("tool function: missing", {"tools": [_without(TOOL, "function")]}),
    Bad(
        "tool function.name: a space",
        {"tools": [{"type": "function", "function": {"name": "a b"}}]},
    ),
    Bad(
        "tool function.description: not a string",
        {"tools": [{"type": "function", "function": {"name": "f", "description": 5}}]},
    ),
    Bad(
        "tool function.parameters: not a dict",
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
    ),
    # Tool choice.
    Bad("tool_choice: an unknown string", {"tool_choice": "sometimes"}),
    Bad("tool_choice: neither a string nor a dict", {"tool_choice": ["auto"]}),
    Bad("tool_choice type: not 'function'", {"tool_choice": {**_NAMED, "type": "tool"}}),
    Bad("tool_choice function: missing", {"tool_choice": {"type": "function"}}),
    Bad(
        "tool_choice function.name: a space",
        {"tool_choice": {"type": "function", "function": {"name": "a b"}}},
    ),
    # stop, logit_bias, metadata.
    Bad("stop: 5 strings", {"stop": ["a", "b", "c", "d", "e"]}),
    Bad("stop: an item not a string", {"stop": ["a", 1]}),
    Bad("logit_bias: not a dict", {"logit_bias": [1]}),
    Bad("logit_bias key: not a token id", {"logit_bias": {"token": 1}}),
    Bad("logit_bias value: above 100", {"logit_bias": {"50256": 101}}),
    Bad("metadata: not a dict", {"metadata": ["k"]}),
    Bad("metadata: 17 pairs", {"metadata": {f"k{i}": "v" for i in range(17)}}),
    Bad("metadata key: 65 characters", {"metadata": {"k" * 65: "v"}}),
    Bad("metadata value: 513 characters", {"metadata": {"k": "v" * 513}}),
    # Fields that may only come with another.
    Bad("stream_options: not a dict", {"stream": True, "stream_options": True}),
    Bad(
        "stream_options.include_usage: not a bool",
        {"stream": True, "stream_options": {"include_usage": "yes"}},
    ),
    Bad("stream_options: without stream=True", {"stream_options": {"include_usage": True}}),
    Bad("top_logprobs: without logprobs=True", {"top_logprobs": 5}),
    # Knowledge-base filters.
    Bad("kb_filters: not a list", {"kb_filters": _KB}),
    Bad("kb filter: neither a dict nor a KBFilter", {"kb_filters": ["kb-1"]}),
    Bad("kb filter index: missing", {"kb_filters": [_without(_KB, "index")]}),
    Bad("kb filter path: not a string", {"kb_filters": [{**_KB, "path": 3}]}),
    # The body as JSON (extra_body is not checked otherwise).
    Bad("extra_body: not JSON", {"extra_body": {"weird": {1, 2}}}),
    # create()'s keywords and call options.
    Bad("keyword: misspelt", {"temprature": 0.5}),
    Bad("keyword: unknown", {"response_format": {"type": "json_object"}}),
    Bad("keyword: an agent's own, to serverless inference", {"k": 5}, standard=True),
    Bad("timeout: 0", {"timeout": 0}),
    Bad("Timeout field: 0", lambda: Timeout(connect=0)),
    Bad("max_retries: negative", {"max_retries": -1}),
    Bad("extra_headers: not a mapping", {"extra_headers": [("X-A", "b")]}),
    Bad("extra_headers name: a space", {"extra_headers": {"X A": "b"}}),
    Bad("extra_headers value: a line break (not shown)", {"extra_headers": {"X-A": "a\nb"}}),
]


async def _run_catalogue(server: FakeAgentServer) -> list[tuple[str, BaseException | None]]:
    """Each case of GOLDEN and the error it raised (None: it was not rejected)."""
    outcomes: list[tuple[str, BaseException | None]] = []
    async with (
        server.client(max_retries=0) as agent,
        server.inference_client(max_retries=0) as standard,
    ):
        for bad in GOLDEN:
            try:
                if callable(bad.kwargs):
                    bad.kwargs()
                else:
                    create = (
                        standard.chat.completions.create
                        if bad.standard
                        else agent.agent.chat.completions.create
                    )
                    await create(**{"model": "m", "messages": USER, **bad.kwargs})
            except Exception as exc:
                outcomes.append((bad.case, exc))
            else:
                outcomes.append((bad.case, None))
    return outcomes


def _golden_line(case: str, error: BaseException | None) -> str:
    if error is None:
        outcome = "NOT REJECTED"
    elif isinstance(error, (InvalidRequestError, ConfigurationError)):
        outcome = str(error)
    else:
        outcome = f"{type(error).__name__} (not an InvalidRequestError): {error}"
    return f"[{case}] {outcome}".replace("\n", "\\n") + "\n"


def _compare_with_golden(actual: str) -> None:
    """Fail with the unified diff of the golden file and ``actual`` if they differ; with
    ``AGENTCHAT_UPDATE_GOLDEN=1``, write ``actual`` to the file first."""
    if os.environ.get("AGENTCHAT_UPDATE_GOLDEN") == "1":
        GOLDEN_FILE.write_text(actual, encoding="utf-8")
    expected = GOLDEN_FILE.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"{GOLDEN_FILE.name} (kept)",
            tofile=f"{GOLDEN_FILE.name} (now)",
        )
        pytest.fail(
            "validation messages differ from the golden file (AGENTCHAT_UPDATE_GOLDEN=1 "
            "rewrites it, if the change is intended):\n" + "".join(diff),
            pytrace=False,
        )


async def test_every_checks_message_is_the_golden_one(server: FakeAgentServer) -> None:
    """The exact message of every check, against tests/fixtures/validation_messages.txt, all
    at once: on a mismatch the failure shows the unified diff of the whole catalogue.

    After an intended change of messages (or of the catalogue), rewrite the file with
    ``AGENTCHAT_UPDATE_GOLDEN=1 .nox/tests/bin/pytest tests/test_validation.py -k golden``
    and review its diff.
    """
    cases = [bad.case for bad in GOLDEN]
    assert len(set(cases)) == len(cases), "each case of GOLDEN needs its own name"
    outcomes = await _run_catalogue(server)
    _compare_with_golden(
        GOLDEN_HEADER + "".join(_golden_line(case, error) for case, error in outcomes)
    )
    assert server.requests == []


def _fail_sites() -> dict[tuple[int, int], str]:
    """Each ``_fail(...)`` call in agentchat/_validate.py: its first and last line, and the
    first line's text."""
    source = Path(_validate.__file__).read_text(encoding="utf-8")
    lines = source.splitlines()
    return {
        (node.lineno, node.end_lineno or node.lineno): lines[node.lineno - 1].strip()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_fail"
    }


async def test_the_golden_catalogue_reaches_every_check(
    server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``_fail(...)`` in agentchat/_validate.py is reached by some case of GOLDEN, and
    every checked keyword is named by one: a new check needs a golden message too."""
    if "MUTANT_UNDER_TEST" in os.environ:
        pytest.skip("mutmut rewrites _validate.py's source; the message test runs all the same")
    reached: set[int] = set()
    fail = _validate._fail

    def recording_fail(param: str, value: Any, allowed: str) -> InvalidRequestError:
        caller = sys._getframe(1)
        if caller.f_code.co_filename == _validate.__file__:
            reached.add(caller.f_lineno)
        return fail(param, value, allowed)

    monkeypatch.setattr(_validate, "_fail", recording_fail)
    outcomes = await _run_catalogue(server)

    sites = _fail_sites()
    missed = [
        f"line {first}: {text}"
        for (first, last), text in sites.items()
        if not any(first <= line <= last for line in reached)
    ]
    assert len(sites) > 30
    assert not missed, "no case of GOLDEN reaches these checks (add one):\n" + "\n".join(missed)

    named = {
        re.match(r"\w+", error.param).group()  # type: ignore[union-attr]
        for _, error in outcomes
        if isinstance(error, InvalidRequestError)
    }
    checked = CHECKED_FIELDS | {"timeout", "max_retries", "extra_headers"}
    assert checked - named == set(), "no case of GOLDEN is rejected naming these keywords"


# == The checker factories, called afresh ====================================================
# _int_range(), _number_range() and _one_of() build the checks of _CHECKS once, at import. The
# limit tests above go through that table; these build each checker again from the field's
# limits and hold it to the same exact edges, messages and error attributes, and check that
# the table's checker answers the same.


def _outcome(check: Callable[[str, Any], Any], name: str, value: Any) -> tuple[Any, ...]:
    """What a checker does with ``value``: ("ok", the value returned, its type) or
    ("rejected", param, value, allowed)."""
    try:
        result = check(name, value)
    except InvalidRequestError as exc:
        return ("rejected", exc.param, exc.value, exc.allowed)
    return ("ok", result, type(result))


def _int_allowed(low: int | None, high: int | None) -> str:
    if high is not None:
        return f"an integer from {low} to {high} is required"
    return f"an integer >= {low} is required" if low is not None else "an integer is required"


@pytest.mark.parametrize(("name", "limits"), INT_RANGES.items(), ids=list(INT_RANGES))
def test_an_integer_range_check_passes_each_integer_in_range_and_names_the_range(
    name: str, limits: tuple[int | None, int | None]
) -> None:
    low, high = limits
    check = _validate._int_range(low, high)
    allowed = _int_allowed(low, high)
    good = [low if low is not None else -(2**70), high if high is not None else 2**70]
    bad: list[Any] = [1.0, True, False, "1", None]
    if low is not None:
        good.append(low + 1)
        bad.append(low - 1)
    if high is not None:
        good.append(high - 1)
        bad.append(high + 1)
    expected = {
        **{repr(v): ("ok", v, int) for v in good},
        **{repr(v): ("rejected", name, v, allowed) for v in bad},
    }
    fresh = {repr(v): _outcome(check, name, v) for v in [*good, *bad]}
    table = {repr(v): _outcome(_validate._CHECKS[name], name, v) for v in [*good, *bad]}
    assert fresh == expected
    assert table == expected


@pytest.mark.parametrize(("name", "limits"), NUMBER_RANGES.items(), ids=list(NUMBER_RANGES))
def test_a_number_range_check_passes_each_number_in_range_unchanged_and_names_the_range(
    name: str, limits: tuple[int, int]
) -> None:
    low, high = limits
    check = _validate._number_range(low, high)
    allowed = f"a number from {low} to {high} is required"
    good: list[Any] = [low, high, float(low), float(high), (low + high) / 2, _above(low)]
    bad: list[Any] = [_below(low), _above(high), math.nan, math.inf, True, "1", None]
    expected = {
        **{repr(v): ("ok", v, type(v)) for v in good},
        **{repr(v): ("rejected", name, v, allowed) for v in bad},
    }
    fresh = {repr(v): _outcome(check, name, v) for v in [*good, *bad]}
    table = {repr(v): _outcome(_validate._CHECKS[name], name, v) for v in [*good, *bad]}
    # NaN is not equal to itself: compare the rejection of NaN by its text.
    assert repr(fresh) == repr(expected)
    assert repr(table) == repr(expected)


class _EqualToEverything:
    """Not a string, though ``==`` says it equals any option."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "<equal to everything>"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("reasoning_effort", _validate.REASONING_EFFORTS),
        ("retrieval_method", _validate.RETRIEVAL_METHODS),
    ],
)
def test_a_one_of_check_passes_each_option_and_lists_them_all_otherwise(
    name: str, options: tuple[str, ...]
) -> None:
    check = _validate._one_of(options)
    allowed = "one of " + ", ".join(repr(o) for o in options) + " is required"
    odd = _EqualToEverything()
    bad: list[Any] = ["extreme", options[0].upper(), "", None, 1, odd]
    expected = {
        **{repr(v): ("ok", v, str) for v in options},
        **{repr(v): ("rejected", name, v, allowed) for v in bad},
    }
    for checker in (check, _validate._CHECKS[name]):
        assert {repr(v): _outcome(checker, name, v) for v in [*options, *bad]} == expected


# == Models inside dicts: turned into dicts, on the wire as if given as dicts =================


async def test_a_model_inside_a_dict_is_sent_as_its_dict(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    """A tool call, a tool and a tool choice given as dicts whose ``function`` is an agentchat
    model: each is sent exactly as the all-dict form, and the caller's dicts keep their model."""
    call: dict[str, Any] = {"id": "c1", "type": "function", "function": FUNCTION}
    tool: dict[str, Any] = {"type": "function", "function": FunctionDefinition(name="f")}
    choice: dict[str, Any] = {"type": "function", "function": ToolChoiceFunction(name="f")}
    messages: list[Any] = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call, CALL]},
        {"role": "tool", "content": "42", "tool_call_id": "c1"},
    ]
    await async_client.agent.chat.completions.create(
        model="m", messages=messages, tools=[tool, TOOL], tool_choice=choice
    )
    body = server.requests[0].json()
    assert body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [CALL, CALL]}
    assert body["tools"] == [{"type": "function", "function": {"name": "f"}}, TOOL]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert call["function"] is FUNCTION
    assert isinstance(tool["function"], FunctionDefinition)
    assert isinstance(choice["function"], ToolChoiceFunction)
