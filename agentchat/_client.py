"""``AsyncAgentClient``: configuration, the one HTTP session, and the resource tree."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
from yarl import URL

from ._backoff import check_max_retries
from ._config import COMPLETIONS_PATH, config_error, resolve_endpoint, resolve_token
from ._errors import InvalidRequestError
from ._resources import AsyncAgent
from ._timeouts import DEFAULT_TIMEOUT, Timeout, to_timeout
from ._transport import Transport
from ._version import __version__

__all__ = ["DEFAULT_MAX_RETRIES", "USER_AGENT", "AsyncAgentClient"]

DEFAULT_MAX_RETRIES = 2
#: The size of a client's connection pool: how many requests (an open stream holds one
#: connection for its whole length) can be in flight at once. As in the openai and
#: anthropic SDKs (httpx), it is large enough that one client can carry a busy web service.
DEFAULT_MAX_CONNECTIONS = 1000
USER_AGENT = (
    f"agentchat/{__version__} Python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_JSON_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/json",
    "Accept": "application/json",
}
_STREAM_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/json",
    "Accept": "text/event-stream",
}


class AsyncAgentClient:
    """Async client for one agent endpoint.

    ``token`` and ``agent_endpoint`` default to ``$AGENT_ACCESS_KEY`` and ``$AGENT_ENDPOINT``;
    a missing one raises :class:`~agentchat.ConfigurationError` here, before any call. A bare
    host gets ``https://``. ``timeout`` is seconds or a :class:`~agentchat.Timeout`;
    ``max_retries`` is how many times a failed call that is safe to retry is tried again.
    ``max_connections`` (1,000) is the size of the connection pool: the most requests, open
    streams included, in flight at once; a call beyond it waits up to ``Timeout.pool``.

    The aiohttp session is created on first use inside the running event loop and closed by
    :meth:`aclose` (or ``async with``). Use one client for many calls: it pools connections.
    """

    def __init__(
        self,
        token: str | None = None,
        agent_endpoint: str | None = None,
        *,
        timeout: float | Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        allow_insecure_http: bool = False,
        trust_env: bool = False,
    ) -> None:
        # Every setting is checked here, and a bad one is a ConfigurationError naming it,
        # the value given and what is allowed (the same checks on a call's own timeout= and
        # max_retries= raise InvalidRequestError: there they are request parameters).
        for name, flag in (("allow_insecure_http", allow_insecure_http), ("trust_env", trust_env)):
            if not isinstance(flag, bool):
                raise config_error(name, flag, "True or False is required")
        self._token = resolve_token(token)
        self._base_url = resolve_endpoint(agent_endpoint, allow_insecure_http=allow_insecure_http)
        self._timeout = to_timeout(timeout, "timeout", config_error)
        try:
            self._max_retries = check_max_retries(max_retries)
        except InvalidRequestError as exc:
            raise config_error(exc.param, exc.value, exc.allowed) from None
        if (
            not isinstance(max_connections, int)
            or isinstance(max_connections, bool)
            or max_connections < 1
        ):
            raise config_error("max_connections", max_connections, "an integer >= 1 is required")
        self._completions = self._base_url.with_path(
            self._base_url.path.rstrip("/") + COMPLETIONS_PATH
        ).with_query(agent="true")
        headers = {"User-Agent": USER_AGENT}
        headers.update(_check_headers(default_headers, "default_headers", config_error))
        headers["Authorization"] = f"Bearer {self._token}"
        self._transport = Transport(
            headers=headers, max_connections=max_connections, trust_env=trust_env
        )
        self.agent = AsyncAgent(self)

    @property
    def agent_endpoint(self) -> str:
        """The agent's base URL, as normalised (scheme added, trailing slash dropped)."""
        return str(self._base_url)

    @property
    def timeout(self) -> Timeout:
        """The default timeouts of this client's calls."""
        return self._timeout

    @property
    def max_retries(self) -> int:
        """The default number of retries of this client's calls."""
        return self._max_retries

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has run."""
        return self._transport.closed

    async def aclose(self) -> None:
        """Close the HTTP session and its pooled connections. Safe to call twice."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncAgentClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        # Never the token.
        return (
            f"{type(self).__name__}(agent_endpoint={self.agent_endpoint!r}, "
            f"max_retries={self._max_retries}, timeout={self._timeout!r})"
        )

    def __getstate__(self) -> object:
        raise TypeError(f"{type(self).__name__} cannot be pickled (it holds a live session)")

    # -- used by the resources -------------------------------------------------------------

    def _completions_url(self, extra_query: Mapping[str, str] | None) -> URL:
        if not extra_query:
            return self._completions
        return self._completions.update_query(dict(extra_query))

    def _request_headers(
        self, extra_headers: Mapping[str, str] | None, *, stream: bool
    ) -> Mapping[str, str]:
        base = _STREAM_HEADERS if stream else _JSON_HEADERS
        if not extra_headers:
            return base
        return {**base, **_check_headers(extra_headers, "extra_headers")}


def _check_headers(
    headers: Mapping[str, str] | None,
    param: str,
    error: Callable[[str, Any, str], ValueError] = InvalidRequestError,
) -> dict[str, str]:
    """Header names must be HTTP tokens and values strings without line breaks (no header
    injection); a bad one raises ``error`` naming it, never showing its value."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise error(param, headers, "a mapping of header names to string values is required")
    checked = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise error(
                f"{param} key",
                name,
                "a header name (letters, digits and !#$%&'*+-.^_`|~, no spaces or colons) "
                "is required",
            )
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            # Header values are often secrets: describe the value, never show it.
            shown = (
                f"<{type(value).__name__} of {len(value)} chars>"
                if isinstance(value, str)
                else f"<{type(value).__name__}>"
            )
            raise error(f"{param}[{name!r}]", shown, "strings without line breaks are required")
        checked[name] = value
    return checked
