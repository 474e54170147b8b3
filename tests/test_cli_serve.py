"""``agentchat serve``: the fake agent as a process, called the way other programs would.

Each test starts the command as a subprocess on a free port, reads the lines it prints (with
a bounded wait) and calls it with agentchat's own clients; the process is killed in a
``finally`` whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import pytest

from agentchat import (
    AsyncAgentClient,
    AsyncInferenceClient,
    AsyncOpenAICompatibleClient,
    AuthenticationError,
    InternalServerError,
    MessageParam,
    RateLimitError,
)
from agentchat._cli import main
from agentchat._cli._serve import SHUTDOWN_GRACE

ROOT = Path(__file__).resolve().parents[1]
PING: list[MessageParam] = [{"role": "user", "content": "ping"}]
ENV_NAMES = [
    "AGENT_ENDPOINT",
    "AGENT_ACCESS_KEY",
    "MODEL_ACCESS_KEY",
    "INFERENCE_ENDPOINT",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
]
#: Stopping with signals as a parent process does (SIGTERM, SIGINT) is POSIX.
posix_signals = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
#: The longest any step of these tests waits for the process.
BOUND = 15.0

# `python -m agentchat` with SIGINT handled (or ignored) as asked, whatever the disposition
# the suite was started with: a background job (`nox -s tests &`) starts with SIGINT ignored,
# and the command rightly keeps what it inherits.
WITH_SIGINT = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, getattr(signal, sys.argv.pop(1))); "
    "runpy.run_module('agentchat', run_name='__main__', alter_sys=True)"
)


class Served(NamedTuple):
    """A running ``agentchat serve``: the process and what it printed."""

    process: subprocess.Popen[str]
    lines: list[str]
    url: str
    key: str


def _command(*flags: str, sigint: str | None = None) -> list[str]:
    """``agentchat serve --port 0 FLAGS``; ``sigint`` sets SIGINT's handler first."""
    if sigint is None:
        return [sys.executable, "-m", "agentchat", "serve", "--port", "0", *flags]
    return [sys.executable, "-c", WITH_SIGINT, sigint, "serve", "--port", "0", *flags]


def _reader(stream: IO[str]) -> queue.SimpleQueue[str | None]:
    """The lines of ``stream`` as they come (``None`` at its end), read by a thread so that
    every wait for them can be bounded."""
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _read_lines(
    process: subprocess.Popen[str], count: int, stream: IO[str] | None = None
) -> list[str]:
    """The first ``count`` lines the process prints on ``stream`` (default: stdout), waiting
    at most :data:`BOUND` seconds."""
    source = stream or process.stdout
    assert source is not None
    lines = _reader(source)
    got: list[str] = []
    deadline = time.monotonic() + BOUND
    while len(got) < count:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        got.append(line)
    if len(got) < count:
        process.kill()
        _, stderr = process.communicate(timeout=BOUND)
        pytest.fail(f"agentchat serve printed {got!r}; stderr: {stderr}")
    return got


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait (bounded) for the process to end; its exit code and stderr."""
    try:
        _, stderr = process.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate(timeout=BOUND)
        pytest.fail(f"agentchat serve did not stop; stderr: {stderr}")
    return process.returncode, stderr


@contextlib.contextmanager
def serve(*flags: str, sigint: str | None = None) -> Iterator[Served]:
    """Run ``agentchat serve --port 0 FLAGS`` for the ``with`` block; killed at its end."""
    process = subprocess.Popen(
        _command(*flags, sigint=sigint),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    try:
        if "--json" in flags:
            lines = _read_lines(process, 1)
            document = json.loads(lines[0])
            yield Served(process, lines, document["url"], document["key"])
        else:
            lines = _read_lines(process, len(ENV_NAMES))
            env = dict(line.split("=", 1) for line in lines)
            yield Served(process, lines, env["AGENT_ENDPOINT"], env["AGENT_ACCESS_KEY"])
    finally:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
            process.communicate(timeout=BOUND)


async def _ask(client: AsyncAgentClient) -> str | None:
    completion = await client.agent.chat.completions.create(model="m", messages=PING)
    return completion.choices[0].message.content


def _post(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """A bare HTTP call, as a program that does not use agentchat makes it."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=BOUND) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def _health(url: str) -> Any:
    """``GET /health``, decoded."""
    with urllib.request.urlopen(url + "/health", timeout=BOUND) as response:
        return json.load(response)


# -- what it prints, and the clients ------------------------------------------------------------


