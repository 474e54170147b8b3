"""HTTP for the client: the one aiohttp session, and one call with retries and timeouts.

The transport knows nothing of chat completions: it POSTs bytes, retries what is safe to
retry, turns error statuses and aiohttp exceptions into agentchat errors, and hands back
either the whole body (``fetch``) or the open response for streaming (``open``).

The session belongs to the event loop it was made in, and is closed inside that loop when the
loop shuts down (see :func:`_close_at_loop_shutdown`): a client can serve one
``asyncio.run()`` after another, each with a session of its own, and none is left unclosed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

import aiohttp
from yarl import URL

from . import _json
from ._backoff import (
    MAX_RETRY_AFTER,
    RetryDelay,
    backoff_delay,
    delay_after_429,
    is_retryable_status,
)
from ._errors import (
    AgentChatError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    PoolTimeoutError,
    parse_error_body,
    snippet,
    status_error_class,
)
from ._response import ResponseInfo, parse_retry_after
from ._timeouts import Timeout

__all__ = [
    "ATTEMPT_HEADER",
    "Pacing",
    "Transport",
    "connection_error",
    "current_pacing",
    "logger",
    "status_error",
    "where",
]

_T = TypeVar("_T")

logger = logging.getLogger("agentchat")

#: Sent with every request: 1 for the first attempt, 2 for the first retry, and so on.
ATTEMPT_HEADER = "X-Agentchat-Attempt"


#: Told about each retry before its wait: the failed attempt's number, its error, the delay
#: and where the delay comes from ("retry-after", "rate-limit-reset" or "backoff").
OnRetry = Callable[[int, APIError, float, str], Awaitable[None]]

_REASONS_OF_BASIS = {"retry-after": "retry-after", "reset": "rate-limit-reset"}


class Pacing(Protocol):
    """Something that paces many calls together (the fan-out): asked before every attempt,
    told about every response."""

    async def before_send(self) -> None: ...

    def on_response(self, info: ResponseInfo, delay: RetryDelay | None = None) -> None: ...


#: The pacing of the calls made in the current context (set by the fan-out for its workers).
current_pacing: ContextVar[Pacing | None] = ContextVar("agentchat_pacing", default=None)


async def _close_at_loop_shutdown(
    transport: weakref.ref[Transport],
) -> AsyncGenerator[None, None]:
    """Close a transport's session when the loop it belongs to shuts down.

    Started when the session is made, it stays suspended at its ``yield``. Before closing a
    loop, ``asyncio.run()``, ``asyncio.Runner``, ``anyio.run()`` and pytest-asyncio shut down
    the loop's async generators (``loop.shutdown_asyncgens()``): this one then closes the
    session inside the loop, while it still runs, so that no "Unclosed client session" or
    "Unclosed connector" warning follows, and the client's next call, in a new loop, opens a
    new session. Only a weak reference to the transport is held: a transport dropped without
    ``aclose()`` is not kept alive, nor closed, by it.
    """
    try:
        yield
    finally:
        owner = transport()
        if owner is not None:
            await owner._loop_shutting_down()


#: How the transport sleeps between attempts (a seam for tests that record the delays).
_sleep = asyncio.sleep


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying; ``error`` is what to raise if
    no retry is left. ``delay`` is the wait the server's headers call for (``None``: back
    off); ``stale`` means the request found its pooled connection closed by the server."""

    def __init__(
        self, error: APIError, delay: RetryDelay | None = None, *, stale: bool = False
    ) -> None:
        self.error = error
        self.delay = delay
        self.stale = stale


