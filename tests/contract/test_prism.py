"""Contract tests: the requests agentchat builds, checked by Prism against the official spec.

Prism (see ``conftest.py``) validates every request against
``spec/agent-inference.openapi.yaml``: an invalid body, a missing ``?agent=true`` or a
missing Bearer token gets an error status and an ``sl-violations`` header naming each
violation. A valid request gets the spec's example response, which the client must parse.

- Positive: every request field the client can send, each shape built once from plain
  dicts and once from agentchat's attrs classes, must reach Prism without a violation.
- Negative: values the schema forbids are rejected locally with ``InvalidRequestError``, and
  the same body sent raw is rejected by Prism too, so the local checks match the schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import aiohttp
import pytest

from agentchat import (
    AsyncAgentClient,
    AsyncInferenceClient,
    ChatCompletion,
    ChatMessage,
    FunctionCall,
    FunctionDefinition,
    InternalServerError,
    InvalidRequestError,
    KBFilter,
    NamedToolChoice,
    StreamOptions,
    Tool,
    ToolCall,
    ToolChoiceFunction,
    UnprocessableEntityError,
)
from agentchat._params import AGENT_FIELDS

pytestmark = pytest.mark.contract

Style = Literal["dicts", "attrs"]
STYLES: tuple[Style, ...] = ("dicts", "attrs")

MODEL = "llama3.3-70b-instruct"
COMPLETIONS_PATH = "/api/v1/chat/completions"
KB_1 = "9758a232-b351-11ef-bf8f-4e013e2ddde4"
KB_2 = "1b418231-b7d6-11ef-bf8f-4e013e2ddde4"
WEATHER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
    "additionalProperties": False,
}
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
RETRIEVAL_METHODS = ("rewrite", "step_back", "sub_queries", "none")


# -- request building blocks, as plain dicts or as attrs objects ------------------------------


def user(style: Style, text: str = "What is the weather in Boston?") -> Any:
    if style == "dicts":
        return {"role": "user", "content": text}
    return ChatMessage(role="user", content=text)


def conversation(style: Style) -> list[Any]:
    """Every role: system, developer, user, an assistant tool call (content None), the tool's
    answer, an assistant answer with reasoning_content and one with a refusal."""
    arguments = '{"location": "Boston", "unit": "celsius"}'
    if style == "dicts":
        return [
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "developer", "content": "Answer in one sentence."},
            {"role": "user", "content": "What is the weather in Boston?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temp_c": 21}'},
            {
                "role": "assistant",
                "content": "It is 21 °C in Boston.",
                "reasoning_content": "The tool reported 21 °C.",
                "refusal": None,
            },
            {"role": "user", "content": "And my neighbour's home address?"},
            {
                "role": "assistant",
                "content": None,
                "refusal": "I can't help with that.",
                "reasoning_content": None,
            },
            {"role": "user", "content": "Fine. Thanks!"},
        ]
    return [
        ChatMessage(role="system", content="You are a weather assistant."),
        ChatMessage(role="developer", content="Answer in one sentence."),
        ChatMessage(role="user", content="What is the weather in Boston?"),
        ChatMessage(
            role="assistant",
            content=None,
            tool_calls=(
                ToolCall(
                    id="call_abc123",
                    type="function",
                    function=FunctionCall(name="get_weather", arguments=arguments),
                ),
            ),
        ),
        ChatMessage(role="tool", tool_call_id="call_abc123", content='{"temp_c": 21}'),
        ChatMessage(
            role="assistant",
            content="It is 21 °C in Boston.",
            reasoning_content="The tool reported 21 °C.",
        ),
        ChatMessage(role="user", content="And my neighbour's home address?"),
        ChatMessage(role="assistant", refusal="I can't help with that."),
        ChatMessage(role="user", content="Fine. Thanks!"),
    ]


def tools(style: Style) -> list[Any]:
    """A tool with description and parameters, and a minimal one (name only)."""
    description = "Get the current weather for a location."
    if style == "dicts":
        return [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": description,
                    "parameters": WEATHER_PARAMETERS,
                },
            },
            {"type": "function", "function": {"name": "get-local_time-2"}},
        ]
    return [
        Tool(
            function=FunctionDefinition(
                name="get_weather", description=description, parameters=WEATHER_PARAMETERS
            )
        ),
        Tool(type="function", function=FunctionDefinition(name="get-local_time-2")),
    ]


def named_tool_choice(style: Style, name: str = "get_weather") -> Any:
    if style == "dicts":
        return {"type": "function", "function": {"name": name}}
    return NamedToolChoice(type="function", function=ToolChoiceFunction(name=name))


def kb_filters(style: Style) -> list[Any]:
    if style == "dicts":
        return [{"index": KB_1, "path": "docs/weather/"}, {"index": KB_2}]
    return [KBFilter(index=KB_1, path="docs/weather/"), KBFilter(index=KB_2)]


# -- the request shapes -------------------------------------------------------------------------

Shape = Callable[[Style], dict[str, Any]]


def _fields(**fields: Any) -> Shape:
    """A shape: one user message plus ``fields`` (the same in both styles)."""

    def build(style: Style) -> dict[str, Any]:
        return {"messages": [user(style)], "model": MODEL, **fields}

    return build


def _messages_generator(style: Style) -> dict[str, Any]:
    return {"messages": (m for m in conversation(style)), "model": MODEL}


def _tuple_messages(style: Style) -> dict[str, Any]:
    return {"messages": tuple(conversation(style)), "model": MODEL, "tools": tuple(tools(style))}


def _all_roles(style: Style) -> dict[str, Any]:
    return {"messages": conversation(style), "model": MODEL}


def _tools(tool_choice: Any = None) -> Shape:
    def build(style: Style) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "messages": conversation(style),
            "model": MODEL,
            "tools": tools(style),
        }
        if tool_choice == "named":
            kwargs["tool_choice"] = named_tool_choice(style)
        elif tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return kwargs

    return build


def _kb_filters(style: Style) -> dict[str, Any]:
    return {
        "messages": [user(style)],
        "model": MODEL,
        "k": 5,
        "retrieval_method": "rewrite",
        "kb_filters": kb_filters(style),
    }


def _kitchen_sink(style: Style) -> dict[str, Any]:
    """Every request field (except streaming) in one call."""
    return {
        "messages": conversation(style),
        "model": MODEL,
        "max_tokens": 1024,
        "max_completion_tokens": 512,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "logprobs": True,
        "top_logprobs": 3,
        "tools": tools(style),
        "tool_choice": named_tool_choice(style, "get-local_time-2"),
        "stop": ["\n\n", "END"],
        "logit_bias": {"50256": -100, 15339: 5},
        "n": 2,
        "reasoning_effort": "medium",
        "seed": 1234,
        "metadata": {"conversation": "c-42", "tenant": "acme"},
        "temperature": 0.7,
        "top_p": 0.9,
        "user": "user-1234",
        "k": 3,
        "retrieval_method": "sub_queries",
        "kb_filters": kb_filters(style),
        "filter_kb_content_by_query_metadata": True,
        "instruction_override": "Be brief.",
        "include_functions_info": True,
        "include_retrieval_info": True,
        "include_guardrails_info": True,
        "provide_citations": True,
        "extra_headers": {"X-Request-Source": "contract-test"},
        "extra_query": {"trace": "1"},
        "extra_body": {"custom_option": {"nested": [1, 2, 3]}},
    }


SHAPES: list[Any] = [
    pytest.param(_fields(), id="minimal"),
    pytest.param(_all_roles, id="all-roles"),
    pytest.param(_messages_generator, id="messages-generator"),
    pytest.param(_tuple_messages, id="tuples"),
    pytest.param(_fields(model="openai-gpt-4o"), id="model"),
    pytest.param(_fields(max_tokens=0), id="max-tokens-min"),
    pytest.param(_fields(max_tokens=4096), id="max-tokens"),
    pytest.param(_fields(max_completion_tokens=256), id="max-completion-tokens-min"),
    pytest.param(_fields(max_tokens=100, max_completion_tokens=2048), id="both-token-limits"),
    pytest.param(
        _fields(frequency_penalty=-2, presence_penalty=-2.0, temperature=0, top_p=0.0),
        id="sampling-low-bounds",
    ),
    pytest.param(
        _fields(frequency_penalty=2.0, presence_penalty=2, temperature=2, top_p=1),
        id="sampling-high-bounds",
    ),
    pytest.param(
        _fields(frequency_penalty=0.25, presence_penalty=-1.5, temperature=0.7, top_p=0.95),
        id="sampling",
    ),
    pytest.param(_fields(n=1, seed=0), id="n-min-seed-0"),
    pytest.param(_fields(n=128, seed=-42), id="n-max-seed-negative"),
    pytest.param(_fields(logprobs=True), id="logprobs"),
    pytest.param(_fields(logprobs=False), id="logprobs-false"),
    pytest.param(_fields(logprobs=True, top_logprobs=0), id="top-logprobs-min"),
    pytest.param(_fields(logprobs=True, top_logprobs=20), id="top-logprobs-max"),
    pytest.param(_tools(), id="tools"),
    pytest.param(_tools("none"), id="tool-choice-none"),
    pytest.param(_tools("auto"), id="tool-choice-auto"),
    pytest.param(_tools("required"), id="tool-choice-required"),
    pytest.param(_tools("named"), id="tool-choice-named"),
    pytest.param(_fields(stop="\n"), id="stop-string"),
    pytest.param(_fields(stop=["END"]), id="stop-list-1"),
    pytest.param(_fields(stop=("a", "b", "c", "d")), id="stop-list-4"),
    pytest.param(_fields(logit_bias={"50256": -100, "15339": 100, "0": 0}), id="logit-bias"),
    pytest.param(_fields(logit_bias={50256: -100, 15339: 100}), id="logit-bias-int-keys"),
    *(
        pytest.param(_fields(reasoning_effort=effort), id=f"reasoning-effort-{effort}")
        for effort in REASONING_EFFORTS
    ),
    pytest.param(_fields(metadata={"conversation": "c-42"}), id="metadata"),
    pytest.param(
        _fields(metadata={f"{i:02d}".ljust(64, "k"): "v" * 512 for i in range(16)}),
        id="metadata-limits",
    ),
    pytest.param(_fields(user="user-1234"), id="user"),
    *(
        pytest.param(_fields(k=4, retrieval_method=method), id=f"retrieval-method-{method}")
        for method in RETRIEVAL_METHODS
    ),
    pytest.param(_fields(k=0), id="k-zero"),
    pytest.param(
        _fields(tools=[], logit_bias={}, metadata={}, kb_filters=[], stop=""),
        id="empty-collections",
    ),
    pytest.param(_kb_filters, id="kb-filters"),
    pytest.param(
        _fields(
            filter_kb_content_by_query_metadata=True,
            instruction_override="Answer like a pirate.",
            include_functions_info=True,
            include_retrieval_info=True,
            include_guardrails_info=True,
            provide_citations=True,
        ),
        id="agent-flags-true",
    ),
    pytest.param(
        _fields(
            filter_kb_content_by_query_metadata=False,
            instruction_override="",
            include_functions_info=False,
            include_retrieval_info=False,
            include_guardrails_info=False,
            provide_citations=False,
        ),
        id="agent-flags-false",
    ),
    pytest.param(
        _fields(
            extra_body={"custom_option": {"nested": [1, 2]}, "temperature": None},
            extra_query={"trace": "1", "api-version": "2026-01-01"},
            extra_headers={"X-Request-Source": "contract-test", "X-Trace": "abc"},
        ),
        id="extras",
    ),
    pytest.param(_kitchen_sink, id="kitchen-sink"),
]


# -- helpers ------------------------------------------------------------------------------------


async def create(prism_url: str, kwargs: Mapping[str, Any]) -> ChatCompletion:
    """Send ``kwargs`` through the client; a 422 from Prism fails with its violations."""
    async with AsyncAgentClient(
        token="contract-key", agent_endpoint=prism_url, max_retries=0
    ) as client:
        try:
            completion = await client.agent.chat.completions.create(**kwargs)
        except UnprocessableEntityError as err:
            pytest.fail(
                "Prism rejected the request (HTTP 422); sl-violations: "
                f"{err.headers.get('sl-violations')}",
                pytrace=False,
            )
    assert isinstance(completion, ChatCompletion)
    assert completion.response is not None
    assert completion.response.status == 200
    violations = completion.response.headers.get("sl-violations")
    assert "sl-violations" not in completion.response.headers, violations
    return completion


async def post_raw(url: str, body: object, headers: Mapping[str, str]) -> tuple[int, str | None]:
    """POST ``body`` as JSON with aiohttp; the status and the ``sl-violations`` header."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=json.dumps(body).encode(), headers=dict(headers)) as response,
    ):
        await response.read()
        return response.status, response.headers.get("sl-violations")


