"""Batch files: OpenAI Batch-API JSONL in, JSONL results out, resumable after a crash.

Input lines are ``{"custom_id": ..., "method": "POST", "url": ".../chat/completions",
"body": {<create() arguments>}}``. Each result is appended to the output as soon as it
arrives, in the Batch API's output format::

    {"id": "batch_req_...", "custom_id": "...",
     "response": {"status_code": 200, "request_id": "...", "body": {<chat.completion>}},
     "error": null}

A failed request has ``"error": {"code", "message"}`` (and the error response, when there
was one); the code is the server's, or a stable lowercase name for a failure of agentchat's
own (``timeout``, ``connection_error``, ``invalid_request``, ...). Lines are flushed as
written and fsync'd at least every ``fsync_interval`` seconds and at the end, so a crash or
Ctrl-C loses at most the requests in flight.

One line per ``custom_id``: running again with the same output skips the ``custom_id``
values already there and first cuts off a last line left half-written by a crash. With
``retry_failed=True`` the failed lines of the ``custom_id`` values about to run again are first
removed from the output, by writing the rest to a new file that atomically replaces it, so
the output never holds two results for one ``custom_id``. Each line's ``id`` is new: numbers
go on from the highest already in the file.

A run whose first ``stop_on_setup_errors`` finished requests (or all of them, when the run
has fewer) failed with the same 401, 403 or 404, and none succeeded, has a wrong key or
endpoint: it stops with :class:`BatchStoppedError`, writing no line for them.

Duplicate ``custom_id`` values are an error before anything is sent; a malformed line is reported
by its line number and the other lines still run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import anyio.to_thread
import attrs

from . import _defaults, _json
from ._config import AGENT, INFERENCE
from ._errors import AgentChatError, APIError, APIStatusError, InvalidRequestError
from ._fanout import Outcome, Progress, Request
from ._relay import error_code
from ._validate import CHECKED_FIELDS

if TYPE_CHECKING:
    from ._client import AsyncAgentClient, AsyncInferenceClient, AsyncOpenAICompatibleClient
    from ._resources._completions import _AsyncCompletionsBase
    from ._sync import AgentClient, InferenceClient, OpenAICompatibleClient

    AsyncClients: TypeAlias = AsyncAgentClient | AsyncInferenceClient | AsyncOpenAICompatibleClient
    SyncClients: TypeAlias = AgentClient | InferenceClient | OpenAICompatibleClient

__all__ = ["BatchInputError", "BatchReport", "BatchStoppedError", "run_batch"]

# Keywords of create() besides the request fields, which a body may not set.
_CALL_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout", "max_retries"})

#: How many first finished requests failing the same way (401, 403 or 404) stop a run.
DEFAULT_STOP_ON_SETUP_ERRORS = _defaults.STOP_ON_SETUP_ERRORS
#: The statuses that say the key or the endpoint is wrong, not one request.
SETUP_STATUSES = frozenset({401, 403, 404})

_ID = re.compile(r"batch_req_(\d+)")


class BatchInputError(AgentChatError):
    """The input file cannot be run as it is (duplicate ``custom_id`` values); nothing was sent."""


class BatchStoppedError(AgentChatError):
    """The run stopped early: its first ``count`` finished requests all failed with the same
    401, 403 or 404 and none succeeded, which means a wrong key, a key without access to the
    agent, or a wrong endpoint, not bad requests. No line was written for them (they run
    again next time); requests still in flight were cancelled.

    ``error`` is the first of those errors; ``status_code`` and ``code`` are its status and
    error code.
    """

    def __init__(self, held: list[Outcome], *, whole_run: bool) -> None:
        first = held[0].error
        assert isinstance(first, APIStatusError)
        self.error = first
        self.status_code = first.status_code
        self.code = error_code(first)
        self.count = len(held)
        if not whole_run:
            which = f"the first {self.count} requests to finish all"
        elif self.count == 1:
            which = "the only request of this run"
        else:
            which = f"all {self.count} requests of this run"
        super().__init__(
            f"Stopped: {which} failed with {first}. {_SETUP_HINTS[self.status_code]} "
            "No result was written for them; run again once it is fixed."
        )


_SETUP_HINTS = {
    401: f"The access key is wrong or revoked: check ${AGENT.key_env} (an agent), "
    f"${INFERENCE.key_env} (serverless inference) or the key given to the client.",
    403: "The access key may not use this agent or model: check the key and its access settings.",
    404: f"Check the client's endpoint (${AGENT.endpoint_env} or agent_endpoint for an agent; "
    "base_url, usually up to /v1, for an OpenAI-compatible server) and the model of the "
    "requests.",
}


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
    custom_id: str
    body: Mapping[str, Any]


@overload
def run_batch(
    client: SyncClients,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    max_concurrency: int = 16,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    retry_failed: bool = False,
    stop_on_setup_errors: int | None = DEFAULT_STOP_ON_SETUP_ERRORS,
    fsync_interval: float = 1.0,
    on_progress: Callable[[Progress], object] | None = None,
) -> BatchReport: ...


@overload
def run_batch(
    client: AsyncClients,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    max_concurrency: int = 16,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    retry_failed: bool = False,
    stop_on_setup_errors: int | None = DEFAULT_STOP_ON_SETUP_ERRORS,
    fsync_interval: float = 1.0,
    on_progress: Callable[[Progress], object] | None = None,
) -> Coroutine[Any, Any, BatchReport]: ...


def run_batch(
    client: SyncClients | AsyncClients,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    max_concurrency: int = 16,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    retry_failed: bool = False,
    stop_on_setup_errors: int | None = DEFAULT_STOP_ON_SETUP_ERRORS,
    fsync_interval: float = 1.0,
    on_progress: Callable[[Progress], object] | None = None,
) -> BatchReport | Coroutine[Any, Any, BatchReport]:
    """Run every request of a Batch-API JSONL file through ``client`` (see the module
    docstring) and return a :class:`BatchReport`::

        report = await run_batch(async_client, "in.jsonl", "out.jsonl")   # AsyncAgentClient
        report = run_batch(sync_client, "in.jsonl", "out.jsonl")          # AgentClient

    With an :class:`~agentchat.AgentClient` the call blocks, running the same async code on
    the client's event-loop thread (where ``on_progress`` is called too); Ctrl-C cancels what
    is in flight and keeps what finished.

    Raises :class:`BatchInputError` before sending anything if a ``custom_id`` repeats, and
    :class:`BatchStoppedError` when the first ``stop_on_setup_errors`` requests to finish all
    failed with the same 401, 403 or 404 (``None``: never stop early).
    """
    from ._client import _AsyncClient  # loaded already: a client exists

    options: dict[str, Any] = {
        "max_concurrency": max_concurrency,
        "requests_per_minute": requests_per_minute,
        "tokens_per_minute": tokens_per_minute,
        "retry_failed": retry_failed,
        "stop_on_setup_errors": stop_on_setup_errors,
        "fsync_interval": fsync_interval,
        "on_progress": on_progress,
    }

    if isinstance(client, _AsyncClient):
        return _run(client._chat_completions, Path(input_path), Path(output_path), **options)
    # The generated sync facade: run the one implementation on the client's loop thread.
    core = getattr(client, "_async", None)
    portal = getattr(client, "_portal", None)
    if not isinstance(core, _AsyncClient) or portal is None:
        raise TypeError(
            "run_batch() needs a client of agentchat (AgentClient, InferenceClient, "
            "OpenAICompatibleClient or their async twins), not "
            f"{type(client).__name__}"
        )
    completions = core._chat_completions
    report: BatchReport = portal.call(
        lambda: _run(completions, Path(input_path), Path(output_path), **options)
    )
    return report


async def _run(
    completions: _AsyncCompletionsBase,
    input_file: Path,
    output_file: Path,
    *,
    max_concurrency: int,
    requests_per_minute: int | None,
    tokens_per_minute: int | None,
    retry_failed: bool,
    stop_on_setup_errors: int | None,
    fsync_interval: float,
    on_progress: Callable[[Progress], object] | None,
) -> BatchReport:
    if stop_on_setup_errors is not None and (
        not isinstance(stop_on_setup_errors, int)
        or isinstance(stop_on_setup_errors, bool)
        or stop_on_setup_errors < 1
    ):
        raise InvalidRequestError(
            "stop_on_setup_errors", stop_on_setup_errors, "an integer >= 1, or None, is required"
        )
    # Reading both files (and rewriting the output for a retry, with its fsyncs) may take a
    # while for large files: not on the event loop.
    total, malformed, custom_ids = await anyio.to_thread.run_sync(_scan, input_file)
    done, next_number = await anyio.to_thread.run_sync(
        _prepare_output, output_file, retry_failed, custom_ids
    )
    del custom_ids
    skipped = 0

    def requests() -> Iterator[Request]:
        nonlocal skipped
        for line in _lines(input_file):
            if line.custom_id in done:
                skipped += 1
            else:
                yield Request(params=_params(line.body), id=line.custom_id)

    succeeded = failed = 0
    numbering = itertools.count(next_number)
    # While every finished request has failed with the same 401/403/404, their lines wait
    # here (a wrong key is not worth a line per input); the first other outcome writes them.
    held: list[Outcome] = []
    watching = stop_on_setup_errors is not None
    # Plain buffered writes: a line lands in the OS page cache at once; only fsync, which
    # may wait on the disk, is moved off the event loop.
    with output_file.open("a", encoding="utf-8") as out:
        last_sync = time.monotonic()

        async def write(outcome: Outcome) -> None:
            nonlocal succeeded, failed, last_sync
            out.write(_result_line(outcome, next(numbering)))
            out.flush()
            if outcome.ok:
                succeeded += 1
            else:
                failed += 1
            if time.monotonic() - last_sync >= fsync_interval:
                await anyio.to_thread.run_sync(os.fsync, out.fileno())
                last_sync = time.monotonic()

        try:
            async with completions.create_many(
                requests(),
                max_concurrency=max_concurrency,
                ordered=False,
                requests_per_minute=requests_per_minute,
                tokens_per_minute=tokens_per_minute,
                on_progress=on_progress,
            ) as results:
                async for outcome in results:
                    if watching:
                        if _fails_like(outcome, held):
                            held.append(outcome)
                            if len(held) == stop_on_setup_errors:
                                raise BatchStoppedError(held, whole_run=False)
                            continue
                        watching = False  # one success or other failure: no setup error
                        for waiting in held:
                            await write(waiting)
                        held = []
                    await write(outcome)
            if held:  # the run had fewer requests than the limit, and all failed alike
                raise BatchStoppedError(held, whole_run=True)
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


def _setup_status(outcome: Outcome) -> int | None:
    """The outcome's status when it failed with a 401, 403 or 404."""
    error = outcome.error
    if isinstance(error, APIStatusError) and error.status_code in SETUP_STATUSES:
        return error.status_code
    return None


