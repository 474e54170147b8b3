"""Serverless inference and any OpenAI-compatible server: the same client, another URL.

``AsyncInferenceClient`` and ``AsyncOpenAICompatibleClient`` (and their generated sync twins)
share the agent client's transport, retries, streaming, fan-out and batch files; these tests
pin what differs (the URL, the query, the key's source, the accepted fields) on the wire,
against the fake server on 127.0.0.1, which serves ``/v1/chat/completions`` too.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from agentchat import (
    AgentClient,
    AsyncAgentClient,
    AsyncInferenceClient,
    AsyncOpenAICompatibleClient,
    ChatCompletion,
    ConfigurationError,
    InferenceClient,
    InvalidRequestError,
    OpenAICompatibleClient,
    run_batch,
)
from agentchat.testing import FakeAgentServer

from .conftest import USER

AsyncStandardClient = AsyncInferenceClient | AsyncOpenAICompatibleClient


def standard_client(server: FakeAgentServer, kind: str, **options: Any) -> AsyncStandardClient:
    if kind == "inference":
        return server.inference_client(**options)
    return server.compatible_client(**options)


KINDS = ["inference", "compatible"]


# -- where the requests go -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_standard_clients_post_to_v1_chat_completions_without_agent_query(
    server: FakeAgentServer, kind: str
) -> None:
    async with standard_client(server, kind, max_retries=0) as client:
        completion = await client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "Echo: Hello there"
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.query == {}
    assert request.headers["Authorization"] == f"Bearer {server.token}"
    assert request.json() == {"model": "m", "messages": USER}


async def test_agent_client_still_posts_to_the_agent_path(server: FakeAgentServer) -> None:
    async with server.client(max_retries=0) as client:
        await client.agent.chat.completions.create(model="m", messages=USER)
    assert server.requests[-1].path == "/api/v1/chat/completions"
    assert server.requests[-1].query == {"agent": "true"}


@pytest.mark.parametrize("kind", KINDS)
async def test_standard_clients_stream(server: FakeAgentServer, kind: str) -> None:
    async with standard_client(server, kind, max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="m", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            text = "".join([piece async for piece in stream.text_stream()])
        final = await stream.get_final_completion()
    assert text == "Echo: Hello there" == final.choices[0].message.content
    assert final.usage is not None and (final.usage.total_tokens or 0) > 0
    assert server.requests[-1].headers["Accept"] == "text/event-stream"


async def test_compatible_client_keeps_the_base_path_and_adds_chat_completions(
    server: FakeAgentServer,
) -> None:
    async with AsyncOpenAICompatibleClient(f"{server.url}/v1/", server.token) as client:
        assert client.base_url == f"{server.url}/v1"
        await client.chat.completions.create(
            model="m", messages=USER, extra_query={"api-version": "1"}
        )
    assert server.requests[-1].path == "/v1/chat/completions"
    assert server.requests[-1].query == {"api-version": "1"}


async def test_compatible_client_without_a_key_sends_no_authorization(
    server: FakeAgentServer,
) -> None:
    server.respond(json=server.completion({"model": "m", "messages": USER}))
    async with AsyncOpenAICompatibleClient(f"{server.url}/v1", max_retries=0) as client:
        await client.chat.completions.create(model="m", messages=USER)
    assert "Authorization" not in server.requests[-1].headers


async def test_compatible_client_reads_the_openai_environment(
    server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", server.token)
    async with AsyncOpenAICompatibleClient(max_retries=0) as client:
        completion = await client.chat.completions.create(model="m", messages=USER)
    assert completion.response.status == 200
    assert server.requests[-1].headers["Authorization"] == f"Bearer {server.token}"


async def test_inference_client_reads_model_access_key(
    server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_ACCESS_KEY", server.token)
    async with AsyncInferenceClient(inference_endpoint=server.url, max_retries=0) as client:
        await client.chat.completions.create(model="m", messages=USER)
    assert server.requests[-1].headers["Authorization"] == f"Bearer {server.token}"


async def test_inference_client_reads_its_endpoint_from_the_environment(
    server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # $INFERENCE_ENDPOINT (agentchat's own; pydo has none) lets a test or a proxy redirect a
    # client made with no arguments; unset, the default is DigitalOcean's (tested below).
    monkeypatch.setenv("MODEL_ACCESS_KEY", server.token)
    monkeypatch.setenv("INFERENCE_ENDPOINT", server.url)
    async with AsyncInferenceClient(max_retries=0) as client:
        assert client.inference_endpoint == server.url
        await client.chat.completions.create(model="m", messages=USER)
    assert server.requests[-1].path == "/v1/chat/completions"
    monkeypatch.setenv("INFERENCE_ENDPOINT", "")
    assert AsyncInferenceClient().inference_endpoint == "https://inference.do-ai.run"


# -- configuration -----------------------------------------------------------------------------


def test_inference_client_defaults_to_digitalocean_serverless_inference() -> None:
    client = AsyncInferenceClient("model-key")
    assert client.inference_endpoint == "https://inference.do-ai.run"
    assert str(client._completions) == "https://inference.do-ai.run/v1/chat/completions"
    assert repr(client).startswith(
        "AsyncInferenceClient(inference_endpoint='https://inference.do-ai.run'"
    )
    assert "model-key" not in repr(client)


def test_inference_client_without_a_key_names_model_access_key() -> None:
    with pytest.raises(ConfigurationError, match=r"No model access key: .*\$MODEL_ACCESS_KEY"):
        AsyncInferenceClient()


def test_agent_key_is_not_taken_for_serverless_inference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An agent's key is scoped to its agent: it is never sent to another service.
    monkeypatch.setenv("AGENT_ACCESS_KEY", "agent-key")
    with pytest.raises(ConfigurationError, match="MODEL_ACCESS_KEY"):
        AsyncInferenceClient()


@pytest.mark.parametrize(
    ("kind", "given", "fragment"),
    [
        ("inference", "https://inference.do-ai.run/v1/chat/completions", "'/v1/chat/completions'"),
        ("inference", "https://inference.do-ai.run/v1", "'/v1'"),
        ("compatible", "http://localhost:8080/v1/chat/completions", "'/chat/completions'"),
        ("compatible", "http://localhost:8080/v1/chat", "'/chat'"),
    ],
)
def test_a_base_url_with_the_request_path_is_refused(kind: str, given: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        if kind == "inference":
            AsyncInferenceClient("k", given)
        else:
            AsyncOpenAICompatibleClient(given, "k")
    message = str(info.value)
    assert fragment in message and "adds itself" in message


def test_compatible_client_needs_a_base_url() -> None:
    with pytest.raises(ConfigurationError, match=r"No base url: pass base_url=.*\$OPENAI_BASE_URL"):
        AsyncOpenAICompatibleClient()


def test_plain_http_to_another_host_needs_no_opt_in_without_a_key() -> None:
    # No key, nothing secret on the wire: a vLLM box on the local network is fine.
    client = AsyncOpenAICompatibleClient("http://gpu-box.lan:8000/v1")
    assert client.base_url == "http://gpu-box.lan:8000/v1"
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        AsyncOpenAICompatibleClient("http://gpu-box.lan:8000/v1", "secret")
    assert AsyncOpenAICompatibleClient(
        "http://gpu-box.lan:8000/v1", "secret", allow_insecure_http=True
    ).base_url.startswith("http://")


def test_sync_twins_take_the_same_constructor_arguments() -> None:
    for sync, core in [
        (AgentClient, AsyncAgentClient),
        (InferenceClient, AsyncInferenceClient),
        (OpenAICompatibleClient, AsyncOpenAICompatibleClient),
    ]:
        assert inspect.signature(sync.__init__) == inspect.signature(core.__init__)
        assert sync.__name__ == core.__name__.removeprefix("Async")


# -- the accepted fields -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("field", "value"),
    [("k", 5), ("include_retrieval_info", True), ("kb_filters", [{"index": "x"}])],
)
async def test_agent_fields_are_refused_before_sending(
    server: FakeAgentServer, kind: str, field: str, value: Any
) -> None:
    async with standard_client(server, kind) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat.completions.create(model="m", messages=USER, **{field: value})
    error = info.value
    assert error.param == field
    assert "DigitalOcean agent endpoints" in error.allowed
    assert f"extra_body={{{field!r}: ...}}" in error.allowed
    assert server.requests == []


async def test_a_misspelt_field_is_refused_with_a_suggestion(server: FakeAgentServer) -> None:
    async with server.inference_client() as client:
        with pytest.raises(InvalidRequestError, match="did you mean temperature="):
            # The type checker refuses it too (the ignore is the proof).
            await client.chat.completions.create(model="m", messages=USER, temprature=0.5)  # type: ignore[call-overload]
    assert server.requests == []


async def test_standard_fields_are_checked_as_for_an_agent(server: FakeAgentServer) -> None:
    async with server.compatible_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat.completions.create(model="m", messages=USER, temperature=3)
    assert info.value.param == "temperature"
    assert server.requests == []


async def test_extra_body_sends_what_a_server_takes_beyond_the_standard(
    server: FakeAgentServer,
) -> None:
    async with server.compatible_client(max_retries=0) as client:
        await client.chat.completions.create(
            model="m", messages=USER, extra_body={"top_k": 40, "k": 3}
        )
    body = server.requests[-1].json()
    assert body["top_k"] == 40 and body["k"] == 3


# -- the shared machinery: retries, fan-out, batch files, the sync facade ----------------------


async def test_serverless_calls_are_retried_like_agent_calls(server: FakeAgentServer) -> None:
    server.respond(503, json={"id": "unavailable", "message": "busy"})
    async with server.inference_client(max_retries=1) as client:
        completion = await client.chat.completions.create(model="m", messages=USER)
    assert completion.response.attempts == 2
    assert [r.headers["X-Agentchat-Attempt"] for r in server.requests] == ["1", "2"]


@pytest.mark.parametrize("kind", KINDS)
async def test_fan_out_runs_on_the_standard_clients(server: FakeAgentServer, kind: str) -> None:
    requests = [
        {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(20)
    ]
    async with standard_client(server, kind) as client:
        outcomes = await client.chat.completions.create_all(requests, max_concurrency=4)
    assert [o.completion.choices[0].message.content for o in outcomes if o.completion] == [
        f"Echo: q{i}" for i in range(20)
    ]
    assert {r.path for r in server.requests} == {"/v1/chat/completions"}


def _batch_lines(count: int) -> str:
    return "".join(
        json.dumps(
            {
                "custom_id": f"r{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "m", "messages": [{"role": "user", "content": f"b{i}"}]},
            }
        )
        + "\n"
        for i in range(count)
    )


async def test_batch_files_run_on_the_inference_client(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(_batch_lines(5))
    async with server.inference_client() as client:
        report = await run_batch(client, source, target)
    assert report.succeeded == 5 and report.failed == 0
    results = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(r["custom_id"] for r in results) == [f"r{i}" for i in range(5)]
    assert {r.path for r in server.requests} == {"/v1/chat/completions"}


def test_sync_twins_call_stream_and_run_batches(tmp_path: Path) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(_batch_lines(3))
    with FakeAgentServer().in_thread() as server:
        with InferenceClient(server.token, server.url, max_retries=0) as inference:
            completion = inference.chat.completions.create(model="m", messages=USER)
            assert isinstance(completion, ChatCompletion)
            assert completion.choices[0].message.content == "Echo: Hello there"
            report = run_batch(inference, source, target)
            assert report.succeeded == 3
        with OpenAICompatibleClient(f"{server.url}/v1", server.token) as compatible:
            with compatible.chat.completions.create(
                model="m", messages=USER, stream=True
            ) as stream:
                assert "".join(stream.text_stream()) == "Echo: Hello there"
            with pytest.raises(InvalidRequestError, match="DigitalOcean agent endpoints"):
                compatible.chat.completions.create(model="m", messages=USER, k=2)  # type: ignore[call-overload]
        assert repr(compatible).startswith(f"OpenAICompatibleClient(base_url='{server.url}/v1'")
    paths = {r.path for r in server.requests}
    assert paths == {"/v1/chat/completions"}


async def test_one_event_loop_serves_all_three_clients_side_by_side(
    server: FakeAgentServer,
) -> None:
    async with (
        server.client() as agent,
        server.inference_client() as inference,
        server.compatible_client() as compatible,
    ):
        results = await asyncio.gather(
            agent.agent.chat.completions.create(model="m", messages=USER),
            inference.chat.completions.create(model="m", messages=USER),
            compatible.chat.completions.create(model="m", messages=USER),
        )
    assert [r.choices[0].message.content for r in results] == ["Echo: Hello there"] * 3
    assert sorted(r.path for r in server.requests) == [
        "/api/v1/chat/completions",
        "/v1/chat/completions",
        "/v1/chat/completions",
    ]
