"""Prism, serving the official OpenAPI spec on 127.0.0.1, for the contract tests.

``nox -s tests`` installs ``@stoplight/prism-cli`` and sets ``AGENTCHAT_NODE`` (the node
binary), ``AGENTCHAT_PRISM`` (Prism's ``dist/index.js``) and ``AGENTCHAT_REQUIRE_PRISM=1``.
Without the first two the contract tests are skipped, or fail when Prism is required.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "spec" / "agent-inference.openapi.yaml"
HOST = "127.0.0.1"

#: Prism usually listens within a few seconds. This stays below pytest-timeout's 60 s per
#: test (setup included) so that a Prism that never starts fails with its log, not a dump.
STARTUP_TIMEOUT = 45.0
POLL_INTERVAL = 0.1
STOP_TIMEOUT = 10.0
#: How much of Prism's log a failure shows (the end, where the error is).
LOG_TAIL_CHARS = 8000


def _prism_command() -> tuple[str, str]:
    """The node binary and Prism's entry script, or skip (fail when Prism is required)."""
    node = os.environ.get("AGENTCHAT_NODE", "")
    prism = os.environ.get("AGENTCHAT_PRISM", "")
    missing = [
        name for name, value in (("AGENTCHAT_NODE", node), ("AGENTCHAT_PRISM", prism)) if not value
    ]
    if not missing:
        return node, prism
    message = (
        f"{' and '.join(missing)} not set: the contract tests need Node and Prism. "
        "Run them with `nox -s tests`, which installs Prism and sets these variables."
    )
    if os.environ.get("AGENTCHAT_REQUIRE_PRISM") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=POLL_INTERVAL):
            return True
    except OSError:
        return False


def _log_tail(log_path: Path) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {log_path}: {exc}>"
    return text[-LOG_TAIL_CHARS:] or "<empty>"


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        code = process.poll()
        if code is not None:
            pytest.fail(
                f"Prism exited with code {code} before listening on port {port}. "
                f"Log ({log_path}):\n{_log_tail(log_path)}",
                pytrace=False,
            )
        if _accepts_connections(port):
            return
        if time.monotonic() >= deadline:
            pytest.fail(
                f"Prism did not listen on {HOST}:{port} within {STARTUP_TIMEOUT:g} s. "
                f"Log ({log_path}):\n{_log_tail(log_path)}",
                pytrace=False,
            )
        time.sleep(POLL_INTERVAL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of one Prism mock server (``http://127.0.0.1:<port>``) for the session."""
    node, prism = _prism_command()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    command = [node, prism, "mock", "-h", HOST, "-p", str(port), str(SPEC)]
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        except OSError as exc:
            pytest.fail(f"Cannot start Prism ({' '.join(command)}): {exc}", pytrace=False)
        try:
            _wait_until_listening(process, port, log_path)
            yield f"http://{HOST}:{port}"
        finally:
            _stop(process)
