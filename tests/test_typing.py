"""The overloads of ``create`` tell a type checker which call returns what (checked by
``mypy --strict`` over this file; the test also runs the calls)."""

from __future__ import annotations

from typing_extensions import assert_type

from agentchat import AsyncAgentClient, AsyncStream, ChatCompletion, CompletionCreateParams

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


async def test_params_typed_dict_describes_the_keywords(async_client: AsyncAgentClient) -> None:
    params: CompletionCreateParams = {"model": "m", "messages": USER, "n": 2}
    # A TypedDict checks the keys and value types of a request built as a dict. (Splatting
    # it leaves the stream flag unknown to the checker, so the result is not narrowed.)
    completion = await async_client.agent.chat.completions.create(**params)
    assert isinstance(completion, ChatCompletion)
    assert len(completion.choices) == 2
