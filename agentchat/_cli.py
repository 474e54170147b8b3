"""The ``agentchat`` command (also ``python -m agentchat``).

    agentchat batch INPUT.jsonl -o OUTPUT.jsonl [--concurrency 16] [--rpm N] [--tpm N]

The key and endpoint come from ``$AGENT_ACCESS_KEY`` and ``$AGENT_ENDPOINT`` (or
``--endpoint``); the key is never a command-line argument, where other users of the machine
could read it. Exit codes: 0 every line succeeded, 1 some request failed, 2 bad input or
usage (malformed lines, duplicate ids, no key or endpoint, or a key or endpoint the server
refused: the first requests all failed with the same 401, 403 or 404), 130 interrupted (what
finished is saved; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._batch import DEFAULT_STOP_ON_SETUP_ERRORS, BatchReport, BatchStoppedError, run_batch
from ._client import DEFAULT_MAX_RETRIES, AsyncAgentClient
from ._config import ENV_ENDPOINT, ENV_TOKEN
from ._errors import AgentChatError, ConfigurationError
from ._fanout import Progress
from ._timeouts import DEFAULT_TIMEOUT

__all__ = ["main"]

EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "batch":  # pragma: no cover - argparse requires a command
        parser.print_help()
        return 2
    try:
        report = asyncio.run(_batch(args))
    except KeyboardInterrupt:
        print("interrupted: finished results are saved; run again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BatchStoppedError as error:  # a wrong key or endpoint: one error, not a line each
        print(f"agentchat batch: {error}", file=sys.stderr)
        where = (
            "--endpoint or $AGENT_ENDPOINT sets the endpoint; " if error.status_code == 404 else ""
        )
        print(
            f"agentchat batch: {where}--no-early-stop writes a failed line for each instead.",
            file=sys.stderr,
        )
        return 2
    except (AgentChatError, OSError) as error:  # BatchInputError, ConfigurationError, ...
        print(f"agentchat batch: {error}", file=sys.stderr)
        return 2
    for number, problem in report.malformed:
        print(f"{args.input}:{number}: skipped: {problem}", file=sys.stderr)
    print(_summary(report), file=sys.stderr)
    return report.exit_code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentchat", description="Call hosted AI agents over the chat-completions API."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    batch = commands.add_parser(
        "batch",
        help="run a Batch-API JSONL file of chat-completion requests",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run every request of INPUT (OpenAI Batch-API JSONL: custom_id, method, url,\n"
            "body) and append each result to OUTPUT as it arrives, one line per custom_id.\n"
            "Running again with the same OUTPUT skips what is already there."
        ),
        epilog=(
            "environment:\n"
            f"  ${ENV_TOKEN}  the agent's endpoint access key (required; never taken on\n"
            "                     the command line, where other users could read it)\n"
            f"  ${ENV_ENDPOINT}    the agent endpoint, unless --endpoint is given\n"
            "\n"
            f"A run whose first {DEFAULT_STOP_ON_SETUP_ERRORS} finished requests all fail "
            "with the same 401, 403 or 404\n"
            "(a wrong key or endpoint) stops with one error and writes no line for them\n"
            "(see --no-early-stop).\n"
            "\n"
            "exit codes: 0 every line succeeded, 1 some request failed, 2 bad input or\n"
            "usage (malformed lines, duplicate custom_ids, no key or endpoint, a wrong key or\n"
            "endpoint), 130 interrupted (what finished is saved: run again to resume)."
        ),
    )
    batch.add_argument("input", help="the requests, one JSON object per line")
    batch.add_argument(
        "-o", "--output", required=True, help="where results are appended (created if missing)"
    )
    batch.add_argument(
        "--endpoint", help=f"the agent endpoint URL (default: ${ENV_ENDPOINT})", metavar="URL"
    )
    batch.add_argument(
        "--concurrency",
        type=_at_least(1),
        default=16,
        metavar="N",
        help="at most this many requests at once (default: %(default)s)",
    )
    batch.add_argument(
        "--rpm",
        type=_at_least(1),
        metavar="N",
        help="at most N requests per minute (default: no limit)",
    )
    batch.add_argument(
        "--tpm",
        type=_at_least(1),
        metavar="N",
        help="at most N tokens per minute (default: no limit)",
    )
    batch.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help=(
            "the limit for connecting and for each read of a request (default: "
            f"{DEFAULT_TIMEOUT.connect:g} s to connect, {DEFAULT_TIMEOUT.read:g} s per read)"
        ),
    )
    batch.add_argument(
        "--max-retries",
        type=_at_least(0),
        default=DEFAULT_MAX_RETRIES,
        metavar="N",
        help="retries of a request after a timeout, a lost connection or a 408, 409, 429 or "
        "5xx answer (default: %(default)s)",
    )
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the lines whose result in OUTPUT is an error, replacing those "
        "results (default: keep them and skip those lines)",
    )
    batch.add_argument(
        "--no-early-stop",
        action="store_true",
        help="write a failed line for every request even when the first "
        f"{DEFAULT_STOP_ON_SETUP_ERRORS} all fail with the same 401, 403 or 404 (default: stop "
        "with one error)",
    )
    batch.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: a bar on a terminal, when tqdm is installed)",
    )
    batch.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow plain http:// to a host that is not loopback (default: refuse it)",
    )
    return parser


def _at_least(lowest: int) -> Callable[[str], int]:
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


def _seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"a positive number of seconds is required, not {text!r}")
    return value


async def _batch(args: argparse.Namespace) -> BatchReport:
    client = _client(args)
    _graceful_sigterm()
    async with client:
        with _progress_bar(enabled=not args.no_progress) as on_progress:
            return await run_batch(
                client,
                args.input,
                args.output,
                max_concurrency=args.concurrency,
                requests_per_minute=args.rpm,
                tokens_per_minute=args.tpm,
                retry_failed=args.retry_failed,
                stop_on_setup_errors=None if args.no_early_stop else DEFAULT_STOP_ON_SETUP_ERRORS,
                on_progress=on_progress,
            )


def _client(args: argparse.Namespace) -> AsyncAgentClient:
    """The client, or a :class:`ConfigurationError` that names the flag or the environment
    variable to set (the client's own messages name its Python arguments)."""
    endpoint = args.endpoint if args.endpoint is not None else os.environ.get(ENV_ENDPOINT)
    if endpoint is None or not endpoint.strip():
        raise ConfigurationError(
            "no agent endpoint: pass --endpoint https://<agent-id>.agents.do-ai.run or set "
            f"${ENV_ENDPOINT}."
        )
    token = os.environ.get(ENV_TOKEN)
    if token is None or not token.strip():
        raise ConfigurationError(
            f"no agent access key: set ${ENV_TOKEN} to the agent's endpoint access key (it is "
            "not taken on the command line, where other users could read it)."
        )
    options: dict[str, Any] = {"max_retries": args.max_retries}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    try:
        return AsyncAgentClient(
            agent_endpoint=args.endpoint,
            allow_insecure_http=args.allow_insecure_http,
            **options,
        )
    except ConfigurationError as error:
        text = str(error)
        if "allow_insecure_http" in text:
            text += " (on the command line: --allow-insecure-http)"
        raise ConfigurationError(text) from None


def _graceful_sigterm() -> None:
    """SIGTERM stops like Ctrl-C: cancel what is in flight, keep what finished."""
    with contextlib.suppress(ValueError, NotImplementedError):  # not the main thread
        signal.signal(signal.SIGTERM, signal.default_int_handler)


@contextlib.contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[Progress], object] | None]:
    """A tqdm bar on a terminal, when tqdm is installed (``agentchat[progress]``)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    bar = tqdm(unit="req", dynamic_ncols=True, file=sys.stderr)
    seen = 0

    def update(progress: Progress) -> None:
        nonlocal seen
        bar.update(progress.finished - seen)  # the count is requests finished, either way
        seen = progress.finished
        bar.set_postfix(
            succeeded=progress.done,
            failed=progress.failed,
            in_flight=progress.in_flight,
            tokens=progress.tokens,
            refresh=False,
        )

    try:
        yield update
    finally:
        bar.close()


def _summary(report: BatchReport) -> str:
    parts = [f"{report.succeeded} succeeded", f"{report.failed} failed"]
    if report.skipped:
        parts.append(f"{report.skipped} already done")
    if report.malformed:
        parts.append(f"{len(report.malformed)} malformed lines skipped")
    return "agentchat batch: " + ", ".join(parts)