RAW_HEADERS = {"Authorization": "Bearer x", "Content-Type": "application/json"}


def _iter_nones(value: object, path: str = "") -> Iterator[str]:
    """Paths of the ``None`` values inside a to_dict() result (there should be none)."""
    if value is None:
        yield path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _iter_nones(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _iter_nones(item, f"{path}[{i}]")


# -- positive contract --------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("shape", SHAPES)
async def test_request_shape_is_valid(prism_url: str, shape: Shape, style: Style) -> None:
    await create(prism_url, shape(style))


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("shape", SHAPES)
async def test_serverless_request_shape_is_valid(
    prism_url: str, shape: Shape, style: Style
) -> None:
    """The same shapes, less the agent's own fields, through the serverless inference client:
    Prism checks them against the spec's ``/v1/chat/completions`` operation."""
    kwargs = {key: value for key, value in shape(style).items() if key not in AGENT_FIELDS}
    async with AsyncInferenceClient(
        token="contract-key", inference_endpoint=prism_url, max_retries=0
    ) as client:
        try:
            completion = await client.chat.completions.create(**kwargs)
        except UnprocessableEntityError as err:
            pytest.fail(f"sl-violations: {err.headers.get('sl-violations')}", pytrace=False)
    assert completion.response.url.startswith(f"{prism_url}/v1/chat/completions")
    assert "sl-violations" not in completion.response.headers


STREAM_SHAPES: list[Any] = [
    pytest.param(_fields(), id="stream"),
    pytest.param(_fields(stream_options={"include_usage": True}), id="stream-usage-dict"),
    pytest.param(
        _fields(stream_options=StreamOptions(include_usage=False)), id="stream-usage-attrs"
    ),
    pytest.param(_kitchen_sink, id="stream-kitchen-sink"),
]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("shape", STREAM_SHAPES)
async def test_streamed_request_shape_is_valid(prism_url: str, shape: Shape, style: Style) -> None:
    """Prism validates the request, then cannot mock an event stream: it answers 500
    NO_COMPLEX_OBJECT_TEXT, without violations, for a valid one (and 422 for an invalid one)."""
    kwargs = {**shape(style), "stream": True}
    async with AsyncAgentClient(
        token="contract-key", agent_endpoint=prism_url, max_retries=0
    ) as client:
        with pytest.raises(InternalServerError) as info:
            await client.agent.chat.completions.create(**kwargs)
    error = info.value
    assert "sl-violations" not in error.headers, error.headers.get("sl-violations")
    assert isinstance(error.body, dict)
    assert str(error.body.get("type", "")).endswith("NO_COMPLEX_OBJECT_TEXT")


async def test_spec_example_response_is_parsed(prism_url: str) -> None:
    completion = await create(prism_url, {"messages": [user("dicts")], "model": MODEL})

    assert completion.id == "chatcmpl-abc123"
    assert completion.object == "chat.completion"
    assert completion.created == 1677649420
    assert completion.model == "llama3-8b-instruct"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    message = choice.message
    assert message.role == "assistant"
    assert message.content == "Hello! How can I help you today?"
    assert message.refusal == ""
    assert message.reasoning_content == ""
    assert message.tool_calls is not None
    assert len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.id == "call_abc123"
    assert call.type == "function"
    assert call.function == FunctionCall(name="get_weather", arguments='{"location": "Boston"}')
    assert choice.logprobs is not None
    for tokens in (choice.logprobs.content, choice.logprobs.refusal):
        assert tokens is not None
        assert len(tokens) == 1
        token = tokens[0]
        assert token.token == "Hello"
        assert token.logprob == -1.2345
        assert token.bytes == (0,)
        assert token.top_logprobs is not None
        assert [(t.token, t.logprob, t.bytes) for t in token.top_logprobs] == [
            ("Hello", -1.2345, (0,))
        ]
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (0, 0, 0)
    assert usage.cache_created_input_tokens == 0
    assert usage.cache_read_input_tokens == 0
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert usage.cache_creation.ephemeral_1h_input_tokens == 0
    # Every field of the spec's response is modelled: nothing is left over in ``extra``.
    for model in (completion, choice, message, call, choice.logprobs, usage):
        assert dict(model.extra) == {}, type(model).__name__
    # The agent extras are absent from the official example.
    assert (completion.retrieval, completion.functions, completion.guardrails) == (None,) * 3

    assert completion.response is not None
    rate_limit = completion.response.rate_limit
    assert (rate_limit.limit, rate_limit.remaining) == (5000, 4816)
    assert rate_limit.reset_at == 1444931833


@pytest.mark.parametrize("style", STYLES)
async def test_received_message_can_be_sent_back(prism_url: str, style: Style) -> None:
    """The parsed answer (with tool_calls, refusal and reasoning_content) is a valid message."""
    first = await create(prism_url, {"messages": [user(style)], "model": MODEL})
    answer = first.choices[0].message
    assert not list(_iter_nones(answer.to_dict()))
    reply: Any = answer if style == "attrs" else answer.to_dict()
    messages = [user(style), reply, user(style, "Thanks")]
    await create(prism_url, {"messages": messages, "model": MODEL, "tools": tools(style)})


async def test_prism_requires_bearer_token(prism_url: str) -> None:
    body = {"messages": [{"role": "user", "content": "Hi"}], "model": MODEL}
    status, _ = await post_raw(
        f"{prism_url}{COMPLETIONS_PATH}?agent=true", body, {"Content-Type": "application/json"}
    )
    assert status == 401


async def test_prism_requires_agent_query(prism_url: str) -> None:
    body = {"messages": [{"role": "user", "content": "Hi"}], "model": MODEL}
    status, violations = await post_raw(f"{prism_url}{COMPLETIONS_PATH}", body, RAW_HEADERS)
    assert status in (400, 422)
    assert violations is not None
    assert "agent" in violations


# -- negative sample ----------------------------------------------------------------------------

_USER = {"role": "user", "content": "Hi"}
_CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}

