"""Fan-out and batch files against a real llama-server with 4 slots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentchat import MessageParam

from .clients import MODEL, Chat, kinds


def numbered(i: int) -> list[MessageParam]:
    # One shared prefix: llama-server's prompt cache leaves only the last tokens to read.
    return [{"role": "user", "content": f"Repeat this number: {i}"}]


@kinds("agent", "openai")
async def test_fan_out(chat: Chat) -> None:
    """50 short requests over the server's 4 slots, at most 8 in flight."""
    requests = [
        {"model": MODEL, "messages": numbered(i), "max_tokens": 3, "temperature": 0}
        for i in range(50)
    ]
    outcomes = await chat.create_all(requests, max_concurrency=8)

    assert len(outcomes) == 50
    assert [o.index for o in outcomes] == list(range(50))
    failures = [(o.index, o.error) for o in outcomes if not o.ok]
    assert not failures, failures
    for outcome in outcomes:
        completion = outcome.result()
        assert completion.response.status == 200
        assert completion.choices[0].message.content
        assert completion.choices[0].finish_reason in ("stop", "length")
    # Every request was a call of its own.
    assert len({o.result().id for o in outcomes}) == 50


@kinds("agent", "inference")
async def test_batch_file(chat: Chat, tmp_path: Path) -> None:
    """A Batch-API file of 20 lines through run_batch: 20 results, all 200."""
    source = tmp_path / "requests.jsonl"
    output = tmp_path / "results.jsonl"
    lines = [
        {
            "custom_id": f"line-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": numbered(i), "max_tokens": 3, "temperature": 0},
        }
        for i in range(20)
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    report = await chat.run_batch(source, output, max_concurrency=8)

    assert (report.total, report.succeeded, report.failed, report.skipped) == (20, 20, 0, 0)
    assert report.malformed == () and report.exit_code == 0
    results: list[dict[str, Any]] = [
        json.loads(text) for text in output.read_text(encoding="utf-8").splitlines()
    ]
    assert len(results) == 20
    assert {r["custom_id"] for r in results} == {f"line-{i}" for i in range(20)}
    assert len({r["id"] for r in results}) == 20
    for result in results:
        assert result["error"] is None, result
        assert result["response"]["status_code"] == 200
        body = result["response"]["body"]
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"]
