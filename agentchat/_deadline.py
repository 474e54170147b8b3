"""``within(seconds)``: bound one await with one timer, ``TimeoutError`` when it fires."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

__all__ = ["within"]


@contextlib.asynccontextmanager
async def _anyio_within(seconds: float) -> AsyncIterator[None]:  # pragma: no cover - 3.10
    import anyio

    with anyio.fail_after(seconds):
        yield


def within(seconds: float | None) -> contextlib.AbstractAsyncContextManager[object]:
    """A context manager that raises ``TimeoutError`` after ``seconds`` (``None``: never)."""
    if seconds is None:
        return contextlib.nullcontext()
    if sys.version_info >= (3, 11):
        return asyncio.timeout(seconds)
    return _anyio_within(seconds)  # pragma: no cover - 3.10 has no asyncio.timeout
