"""The exact words and numbers of the transport's failures and waits, found missing by
mutation testing (issue 18): the delays :mod:`agentchat._backoff` computes at the edges of its
ranges, which rate limit a 429's message names on a tie, the text of the file-descriptor,
pool and connect-timeout errors, and the defensive reading of aiohttp's pool.
"""

from __future__ import annotations

import asyncio
import errno
import re
import sys
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from yarl import URL

from agentchat import (
    APIConnectionError,
    APITimeoutError,
    AsyncAgentClient,
    PoolTimeoutError,
    Timeout,
    _backoff,
)
from agentchat._backoff import RetryDelay, backoff_delay, delay_after_429
from agentchat._response import RateLimit, RateLimitBucket
from agentchat._transport import _full_pool_size, connection_error
from agentchat.testing import FakeAgentServer

from .conftest import create

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
ENDPOINT_URL = URL("http://127.0.0.1:9/api/v1/chat/completions?agent=true")
WHERE = "http://127.0.0.1:9/api/v1/chat/completions"


#: For the tests that walk an exception chain: a walk that never ends fails in 2 s, not 60.
ENDS_QUICKLY = pytest.mark.timeout(2)


def _bucket(kind: str, reset_at: float | None) -> RateLimitBucket:
    return RateLimitBucket(kind, 100, 0, reset_at)


