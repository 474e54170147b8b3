"""``agentchat serve``: the fake agent on a host and port, for other programs' tests.

    agentchat serve [--host 127.0.0.1] [--port 8000] [--token KEY] [--latency S] ...

It runs :class:`agentchat.testing.FakeAgentServer` until Ctrl-C or SIGTERM, with flags for its
scripted behaviours (latency, stream speed, random errors, rate limits). Once it accepts
connections it prints, in one flushed write, the environment another program needs, as
``KEY=VALUE`` lines (valid ``sh``; values are quoted only where the shell needs it)::

    AGENT_ENDPOINT=http://127.0.0.1:8000
    AGENT_ACCESS_KEY=fake-...
    MODEL_ACCESS_KEY=fake-...
    INFERENCE_ENDPOINT=http://127.0.0.1:8000
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1
    OPENAI_API_KEY=fake-...

or, with ``--json``, one JSON object on one line. A human-readable line goes to stderr.

Exit codes: 0 stopped by SIGTERM, 130 stopped by Ctrl-C (SIGINT), 2 a bad flag or an address
it cannot listen on (a port in use, a host that is not this machine's). Only the standard
library is imported at the top: the server (and aiohttp) is imported by :func:`run`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import signal
import sys
from typing import TYPE_CHECKING, Any

from . import _common

if TYPE_CHECKING:
    import asyncio

    from ..testing import FakeAgentServer

__all__ = ["configure", "run"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: How long requests still in flight at a stop may take to finish before they are cut off.
SHUTDOWN_GRACE = 5.0
#: The keep-alive idle timeout the fake server uses unless told otherwise.
KEEPALIVE_TIMEOUT = 75.0
# A bearer token (RFC 6750 b64token): a key that needs no quoting in a header or a shell.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
# Hosts that mean "every interface": a client on this machine reaches them on loopback.
_ANY_HOST = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def configure(commands: Any) -> None:
    """Add the ``serve`` command to the ``commands`` subparsers."""
    serve = commands.add_parser(
        "serve",
        help="run the fake agent for integration tests",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run agentchat's fake agent (agentchat.testing.FakeAgentServer) on a host and\n"
            "port, for other programs' integration tests, until Ctrl-C or SIGTERM. It answers\n"
            "POST /api/v1/chat/completions?agent=true (an agent), POST /v1/chat/completions\n"
            "(serverless inference, or an OpenAI-compatible server with the base URL .../v1)\n"
            'and GET /health, echoing the last user message ("Echo: <text>"), streamed or not.'
        ),
        epilog=(
            "output: once it accepts connections, these lines on stdout (flushed together;\n"
            "valid sh, values quoted only where the shell needs it):\n"
            "  AGENT_ENDPOINT=http://127.0.0.1:8000\n"
            "  AGENT_ACCESS_KEY=<key>\n"
            "  MODEL_ACCESS_KEY=<key>\n"
            "  INFERENCE_ENDPOINT=http://127.0.0.1:8000\n"
            "  OPENAI_BASE_URL=http://127.0.0.1:8000/v1\n"
            "  OPENAI_API_KEY=<key>\n"
            "--json prints one JSON object on one line instead:\n"
            '  {"url": ..., "key": ..., "model": ..., "host": ..., "port": ..., "env": {...}}\n'
            "The key is a test key, not a secret: by default a new random one each run.\n"
            "\n"
            "exit codes: 0 stopped by SIGTERM, 130 stopped by Ctrl-C, 2 a bad flag or an\n"
            "address it cannot listen on (a port in use). At a stop, requests in flight get\n"
            f"{SHUTDOWN_GRACE:g} s to finish (none after a second Ctrl-C or SIGTERM).\n"
            "\n"
            "examples:\n"
            "  agentchat serve                      # http://127.0.0.1:8000, a new key each run\n"
            "  agentchat serve --port 0 --latency 0.5 --error-rate 0.1 --seed 7\n"
            "  agentchat serve --rate-limit 60 --enforce-rate-limit   # 429s past 60 a minute\n"
            "\n"
            "  # a CI script: start it on any free port, wait for its lines, export them\n"
            "  agentchat serve --port 0 --token ci-key > fake-agent.env &\n"
            "  server=$!; trap 'kill $server' EXIT\n"
            "  until grep -q '^OPENAI_API_KEY=' fake-agent.env; do\n"
            "    kill -0 $server || exit 1; sleep 0.1\n"
            "  done\n"
            "  set -a; . ./fake-agent.env; set +a     # export every line\n"
            "  pytest tests/integration             # AGENT_ENDPOINT etc. point at the fake\n"
            '  # (GitHub Actions, for later steps: cat fake-agent.env >> "$GITHUB_ENV")'
        ),
    )
    serve.set_defaults(run=run)
    where = serve.add_argument_group("where")
    where.add_argument(
        "--host",
        type=_host,
        default=DEFAULT_HOST,
        help="the address to listen on (default: %(default)s; 0.0.0.0 listens on every "
        "interface, where clients elsewhere need --allow-insecure-http for plain http)",
    )
    where.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="the port to listen on (default: %(default)s; 0: any free port, printed)",
    )
    where.add_argument(
        "--token",
        type=_token,
        metavar="KEY",
        help="the access key it accepts (a test key, not a secret; default: a new random "
        "one each run, printed)",
    )
    where.add_argument(
        "--model",
        default="fake-agent",
        help="the model it names in answers to requests that name none (default: %(default)s)",
    )
    where.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead of KEY=VALUE lines",
    )
    behaviour = serve.add_argument_group("behaviour")
    behaviour.add_argument(
        "--latency",
        type=_delay,
        default=0.0,
        metavar="SECONDS",
        help="the wait before each answer, streamed or not (default: none)",
    )
    behaviour.add_argument(
        "--stream-delay",
        type=_delay,
        default=0.0,
        metavar="SECONDS",
        help="the pause between streamed chunks (default: none)",
    )
    behaviour.add_argument(
        "--error-rate",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="the share of requests, 0 to 1, answered with --error-status instead, chosen "
        "at random (default: %(default)g)",
    )
    behaviour.add_argument(
        "--error-status",
        type=_error_status,
        default=503,
        metavar="STATUS",
        help="the HTTP status of those errors, 400 to 599 (default: %(default)s)",
    )
    behaviour.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the seed that picks the failing requests, so runs repeat (default: %(default)s)",
    )
    behaviour.add_argument(
        "--rate-limit",
        type=_common.at_least(1),
        default=100_000,
        metavar="N",
        help="the requests per --rate-window that its ratelimit-* headers advertise "
        "(default: %(default)s)",
    )
    behaviour.add_argument(
        "--rate-window",
        type=_common.seconds,
        default=60.0,
        metavar="SECONDS",
        help="the length of a rate-limit window; windows are fixed, not sliding "
        "(default: %(default)g)",
    )
    behaviour.add_argument(
        "--enforce-rate-limit",
        action="store_true",
        help="answer requests over --rate-limit with 429 and Retry-After until the window "
        "ends (default: only advertise the limit)",
    )
    behaviour.add_argument(
        "--keepalive-timeout",
        type=_common.seconds,
        default=KEEPALIVE_TIMEOUT,
        metavar="SECONDS",
        help="how long an idle keep-alive connection stays open (default: %(default)g)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until a signal; the exit code."""
    import asyncio

    from ..testing import FakeAgentServer

    server = FakeAgentServer(
        token=args.token or _random_key(),
        model=args.model,
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        enforce_rate_limit=args.enforce_rate_limit,
        stream_delay=args.stream_delay,
        response_delay=args.latency,
        keepalive_timeout=args.keepalive_timeout,
    )
    if args.error_rate > 0:
        server.fail_randomly(args.error_rate, status=args.error_status, seed=args.seed)
    return asyncio.run(_serve(server, as_json=args.json))


