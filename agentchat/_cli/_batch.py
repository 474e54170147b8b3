"""``agentchat batch``: run a Batch-API JSONL file of chat-completion requests.

    agentchat batch INPUT.jsonl -o OUTPUT.jsonl [--concurrency 16] [--rpm N] [--tpm N]

The key and endpoint come from the environment (``$AGENT_ACCESS_KEY`` and ``$AGENT_ENDPOINT``,
or ``--endpoint``; ``--serverless`` and ``--base-url`` call other servers); the key is never a
command-line argument, where other users of the machine could read it. Exit codes: 0 every
line succeeded, 1 some request failed, 2 bad input or usage (malformed lines, duplicate ids, no
key or endpoint, or a key or endpoint the server refused: the first requests all failed with
the same 401, 403 or 404), 130 interrupted (what finished is saved; run the same command again
to resume).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .. import _defaults
from . import _common

if TYPE_CHECKING:
    from .._batch import BatchReport
    from .._fanout import Progress

__all__ = ["configure", "run"]


def run(args: argparse.Namespace) -> int:
    import asyncio

    from .._batch import BatchStoppedError
    from .._errors import AgentChatError

    try:
        report = asyncio.run(_batch(args))
    except KeyboardInterrupt:
        print("interrupted: finished results are saved; run again to resume", file=sys.stderr)
        return _common.EXIT_INTERRUPTED
    except BatchStoppedError as error:  # a wrong key or endpoint: one error, not a line each
        print(f"agentchat batch: {error}", file=sys.stderr)
        where = (
            "--endpoint or $AGENT_ENDPOINT sets the endpoint; " if error.status_code == 404 else ""
        )
        print(
            f"agentchat batch: {where}--no-early-stop writes a failed line for each instead.",
            file=sys.stderr,
        )
        return _common.EXIT_USAGE
    except (AgentChatError, OSError) as error:  # BatchInputError, ConfigurationError, ...
        print(f"agentchat batch: {error}", file=sys.stderr)
        return _common.EXIT_USAGE
    for number, problem in report.malformed:
        print(f"{args.input}:{number}: skipped: {problem}", file=sys.stderr)
    print(_summary(report), file=sys.stderr)
    return report.exit_code


def configure(commands: Any) -> None:
    """Add the ``batch`` command to the ``commands`` subparsers."""
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
            f"{_common.CONNECTION_HELP}\n"
            "\n"
            f"A run whose first {_defaults.STOP_ON_SETUP_ERRORS} finished requests all fail "
            "with the same 401, 403 or 404\n"
            "(a wrong key or endpoint) stops with one error and writes no line for them\n"
            "(see --no-early-stop).\n"
            "\n"
            "exit codes: 0 every line succeeded, 1 some request failed, 2 bad input or\n"
            "usage (malformed lines, duplicate custom_ids, no key or endpoint, a wrong key or\n"
            "endpoint), 130 interrupted (what finished is saved: run again to resume).\n"
            "\n"
            "examples:\n"
            "  agentchat batch requests.jsonl -o results.jsonl --concurrency 32 --rpm 600\n"
            "  agentchat batch requests.jsonl -o results.jsonl --retry-failed\n"
            "  agentchat batch requests.jsonl -o results.jsonl --base-url http://localhost:8080/v1"
        ),
    )
    batch.set_defaults(run=run)
    batch.add_argument("input", help="the requests, one JSON object per line")
    batch.add_argument(
        "-o", "--output", required=True, help="where results are appended (created if missing)"
    )
    batch.add_argument(
        "--concurrency",
        type=_common.at_least(1),
        default=16,
        metavar="N",
        help="at most this many requests at once (default: %(default)s)",
    )
    batch.add_argument(
        "--rpm",
        type=_common.at_least(1),
        metavar="N",
        help="at most N requests per minute (default: no limit)",
    )
    batch.add_argument(
        "--tpm",
        type=_common.at_least(1),
        metavar="N",
        help="at most N tokens per minute (default: no limit)",
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
        f"{_defaults.STOP_ON_SETUP_ERRORS} all fail with the same 401, 403 or 404 (default: "
        "stop with one error)",
    )
    batch.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: a bar on a terminal, when tqdm is installed)",
    )
    _common.add_connection_options(batch)


async def _batch(args: argparse.Namespace) -> BatchReport:
    from .._batch import run_batch

    with _common.target(args) as where:
        client = _common.async_client(where)
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
                    stop_on_setup_errors=None
                    if args.no_early_stop
                    else _defaults.STOP_ON_SETUP_ERRORS,
                    on_progress=on_progress,
                )


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
