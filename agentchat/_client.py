"""The clients: configuration, the one HTTP session, and the resource tree.

Three clients share one implementation (:class:`_AsyncClient`): the settings, the transport
with its retries and pool, and the completions resource with its streaming, fan-out and
batch files. They differ only in where they send (:class:`~agentchat._config.Service`: the
URL, the query, the key's source) and in the request fields ``create()`` accepts:

- :class:`AsyncAgentClient`: a DigitalOcean agent endpoint, ``client.agent.chat.completions``
  with the agent's fields (retrieval, guardrails, citations, ...), as pydo names it.
- :class:`AsyncInferenceClient`: DigitalOcean serverless inference,
  ``client.chat.completions`` with the standard fields, as pydo names it.
- :class:`AsyncOpenAICompatibleClient`: any OpenAI-compatible server (llama.cpp, vLLM,
  Ollama, a LiteLLM proxy, OpenAI itself) at a base URL with its path.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
from yarl import URL

from . import _defaults
from ._backoff import check_max_retries
from ._config import (
    AGENT,
    COMPATIBLE,
    INFERENCE,
    Service,
    config_error,
    resolve_endpoint,
    resolve_token,
)
from ._errors import InvalidRequestError
from ._resources import AsyncAgent, AsyncStandardChat
from ._timeouts import DEFAULT_TIMEOUT, Timeout, to_timeout
from ._transport import Transport
from ._version import __version__

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._resources._completions import _AsyncCompletionsBase

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "USER_AGENT",
    "AsyncAgentClient",
    "AsyncInferenceClient",
    "AsyncOpenAICompatibleClient",
]

DEFAULT_MAX_RETRIES = _defaults.MAX_RETRIES
DEFAULT_MAX_CONNECTIONS = _defaults.MAX_CONNECTIONS
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


class _AsyncClient:
    """What every client shares: its settings, one transport (the aiohttp session with its
    pool and retries), and the URL and headers of its completions requests."""

    def __init__(
        self,
        service: Service,
        token: str | None,
        endpoint: str | None,
        *,
        timeout: float | Timeout,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        max_connections: int,
        allow_insecure_http: bool,
        trust_env: bool,
        hooks: Iterable[object] | None = None,
        telemetry: bool = True,
    ) -> None:
        # Every setting is checked here, and a bad one is a ConfigurationError naming it,
        # the value given and what is allowed (the same checks on a call's own timeout= and
        # max_retries= raise InvalidRequestError: there they are request parameters).
        for name, flag in (
            ("allow_insecure_http", allow_insecure_http),
            ("trust_env", trust_env),
            ("telemetry", telemetry),
        ):
            if not isinstance(flag, bool):
                raise config_error(name, flag, "True or False is required")
        #: The hooks told about every call (see ``agentchat._hooks``); empty: none, and a call
        #: pays one attribute read for them.
        self._hooks: tuple[object, ...] = ()
        if hooks is not None:
            from ._hooks import check_hooks  # loaded only by clients with hooks

            self._hooks = check_hooks(hooks)
        self._service = service
        self._token = resolve_token(token, service)
        self._base_url = resolve_endpoint(
            endpoint,
            service,
            allow_insecure_http=allow_insecure_http,
            sends_key=self._token is not None,
        )
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
        self._completions = service.completions_url(self._base_url)
        headers = {"User-Agent": USER_AGENT}
        headers.update(_check_headers(default_headers, "default_headers", config_error))
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        self._transport = Transport(
            headers=headers, max_connections=max_connections, trust_env=trust_env
        )
        #: The OpenTelemetry hooks, also last in ``_hooks``; a call skips them while no
        #: provider is configured (then it pays for ``_user_hooks`` only: often none at all).
        self._telemetry: Any = None
        self._user_hooks = self._hooks
        if telemetry:
            factory = _telemetry_factory()
            if factory is not None:
                telemetry_hook = factory(service.kind, self._base_url)
                if telemetry_hook is not None:
                    self._telemetry = telemetry_hook
                    self._hooks += (telemetry_hook,)
        #: The client's ``chat.completions`` (``agent.chat.completions`` for an agent), for
        #: code that serves every client: batch files, the command line.
        self._chat_completions: _AsyncCompletionsBase

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

    async def __aenter__(self) -> Self:
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
            f"{type(self).__name__}({self._service.endpoint_param}={str(self._base_url)!r}, "
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


class AsyncAgentClient(_AsyncClient):
    """Async client for one DigitalOcean agent endpoint.

    ``token`` and ``agent_endpoint`` default to ``$AGENT_ACCESS_KEY`` and ``$AGENT_ENDPOINT``;
    a missing one raises :class:`~agentchat.ConfigurationError` here, before any call. A bare
    host gets ``https://``. ``timeout`` is seconds or a :class:`~agentchat.Timeout`;
    ``max_retries`` is how many times a failed call that is safe to retry is tried again.
    ``max_connections`` (1,000) is the size of the connection pool: the most requests, open
    streams included, in flight at once; a call beyond it waits up to ``Timeout.pool``.

    Calls go to ``{agent_endpoint}/api/v1/chat/completions?agent=true`` through
    ``client.agent.chat.completions``. The aiohttp session is created on first use inside the
    running event loop and closed by :meth:`aclose` (or ``async with``). Use one client for
    many calls: it pools connections.

    ``hooks`` are objects told about every ``create()`` call (``on_request``, ``on_retry``,
    ``on_response``, ``on_error``; see :class:`~agentchat.Hooks`). With ``telemetry``
    (the default) and OpenTelemetry installed, a hook recording each call as a span and in
    metrics is added to them; ``telemetry=False`` leaves it out.
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
        hooks: Iterable[object] | None = None,
        telemetry: bool = True,
    ) -> None:
        super().__init__(
            AGENT,
            token,
            agent_endpoint,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            max_connections=max_connections,
            allow_insecure_http=allow_insecure_http,
            trust_env=trust_env,
            hooks=hooks,
            telemetry=telemetry,
        )
        self.agent = AsyncAgent(self)
        """The agent's operations: ``client.agent.chat.completions`` is the
        :class:`~agentchat._resources.AsyncCompletions` that sends requests."""
        self._chat_completions = self.agent.chat.completions

    @property
    def agent_endpoint(self) -> str:
        """The agent's base URL, as normalised (scheme added, trailing slash dropped)."""
        return str(self._base_url)


