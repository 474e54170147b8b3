"""Where the client sends requests and with which key: arguments first, then the environment.

There is no default host. pydo falls back to its control-plane host when no agent endpoint is
given, which turns a missing setting into a confusing 404 (and sends the agent key to the wrong
service); here a missing endpoint or key is a :class:`~agentchat.ConfigurationError` at once.

So is an endpoint that could only fail later: one pasted with the request path
(``.../api/v1/chat/completions?agent=true``, which would become a 404), or a host that no DNS
lookup can find (a space, an empty label, a character no host name has), which would fail only
after every retry. The error shows what to pass instead.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from typing import Any

from yarl import URL

from ._errors import ConfigurationError, _short_repr

__all__ = [
    "COMPLETIONS_PATH",
    "ENV_ENDPOINT",
    "ENV_TOKEN",
    "config_error",
    "resolve_endpoint",
    "resolve_token",
]

ENV_TOKEN = "AGENT_ACCESS_KEY"
ENV_ENDPOINT = "AGENT_ENDPOINT"
COMPLETIONS_PATH = "/api/v1/chat/completions"
_EXAMPLE = "'https://<agent-id>.agents.do-ai.run'"
_PASS_BASE = f"pass the agent's base URL, for example {_EXAMPLE}."

# A path that ends in what the client appends itself: the full request path (as pasted from a
# curl sample, or the spec's /v1/chat/completions variant), or the /api/v1 part of it.
_REQUEST_PATH = re.compile(
    r"(?:(?:/api)?(?:/v1)?/chat/completions|/api/v1(?:/chat)?)/*$", re.IGNORECASE
)
# DigitalOcean agent hosts serve the API at their root: any path on them is a mistake.
_DO_AGENT_HOST = re.compile(r"(?:^|\.)agents\.do-ai\.run\.?$", re.IGNORECASE)
# One DNS label (RFC 1123), with "_" allowed as container and service names use it.
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
# $AGENT_URL, ${AGENT_URL}, {agent_url}, <agent-id>: copied from a sample and not filled in.
_PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_]\w*\}?|\{[A-Za-z_][\w-]*\}|<[^<>/]*>")
_MALFORMED_SCHEME = re.compile(r"https?(?::/?|//?)(?!/)", re.IGNORECASE)


def config_error(param: str, value: Any, allowed: str) -> ConfigurationError:
    """A :class:`ConfigurationError` worded as :class:`~agentchat.InvalidRequestError` is:
    the setting, the value given and what is allowed."""
    return ConfigurationError(f"{param}={_short_repr(value)} is invalid: {allowed}")


def resolve_token(token: str | None) -> str:
    """The access key from ``token`` or ``$AGENT_ACCESS_KEY``; never echoed in errors."""
    if token is not None and not isinstance(token, str):
        raise ConfigurationError(
            f"token must be a string (the agent's endpoint access key), not {type(token).__name__}."
        )
    if token is None:
        token = os.environ.get(ENV_TOKEN)
    if token is None or not token.strip():
        raise ConfigurationError(
            f"No agent access key: pass token=... or set ${ENV_TOKEN} "
            "(the endpoint access key of your agent)."
        )
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
    proxy in front of the agent), unless it is the request path itself, which the client adds.
    Plain ``http://`` is accepted only for loopback hosts unless ``allow_insecure_http`` is
    set, because the key would cross the network in clear text.
    """
    if endpoint is not None and not isinstance(endpoint, str):
        raise config_error(
            "agent_endpoint", endpoint, f"a URL string is required, for example {_EXAMPLE}"
        )
    source = "agent_endpoint"
    if endpoint is None:
        endpoint = os.environ.get(ENV_ENDPOINT)
        source = f"${ENV_ENDPOINT}"
    if endpoint is None or not endpoint.strip():
        raise ConfigurationError(
            f"No agent endpoint: pass agent_endpoint={_EXAMPLE} "
            f"or set ${ENV_ENDPOINT}. There is no default host."
        )
    text = endpoint.strip()

    def invalid(why: str) -> ConfigurationError:
        return ConfigurationError(f"{source}={endpoint!r} is invalid: {why}")

    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise invalid(f"it contains a space or a control character, which no URL has; {_PASS_BASE}")
    placeholder = _PLACEHOLDER.search(text)
    if placeholder:
        raise invalid(
            f"{placeholder.group(0)!r} is a placeholder from a sample, not filled in; {_PASS_BASE}"
        )
    if "://" not in text:
        if _MALFORMED_SCHEME.match(text):
            raise invalid(f"the scheme is malformed; write it as {_EXAMPLE}.")
        text = "https://" + text
    try:
        url = URL(text)
    except (ValueError, TypeError) as exc:
        raise invalid(f"it is not a valid URL ({exc}); pass, for example, {_EXAMPLE}.") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise invalid(f"an http(s) URL with a host is required, for example {_EXAMPLE}.")
    if url.user or url.password:
        raise ConfigurationError(
            f"{source} must not contain credentials; pass the key as token=... instead."
        )
    _check_host(url, invalid)
    path = url.path.rstrip("/")
    base = _base(url, path)
    request_path = _REQUEST_PATH.search(path)
    if request_path:
        raise invalid(
            f"it includes the request path {request_path.group(0).rstrip('/')!r}, which "
            f"agentchat adds itself (with ?agent=true); pass the agent's base URL: {base}"
        )
    if path and _DO_AGENT_HOST.search(url.raw_host or ""):
        raise invalid(
            f"a DigitalOcean agent endpoint has no path ({url.raw_path!r} would end in a "
            f"404); pass the agent's base URL: {base}"
        )
    if url.query_string or url.fragment:
        raise invalid(
            "a base URL without query or fragment is required (agentchat adds the path and "
            f"?agent=true itself); pass the agent's base URL: {base}"
        )
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigurationError(
            f"{source}={endpoint!r} uses plain http to a non-loopback host, which would send "
            "the access key unencrypted. Use https, or pass allow_insecure_http=True if you "
            "really mean it."
        )
    return url.with_path(path).with_query(None).with_fragment(None)


