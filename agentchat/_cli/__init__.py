"""The ``agentchat`` command (also ``python -m agentchat``).

    agentchat chat "What is the capital of Portugal?"     stream an answer (no prompt: a session)
    agentchat batch INPUT.jsonl -o OUTPUT.jsonl           run a Batch-API file, resumably
    agentchat serve --port 8000                           run the fake agent for other programs

One module per command (``_chat``, ``_batch``, ``_serve``), each with ``configure()`` (its
arguments) and ``run()``; ``_common`` holds what they share (where requests go, the key, exit
codes). The modules import only the standard library at the top, and the client inside
``run()``: ``agentchat --help`` never loads aiohttp.

Exit codes: 0 done, 1 an API error (the server refused or failed the call), 2 usage or
configuration (a bad flag, no key), 130 interrupted. Expected errors are one line on stderr,
never a traceback; ``--verbose`` adds the request log.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from . import _common

__all__ = ["main"]

#: The commands, in the order ``--help`` lists them: (name, module).
COMMANDS = (("chat", "._chat"), ("batch", "._batch"), ("serve", "._serve"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _common.configure_logging(getattr(args, "verbose", False))
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        print("agentchat: interrupted", file=sys.stderr)
        return _common.EXIT_INTERRUPTED
    except Exception as error:
        return _common.report(args.command, error)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentchat",
        description=(
            "Call hosted AI agents (DigitalOcean agents, serverless inference, any\n"
            "OpenAI-compatible server) from the terminal."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  agentchat chat --demo 'What is the capital of Portugal?'\n"
            "  agentchat chat                       # a session with $AGENT_ENDPOINT\n"
            "  agentchat batch requests.jsonl -o results.jsonl\n"
            "  agentchat serve --port 8000          # a fake agent for integration tests\n"
            "\n"
            "Run 'agentchat COMMAND --help' for a command's options."
        ),
    )
    from .._version import __version__  # a one-line module

    parser.add_argument("--version", action="version", version=f"agentchat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for _name, module in COMMANDS:
        import_module(module, __name__).configure(commands)
    return parser
