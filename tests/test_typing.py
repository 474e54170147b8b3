"""The overloads of ``create`` tell a type checker which call returns what (checked by
``mypy --strict`` over this file; the test also runs the calls)."""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from agentchat import AsyncAgentClient, AsyncStream, ChatCompletion, CompletionCreateParams

from .conftest import USER


async def test_stream_flag_selects_the_return_type(client: AsyncAgentClient) -> None:
    completions = client.agent.chat.completions
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


async def test_params_typed_dict_describes_the_keywords(client: AsyncAgentClient) -> None:
    params: CompletionCreateParams = {"model": "m", "messages": USER, "temperature": 0.5}
    completion = await client.agent.chat.completions.create(**params)
    assert_type(completion, ChatCompletion)
    extra: dict[str, Any] = {"n": 2}
    assert len((await client.agent.chat.completions.create(**params, **extra)).choices) == 2
