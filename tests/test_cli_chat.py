"""`agentchat chat`: one answer streamed to the terminal, or a conversation in a terminal.

The command runs as a subprocess (as a user runs it) against a fake agent in a thread of the
test; the session runs in a pseudo-terminal with pexpect. Every wait is bounded.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentchat import ChatCompletion, ChatCompletionChunk
from agentchat._cli._render import (
    JsonLines,
    Styles,
    Terminal,
    colour_enabled,
    extras_lines,
    metadata_lines,
    usage_text,
)
from agentchat.testing import FakeAgentServer

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What is the capital of Portugal?"
ESC = "\x1b["

# `python -m agentchat`, with Ctrl-C handled as on a terminal even when the suite runs as a
# background job (SIGINT then arrives ignored, and Python installs no handler): see
# tests/test_batch.py.
WITH_CTRL_C = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('agentchat', run_name='__main__', alter_sys=True)"
)


@pytest.fixture
def server() -> Iterator[FakeAgentServer]:
    """The fake agent in a thread of its own: the command is another process."""
    with FakeAgentServer().in_thread() as fake:
        yield fake


def environment(home: Path, **variables: str) -> dict[str, str]:
    """The command's environment: none of the developer's settings, a home of its own (for
    the history file), no colour forced either way."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in {
            "AGENT_ACCESS_KEY",
            "AGENT_ENDPOINT",
            "MODEL_ACCESS_KEY",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "AGENTCHAT_MODEL",
            "AGENTCHAT_HISTORY_FILE",
            "NO_COLOR",
            "FORCE_COLOR",
        }
    }
    env["HOME"] = str(home)
    env.update(variables)
    return env


def agent_env(server: FakeAgentServer, home: Path, **variables: str) -> dict[str, str]:
    return environment(home, AGENT_ENDPOINT=server.url, AGENT_ACCESS_KEY=server.token, **variables)


