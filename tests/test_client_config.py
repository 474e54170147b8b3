"""Client construction: key and endpoint resolution, timeouts, repr, session lifecycle."""

from __future__ import annotations

import asyncio
import pickle

import pytest

import agentchat
from agentchat import AgentChatError, AsyncAgentClient, ConfigurationError, Timeout
from agentchat.testing import FakeAgentServer

from .conftest import USER

ENDPOINT = "https://abc123.agents.do-ai.run"


def test_token_and_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ACCESS_KEY", "env-key")
    monkeypatch.setenv("AGENT_ENDPOINT", "env-agent.agents.do-ai.run")
    client = AsyncAgentClient()
    assert client.agent_endpoint == "https://env-agent.agents.do-ai.run"
    assert client._token == "env-key"


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ACCESS_KEY", "env-key")
    monkeypatch.setenv("AGENT_ENDPOINT", "https://env.example")
    client = AsyncAgentClient(token="arg-key", agent_endpoint=ENDPOINT)
    assert client.agent_endpoint == ENDPOINT
    assert client._token == "arg-key"


def test_missing_endpoint_is_an_error_not_a_default_host() -> None:
    with pytest.raises(ConfigurationError, match="AGENT_ENDPOINT") as info:
        AsyncAgentClient(token="k")
    assert "no default host" in str(info.value).lower()


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_is_an_error(token: str | None) -> None:
    with pytest.raises(ConfigurationError, match="AGENT_ACCESS_KEY"):
        AsyncAgentClient(token=token, agent_endpoint=ENDPOINT)


def test_token_with_a_newline_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncAgentClient(token="secret-value\nInjected: 1", agent_endpoint=ENDPOINT)
    assert "secret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("abc123.agents.do-ai.run", ENDPOINT),
        ("abc123.agents.do-ai.run/", ENDPOINT),
        ("https://abc123.agents.do-ai.run/", ENDPOINT),
        ("  https://abc123.agents.do-ai.run  ", ENDPOINT),
        ("https://proxy.example/agents/a1/", "https://proxy.example/agents/a1"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_endpoint_normalisation(given: str, expected: str) -> None:
    client = AsyncAgentClient(token="k", agent_endpoint=given)
    assert client.agent_endpoint == expected
    assert str(client._completions_url(None)) == expected + "/api/v1/chat/completions?agent=true"


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("http://abc123.agents.do-ai.run", "plain http"),
        ("ftp://abc123.agents.do-ai.run", "http(s) URL"),
        ("https://user:pw@abc123.agents.do-ai.run", "credentials"),
        ("https://abc123.agents.do-ai.run/?agent=true", "without query"),
        ("https://", "http(s) URL"),
    ],
)
def test_unusable_endpoints_are_refused(given: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        AsyncAgentClient(token="k", agent_endpoint=given)


def test_plain_http_to_a_remote_host_needs_an_explicit_opt_in() -> None:
    client = AsyncAgentClient(
        token="k", agent_endpoint="http://agent.internal:8080", allow_insecure_http=True
    )
    assert client.agent_endpoint == "http://agent.internal:8080"


def test_repr_never_shows_the_token() -> None:
    client = AsyncAgentClient(token="super-secret-key", agent_endpoint=ENDPOINT)
    text = repr(client)
    assert "super-secret-key" not in text
    assert ENDPOINT in text


def test_client_cannot_be_pickled_so_the_token_cannot_leak_that_way() -> None:
    client = AsyncAgentClient(token="super-secret-key", agent_endpoint=ENDPOINT)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (5, Timeout(connect=5, read=5, stream_idle=5, total=None)),
        (2.5, Timeout(connect=2.5, read=2.5, stream_idle=2.5, total=None)),
        (Timeout(total=30), Timeout(total=30)),
    ],
)
def test_timeout_takes_seconds_or_a_timeout_object(
    timeout: float | Timeout, expected: Timeout
) -> None:
    client = AsyncAgentClient(token="k", agent_endpoint=ENDPOINT, timeout=timeout)
    assert client.timeout == expected


def test_default_timeouts_suit_long_generations() -> None:
    client = AsyncAgentClient(token="k", agent_endpoint=ENDPOINT)
    assert client.timeout.total is None
    assert client.timeout.read is not None and client.timeout.read >= 300
    assert client.max_retries == 2


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "10", True])
def test_bad_timeouts_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="timeout"):
        AsyncAgentClient(token="k", agent_endpoint=ENDPOINT, timeout=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 1.5, "2", None])
def test_bad_max_retries_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="max_retries"):
        AsyncAgentClient(token="k", agent_endpoint=ENDPOINT, max_retries=bad)  # type: ignore[arg-type]


def test_default_headers_must_be_strings_and_values_are_not_echoed() -> None:
    with pytest.raises(ConfigurationError, match="default_headers") as info:
        AsyncAgentClient(
            token="k", agent_endpoint=ENDPOINT, default_headers={"X-Secret": "abc\r\nEvil: 1"}
        )
    assert "abc" not in str(info.value)


def test_construction_needs_no_event_loop_and_opens_nothing() -> None:
    client = AsyncAgentClient(token="k", agent_endpoint=ENDPOINT)
    assert client._transport.session is None


async def test_pydo_style_code_moves_over_by_changing_the_import(
    server: FakeAgentServer,
) -> None:
    # pydo: Client(token=..., agent_endpoint=...).agent.chat.completions.create(...)
    client = AsyncAgentClient(token=server.token, agent_endpoint=server.url)
    resp = await client.agent.chat.completions.create(
        model="llama3.3-70b-instruct",
        messages=[{"role": "user", "content": "What is the capital of Portugal?"}],
    )
    assert resp.choices[0].message.content == "Echo: What is the capital of Portugal?"
    await client.aclose()


async def test_session_is_created_lazily_and_closed_by_aclose(server: FakeAgentServer) -> None:
    client = server.client()
    assert client._transport.session is None
    await client.agent.chat.completions.create(model="m", messages=USER)
    session = client._transport.session
    assert session is not None and not session.closed
    await client.aclose()
    assert session.closed and client.closed
    await client.aclose()  # idempotent


async def test_one_session_serves_many_calls(server: FakeAgentServer) -> None:
    async with server.client() as client:
        await client.agent.chat.completions.create(model="m", messages=USER)
        first = client._transport.session
        await asyncio.gather(
            *(client.agent.chat.completions.create(model="m", messages=USER) for _ in range(5))
        )
        assert client._transport.session is first


async def test_calls_after_close_raise_a_clear_error(server: FakeAgentServer) -> None:
    async with server.client() as client:
        pass
    with pytest.raises(AgentChatError, match="closed"):
        await client.agent.chat.completions.create(model="m", messages=USER)


def test_a_client_is_bound_to_the_loop_it_first_ran_in() -> None:
    async def scenario() -> None:
        async with FakeAgentServer() as server:
            client = server.client()
            await client.agent.chat.completions.create(model="m", messages=USER)

            def other_loop() -> None:
                async def call() -> None:
                    await client.agent.chat.completions.create(model="m", messages=USER)

                with pytest.raises(AgentChatError, match="event loop"):
                    asyncio.run(call())

            await asyncio.to_thread(other_loop)
            await client.aclose()

    asyncio.run(scenario())


def test_public_api_is_reexported_lazily() -> None:
    assert set(agentchat.__all__) == {"__version__", *agentchat._EXPORTS}
    for name in agentchat.__all__:
        assert getattr(agentchat, name) is not None
    with pytest.raises(AttributeError):
        _ = agentchat.DoesNotExist