class Transport:
    """Owns the aiohttp session of one client and sends its requests."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        max_connections: int,
        trust_env: bool,
    ) -> None:
        self._headers = dict(headers)
        self._max_connections = max_connections
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the session belongs to
        # Suspended while the session lives; the loop closes it when it shuts down.
        self._closer: AsyncGenerator[None, None] | None = None
        # The responses handed to streams, until they are dropped: closed with the loop.
        self._streams: weakref.WeakSet[aiohttp.ClientResponse] = weakref.WeakSet()
        self._closed = False
        self._timeout_cache: dict[Timeout, aiohttp.ClientTimeout] = {}

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The aiohttp session, once the first request has created it."""
        return self._session

    async def _open_session(self) -> aiohttp.ClientSession:
        """A session for the running loop: the first call's, or the next one's after the
        loop of the last session shut down (which closed that session)."""
        loop = asyncio.get_running_loop()
        if self._session is not None:  # made in another loop
            assert self._loop is not None
            if not self._loop.is_closed():
                raise AgentChatError(
                    "This client is in use in another event loop, which is still running; "
                    "create one client per event loop."
                )
            # That loop was closed without shutting down its async generators (as
            # asyncio.run(), asyncio.Runner and anyio.run() do): its session could not be
            # closed in it, and is left to the garbage collector.
            self._session = self._closer = None
            self._streams = weakref.WeakSet()
        if self._closed:
            raise AgentChatError("This client has been closed; create a new one.")
        # Created lazily: an aiohttp session belongs to the loop it is created in.
        self._loop = loop
        # ``limit`` is the one cap on concurrent requests: no per-host limit (aiohttp's
        # ``limit_per_host`` is 0, unlimited), since a client talks to one host anyway.
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        self._session = session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=None),
            raise_for_status=False,
            trust_env=self._trust_env,
        )
        closer = _close_at_loop_shutdown(weakref.ref(self))
        await closer.__anext__()  # started (it does not wait): the loop now knows of it
        self._closer = closer
        return session

    async def _loop_shutting_down(self) -> None:
        """The session's loop is shutting down: close the session in it, while it still runs,
        and the responses of streams left open (closing the session alone would leave their
        connections to warn when collected). The next call, in another loop, opens a new
        session."""
        session, self._session = self._session, None
        self._loop = self._closer = None
        await self._close(session)

    async def _close(self, session: aiohttp.ClientSession | None) -> None:
        for response in list(self._streams):
            response.close()  # a no-op for a stream that has ended
        self._streams = weakref.WeakSet()
        if session is not None:
            await session.close()

    async def aclose(self) -> None:
        """Close the session, every pooled connection and the streams still open. Safe to
        call more than once."""
        self._closed = True
        session, self._session = self._session, None
        closer, self._closer = self._closer, None
        await self._close(session)
        if closer is not None:
            await closer.aclose()  # nothing left for it to do

    def _aiohttp_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        cached = self._timeout_cache.get(timeout)
        if cached is None:
            cached = self._timeout_cache[timeout] = timeout.to_aiohttp()
        return cached

    async def fetch(
        self,
        url: URL,
        body: bytes,
        *,
        headers: Mapping[str, str],
        timeout: Timeout,
        max_retries: int,
        on_retry: OnRetry | None = None,
    ) -> tuple[bytes, ResponseInfo]:
        """POST ``body`` and return the whole 2xx body with its metadata.

        The body is read inside the retry loop: a connection lost mid-body is retried, since
        nothing was delivered to the caller yet.
        """
        return await self.request(
            url,
            body,
            headers=headers,
            timeout=timeout,
            max_retries=max_retries,
            consume=_read,
            on_retry=on_retry,
        )

    async def request(
        self,
        url: URL,
        body: bytes,
        *,
        headers: Mapping[str, str],
        timeout: Timeout,
        max_retries: int,
        consume: Callable[[aiohttp.ClientResponse, ResponseInfo], Awaitable[_T]],
        stream: bool = False,
        on_retry: OnRetry | None = None,
    ) -> tuple[_T, ResponseInfo]:
        """POST ``body`` with retries; ``consume`` turns a 2xx response into the result.

        ``consume`` runs inside the retry loop, so a connection or timeout error it raises
        (aiohttp's, or an :class:`APIConnectionError` of its own) is retried like one before
        the headers. It owns the response: it must release it, or hand it on to a caller who
        will. On an error, the response is closed here.

        ``timeout.total`` bounds everything: the attempts, their sleeps and ``consume``. A
        sleep that would end after the deadline is not started: the error is raised at once.
        ``on_retry`` is awaited before each retry's sleep (see :data:`OnRetry`).
        """
        if timeout.total is None:
            return await self._attempts(
                url, body, headers, timeout, max_retries, consume, stream, None, on_retry
            )
        import anyio  # only calls with an overall deadline need it: keep it off import time

        deadline = time.monotonic() + timeout.total
        try:
            with anyio.fail_after(timeout.total):
                return await self._attempts(
                    url, body, headers, timeout, max_retries, consume, stream, deadline, on_retry
                )
        except TimeoutError as exc:
            if isinstance(exc, APITimeoutError):
                raise
            raise APITimeoutError(
                f"The call to {where(url)} did not finish within its total timeout of "
                f"{timeout.total:g} s"
            ) from None

    async def _attempts(
        self,
        url: URL,
        body: bytes,
        headers: Mapping[str, str],
        timeout: Timeout,
        max_retries: int,
        consume: Callable[[aiohttp.ClientResponse, ResponseInfo], Awaitable[_T]],
        stream: bool,
        deadline: float | None,
        on_retry: OnRetry | None,
    ) -> tuple[_T, ResponseInfo]:
        session = self._session
        if session is None or asyncio.get_running_loop() is not self._loop:
            session = await self._open_session()
        client_timeout = self._aiohttp_timeout(timeout)
        pacing = current_pacing.get()
        attempt = 0
        resent = False
        while True:
            attempt += 1
            if pacing is not None:
                await pacing.before_send()
            try:
                return await self._attempt(
                    session,
                    url,
                    body,
                    headers,
                    client_timeout,
                    timeout,
                    attempt,
                    consume,
                    stream,
                    pacing,
                )
            except _Retry as retry:
                if retry.stale and not resent:
                    # The server closed the pooled connection as the request went out on it
                    # (an idle keep-alive timeout): not a failure of the call. Sent again at
                    # once on a new connection, as the same attempt; once per call, so a
                    # server that hangs up on every request still fails after the retries.
                    resent = True
                    attempt -= 1
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug(
                            "POST %s: connection closed by the server as the request was sent "
                            "(%s); sending it again on a new connection",
                            url.path,
                            retry.error.message,
                        )
                    continue
                retry.error.attempts = attempt
                if attempt > max_retries:
                    raise retry.error from retry.__cause__
                await self._sleep_before_retry(retry, attempt, url, deadline, on_retry)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        body: bytes,
        headers: Mapping[str, str],
        client_timeout: aiohttp.ClientTimeout,
        timeout: Timeout,
        attempt: int,
        consume: Callable[[aiohttp.ClientResponse, ResponseInfo], Awaitable[_T]],
        stream: bool,
        pacing: Pacing | None,
    ) -> tuple[_T, ResponseInfo]:
        """One HTTP request. Failures worth retrying raise :class:`_Retry`; the response is
        released or closed before that, so nothing is held during the sleep."""
        started = time.monotonic()
        try:
            response = await session.post(
                url,
                data=body,
                headers={**headers, ATTEMPT_HEADER: str(attempt)},
                timeout=client_timeout,
                allow_redirects=False,
            )
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError, TimeoutError) as exc:
            if not isinstance(exc, aiohttp.ConnectionTimeoutError):  # a read timeout
                raise _Retry(_timeout_error(url, "waiting for the response", timeout)) from exc
            # aiohttp raises the same error when its ``connect`` bound (Timeout.pool) fires
            # while waiting for a free connection as when ``sock_connect`` fires: the pool's
            # whole bound having passed, with the pool still full, tells the first. Checked
            # here only, so a call that gets through pays nothing.
            waited = time.monotonic() - started
            pool_size = (
                _full_pool_size(session)
                if timeout.pool is not None and waited >= timeout.pool - 0.01
                else None
            )
            if pool_size is not None:
                error = _pool_timeout_error(url, timeout, pool_size, waited)
                error.attempts = attempt
                raise error from exc  # not retried: another try only adds to the pool's load
            raise _Retry(_timeout_error(url, "connecting", timeout)) from exc
        except aiohttp.ClientError as exc:
            stale = _closed_by_server(exc)
            raise _Retry(connection_error(exc, url, "connecting"), stale=stale) from exc
        info = _info(response, url, started, attempt)
        # A 429's wait is computed once, here: the retry sleeps it and the pacing pauses for it.
        delay = delay_after_429(info.rate_limit, attempt) if response.status == 429 else None
        if pacing is not None:
            pacing.on_response(info, delay)
        if response.status >= 300:
            try:
                failure = await _status_error(response, info)
            finally:
                response.release()
            _log_response(info)
            if is_retryable_status(info.status):
                if delay is None:
                    retry_after = parse_retry_after(info.headers)
                    if retry_after is not None:
                        delay = RetryDelay(retry_after, "retry-after")
                raise _Retry(failure, delay)
            raise failure
        if stream:
            # From here the stream bounds each read itself (``read`` and ``stream_idle``).
            _stop_socket_read_timer(response)
            self._streams.add(response)
        try:
            result = await consume(response, info)
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError, TimeoutError) as exc:
            response.close()
            if isinstance(exc, APITimeoutError):  # the stream's own (idle) timeout
                raise _Retry(exc) from exc.__cause__
            raise _Retry(_timeout_error(url, "reading the response", timeout)) from exc
        except aiohttp.ClientError as exc:
            response.close()
            raise _Retry(connection_error(exc, url, "reading the response")) from exc
        except APIConnectionError as exc:  # a stream cut before its first event
            response.close()
            raise _Retry(exc) from exc.__cause__
        except BaseException:
            response.close()
            raise
        _log_response(info)
        return result, info

    async def _sleep_before_retry(
        self,
        retry: _Retry,
        attempt: int,
        url: URL,
        deadline: float | None,
        on_retry: OnRetry | None = None,
    ) -> None:
        """Wait as the server's headers ask (for a 429, :func:`delay_after_429`), else back
        off; raise the error at once when the wait is longer than agentchat sleeps for or
        would pass the deadline."""
        error = retry.error
        if retry.delay is None:
            delay = backoff_delay(attempt)
        else:
            delay = retry.delay.seconds
            if delay > MAX_RETRY_AFTER:
                error.message += (
                    f"; not retried: {retry.delay.describe()}, more than the "
                    f"{MAX_RETRY_AFTER:g} s agentchat sleeps for"
                )
                raise error from retry.__cause__
        if deadline is not None and time.monotonic() + delay > deadline:
            error.message += (
                f"; not retried: waiting {delay:.2f} s would pass the call's total timeout"
            )
            raise error from retry.__cause__
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "POST %s failed (attempt %d: %s); retrying in %.2f s",
                url.path,
                attempt,
                error.message,
                delay,
            )
        if on_retry is not None:
            basis = "backoff" if retry.delay is None else retry.delay.basis
            await on_retry(attempt, error, delay, _REASONS_OF_BASIS.get(basis, "backoff"))
        await _sleep(delay)


