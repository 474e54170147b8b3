"""The tool loop, ``completions.run_tools()``: against the fake agent, through the async
client and the generated sync one (the ``client`` fixture runs each shared test twice)."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
import pytest

from agentchat import AsyncAgentClient, ChatMessage, InvalidRequestError, StreamClosedError
from agentchat._tools._function import FunctionTool, ToolArgumentsError, function_tool
from agentchat._tools._runner import (
    RoundEnd,
    TextDelta,
    ToolCallEvent,
    ToolCallRecord,
    ToolError,
    ToolResultEvent,
    ToolRoundLimitError,
    ToolRunResult,
    UnknownToolError,
    encode_result,
)
from agentchat.testing import FakeAgentServer, ScriptedReply, ScriptedToolCall

from .conftest import USER, checked_out

BOUND = 5.0  # seconds: every wait in these tests is bounded by this


class ToolAgent(FakeAgentServer):
    """The fake agent, and, for requests nothing is scripted for, a model that uses tools:
    offered tools, it calls ``lookup(key=<the user's text>)``; given a tool's result, it
    answers ``Answer: <result>``. (Scripted replies answer as usual.)"""

    def completion(
        self, payload: Mapping[str, Any], number: int = 1, reply: ScriptedReply | None = None
    ) -> dict[str, Any]:
        messages = payload.get("messages") or []
        last = messages[-1] if messages else {}
        if reply is None and payload.get("tools") and last.get("role") == "user":
            reply = ScriptedReply(
                tool_calls=(ScriptedToolCall("lookup", {"key": last["content"]}),)
            )
        elif reply is None and last.get("role") == "tool":
            reply = ScriptedReply(content=f"Answer: {last['content']}")
        return super().completion(payload, number, reply)


@pytest.fixture
async def server() -> AsyncIterator[FakeAgentServer]:
    async with ToolAgent() as fake:
        yield fake


# -- tools the tests use ------------------------------------------------------------------------


@function_tool
def get_weather(city: str) -> dict[str, Any]:
    """The weather in a city."""
    if city == "Atlantis":
        raise ValueError("no such city")
    return {"city": city, "sky": "sunny"}


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def lookup(key: str) -> str:
    """Look a key up (a plain function: run_tools wraps it)."""
    return f"value of {key}"


def ask(client: AsyncAgentClient, **kwargs: Any) -> Any:
    call: dict[str, Any] = {"model": "m", "messages": USER, **kwargs}
    return client.agent.chat.completions.run_tools(**call)


def assistant_calls(*calls: tuple[str, str, str], content: str | None = None) -> dict[str, Any]:
    """The assistant message that carries ``(id, name, arguments)`` calls, as sent."""
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for id, name, arguments in calls
        ],
    }


def tool_message(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


async def eventually(condition: Callable[[], bool]) -> bool:
    """Whether ``condition()`` becomes true within ``BOUND`` seconds."""
    for _ in range(int(BOUND / 0.01)):
        if condition():
            return True
        await anyio.sleep(0.01)
    return condition()


# -- one call -----------------------------------------------------------------------------------


async def test_one_call_runs_the_tool_and_sends_the_result_back(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_calls([("get_weather", {"city": "Paris"})])
    server.reply("It is sunny in Paris.")
    result = await ask(client, tools=[get_weather], temperature=0.2)

    assert isinstance(result, ToolRunResult)
    assert result.text == "It is sunny in Paris."
    assert result.completion.choices[0].finish_reason == "stop"
    assert len(result.rounds) == 2
    [call] = result.rounds[0].calls
    assert (call.id, call.name, call.arguments) == (
        "call_1_0_0",
        "get_weather",
        '{"city": "Paris"}',
    )
    assert call.parsed == {"city": "Paris"}
    assert call.result == '{"city": "Paris", "sky": "sunny"}'
    assert call.error is None and call.ok
    assert call.duration >= 0
    assert result.rounds[1].calls == ()
    assert result.calls == (call,)

    conversation = [
        *USER,
        assistant_calls(("call_1_0_0", "get_weather", '{"city": "Paris"}')),
        tool_message("call_1_0_0", '{"city": "Paris", "sky": "sunny"}'),
    ]
    first, second = server.requests
    assert first.messages == USER
    assert second.messages == conversation
    for request in (first, second):  # the definitions and the caller's options, every round
        body = request.json()
        assert body["tools"] == [get_weather.definition()]
        assert body["temperature"] == 0.2
        assert "stream" not in body
    assert result.messages == [
        *conversation,
        {"role": "assistant", "content": "It is sunny in Paris."},
    ]


async def test_plain_functions_are_wrapped_and_messages_become_dicts(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("lookup", {"key": "k"})
    server.reply("found")
    messages = [
        {"role": "system", "content": "Be brief."},
        ChatMessage(role="user", content="Find k"),
    ]
    result = await ask(client, messages=messages, tools=[lookup])
    assert result.rounds[0].calls[0].result == "value of k"  # a str goes as it is
    assert server.requests[0].json()["tools"] == [function_tool(lookup).definition()]
    assert result.messages[:2] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Find k"},
    ]
    assert all(type(message) is dict for message in result.messages)


async def test_a_conversation_is_ready_to_continue(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("lookup", {"key": "a"})
    server.reply("first")
    first = await ask(client, tools=[lookup])
    server.reply("second")
    follow_up = [*first.messages, {"role": "user", "content": "And then?"}]
    second = await ask(client, messages=follow_up, tools=[lookup])
    assert second.text == "second"
    assert server.last_request.messages == follow_up


async def test_the_standard_completions_have_it_too(server: FakeAgentServer) -> None:
    server.reply_tool_call("lookup", {"key": "s"})
    server.reply("done")
    async with server.inference_client(max_retries=0) as client:
        result = await client.chat.completions.run_tools(model="m", messages=USER, tools=[lookup])
    assert result.text == "done"
    assert server.requests[1].path == "/v1/chat/completions"
    assert server.requests[1].messages[-1] == tool_message("call_1_0_0", "value of s")


# -- concurrency --------------------------------------------------------------------------------


async def test_the_calls_of_one_round_run_concurrently(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    # Each function sets its event and waits for the other's: they finish only if they run
    # together. (The events are made on first use, on the loop the functions run on.)
    events: dict[str, anyio.Event] = {}

    def event(name: str) -> anyio.Event:
        return events.setdefault(name, anyio.Event())

    @function_tool
    async def ping(name: str, other: str) -> str:
        """Wait for the other call."""
        event(name).set()
        with anyio.fail_after(BOUND):
            await event(other).wait()
        return f"pong {name}"

    barrier = threading.Barrier(2, timeout=BOUND)

    @function_tool
    def blocking_ping(name: str) -> str:
        """The same, blocking, in worker threads."""
        barrier.wait()
        return f"pong {name}"

    server.reply_tool_calls(
        [("ping", {"name": "a", "other": "b"}), ("ping", {"name": "b", "other": "a"})]
    )
    server.reply_tool_calls([("blocking_ping", {"name": "c"}), ("blocking_ping", {"name": "d"})])
    server.reply("both")
    result = await ask(client, tools=[ping, blocking_ping])
    assert [c.result for r in result.rounds for c in r.calls] == [
        "pong a",
        "pong b",
        "pong c",
        "pong d",
    ]
    assert all(c.error is None for c in result.calls)


async def test_max_parallel_bounds_the_calls_running_at_once(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    running = 0
    peak = 0

    @function_tool
    async def slow(n: int) -> int:
        """Take a moment."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.02)
        running -= 1
        return n

    server.reply_tool_calls([("slow", {"n": n}) for n in range(6)])
    server.reply("done")
    result = await ask(client, tools=[slow], max_parallel=2)
    assert peak == 2
    assert [c.result for c in result.rounds[0].calls] == ["0", "1", "2", "3", "4", "5"]
    # The tool messages follow the calls' order, whatever order they finished in.
    ids = [m["tool_call_id"] for m in server.requests[1].messages if m["role"] == "tool"]
    assert ids == [f"call_1_0_{n}" for n in range(6)]


async def test_sync_functions_run_in_a_worker_thread_async_ones_on_the_loop(
    server: FakeAgentServer, client: AsyncAgentClient, flavour: str
) -> None:
    threads: dict[str, int] = {}

    @function_tool
    def in_thread() -> str:
        """Record the thread."""
        threads["sync"] = threading.get_ident()
        return "ok"

    @function_tool
    async def on_loop() -> str:
        """Record the thread."""
        threads["async"] = threading.get_ident()
        return "ok"

    server.reply_tool_calls([("in_thread", {}), ("on_loop", {})])
    server.reply("done")
    await ask(client, tools=[in_thread, on_loop])
    if flavour == "sync":  # the client's own event-loop thread
        loop_thread = client.sync._portal._thread  # type: ignore[attr-defined]
        assert loop_thread is not None
        loop_ident = loop_thread.ident
    else:
        loop_ident = threading.get_ident()
    assert threads["async"] == loop_ident
    assert threads["sync"] not in (loop_ident, threading.get_ident())


# -- several rounds, usage ----------------------------------------------------------------------


async def test_several_rounds_and_every_request_carries_the_conversation(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_calls([("add", {"a": 1, "b": 2})], text="Adding.")
    server.reply_tool_calls([("add", {"a": 3, "b": 4}), ("add", {"a": 5, "b": 6})])
    server.reply("The sums are 3, 7 and 11.")
    result = await ask(client, tools=[add])

    assert len(result.rounds) == 3
    round_one = [
        *USER,
        assistant_calls(("call_1_0_0", "add", '{"a": 1, "b": 2}'), content="Adding."),
        tool_message("call_1_0_0", "3"),
    ]
    round_two = [
        *round_one,
        assistant_calls(
            ("call_2_0_0", "add", '{"a": 3, "b": 4}'), ("call_2_0_1", "add", '{"a": 5, "b": 6}')
        ),
        tool_message("call_2_0_0", "7"),
        tool_message("call_2_0_1", "11"),
    ]
    assert [r.messages for r in server.requests] == [USER, round_one, round_two]
    assert result.messages == [
        *round_two,
        {"role": "assistant", "content": "The sums are 3, 7 and 11."},
    ]


async def test_usage_is_summed_over_the_rounds(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("add", {"a": 1, "b": 2})
    server.reply("three, it is")
    result = await ask(client, tools=[add])
    usages = [r.completion.usage for r in result.rounds]
    assert all(u is not None for u in usages)
    assert result.usage is not None
    assert result.usage.prompt_tokens == sum(u.prompt_tokens for u in usages if u)
    assert result.usage.completion_tokens == sum(u.completion_tokens for u in usages if u)
    assert result.usage.total_tokens == sum(u.total_tokens for u in usages if u)
    assert result.usage.completion_tokens == 3  # "three, it is"; the tool call has no text


# -- failures the model is told about ------------------------------------------------------------


async def test_arguments_that_are_not_json_are_reported_to_the_model(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("get_weather", "{not json")
    server.reply("Sorry.")
    result = await ask(client, tools=[get_weather])
    [call] = result.rounds[0].calls
    assert isinstance(call.error, ToolArgumentsError)
    assert call.parsed is None
    assert call.arguments == "{not json"
    assert call.result.startswith("Error: Invalid arguments for get_weather: ")
    sent = server.requests[1].messages
    # The arguments are echoed as the model sent them; the error text answers the call.
    assert sent[-2] == assistant_calls(("call_1_0_0", "get_weather", "{not json"))
    assert sent[-1] == tool_message("call_1_0_0", call.result)


async def test_missing_arguments_are_reported_to_the_model(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("add", {"a": 1})
    server.reply("Sorry.")
    result = await ask(client, tools=[add])
    [call] = result.rounds[0].calls
    assert isinstance(call.error, ToolArgumentsError)
    assert server.requests[1].messages[-1]["content"] == call.result
    assert (
        call.result == "Error: Invalid arguments for add: b: required argument missing (an integer)"
    )


async def test_an_unknown_tool_is_reported_to_the_model(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("get_stock_price", {"symbol": "X"})
    server.reply("I cannot.")
    result = await ask(client, tools=[get_weather, add])
    [call] = result.rounds[0].calls
    assert isinstance(call.error, UnknownToolError)
    expected = "Error: there is no tool named 'get_stock_price'. The tools are: get_weather, add."
    assert call.result == expected
    assert server.requests[1].messages[-1] == tool_message("call_1_0_0", expected)


async def test_an_exception_in_the_function_is_reported_to_the_model(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_calls(
        [("get_weather", {"city": "Atlantis"}), ("get_weather", {"city": "Rome"})]
    )
    server.reply("Atlantis is not a city.")
    result = await ask(client, tools=[get_weather])
    failed, fine = result.rounds[0].calls
    assert isinstance(failed.error, ValueError)
    assert failed.parsed == {"city": "Atlantis"}
    assert failed.result == "Error: the tool get_weather raised ValueError: no such city"
    assert fine.result == '{"city": "Rome", "sky": "sunny"}'
    assert server.requests[1].messages[-2:] == [
        tool_message("call_1_0_0", failed.result),
        tool_message("call_1_0_1", fine.result),
    ]
    assert result.text == "Atlantis is not a city."


@pytest.mark.parametrize(
    ("error_text", "expected"),
    [
        ("{error_type} in {name}: {error}", "ValueError in get_weather: no such city"),
        (
            lambda name, error: f"{name} failed ({error!r})",
            "get_weather failed (ValueError('no such city'))",
        ),
    ],
)
async def test_the_error_text_is_configurable(
    server: FakeAgentServer, client: AsyncAgentClient, error_text: Any, expected: str
) -> None:
    server.reply_tool_call("get_weather", {"city": "Atlantis"})
    server.reply("ok")
    await ask(client, tools=[get_weather], error_text=error_text)
    assert server.requests[1].messages[-1] == tool_message("call_1_0_0", expected)


async def test_on_tool_error_raise_raises_the_functions_exception_with_the_conversation(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    raised: list[Exception] = []

    @function_tool
    def explode() -> str:
        """Fail."""
        error = RuntimeError("boom")
        raised.append(error)
        raise error

    server.reply_tool_call("explode", {})
    server.reply("never sent")
    with pytest.raises(ToolError) as caught:
        await ask(client, tools=[explode], on_tool_error="raise")
    error = caught.value
    assert error.error is raised[0]  # the function's own exception, unchanged
    assert error.__cause__ is raised[0]
    assert error.call.name == "explode"
    assert error.round == 0
    assert error.messages == [*USER, assistant_calls(("call_1_0_0", "explode", "{}"))]
    assert error.rounds == ()
    assert server.call_count == 1  # nothing sent after the failure


async def test_on_tool_error_raise_raises_for_an_unknown_tool_and_bad_arguments(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("nope", {})
    with pytest.raises(ToolError) as unknown:
        await ask(client, tools=[add], on_tool_error="raise")
    assert isinstance(unknown.value.error, UnknownToolError)
    server.reply_tool_call("add", "[1, 2]")
    with pytest.raises(ToolError) as bad:
        await ask(client, tools=[add], on_tool_error="raise")
    assert isinstance(bad.value.error, ToolArgumentsError)


async def test_the_round_limit_raises_with_the_conversation(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("add", {"a": 1, "b": 1}, times=3)
    server.reply("never asked for")
    with pytest.raises(ToolRoundLimitError) as caught:
        await ask(client, tools=[add], max_rounds=3)
    error = caught.value
    assert server.call_count == 3
    assert (len(error.rounds), error.max_rounds) == (3, 3)
    # The last round's calls ran: the conversation is a valid one to go on with.
    assert len(error.messages) == 1 + 3 * 2
    assert error.messages[-1] == tool_message("call_3_0_0", "2")
    assert error.messages[:-2] == server.requests[2].messages
    assert "max_rounds=3" in str(error)


@pytest.mark.parametrize(
    "forced", ["required", {"type": "function", "function": {"name": "add"}}], ids=str
)
async def test_a_forced_tool_choice_goes_with_the_first_request_only(
    server: FakeAgentServer, client: AsyncAgentClient, forced: Any
) -> None:
    server.reply_tool_call("add", {"a": 1, "b": 1})
    server.reply("It is 2.")
    result = await ask(client, tools=[add], tool_choice=forced)
    assert result.text == "It is 2."
    sent = [r.json().get("tool_choice") for r in server.requests]
    assert sent == [forced, None]  # then the server's default, "auto"


async def test_reset_tool_choice_false_forces_every_round(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("add", {"a": 1, "b": 1}, times=2)
    with pytest.raises(ToolRoundLimitError):
        await ask(
            client, tools=[add], tool_choice="required", reset_tool_choice=False, max_rounds=2
        )
    assert [r.json().get("tool_choice") for r in server.requests] == ["required", "required"]


async def test_a_choice_that_forces_nothing_goes_with_every_request(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("add", {"a": 1, "b": 1})
    server.reply("It is 2.")
    await ask(client, tools=[add], tool_choice="auto")
    assert [r.json().get("tool_choice") for r in server.requests] == ["auto", "auto"]


# -- what is refused before anything is sent -----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "x"}}]}, "tools[0]"),
        ({"tools": [add, add]}, "tools[1]"),
        ({"tools": [add], "max_rounds": 0}, "max_rounds"),
        ({"tools": [add], "max_parallel": 0}, "max_parallel"),
        ({"tools": [add], "on_tool_error": "ignore"}, "on_tool_error"),
        ({"tools": [add], "error_text": "{nope}"}, "error_text"),
        ({"tools": [add], "n": 2}, "n"),
        ({"tools": [add], "extra_body": {"tools": []}}, "extra_body.tools"),
        ({"tools": [add], "temprature": 0.5}, "temprature"),
    ],
)
async def test_mistakes_are_refused_before_anything_is_sent(
    server: FakeAgentServer, client: AsyncAgentClient, options: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await ask(client, **options)
    assert caught.value.param == param
    assert server.call_count == 0


def test_results_are_sent_as_text() -> None:
    assert encode_result("as is") == "as is"
    assert encode_result(None) == "null"
    assert encode_result({"a": [1, 2.5, True]}) == '{"a": [1, 2.5, true]}'
    assert encode_result("é") == "é"
    assert encode_result({"é": (1, 2)}) == '{"é": [1, 2]}'
    assert (
        encode_result(ChatMessage(role="tool", content="x")) == '{"role": "tool", "content": "x"}'
    )
    assert encode_result({"path": pathlib.PurePosixPath("/tmp")}) == '{"path": "/tmp"}'


def test_records_compare_without_their_duration() -> None:
    one = ToolCallRecord("c", "f", "{}", {}, "r", None, 0.5)
    assert one == ToolCallRecord("c", "f", "{}", {}, "r", None, 2.0)


# -- the streamed run ----------------------------------------------------------------------------


def script_two_rounds(server: FakeAgentServer) -> None:
    calls = [
        ScriptedToolCall("get_weather", {"city": "Paris"}, id="call_p"),
        ScriptedToolCall("get_weather", {"city": "Rome"}, id="call_r"),
    ]
    server.reply_tool_calls(calls, text="Let me check.")
    server.reply(["Sunny ", "in both."])


async def test_the_streamed_run_gives_events_then_the_same_result(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    script_two_rounds(server)
    usage = {"stream_options": {"include_usage": True}}
    run = await ask(client, tools=[get_weather], stream=True, **usage)
    async with run:
        events = [event async for event in run]
        result = await run.get_result()
    assert run.closed

    def text(round: int) -> str:
        return "".join(e.text for e in events if isinstance(e, TextDelta) and e.round == round)

    assert text(0) == "Let me check."
    assert text(1) == "Sunny in both."
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds == [
        "ToolCallEvent",
        "ToolCallEvent",
        "ToolResultEvent",
        "ToolResultEvent",
        "RoundEnd",
        "RoundEnd",
    ]
    # Text comes before the calls it precedes; each round's events before the next round's.
    assert [e.round for e in events] == sorted(e.round for e in events)
    first_call = next(i for i, e in enumerate(events) if isinstance(e, ToolCallEvent))
    assert all(isinstance(e, TextDelta) for e in events[:first_call])
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.round, c.index, c.id, c.name, c.arguments) for c in calls] == [
        (0, 0, "call_p", "get_weather", '{"city": "Paris"}'),
        (0, 1, "call_r", "get_weather", '{"city": "Rome"}'),
    ]
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert [r.result for r in results] == [
        '{"city": "Paris", "sky": "sunny"}',
        '{"city": "Rome", "sky": "sunny"}',
    ]
    assert all(r.error is None and r.duration >= 0 for r in results)
    ends = [e for e in events if isinstance(e, RoundEnd)]
    assert [(e.round, len(e.calls)) for e in ends] == [(0, 2), (1, 0)]
    assert ends[1].completion == result.completion
    assert all(r.stream for r in server.requests)

    # The same conversation, not streamed, gives the same result.
    script_two_rounds(server)
    plain = await ask(client, tools=[get_weather])
    assert result.messages == plain.messages
    assert result.text == plain.text == "Sunny in both."
    assert result.usage == plain.usage and plain.usage is not None
    assert [r.calls for r in result.rounds] == [r.calls for r in plain.rounds]
    assert [r.completion.choices for r in result.rounds] == [
        r.completion.choices for r in plain.rounds
    ]
    assert [r.messages for r in server.requests[:2]] == [r.messages for r in server.requests[2:]]


async def test_each_tool_call_is_announced_once_the_model_has_streamed_it(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    calls = [("add", {"a": 1, "b": 2}), ("add", {"a": 30, "b": 40})]
    server.reply_tool_calls(calls, interval=0.01)  # one event per network read
    server.reply("done")
    async with await ask(client, tools=[add], stream=True) as run:
        with anyio.fail_after(BOUND):
            batches = []
            while batch := await run.next_batch():
                batches.append(batch)

    def batch_of(kind: type, index: int = 0) -> int:
        return next(
            n
            for n, batch in enumerate(batches)
            for event in batch
            if isinstance(event, kind) and getattr(event, "index", 0) == index
        )

    # The first call is announced when the second starts, before the answer has ended.
    assert batch_of(ToolCallEvent, 0) < batch_of(ToolCallEvent, 1) <= batch_of(ToolResultEvent)
    announced = [e for batch in batches for e in batch if isinstance(e, ToolCallEvent)]
    assert [e.arguments for e in announced] == ['{"a": 1, "b": 2}', '{"a": 30, "b": 40}']


async def test_an_error_text_function_that_fails_raises(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    def broken(name: str, error: Exception) -> str:
        raise KeyError("bug in error_text")

    server.reply_tool_calls([("get_weather", {"city": "Atlantis"})] * 2)
    with pytest.raises(KeyError, match="bug in error_text"):
        await ask(client, tools=[get_weather], error_text=broken)


async def test_get_result_reads_the_rest_and_repeats(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    script_two_rounds(server)
    async with await ask(client, tools=[get_weather], stream=True) as run:
        result = await run.get_result()
        assert await run.get_result() is result
        assert await run.next_batch() == []
    assert result.text == "Sunny in both."
    assert result.usage is None  # a stream reports usage only when asked (include_usage)


async def test_breaking_out_of_the_streamed_run_closes_its_stream(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply([f"w{i} " for i in range(50)], interval=0.05)  # 2.5 s: open when we leave
    run = await ask(client, tools=[add], stream=True)
    async with run:
        async for event in run:
            assert isinstance(event, TextDelta)
            break
    assert run.closed
    assert await eventually(lambda: not server.open_streams and not checked_out(client))
    with pytest.raises(StreamClosedError):
        await run.next_batch()
    with pytest.raises(StreamClosedError):
        await run.get_result()
    assert server.call_count == 1


async def test_a_break_without_async_with_closes_the_run_at_once(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.reply([f"w{i} " for i in range(50)], interval=0.05)
    run = await ask(async_client, tools=[add], stream=True)
    async for _ in run:
        break
    assert run.closed  # before the abandoned iterator's clean-up has run
    with pytest.raises(StreamClosedError):
        await run.next_batch()
    assert await eventually(lambda: not server.open_streams and not checked_out(async_client))


async def test_a_streamed_run_raises_its_failure_after_its_events(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    server.reply_tool_call("add", {"a": 1, "b": 1}, times=2)
    run = await ask(async_client, tools=[add], stream=True, max_rounds=2)
    events = []
    with pytest.raises(ToolRoundLimitError) as caught:
        async for event in run:
            events.append(event)
    assert [type(e).__name__ for e in events] == [
        "ToolCallEvent",
        "ToolResultEvent",
        "RoundEnd",
    ] * 2
    assert len(caught.value.rounds) == 2
    with pytest.raises(ToolRoundLimitError) as again:
        await run.get_result()
    assert again.value is caught.value


async def test_a_tool_error_in_a_streamed_run(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.reply_tool_call("get_weather", {"city": "Atlantis"})
    run = await ask(client, tools=[get_weather], stream=True, on_tool_error="raise")
    async with run:
        with pytest.raises(ToolError) as caught:
            await run.get_result()
    assert isinstance(caught.value.error, ValueError)
    assert run.closed


# -- fan-out ------------------------------------------------------------------------------------


async def test_a_fan_out_of_tool_using_conversations(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    tools = ([lookup], [function_tool(lookup)])  # plain functions and FunctionTool objects
    requests = [
        {"model": "m", "messages": [{"role": "user", "content": f"key-{i}"}], "tools": tools[i % 2]}
        for i in range(20)
    ]
    with anyio.fail_after(BOUND * 4):
        outcomes = await client.agent.chat.completions.create_all(requests, max_concurrency=8)
    assert [o.index for o in outcomes] == list(range(20))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if o.error]
    for i, outcome in enumerate(outcomes):
        assert outcome.tool_run is not None
        assert outcome.completion is outcome.tool_run.completion
        assert outcome.result().choices[0].message.content == f"Answer: value of key-{i}"
        [call] = outcome.tool_run.rounds[0].calls
        assert call.parsed == {"key": f"key-{i}"}
        assert len(outcome.tool_run.rounds) == 2
    assert server.call_count == 40


async def test_every_round_of_a_fan_out_is_paced(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    requests = [
        {
            "model": "m",
            "messages": [{"role": "user", "content": f"key-{i}"}],
            "tools": [lookup],
            "stream": i % 2 == 0,  # streamed rounds too
        }
        for i in range(10)
    ]
    fan_out = async_client.agent.chat.completions.create_many(
        requests, max_concurrency=4, requests_per_minute=10_000
    )
    sends = 0
    before_send = fan_out.pacer.before_send

    async def counted() -> None:
        nonlocal sends
        sends += 1
        await before_send()

    fan_out.pacer.before_send = counted  # type: ignore[method-assign]
    with anyio.fail_after(BOUND * 2):
        async with fan_out as results:
            outcomes = [outcome async for outcome in results]
    assert all(o.ok for o in outcomes)
    assert sends == server.call_count == 20
    usages = [o.tool_run.usage for o in outcomes if o.tool_run is not None]
    assert fan_out.progress.tokens == sum(u.total_tokens or 0 for u in usages if u is not None) > 0


async def test_a_fan_out_input_with_a_plain_tool_definition_is_a_plain_request(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    definition = function_tool(lookup).definition()
    requests = [{"model": "m", "messages": USER, "tools": [definition]}]
    [outcome] = await async_client.agent.chat.completions.create_all(requests)
    assert outcome.tool_run is None
    assert outcome.completion is not None  # the model's tool call, not run
    assert outcome.completion.choices[0].message.tool_calls
    assert server.call_count == 1


def test_function_tools_are_function_tools() -> None:
    assert isinstance(get_weather, FunctionTool)