def chat(
    *argv: str, env: dict[str, str], stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m agentchat chat ARGV`` (stdin: the text, or /dev/null: never the
    terminal the tests run in, which would start a session)."""
    return subprocess.run(
        [sys.executable, "-m", "agentchat", "chat", *argv],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error line on stderr: exactly one, no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("agentchat chat: "), done.stderr
    return lines[0]


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# -- one answer -------------------------------------------------------------------------------


def test_streams_the_answer_to_stdout_and_the_rest_to_stderr(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    done = chat(QUESTION, env=agent_env(server, tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Echo: {QUESTION}\n"  # only the answer: `> answer.txt` is clean
    assert "usage: 6 prompt + 7 completion = 13 tokens" in done.stderr
    assert ESC not in done.stdout + done.stderr  # not a terminal: no colour
    body = server.requests[-1].json()
    assert server.requests[-1].path == "/api/v1/chat/completions"
    assert body["messages"] == [{"role": "user", "content": QUESTION}]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "llama3.3-70b-instruct"  # an agent's default: it uses its own


def test_the_request_fields_come_from_the_flags(server: FakeAgentServer, tmp_path: Path) -> None:
    done = chat(
        "Hello", "there",  # several words are one prompt
        "--model", "my-model", "--system", "Answer in one word.", "--temperature", "0.2",
        "--max-tokens", "50", "--reasoning-effort", "low",
        env=agent_env(server, tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = server.requests[-1].json()
    assert body["messages"] == [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Hello there"},
    ]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("my-model", 0.2, 50)
    assert body["reasoning_effort"] == "low"
    assert not any(key.startswith("include_") for key in body)  # extras only when asked


def test_the_model_can_come_from_the_environment(server: FakeAgentServer, tmp_path: Path) -> None:
    done = chat("Hi", env=agent_env(server, tmp_path, AGENTCHAT_MODEL="from-env"))
    assert done.returncode == 0, done.stderr
    assert server.requests[-1].json()["model"] == "from-env"


def test_json_writes_each_chunk_as_a_line_of_json(server: FakeAgentServer, tmp_path: Path) -> None:
    done = chat("--json", QUESTION, env=agent_env(server, tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    chunks = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == f"Echo: {QUESTION}"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 13
    assert chunks[0]["choices"][0]["delta"]["content"] is None  # the server's JSON, nulls kept


def test_no_stream_asks_for_the_whole_answer(server: FakeAgentServer, tmp_path: Path) -> None:
    done = chat("--no-stream", QUESTION, env=agent_env(server, tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Echo: {QUESTION}\n"
    assert "usage: 6 prompt + 7 completion = 13 tokens" in done.stderr
    assert "stream" not in server.requests[-1].json()
    as_json = chat("--no-stream", "--json", QUESTION, env=agent_env(server, tmp_path))
    assert as_json.returncode == 0, as_json.stderr
    [line] = as_json.stdout.splitlines()
    completion = json.loads(line)
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == f"Echo: {QUESTION}"
    assert completion["usage"]["total_tokens"] == 13


def test_a_prompt_from_a_pipe(server: FakeAgentServer, tmp_path: Path) -> None:
    done = chat(env=agent_env(server, tmp_path), stdin="Summarise this:\nline one\nline two\n")
    assert done.returncode == 0, done.stderr
    sent = server.requests[-1].json()["messages"]
    assert sent == [{"role": "user", "content": "Summarise this:\nline one\nline two"}]
    assert done.stdout.startswith("Echo: Summarise this:")
    empty = chat(env=agent_env(server, tmp_path), stdin="  \n")
    assert empty.returncode == 2
    assert "empty" in one_line_error(empty)
    assert len(server.requests) == 1


def test_the_agent_extras_are_sent_and_shown(server: FakeAgentServer, tmp_path: Path) -> None:
    done = chat(
        "--include-retrieval-info", "--include-guardrails-info", "--include-functions-info",
        "--provide-citations", "--kb-filter", "kb-1:docs/manuals", "--kb-filter", "kb-2",
        QUESTION, env=agent_env(server, tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = server.requests[-1].json()
    for flag in ("include_retrieval_info", "include_guardrails_info", "include_functions_info"):
        assert body[flag] is True
    assert body["provide_citations"] is True
    assert body["kb_filters"] == [{"index": "kb-1", "path": "docs/manuals"}, {"index": "kb-2"}]
    assert done.stdout == f"Echo: {QUESTION}\n"
    assert "retrieved:        doc-1 from kb-fake (score 0.90)" in done.stderr
    assert "functions called: none" in done.stderr
    assert "guardrails:       none triggered" in done.stderr
    assert ESC not in done.stderr


def test_reasoning_tool_calls_and_citations_are_shown(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    head = {"id": "chatcmpl-r", "object": "chat.completion.chunk", "model": "thinker"}

    def delta(finish: str | None = None, **fields: Any) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}

    call = {"index": 0, "id": "call_1", "type": "function"}
    server.stream(
        events=[
            delta(role="assistant", reasoning_content="The user wants "),
            delta(reasoning_content="a capital."),
            delta(content="Lisbon."),
            delta(tool_calls=[{**call, "function": {"name": "get_map", "arguments": '{"city"'}}]),
            delta(
                "tool_calls", tool_calls=[{"index": 0, "function": {"arguments": ': "Lisbon"}'}}]
            ),
            {
                **head,
                "choices": [],
                "usage": {
                    "prompt_tokens": 9,
                    "completion_tokens": 20,
                    "total_tokens": 29,
                    "completion_tokens_details": {"reasoning_tokens": 12},
                },
                "citations": [{"title": "Atlas", "url": "https://example.com/atlas"}],
            },
        ]
    )
    done = chat(QUESTION, env=agent_env(server, tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Lisbon.\n"
    assert done.stderr.startswith("The user wants a capital.\n")  # before the answer
    assert 'tool call: get_map({"city": "Lisbon"})  [call_1]' in done.stderr
    assert "citation 1: Atlas https://example.com/atlas" in done.stderr
    assert "usage: 9 prompt + 20 completion = 29 tokens (12 reasoning)" in done.stderr


def test_quiet_shows_only_the_answer(server: FakeAgentServer, tmp_path: Path) -> None:
    done = chat("-q", "--include-retrieval-info", QUESTION, env=agent_env(server, tmp_path))
    assert (done.returncode, done.stdout, done.stderr) == (0, f"Echo: {QUESTION}\n", "")


def test_a_length_cut_is_noted(server: FakeAgentServer, tmp_path: Path) -> None:
    head = {"id": "c", "object": "chat.completion.chunk"}
    server.stream(
        events=[
            {**head, "choices": [{"index": 0, "delta": {"content": "Lis"}}]},
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
        ]
    )
    done = chat("--max-tokens", "1", QUESTION, env=agent_env(server, tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Lis\n"
    assert "cut short" in done.stderr and "finish_reason=length" in done.stderr


@pytest.mark.parametrize(
    ("variables", "colour"),
    [
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins
        ({"FORCE_COLOR": "0"}, False),
    ],
)
def test_colour_is_for_terminals_unless_forced(
    server: FakeAgentServer, tmp_path: Path, variables: dict[str, str], colour: bool
) -> None:
    done = chat(QUESTION, env=agent_env(server, tmp_path, **variables))
    assert done.returncode == 0, done.stderr
    assert (ESC in done.stderr) is colour
    assert done.stdout == f"Echo: {QUESTION}\n"  # the answer itself is never painted


# -- other servers ----------------------------------------------------------------------------


def test_serverless_inference_needs_a_model(server: FakeAgentServer, tmp_path: Path) -> None:
    env = environment(tmp_path, MODEL_ACCESS_KEY=server.token)
    done = chat("--serverless", "--endpoint", server.url, "--model", "m1", QUESTION, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Echo: {QUESTION}\n"
    assert server.requests[-1].path == "/v1/chat/completions"
    assert server.requests[-1].json()["model"] == "m1"
    missing = chat("--serverless", "--endpoint", server.url, QUESTION, env=env)
    assert missing.returncode == 2
    error = one_line_error(missing)
    assert "--serverless" in error and "--model" in error and "$AGENTCHAT_MODEL" in error
    assert len(server.requests) == 1  # nothing sent


def test_an_openai_compatible_server(server: FakeAgentServer, tmp_path: Path) -> None:
    env = environment(tmp_path, OPENAI_API_KEY=server.token)
    base = f"{server.url}/v1"
    done = chat("--base-url", base, "--model", "smol", "--json", QUESTION, env=env)
    assert done.returncode == 0, done.stderr
    assert all(json.loads(line)["model"] == "smol" for line in done.stdout.splitlines())
    assert server.requests[-1].path == "/v1/chat/completions"
    from_env = chat("--base-url", base, QUESTION, env={**env, "AGENTCHAT_MODEL": "env-model"})
    assert from_env.returncode == 0, from_env.stderr
    assert server.requests[-1].json()["model"] == "env-model"
    missing = chat("--base-url", base, QUESTION, env=env)
    assert missing.returncode == 2
    assert "--base-url" in one_line_error(missing) and "--model" in missing.stderr
    missing = chat(QUESTION, env={**env, "OPENAI_BASE_URL": base})
    assert missing.returncode == 2 and "$OPENAI_BASE_URL" in one_line_error(missing)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "flag",
    [
        ["--include-retrieval-info"],
        ["--include-guardrails-info"],
        ["--include-functions-info"],
        ["--provide-citations"],
        ["--kb-filter", "kb-1"],
    ],
)
@pytest.mark.parametrize("where", ["--serverless", "--base-url"])
def test_agent_only_flags_are_refused_for_other_servers(
    server: FakeAgentServer, tmp_path: Path, flag: list[str], where: str
) -> None:
    target = ["--serverless"] if where == "--serverless" else ["--base-url", f"{server.url}/v1"]
    env = environment(tmp_path, MODEL_ACCESS_KEY=server.token, OPENAI_API_KEY=server.token)
    done = chat(*target, "--model", "m", *flag, QUESTION, env=env)
    assert done.returncode == 2
    error = one_line_error(done)
    assert flag[0] in error and where in error and "agents only" in error
    assert server.requests == []


# -- errors and exit codes ------------------------------------------------------------------


def test_an_api_error_is_one_line_and_exit_1(server: FakeAgentServer, tmp_path: Path) -> None:
    server.respond(500, json={"id": "internal", "message": "The model crashed."})
    done = chat("--max-retries", "0", QUESTION, env=agent_env(server, tmp_path))
    assert done.returncode == 1
    assert "HTTP 500: The model crashed." in one_line_error(done)
    assert done.stdout == ""


def test_verbose_shows_the_request_log_with_each_retry(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    server.respond(503, json={"id": "unavailable", "message": "busy"}, headers={"retry-after": "0"})
    quiet = chat("--max-retries", "1", QUESTION, env=agent_env(server, tmp_path))
    assert quiet.returncode == 0 and "POST" not in quiet.stderr
    server.respond(503, json={"id": "unavailable", "message": "busy"}, headers={"retry-after": "0"})
    done = chat("-v", "--max-retries", "1", QUESTION, env=agent_env(server, tmp_path))
    assert done.returncode == 0
    log = [line for line in done.stderr.splitlines() if line.startswith("agentchat: POST")]
    # The failed attempt, the retry and its wait, then the answer, each one line.
    assert log[0].startswith("agentchat: POST /api/v1/chat/completions -> 503")
    assert any("failed (attempt 1" in line and "retrying in" in line for line in log)
    assert log[-1].startswith("agentchat: POST /api/v1/chat/completions -> 200")
    assert "(attempt 2," in log[-1]
    assert server.token not in done.stderr


def test_a_refused_key_says_which_to_check(server: FakeAgentServer, tmp_path: Path) -> None:
    env = environment(tmp_path, AGENT_ENDPOINT=server.url, AGENT_ACCESS_KEY="wrong")
    done = chat(QUESTION, env=env)
    assert done.returncode == 1
    error = one_line_error(done)
    assert "HTTP 401" in error and "$AGENT_ACCESS_KEY" in error and "wrong" not in error


def test_a_stream_cut_short_keeps_what_arrived_and_fails(
    server: FakeAgentServer, tmp_path: Path
) -> None:
    server.stream(stop_after=3, done=False, cut=True)
    done = chat("--max-retries", "0", "one two three four", env=agent_env(server, tmp_path))
    assert done.returncode == 1
    assert done.stdout == "Echo: one \n"  # what arrived, then the line is ended
    assert "agentchat chat: " in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--temperature", "hot"], "argument --temperature"),
        (["--max-tokens", "0"], "argument --max-tokens"),
        (["--reasoning-effort", "extreme"], "argument --reasoning-effort"),
        (["--kb-filter", ":path"], "argument --kb-filter"),
        (["--temperature", "5"], "temperature=5.0 is invalid"),  # refused by the client
    ],
)
def test_usage_errors_exit_2_before_sending(
    server: FakeAgentServer, tmp_path: Path, argv: list[str], expected: str
) -> None:
    done = chat(*argv, QUESTION, env=agent_env(server, tmp_path))
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert server.requests == []


def test_a_missing_key_or_endpoint_exits_2(server: FakeAgentServer, tmp_path: Path) -> None:
    no_key = chat(QUESTION, env=environment(tmp_path, AGENT_ENDPOINT=server.url))
    assert no_key.returncode == 2
    assert "$AGENT_ACCESS_KEY" in one_line_error(no_key)
    no_endpoint = chat(QUESTION, env=environment(tmp_path, AGENT_ACCESS_KEY="k"))
    assert no_endpoint.returncode == 2
    assert "$AGENT_ENDPOINT" in one_line_error(no_endpoint)
    no_model_key = chat("--serverless", "--model", "m", QUESTION, env=environment(tmp_path))
    assert no_model_key.returncode == 2 and "$MODEL_ACCESS_KEY" in one_line_error(no_model_key)


def test_ctrl_c_stops_the_answer_with_130_and_closes_the_connection(tmp_path: Path) -> None:
    long_text = " ".join(f"w{i}" for i in range(400))
    with FakeAgentServer(stream_delay=0.02).in_thread() as server:
        process = subprocess.Popen(
            [sys.executable, "-c", WITH_CTRL_C, "chat", long_text],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=agent_env(server, tmp_path),
            cwd=ROOT,
        )
        try:
            assert wait_for(lambda: server.open_streams == 1)
            time.sleep(0.3)  # some words are out
            process.send_signal(signal.SIGINT)
            interrupted = time.monotonic()
            stdout, stderr = process.communicate(timeout=20)
            took = time.monotonic() - interrupted
        finally:
            process.kill()
        assert process.returncode == 130, stderr
        assert stdout.startswith("Echo: w0 w1") and stdout.endswith("\n")
        assert len(stdout) < len(long_text)
        assert stderr == "agentchat chat: interrupted\n"
        assert took < 4  # the whole answer takes 8 s
        assert wait_for(lambda: server.open_streams == 0 and server.open_connections == 0, 5)


def test_demo_needs_no_account(tmp_path: Path) -> None:
    done = chat("--demo", "--no-stream", "Hi", env=environment(tmp_path))
    assert (done.returncode, done.stdout) == (0, "Echo: Hi\n"), done.stderr


# -- help and start-up --------------------------------------------------------------------------


def test_help_has_examples_and_loads_no_client(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from agentchat._cli import main\n"
        "try:\n"
        "    main(['chat', '--help'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('aiohttp', 'anyio', 'attrs', 'cattrs', 'orjson') or m in "
        "('agentchat._client', 'agentchat._sync', 'agentchat._cli._render'))\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment(tmp_path),
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr
    text = done.stdout
    for expected in (
        "examples:",
        "agentchat chat --demo",
        "--include-retrieval-info",
        "--kb-filter INDEX[:PATH]",
        "--reasoning-effort",
        "$AGENTCHAT_MODEL",
        "/save FILE",
        "exit codes:",
        "$AGENT_ACCESS_KEY",
    ):
        assert expected in text, expected
    via_m = chat("--help", env=environment(tmp_path))
    assert via_m.returncode == 0 and via_m.stdout == text


# -- the session, in a pseudo-terminal --------------------------------------------------------


class Session:
    """``agentchat chat`` in a pseudo-terminal; every expectation has a timeout."""

    def __init__(self, env: dict[str, str], *argv: str) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-c", WITH_CTRL_C, "chat", *argv],
            env=env,
            cwd=str(ROOT),
            timeout=15,
            encoding="utf-8",
            dimensions=(40, 200),
        )

    def expect(self, pattern: str) -> str:
        """Wait for ``pattern`` (literal text); returns what came before it."""
        self.child.expect_exact(pattern)
        return str(self.child.before)

    def prompt(self) -> str:
        return self.expect("> ")

    def ask(self, text: str) -> str:
        """Send a line, wait for the next prompt; returns what was shown in between."""
        self.child.sendline(text)
        return self.prompt()

    def close(self) -> None:
        self.child.close(force=True)


@pytest.fixture
def session_env(server: FakeAgentServer, tmp_path: Path) -> dict[str, str]:
    return agent_env(server, tmp_path, TERM="xterm", NO_COLOR="1")


def test_a_conversation_keeps_its_history(
    server: FakeAgentServer, tmp_path: Path, session_env: dict[str, str]
) -> None:
    session = Session(session_env, "--system", "Be brief.")
    try:
        banner = session.prompt()
        assert "/help" in banner and "Ctrl-D" in banner and server.url in banner
        assert "Echo: first question" in session.ask("first question")
        shown = session.ask("second question")
        assert "Echo: second question" in shown and "usage:" in shown
        assert server.requests[-1].json()["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "Echo: first question"},
            {"role": "user", "content": "second question"},
        ]
        info = session.ask("/info")
        for expected in ("model:", "id:", "chatcmpl-fake-2", "finish reason: stop"):
            assert expected in info, info
        for expected in ("request id:    req-2", "rate limit:", "attempts:", "elapsed:"):
            assert expected in info, info
        saved = tmp_path / "conversation.json"
        assert "saved 5 messages" in session.ask(f"/save {saved}")
        record = json.loads(saved.read_text())
        assert record["model"] == "llama3.3-70b-instruct"
        assert [m["role"] for m in record["messages"]] == [
            "system", "user", "assistant", "user", "assistant",
        ]  # fmt: skip
        assert record["messages"][-1] == {"role": "assistant", "content": "Echo: second question"}
        assert "cleared" in session.ask("/clear")
        session.ask("third question")
        assert server.requests[-1].json()["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "third question"},
        ]
        assert "/save FILE" in session.ask("/help")
        assert "unknown command /nope" in session.ask("/nope")
        session.ask("//slash")  # `//` sends a line that starts with `/`
        assert server.requests[-1].json()["messages"][-1]["content"] == "/slash"
        session.child.sendline("/exit")
        session.child.expect(pexpect.EOF)
        session.child.close()
        assert session.child.exitstatus == 0
    finally:
        session.close()
    assert (tmp_path / ".agentchat_history").exists()  # input history, in the home
    assert "third question" in (tmp_path / ".agentchat_history").read_text()
    assert (tmp_path / ".agentchat_history").stat().st_mode & 0o077 == 0


def test_ctrl_c_stops_an_answer_and_keeps_the_session(
    server: FakeAgentServer, session_env: dict[str, str]
) -> None:
    long_text = " ".join(f"w{i}" for i in range(400))
    session = Session(session_env)
    try:
        session.prompt()
        server.stream(interval=0.02)  # about 8 s for the whole answer
        session.child.sendline(long_text)
        session.expect("Echo: w0 w1 w2 w3 ")
        session.child.sendintr()
        shown = session.prompt()
        assert "[interrupted]" in shown
        # The server sees the connection closed, at once, while the session goes on (it was
        # the session's only connection: none is kept for reuse).
        assert wait_for(lambda: server.open_streams == 0 and server.open_connections == 0, 5)
        info = session.ask("/info")
        assert "finish reason: interrupted" in info and "request id:    req-1" in info
        session.ask("and then?")  # the partial answer is part of the conversation
        messages = server.requests[-1].json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        partial = messages[1]["content"]
        assert partial.startswith("Echo: w0 w1 w2 w3 ") and len(partial) < len(long_text)
        # exactly the text that was on the screen (where the terminal echoed ^C in it)
        rest = shown.split("[interrupted]")[0].replace("^C", "").replace("\r\n", "")
        assert partial == "Echo: w0 w1 w2 w3 " + rest
        session.child.send("half a line")
        session.expect("half a line")
        # (A Ctrl-C that lands while readline is busy echoing a key is only seen at the next
        # key, a CPython limitation; a person never types that fast. Let it settle first.)
        time.sleep(0.2)
        session.child.sendintr()  # Ctrl-C at the prompt: a new prompt
        session.prompt()
        assert len(server.requests) == 2
        session.child.sendeof()  # Ctrl-D: quit with 0
        session.child.expect(pexpect.EOF)
        session.child.close()
        assert session.child.exitstatus == 0
    finally:
        session.close()


def test_an_api_error_keeps_the_session_and_not_the_turn(
    server: FakeAgentServer, session_env: dict[str, str]
) -> None:
    session = Session(session_env, "--max-retries", "0")
    try:
        session.prompt()
        session.ask("hello")
        server.respond(500, json={"id": "internal", "message": "The model crashed."})
        shown = session.ask("doomed")
        assert "HTTP 500: The model crashed." in shown and "not kept" in shown
        session.ask("again")
        assert [m["content"] for m in server.requests[-1].json()["messages"]] == [
            "hello",
            "Echo: hello",
            "again",
        ]
        session.child.sendeof()
        session.child.expect(pexpect.EOF)
        session.child.close()
        assert session.child.exitstatus == 0
    finally:
        session.close()


def test_a_session_is_coloured_on_a_terminal(server: FakeAgentServer, tmp_path: Path) -> None:
    env = agent_env(server, tmp_path, TERM="xterm", AGENTCHAT_HISTORY_FILE="")
    session = Session(env)
    try:
        banner = session.prompt()
        assert f"{ESC}2m" in banner  # the banner is dimmed
        session.child.sendeof()
        session.child.expect(pexpect.EOF)
        session.child.close()
        assert session.child.exitstatus == 0
    finally:
        session.close()
    assert not (tmp_path / ".agentchat_history").exists()  # an empty name: no history file


def test_a_refused_setting_ends_the_session_with_2(
    server: FakeAgentServer, session_env: dict[str, str]
) -> None:
    session = Session(session_env, "--temperature", "5")
    try:
        session.prompt()
        session.child.sendline("hello")
        session.expect("temperature=5.0 is invalid")
        session.child.expect(pexpect.EOF)
        session.child.close()
        assert session.child.exitstatus == 2
    finally:
        session.close()
    assert server.requests == []


# -- rendering, in process ------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_rules() -> None:
    tty, pipe = FakeTTY(), io.StringIO()
    assert colour_enabled(tty, {}) and not colour_enabled(pipe, {})
    assert not colour_enabled(tty, {"NO_COLOR": "1"})
    assert colour_enabled(tty, {"NO_COLOR": ""})  # set but empty: not set
    assert colour_enabled(pipe, {"FORCE_COLOR": "1"})
    assert not colour_enabled(pipe, {"FORCE_COLOR": "0"})
    assert not colour_enabled(pipe, {"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert not colour_enabled(tty, {"TERM": "dumb"})
    assert Styles(False).dim("x") == "x" and Styles(True).dim("x") == "\x1b[2mx\x1b[0m"
    assert Styles(True).prompt("> ") == "\001\x1b[1;32m\002> \001\x1b[0m\002"


def completion_of(**fields: Any) -> ChatCompletion:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]}
    return ChatCompletion.from_dict({**body, **fields})


def test_usage_and_extras_text() -> None:
    assert usage_text(None) is None
    usage = completion_of(
        usage={
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 2},
        }
    ).usage
    assert usage_text(usage) == "3 prompt + 4 completion = 7 tokens (2 cached)"
    completion = completion_of(
        retrieval={"retrieved_data": []},
        functions={"called_functions": ["lookup", "route"]},
        guardrails={"triggered_guardrails": [{"rule_name": "pii", "message": "redacted"}]},
        citations=["https://example.com/a", {"n": 1}],
    )
    assert extras_lines(completion) == [
        ("retrieved", "nothing"),
        ("functions called", "lookup, route"),
        ("guardrail", "pii: redacted"),
        ("citation 1", "https://example.com/a"),
        ("citation 2", '{"n": 1}'),
    ]
    info = dict(metadata_lines(completion, None, elapsed=1.5, chunks=None, interrupted=False))
    assert info["usage"] == "not sent" and info["elapsed"] == "1.500 s"


def test_the_terminal_never_mixes_two_streams_on_one_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    both: list[str] = []

    class Shared(io.StringIO):
        """A stream that also records the order of writes across the two."""

        def __init__(self, name: str, target: io.StringIO) -> None:
            super().__init__()
            self.name, self.target = name, target

        def write(self, text: str) -> int:
            both.append(text)
            return self.target.write(text)

    terminal = Terminal(Shared("out", out), Shared("err", err))
    completion = completion_of(
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Lisbon", "reasoning_content": "Hm"},
            }
        ],
        usage={"total_tokens": 5},
    )
    terminal.completion(completion)
    terminal.end(completion, interrupted=False)
    assert out.getvalue() == "Lisbon\n"
    assert err.getvalue() == "Hm\n\nusage: 5 tokens\n"
    assert "".join(both) == "Hm\n\nLisbon\nusage: 5 tokens\n"
    written = io.StringIO()
    JsonLines(written).chunk(ChatCompletionChunk(), '{"a":\n1}')
    assert written.getvalue() == '{"a": 1}\n'
