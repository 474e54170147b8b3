"""Hooks: what a client tells observers about each call, for logging, metrics and auditing.

A client takes ``hooks=[...]``: objects with any of four methods, each called with one event
(sync methods are called, async ones awaited, on the client's event loop)::

    on_request(CallStarted)     once per create() call, before its first attempt
    on_retry(RetryScheduled)    before each retry's wait (an attempt failed and is retried)
    on_response(CallEnded)      once per call that succeeded: a completion, or a stream that
                                ended (read to its end, or closed early by its reader)
    on_error(CallFailed)        once per call that failed or was cancelled (a stream too)

So every call gets exactly one ``on_request`` and then exactly one of ``on_response`` and
``on_error``: the frame an OpenTelemetry span needs (``agentchat._otel`` is built on these
hooks and nothing else). ``call_id`` ties the events of one call together.

A stream's call ends when the stream does: read to its end (``on_response``, ``"complete"``),
failed (``on_error`` with what had arrived), closed by its reader before its end (``aclose()``,
leaving ``async with``, a ``break``: ``on_response``, ``"closed"``); a stream that fails
before it opens ends in ``on_error`` from ``create()``. A cancelled call, or a cancelled read of
a stream, ends in ``on_error`` with the cancellation, the hooks running shielded from it (for
at most :data:`SHIELD_SECONDS`). A stream dropped without being closed is reported when it is
collected (``"closed"``), to sync hook methods only: nothing can be awaited there.

A hook that raises does not break the call: the exception is logged (logger ``agentchat``,
WARNING, with the hook and the event named) and the call goes on as if the hook had
returned. The access key never reaches a hook: events carry the URL, the body and the
response, never the request's headers (``CallStarted.headers`` holds only what hooks add).
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from ._errors import APIError
    from ._models._completion import ChatCompletion
    from ._response import ResponseInfo

__all__ = [
    "CallEnded",
    "CallFailed",
    "CallStarted",
    "Hooks",
    "RetryScheduled",
    "call_hooks",
    "call_hooks_now",
    "call_hooks_shielded",
    "check_hooks",
    "next_call_id",
]

logger = logging.getLogger("agentchat")

#: Numbers the calls of this process: the ``call_id`` of every event of one call.
next_call_id: Callable[[], int] = itertools.count(1).__next__

Server = Literal["agent", "inference", "compatible"]


@attrs.frozen
class CallStarted:
    """A ``create()`` call is about to send its first attempt.

    ``body`` is the request body as it is sent (messages included: a hook that records
    contents decides to). ``headers`` starts empty: what a hook puts in it is sent with every
    attempt of this call (a W3C ``traceparent``, a correlation id); it never holds the
    client's own headers, so never the key.
    """

    call_id: int
    server: Server
    url: str
    model: str
    stream: bool
    body: Mapping[str, Any] = attrs.field(repr=False)
    headers: MutableMapping[str, str] = attrs.field(factory=dict, repr=False)
    started: float = 0.0  # time.monotonic()


@attrs.frozen
class RetryScheduled:
    """Attempt ``attempt`` of call ``call_id`` failed with ``error`` and is retried after
    ``delay`` seconds. ``reason`` says where the wait comes from: ``"retry-after"`` (the
    server asked), ``"rate-limit-reset"`` (a 429's reset headers), ``"backoff"``."""

    call_id: int
    attempt: int
    error: APIError
    delay: float
    reason: str


@attrs.frozen
class CallEnded:
    """Call ``call_id`` succeeded. ``completion`` is its completion (for a stream: the chunks
    accumulated); ``outcome`` is ``"complete"``, or ``"closed"`` for a stream its reader left
    before the end (``completion`` is then what had arrived). ``duration`` is seconds from
    :class:`CallStarted` to now, retries included; ``time_to_first_chunk`` the seconds to a
    stream's first chunk (``None`` for a plain call)."""

    call_id: int
    completion: ChatCompletion = attrs.field(repr=False)
    response: ResponseInfo = attrs.field(repr=False)
    duration: float
    time_to_first_chunk: float | None = None
    outcome: Literal["complete", "closed"] = "complete"


@attrs.frozen
class CallFailed:
    """Call ``call_id`` failed with ``error`` (an :class:`~agentchat.APIError`, an
    :class:`~agentchat.InvalidRequestError` raised on the way, or a cancellation). For a
    stream, ``partial`` is what had arrived (``None`` if nothing had) and
    ``time_to_first_chunk`` as in :class:`CallEnded`."""

    call_id: int
    error: BaseException
    duration: float
    partial: ChatCompletion | None = attrs.field(default=None, repr=False)
    response: ResponseInfo | None = attrs.field(default=None, repr=False)
    time_to_first_chunk: float | None = None


class Hooks:
    """A base class for hooks: override the methods you need, plain or ``async``; those left
    out are not called. (Any object with one of these methods works as well.)"""

    on_request: Callable[[CallStarted], object] | None = None
    on_retry: Callable[[RetryScheduled], object] | None = None
    on_response: Callable[[CallEnded], object] | None = None
    on_error: Callable[[CallFailed], object] | None = None


HOOK_NAMES = ("on_request", "on_retry", "on_response", "on_error")


def check_hooks(hooks: Iterable[object] | None) -> tuple[object, ...]:
    """The hooks given to a client, checked: each must have at least one hook method."""
    if hooks is None:
        return ()
    if isinstance(hooks, (str, bytes, Mapping)) or not isinstance(hooks, Iterable):
        from ._config import config_error

        raise config_error("hooks", hooks, "a list of hook objects is required")
    checked = tuple(hooks)
    for hook in checked:
        if not any(callable(getattr(hook, name, None)) for name in HOOK_NAMES):
            from ._config import config_error

            raise config_error(
                "hooks",
                hook,
                "each hook needs at least one of the methods " + ", ".join(HOOK_NAMES),
            )
    return checked


async def call_hooks(hooks: tuple[object, ...], name: str, event: object) -> None:
    """Call every hook's ``name`` method with ``event``; await it if it is async. A hook that
    raises is logged and skipped: observing a call never breaks it."""
    for hook in hooks:
        method: Callable[[object], Any] | None = getattr(hook, name, None)
        if method is None:
            continue
        try:
            result = method(event)
            if inspect.isawaitable(result):
                await _awaited(result)
        except Exception:  # a hook's failure is reported, not raised
            logger.warning(
                "hook %s.%s raised on %s; the call goes on",
                _name(hook),
                name,
                event,
                exc_info=True,
            )


def call_hooks_now(hooks: tuple[object, ...], name: str, event: object) -> None:
    """Call the hooks from code that cannot await (a stream dropped without being closed):
    sync methods run; an async one is not awaited, and that is logged at DEBUG."""
    for hook in hooks:
        method: Callable[[object], Any] | None = getattr(hook, name, None)
        if method is None:
            continue
        try:
            result = method(event)
            if inspect.iscoroutine(result):
                result.close()
                logger.debug("hook %s.%s is async: not awaited here", _name(hook), name)
        except Exception:  # as above
            logger.warning(
                "hook %s.%s raised on %s; the call goes on",
                _name(hook),
                name,
                event,
                exc_info=True,
            )


async def _awaited(result: Awaitable[Any]) -> None:
    await result


def _name(hook: object) -> str:
    return type(hook).__qualname__


#: How long hooks told of a cancelled call may take: they run shielded from the cancellation,
#: and a cancelled task must not be held up for long.
SHIELD_SECONDS = 1.0


async def call_hooks_shielded(hooks: tuple[object, ...], name: str, event: object) -> None:
    """:func:`call_hooks` for a call that was cancelled (or interrupted): shielded from the
    cancellation, which would otherwise cancel the hooks' own awaits too, and bounded by
    :data:`SHIELD_SECONDS`."""
    import anyio  # only cancelled calls need it

    with anyio.move_on_after(SHIELD_SECONDS, shield=True):
        await call_hooks(hooks, name, event)