@pytest.fixture
def jitter(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every jitter draw is the bound the test picks: ``jitter("low")`` or ``jitter("high")``."""

    def pick(bound: str) -> None:
        index = 0 if bound == "low" else 1
        uniform = lambda *bounds: bounds[index]  # noqa: E731
        monkeypatch.setattr(_backoff, "random", SimpleNamespace(uniform=uniform))

    return pick


# -- _backoff: the delays ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry", "low", "high"),
    [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0), (4, 2.0, 4.0), (5, 4.0, 8.0), (9, 4.0, 8.0)],
)
def test_backoff_jitter_spans_the_whole_upper_half_of_the_step(
    jitter: Any, retry: int, low: float, high: float
) -> None:
    jitter("low")
    assert backoff_delay(retry) == low
    jitter("high")
    assert backoff_delay(retry) == high


def test_on_a_tie_between_buckets_the_first_bucket_is_named(jitter: Any) -> None:
    jitter("low")
    limits = RateLimit(
        buckets={"requests": _bucket("requests", NOW + 5), "tokens": _bucket("tokens", NOW + 5)}
    )
    assert delay_after_429(limits, 1, now=NOW) == RetryDelay(5.25, "reset", "requests", NOW + 5)


def test_the_agents_reset_replaces_a_bucket_only_when_strictly_sooner(jitter: Any) -> None:
    jitter("low")
    tie = RateLimit(reset_at=NOW + 5, buckets={"requests": _bucket("requests", NOW + 5)})
    delay = delay_after_429(tie, 1, now=NOW)
    assert delay == RetryDelay(5.25, "reset", "requests", NOW + 5)
    assert delay.describe(now=NOW) == (
        "the requests rate limit resets in 5 s (at 2027-01-15 08:00:05 UTC)"
    )
    sooner = RateLimit(reset_at=NOW + 4, buckets={"requests": _bucket("requests", NOW + 5)})
    assert delay_after_429(sooner, 1, now=NOW) == RetryDelay(4.25, "reset", None, NOW + 4)


@pytest.mark.parametrize(
    ("ahead", "span"),
    [
        (-10, "0 s"),  # a reset already past
        (0.4, "0 s"),
        (119, "119 s"),
        (120, "2 min"),
        (120.5, "2 min"),
        (119 * 60, "119 min"),
        (120 * 60, "2 h 0 min"),
        (120 * 60 + 20, "2 h 0 min"),
        (5 * 3600 + 12 * 60, "5 h 12 min"),
    ],
)
def test_the_wait_until_a_reset_in_words(ahead: float, span: str) -> None:
    described = RetryDelay(1.25, "reset", None, NOW + ahead).describe(now=NOW)
    assert described.startswith(f"the rate limit resets in {span} (at ")


@pytest.mark.parametrize(
    ("delay", "described"),
    [
        # only a "reset" names a reset time, whatever else the tuple holds
        (RetryDelay(2.0, "retry-after", None, NOW + 30), "the server asked to wait 2 s"),
        (RetryDelay(0.75, "backoff", "tokens", NOW + 30), "backing off 0.75 s"),
        (RetryDelay(1.5, "reset"), "backing off 1.50 s"),  # a reset with no time
    ],
)
def test_describe_names_a_reset_only_for_a_reset_with_a_time(
    delay: RetryDelay, described: str
) -> None:
    assert delay.describe(now=NOW) == described


# -- _transport: connection errors and running out of file descriptors -----------------------


@ENDS_QUICKLY
def test_a_connection_error_without_text_is_named_by_its_class() -> None:
    error = connection_error(aiohttp.ClientConnectionError(), ENDPOINT_URL, "connecting")
    assert isinstance(error, APIConnectionError)
    assert error.message == f"Connection error while connecting ({WHERE}): ClientConnectionError"


HINT = (
    ". The process has run out of file descriptors; each open connection, so each open stream, "
    "holds one socket"
)
ADVICE = (
    ": raise it (`ulimit -n`, or resource.setrlimit up to the hard limit), or lower "
    "max_connections or the number of concurrent calls"
)


def _emfile_error() -> APIConnectionError:
    try:
        try:
            raise OSError(errno.EMFILE, "Too many open files")
        except OSError as exc:
            raise aiohttp.ClientConnectionError("Cannot connect to host 127.0.0.1:9") from exc
    except aiohttp.ClientConnectionError as wrapped:
        return connection_error(wrapped, ENDPOINT_URL, "connecting")


@ENDS_QUICKLY
@pytest.mark.skipif(sys.platform == "win32", reason="no resource module, no RLIMIT_NOFILE")
@pytest.mark.parametrize(
    ("soft", "tail"),
    [
        (256, f". Its soft RLIMIT_NOFILE limit (256) is reached{ADVICE}"),
        (None, f". Its soft RLIMIT_NOFILE limit is reached{ADVICE}"),  # no limit: none named
    ],
    ids=["limited", "unlimited"],
)
def test_the_file_descriptor_hint_word_for_word(
    monkeypatch: pytest.MonkeyPatch, soft: int | None, tail: str
) -> None:
    import resource

    limit = resource.RLIM_INFINITY if soft is None else soft
    monkeypatch.setattr(resource, "getrlimit", lambda which: (limit, resource.RLIM_INFINITY))
    assert _emfile_error().message == (
        f"Connection error while connecting ({WHERE}): Cannot connect to host 127.0.0.1:9"
        + HINT
        + tail
    )


@ENDS_QUICKLY
def test_the_file_descriptor_hint_without_a_resource_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As on Windows: no soft limit to name."""
    monkeypatch.setitem(sys.modules, "resource", None)  # `import resource` fails
    assert _emfile_error().message == (
        f"Connection error while connecting ({WHERE}): Cannot connect to host 127.0.0.1:9"
        + HINT
        + ". Lower max_connections or the number of concurrent calls"
    )


class _Wrapped(aiohttp.ClientConnectionError):
    """Like aiohttp's ClientConnectorError: the socket's error as ``os_error``."""

    def __init__(self, os_error: BaseException | None) -> None:
        super().__init__("Cannot connect")
        self._os_error = os_error
        self.reads = 0

    @property
    def os_error(self) -> BaseException | None:
        self.reads += 1
        if self.reads > 100:
            raise RuntimeError("the walk along the exception chain does not end")
        return self if self._os_error is None else self._os_error


@ENDS_QUICKLY
def test_the_walk_along_an_exception_chain_ends_on_a_cycle() -> None:
    looped = _Wrapped(None)  # its os_error is itself
    other = ValueError("unrelated")
    other.__context__ = looped
    looped.__context__ = other  # and a cycle through __context__
    error = connection_error(looped, ENDPOINT_URL, "connecting")
    assert error.message == f"Connection error while connecting ({WHERE}): Cannot connect"
    assert looped.reads == 1


@ENDS_QUICKLY
@pytest.mark.skipif(sys.platform == "win32", reason="no resource module, no RLIMIT_NOFILE")
def test_emfile_is_found_beside_another_error_in_the_chain() -> None:
    """The socket's EMFILE as ``os_error``, while the error was raised handling another."""
    wrapped = _Wrapped(OSError(errno.EMFILE, "Too many open files"))
    wrapped.__context__ = ValueError("raised while handling this")
    error = connection_error(wrapped, ENDPOINT_URL, "connecting")
    assert "RLIMIT_NOFILE" in error.message


# -- _transport: the pool ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connector", "full"),
    [
        (SimpleNamespace(limit=2, _acquired={1, 2}), 2),
        (SimpleNamespace(limit=2, _acquired={1, 2, 3}), 2),
        (SimpleNamespace(limit=2, _acquired={1}), None),
        (None, None),  # a closed session has no connector
        (SimpleNamespace(_acquired={1, 2}), None),  # no limit
        (SimpleNamespace(limit=2), None),  # an aiohttp without _acquired
        (SimpleNamespace(limit=2, _acquired=object()), None),  # nor a sized one
        (SimpleNamespace(limit=0, _acquired={1}), None),  # aiohttp's "unlimited"
        (SimpleNamespace(limit=None, _acquired={1}), None),
    ],
    ids=["full", "over", "free", "closed", "no-limit", "no-acquired", "unsized", "zero", "none"],
)
def test_the_pool_is_reported_full_only_when_aiohttp_shows_it_full(
    connector: Any, full: int | None
) -> None:
    """aiohttp has no public count of connections in use: anything unexpected in its private
    attributes only loses the pool diagnosis, it never fails the call."""
    assert _full_pool_size(SimpleNamespace(connector=connector)) == full  # type: ignore[arg-type]


