"""Timeouts: what each one bounds, with defaults that suit LLM calls.

===============  =========  ======================================================
field            default    bounds
===============  =========  ======================================================
``connect``      10 s       opening the TCP (and TLS) connection
``read``         600 s      the wait for each read from the socket, headers included
``stream_idle``  600 s      the wait for each event of a stream (heartbeats excluded)
``total``        ``None``   the whole call, retries and their sleeps included
``pool``         60 s       getting a connection: waiting for a free one when all
                            ``max_connections`` are in use, plus opening it
===============  =========  ======================================================

A long generation is not cut short by default: there is no overall deadline unless one is
asked for. ``None`` disables a bound. A plain number given where a timeout is expected sets
``connect``, ``read`` and ``stream_idle`` to it and leaves ``total`` unset and ``pool`` at its
default: ``pool`` bounds a wait caused by the caller's own load (a saturated pool), not by the
server, so it is set on its own (``Timeout(pool=...)``).

``read`` starts counting once the request is sent: time spent waiting for a connection from the
pool counts against ``pool`` only. A pool timeout is not retried (retrying a saturated pool
only adds to its load).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs

from . import _defaults
from ._config import config_error
from ._errors import InvalidRequestError

__all__ = ["DEFAULT_TIMEOUT", "Timeout", "TimeoutTypes", "to_timeout"]


def _finite(value: float) -> bool:
    """Whether ``value`` is a finite number of seconds a timer can take (an int too large
    for a float is not: math.isfinite() raises for one)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_seconds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not _finite(value)
        or value <= 0
    ):
        raise config_error(
            f"Timeout.{attribute.name}",
            value,
            "a positive number of seconds, or None for no limit, is required",
        )


# The hash is cached: the transport looks up aiohttp's ClientTimeout by it on every call.
@attrs.frozen(cache_hash=True)
class Timeout:
    """Per-phase timeouts in seconds; ``None`` disables a bound.

    The defaults suit LLM calls: a long generation is not cut short, as there is no overall
    deadline unless one is asked for. A plain number given where a timeout is expected is
    :meth:`of` that number.
    """

    connect: float | None = attrs.field(default=_defaults.CONNECT_TIMEOUT, validator=_check_seconds)
    """Opening the TCP (and TLS) connection; 10 s by default."""
    read: float | None = attrs.field(default=_defaults.READ_TIMEOUT, validator=_check_seconds)
    """The wait for each read from the socket, headers included, counted once the request
    is sent; 600 s by default."""
    stream_idle: float | None = attrs.field(
        default=_defaults.STREAM_IDLE_TIMEOUT, validator=_check_seconds
    )
    """The wait for each event of a stream (heartbeats excluded); 600 s by default."""
    total: float | None = attrs.field(default=None, validator=_check_seconds)
    """The whole call, retries and their sleeps included; no limit by default."""
    pool: float | None = attrs.field(default=_defaults.POOL_TIMEOUT, validator=_check_seconds)
    """Getting a connection: waiting for a free one when all ``max_connections`` are in use,
    plus opening it; 60 s by default. It bounds a wait caused by the caller's own load, not
    by the server, so a plain number leaves it alone and a pool timeout is not retried."""

    @classmethod
    def of(cls, seconds: float | None) -> Timeout:
        """One number for connect, read and stream idle; no overall deadline, and the
        default ``pool`` timeout."""
        return cls(connect=seconds, read=seconds, stream_idle=seconds)

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        """What aiohttp enforces: ``pool`` as its ``connect`` (getting a connection from the
        pool, opening it included), ``connect`` as its ``sock_connect``, and ``read`` as its
        ``sock_read``, armed once the request is sent. A stream turns ``sock_read`` off once
        its headers have arrived and enforces ``read`` itself, with the one timer per read
        that ``stream_idle`` needs anyway (aiohttp re-arms a timer on every TCP read).
        ``total`` is enforced across retries by the transport."""
        return aiohttp.ClientTimeout(
            total=None, connect=self.pool, sock_connect=self.connect, sock_read=self.read
        )


DEFAULT_TIMEOUT = Timeout()

TimeoutTypes = float | Timeout


def to_timeout(
    value: Any,
    param: str = "timeout",
    error: Callable[[str, Any, str], ValueError] = InvalidRequestError,
) -> Timeout:
    """Accept a :class:`Timeout` or a number of seconds; anything else raises ``error``
    (:class:`InvalidRequestError` for a call's ``timeout=``, a configuration error for the
    client's)."""
    if isinstance(value, Timeout):
        return value
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and _finite(value)
        and value > 0
    ):
        return Timeout.of(value)
    raise error(param, value, "a positive number of seconds or an agentchat.Timeout is required")