def _base(url: URL, path: str) -> str:
    """What the caller should pass: the URL without the request path, query or fragment."""
    request_path = _REQUEST_PATH.search(path)
    if request_path:
        path = path[: request_path.start()]
    if _DO_AGENT_HOST.search(url.raw_host or ""):
        path = ""
    return str(url.with_path(path).with_query(None).with_fragment(None)).rstrip("/")


def _check_host(url: URL, invalid: Callable[[str], ConfigurationError]) -> None:
    """Reject host names no resolver can find: IP literals must parse, names must be
    dot-separated labels of letters, digits, '-' and '_' (IDNA names arrive as punycode)."""
    host = url.raw_host or ""
    if ":" in host:  # yarl strips the brackets of an IPv6 literal
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise invalid(f"{host!r} is not a valid IPv6 address; {_PASS_BASE}") from None
        return
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    bad = next((label for label in labels if not _LABEL.fullmatch(label)), None)
    if bad is not None or len(name) > 253:
        if bad == "":
            problem = "an empty label (two dots in a row, or a leading dot)"
        elif bad is not None and len(bad) > 63:
            problem = f"a label longer than 63 characters ({bad[:20]}...)"
        elif bad is not None:
            chars = sorted(
                {ch for ch in bad if not (ch.isalnum() and ch.isascii()) and ch not in "-_"}
            )
            problem = (
                f"the character(s) {', '.join(repr(c) for c in chars)}"
                if chars
                else f"the label {bad!r}, which starts or ends with '-'"
            )
        else:
            problem = "more than 253 characters"
        raise invalid(
            f"the host {url.host!r} has {problem}, so no DNS lookup can find it; {_PASS_BASE}"
        )
    if labels[-1].isdigit():  # a numeric top label is an IPv4 address or nothing
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise invalid(f"{host!r} is not a valid IPv4 address; {_PASS_BASE}") from None
    if url.explicit_port == 0:
        raise invalid(f"port 0 cannot be connected to (1 to 65535 can); {_PASS_BASE}")


def is_loopback(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