async def test_it_prints_the_environment_and_serves_every_kind_of_client() -> None:
    with serve() as served:
        assert [line.partition("=")[0] for line in served.lines] == ENV_NAMES
        env = dict(line.split("=", 1) for line in served.lines)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", served.url)
        assert not served.url.endswith(":0")
        assert env["OPENAI_BASE_URL"] == served.url + "/v1"
        assert env["INFERENCE_ENDPOINT"] == served.url
        assert served.key.startswith("fake-") and len(served.key) > 20  # random, per run
        assert env["MODEL_ACCESS_KEY"] == env["OPENAI_API_KEY"] == served.key

        async with AsyncAgentClient(served.key, served.url, max_retries=0) as agent:
            assert await _ask(agent) == "Echo: ping"
        async with AsyncInferenceClient(served.key, served.url, max_retries=0) as inference:
            completion = await inference.chat.completions.create(model="m", messages=PING)
            assert completion.choices[0].message.content == "Echo: ping"
        base_url = env["OPENAI_BASE_URL"]
        async with AsyncOpenAICompatibleClient(base_url, served.key, max_retries=0) as other:
            completion = await other.chat.completions.create(model="m", messages=PING)
            assert completion.choices[0].message.content == "Echo: ping"
        async with AsyncAgentClient("not-the-key", served.url, max_retries=0) as wrong:
            with pytest.raises(AuthenticationError):
                await _ask(wrong)
        assert _health(served.url) == {"status": "ok"}


async def test_a_fixed_key_a_model_and_json_output() -> None:
    with serve("--json", "--token", "ci-key", "--model", "m-x") as served:
        assert len(served.lines) == 1
        document = json.loads(served.lines[0])
        assert document["key"] == "ci-key" and document["model"] == "m-x"
        assert document["host"] == "127.0.0.1"
        assert document["url"] == f"http://127.0.0.1:{document['port']}"
        assert list(document["env"]) == ENV_NAMES
        assert document["env"]["AGENT_ACCESS_KEY"] == "ci-key"
        async with AsyncAgentClient("ci-key", served.url, max_retries=0) as client:
            assert await _ask(client) == "Echo: ping"
        # --model is the one named in answers to requests that name none.
        answer = _post(f"{served.url}/v1/chat/completions", "ci-key", {"messages": PING})
        assert answer["model"] == "m-x"


def test_the_lines_are_valid_sh(tmp_path: Path) -> None:
    """What the --help example does: source the lines with ``set -a`` and use them."""
    with serve("--token", "ci-key") as served:
        env_file = tmp_path / "fake-agent.env"
        env_file.write_text("\n".join(served.lines) + "\n")
        script = f'set -a; . "{env_file}"; set +a; env'
        done = subprocess.run(
            ["sh", "-c", script], capture_output=True, text=True, timeout=BOUND, env={}
        )
        exported = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        assert exported["AGENT_ENDPOINT"] == served.url
        assert exported["OPENAI_API_KEY"] == "ci-key"


# -- behaviours ---------------------------------------------------------------------------------


async def test_latency_delays_each_answer() -> None:
    with serve("--latency", "0.3") as served:
        async with AsyncAgentClient(served.key, served.url, max_retries=0) as client:
            for _ in range(2):
                started = time.monotonic()
                assert await _ask(client) == "Echo: ping"
                assert time.monotonic() - started >= 0.3


async def test_stream_delay_paces_the_chunks() -> None:
    delay = 0.05
    with serve("--stream-delay", str(delay)) as served:
        async with AsyncAgentClient(served.key, served.url, max_retries=0) as client:
            stream = await client.agent.chat.completions.create(
                model="m", messages=PING, stream=True
            )
            arrivals = []
            text = ""
            async with stream:
                async for chunk in stream:
                    arrivals.append(time.monotonic())
                    if chunk.choices:
                        text += chunk.choices[0].delta.content or ""
    assert text == "Echo: ping"
    assert len(arrivals) >= 3
    assert arrivals[-1] - arrivals[0] >= delay * (len(arrivals) - 1) * 0.9


async def test_error_rate_one_fails_every_request_with_the_status() -> None:
    with serve("--error-rate", "1.0", "--error-status", "500") as served:
        async with AsyncAgentClient(served.key, served.url, max_retries=0) as client:
            for _ in range(3):
                with pytest.raises(InternalServerError) as failed:
                    await _ask(client)
                assert failed.value.status_code == 500
        base_url = served.url + "/v1"
        async with AsyncOpenAICompatibleClient(base_url, served.key, max_retries=0) as other:
            with pytest.raises(InternalServerError):
                await other.chat.completions.create(model="m", messages=PING)


async def test_an_enforced_rate_limit_gives_429_past_it() -> None:
    with serve("--rate-limit", "2", "--enforce-rate-limit") as served:
        async with AsyncAgentClient(served.key, served.url, max_retries=0) as client:
            assert await _ask(client) == "Echo: ping"
            assert await _ask(client) == "Echo: ping"
            with pytest.raises(RateLimitError) as limited:
                await _ask(client)
            assert limited.value.status_code == 429
            assert limited.value.headers["ratelimit-limit"] == "2"
            assert int(limited.value.headers["retry-after"]) > 0


