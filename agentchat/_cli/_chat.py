"""``agentchat chat``: stream an answer to the terminal, or hold a conversation."""

from __future__ import annotations

import argparse
from typing import Any

from . import _common

__all__ = ["configure", "run"]


def configure(commands: Any) -> None:
    """Add the ``chat`` command to the ``commands`` subparsers."""
    chat = commands.add_parser("chat", help="stream an answer, or hold a conversation")
    chat.set_defaults(run=run)
    chat.add_argument("prompt", nargs="*", help="the question (none: an interactive session)")
    _common.add_connection_options(chat)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("agentchat chat is being written")