async def test_a_pool_timeout_message_word_for_word(server: FakeAgentServer) -> None:
    server.response_delay = 0.6
    async with server.client(max_connections=1, max_retries=0) as client:
        holder = asyncio.ensure_future(create(client))
        deadline = time.monotonic() + 5
        while not server.requests:  # the one connection is in use
            assert time.monotonic() < deadline, "the first call never reached the server"
            await asyncio.sleep(0.005)
        with pytest.raises(PoolTimeoutError) as info:
            await create(client, timeout=Timeout(pool=0.2))
        await holder
    assert re.fullmatch(
        r"Timed out waiting for a connection from the pool "
        r"\(http://127\.0\.0\.1:\d+/api/v1/chat/completions\): waited 0\.\d\d s "
        r"\(pool timeout 0\.2 s\) while all max_connections=1 connections of this client were "
        r"in use\. Raise max_connections, bound the number of concurrent calls \(a semaphore; "
        r"create_many for a batch\), or raise Timeout\.pool",
        str(info.value),
    ), str(info.value)
    assert len(server.requests) == 1


async def test_a_connect_timeout_equal_to_the_pool_timeout_is_named_connect(
    unanswered_port: int,
) -> None:
    async with AsyncAgentClient("k", f"http://127.0.0.1:{unanswered_port}") as client:
        with pytest.raises(APITimeoutError) as info:
            await create(client, timeout=Timeout(connect=0.1, pool=0.1), max_retries=0)
    assert not isinstance(info.value, PoolTimeoutError)
    assert str(info.value) == (
        f"Timed out connecting (http://127.0.0.1:{unanswered_port}/api/v1/chat/completions; "
        "connect timeout 0.1 s)"
    )
