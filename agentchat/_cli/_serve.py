"""``agentchat serve``: the fake agent on a host and port, for other programs' tests."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["configure", "run"]


def configure(commands: Any) -> None:
    """Add the ``serve`` command to the ``commands`` subparsers."""
    serve = commands.add_parser("serve", help="run the fake agent for integration tests")
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("agentchat serve is being written")
