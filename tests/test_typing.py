"""What a type checker sees of ``create()``: which call returns what, and which calls it rejects.

``mypy --strict`` checks this file (``nox -s typecheck``); the tests also run every call.

- ``assert_type(x, T)`` fails the type check unless ``x`` is inferred as exactly ``T``.
- ``# type: ignore[code]`` on a call proves mypy reports ``code`` there: ``--strict`` includes
  ``warn_unused_ignores``, so a call mypy accepted would fail the check as an unused ignore.
  Each of those calls is rejected at run time too, before anything is sent.
"""

from __future__ import annotations

import pytest
from typing_extensions import assert_type

from agentchat import (
    AgentClient,
    AssistantMessageParam,
    AsyncAgentClient,
    AsyncStream,
    ChatCompletion,
    ChatMessage,
    CompletionCreateParams,
    InvalidRequestError,
    MessageParam,
    ResponseInfo,
    Stream,
    ToolMessageParam,
    UserMessageParam,
)
from agentchat.testing import FakeAgentServer

from .conftest import USER


async def test_stream_flag_selects_the_return_type(async_client: AsyncAgentClient) -> None:
    completions = async_client.agent.chat.completions
    plain = await completions.create(model="m", messages=USER)
    assert_type(plain, ChatCompletion)
    explicit = await completions.create(model="m", messages=USER, stream=False)
    assert_type(explicit, ChatCompletion)
    stream = await completions.create(model="m", messages=USER, stream=True)
    assert_type(stream, AsyncStream)
    await stream.aclose()
    flag: bool = bool(len(USER) % 2)
    either = await completions.create(model="m", messages=USER, stream=flag)
    assert_type(either, ChatCompletion | AsyncStream)
    assert isinstance(either, AsyncStream if flag else ChatCompletion)
    if isinstance(either, AsyncStream):
        await either.aclose()


def test_the_sync_facade_has_the_same_types() -> None:
    with (
        FakeAgentServer().in_thread() as server,
        AgentClient(server.token, server.url, max_retries=0) as client,
    ):
        completions = client.agent.chat.completions
        plain = completions.create(model="m", messages=USER)
        assert_type(plain, ChatCompletion)
        assert_type(plain.response, ResponseInfo)
        with completions.create(model="m", messages=USER, stream=True) as stream:
            assert_type(stream, Stream)
            assert_type(stream.get_final_completion(), ChatCompletion)
        with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.contnet"):
            completions.create(model="m", messages=[{"role": "user", "contnet": "hi"}])  # type: ignore[list-item]
        with pytest.raises(InvalidRequestError, match="extra_body"):
            completions.create(model="m", messages=USER, response_format={"type": "json_object"})  # type: ignore[call-overload]
        assert server.requests[-1].json().get("response_format") is None


async def test_params_typed_dict_describes_the_keywords(async_client: AsyncAgentClient) -> None:
    params: CompletionCreateParams = {"model": "m", "messages": USER, "n": 2}
    # A TypedDict checks the keys and value types of a request built as a dict. (Splatting
    # it leaves the stream flag unknown to the checker, so the result is not narrowed.)
    completion = await async_client.agent.chat.completions.create(**params)
    assert isinstance(completion, ChatCompletion)
    assert len(completion.choices) == 2


async def test_a_completion_from_the_api_always_carries_its_response(
    async_client: AsyncAgentClient,
) -> None:
    completion = await async_client.agent.chat.completions.create(model="m", messages=USER)
    # The README's headline example: no `is not None` check needed.
    assert_type(completion.response, ResponseInfo)
    assert_type(completion.response.request_id, str | None)
    assert completion.response.request_id == "req-1"
    assert completion.response.rate_limit.remaining is not None


def test_a_hand_built_completion_has_an_empty_response() -> None:
    completion = ChatCompletion.from_dict({"id": "x", "choices": []})
    assert_type(completion.response, ResponseInfo)
    assert completion.response.status == 0
    assert completion.response.request_id is None
    assert not completion.response.headers


async def test_messages_are_typed_per_role(async_client: AsyncAgentClient) -> None:
    question: UserMessageParam = {"role": "user", "content": "Weather?"}
    answer: AssistantMessageParam = {
        "role": "assistant",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    result: ToolMessageParam = {"role": "tool", "content": "sunny", "tool_call_id": "c1"}
    conversation: list[MessageParam] = [
        {"role": "system", "content": "Be brief."},
        question,
        answer,
        result,
        ChatMessage(role="user", content="Thanks"),  # the attrs class is a message too
    ]
    completion = await async_client.agent.chat.completions.create(model="m", messages=conversation)
    conversation.append(completion.choices[0].message)  # an answer goes back in as it is
    await async_client.agent.chat.completions.create(model="m", messages=conversation)


async def test_a_misspelt_message_key_is_rejected_by_mypy_and_at_run_time(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.contnet"):
        await async_client.agent.chat.completions.create(
            model="m",
            messages=[{"role": "user", "contnet": "hi"}],  # type: ignore[list-item]
        )
    typed: UserMessageParam = {"role": "user", "content": "", "contnet": "hi"}  # type: ignore[typeddict-unknown-key]
    with pytest.raises(InvalidRequestError, match="did you mean 'content'"):
        await async_client.agent.chat.completions.create(model="m", messages=[typed])
    assert server.requests == []


async def test_an_unknown_role_is_rejected_by_mypy_and_at_run_time(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.role"):
        await async_client.agent.chat.completions.create(
            model="m",
            messages=[{"role": "usr", "content": "hi"}],  # type: ignore[list-item]
        )
    typed: UserMessageParam = {"role": "usr", "content": "hi"}  # type: ignore[typeddict-item]
    with pytest.raises(InvalidRequestError, match="one of 'system'"):
        await async_client.agent.chat.completions.create(model="m", messages=[typed])
    assert server.requests == []


async def test_a_field_of_another_role_is_rejected_by_mypy_and_at_run_time(
    async_client: AsyncAgentClient,
) -> None:
    with pytest.raises(InvalidRequestError, match="it belongs to tool messages"):
        await async_client.agent.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi", "tool_call_id": "c1"}],  # type: ignore[list-item]
        )
    # The spec makes only "role" required, and so does the run-time check; the types also
    # require what gives a message its meaning (a tool result names the call it answers).
    incomplete: ToolMessageParam = {"role": "tool", "content": "42"}  # type: ignore[typeddict-item]
    assert "tool_call_id" not in incomplete


async def test_unknown_keywords_are_rejected_by_mypy_and_at_run_time(
    server: FakeAgentServer, async_client: AsyncAgentClient
) -> None:
    completions = async_client.agent.chat.completions
    with pytest.raises(InvalidRequestError, match=r"extra_body=\{'response_format': \.\.\.\}"):
        await completions.create(model="m", messages=USER, response_format={"type": "json"})  # type: ignore[call-overload]
    with pytest.raises(InvalidRequestError, match="did you mean temperature="):
        await completions.create(model="m", messages=USER, stream=True, temprature=0.5)  # type: ignore[call-overload]
    with pytest.raises(InvalidRequestError, match="temperature='hot'"):
        await completions.create(model="m", messages=USER, temperature="hot")  # type: ignore[call-overload]
    assert server.requests == []
    # The escape hatch for a field agentchat does not know:
    await completions.create(model="m", messages=USER, extra_body={"response_format": {}})
    assert server.requests[0].json()["response_format"] == {}
