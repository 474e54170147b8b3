"""The attrs models and the one cattrs converter: structure, unknown fields, missing fields,
strict primitive types, frozen and slotted, round trip."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest

from agentchat import (
    ChatCompletion,
    ChatMessage,
    FunctionDefinition,
    NamedToolChoice,
    Tool,
    ToolCall,
    Usage,
)

FULL: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "llama3.3-70b-instruct",
    "system_fingerprint": "fp_1",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "reasoning_content": "thinking...",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Lisbon"}'},
                    }
                ],
            },
            "logprobs": {
                "content": [
                    {
                        "token": "Hi",
                        "logprob": -0.5,
                        "bytes": [72, 105],
                        "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}],
                    }
                ],
                "refusal": None,
            },
        }
    ],
    "usage": {
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "total_tokens": 30,
        "cache_created_input_tokens": 1,
        "cache_read_input_tokens": 2,
        "cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 4},
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 5},
    },
    "retrieval": {"retrieved_data": [{"id": "d1", "index": "kb-1", "score": 0.87}]},
    "functions": {"called_functions": ["lookup"]},
    "guardrails": {"triggered_guardrails": [{"message": "blocked", "rule_name": "pii"}]},
}


def test_every_documented_field_is_structured() -> None:
    completion = ChatCompletion.from_dict(FULL)
    assert completion.id == "chatcmpl-1" and completion.created == 1_700_000_000
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    message = choice.message
    assert message.reasoning_content == "thinking..."
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.function is not None
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "get_weather",
        '{"city": "Lisbon"}',
    )
    assert choice.logprobs is not None and choice.logprobs.content is not None
    token = choice.logprobs.content[0]
    assert token.bytes == (72, 105)
    assert token.top_logprobs is not None and token.top_logprobs[0].logprob == -0.5
    usage = completion.usage
    assert usage is not None and usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == 4
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 2
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 5
    assert completion.retrieval is not None and completion.retrieval.retrieved_data is not None
    assert completion.retrieval.retrieved_data[0].score == 0.87
    assert completion.functions is not None
    assert completion.functions.called_functions == ("lookup",)
    assert completion.guardrails is not None
    assert completion.guardrails.triggered_guardrails is not None
    assert completion.guardrails.triggered_guardrails[0].rule_name == "pii"


def test_unknown_fields_are_kept_at_every_level() -> None:
    data = copy.deepcopy(FULL)
    data["service_tier"] = "default"
    data["choices"][0]["message"]["annotations"] = [{"type": "url_citation"}]
    data["choices"][0]["stop_reason"] = 128009
    data["usage"]["new_counter"] = 7
    completion = ChatCompletion.from_dict(data)
    assert completion.extra == {"service_tier": "default"}
    assert completion.choices[0].extra == {"stop_reason": 128009}
    assert completion.choices[0].message.extra == {"annotations": [{"type": "url_citation"}]}
    assert completion.usage is not None and completion.usage.extra == {"new_counter": 7}
    # ... and they go back out unchanged.
    assert completion.to_dict()["service_tier"] == "default"
    assert completion.to_dict()["choices"][0]["message"]["annotations"] == [
        {"type": "url_citation"}
    ]


def test_objects_without_unknown_fields_share_one_empty_extra() -> None:
    completion = ChatCompletion.from_dict(FULL)
    assert completion.extra == {}
    assert completion.extra is completion.choices[0].extra


def test_fields_the_spec_requires_may_be_missing() -> None:
    # DigitalOcean's own example omits several "required" fields.
    completion = ChatCompletion.from_dict({"choices": [{"message": {"content": "hi"}}]})
    assert completion.id is None and completion.created is None and completion.object is None
    assert completion.usage is None
    choice = completion.choices[0]
    assert choice.index is None and choice.finish_reason is None and choice.logprobs is None
    assert choice.message.role is None and choice.message.content == "hi"


def test_a_choice_without_a_message_gets_an_empty_one() -> None:
    completion = ChatCompletion.from_dict({"choices": [{"index": 0}]})
    assert completion.choices[0].message == ChatMessage()


def test_usage_without_details() -> None:
    usage = Usage.from_dict({"prompt_tokens": 1})
    assert usage.prompt_tokens == 1 and usage.total_tokens is None


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("id",), 5),
        (("created",), "yesterday"),
        (("created",), True),
        (("choices",), None),
        (("choices",), {"0": {}}),
        (("choices", 0, "message", "content"), ["part"]),
        (("choices", 0, "message", "tool_calls"), "call"),
        (("choices", 0, "logprobs", "content", 0, "logprob"), "low"),
        (("usage",), 5),
        (("functions", "called_functions"), "lookup"),
    ],
)
def test_wrong_types_raise_instead_of_being_coerced(path: tuple[Any, ...], bad: Any) -> None:
    data = copy.deepcopy(FULL)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(TypeError, match="expected"):
        ChatCompletion.from_dict(data)


def test_integral_floats_are_accepted_for_integers_and_ints_for_floats() -> None:
    data = copy.deepcopy(FULL)
    data["created"] = 1_700_000_000.0
    data["retrieval"]["retrieved_data"][0]["score"] = 1
    completion = ChatCompletion.from_dict(data)
    assert completion.created == 1_700_000_000 and isinstance(completion.created, int)
    assert completion.retrieval is not None and completion.retrieval.retrieved_data is not None
    assert isinstance(completion.retrieval.retrieved_data[0].score, float)


def test_models_are_frozen_and_slotted() -> None:
    completion = ChatCompletion.from_dict(FULL)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        completion.id = "other"  # type: ignore[misc]
    assert not hasattr(completion, "__dict__")
    assert not hasattr(completion.choices[0].message, "__dict__")


def test_round_trip_through_to_dict() -> None:
    completion = ChatCompletion.from_dict(FULL)
    again = ChatCompletion.from_dict(completion.to_dict())
    assert again == completion


def test_to_dict_leaves_out_none_fields() -> None:
    assert ChatMessage(role="user", content="hi").to_dict() == {"role": "user", "content": "hi"}
    assert Tool(function=FunctionDefinition(name="f")).to_dict() == {
        "function": {"name": "f"},
        "type": "function",
    }


def test_an_answer_can_be_appended_to_the_conversation() -> None:
    message = ChatCompletion.from_dict(FULL).choices[0].message
    sent = message.to_dict()
    assert sent["role"] == "assistant"
    assert sent["tool_calls"][0]["function"]["name"] == "get_weather"
    assert "content" not in sent and "refusal" not in sent


def test_named_tool_choice_shortcut() -> None:
    assert NamedToolChoice.for_function("f").to_dict() == {
        "function": {"name": "f"},
        "type": "function",
    }


def test_tool_call_defaults_to_function_type() -> None:
    assert ToolCall(id="c").type == "function"


def test_response_metadata_is_not_part_of_equality_or_the_wire() -> None:
    completion = ChatCompletion.from_dict(FULL)
    # Built by hand: an empty ResponseInfo (no HTTP response behind it).
    assert completion.response.status == 0 and completion.response.request_id is None
    assert "response" not in completion.to_dict() and "response" not in completion
