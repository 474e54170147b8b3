"""The ``agentchat`` command (also ``python -m agentchat``).

    agentchat batch INPUT.jsonl -o OUTPUT.jsonl [--concurrency 16] [--rpm N] [--tpm N]

The key and endpoint come from ``$AGENT_ACCESS_KEY`` and ``$AGENT_ENDPOINT`` (or
``--endpoint``); the key is never a command-line argument, where other users of the machine
could read it. Exit codes: 0 every line succeeded, 1 some request failed, 2 bad input or
usage (malformed lines, duplicate ids, no key), 130 interrupted (what finished is saved; run
the same command again to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._batch import BatchInputError, BatchReport, run_batch
from ._client import AsyncAgentClient
from ._errors import AgentChatError
from ._fanout import Progress

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
    except (BatchInputError, AgentChatError, OSError) as error:
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
        description=(
            "Run every request of INPUT (OpenAI Batch-API JSONL: custom_id, method, url, "
            "body) and append each result to OUTPUT as it arrives. Running again with the "
            "same OUTPUT skips what is already there. The key is read from "
            "$AGENT_ACCESS_KEY, the endpoint from --endpoint or $AGENT_ENDPOINT."
        ),
    )
    batch.add_argument("input", help="the requests, one JSON object per line")
    batch.add_argument("-o", "--output", required=True, help="where results are appended")
    batch.add_argument("--endpoint", help="the agent endpoint (default: $AGENT_ENDPOINT)")
    batch.add_argument("--concurrency", type=int, default=16, help="at most this many at once")
    batch.add_argument("--rpm", type=int, help="at most this many requests per minute")
    batch.add_argument("--tpm", type=int, help="at most this many tokens per minute")
    batch.add_argument("--timeout", type=float, help="seconds per request (connect/read)")
    batch.add_argument("--max-retries", type=int, default=2, help="retries per request")
    batch.add_argument(
        "--retry-failed", action="store_true", help="run again the lines that failed before"
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow plain http:// to a host that is not loopback",
    )
    return parser


async def _batch(args: argparse.Namespace) -> BatchReport:
    options: dict[str, Any] = {"max_retries": args.max_retries}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    client = AsyncAgentClient(
        agent_endpoint=args.endpoint, allow_insecure_http=args.allow_insecure_http, **options
    )
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
        finished = progress.done + progress.failed
        bar.update(finished - seen)
        seen = finished
        bar.set_postfix(
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
