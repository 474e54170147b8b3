"""Client construction: key and endpoint resolution, timeouts, repr, session lifecycle."""

from __future__ import annotations

import asyncio
import pickle

import pytest

import agentchat
from agentchat import (
    AgentChatError,
    AgentClient,
    AsyncAgentClient,
    ConfigurationError,
    InvalidRequestError,
    Timeout,
)
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
        ("https://[2001:db8::1]:8443/agent", "https://[2001:db8::1]:8443/agent"),
        ("http://localhost.:8080", "http://localhost.:8080"),
        ("https://agent_1:8443", "https://agent_1:8443"),  # a container name
        ("abc123.agents.do-ai.run.", "https://abc123.agents.do-ai.run."),
        ("https://proxy.example/v1/agents/a1", "https://proxy.example/v1/agents/a1"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
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


@pytest.mark.parametrize(
    "given",
    [
        "https://abc123.agents.do-ai.run/api/v1/chat/completions",
        "https://abc123.agents.do-ai.run/api/v1/chat/completions?agent=true",
        "https://abc123.agents.do-ai.run/api/v1/chat/completions/",
        "abc123.agents.do-ai.run/api/v1/chat/completions?agent=true",
        "https://abc123.agents.do-ai.run/v1/chat/completions?agent=true",  # the spec's typo
        "https://abc123.agents.do-ai.run/api/v1",
        "https://abc123.agents.do-ai.run/api/v1/chat",
        "https://abc123.agents.do-ai.run/docs",  # an agent host serves the API at its root
        "https://abc123.agents.do-ai.run/?agent=true",
    ],
)
def test_an_endpoint_pasted_with_its_request_path_shows_the_base_url_to_pass(given: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncAgentClient(token="k", agent_endpoint=given)
    message = str(info.value)
    assert message.startswith(f"agent_endpoint={given!r} is invalid")
    assert message.endswith(f"pass the agent's base URL: {ENDPOINT}")


def test_a_proxy_prefix_is_kept_in_the_suggested_base_url() -> None:
    given = "https://proxy.example/agents/a1/api/v1/chat/completions?agent=true"
    with pytest.raises(ConfigurationError, match="adds itself") as info:
        AsyncAgentClient(token="k", agent_endpoint=given)
    assert str(info.value).endswith("pass the agent's base URL: https://proxy.example/agents/a1")


def test_an_endpoint_from_the_environment_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_ENDPOINT", f"{ENDPOINT}/api/v1/chat/completions")
    with pytest.raises(ConfigurationError, match=r"^\$AGENT_ENDPOINT='https://") as info:
        AsyncAgentClient(token="k")
    assert str(info.value).endswith(ENDPOINT)


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("https://my agent.agents.do-ai.run", "contains a space"),
        ("https://abc123.agents.do-ai.run /api", "contains a space"),
        ("abc123.agents\t.do-ai.run", "control character"),
        ("https://abc123..agents.do-ai.run", "an empty label"),
        ("https://.abc123.agents.do-ai.run", "an empty label"),
        ("https://abc<123.agents.do-ai.run", "the character(s) '<'"),
        ("https://$AGENT_URL", "'$AGENT_URL' is a placeholder"),
        ("https://<agent-id>.agents.do-ai.run", "'<agent-id>' is a placeholder"),
        ("${AGENT_ENDPOINT}", "'${AGENT_ENDPOINT}' is a placeholder"),
        ("https://abc%20123.agents.do-ai.run", "the character(s) '%'"),
        ("https://abc,123.example", "the character(s) ','"),
        ("https://*.agents.do-ai.run", "the character(s) '*'"),
        ("https://-abc.example", "starts or ends with '-'"),
        ("https://" + "a" * 64 + ".example", "longer than 63"),
        ("https://999.1.1.1", "not a valid IPv4 address"),
        ("https://10.0.1", "not a valid IPv4 address"),
        ("https://[2001:db8::zz]", "not a valid IPv6 address"),
        ("https://abc123.agents.do-ai.run:0", "port 0"),
        ("https://abc123.agents.do-ai.run:99999", "not a valid URL"),
        ("https//abc123.agents.do-ai.run", "scheme is malformed"),
        ("https:/abc123.agents.do-ai.run", "scheme is malformed"),
    ],
)
def test_hosts_no_resolver_can_find_are_refused_at_construction(given: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncAgentClient(token="k", agent_endpoint=given)
    message = str(info.value)
    assert message.startswith(f"agent_endpoint={given!r} is invalid: ")
    assert fragment in message
    assert "agents.do-ai.run" in message  # what a valid endpoint looks like, or the fix


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


# (constructor keyword, a bad value, a fragment of what is allowed)
BAD_SETTINGS: list[tuple[str, object, str]] = [
    ("timeout", 0, "a positive number of seconds or an agentchat.Timeout"),
    ("timeout", -1, "a positive number of seconds or an agentchat.Timeout"),
    ("timeout", float("nan"), "a positive number of seconds"),
    ("timeout", "10", "a positive number of seconds"),
    ("timeout", True, "a positive number of seconds"),
    ("timeout", None, "a positive number of seconds"),
    ("max_retries", -1, "an integer >= 0"),
    ("max_retries", 1.5, "an integer >= 0"),
    ("max_retries", "2", "an integer >= 0"),
    ("max_retries", None, "an integer >= 0"),
    ("max_retries", True, "an integer >= 0"),
    ("max_connections", 0, "an integer >= 1"),
    ("max_connections", -5, "an integer >= 1"),
    ("max_connections", 2.0, "an integer >= 1"),
    ("max_connections", True, "an integer >= 1"),
    ("max_connections", "10", "an integer >= 1"),
    ("default_headers", [("X-A", "b")], "a mapping of header names"),
    ("default_headers", "X-A: b", "a mapping of header names"),
    ("allow_insecure_http", "no", "True or False"),
    ("allow_insecure_http", 1, "True or False"),
    ("trust_env", None, "True or False"),
    ("agent_endpoint", 8080, "a URL string"),
]


@pytest.mark.parametrize(
    ("name", "bad", "allowed"), BAD_SETTINGS, ids=[f"{n}={b!r}" for n, b, _ in BAD_SETTINGS]
)
def test_bad_settings_are_configuration_errors_naming_setting_value_and_allowed(
    name: str, bad: object, allowed: str
) -> None:
    settings: dict[str, object] = {"token": "k", "agent_endpoint": ENDPOINT, name: bad}
    with pytest.raises(ConfigurationError) as info:
        AsyncAgentClient(**settings)  # type: ignore[arg-type]
    error = info.value
    assert not isinstance(error, InvalidRequestError)
    assert str(error).startswith(f"{name}={bad!r} is invalid: ")
    assert allowed in str(error)


@pytest.mark.parametrize("bad", BAD_SETTINGS[:3], ids=["timeout=0", "timeout=-1", "timeout=nan"])
def test_the_sync_client_raises_the_same_configuration_errors(
    bad: tuple[str, object, str],
) -> None:
    name, value, allowed = bad
    settings: dict[str, object] = {"token": "k", "agent_endpoint": ENDPOINT, name: value}
    with pytest.raises(ConfigurationError, match=allowed):
        AgentClient(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["connect", "read", "stream_idle", "total", "pool"])
def test_a_bad_timeout_object_is_a_configuration_error_where_it_is_made(field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Timeout(**{field: -1})
    assert not isinstance(info.value, InvalidRequestError)
    assert str(info.value) == (
        f"Timeout.{field}=-1 is invalid: a positive number of seconds, or None for no limit, "
        "is required"
    )


def test_a_non_string_token_is_a_configuration_error_not_an_attribute_error() -> None:
    with pytest.raises(ConfigurationError, match="token must be a string"):
        AsyncAgentClient(token=12345, agent_endpoint=ENDPOINT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "param", "allowed"),
    [
        ({"X Bad": "v"}, "default_headers key", "a header name"),
        ({"X-Bad:": "v"}, "default_headers key", "a header name"),
        ({7: "v"}, "default_headers key", "a header name"),
        ({"X-Nul": "a\0b"}, "default_headers['X-Nul']", "without line breaks"),
        ({"X-Int": 5}, "default_headers['X-Int']", "without line breaks"),
    ],
)
def test_bad_default_headers_are_configuration_errors(
    headers: dict[object, object], param: str, allowed: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncAgentClient(token="k", agent_endpoint=ENDPOINT, default_headers=headers)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{param}=")
    assert allowed in str(info.value)


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
