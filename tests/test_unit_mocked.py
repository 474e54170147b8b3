"""Unit-level cases with aioresponses: no sockets, just the client's handling of what
aiohttp hands back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from agentchat import APIConnectionError, APITimeoutError, AsyncAgentClient, RateLimitError

from .conftest import USER

ENDPOINT = "https://abc.agents.do-ai.run"
URL = f"{ENDPOINT}/api/v1/chat/completions?agent=true"


class _SentRequest:
    """Stands in for the request writer aiohttp 3.14 hands a response."""

    output_size = 0


class _CompatResponse(aiohttp.ClientResponse):
    # aioresponses 0.7.9 builds responses without the ``stream_writer`` argument that
    # aiohttp 3.14 made required (pnuckowski/aioresponses#289, open); supply a stand-in.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentRequest())
        super().__init__(*args, **kwargs)


class _Mocked(aioresponses):
    def add(self, url: Any, method: str = "GET", **kwargs: Any) -> None:  # type: ignore[override]
        kwargs.setdefault("response_class", _CompatResponse)
        super().add(url, method, **kwargs)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with _Mocked() as mock:
        yield mock


@pytest.fixture
async def client() -> AsyncIterator[AsyncAgentClient]:
    async with AsyncAgentClient("k", ENDPOINT, max_retries=0) as agent_client:
        yield agent_client


async def test_https_endpoint_gets_the_agent_path_and_query(
    mocked: aioresponses, client: AsyncAgentClient
) -> None:
    mocked.post(URL, payload={"id": "c1", "choices": [{"message": {"content": "ok"}}]})
    completion = await client.agent.chat.completions.create(model="m", messages=USER)
    assert completion.id == "c1"
    ((method, url), calls) = next(iter(mocked.requests.items()))
    assert (method, str(url)) == ("POST", URL)
    assert calls[0].kwargs["allow_redirects"] is False


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (aiohttp.ClientConnectionError("reset by peer"), APIConnectionError),
        (aiohttp.ServerDisconnectedError(), APIConnectionError),
        (aiohttp.ClientPayloadError("cut"), APIConnectionError),
        (aiohttp.ServerTimeoutError("slow"), APITimeoutError),
        (TimeoutError(), APITimeoutError),
    ],
)
async def test_aiohttp_failures_become_agentchat_errors(
    mocked: aioresponses,
    client: AsyncAgentClient,
    raised: BaseException,
    expected: type[Exception],
) -> None:
    # repeat: a ServerDisconnectedError is sent again once (a stale pooled connection).
    mocked.post(URL, exception=raised, repeat=True)
    with pytest.raises(expected) as info:
        await client.agent.chat.completions.create(model="m", messages=USER)
    assert info.value.__cause__ is raised
    assert "abc.agents.do-ai.run" in str(info.value)


async def test_rate_limit_error_carries_the_limits(
    mocked: aioresponses, client: AsyncAgentClient
) -> None:
    mocked.post(
        URL,
        status=429,
        payload={"id": "too_many_requests", "message": "API rate limit exceeded."},
        headers={"ratelimit-limit": "250", "ratelimit-remaining": "0", "retry-after": "120"},
    )
    with pytest.raises(RateLimitError) as info:
        await client.agent.chat.completions.create(model="m", messages=USER)
    limits = info.value.response.rate_limit
    assert (limits.limit, limits.remaining, limits.retry_after) == (250, 0, 120)