def test_keepalive_timeout_closes_idle_connections() -> None:
    with serve("--keepalive-timeout", "0.2") as served:
        port = int(served.url.rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as connection:
            started = time.monotonic()
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: fake\r\n\r\n")
            received = b""
            while chunk := connection.recv(4096):  # until the server closes the connection
                received += chunk
            idle = time.monotonic() - started
        assert received.startswith(b"HTTP/1.1 200")
        assert idle >= 0.2  # kept open that long, then closed (the default is 75 s)


# -- stopping -----------------------------------------------------------------------------------


@posix_signals
async def test_sigterm_stops_it_cleanly_with_exit_code_0() -> None:
    with serve() as served:
        async with AsyncAgentClient(served.key, served.url, max_retries=0) as client:
            assert await _ask(client) == "Echo: ping"
        served.process.send_signal(signal.SIGTERM)
        code, stderr = _stop(served.process)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "listening on" in stderr


def _in_flight(served: Served) -> tuple[threading.Thread, list[object]]:
    """A request sent from a thread and given time to arrive; its answer (or error) lands
    in the list."""
    outcome: list[object] = []

    def call() -> None:
        url = f"{served.url}/api/v1/chat/completions?agent=true"
        try:
            outcome.append(_post(url, served.key, {"model": "m", "messages": PING}))
        except OSError as error:
            outcome.append(error)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    time.sleep(0.3)  # the request is at the server, waiting out --latency
    return thread, outcome


@posix_signals
def test_sigterm_lets_a_request_in_flight_finish() -> None:
    with serve("--latency", "0.8") as served:
        thread, outcome = _in_flight(served)
        served.process.send_signal(signal.SIGTERM)
        code, stderr = _stop(served.process)
        thread.join(BOUND)
    assert code == 0, stderr
    (answer,) = outcome
    assert isinstance(answer, dict), answer
    assert answer["choices"][0]["message"]["content"] == "Echo: ping"


@posix_signals
def test_a_second_sigterm_stops_it_at_once() -> None:
    with serve("--latency", "30") as served:
        thread, outcome = _in_flight(served)
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # two pending signals of a kind are one: let it take the first
        served.process.send_signal(signal.SIGTERM)
        code, stderr = _stop(served.process)
        took = time.monotonic() - started
        thread.join(BOUND)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert took < SHUTDOWN_GRACE  # the grace period was cut short
    (error,) = outcome
    assert isinstance(error, OSError)  # the connection was dropped


@posix_signals
def test_ctrl_c_stops_it_with_exit_code_130() -> None:
    with serve(sigint="default_int_handler") as served:
        served.process.send_signal(signal.SIGINT)
        code, stderr = _stop(served.process)
    assert code == 130, stderr
    assert "Traceback" not in stderr


@posix_signals
def test_an_ignored_sigint_stays_ignored_and_sigterm_still_stops_it() -> None:
    """``agentchat serve &`` in a script starts with SIGINT ignored: it keeps that."""
    with serve(sigint="SIG_IGN") as served:
        served.process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        assert _health(served.url) == {"status": "ok"}  # still serving
        assert served.process.poll() is None
        served.process.send_signal(signal.SIGTERM)
        code, stderr = _stop(served.process)
    assert code == 0, stderr


@posix_signals
def test_a_reader_that_closed_stdout_does_not_stop_it() -> None:
    """A parent that took what it wanted and closed the pipe: the server goes on."""
    process = subprocess.Popen(
        _command(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        process.stdout.close()  # before the server writes its lines
        (line,) = _read_lines(process, 1, process.stderr)
        found = re.search(r"listening on (http://\S+) ", line)
        assert found, line
        assert _health(found.group(1)) == {"status": "ok"}
        process.send_signal(signal.SIGTERM)
        code, stderr = _stop(process)
        assert code == 0, stderr
        assert "Traceback" not in stderr and "Exception ignored" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
            process.communicate(timeout=BOUND)


# -- errors -------------------------------------------------------------------------------------


def test_a_port_in_use_is_one_line_and_exit_code_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "agentchat", "serve", "--port", str(port)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=BOUND)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert f"127.0.0.1:{port}" in done.stderr and "--port 0" in done.stderr


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--latency", "-1"),
        ("--latency", "inf"),
        ("--stream-delay", "-0.5"),
        ("--error-rate", "1.5"),
        ("--error-rate", "nan"),
        ("--error-status", "200"),
        ("--port", "70000"),
        ("--port", "-1"),
        ("--rate-limit", "0"),
        ("--rate-window", "0"),
        ("--keepalive-timeout", "-1"),
        ("--token", "has space"),
        ("--host", ""),
    ],
)
def test_a_bad_value_names_its_flag_and_exits_2(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", flag, value])
    assert done.value.code == 2
    assert f"argument {flag}: " in capsys.readouterr().err


def test_a_bad_value_exits_2_as_a_process_too() -> None:
    command = [sys.executable, "-m", "agentchat", "serve", "--error-rate", "2"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=BOUND)
    assert done.returncode == 2
    assert "argument --error-rate: " in done.stderr and "Traceback" not in done.stderr


def test_help_shows_examples_without_loading_aiohttp() -> None:
    script = (
        "import sys\n"
        "from agentchat._cli import main\n"
        "try:\n"
        "    main(['serve', '--help'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0\n"
        "print('aiohttp loaded' if 'aiohttp' in sys.modules else 'no aiohttp')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=BOUND
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("no aiohttp")
    text = done.stdout
    for expected in (
        "--latency",
        "--error-rate",
        "--enforce-rate-limit",
        "AGENT_ENDPOINT=",
        "set -a",
    ):
        assert expected in text, expected