def _fails_like(outcome: Outcome, held: list[Outcome]) -> bool:
    """Whether ``outcome`` failed with a 401, 403 or 404, and as the ``held`` ones did."""
    status = _setup_status(outcome)
    return status is not None and (not held or _setup_status(held[0]) == status)


def _scan(path: Path) -> tuple[int, list[tuple[int, str]], set[str]]:
    """Count the valid lines, list the malformed ones, collect the custom_ids, and refuse
    duplicate custom_ids."""
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
    return total, malformed, set(seen)


def _lines(path: Path) -> Iterator[_Line]:
    """The valid lines, read lazily."""
    with path.open(encoding="utf-8") as lines:
        for text in lines:
            if text.strip():
                parsed = _parse(text)
                if not isinstance(parsed, str):
                    yield _Line(parsed["custom_id"], parsed["body"])


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


def _prepare_output(path: Path, retry_failed: bool, custom_ids: set[str]) -> tuple[set[str], int]:
    """Get the output ready to be appended to, and return the custom_ids it already has a
    result for (successes only, with ``retry_failed``) and the number of the next line's id.

    A half-written last line (a crash mid-write) is cut off first. With ``retry_failed``, the
    failed lines of custom_ids that will run again (or that also have a success, from an
    older agentchat) are removed, by writing the other lines to a new file that atomically
    replaces the output: a crash leaves the old file or the new one, never a mix, and a
    failed line removed is run again by whichever run comes next.
    """
    if not path.exists():
        return set(), 1
    _truncate_partial_line(path)
    succeeded: set[str] = set()
    failed: set[str] = set()
    highest = count = 0
    for _, record in _records(path):
        count += 1
        if record is None:
            continue
        found = _ID.fullmatch(str(record.get("id")))
        if found:
            highest = max(highest, int(found.group(1)))
        custom_id = record.get("custom_id")
        if isinstance(custom_id, str):
            (failed if record.get("error") is not None else succeeded).add(custom_id)
    next_number = max(highest, count) + 1  # never the id of a line already there
    if not retry_failed:
        return succeeded | failed, next_number
    stale = (failed & custom_ids) | (failed & succeeded)
    if stale:
        _rewrite_without(path, stale)
    return succeeded, next_number