class AsyncInferenceClient(_AsyncClient):
    """Async client for DigitalOcean serverless inference: the models of the catalog, called
    with a model access key, without an agent.

    ``token`` defaults to ``$MODEL_ACCESS_KEY`` and ``inference_endpoint`` to
    ``$INFERENCE_ENDPOINT``, then to ``https://inference.do-ai.run`` (pydo's default; the
    variable is agentchat's own, for tests and proxies). Calls go to
    ``{inference_endpoint}/v1/chat/completions`` through ``client.chat.completions``, whose
    ``create()`` takes the standard chat-completions fields (the agent's own fields, such as
    ``include_retrieval_info``, are refused before sending). Every other setting, and
    everything else (retries, streaming, fan-out, batch files), is as in
    :class:`AsyncAgentClient`.
    """

    def __init__(
        self,
        token: str | None = None,
        inference_endpoint: str | None = None,
        *,
        timeout: float | Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        allow_insecure_http: bool = False,
        trust_env: bool = False,
        hooks: Iterable[object] | None = None,
        telemetry: bool = True,
    ) -> None:
        super().__init__(
            INFERENCE,
            token,
            inference_endpoint,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            max_connections=max_connections,
            allow_insecure_http=allow_insecure_http,
            trust_env=trust_env,
            hooks=hooks,
            telemetry=telemetry,
        )
        self.chat = AsyncStandardChat(self)
        """``client.chat.completions`` is the
        :class:`~agentchat._resources.AsyncStandardCompletions` that sends requests."""
        self._chat_completions = self.chat.completions

    @property
    def inference_endpoint(self) -> str:
        """The serverless inference base URL, as normalised."""
        return str(self._base_url)


class AsyncOpenAICompatibleClient(_AsyncClient):
    """Async client for any OpenAI-compatible chat-completions server: llama.cpp's
    ``llama-server``, vLLM, Ollama, a LiteLLM proxy, OpenAI itself.

    ``base_url`` is the server's API root with its path, the same as the openai SDK's
    (``http://localhost:8080/v1``); calls go to ``{base_url}/chat/completions`` through
    ``client.chat.completions``. ``base_url`` and ``api_key`` default to ``$OPENAI_BASE_URL``
    and ``$OPENAI_API_KEY``; with no key, no ``Authorization`` header is sent (a local server
    often needs none), and plain ``http://`` is then accepted for any host. Every other
    setting is as in :class:`AsyncAgentClient`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        allow_insecure_http: bool = False,
        trust_env: bool = False,
        hooks: Iterable[object] | None = None,
        telemetry: bool = True,
    ) -> None:
        super().__init__(
            COMPATIBLE,
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            max_connections=max_connections,
            allow_insecure_http=allow_insecure_http,
            trust_env=trust_env,
            hooks=hooks,
            telemetry=telemetry,
        )
        self.chat = AsyncStandardChat(self)
        """``client.chat.completions`` is the
        :class:`~agentchat._resources.AsyncStandardCompletions` that sends requests."""
        self._chat_completions = self.chat.completions

    @property
    def base_url(self) -> str:
        """The server's base URL, as normalised."""
        return str(self._base_url)


_TelemetryFactory = Callable[[Literal["agent", "inference", "compatible"], URL], object]
#: ``agentchat._otel.telemetry_hooks`` once looked up (``None``: that module is missing).
_telemetry: list[_TelemetryFactory | None] = []


def _telemetry_factory() -> _TelemetryFactory | None:
    """``agentchat._otel.telemetry_hooks``, imported on first use and remembered (``None``
    when OpenTelemetry is not installed): a client made without it pays one list read."""
    if not _telemetry:
        try:
            # Tried once per process: without OpenTelemetry installed, a failed import on
            # every construction would cost more than the rest of the constructor.
            import opentelemetry.trace  # noqa: F401

            from ._otel import telemetry_hooks  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            _telemetry.append(None)
        else:
            _telemetry.append(telemetry_hooks)
    return _telemetry[0]


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