# -- arguments --------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    """``text`` as a finite number, or ``None``."""
    import math

    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _delay(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    value = _number(text)
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"a number of seconds >= 0 is required, not {text!r}")
    return value


def _fraction(text: str) -> float:
    """An argparse type: a share from 0 to 1."""
    value = _number(text)
    if value is None or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a number from 0 to 1 is required, not {text!r}")
    return value


def _error_status(text: str) -> int:
    """An argparse type: an HTTP error status (4xx or 5xx)."""
    if not text.strip().isdigit() or not 400 <= int(text) <= 599:
        raise argparse.ArgumentTypeError(
            f"an HTTP status from 400 to 599 is required, not {text!r}"
        )
    return int(text)


def _port(text: str) -> int:
    """An argparse type: a TCP port, or 0 for any free one."""
    if not text.strip().isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(
            f"a port from 0 (any free port) to 65535 is required, not {text!r}"
        )
    return int(text)


def _host(text: str) -> str:
    """An argparse type: a host name or address (an IPv6 one without brackets)."""
    host = text.strip().removeprefix("[").removesuffix("]")
    if not host or any(ch.isspace() or ch in "/?#@" for ch in host):
        raise argparse.ArgumentTypeError(f"a host name or IP address is required, not {text!r}")
    return host


def _token(text: str) -> str:
    """An argparse type: a key that is a valid bearer token, so it needs no quoting in a
    header, a shell or an env file."""
    if not _BEARER_TOKEN.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "a key of letters, digits and -._~+/ (then any '=') is required"
        )
    return text


def _random_key() -> str:
    """A new test key for this run (the ``fake-`` prefix says what it is)."""
    return f"fake-{secrets.token_urlsafe(18)}"


