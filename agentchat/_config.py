"""Where the client sends requests and with which key: arguments first, then the environment.

There is no default host. pydo falls back to its control-plane host when no agent endpoint is
given, which turns a missing setting into a confusing 404 (and sends the agent key to the wrong
service); here a missing endpoint or key is a :class:`~agentchat.ConfigurationError` at once.
"""

from __future__ import annotations

import ipaddress
import os

from yarl import URL

from ._errors import ConfigurationError

__all__ = ["COMPLETIONS_PATH", "ENV_ENDPOINT", "ENV_TOKEN", "resolve_endpoint", "resolve_token"]

ENV_TOKEN = "AGENT_ACCESS_KEY"
ENV_ENDPOINT = "AGENT_ENDPOINT"
COMPLETIONS_PATH = "/api/v1/chat/completions"


def resolve_token(token: str | None) -> str:
    """The access key from ``token`` or ``$AGENT_ACCESS_KEY``; never echoed in errors."""
    if token is None:
        token = os.environ.get(ENV_TOKEN)
    if token is None or not token.strip():
        raise ConfigurationError(
            f"No agent access key: pass token=... or set ${ENV_TOKEN} "
            "(the endpoint access key of your agent)."
        )
    if not isinstance(token, str):
        raise ConfigurationError(f"token must be a string, not {type(token).__name__}.")
    token = token.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ConfigurationError(
            "The agent access key contains whitespace or control characters; "
            "check for a stray newline or quote where it is set."
        )
    return token


def resolve_endpoint(endpoint: str | None, *, allow_insecure_http: bool = False) -> URL:
    """The agent's base URL from ``agent_endpoint`` or ``$AGENT_ENDPOINT``.

    A bare host gets ``https://``; a trailing slash is dropped; a path prefix is kept (for a
    proxy in front of the agent). Plain ``http://`` is accepted only for loopback hosts unless
    ``allow_insecure_http`` is set, because the key would cross the network in clear text.
    """
    source = "agent_endpoint"
    if endpoint is None:
        endpoint = os.environ.get(ENV_ENDPOINT)
        source = f"${ENV_ENDPOINT}"
    if endpoint is None or not endpoint.strip():
        raise ConfigurationError(
            f"No agent endpoint: pass agent_endpoint='https://<agent-id>.agents.do-ai.run' "
            f"or set ${ENV_ENDPOINT}. There is no default host."
        )
    if not isinstance(endpoint, str):
        raise ConfigurationError(f"agent_endpoint must be a string, not {type(endpoint).__name__}.")
    text = endpoint.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        url = URL(text)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{source}={endpoint!r} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"{source}={endpoint!r} is invalid: an http(s) URL with a host is required, "
            "for example 'https://<agent-id>.agents.do-ai.run'."
        )
    if url.user or url.password:
        raise ConfigurationError(
            f"{source} must not contain credentials; pass the key as token=... instead."
        )
    if url.query_string or url.fragment:
        raise ConfigurationError(
            f"{source}={endpoint!r} is invalid: a base URL without query or fragment is "
            "required (agentchat adds the path and ?agent=true itself)."
        )
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigurationError(
            f"{source}={endpoint!r} uses plain http to a non-loopback host, which would send "
            "the access key unencrypted. Use https, or pass allow_insecure_http=True if you "
            "really mean it."
        )
    return url.with_path(url.path.rstrip("/"))


def is_loopback(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