#: (create() kwargs beyond model and messages, the ``param`` the local error names).
#: Only limits the schema itself encodes: Prism does not read descriptions.
INVALID: list[Any] = [
    pytest.param({"temperature": 3}, "temperature", id="temperature-3"),
    pytest.param({"temperature": "1"}, "temperature", id="temperature-string"),
    pytest.param({"top_p": 1.5}, "top_p", id="top-p-1.5"),
    pytest.param({"frequency_penalty": -3}, "frequency_penalty", id="frequency-penalty--3"),
    pytest.param({"presence_penalty": 2.5}, "presence_penalty", id="presence-penalty-2.5"),
    pytest.param({"n": 0}, "n", id="n-0"),
    pytest.param({"n": 129}, "n", id="n-129"),
    pytest.param({"logprobs": True, "top_logprobs": 21}, "top_logprobs", id="top-logprobs-21"),
    pytest.param({"stop": ["a", "b", "c", "d", "e"]}, "stop", id="stop-5-strings"),
    pytest.param({"stop": []}, "stop", id="stop-empty"),
    pytest.param(
        {"max_completion_tokens": 100}, "max_completion_tokens", id="max-completion-tokens-100"
    ),
    pytest.param({"max_tokens": -1}, "max_tokens", id="max-tokens--1"),
    pytest.param({"seed": 1.5}, "seed", id="seed-float"),
    pytest.param({"model": 5}, "model", id="model-int"),
    pytest.param({"user": 5}, "user", id="user-int"),
    pytest.param({"messages": []}, "messages", id="messages-empty"),
    pytest.param(
        {"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role", id="role-bot"
    ),
    pytest.param({"messages": [{"content": "x"}]}, "messages[0].role", id="role-missing"),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
        "messages[0].content",
        id="content-list",
    ),
    pytest.param(
        {"messages": [_USER, {"role": "assistant", "content": "x", "refusal": 5}]},
        "messages[1].refusal",
        id="refusal-int",
    ),
    pytest.param(
        {"messages": [_USER, {"role": "tool", "content": "x", "tool_call_id": 5}]},
        "messages[1].tool_call_id",
        id="tool-call-id-int",
    ),
    pytest.param(
        {"messages": [{"role": "assistant", "tool_calls": [{**_CALL, "type": "retrieval"}]}]},
        "messages[0].tool_calls[0].type",
        id="tool-call-type",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                }
            ]
        },
        "messages[0].tool_calls[0].id",
        id="tool-call-id-missing",
    ),
    pytest.param(
        {"messages": [{"role": "assistant", "tool_calls": [{**_CALL, "function": {"name": "f"}}]}]},
        "messages[0].tool_calls[0].function.arguments",
        id="tool-call-arguments-missing",
    ),
    pytest.param({"reasoning_effort": "extreme"}, "reasoning_effort", id="reasoning-effort"),
    pytest.param(
        {"tools": [{"type": "retrieval", "function": {"name": "f"}}]},
        "tools[0].type",
        id="tool-type-retrieval",
    ),
    pytest.param(
        {"tools": [{"type": "function"}]}, "tools[0].function", id="tool-function-missing"
    ),
    pytest.param(
        {"tools": [{"type": "function", "function": {"description": "d"}}]},
        "tools[0].function.name",
        id="tool-name-missing",
    ),
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
        "tools[0].function.parameters",
        id="tool-parameters-string",
    ),
    pytest.param({"tool_choice": "sometimes"}, "tool_choice", id="tool-choice-sometimes"),
    pytest.param(
        {"tool_choice": {"type": "retrieval", "function": {"name": "f"}}},
        "tool_choice.type",
        id="tool-choice-type",
    ),
    pytest.param({"logprobs": "yes"}, "logprobs", id="logprobs-yes"),
    pytest.param({"metadata": {"a": 5}}, "metadata['a']", id="metadata-value-int"),
    pytest.param({"logit_bias": {"1": "x"}}, "logit_bias['1']", id="logit-bias-value-str"),
]


@pytest.mark.parametrize(("fields", "param"), INVALID)
async def test_invalid_request_rejected_locally_and_by_prism(
    prism_url: str, fields: dict[str, Any], param: str
) -> None:
    body: dict[str, Any] = {"model": MODEL, "messages": [_USER], **fields}

    async with AsyncAgentClient(
        token="contract-key", agent_endpoint=prism_url, max_retries=0
    ) as client:
        with pytest.raises(InvalidRequestError) as excinfo:
            await client.agent.chat.completions.create(**body)
    assert excinfo.value.param == param

    status, violations = await post_raw(
        f"{prism_url}{COMPLETIONS_PATH}?agent=true", body, RAW_HEADERS
    )
    assert status == 422, f"Prism accepted the body the client rejects: {body}"
    assert violations is not None