def _info(response: aiohttp.ClientResponse, url: URL, started: float, attempt: int) -> ResponseInfo:
    return ResponseInfo.of(
        response.status, response.headers, str(url), time.monotonic() - started, attempt
    )


async def _read(response: aiohttp.ClientResponse, info: ResponseInfo) -> bytes:
    try:
        return await response.read()
    finally:
        response.release()


async def _status_error(response: aiohttp.ClientResponse, info: ResponseInfo) -> APIStatusError:
    """Read an error response's body and build the error it stands for."""
    try:
        raw = await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError):
        raw = b""
    return status_error(info, raw)


def status_error(info: ResponseInfo, raw: bytes) -> APIStatusError:
    """The :class:`APIStatusError` subclass for ``info.status``, with the server's message."""
    body: Any = None
    message: str | None = None
    code: str | None = None
    if raw:
        try:
            body = _json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        else:
            message, code = parse_error_body(body)
    if message is None:
        reason = _REASONS.get(info.status, "error")
        message = f"{reason}: {snippet(raw)}" if raw else reason
    return status_error_class(info.status)(
        message, response=info, body=body, code=code, attempts=info.attempts
    )


_REASONS = {
    300: "Unexpected redirect",
    301: "Unexpected redirect",
    302: "Unexpected redirect",
    303: "Unexpected redirect",
    307: "Unexpected redirect",
    308: "Unexpected redirect",
    400: "Bad request",
    401: "Unauthorized (check the agent access key)",
    403: "Forbidden",
    404: "Not found (check the agent endpoint URL)",
    408: "Request timeout",
    409: "Conflict",
    422: "Unprocessable entity",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def where(url: URL) -> str:
    """The URL without its query, for messages."""
    return f"{url.scheme}://{url.raw_authority}{url.raw_path}"


def connection_error(exc: BaseException, url: URL, phase: str) -> APIConnectionError:
    """The error for an aiohttp failure other than a timeout."""
    detail = str(exc) or type(exc).__name__
    message = f"Connection error while {phase} ({where(url)}): {detail}"
    if _out_of_file_descriptors(exc):
        message += _file_limit_hint()
    return APIConnectionError(message)


#: What a write to a socket the server has closed fails with.
_CLOSED_BY_PEER = frozenset(
    code
    for code in (
        errno.ECONNRESET,
        errno.EPIPE,
        getattr(errno, "WSAECONNRESET", None),
        getattr(errno, "WSAECONNABORTED", None),
    )
    if code is not None
)


def _closed_by_server(exc: aiohttp.ClientError) -> bool:
    """Whether a failure before any response byte is the server having closed the connection
    (as it does an idle keep-alive one), not a failure to connect."""
    # ConnectionResetError: aiohttp's ClientConnectionResetError, writing to a closing socket.
    if isinstance(exc, (aiohttp.ServerDisconnectedError, ConnectionResetError)):
        return True
    if not isinstance(exc, aiohttp.ClientOSError) or isinstance(exc, aiohttp.ClientConnectorError):
        return False
    if exc.errno in _CLOSED_BY_PEER:
        return True
    # A closing socket found while writing the body: aiohttp reports "Can not write request
    # body" as a ClientOSError without an errno, caused by that ClientConnectionResetError.
    cause = exc.__cause__
    return isinstance(cause, ConnectionResetError) or (
        isinstance(cause, OSError) and cause.errno in _CLOSED_BY_PEER
    )


#: "Too many open files": EMFILE, and Winsock's own code for it on Windows.
_EMFILE = frozenset(
    code for code in (errno.EMFILE, getattr(errno, "WSAEMFILE", None)) if code is not None
)


def _out_of_file_descriptors(exc: BaseException) -> bool:
    """Whether an ``OSError`` with errno EMFILE is ``exc`` or anywhere in its chain (aiohttp
    wraps the socket's error in ``ClientConnectorError``, as ``os_error`` and as the cause)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _EMFILE:
            return True
        pending += [getattr(error, "os_error", None), error.__cause__, error.__context__]
    return False


def _file_limit_hint() -> str:
    hint = (
        ". The process has run out of file descriptors; each open connection, so each open "
        "stream, holds one socket"
    )
    try:
        import resource  # Unix only; imported on this rare path alone
    except ImportError:  # pragma: no cover - Windows
        return hint + ". Lower max_connections or the number of concurrent calls"
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = "" if soft == resource.RLIM_INFINITY else f" ({soft})"
    return (
        f"{hint}. Its soft RLIMIT_NOFILE limit{limit} is reached: raise it (`ulimit -n`, or "
        "resource.setrlimit up to the hard limit), or lower max_connections or the number of "
        "concurrent calls"
    )


def _full_pool_size(session: aiohttp.ClientSession) -> int | None:
    """The size of the session's pool if all its connections are checked out, else None.

    aiohttp has no public count of the connections in use: this reads the connector's
    private ``_acquired`` set, defensively, so an aiohttp without it only loses the pool
    diagnosis (the timeout is then reported, and retried, as a connect timeout)."""
    connector = session.connector
    limit = getattr(connector, "limit", 0)
    acquired = getattr(connector, "_acquired", None)
    if not isinstance(limit, int) or limit <= 0 or acquired is None:
        return None
    try:
        in_use = len(acquired)
    except TypeError:
        return None
    return limit if in_use >= limit else None


def _pool_timeout_error(
    url: URL, timeout: Timeout, pool_size: int, waited: float
) -> PoolTimeoutError:
    return PoolTimeoutError(
        f"Timed out waiting for a connection from the pool ({where(url)}): waited {waited:.2f} s "
        f"(pool timeout {timeout.pool:g} s) while all max_connections={pool_size} connections "
        "of this client were in use. Raise max_connections, bound the number of concurrent "
        "calls (a semaphore; create_many for a batch), or raise Timeout.pool"
    )


def _timeout_error(url: URL, phase: str, timeout: Timeout) -> APITimeoutError:
    if phase != "connecting":
        bound = f"read timeout {timeout.read:g} s"
    elif timeout.pool is not None and (timeout.connect is None or timeout.pool < timeout.connect):
        # The pool timeout bounds opening the connection too, and it is the shorter one.
        bound = f"pool timeout {timeout.pool:g} s, which bounds opening the connection too"
    else:
        bound = f"connect timeout {timeout.connect:g} s"
    return APITimeoutError(f"Timed out {phase} ({where(url)}; {bound})")


def _stop_socket_read_timer(response: aiohttp.ClientResponse) -> None:
    """Turn off aiohttp's ``sock_read`` timer for the rest of a streamed response: the stream
    bounds its reads itself, and aiohttp would re-arm its timer on every TCP read."""
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is not None:
        protocol.read_timeout = None
        protocol.start_timeout()  # with no read timeout: cancels the timer armed now


def _log_response(info: ResponseInfo) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "POST %s -> %d in %.1f ms (attempt %d, request_id=%s)",
            URL(info.url).path,
            info.status,
            info.elapsed * 1000,
            info.attempts,
            info.request_id,
        )
