"""Where a client sends requests and with which key: arguments first, then the environment.

Three services share this: a DigitalOcean agent endpoint (:data:`AGENT`), DigitalOcean
serverless inference (:data:`INFERENCE`) and any OpenAI-compatible server
(:data:`COMPATIBLE`). A :class:`Service` says what differs: the setting's name, its
environment variable and default, the path the client appends, and where the key comes from.

There is no default agent host. pydo falls back to its control-plane host when no agent
endpoint is given, which turns a missing setting into a confusing 404 (and sends the agent key
to the wrong service); here a missing endpoint or key is a :class:`~agentchat.ConfigurationError`
at once.

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
from typing import Any, Literal

import attrs
from yarl import URL

from ._errors import ConfigurationError, _short_repr

__all__ = [
    "AGENT",
    "COMPATIBLE",
    "ENV_ENDPOINT",
    "ENV_TOKEN",
    "INFERENCE",
    "Service",
    "config_error",
    "resolve_endpoint",
    "resolve_token",
]


@attrs.frozen
class Service:
    """What one kind of server needs from the client's settings."""

    #: Which kind of server this is, as hooks and telemetry name it.
    kind: Literal["agent", "inference", "compatible"]
    #: The constructor's parameter for the base URL, and the environment variable read when
    #: it is not given (``None``: none is read).
    endpoint_param: str
    endpoint_env: str | None
    #: The base URL when neither is given (``None``: it is required).
    endpoint_default: str | None
    #: A base URL to show in errors, quoted, and what to call it.
    example: str
    base_name: str
    #: What the client appends to the base URL, and the query it adds.
    path: str
    query: str
    #: A base URL path that already ends in (part of) what the client appends: a mistake.
    request_path: re.Pattern[str]
    #: The constructor's parameter for the key, its environment variable and what it is.
    key_param: str
    key_env: str
    key_name: str
    key_hint: str
    #: False where servers commonly need no key (a local llama.cpp, Ollama): then none is
    #: sent and plain http is fine, as there is no secret to protect.
    key_required: bool = True

    def completions_url(self, base: URL) -> URL:
        """Where chat completions are POSTed for the base URL ``base``."""
        url = base.with_path(base.path.rstrip("/") + self.path)
        return url.with_query(self.query) if self.query else url


AGENT = Service(
    kind="agent",
    endpoint_param="agent_endpoint",
    endpoint_env="AGENT_ENDPOINT",
    endpoint_default=None,
    example="'https://<agent-id>.agents.do-ai.run'",
    base_name="the agent's base URL",
    path="/api/v1/chat/completions",
    query="agent=true",
    # The full request path (as pasted from a curl sample, or the spec's /v1/chat/completions
    # variant), or the /api/v1 part of it.
    request_path=re.compile(
        r"(?:(?:/api)?(?:/v1)?/chat/completions|/api/v1(?:/chat)?)/*$", re.IGNORECASE
    ),
    key_param="token",
    key_env="AGENT_ACCESS_KEY",
    key_name="agent access key",
    key_hint="the endpoint access key of your agent",
)
INFERENCE = Service(
    kind="inference",
    endpoint_param="inference_endpoint",
    # Not pydo's (it has none): lets a test or a proxy redirect a client made with no arguments.
    endpoint_env="INFERENCE_ENDPOINT",
    endpoint_default="https://inference.do-ai.run",
    example="'https://inference.do-ai.run'",
    base_name="the serverless inference base URL",
    path="/v1/chat/completions",
    query="",
    request_path=re.compile(r"(?:(?:/v1)?/chat/completions|/v1(?:/chat)?)/*$", re.IGNORECASE),
    key_param="token",
    key_env="MODEL_ACCESS_KEY",
    key_name="model access key",
    key_hint="a serverless inference key from the DigitalOcean control panel",
)
COMPATIBLE = Service(
    kind="compatible",
    endpoint_param="base_url",
    endpoint_env="OPENAI_BASE_URL",
    endpoint_default=None,
    example="'http://localhost:8080/v1'",
    base_name="the server's base URL (up to /v1 for most servers)",
    path="/chat/completions",
    query="",
    request_path=re.compile(r"/chat(?:/completions)?/*$", re.IGNORECASE),
    key_param="api_key",
    key_env="OPENAI_API_KEY",
    key_name="API key",
    key_hint="the server's API key; none is sent when it is not set",
    key_required=False,
)

#: The agent's environment variables (the command line reads them).
ENV_TOKEN = AGENT.key_env
ENV_ENDPOINT = "AGENT_ENDPOINT"

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


