"""Import times, each measured in a fresh interpreter.

Every sample is one new ``python -c`` process that times its one import statement with
``time.perf_counter()`` around it: the interpreter's own start-up (and ``site``) is left out,
everything the statement pulls in is counted. ``import agentchat`` is cheap by design (names
are imported on first use); ``from agentchat import AsyncAgentClient`` is what a program
actually pays, aiohttp included.

pydo defers more: ``import pydo`` (which ``from pydo.aio import Client`` runs too) does not
import its HTTP library (requests, or aiohttp for ``pydo.aio``) nor its resource classes;
making the first client does. So four more statements import and then make a client, async
and sync, agentchat's and pydo's, for a loopback endpoint (no connection is opened): what a
program pays before its first request.

Beside them, two whole processes timed from outside (:data:`COMMANDS`): a bare interpreter
and ``agentchat --help``, whose difference is what the command line costs a user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

__all__ = ["COMMANDS", "STATEMENTS", "command_ms", "import_ms"]

ROOT = Path(__file__).resolve().parent.parent

#: (key, statement, the module that must be installed for it)
STATEMENTS: Final[tuple[tuple[str, str, str], ...]] = (
    ("import-aiohttp", "import aiohttp", "aiohttp"),
    ("import-openai", "import openai", "openai"),
    ("import-pydo", "import pydo", "pydo"),
    ("import-pydo-async", "from pydo.aio import Client", "pydo"),
    ("import-agentchat", "import agentchat", "agentchat"),
    ("import-agentchat-async", "from agentchat import AsyncAgentClient", "agentchat"),
    ("import-agentchat-sync", "from agentchat import AgentClient", "agentchat"),
    (
        "client-agentchat-async",
        "from agentchat import AsyncAgentClient; AsyncAgentClient('key', 'http://127.0.0.1')",
        "agentchat",
    ),
    (
        "client-pydo-async",
        "from pydo.aio import Client; Client('key', agent_endpoint='http://127.0.0.1')",
        "pydo",
    ),
    (
        "client-agentchat-sync",
        "from agentchat import AgentClient; AgentClient('key', 'http://127.0.0.1')",
        "agentchat",
    ),
    (
        "client-pydo-sync",
        "import pydo; pydo.Client('key', agent_endpoint='http://127.0.0.1')",
        "pydo",
    ),
)

#: (key, label, arguments after the interpreter): whole processes, timed from outside, their
#: start-up included. ``agentchat --help`` is held to a bare interpreter's start: the budget
#: is the difference, what the command line itself costs before it can answer.
COMMANDS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("bare-interpreter", "python -c pass", ("-c", "pass")),
    ("cli-help", "agentchat --help", ("-m", "agentchat", "--help")),
)

_PROGRAM = "import time\n_t = time.perf_counter()\n{statement}\nprint(time.perf_counter() - _t)\n"


def import_ms(statement: str) -> float:
    """Milliseconds that ``statement`` takes in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(statement=statement)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        timeout=120,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1]) * 1e3


def command_ms(arguments: tuple[str, ...]) -> float:
    """Milliseconds from starting ``python *arguments`` to its exit (it must succeed).

    ``agentchat --help`` runs as ``python -m agentchat --help``: the console script
    ``agentchat`` runs the same ``main()`` (without runpy's few hundred microseconds), and the
    interpreter is then surely this one."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *arguments],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=True,
    )
    return (time.perf_counter() - started) * 1e3
