"""pydo on the bench's plain-http server: the client options of the two pydo rows.

pydo's clients run every request through an azure-core pipeline whose
``BearerTokenCredentialPolicy`` refuses a URL that is not https ("Bearer token authentication
is not permitted for non-TLS protected (non-https) URLs"), and the bench server is plain http
on 127.0.0.1. azure-core lets a caller lift that check for one call (its ``enforce_https=False``
operation option), but pydo's ``agent.chat.completions.create(**kwargs)`` puts every keyword
outside a short list into the request body, and its streaming path does not hand operation
options to the pipeline at all. So the pydo rows are made with pydo's own keyword
``authentication_policy=``: the policy pydo would build itself (azure-core's
``BearerTokenCredentialPolicy``, or its async twin, holding pydo's own ``TokenCredentials``
and pydo's default scope), subclassed only to mark each request as allowed over http (one
dict store) before the unchanged check, token fetch and header write run. Nothing else of
pydo's pipeline changes: the same policies in the same order (retry, redirect, logging,
tracing, ...), the same transport (requests, or aiohttp for ``pydo.aio``), the same
serialisation and parsing. The alternative, a local TLS server, would have put every client
of the scenario behind TLS and changed every row.

Two more options, both azure-core's and set for every client of the bench alike:

- ``connection_timeout`` and ``read_timeout`` (azure-core's transport options, 300 s by
  default) are the bench's ``TIMEOUT``, as the other clients' connect and read timeouts are;
  pydo's own ``timeout=`` (the retry policy's total) keeps pydo's default;
- where the bench sets a connection-pool size (the peak-RSS children, which hold 1,000
  streams open), the transport is azure-core's with a pool of that size: the aiohttp session
  azure-core opens (same cookie jar, environment and decompression settings) with a
  ``TCPConnector(limit=...)``, or requests' adapter with ``pool_maxsize=...``. Elsewhere the
  transport is pydo's default (aiohttp's pool of 100; requests' of 10, which does not block).

Imported by the pydo clients of :mod:`bench.clients` only, so that no other process holds
pydo or azure-core.
"""

from __future__ import annotations

from typing import Any, Final

from azure.core.pipeline import policies

__all__ = ["async_options", "sync_options"]

#: pydo's default credential scope (``credential_scopes`` in its configuration).
SCOPE: Final = "https://api.digitalocean.com"

# The azure-core classes subclassed here, as Any: mypy sees them untyped where pydo and
# azure-core are not installed (the typecheck session), generic where they are.
_Bearer: Any = policies.BearerTokenCredentialPolicy
_AsyncBearer: Any = policies.AsyncBearerTokenCredentialPolicy


class _HttpBearerPolicy(_Bearer):  # type: ignore[misc]
    """azure-core's bearer policy, told per request that plain http is allowed here."""

    def on_request(self, request: Any) -> None:
        # What the per-call option enforce_https=False leaves in the context.
        request.context["enforce_https"] = False
        super().on_request(request)


class _AsyncHttpBearerPolicy(_AsyncBearer):  # type: ignore[misc]
    """The async twin of :class:`_HttpBearerPolicy`."""

    async def on_request(self, request: Any) -> None:
        request.context["enforce_https"] = False
        await super().on_request(request)


def _timeouts(timeout: float) -> dict[str, Any]:
    return {"connection_timeout": timeout, "read_timeout": timeout}


def _requests_transport(pool: int, timeout: float) -> Any:
    """azure-core's requests transport with a pool of ``pool`` connections. (Each transport
    is imported only by the client that uses it, so that a peak-RSS child holds only its
    own.)"""
    from azure.core.pipeline.transport import RequestsTransport

    base: Any = RequestsTransport
    if pool < 1:
        raise ValueError("requests needs a pool of at least one connection")

    class PooledRequestsTransport(base):  # type: ignore[misc]
        def _init_session(self, session: Any) -> None:
            super()._init_session(session)  # mounts one adapter for http:// and https://
            adapter = session.get_adapter("http://")
            adapter._pool_maxsize = pool
            adapter.init_poolmanager(adapter._pool_connections, pool, adapter._pool_block)

    return PooledRequestsTransport(**_timeouts(timeout))


def _aiohttp_transport(pool: int, timeout: float) -> Any:
    """azure-core's aiohttp transport with a pool of ``pool`` connections (0: no limit)."""
    import aiohttp
    from azure.core.pipeline.transport import AioHttpTransport

    base: Any = AioHttpTransport

    class PooledAioHttpTransport(base):  # type: ignore[misc]
        session: Any

        async def open(self) -> None:
            if self.session is None and not self._has_been_opened and self._session_owner:
                # The session azure-core's open() makes, with the bench's pool size.
                self.session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=pool),
                    trust_env=self._use_env_settings,
                    cookie_jar=aiohttp.DummyCookieJar(),
                    auto_decompress=False,
                )
            await super().open()

    return PooledAioHttpTransport(**_timeouts(timeout))


def sync_options(token: str, connections: int | None, timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``pydo.Client`` beside ``token`` and ``agent_endpoint``."""
    from pydo._patch import TokenCredentials

    credentials: Any = TokenCredentials
    options: dict[str, Any] = {
        "authentication_policy": _HttpBearerPolicy(credentials(token), SCOPE),
        **_timeouts(timeout),
    }
    if connections is not None:
        options["transport"] = _requests_transport(connections, timeout)
    return options


def async_options(token: str, connections: int | None, timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``pydo.aio.Client`` beside ``token`` and ``agent_endpoint``."""
    from pydo.aio._patch import TokenCredentials

    credentials: Any = TokenCredentials  # an AsyncTokenCredential, typed abstract
    options: dict[str, Any] = {
        "authentication_policy": _AsyncHttpBearerPolicy(credentials(token), SCOPE),
        **_timeouts(timeout),
    }
    if connections is not None:
        options["transport"] = _aiohttp_transport(connections, timeout)
    return options
