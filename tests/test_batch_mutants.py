"""Batch files, in detail: the exact output format, error texts, numbering, truncation and
the stop rules (in-process, so that mutation testing sees them; see scripts/mutants.py)."""

from __future__ import annotations

import asyncio
import json
import locale
import os
import stat
import threading
import types
from pathlib import Path
from typing import Any

import pytest

import agentchat._batch
from agentchat import (
    BatchInputError,
    BatchStoppedError,
    InvalidRequestError,
    Progress,
    run_batch,
)
from agentchat.testing import FakeAgentServer

from .test_batch import _eventually, line, record_fsyncs, results, write_input

# -- the output line --------------------------------------------------------------------------


async def test_each_line_is_compact_utf8_json_with_the_batch_fields_in_order(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(line("ok", "héllo ✓") + line("bad", "x") + line("created", "y"))
    target = tmp_path / "out.jsonl"
    server.delay(0)  # the default answer, at once
    server.error(400, "no", code="bad_request")
    server.respond(203, json=server.completion({"messages": [{"role": "user", "content": "y"}]}))
    async with server.client(max_retries=0) as client:
        await run_batch(client, source, target, max_concurrency=1)
    texts = target.read_text(encoding="utf-8").splitlines()
    for text in texts:  # no spaces after separators, non-ASCII as itself, not \u escapes
        assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    assert "Echo: héllo ✓" in target.read_bytes().decode("utf-8")
    lines = {r["custom_id"]: r for r in map(json.loads, texts)}
    assert all(list(r) == ["id", "custom_id", "response", "error"] for r in lines.values())
    bad = lines["bad"]
    assert bad["response"] == {
        "status_code": 400,
        "request_id": "req-2",
        "body": {"id": "bad_request", "message": "no", "request_id": "req-2"},
    }
    assert bad["error"] == {
        "code": "bad_request",
        "message": "HTTP 400: no [bad_request] (request_id=req-2)",
    }
    assert lines["ok"]["response"]["status_code"] == 200
    assert lines["created"]["response"]["status_code"] == 203  # the real status, not 200


async def test_a_failure_without_a_response_has_response_null(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    target = tmp_path / "out.jsonl"
    async with server.client() as client:
        pass  # closed: every request fails on this side, before anything is sent
    report = await run_batch(client, source, target, max_concurrency=1)
    assert (report.succeeded, report.failed, report.exit_code) == (0, 2, 1)
    message = "This client has been closed; create a new one."
    assert results(target) == [
        {
            "id": f"batch_req_0000000{i + 1}",
            "custom_id": f"req-{i}",
            "response": None,
            "error": {"code": "client_error", "message": message},
        }
        for i in range(2)
    ]


async def test_input_and_output_are_utf8_whatever_the_locale(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    record = json.loads(line("ü", "héllo ✓"))
    source.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert not source.read_bytes().isascii()
    target = tmp_path / "out.jsonl"
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale, where Python has no UTF-8 mode
    try:
        async with server.client() as client:
            report = await run_batch(client, source, target)
    finally:
        locale.setlocale(locale.LC_CTYPE, before)
    assert report.succeeded == 1
    [record] = results(target)
    assert record["custom_id"] == "ü"
    assert "Echo: héllo ✓" in target.read_bytes().decode("utf-8")


# -- ids: numbered on from what the output holds ------------------------------------------------


async def test_ids_start_at_one_in_a_new_output(server: FakeAgentServer, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    target = tmp_path / "out.jsonl"
    async with server.client() as client:
        await run_batch(client, source, target, max_concurrency=1)
    assert [r["id"] for r in results(target)] == [f"batch_req_0000000{i}" for i in (1, 2, 3)]


async def test_ids_go_on_after_the_existing_lines(server: FakeAgentServer, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 4)
    target = tmp_path / "out.jsonl"
    async with server.client() as client:
        await run_batch(client, write_input(tmp_path / "first.jsonl", 2), target)
        report = await run_batch(client, source, target, max_concurrency=1)
    assert (report.skipped, report.succeeded) == (2, 2)
    assert [r["id"] for r in results(target)] == [f"batch_req_0000000{i}" for i in (1, 2, 3, 4)]


async def test_lines_that_are_not_results_count_for_the_numbering_and_are_passed_over(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    target = tmp_path / "out.jsonl"
    target.write_text(
        json.dumps({"custom_id": "req-0", "error": None})  # no id (another tool's output)
        + "\ngarbage\n[1, 2]\n42\n"
        + json.dumps({"custom_id": "req-1", "error": None})
        + "\n"
        + json.dumps({"id": "batch_req_00000003", "custom_id": "elsewhere", "error": None})
        + "\n"
    )
    async with server.client() as client:
        report = await run_batch(client, source, target)
    assert (report.skipped, report.succeeded) == (2, 1)  # what follows garbage counts too
    last = json.loads(target.read_text().splitlines()[-1])
    assert (last["custom_id"], last["id"]) == ("req-2", "batch_req_00000007")  # 6 lines before


# -- cutting off a half-written last line ------------------------------------------------------

L1 = b'{"id":"batch_req_00000001","custom_id":"other-1","response":null,"error":null}\n'
L2 = b'{"id":"batch_req_00000002","custom_id":"other-2","response":null,"error":null}\n'


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"", b""),
        (L1, L1),
        (L1 + L2, L1 + L2),
        (b"{", b""),  # one byte, no newline
        (L1 + b"{", L1),
        (L1 + L2 + b'{"id":"batch_req_00000003","custom_id":"x","resp', L1 + L2),
        (b"x" * 70_000, b""),  # a partial line longer than one read
        (L1 + b"x" * 70_000, L1),
        (L1 + b"x" * 65_535, L1),  # the newline is the first byte of the last block
        (b"\n" + b"x" * 65_536, b"\n"),  # ... and the last byte of the first block read
    ],
    ids=[
        "empty",
        "whole",
        "two-whole",
        "one-byte",
        "one-byte-after-a-line",
        "after-two-lines",
        "long-alone",
        "long-after-a-line",
        "newline-at-block-start",
        "newline-at-file-start",
    ],
)
async def test_only_a_half_written_last_line_is_cut_off(
    server: FakeAgentServer, tmp_path: Path, before: bytes, after: bytes
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("")  # nothing to run: only the output is made ready
    target = tmp_path / "out.jsonl"
    target.write_bytes(before)
    async with server.client() as client:
        report = await run_batch(client, source, target)
    assert report.total == 0
    assert target.read_bytes() == after
    assert server.requests == []


@pytest.mark.parametrize("before", [b"{", b"x" * 70_000, L1 + b"x" * 70_000])
def test_cutting_off_a_half_written_line_ends_at_once(tmp_path: Path, before: bytes) -> None:
    """The walk back to the last newline ends: a walk that never does fails here in seconds,
    not at the suite's 60 s timeout. (The private function, in a thread of its own: run_batch
    runs it in a worker thread, which no timeout can cancel.)"""
    target = tmp_path / "out.jsonl"
    target.write_bytes(before)
    walk = threading.Thread(
        target=agentchat._batch._truncate_partial_line, args=(target,), daemon=True
    )
    walk.start()
    walk.join(timeout=5)
    assert not walk.is_alive()
    assert target.read_bytes() == before[: before.rfind(b"\n") + 1]


# -- retry_failed: the rewrite ------------------------------------------------------------------


def _failed(custom_id: str, number: int) -> str:
    record = {
        "id": f"batch_req_{number:08d}",
        "custom_id": custom_id,
        "response": None,
        "error": {"code": "timeout", "message": "t"},
    }
    return json.dumps(record) + "\n"


async def test_a_retry_rewrite_keeps_other_failures_and_the_file_mode(
    server: FakeAgentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    target = tmp_path / "out.jsonl"
    target.write_text(_failed("elsewhere", 1) + _failed("req-0", 2))
    target.chmod(0o640)
    replaced: list[tuple[str, list[str]]] = []
    replace = os.replace

    def spy(source: Any, destination: Any) -> None:
        replaced.append((str(source), sorted(os.listdir(tmp_path))))
        replace(source, destination)

    monkeypatch.setattr(os, "replace", spy)
    async with server.client() as client:
        report = await run_batch(client, source, target, retry_failed=True)
    assert (report.skipped, report.succeeded, report.failed) == (0, 2, 0)
    lines = results(target)
    assert lines[0]["custom_id"] == "elsewhere"  # not in the input: its failure is kept
    assert sorted(r["custom_id"] for r in lines[1:]) == ["req-0", "req-1"]
    assert all(r["error"] is None for r in lines[1:])
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    # The new file was written next to the output (one file system: an atomic rename), as a
    # hidden file named after it.
    [(temporary, listing)] = replaced
    assert Path(temporary).parent == tmp_path
    name = Path(temporary).name
    assert name.startswith(".out.jsonl.") and name.endswith(".tmp") and name in listing
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "out.jsonl"]


async def test_a_failed_rewrite_raises_its_own_error_even_if_the_new_file_is_gone(
    server: FakeAgentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_input(tmp_path / "in.jsonl", 1)
    target = tmp_path / "out.jsonl"
    target.write_text(_failed("req-0", 1))

    def crash(source: Any, destination: Any) -> None:
        os.unlink(source)  # removed by someone else meanwhile
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    async with server.client() as client:
        with pytest.raises(OSError, match="disk full"):
            await run_batch(client, source, target, retry_failed=True)
    assert target.read_text() == _failed("req-0", 1)


# -- the input file -----------------------------------------------------------------------------


def _record(**fields: Any) -> str:
    return json.dumps(fields) + "\n"


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def test_what_is_wrong_with_each_malformed_line(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "[1, 2]\n"
        + _record(custom_id="", body=BODY)
        + _record(custom_id=5, body=BODY)
        + _record(custom_id="m", method="GET", body=BODY)
        + _record(custom_id="u", url="/v1/embeddings", body=BODY)
        + _record(custom_id="v", url="/v1/chat/completions/X", body=BODY)
        + _record(custom_id="b", body="hi")
        + _record(custom_id="n", body={"messages": []})
        + _record(custom_id="l", body={"model": "m", "messages": "hi"})
        + _record(custom_id="o", body={**BODY, "timeout": 1, "extra_body": {}})
        + "{not json\n"
        # valid: method and url may be left out, or differ in case and a trailing slash
        + _record(custom_id="bare", body=BODY)
        + _record(custom_id="slash", method="post", url="/v1/chat/completions/", body=BODY)
    )
    target = tmp_path / "out.jsonl"
    async with server.client() as client:
        report = await run_batch(client, source, target)
    assert report.malformed[:10] == (
        (1, "not a JSON object"),
        (2, "custom_id must be a non-empty string"),
        (3, "custom_id must be a non-empty string"),
        (4, "method must be POST, not 'GET'"),
        (5, "url must be a chat-completions path, not '/v1/embeddings'"),
        (6, "url must be a chat-completions path, not '/v1/chat/completions/X'"),
        (7, "body must be a JSON object"),
        (8, "body needs 'model' and a 'messages' list"),
        (9, "body needs 'model' and a 'messages' list"),
        (10, "body may not set extra_body, timeout"),
    )
    [(number, problem)] = report.malformed[10:]
    assert number == 11 and problem.startswith("not valid JSON (")
    assert (report.total, report.succeeded) == (2, 2)
    assert sorted(r["custom_id"] for r in results(target)) == ["bare", "slash"]


def _duplicates(count: int) -> str:
    ids = [f"d{i}" for i in range(count)]
    return "".join(line(i, "first") for i in ids) + "".join(line(i, "again") for i in ids)


@pytest.mark.parametrize(
    ("count", "listed"),
    [
        (3, "'d0' (lines 1 and 4), 'd1' (lines 2 and 5), 'd2' (lines 3 and 6)"),
        (10, ", ".join(f"'d{i}' (lines {i + 1} and {i + 11})" for i in range(10))),
        (11, ", ".join(f"'d{i}' (lines {i + 1} and {i + 12})" for i in range(10)) + " ..."),
    ],
)
async def test_every_duplicate_is_counted_and_the_first_ten_are_named(
    server: FakeAgentServer, tmp_path: Path, count: int, listed: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(_duplicates(count))
    async with server.client() as client:
        with pytest.raises(BatchInputError) as caught:
            await run_batch(client, source, tmp_path / "out.jsonl")
    expected = f"{source}: {count} duplicate custom_id(s): {listed}. Nothing was sent."
    assert str(caught.value) == expected
    assert server.requests == []


# -- the arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"), [(0, "0"), (-1, "-1"), (True, "True"), ("3", "'3'"), (2.5, "2.5")]
)
async def test_a_bad_stop_on_setup_errors_is_refused_before_anything_is_sent(
    server: FakeAgentServer, tmp_path: Path, value: Any, shown: str
) -> None:
    source = write_input(tmp_path / "in.jsonl", 1)
    async with server.client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await run_batch(client, source, tmp_path / "out.jsonl", stop_on_setup_errors=value)
    error = caught.value
    assert (error.param, error.value) == ("stop_on_setup_errors", value)
    assert str(error) == (
        f"stop_on_setup_errors={shown} is invalid: an integer >= 1, or None, is required"
    )
    assert server.requests == []
    assert not (tmp_path / "out.jsonl").exists()


class _Lookalike:
    """Has some of a sync client's attributes, but is not one."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


@pytest.mark.parametrize(
    "client",
    [object(), _Lookalike(_portal=object()), _Lookalike(_async=None, _portal=object())],
    ids=["object", "portal-only", "no-core"],
)
def test_run_batch_refuses_what_is_not_an_agentchat_client(tmp_path: Path, client: Any) -> None:
    source = write_input(tmp_path / "in.jsonl", 1)
    with pytest.raises(TypeError) as caught:
        run_batch(client, source, tmp_path / "out.jsonl")
    assert str(caught.value) == (
        "run_batch() needs a client of agentchat (AgentClient, InferenceClient, "
        f"OpenAICompatibleClient or their async twins), not {type(client).__name__}"
    )


async def test_progress_is_reported_with_the_default_concurrency(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 5)
    server.error(400, "no", code="bad_request")
    seen: list[Progress] = []
    async with server.client(max_retries=0) as client:
        report = await run_batch(client, source, tmp_path / "out.jsonl", on_progress=seen.append)
    assert len(seen) == 5
    assert [p.finished for p in seen] == [1, 2, 3, 4, 5]
    assert (seen[-1].done, seen[-1].failed) == (report.succeeded, report.failed) == (4, 1)
    assert {p.concurrency for p in seen} == {16}  # max_concurrency's default


async def test_a_slow_request_does_not_hold_back_the_results_of_the_others(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 5)
    target = tmp_path / "out.jsonl"
    server.delay(30)  # the first request to arrive
    async with server.client() as client:
        run = asyncio.ensure_future(run_batch(client, source, target, max_concurrency=2))
        try:
            await _eventually(
                lambda: target.exists() and target.read_bytes().count(b"\n") == 4,
                "the 4 quick results wait for the slow one",
                within=3.0,
            )
        finally:
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run


@pytest.mark.parametrize(
    ("rpm", "tpm", "first"),
    [(2, None, 2), (None, 1, 1)],  # each answer uses 3 tokens
    ids=["requests_per_minute", "tokens_per_minute"],
)
async def test_the_per_minute_limits_are_applied(
    server: FakeAgentServer, tmp_path: Path, rpm: int | None, tpm: int | None, first: int
) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    target = tmp_path / "out.jsonl"
    async with server.client() as client:
        run = asyncio.ensure_future(
            run_batch(
                client,
                source,
                target,
                max_concurrency=1,
                requests_per_minute=rpm,
                tokens_per_minute=tpm,
            )
        )
        try:
            await _eventually(
                lambda: target.exists() and target.read_bytes().count(b"\n") == first,
                "the first requests did not go",
            )
            await asyncio.sleep(0.2)
            assert len(server.requests) == first  # the next waits for the minute to pass
            assert not run.done()
        finally:
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run


async def test_the_default_fsync_interval_is_one_second(
    server: FakeAgentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_input(tmp_path / "in.jsonl", 4)
    target = tmp_path / "out.jsonl"

    def monotonic() -> float:  # each line written takes half a second
        return 0.5 * (target.read_bytes().count(b"\n") if target.exists() else 0)

    monkeypatch.setattr(agentchat._batch, "time", types.SimpleNamespace(monotonic=monotonic))
    syncs = record_fsyncs(monkeypatch)
    async with server.client() as client:
        await run_batch(client, source, target, max_concurrency=1)
    inode = target.stat().st_ino
    sizes = [size for _, node, size in syncs if node == inode]
    offsets = [0]
    for text in target.read_bytes().splitlines(keepends=True):
        offsets.append(offsets[-1] + len(text))
    # After line 2 (one second since the start: due), line 4 (one second since), the end.
    assert sizes == [offsets[2], offsets[4], offsets[4]]


# -- stopping early -----------------------------------------------------------------------------

HINTS = {
    401: "The access key is wrong or revoked: check $AGENT_ACCESS_KEY (an agent), "
    "$MODEL_ACCESS_KEY (serverless inference) or the key given to the client.",
    403: "The access key may not use this agent or model: check the key and its access settings.",
    404: "Check the client's endpoint ($AGENT_ENDPOINT or agent_endpoint for an agent; "
    "base_url, usually up to /v1, for an OpenAI-compatible server) and the model of the "
    "requests.",
}


@pytest.mark.parametrize(
    ("count", "stop", "status", "which"),
    [
        (3, 2, 401, "the first 2 requests to finish all"),
        (1, 2, 403, "the only request of this run"),
        (2, 3, 404, "all 2 requests of this run"),
    ],
)
async def test_the_stop_error_says_how_many_failed_how_and_what_to_check(
    server: FakeAgentServer, tmp_path: Path, count: int, stop: int, status: int, which: str
) -> None:
    source = write_input(tmp_path / "in.jsonl", count)
    target = tmp_path / "out.jsonl"
    server.error(status, "first", code="nope")
    server.error(status, "second", code="nope", times=2)
    async with server.client(max_retries=0) as client:
        with pytest.raises(BatchStoppedError) as caught:
            await run_batch(client, source, target, max_concurrency=1, stop_on_setup_errors=stop)
    error = caught.value
    assert (error.status_code, error.code, error.count) == (status, "nope", min(count, stop))
    assert str(error.error) == f"HTTP {status}: first [nope] (request_id=req-1)"  # the first
    assert str(error) == (
        f"Stopped: {which} failed with HTTP {status}: first [nope] (request_id=req-1). "
        f"{HINTS[status]} No result was written for them; run again once it is fixed."
    )
    assert target.read_text() == ""


async def test_one_failing_request_stops_a_run_at_stop_on_setup_errors_1(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    target = tmp_path / "out.jsonl"
    server.error(401, "no", code="unauthorized", times=3)
    async with server.client(max_retries=0) as client:
        with pytest.raises(BatchStoppedError) as caught:
            await run_batch(client, source, target, max_concurrency=1, stop_on_setup_errors=1)
    assert caught.value.count == 1
    assert target.read_text() == ""


async def test_after_a_success_setup_errors_never_stop_the_run(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 4)
    target = tmp_path / "out.jsonl"
    server.reply("fine")
    server.error(401, "no", code="unauthorized", times=3)
    async with server.client(max_retries=0) as client:
        report = await run_batch(client, source, target, max_concurrency=1, stop_on_setup_errors=2)
    assert (report.succeeded, report.failed) == (1, 3)
    assert [r["error"]["code"] if r["error"] else None for r in results(target)] == [
        None,
        "unauthorized",
        "unauthorized",
        "unauthorized",
    ]
