"""run_tools() against a real llama-server: a real model calling a real Python function.

The same worked example as ``test_tools.py`` (the tiny model needs it), but the loop is
agentchat's: the tool is a plain function made a tool by ``function_tool``, its schema derived
from its type hints; ``run_tools()`` sends it, runs the call the model makes, sends the result
back and returns the model's final answer, through the async and the sync client.
"""

from __future__ import annotations

import json
import threading

from agentchat import ToolRunResult, function_tool

from .clients import Chat, kinds
from .test_tools import NO_MADE_UP_RESULTS, conversation

CALLS: list[tuple[str, int]] = []


@function_tool
def get_weather(city: str) -> dict[str, str]:
    """The current weather in a city.

    Args:
        city: the city's name, in English.
    """
    CALLS.append((city, threading.get_ident()))
    return {"city": city, "weather": "foggy, 9 C"}


@kinds("agent", "openai", "inference")
async def test_run_tools_calls_the_function_and_answers_with_its_result(chat: Chat) -> None:
    CALLS.clear()
    # The worked example's call is in the conversation already: only the new one runs.
    result: ToolRunResult = await chat.run_tools(
        messages=conversation("Lisbon"),
        tools=[get_weather],
        temperature=0,
        max_tokens=60,
        logit_bias=NO_MADE_UP_RESULTS,
        max_rounds=3,
    )
    assert [city for city, _ in CALLS] == ["Lisbon"]
    # A sync tool function runs in a worker thread: not the test's, nor (sync client) the
    # caller's, which both run in the main thread here.
    assert CALLS[0][1] != threading.main_thread().ident

    first, last = result.rounds[0], result.rounds[-1]
    (call,) = first.calls
    assert call.name == "get_weather" and call.ok
    assert call.parsed == {"city": "Lisbon"}
    assert json.loads(call.result) == {"city": "Lisbon", "weather": "foggy, 9 C"}
    assert last.calls == ()
    answer = result.completion.choices[0]
    assert answer.finish_reason == "stop"
    assert answer.message.content and "foggy" in answer.message.content.lower()

    # The conversation is ready to continue: the assistant's call, the tool's result with the
    # call's id, then the answer.
    tail = result.messages[len(conversation("Lisbon")) :]
    assert [m["role"] for m in tail] == ["assistant", "tool", "assistant"]
    assert tail[0]["tool_calls"][0]["id"] == call.id == tail[1]["tool_call_id"]
    assert result.usage is not None and result.usage.total_tokens
    assert len(result.rounds) == 2
