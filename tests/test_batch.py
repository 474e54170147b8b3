"""Batch files and the `agentchat batch` command: JSONL in, JSONL out, resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agentchat import BatchInputError, run_batch
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