def _records(path: Path) -> Iterator[tuple[bytes, dict[str, Any] | None]]:
    """Each line of the output as it is, and parsed (``None`` if it is not a JSON object)."""
    with path.open("rb") as lines:
        for raw in lines:
            try:
                record = _json.loads(raw)
            except ValueError:
                record = None
            yield raw, record if isinstance(record, dict) else None


def _rewrite_without(path: Path, stale: set[str]) -> None:
    """Replace ``path`` atomically by a copy without the failed lines of ``stale``."""
    path = Path(os.path.realpath(path))  # through a symlink: replace the file, keep the link
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as new:
            for raw, record in _records(path):
                if (
                    record is not None
                    and record.get("custom_id") in stale
                    and record.get("error") is not None
                ):
                    continue
                new.write(raw)
            new.flush()
            os.fsync(new.fileno())
        os.chmod(name, os.stat(path).st_mode & 0o7777)  # mkstemp made it owner-only
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); elsewhere directories cannot be opened, nor need to."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


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
        info = outcome.completion.response  # always set on a completion the client made
        record["response"] = {
            "status_code": info.status,
            "request_id": info.request_id,
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
        else:
            record["response"] = None
        record["error"] = {"code": _error_code(error), "message": str(error)}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _error_code(error: Exception) -> str:
    """The server's error code, or a stable lowercase name: never a Python class name."""
    if isinstance(error, APIError):
        return error_code(error)
    if isinstance(error, InvalidRequestError):
        return "invalid_request"  # rejected before it was sent
    return "client_error"  # anything else that went wrong on this side
