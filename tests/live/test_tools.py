"""Tool calls against a real llama-server: streamed and accumulated, and a whole tool loop.

The server's chat template (``tests/live/tool_template.jinja``) lists the tools in the system
turn and parses ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` in the output into
``tool_calls``. The conversation starts with one worked example (a question, the assistant's
call, the tool's result, the answer) before the real question.

The 135M model, shown that example, tends to skip the call and make up the tool's answer
itself: it writes ``<tool_response>{...}</tool_response>`` straight away, at any temperature
and with any system prompt tried. ``NO_MADE_UP_RESULTS`` forbids the token ``response`` (which
only ``<tool_response>`` needs), so the model must call the tool; then it does, every time.
"""

from __future__ import annotations

import json
from typing import Any

from agentchat import ChatCompletionChunk, MessageParam

from .clients import Chat, kinds

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

#: SmolLM2's token id of "response": after "<tool_" only a made-up ``<tool_response>`` needs it.
NO_MADE_UP_RESULTS = {"7639": -100}


def conversation(city: str) -> list[MessageParam]:
    """A worked example of one call, then the question about ``city``."""
    return [
        {"role": "system", "content": "You answer weather questions by calling get_weather."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_paris",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_paris",
            "content": '{"city": "Paris", "weather": "sunny, 21 C"}',
        },
        {"role": "assistant", "content": "It is sunny and 21 C in Paris."},
        {"role": "user", "content": f"What is the weather in {city}?"},
    ]


def get_weather(city: str) -> dict[str, Any]:
    """The tool the model calls."""
    return {"city": city, "weather": "foggy, 9 C"}


@kinds("agent", "openai", "inference")
async def test_streamed_tool_call(chat: Chat) -> None:
    stream = await chat.stream(
        messages=conversation("Tokyo"),
        tools=[WEATHER],
        temperature=0,
        max_tokens=60,
        logit_bias=NO_MADE_UP_RESULTS,
        stream_options={"include_usage": True},
    )
    chunks: list[ChatCompletionChunk] = []
    async with stream:
        async for chunk in stream:
            chunks.append(chunk)
        final = await stream.get_final_completion()

    fragments = [
        call for c in chunks if c.choices for call in (c.choices[0].delta.tool_calls or ())
    ]
    # The first fragment names the call (id, type, name); the arguments follow in pieces.
    assert fragments[0].id and fragments[0].function is not None
    assert fragments[0].type == "function"
    assert fragments[0].function.name == "get_weather"
    assert len(fragments) > 2
    assert all(f.index == 0 for f in fragments)
    assert all(f.id is None for f in fragments[1:])

    (choice,) = final.choices
    assert choice.finish_reason == "tool_calls"
    assert not choice.message.content
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.id == fragments[0].id
    assert call.type == "function"
    assert call.function is not None and call.function.name == "get_weather"
    assert call.function.arguments is not None
    assert json.loads(call.function.arguments) == {"city": "Tokyo"}
    streamed_arguments = "".join(
        f.function.arguments or "" for f in fragments if f.function is not None
    )
    assert call.function.arguments == streamed_arguments
    assert final.usage is not None and final.usage.completion_tokens


@kinds("agent", "openai")
async def test_tool_loop(chat: Chat) -> None:
    messages = conversation("Lisbon")
    first = await chat.complete(
        messages=messages,
        tools=[WEATHER],
        temperature=0,
        max_tokens=60,
        logit_bias=NO_MADE_UP_RESULTS,
    )
    (choice,) = first.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.id and call.function is not None and call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments or "")
    result = get_weather(**arguments)
    assert result["city"] == "Lisbon"

    # The assistant's message goes back as it came (with its tool_calls), then the result.
    assistant: Any = choice.message.to_dict()
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["id"] == call.id
    messages += [
        assistant,
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)},
    ]
    final = await chat.complete(
        messages=messages,
        tools=[WEATHER],
        temperature=0,
        max_tokens=40,
        logit_bias=NO_MADE_UP_RESULTS,
    )
    (answer,) = final.choices
    assert answer.finish_reason == "stop"
    assert answer.message.tool_calls is None
    assert answer.message.content
    # The answer uses the tool's result.
    assert "foggy" in answer.message.content.lower(), answer.message.content
