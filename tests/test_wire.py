"""What goes over the wire and what comes back, against the fake agent on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
import socket
import time
from collections.abc import Callable

import pytest

from agentchat import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncAgentClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Timeout,
    UnprocessableEntityError,
)
from agentchat.testing import FakeAgentServer

from .conftest import USER, checked_out, create
from .flavours import make_client

# -- the request ------------------------------------------------------------------------------


async def test_request_line_and_headers(server: FakeAgentServer, client: AsyncAgentClient) -> None:
    await create(client)
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/api/v1/chat/completions"
    assert request.query == {"agent": "true"}
    headers = request.headers
    assert headers["Authorization"] == "Bearer test-key"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["X-Agentchat-Attempt"] == "1"
    assert re.fullmatch(r"agentchat/\S+ Python/\d+\.\d+\.\d+\S* aiohttp/\S+", headers["User-Agent"])


async def test_body_is_compact_json_of_the_given_fields(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    await create(client, temperature=0.5, n=2, metadata={"team": "ml"}, k=3)
    raw = server.requests[0].body
    assert b": " not in raw and b", " not in raw
    assert json.loads(raw) == {
        "model": "m",
        "messages": USER,
        "temperature": 0.5,
        "n": 2,
        "metadata": {"team": "ml"},
        "k": 3,
    }


async def test_non_ascii_is_sent_as_utf8(server: FakeAgentServer, client: AsyncAgentClient) -> None:
    completion = await create(client, messages=[{"role": "user", "content": "Olá, 東京 🚀"}])
    assert "Olá, 東京 🚀".encode() in server.requests[0].body
    assert completion.choices[0].message.content == "Echo: Olá, 東京 🚀"


async def test_extra_headers_query_and_default_headers(
    server: FakeAgentServer, connect: Callable[..., AsyncAgentClient]
) -> None:
    async with connect(default_headers={"X-Team": "search"}) as client:
        await create(
            client,
            extra_headers={"X-Trace": "t-1"},
            extra_query={"debug": "1"},
        )
    (request,) = server.requests
    assert request.headers["X-Team"] == "search"
    assert request.headers["X-Trace"] == "t-1"
    assert request.query == {"agent": "true", "debug": "1"}


# -- the response -----------------------------------------------------------------------------


async def test_completion_and_its_metadata(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    completion = await create(client, include_retrieval_info=True, include_functions_info=True)
    assert completion.choices[0].message.content == "Echo: Hello there"
    assert completion.retrieval is not None and completion.functions is not None
    info = completion.response
    assert info is not None
    assert info.status == 200
    assert info.request_id == "req-1"
    assert info.headers["content-type"].startswith("application/json")
    assert info.url == f"{server.url}/api/v1/chat/completions?agent=true"
    assert info.attempts == 1 and info.elapsed > 0
    limits = info.rate_limit
    assert (limits.limit, limits.remaining) == (100_000, 99_999)
    assert limits.reset_after is not None and 59 < limits.reset_after <= 60
    assert limits.retry_after is None


async def test_unknown_fields_survive_the_wire(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    body = server.completion({"messages": USER})
    body["brand_new"] = {"nested": [1, 2]}
    body["choices"][0]["message"]["audio"] = {"id": "a1"}
    server.respond(json=body)
    completion = await create(client)
    assert completion.extra == {"brand_new": {"nested": [1, 2]}}
    assert completion.choices[0].message.extra == {"audio": {"id": "a1"}}


async def test_gzip_encoded_body_is_decoded(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    raw = json.dumps(server.completion({"messages": USER})).encode()
    server.respond(
        body=gzip.compress(raw),
        headers={"Content-Encoding": "gzip"},
        content_type="application/json",
    )
    completion = await create(client)
    assert completion.choices[0].message.content == "Echo: Hello there"


# -- error statuses and body shapes -----------------------------------------------------------

STATUS_CLASSES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, InternalServerError),
    (503, InternalServerError),
    (504, InternalServerError),
    (418, APIStatusError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_digitalocean_error_body(
    server: FakeAgentServer, client: AsyncAgentClient, status: int, cls: type[APIStatusError]
) -> None:
    server.respond(
        status,
        json={"id": "some_error", "message": "It went wrong.", "request_id": "do-req-9"},
        headers={"x-request-id": "do-req-9", "ratelimit-remaining": "0"},
    )
    with pytest.raises(cls) as info:
        await create(client)
    error = info.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.message == "It went wrong."
    assert error.code == "some_error"
    assert error.request_id == "do-req-9"
    assert error.body == {"id": "some_error", "message": "It went wrong.", "request_id": "do-req-9"}
    assert error.headers["ratelimit-remaining"] == "0"
    assert error.response.rate_limit.remaining == 0
    assert str(error) == f"HTTP {status}: It went wrong. [some_error] (request_id=do-req-9)"
    assert checked_out(client) == 0


async def test_openai_style_error_body(server: FakeAgentServer, client: AsyncAgentClient) -> None:
    server.respond(
        400,
        json={
            "error": {
                "message": "Invalid value for 'n'.",
                "type": "invalid_request_error",
                "code": "invalid_value",
            }
        },
    )
    with pytest.raises(BadRequestError) as info:
        await create(client)
    assert info.value.message == "Invalid value for 'n'."
    assert info.value.code == "invalid_value"


async def test_fastapi_422_error_body(server: FakeAgentServer, client: AsyncAgentClient) -> None:
    detail = [
        {"loc": ["body", "messages", 0, "role"], "msg": "Input should be 'user'", "type": "enum"},
        {"loc": ["body", "temperature"], "msg": "Input should be <= 2", "type": "less_than_equal"},
    ]
    server.respond(422, json={"detail": detail})
    with pytest.raises(UnprocessableEntityError) as info:
        await create(client)
    error = info.value
    assert error.message == (
        "body.messages.0.role: Input should be 'user'; body.temperature: Input should be <= 2"
    )
    assert error.code == "enum"
    assert error.body == {"detail": detail}


async def test_the_fake_agent_rejects_a_malformed_body_like_fastapi(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    # Sent through extra_body, so the client's own checks do not stop it.
    with pytest.raises(UnprocessableEntityError, match=r"body\.messages\.0\.role"):
        await create(client, extra_body={"messages": [{"content": "no role"}]})


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            "<html><body>502 Bad Gateway</body></html>",
            "text/html",
            "Internal server error: '<html>",
        ),
        ("", "text/plain", "Internal server error"),
        ("upstream connect error", "text/plain", "'upstream connect error'"),
        ('{"unexpected": true}', "application/json", 'Internal server error: \'{"unexpected"'),
    ],
)
async def test_error_status_with_an_unusual_body(
    server: FakeAgentServer, client: AsyncAgentClient, body: str, content_type: str, expected: str
) -> None:
    server.respond(500, body=body, content_type=content_type)
    with pytest.raises(InternalServerError) as info:
        await create(client)
    assert expected in info.value.message


async def test_wrong_key_gets_authentication_error(server: FakeAgentServer, flavour: str) -> None:
    async with make_client(flavour, "wrong-key", server.url) as client:
        with pytest.raises(AuthenticationError) as info:
            await create(client)
    assert info.value.message == "Unable to authenticate you."
    assert "wrong-key" not in str(info.value)
    assert "wrong-key" not in repr(info.value)


async def test_redirects_are_not_followed(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.respond(307, headers={"Location": "http://127.0.0.1:1/elsewhere"}, body="")
    with pytest.raises(APIStatusError) as info:
        await create(client)
    assert info.value.status_code == 307
    assert len(server.requests) == 1


# -- 200 responses that are not completions ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("<!doctype html><title>Login</title>", "text/html", "non-JSON (text/html) '<!doctype"),
        ("", "application/json", "an empty body"),
        ("   ", "application/json", "an empty body"),
        (
            '{"error": {"message": "model overloaded", "code": "overloaded"}}',
            "application/json",
            "an error: model overloaded [overloaded]",
        ),
        (
            '{"id": "bad", "message": "agent is sleeping"}',
            "application/json",
            "an error: agent is sleeping [bad]",
        ),
        ("[]", "application/json", "without a 'choices' list"),
        ('{"object": "chat.completion"}', "application/json", "without a 'choices' list"),
        ('{"choices": "none"}', "application/json", "without a 'choices' list"),
        ('{"choices": [{"message": {"content": 5}}]}', "application/json", "unexpected type"),
        ('{"choices": [], "usage": 3}', "application/json", "unexpected type"),
        (b"\xff\xfe\x00garbage", "application/octet-stream", "non-JSON"),
    ],
)
async def test_a_200_that_is_not_a_completion_raises_showing_what_came_back(
    server: FakeAgentServer,
    client: AsyncAgentClient,
    body: str | bytes,
    content_type: str,
    expected: str,
) -> None:
    server.respond(200, body=body, content_type=content_type)
    with pytest.raises(APIResponseValidationError) as info:
        await create(client)
    assert expected in str(info.value)
    assert info.value.response is not None and info.value.response.status == 200
    assert checked_out(client) == 0


async def test_a_huge_bad_body_is_truncated_in_the_message(
    server: FakeAgentServer, client: AsyncAgentClient
) -> None:
    server.respond(200, body="<html>" + "x" * 100_000, content_type="text/html")
    with pytest.raises(APIResponseValidationError) as info:
        await create(client)
    assert len(str(info.value)) < 400
    assert "100006 chars" in str(info.value)


# -- retries ------------------------------------------------------------------------------------


async def test_retryable_statuses_are_retried_then_succeed(
    server: FakeAgentServer, connect: Callable[..., AsyncAgentClient]
) -> None:
    for status in (500, 502, 503, 504, 429, 408, 409):
        server.respond(status, json={"id": "x", "message": "busy"}, headers={"retry-after-ms": "1"})
    async with connect(max_retries=7) as client:
        completion = await create(client)
    assert completion.response is not None and completion.response.attempts == 8
    attempts = [r.headers["X-Agentchat-Attempt"] for r in server.requests]
    assert attempts == [str(i) for i in range(1, 9)]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_4xx_are_not_retried(
    server: FakeAgentServer, status: int, connect: Callable[..., AsyncAgentClient]
) -> None:
    server.respond(status, json={"id": "x", "message": "no"}, times=2)
    async with connect(max_retries=2) as client:
        with pytest.raises(APIStatusError) as info:
            await create(client)
    assert info.value.attempts == 1
    assert len(server.requests) == 1


async def test_exhausted_retries_say_how_many_attempts(
    server: FakeAgentServer, connect: Callable[..., AsyncAgentClient]
) -> None:
    server.respond(503, json={"id": "x", "message": "down"}, headers={"retry-after": "0"}, times=3)
    async with connect(max_retries=2) as client:
        with pytest.raises(InternalServerError) as info:
            await create(client)
    assert info.value.attempts == 3
    assert str(info.value).endswith("(after 3 attempts)")
    assert checked_out(client) == 0


@pytest.mark.parametrize(
    "headers", [{"retry-after": "0.3"}, {"retry-after-ms": "300"}], ids=["seconds", "ms"]
)
async def test_retry_after_is_honoured(
    server: FakeAgentServer, headers: dict[str, str], connect: Callable[..., AsyncAgentClient]
) -> None:
    server.respond(429, json={"id": "too_many_requests", "message": "slow down"}, headers=headers)
    async with connect() as client:
        started = time.monotonic()
        completion = await create(client)
    # Bounded on both sides: without Retry-After, the wait would be the backoff's or the rate
    # limit's reset (the fake advertises a 60 s window), never 0.3 s to 0.9 s.
    assert 0.3 <= time.monotonic() - started < 0.9
    assert completion.response is not None and completion.response.attempts == 2


async def test_an_excessive_retry_after_raises_at_once(
    server: FakeAgentServer, connect: Callable[..., AsyncAgentClient]
) -> None:
    server.respond(
        429,
        json={"id": "too_many_requests", "message": "slow down"},
        headers={"retry-after": "3600"},
    )
    async with connect(max_retries=3) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            # Bounded, so a client that sleeps instead fails here, not at the 60 s timeout.
            await asyncio.wait_for(create(client), 2)
    assert time.monotonic() - started < 1
    assert "3600" in str(info.value)
    assert info.value.response.rate_limit.retry_after == pytest.approx(3600)
    assert len(server.requests) == 1


async def test_per_call_max_retries_overrides_the_client(
    server: FakeAgentServer, connect: Callable[..., AsyncAgentClient]
) -> None:
    server.respond(503, json={"id": "x", "message": "down"}, times=3)
    async with connect(max_retries=5) as client:
        with pytest.raises(InternalServerError):
            await create(client, max_retries=0)
    assert len(server.requests) == 1


# -- timeouts and connection errors ------------------------------------------------------------


async def test_read_timeout_waiting_for_headers(
    server: FakeAgentServer, connect: Callable[..., AsyncAgentClient]
) -> None:
    server.respond(json={}, delay=2.0)
    async with connect(max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await create(client, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert isinstance(info.value, TimeoutError)
    assert checked_out(client) == 0


async def test_a_retry_that_would_pass_the_total_timeout_is_not_attempted(
    server: FakeAgentServer, connect: Callable[..., AsyncAgentClient]
) -> None:
    server.respond(
        503, json={"id": "x", "message": "down"}, headers={"retry-after": "0.4"}, times=5
    )
    async with connect(max_retries=5) as client:
        started = time.monotonic()
        with pytest.raises(
            InternalServerError, match="would pass the call's total timeout"
        ) as info:
            await create(client, timeout=Timeout(total=0.6))
    # The first retry fits (0.4 s), the second would not: raised at once, with the real error.
    assert time.monotonic() - started < 0.6
    assert info.value.attempts == 2 and len(server.requests) == 2


async def test_total_timeout_covers_the_attempts(
    server: FakeAgentServer, connect: Callable[..., AsyncAgentClient]
) -> None:
    server.respond(503, json={"id": "x", "message": "down"}, headers={"retry-after": "0.2"})
    server.respond(json={}, delay=5)
    async with connect(max_retries=5) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match=r"total timeout of 0\.6 s"):
            await create(client, timeout=Timeout(total=0.6))
    assert time.monotonic() - started < 1.2
    assert len(server.requests) == 2
    assert checked_out(client) == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_a_connection_error(flavour: str) -> None:
    port = _closed_port()
    async with make_client(flavour, "k", f"http://127.0.0.1:{port}", max_retries=0) as client:
        with pytest.raises(APIConnectionError) as info:
            await create(client)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert not isinstance(info.value, APITimeoutError)


async def test_connection_errors_are_retried(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    monkeypatch.setattr("agentchat._transport.backoff_delay", lambda retry: 0.01)
    port = _closed_port()
    async with make_client(flavour, "k", f"http://127.0.0.1:{port}", max_retries=2) as client:
        with pytest.raises(APIConnectionError) as info:
            await create(client)
    assert info.value.attempts == 3


# -- the key stays secret ---------------------------------------------------------------------


async def test_the_key_never_appears_in_logs_or_errors(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, flavour: str
) -> None:
    monkeypatch.setattr("agentchat._transport.backoff_delay", lambda retry: 0.01)
    secret = "sk-do-very-secret-0123456789"
    async with FakeAgentServer(token=secret) as server:
        server.respond(503, json={"id": "x", "message": "down"})
        server.respond(401, json={"id": "unauthorized", "message": "Unable to authenticate you."})
        with caplog.at_level(logging.DEBUG, logger="agentchat"):
            async with make_client(flavour, secret, server.url, max_retries=1) as client:
                with pytest.raises(AuthenticationError) as info:
                    await create(client)
                completion = await create(client)
                shown = getattr(client, "sync", client)  # the sync client itself, if sync
                texts = [str(info.value), repr(info.value), repr(shown), repr(completion)]
                texts.append(repr(completion.response))
    assert caplog.records, "the transport logs each response at DEBUG"
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert secret not in text


async def test_the_json_module_fallback_parses_the_same(
    server: FakeAgentServer, client: AsyncAgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agentchat._json.loads", json.loads)
    completion = await create(client, include_retrieval_info=True)
    assert completion.choices[0].message.content == "Echo: Hello there"
    server.respond(200, body="<html>", content_type="text/html")
    with pytest.raises(APIResponseValidationError, match="non-JSON"):
        await create(client)
