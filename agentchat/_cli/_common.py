"""What the commands share: where requests go and with which key, exit codes, error lines.

Only the standard library is imported at the top: ``--help`` must not load aiohttp. The client
classes are imported by the functions that build one.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .. import _defaults

if TYPE_CHECKING:
    from .._client import AsyncAgentClient, AsyncInferenceClient, AsyncOpenAICompatibleClient
    from .._sync import AgentClient, InferenceClient, OpenAICompatibleClient

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Target",
    "add_connection_options",
    "async_client",
    "at_least",
    "configure_logging",
    "kind",
    "report",
    "seconds",
    "sync_client",
    "target",
]

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Kind = Literal["agent", "inference", "compatible"]

# The environment variables each kind of server reads (as the clients do).
AGENT_KEY, AGENT_ENDPOINT = "AGENT_ACCESS_KEY", "AGENT_ENDPOINT"
MODEL_KEY, INFERENCE_ENDPOINT = "MODEL_ACCESS_KEY", "INFERENCE_ENDPOINT"
OPENAI_KEY, OPENAI_BASE_URL = "OPENAI_API_KEY", "OPENAI_BASE_URL"

CONNECTION_HELP = (
    "where requests go (the key is never a flag, where other users could read it):\n"
    f"  an agent                 --endpoint URL or ${AGENT_ENDPOINT}; key ${AGENT_KEY}\n"
    f"  serverless inference     --serverless; key ${MODEL_KEY}\n"
    f"  OpenAI-compatible        --base-url URL or ${OPENAI_BASE_URL}; key ${OPENAI_KEY} "
    "(optional)\n"
    "  the embedded fake agent  --demo (no account, no network)\n"
    "  --ask-key reads the key from a prompt instead of the environment."
)


class Target(NamedTuple):
    """Where a command's requests go: the kind of server, its URL and the key (``None``
    where none is needed), and the client settings from the flags."""

    kind: Kind
    endpoint: str | None
    token: str | None
    options: dict[str, Any]


# -- arguments --------------------------------------------------------------------------------


def at_least(lowest: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``lowest`` (argparse names the flag)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = lowest - 1
        if value < lowest:
            raise argparse.ArgumentTypeError(
                f"a whole number >= {lowest} is required, not {text!r}"
            )
        return value

    return parse


def seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"a positive number of seconds is required, not {text!r}")
    return value


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The flags that choose the server and the client's settings (``chat`` and ``batch``)."""
    group = parser.add_argument_group("server")
    where = group.add_mutually_exclusive_group()
    group.add_argument(
        "--endpoint",
        metavar="URL",
        help=f"the agent endpoint (default: ${AGENT_ENDPOINT}); with --serverless, the "
        f"serverless inference endpoint (default: ${INFERENCE_ENDPOINT}, else "
        "https://inference.do-ai.run)",
    )
    where.add_argument(
        "--serverless",
        action="store_true",
        help=f"call DigitalOcean serverless inference (key: ${MODEL_KEY})",
    )
    where.add_argument(
        "--base-url",
        metavar="URL",
        help="call an OpenAI-compatible server at this base URL, usually up to /v1 "
        f"(default: ${OPENAI_BASE_URL}; key: ${OPENAI_KEY}, optional)",
    )
    where.add_argument(
        "--demo",
        action="store_true",
        help="call the fake agent embedded in agentchat (no account, no network)",
    )
    group.add_argument(
        "--ask-key",
        action="store_true",
        help="read the access key from a prompt instead of the environment",
    )
    group.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help=(
            "the limit for connecting and for each read (default: "
            f"{_defaults.CONNECT_TIMEOUT:g} s to connect, {_defaults.READ_TIMEOUT:g} s per read)"
        ),
    )
    group.add_argument(
        "--max-retries",
        type=at_least(0),
        default=_defaults.MAX_RETRIES,
        metavar="N",
        help="retries after a timeout, a lost connection or a 408, 409, 429 or 5xx answer "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow plain http:// to a host that is not loopback (default: refuse it)",
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", help="log each request and retry on stderr"
    )


