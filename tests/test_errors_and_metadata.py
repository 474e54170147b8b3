"""Pure parts: error-body shapes, status classes, rate-limit and Retry-After parsing, backoff."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from agentchat import (
    AgentChatError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    InternalServerError,
    InvalidRequestError,
    ResponseInfo,
)
from agentchat._backoff import MAX_DELAY, backoff_delay, is_retryable_status
from agentchat._errors import parse_error_body, status_error_class
from agentchat._response import parse_retry_after


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"id": "not_found", "message": "Nope.", "request_id": "r"}, "Nope.", "not_found"),
        (
            {"error": {"message": "Bad n", "type": "invalid_request_error"}},
            "Bad n",
            "invalid_request_error",
        ),
        ({"error": {"message": "Bad n", "type": "t", "code": "c"}}, "Bad n", "c"),
        ({"error": "plain text error"}, "plain text error", None),
        (
            {"detail": [{"loc": ["body", "n"], "msg": "too big", "type": "le"}]},
            "body.n: too big",
            "le",
        ),
        ({"detail": "Not authenticated"}, "Not authenticated", None),
        ({"detail": []}, None, None),
        ({"something": "else"}, None, None),
        (["not", "a", "dict"], None, None),
        ("text", None, None),
        (None, None, None),
    ],
)
def test_error_body_shapes(body: Any, message: str | None, code: str | None) -> None:
    assert parse_error_body(body) == (message, code)


def test_status_classes_cover_every_5xx() -> None:
    assert status_error_class(599) is InternalServerError
    assert status_error_class(501) is InternalServerError


def test_exception_tree() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APITimeoutError, TimeoutError)
    assert issubclass(APIConnectionError, APIError)
    assert issubclass(APIError, AgentChatError)
    assert issubclass(InvalidRequestError, ValueError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(InvalidRequestError, AgentChatError)


def _info(**headers: str) -> ResponseInfo:
    return ResponseInfo(status=200, headers=CIMultiDictProxy(CIMultiDict(headers)), url="u")


def test_request_id_from_common_headers() -> None:
    assert _info(**{"X-Request-ID": "a"}).request_id == "a"
    assert _info(**{"request-id": "b"}).request_id == "b"
    assert _info().request_id is None


def test_rate_limit_headers() -> None:
    limits = _info(
        **{"ratelimit-limit": "250", "ratelimit-remaining": "12", "ratelimit-reset": "1444931833"}
    ).rate_limit
    assert (limits.limit, limits.remaining, limits.reset_at) == (250, 12, 1444931833)
    assert limits.reset_after == 0.0  # in the past


def test_rate_limit_reset_as_delta_seconds() -> None:
    limits = _info(**{"ratelimit-reset": "30"}).rate_limit
    assert limits.reset_after is not None and 29 <= limits.reset_after <= 30


def test_unparseable_rate_limit_headers_become_none() -> None:
    limits = _info(**{"ratelimit-limit": "many", "ratelimit-remaining": "nan"}).rate_limit
    assert limits.limit is None and limits.remaining is None and limits.reset_at is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    seconds = parse_retry_after({"retry-after": when})
    assert seconds is not None and 8 <= seconds <= 10
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    for retry in range(1, 12):
        step = min(MAX_DELAY, 0.5 * 2 ** (retry - 1))
        delays = [backoff_delay(retry) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (503, True),
        (599, True),
        (400, False),
        (401, False),
        (404, False),
        (422, False),
    ],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry
