"""Batch files: OpenAI Batch-API JSONL in, JSONL results out, resumable after a crash.

Input lines are ``{"custom_id": ..., "method": "POST", "url": ".../chat/completions",
"body": {<create() arguments>}}``. Each result is appended to the output as soon as it
arrives, in the Batch API's output format::

    {"id": "batch_req_...", "custom_id": "...",
     "response": {"status_code": 200, "request_id": "...", "body": {<chat.completion>}},
     "error": null}

A failed request has ``"error": {"code", "message"}`` (and the error response, when there
was one). Lines are flushed as written and fsync'd at least every ``fsync_interval`` seconds
and at the end, so a crash or Ctrl-C loses at most the requests in flight. Running again
with the same output skips the ``custom_id``s already there (``retry_failed=True`` re-runs
the failed ones) and first cuts off a last line left half-written by a crash.

Duplicate ``custom_id``s are an error before anything is sent; a malformed line is reported
by its line number and the other lines still run.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import attrs

from . import _json
from ._errors import AgentChatError, APIStatusError
from ._fanout import Outcome, Progress, Request
from ._validate import CHECKED_FIELDS

if TYPE_CHECKING:
    from ._client import AsyncAgentClient

__all__ = ["BatchInputError", "BatchReport", "run_batch"]

# Keywords of create() besides the request fields, which a body may not set.
_CALL_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout", "max_retries"})


class BatchInputError(AgentChatError):
    """The input file cannot be run as it is (duplicate ``custom_id``s); nothing was sent."""


@attrs.frozen
class BatchReport:
    """What a batch run did. ``malformed`` lists ``(line number, problem)`` for input lines
    that were not run."""

    total: int
    skipped: int
    succeeded: int
    failed: int
    malformed: tuple[tuple[int, str], ...]

    @property
    def exit_code(self) -> int:
        """0 when every line ran and succeeded, 1 when some request failed, 2 when some input
        line was malformed."""
        if self.malformed:
            return 2
        return 1 if self.failed else 0


@attrs.frozen
class _Line:
    number: int
    custom_id: str
    body: Mapping[str, Any]


async def run_batch(
    client: AsyncAgentClient,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    max_concurrency: int = 16,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    retry_failed: bool = False,
    fsync_interval: float = 1.0,
    on_progress: Callable[[Progress], object] | None = None,
) -> BatchReport:
    """Run every request of a Batch-API JSONL file through ``client`` (see the module
    docstring); returns a :class:`BatchReport`. Raises :class:`BatchInputError` before
    sending anything if ``custom_id``s repeat."""
    input_file, output_file = Path(input_path), Path(output_path)
    total, malformed = _scan(input_file)
    done = _resume(output_file, retry_failed)
    skipped = 0

    def requests() -> Iterator[Request]:
        nonlocal skipped
        for line in _lines(input_file):
            if line.custom_id in done:
                skipped += 1
            else:
                yield Request(params=_params(line.body), id=line.custom_id)

    succeeded = failed = 0
    numbering = itertools.count(len(done) + 1)
    # Plain buffered writes: a line lands in the OS page cache at once; only fsync, which
    # may wait on the disk, is moved off the event loop.
    with output_file.open("a", encoding="utf-8") as out:  # noqa: ASYNC230
        last_sync = time.monotonic()
        try:
            async with client.agent.chat.completions.create_many(
                requests(),
                max_concurrency=max_concurrency,
                ordered=False,
                requests_per_minute=requests_per_minute,
                tokens_per_minute=tokens_per_minute,
                on_progress=on_progress,
            ) as results:
                async for outcome in results:
                    out.write(_result_line(outcome, next(numbering)))
                    out.flush()
                    if outcome.ok:
                        succeeded += 1
                    else:
                        failed += 1
                    if time.monotonic() - last_sync >= fsync_interval:
                        await anyio.to_thread.run_sync(os.fsync, out.fileno())
                        last_sync = time.monotonic()
        finally:
            out.flush()
            os.fsync(out.fileno())
    return BatchReport(
        total=total,
        skipped=skipped,
        succeeded=succeeded,
        failed=failed,
        malformed=tuple(malformed),
    )


def _scan(path: Path) -> tuple[int, list[tuple[int, str]]]:
    """Count the valid lines, list the malformed ones, and refuse duplicate custom_ids."""
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    malformed: list[tuple[int, str]] = []
    total = 0
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            parsed = _parse(text)
            if isinstance(parsed, str):
                malformed.append((number, parsed))
                continue
            custom_id = parsed["custom_id"]
            if custom_id in seen:
                duplicates.append(f"{custom_id!r} (lines {seen[custom_id]} and {number})")
                continue
            seen[custom_id] = number
            total += 1
    if duplicates:
        shown = ", ".join(duplicates[:10]) + (" ..." if len(duplicates) > 10 else "")
        raise BatchInputError(
            f"{path}: {len(duplicates)} duplicate custom_id(s): {shown}. Nothing was sent."
        )
    return total, malformed


def _lines(path: Path) -> Iterator[_Line]:
    """The valid lines, read lazily."""
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if text.strip():
                parsed = _parse(text)
                if not isinstance(parsed, str):
                    yield _Line(number, parsed["custom_id"], parsed["body"])


def _parse(text: str) -> dict[str, Any] | str:
    """The line as a dict, or what is wrong with it."""
    try:
        line = _json.loads(text)
    except ValueError as exc:
        return f"not valid JSON ({exc})"
    if not isinstance(line, dict):
        return "not a JSON object"
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "custom_id must be a non-empty string"
    method = line.get("method", "POST")
    if not isinstance(method, str) or method.upper() != "POST":
        return f"method must be POST, not {method!r}"
    url = line.get("url", "/v1/chat/completions")
    if not isinstance(url, str) or not url.rstrip("/").endswith("/chat/completions"):
        return f"url must be a chat-completions path, not {url!r}"
    body = line.get("body")
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("messages"), list) or "model" not in body:
        return "body needs 'model' and a 'messages' list"
    options = _CALL_OPTIONS & body.keys()
    if options:
        return f"body may not set {', '.join(sorted(options))}"
    return line


def _params(body: Mapping[str, Any]) -> dict[str, Any]:
    """create() keywords from a request body: known fields as themselves, the rest (fields
    agentchat does not know) sent unchanged through ``extra_body``."""
    params = {key: value for key, value in body.items() if key in CHECKED_FIELDS}
    extra = {key: value for key, value in body.items() if key not in CHECKED_FIELDS}
    if extra:
        params["extra_body"] = extra
    return params


def _resume(path: Path, retry_failed: bool) -> set[str]:
    """The custom_ids the output already has (successes only, with ``retry_failed``); a
    half-written last line (a crash mid-write) is cut off first."""
    if not path.exists():
        return set()
    _truncate_partial_line(path)
    done: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for text in lines:
            try:
                line = json.loads(text)
            except ValueError:
                continue
            custom_id = line.get("custom_id") if isinstance(line, dict) else None
            if not isinstance(custom_id, str):
                continue
            if retry_failed and line.get("error") is not None:
                continue
            done.add(custom_id)
    return done


def _truncate_partial_line(path: Path) -> None:
    with path.open("rb+") as out:
        size = out.seek(0, os.SEEK_END)
        if size == 0:
            return
        out.seek(size - 1)
        if out.read(1) == b"\n":
            return
        # Walk back to the last newline and cut there.
        position = size
        while position > 0:
            step = min(65536, position)
            out.seek(position - step)
            block = out.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                out.truncate(position - step + newline + 1)
                return
            position -= step
        out.truncate(0)


def _result_line(outcome: Outcome, number: int) -> str:
    record: dict[str, Any] = {"id": f"batch_req_{number:08d}", "custom_id": outcome.id}
    if outcome.completion is not None:
        info = outcome.completion.response
        record["response"] = {
            "status_code": info.status if info else 200,
            "request_id": info.request_id if info else None,
            "body": outcome.completion.to_dict(),
        }
        record["error"] = None
    else:
        error = outcome.error
        assert error is not None
        if isinstance(error, APIStatusError):
            record["response"] = {
                "status_code": error.status_code,
                "request_id": error.request_id,
                "body": error.body,
            }
            code = error.code or f"http_{error.status_code}"
        else:
            record["response"] = None
            code = type(error).__name__
        record["error"] = {"code": code, "message": str(error)}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