def resolve_token(token: str | None, service: Service = AGENT) -> str | None:
    """The key from the argument or the service's environment variable; never echoed in
    errors. ``None`` only for a service whose key is optional, when neither is set."""
    param, env, name = service.key_param, service.key_env, service.key_name
    if token is not None and not isinstance(token, str):
        raise ConfigurationError(
            f"{param} must be a string (the {name}), not {type(token).__name__}."
        )
    if token is None:
        token = os.environ.get(env)
    if token is None or not token.strip():
        if not service.key_required:
            return None
        raise ConfigurationError(f"No {name}: pass {param}=... or set ${env} ({service.key_hint}).")
    token = token.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ConfigurationError(
            f"The {name} contains whitespace or control characters; "
            "check for a stray newline or quote where it is set."
        )
    return token


def resolve_endpoint(
    endpoint: str | None,
    service: Service = AGENT,
    *,
    allow_insecure_http: bool = False,
    sends_key: bool = True,
) -> URL:
    """The service's base URL from the argument, its environment variable or its default.

    A bare host gets ``https://``; a trailing slash is dropped; a path prefix is kept (a proxy
    in front of the server, or an OpenAI-compatible server's ``/v1``), unless it is the request
    path itself, which the client adds. Plain ``http://`` is accepted only for loopback hosts
    unless ``allow_insecure_http`` is set, because the key would cross the network in clear
    text (with no key to send, ``sends_key=False``, there is nothing to protect).
    """
    param, example = service.endpoint_param, service.example
    pass_base = f"pass {service.base_name}, for example {example}."
    if endpoint is not None and not isinstance(endpoint, str):
        raise config_error(param, endpoint, f"a URL string is required, for example {example}")
    source = param
    if endpoint is None and service.endpoint_env is not None:
        endpoint = os.environ.get(service.endpoint_env)
        source = f"${service.endpoint_env}"
    if (endpoint is None or not endpoint.strip()) and service.endpoint_default is not None:
        endpoint, source = service.endpoint_default, param
    if endpoint is None or not endpoint.strip():
        env = f" or set ${service.endpoint_env}" if service.endpoint_env else ""
        raise ConfigurationError(
            f"No {param.replace('_', ' ')}: pass {param}={example}{env}. There is no default host."
        )
    text = endpoint.strip()

    def invalid(why: str) -> ConfigurationError:
        return ConfigurationError(f"{source}={endpoint!r} is invalid: {why}")

    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise invalid(f"it contains a space or a control character, which no URL has; {pass_base}")
    placeholder = _PLACEHOLDER.search(text)
    if placeholder:
        raise invalid(
            f"{placeholder.group(0)!r} is a placeholder from a sample, not filled in; {pass_base}"
        )
    if "://" not in text:
        if _MALFORMED_SCHEME.match(text):
            raise invalid(f"the scheme is malformed; write it as {example}.")
        text = "https://" + text
    try:
        url = URL(text)
    except (ValueError, TypeError) as exc:
        raise invalid(f"it is not a valid URL ({exc}); {pass_base}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise invalid(f"an http(s) URL with a host is required, for example {example}.")
    if url.user or url.password:
        raise ConfigurationError(
            f"{source} must not contain credentials; pass the key as {service.key_param}=... "
            "instead."
        )
    _check_host(url, lambda why: invalid(f"{why}; {pass_base}"))
    path = url.path.rstrip("/")
    base = _base(url, path, service)
    adds = service.path + (f"?{service.query}" if service.query else "")
    request_path = service.request_path.search(path)
    if request_path:
        raise invalid(
            f"it includes the request path {request_path.group(0).rstrip('/')!r}, which "
            f"agentchat adds itself ({adds}); pass {service.base_name}: {base}"
        )
    if path and service is AGENT and _DO_AGENT_HOST.search(url.raw_host or ""):
        raise invalid(
            f"a DigitalOcean agent endpoint has no path ({url.raw_path!r} would end in a "
            f"404); pass the agent's base URL: {base}"
        )
    if url.query_string or url.fragment:
        raise invalid(
            f"a base URL without query or fragment is required (agentchat adds {adds} "
            f"itself); pass {service.base_name}: {base}"
        )
    if url.scheme == "http" and sends_key and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigurationError(
            f"{source}={endpoint!r} uses plain http to a non-loopback host, which would send "
            "the access key unencrypted. Use https, or pass allow_insecure_http=True if you "
            "really mean it."
        )
    return url.with_path(path).with_query(None).with_fragment(None)


def _base(url: URL, path: str, service: Service) -> str:
    """What the caller should pass: the URL without the request path, query or fragment."""
    request_path = service.request_path.search(path)
    if request_path:
        path = path[: request_path.start()]
    if service is AGENT and _DO_AGENT_HOST.search(url.raw_host or ""):
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
            raise invalid(f"{host!r} is not a valid IPv6 address") from None
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
        raise invalid(f"the host {url.host!r} has {problem}, so no DNS lookup can find it")
    if labels[-1].isdigit():  # a numeric top label is an IPv4 address or nothing
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise invalid(f"{host!r} is not a valid IPv4 address") from None
    if url.explicit_port == 0:
        raise invalid("port 0 cannot be connected to (1 to 65535 can)")


def is_loopback(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