# -- where requests go ------------------------------------------------------------------------


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[Target]:
    """The server the flags and the environment name, or a :class:`ConfigurationError`
    that says which flag or variable to set. ``--demo`` starts the fake agent in a thread
    for as long as the ``with`` block lasts."""
    options: dict[str, Any] = {"max_retries": args.max_retries}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.allow_insecure_http:
        options["allow_insecure_http"] = True
    if args.demo:
        from ..testing import FakeAgentServer

        # stream_delay: the fake agent pauses between words, as a real model does.
        with FakeAgentServer(model="demo-agent", stream_delay=0.03).in_thread() as server:
            yield Target("agent", server.url, server.token, options)
        return
    chosen = kind(args)
    if chosen == "compatible":
        base_url: str | None = args.base_url or os.environ.get(OPENAI_BASE_URL)
        yield Target("compatible", base_url, _key(args, OPENAI_KEY, required=False), options)
    elif chosen == "inference":
        yield Target("inference", args.endpoint, _key(args, MODEL_KEY), options)
    else:
        endpoint = args.endpoint or os.environ.get(AGENT_ENDPOINT)
        if not endpoint or not endpoint.strip():
            raise _config_error(
                f"no agent endpoint: pass --endpoint https://<agent-id>.agents.do-ai.run or set "
                f"${AGENT_ENDPOINT} (--serverless, --base-url URL or --demo call another "
                "server)."
            )
        yield Target("agent", endpoint, _key(args, AGENT_KEY), options)


def kind(args: argparse.Namespace) -> Kind:
    """The kind of server the flags and the environment choose (``--demo`` is an agent);
    known before any key is asked for, so usage errors can come first."""
    if args.demo:
        return "agent"
    if args.base_url is not None or (not args.serverless and _compatible_from_env(args)):
        return "compatible"
    return "inference" if args.serverless else "agent"


def _compatible_from_env(args: argparse.Namespace) -> bool:
    """With no flag and no agent endpoint, ``$OPENAI_BASE_URL`` names the server."""
    return (
        args.endpoint is None
        and not os.environ.get(AGENT_ENDPOINT)
        and bool(os.environ.get(OPENAI_BASE_URL))
    )


def _key(args: argparse.Namespace, variable: str, *, required: bool = True) -> str | None:
    if args.ask_key:
        typed = getpass.getpass(f"{variable}: ", stream=sys.stderr)
        if not typed.strip():
            raise _config_error("no key was entered.")
        return typed.strip()
    key = os.environ.get(variable)
    if key is not None and key.strip():
        return key
    if not required:
        return None
    raise _config_error(
        f"no access key: set ${variable}, or pass --ask-key to type it (it is not taken as "
        "a flag, where other users of the machine could read it)."
    )


def _config_error(message: str) -> Exception:
    from .._errors import ConfigurationError

    return ConfigurationError(message)


def async_client(
    where: Target,
) -> AsyncAgentClient | AsyncInferenceClient | AsyncOpenAICompatibleClient:
    """The async client for ``where``."""
    from .._client import AsyncAgentClient, AsyncInferenceClient, AsyncOpenAICompatibleClient

    with _flag_names():
        if where.kind == "agent":
            return AsyncAgentClient(where.token, where.endpoint, **where.options)
        if where.kind == "inference":
            return AsyncInferenceClient(where.token, where.endpoint, **where.options)
        return AsyncOpenAICompatibleClient(where.endpoint, where.token, **where.options)


def sync_client(where: Target) -> AgentClient | InferenceClient | OpenAICompatibleClient:
    """The blocking client for ``where``."""
    from .._sync import AgentClient, InferenceClient, OpenAICompatibleClient

    with _flag_names():
        if where.kind == "agent":
            return AgentClient(where.token, where.endpoint, **where.options)
        if where.kind == "inference":
            return InferenceClient(where.token, where.endpoint, **where.options)
        return OpenAICompatibleClient(where.endpoint, where.token, **where.options)


@contextlib.contextmanager
def _flag_names() -> Iterator[None]:
    """A client's configuration errors name its Python arguments: add the flag to use."""
    from .._errors import ConfigurationError

    try:
        yield
    except ConfigurationError as error:
        text = str(error)
        for argument, flag in (
            ("allow_insecure_http", "--allow-insecure-http"),
            ("agent_endpoint", "--endpoint"),
            ("inference_endpoint", "--endpoint"),
            ("base_url", "--base-url"),
        ):
            if argument in text:
                text += f" (on the command line: {flag})"
                break
        raise ConfigurationError(text) from None


# -- output -----------------------------------------------------------------------------------


def configure_logging(verbose: bool) -> None:
    """``--verbose``: agentchat's request log (each request, each retry) on stderr."""
    if not verbose:
        return
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("agentchat: %(message)s"))
    log = logging.getLogger("agentchat")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)


def report(command: str, error: BaseException) -> int:
    """One line on stderr for an expected error, and its exit code; anything else is a bug
    and keeps its traceback."""
    from .._errors import AgentChatError, APIError, ConfigurationError, InvalidRequestError

    if isinstance(error, (ConfigurationError, InvalidRequestError)):
        code = EXIT_USAGE
    elif isinstance(error, (APIError, AgentChatError, OSError)):
        code = EXIT_API_ERROR
    else:
        raise error
    print(f"agentchat {command}: {error}", file=sys.stderr)
    return code