# -- serving ----------------------------------------------------------------------------------


async def _serve(server: FakeAgentServer, *, as_json: bool) -> int:
    """Start ``server``, announce it, serve until SIGTERM or SIGINT, then stop it."""
    import asyncio

    loop = asyncio.get_running_loop()
    try:
        await server.start()
    except OSError as error:
        print(f"agentchat serve: {_listen_error(server, error)}", file=sys.stderr)
        return _common.EXIT_USAGE
    signals: asyncio.Queue[int] = asyncio.Queue()
    watched = _watch_signals(loop, signals)
    try:
        url = _url(server)
        _announce(_announcement(server, url, as_json=as_json))
        print(
            f"agentchat serve: the fake agent is listening on {url} (model {server.model}); "
            "Ctrl-C or SIGTERM stops it",
            file=sys.stderr,
            flush=True,
        )
        number = await signals.get()
        await _stop(server, signals)
    finally:
        for watched_number in watched:
            loop.remove_signal_handler(watched_number)
    return _common.EXIT_OK if number == signal.SIGTERM else _common.EXIT_INTERRUPTED


def _watch_signals(loop: asyncio.AbstractEventLoop, signals: asyncio.Queue[int]) -> list[int]:
    """Put each SIGTERM and SIGINT on ``signals`` instead of dying; the signals watched.

    A signal the process was started with ignored stays ignored (``cmd &`` in a script
    ignores SIGINT). Where the loop cannot watch signals (Windows), Ctrl-C still raises
    KeyboardInterrupt, which ``main`` turns into exit code 130.
    """
    watched: list[int] = []
    for number in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(number) is signal.SIG_IGN:
            continue
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(number, signals.put_nowait, number)
            watched.append(number)
    return watched


async def _stop(server: FakeAgentServer, signals: asyncio.Queue[int]) -> None:
    """Close ``server``, giving requests in flight :data:`SHUTDOWN_GRACE` seconds to finish,
    or none once a second signal arrives (the server waits for them up to a minute)."""
    import asyncio

    closing = asyncio.ensure_future(server.close())
    second = asyncio.ensure_future(signals.get())
    await asyncio.wait(
        {closing, second}, timeout=SHUTDOWN_GRACE, return_when=asyncio.FIRST_COMPLETED
    )
    closing.cancel()  # what is still in flight is cut off
    second.cancel()
    await asyncio.wait({closing, second}, timeout=1.0)


def _listen_error(server: FakeAgentServer, error: OSError) -> str:
    """One line for a failure to listen: the address, the reason and what to do."""
    import errno
    import os
    import socket

    host = f"[{server.host}]" if ":" in server.host else server.host
    unknown_host = isinstance(error, socket.gaierror)
    if unknown_host:
        reason = error.strerror  # the host name did not resolve
    else:  # asyncio's message repeats the address: the plain reason is enough
        reason = os.strerror(error.errno) if isinstance(error.errno, int) else None
    text = f"cannot listen on {host}:{server.port}: {(reason or str(error)).rstrip('.')}"
    if error.errno == errno.EADDRINUSE:
        text += " (pick another --port, or --port 0 for any free one)"
    elif unknown_host or error.errno == errno.EADDRNOTAVAIL:
        text += " (--host must be an address of this machine)"
    elif error.errno == errno.EACCES:
        text += " (ports below 1024 need privileges: pick a higher --port)"
    return text


def _announce(text: str) -> None:
    """Write ``text`` and a newline to stdout in one write, flushed, so that a reader sees
    all the lines at once. A reader that closed the pipe already (it took what it wanted)
    does not stop the server: the rest of its stdout goes to the null device."""
    import os

    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # As the Python documentation advises, so that the flush at exit fails no more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _url(server: FakeAgentServer) -> str:
    """The base URL a client on this machine uses: loopback for an every-interface host."""
    host = _ANY_HOST.get(server.host, server.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{server.port}"


def _environment(url: str, key: str) -> dict[str, str]:
    """The variables agentchat's clients (and the openai SDK) read, pointed at the server."""
    return {
        _common.AGENT_ENDPOINT: url,
        _common.AGENT_KEY: key,
        _common.MODEL_KEY: key,
        _common.INFERENCE_ENDPOINT: url,
        _common.OPENAI_BASE_URL: f"{url}/v1",
        _common.OPENAI_KEY: key,
    }


def _announcement(server: FakeAgentServer, url: str, *, as_json: bool) -> str:
    """What stdout gets once the server listens: ``KEY=VALUE`` lines, or one JSON object."""
    import shlex

    env = _environment(url, server.token)
    if as_json:
        document = {
            "url": url,
            "key": server.token,
            "model": server.model,
            "host": server.host,
            "port": server.port,
            "env": env,
        }
        return json.dumps(document)
    return "\n".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
