"""Bad input is rejected before anything is sent, naming the parameter, the value and what is
allowed; good input of every shape passes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from agentchat import (
    AssistantMessageParam,
    AsyncAgentClient,
    ChatMessage,
    FunctionCall,
    FunctionDefinition,
    InvalidRequestError,
    KBFilter,
    MessageParam,
    NamedToolChoice,
    Tool,
    ToolCall,
    ToolCallParam,
)
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


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": 0},
        {"temperature": 2},
        {"top_p": 0.0},
        {"top_p": 1},
        {"frequency_penalty": -2},
        {"presence_penalty": 2.0},
        {"n": 1},
        {"n": 128},
        {"max_tokens": 0},
        {"max_completion_tokens": 256},
        {"logprobs": True, "top_logprobs": 0},
        {"logprobs": True, "top_logprobs": 20},
        {"stop": "END"},
        {"stop": ["a", "b", "c", "d"]},
        {"stop": ("a",)},
        {"metadata": {f"k{i}": "v" * 512 for i in range(16)}},
        {"metadata": {"k" * 64: ""}},
        {"logit_bias": {50256: -100, "11": 100}},
        {"seed": -5},
        {"k": 0},
        {"reasoning_effort": "none"},
        {"retrieval_method": "none"},
        {"tools": [TOOL], "tool_choice": "required"},
        {"tools": [{"type": "function", "function": {"name": "A-z_0-9" * 9 + "x"}}]},
        {"stream_options": None},
        {"messages": [{"role": "assistant", "content": None}]},
        {"messages": [ChatMessage(role="user", content="hi", extra={"name": "bob"})]},
    ],
)
async def test_values_at_the_limits_are_accepted(
    server: FakeAgentServer, client: AsyncAgentClient, kwargs: dict[str, Any]
) -> None:
    call: dict[str, Any] = {"model": "m", "messages": USER, **kwargs}
    completion = await client.agent.chat.completions.create(**call)
    assert completion.response is not None and completion.response.status == 200
    assert len(server.requests) == 1


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
