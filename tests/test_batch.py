"""Batch files and the `agentchat batch` command: JSONL in, JSONL out, resumable."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentchat import (
    AgentClient,
    AsyncAgentClient,
    BatchInputError,
    BatchReport,
    BatchStoppedError,
    run_batch,
)
from agentchat._cli import main
from agentchat.testing import FakeAgentServer

ROOT = Path(__file__).resolve().parents[1]


def line(custom_id: str, text: str, **body: Any) -> str:
    record = {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": text}], **body},
    }
    return json.dumps(record) + "\n"


def write_input(path: Path, count: int, extra: str = "") -> Path:
    path.write_text("".join(line(f"req-{i}", f"question {i}") for i in range(count)) + extra)
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text().splitlines()]


# -- the function -------------------------------------------------------------------------------


async def test_every_line_gets_one_result_in_the_batch_output_format(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 40)
    target = tmp_path / "out.jsonl"
    async with server.client() as client:
        report = await run_batch(client, source, target, max_concurrency=8)
    assert (report.total, report.succeeded, report.failed, report.skipped) == (40, 40, 0, 0)
    assert report.exit_code == 0
    lines = results(target)
    assert sorted(r["custom_id"] for r in lines) == sorted(f"req-{i}" for i in range(40))
    first = next(r for r in lines if r["custom_id"] == "req-7")
    assert first["error"] is None
    assert first["id"].startswith("batch_req_")
    response = first["response"]
    assert response["status_code"] == 200 and response["request_id"].startswith("req-")
    assert response["body"]["choices"][0]["message"]["content"] == "Echo: question 7"
    assert response["body"]["object"] == "chat.completion"


async def test_failed_requests_are_recorded_and_can_be_retried(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 5)
    target = tmp_path / "out.jsonl"
    server.respond(400, json={"id": "bad_request", "message": "nope"})
    async with server.client(max_retries=0) as client:
        report = await run_batch(client, source, target, max_concurrency=1)
        assert (report.succeeded, report.failed, report.exit_code) == (4, 1, 1)
        failed = [r for r in results(target) if r["error"] is not None]
        assert failed[0]["error"]["code"] == "bad_request"
        assert failed[0]["response"]["status_code"] == 400
        assert failed[0]["response"]["body"] == {"id": "bad_request", "message": "nope"}
        again = await run_batch(client, source, target)  # nothing left to do
        assert (again.skipped, again.succeeded, again.failed) == (5, 0, 0)
        retried = await run_batch(client, source, target, retry_failed=True)
        assert (retried.skipped, retried.succeeded) == (4, 1)


async def test_malformed_lines_are_reported_by_number_and_the_rest_runs(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        line("a", "one")
        + "{not json\n"
        + "\n"
        + json.dumps({"custom_id": "c", "method": "GET", "url": "/v1/chat/completions", "body": {}})
        + "\n"
        + json.dumps({"custom_id": "d", "url": "/v1/embeddings", "body": {"model": "m"}})
        + "\n"
        + json.dumps({"method": "POST", "body": {"model": "m", "messages": []}})
        + "\n"
        + line("g", "two", timeout=3)
        + line("h", "three")
    )
    target = tmp_path / "out.jsonl"
    async with server.client() as client:
        report = await run_batch(client, source, target)
    assert [number for number, _ in report.malformed] == [2, 4, 5, 6, 7]
    problems = dict(report.malformed)
    assert "not valid JSON" in problems[2]
    assert "POST" in problems[4]
    assert "chat-completions" in problems[5]
    assert "custom_id" in problems[6]
    assert "timeout" in problems[7]
    assert sorted(r["custom_id"] for r in results(target)) == ["a", "h"]
    assert report.exit_code == 2


async def test_duplicate_custom_ids_fail_before_anything_is_sent(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(line("x", "1") + line("y", "2") + line("x", "3"))
    async with server.client() as client:
        with pytest.raises(BatchInputError, match=r"'x' \(lines 1 and 3\)"):
            await run_batch(client, source, tmp_path / "out.jsonl")
    assert server.requests == []


async def test_unknown_body_fields_are_passed_through(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(line("a", "hi", temperature=0.3, future_option={"x": 1}))
    async with server.client() as client:
        await run_batch(client, source, tmp_path / "out.jsonl")
    sent = server.requests[0].json()
    assert sent["temperature"] == 0.3 and sent["future_option"] == {"x": 1}


async def test_a_half_written_last_line_is_cut_off_and_rerun(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    target = tmp_path / "out.jsonl"
    target.write_text(
        json.dumps({"custom_id": "req-0", "response": {"status_code": 200}, "error": None})
        + '\n{"custom_id": "req-1", "respo'
    )
    async with server.client() as client:
        report = await run_batch(client, source, target)
    assert (report.skipped, report.succeeded) == (1, 2)
    assert Counter(r["custom_id"] for r in results(target)) == Counter(
        {"req-0": 1, "req-1": 1, "req-2": 1}
    )


def snapshot(path: Path, ever: dict[str, str]) -> list[dict[str, Any]]:
    """The output's lines, checking that each custom_id appears once and that no id ever
    named two different lines (in this file or in any earlier state of it)."""
    texts = path.read_text().splitlines()
    lines = [json.loads(text) for text in texts]
    assert len({r["custom_id"] for r in lines}) == len(lines), "a custom_id appears twice"
    for text, record in zip(texts, lines, strict=True):
        assert ever.setdefault(record["id"], text) == text, f"{record['id']} was reused"
    return lines


async def test_retrying_failed_lines_leaves_one_line_per_custom_id_and_ids_unique(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 6)
    target = tmp_path / "out.jsonl"
    ever: dict[str, str] = {}
    server.respond(400, json={"id": "bad_request", "message": "no"}, times=2)
    async with server.client(max_retries=0) as client:
        first = await run_batch(client, source, target, max_concurrency=1)
        assert (first.succeeded, first.failed) == (4, 2)
        lines = snapshot(target, ever)
        assert sorted(r["custom_id"] for r in lines if r["error"]) == ["req-0", "req-1"]

        server.respond(400, json={"id": "bad_request", "message": "still no"})  # one again
        again = await run_batch(client, source, target, max_concurrency=1, retry_failed=True)
        assert (again.skipped, again.succeeded, again.failed) == (4, 1, 1)
        lines = snapshot(target, ever)  # the failed lines were replaced, not added to
        assert len(lines) == 6
        assert [r["error"]["message"] for r in lines if r["error"]] == [
            "HTTP 400: still no [bad_request]"
        ]

        last = await run_batch(client, source, target, retry_failed=True)
        assert (last.skipped, last.succeeded, last.failed) == (5, 1, 0)
    lines = snapshot(target, ever)
    assert sorted(r["custom_id"] for r in lines) == [f"req-{i}" for i in range(6)]
    assert all(r["error"] is None for r in lines)
    assert len(ever) == 6 + 2 + 1  # every line ever written had an id of its own


async def test_retry_keeps_failed_lines_of_ids_not_in_the_input(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    target = tmp_path / "out.jsonl"
    other = {
        "id": "batch_req_00000007",
        "custom_id": "elsewhere",
        "response": None,
        "error": {"code": "timeout", "message": "t"},
    }
    target.write_text(json.dumps(other) + "\n")
    async with server.client() as client:
        report = await run_batch(client, source, target, retry_failed=True)
    assert (report.succeeded, report.skipped) == (2, 0)
    lines = results(target)
    assert lines[0] == other  # not run again (not in the input), so kept as it was
    assert [r["id"] for r in lines[1:]] == ["batch_req_00000008", "batch_req_00000009"]


async def test_the_retry_rewrite_is_atomic(
    server: FakeAgentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    target = tmp_path / "out.jsonl"
    server.respond(400, json={"id": "bad_request", "message": "no"})
    async with server.client(max_retries=0) as client:
        await run_batch(client, source, target, max_concurrency=1)
        before = target.read_bytes()

        def crash(*args: Any) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="disk full"):
            await run_batch(client, source, target, retry_failed=True)
    assert target.read_bytes() == before  # untouched
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "out.jsonl"]  # no temp file left
    assert len(server.requests) == 3  # nothing was sent by the failed run


async def test_error_codes_are_stable_names_not_class_names(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(line("local", "1", temperature=9) + line("slow", "2") + line("reset", "3"))
    target = tmp_path / "out.jsonl"
    server.respond(200, json={}, delay=2)
    server.respond(200, json={}, fault="reset", times=2)  # the first is re-sent, uncounted
    async with server.client(max_retries=0, timeout=0.3) as client:
        report = await run_batch(client, source, target, max_concurrency=1)
    assert report.failed == 3
    codes = {r["custom_id"]: r["error"]["code"] for r in results(target)}
    assert codes == {"local": "invalid_request", "slow": "timeout", "reset": "connection_error"}
    assert (
        "temperature=9"
        in next(r for r in results(target) if r["custom_id"] == "local")["error"]["message"]
    )


# -- durability: what is on disk while the run goes on ------------------------------------------


def record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, int, int]]:
    """Every ``os.fsync`` from now on, as (when, the file's inode, its size then); each is
    still done."""
    calls: list[tuple[float, int, int]] = []
    fsync = os.fsync

    def recorded(fd: int) -> None:
        stat = os.fstat(fd)
        calls.append((time.monotonic(), stat.st_ino, stat.st_size))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recorded)
    return calls


async def _eventually(condition: Callable[[], bool], what: str, within: float = 1.0) -> None:
    """Wait for ``condition()`` to hold (it should at once); fail with ``what`` if it does
    not within ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        await asyncio.sleep(0.005)


async def test_finished_results_reach_the_file_while_the_run_goes_on(
    server: FakeAgentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = record_fsyncs(monkeypatch)
    source = write_input(tmp_path / "in.jsonl", 10)
    target = tmp_path / "out.jsonl"
    server.reply("fine", times=4)
    server.delay(30)  # the fifth request is held: the run is midway
    async with server.client(max_retries=0) as client:
        run = asyncio.ensure_future(
            run_batch(client, source, target, max_concurrency=1, fsync_interval=3600)
        )
        try:
            await _eventually(lambda: len(server.requests) == 5, "the fifth request never came")
            # Read as another process would: a handle of its own, while the run is held.
            await _eventually(
                lambda: target.read_bytes().count(b"\n") == 4,
                "the 4 finished results are not in the file (still in a buffer?)",
            )
            written = target.read_bytes()
        finally:
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
    assert written.endswith(b"\n")  # whole lines only
    lines = [json.loads(text) for text in written.splitlines()]
    assert [r["custom_id"] for r in lines] == [f"req-{i}" for i in range(4)]
    assert all(r["response"]["body"]["choices"][0]["message"]["content"] == "fine" for r in lines)
    # Stopped (as by Ctrl-C): what finished stays, nothing more, and it was fsync'd on the way
    # out (the interval, an hour, never came).
    assert target.read_bytes() == written
    inode = target.stat().st_ino
    ours = [size for _, node, size in syncs if node == inode]
    assert ours == [len(written)], f"the output's fsyncs saw {ours} bytes, not {len(written)}"


async def test_the_output_is_fsynced_once_per_interval_and_at_the_end(
    server: FakeAgentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = record_fsyncs(monkeypatch)
    source = write_input(tmp_path / "in.jsonl", 20)
    target = tmp_path / "out.jsonl"
    server.response_delay = 0.02  # one at a time: the run lasts at least 0.4 s, 8 intervals
    interval = 0.05
    async with server.client() as client:
        report = await run_batch(client, source, target, max_concurrency=1, fsync_interval=interval)
    assert report.succeeded == 20
    final = target.read_bytes()
    inode = target.stat().st_ino
    ours = [(at, size) for at, node, size in syncs if node == inode]
    assert ours, "the output was never fsync'd"
    *during, (_, last_size) = ours
    assert last_size == len(final)  # at the end, with every line
    # During the run: every interval or so, not for every line, each time with whole lines.
    assert len(during) >= 3, f"{len(during)} fsyncs in a run of 8 intervals or more"
    times = [at for at, _ in during]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= interval, f"fsync'd more often than every {interval} s: {gaps}"
    sizes = [size for _, size in during]
    whole = all(size > 0 and final[size - 1 : size] == b"\n" for size in sizes)
    assert whole, f"the fsyncs saw {sizes} bytes: not whole lines (a line left in a buffer?)"
    assert sizes == sorted(set(sizes))  # more each time


# -- stopping early when every request fails the same way ---------------------------------------


async def test_a_wrong_key_stops_the_run_with_one_error(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 500)
    target = tmp_path / "out.jsonl"
    async with FakeAgentServer() as server, AsyncAgentClient("wrong", server.url) as client:
        with pytest.raises(BatchStoppedError) as caught:
            await run_batch(client, source, target, max_concurrency=4)
    error = caught.value
    assert (error.status_code, error.code, error.count) == (401, "unauthorized", 10)
    assert "HTTP 401" in str(error) and "AGENT_ACCESS_KEY" in str(error)
    assert target.read_text() == ""  # no error line per input
    assert len(server.requests) < 10 + 2 * 4  # stopped, not run to the end


@pytest.mark.parametrize("status", [403, 404])
async def test_a_short_run_that_all_fails_the_same_way_stops_too(
    server: FakeAgentServer, tmp_path: Path, status: int
) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    target = tmp_path / "out.jsonl"
    server.respond(status, json={"id": "nope", "message": "no"}, times=3)
    async with server.client() as client:
        with pytest.raises(BatchStoppedError, match=f"all 3 requests .* HTTP {status}"):
            await run_batch(client, source, target)
        assert target.read_text() == ""
        report = await run_batch(client, source, target)  # fixed: the same lines run
    assert report.succeeded == 3


async def test_no_early_stop_once_something_succeeded_or_the_status_differs(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", 30)
    target = tmp_path / "out.jsonl"
    server.respond(404, json={"id": "not_found", "message": "no model"}, times=5)
    server.respond(401, json={"id": "unauthorized", "message": "no"}, times=1)
    server.respond(404, json={"id": "not_found", "message": "no model"}, times=5)
    async with server.client() as client:
        report = await run_batch(client, source, target, max_concurrency=1)
        assert (report.succeeded, report.failed) == (19, 11)  # every line has its result
        assert len(results(target)) == 30
        server.respond(404, json={"id": "not_found", "message": "no model"}, times=50)
        off = await run_batch(
            client,
            write_input(tmp_path / "b.jsonl", 20),
            tmp_path / "b.out",
            stop_on_setup_errors=None,
        )
    assert off.failed == 20


# -- the sync client --------------------------------------------------------------------------


def test_run_batch_with_the_sync_client(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 30)
    target = tmp_path / "out.jsonl"
    with (
        FakeAgentServer().in_thread() as server,
        AgentClient(server.token, server.url) as client,
    ):
        server.respond(400, json={"id": "bad_request", "message": "no"})
        report = run_batch(client, source, target, max_concurrency=4)
        assert isinstance(report, BatchReport)
        assert (report.succeeded, report.failed) == (29, 1)
        retried = run_batch(client, source, target, retry_failed=True)
        assert (retried.skipped, retried.succeeded) == (29, 1)
    assert sorted(r["custom_id"] for r in results(target)) == sorted(f"req-{i}" for i in range(30))


# -- the command ---------------------------------------------------------------------------------


def test_help_and_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentchat", "batch", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0
    assert "Batch-API JSONL" in done.stdout and "--concurrency" in done.stdout


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["batch", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for expected in (
        "at most this many requests at once (default: 16)",
        "(default: 2)",
        "(default: no limit)",
        "(default: $AGENT_ENDPOINT)",
        "$AGENT_ACCESS_KEY",
    ):
        assert expected in text, expected


@pytest.mark.parametrize(
    ("flag", "value"), [("--concurrency", "0"), ("--max-retries", "-1"), ("--timeout", "0")]
)
def test_a_bad_number_names_its_flag(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["batch", "in.jsonl", "-o", "out.jsonl", flag, value])
    assert done.value.code == 2
    assert f"argument {flag}: " in capsys.readouterr().err


def test_a_missing_endpoint_or_key_names_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_input(tmp_path / "in.jsonl", 1)
    out = str(tmp_path / "out.jsonl")
    monkeypatch.setenv("AGENT_ACCESS_KEY", "k")
    assert main(["batch", str(good), "-o", out]) == 2
    error = capsys.readouterr().err
    assert "--endpoint" in error and "$AGENT_ENDPOINT" in error
    monkeypatch.delenv("AGENT_ACCESS_KEY")
    assert main(["batch", str(good), "-o", out, "--endpoint", "http://127.0.0.1:9"]) == 2
    error = capsys.readouterr().err
    assert "$AGENT_ACCESS_KEY" in error and "token=" not in error
    assert error.count("\n") == 1  # one line, no traceback


def test_a_wrong_key_stops_the_command_with_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_input(tmp_path / "in.jsonl", 200)
    target = tmp_path / "out.jsonl"
    with FakeAgentServer().in_thread() as server:
        monkeypatch.setenv("AGENT_ACCESS_KEY", "not-the-key")
        monkeypatch.setenv("AGENT_ENDPOINT", server.url)
        assert main(["batch", str(source), "-o", str(target), "--no-progress"]) == 2
        sent = len(server.requests)
        error = capsys.readouterr().err
        assert "HTTP 401" in error and "$AGENT_ACCESS_KEY" in error and "Traceback" not in error
        assert target.read_text() == ""
        assert sent < 10 + 2 * 16
        argv = ["batch", str(source), "-o", str(target), "--no-progress", "--no-early-stop"]
        assert main(argv) == 1  # asked for: a failed line for every request
    assert [r["error"]["code"] for r in results(target)] == ["unauthorized"] * 200


def test_command_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAgentServer().in_thread() as server:
        monkeypatch.setenv("AGENT_ACCESS_KEY", server.token)
        monkeypatch.setenv("AGENT_ENDPOINT", server.url)
        good = write_input(tmp_path / "good.jsonl", 5)
        assert main(["batch", str(good), "-o", str(tmp_path / "a.jsonl")]) == 0
        bad = write_input(tmp_path / "bad.jsonl", 2, extra="oops\n")
        assert main(["batch", str(bad), "-o", str(tmp_path / "b.jsonl")]) == 2
        server.respond(400, json={"id": "bad_request", "message": "no"})
        failing = write_input(tmp_path / "f.jsonl", 1)
        argv = ["batch", str(failing), "-o", str(tmp_path / "c.jsonl"), "--max-retries", "0"]
        assert main(argv) == 1
        monkeypatch.delenv("AGENT_ACCESS_KEY")
        assert main(["batch", str(good), "-o", str(tmp_path / "d.jsonl")]) == 2


# `python -m agentchat`, handling Ctrl-C as on a terminal even when the suite runs as a
# background job (`nox -s tests &`, some CI runners): the shell then starts it with SIGINT
# ignored, Python installs no KeyboardInterrupt handler, and the command rightly keeps the
# inherited disposition.
AGENTCHAT_WITH_CTRL_C = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('agentchat', run_name='__main__', alter_sys=True)"
)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_killed_mid_run_then_resumed_loses_and_repeats_nothing(tmp_path: Path, how: str) -> None:
    count = 300
    source = write_input(tmp_path / "in.jsonl", count)
    target = tmp_path / "out.jsonl"
    with FakeAgentServer(response_delay=0.02).in_thread() as server:
        env = {**os.environ, "AGENT_ACCESS_KEY": server.token, "AGENT_ENDPOINT": server.url}
        command = [
            sys.executable, "-c", AGENTCHAT_WITH_CTRL_C, "batch", str(source), "-o", str(target),
            "--concurrency", "8", "--no-progress",
        ]  # fmt: skip
        process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if target.exists() and target.read_text().count("\n") >= 50:
                break
            time.sleep(0.01)
        process.send_signal(getattr(signal, how))
        _, stderr = process.communicate(timeout=20)
        if how == "SIGINT":
            assert process.returncode == 130, stderr
            assert "run again to resume" in stderr
        else:
            assert process.returncode == -signal.SIGKILL
        partial = target.read_text().count("\n")
        assert 50 <= partial < count
        resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        assert "already done" in resumed.stderr
    ids = Counter(r["custom_id"] for r in results(target))
    assert ids == Counter(f"req-{i}" for i in range(count))  # none missing, none twice
    assert all(r["error"] is None for r in results(target))


def test_a_retry_killed_mid_run_then_resumed_loses_and_repeats_nothing(tmp_path: Path) -> None:
    count = 300
    source = write_input(tmp_path / "in.jsonl", count)
    target = tmp_path / "out.jsonl"
    failed = {"code": "unavailable", "message": "HTTP 503"}
    target.write_text(
        "".join(
            json.dumps({"id": f"batch_req_{i + 1:08d}", "custom_id": f"req-{i}", "error": failed})
            + "\n"
            for i in range(count)
        )
    )
    with FakeAgentServer(response_delay=0.02).in_thread() as server:
        env = {**os.environ, "AGENT_ACCESS_KEY": server.token, "AGENT_ENDPOINT": server.url}
        command = [
            sys.executable, "-m", "agentchat", "batch", str(source), "-o", str(target),
            "--concurrency", "8", "--no-progress", "--retry-failed",
        ]  # fmt: skip
        process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if target.read_text().count('"error":null') >= 50:
                break
            time.sleep(0.01)
        process.kill()
        process.communicate(timeout=20)
        ever: dict[str, str] = {}
        partial = snapshot(target, ever)  # the failed lines are gone, not doubled
        assert 50 <= len(partial) < count and all(r["error"] is None for r in partial)
        resumed = subprocess.run(command[:-1], env=env, cwd=ROOT, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
    final = snapshot(target, ever)  # each custom_id once, no id reused across the runs
    assert sorted(r["custom_id"] for r in final) == sorted(f"req-{i}" for i in range(count))
    assert all(r["error"] is None for r in final)
    assert min(int(r["id"].removeprefix("batch_req_")) for r in final) > count
