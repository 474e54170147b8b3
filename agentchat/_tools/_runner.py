"""The tool loop: ``completions.run_tools()`` makes a whole tool-using exchange one call.

::

    result = await client.chat.completions.run_tools(
        model="m", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[get_weather],            # FunctionTool objects, or plain functions
    )
    print(result.completion.choices[0].message.content)

Each round sends the conversation and the tools' definitions; when the answer asks for tool
calls, the functions run (the calls of one round concurrently, at most ``max_parallel`` at a
time; sync functions in a worker thread, so the event loop keeps serving), the assistant
message and one ``tool`` message per call are appended, and the next round is sent. The
first answer without tool calls ends the run: a :class:`ToolRunResult` with the final
completion, the whole conversation (ready to continue) and a record of every round.

What the model sees when a call fails (arguments that are not valid JSON or do not fit the
function, a tool it was not given, an exception inside the function) is a short error text in
that call's ``tool`` message, so that it can correct itself; ``on_tool_error="raise"`` raises
a :class:`ToolError` instead. ``max_rounds`` bounds the requests: when every one of them asked
for tools, :class:`ToolRoundLimitError` is raised with the conversation so far.

``stream=True`` gives an :class:`AsyncToolRun` of events instead (text as it arrives, each
tool call once the model has streamed it, each result, the end of each round), then the
same :class:`ToolRunResult`. Both forms share :class:`_ToolLoop`, the conversation's state.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeAlias, TypeVar

import anyio
import attrs

from .._errors import AgentChatError, InvalidRequestError, StreamClosedError
from .._models._base import Model
from .._models._chunk import ChatCompletionChunk
from .._models._completion import ChatCompletion, Usage
from .._models._messages import ChatMessage
from .._streaming import AsyncStream
from ._function import FunctionTool, ToolArgumentsError, function_tool

if TYPE_CHECKING:
    from .._resources._completions import _AsyncCompletionsBase

__all__ = [
    "AsyncToolRun",
    "ErrorText",
    "RoundEnd",
    "TextDelta",
    "ToolCallEvent",
    "ToolCallRecord",
    "ToolError",
    "ToolLike",
    "ToolResultEvent",
    "ToolRound",
    "ToolRoundLimitError",
    "ToolRunEvent",
    "ToolRunResult",
    "UnknownToolError",
    "complete_tool_run",
    "default_error_text",
    "encode_result",
    "start_tool_run",
]

ToolLike: TypeAlias = FunctionTool | Callable[..., Any]
"""What ``run_tools(tools=...)`` takes: :class:`FunctionTool` objects, or plain functions
(wrapped with :func:`function_tool`)."""
ErrorText: TypeAlias = str | Callable[[str, Exception], str]
"""What the model sees for a failed call: a format string with the fields ``{name}`` (the
tool's), ``{error}`` (the exception's message) and ``{error_type}`` (its class name), or a
function of the tool's name and the exception."""
OnToolError: TypeAlias = Literal["report", "raise"]

_T = TypeVar("_T")

# What the reader of an AsyncToolRun has been given (None while it is running).
_ENDED = "ended"
_FAILED = "failed"
_CLOSED = "closed"


# -- records -----------------------------------------------------------------------------------


@attrs.frozen
class ToolCallRecord:
    """One tool call of a round and what came of it.

    ``id`` is the call's id (one made up, ``call_<round>_<index>``, when the server sent
    none), ``name`` the function the model asked for, ``arguments`` the JSON text it sent
    (``""`` when none), ``parsed`` the keyword arguments they converted to (``None`` when
    they did not), ``result`` the text sent back to the model (the function's result, or the
    error text), ``error`` the exception when the call failed, ``duration`` how long the call
    took in seconds (not compared by ``==``: a measurement, not a result).
    """

    id: str
    name: str
    arguments: str
    parsed: dict[str, Any] | None
    result: str
    error: Exception | None = None
    duration: float = attrs.field(default=0.0, eq=False)

    @property
    def ok(self) -> bool:
        """True when the function ran and returned."""
        return self.error is None


@attrs.frozen
class ToolRound:
    """One request of a run: its ``completion`` and the tool ``calls`` it asked for, run
    (empty for the final answer)."""

    completion: ChatCompletion
    calls: tuple[ToolCallRecord, ...] = ()


@attrs.frozen
class ToolRunResult:
    """What a tool run ends with.

    ``completion`` is the final answer (the first without tool calls); ``messages`` the whole
    conversation in the request format (the caller's messages as dicts, then each assistant
    message with its ``tool_calls``, the ``tool`` messages answering them, and the final
    assistant message): pass it, with a new user message appended, to continue. ``rounds``
    has one :class:`ToolRound` per request, and ``usage`` the prompt, completion and total
    tokens summed over them (``None`` when no round reported usage).
    """

    completion: ChatCompletion
    messages: list[dict[str, Any]]
    rounds: tuple[ToolRound, ...]
    usage: Usage | None = None

    @property
    def text(self) -> str | None:
        """The final answer's text."""
        choices = self.completion.choices
        return choices[0].message.content if choices else None

    @property
    def calls(self) -> tuple[ToolCallRecord, ...]:
        """Every tool call of the run, in order."""
        return tuple(call for tool_round in self.rounds for call in tool_round.calls)


# -- events of a streamed run --------------------------------------------------------------------


@attrs.frozen
class TextDelta:
    """Text of the answer of round ``round`` (0-based), as it arrives: each network read's
    text in one piece."""

    round: int
    text: str


@attrs.frozen
class ToolCallEvent:
    """The model has streamed a whole tool call (the function and all its arguments); it runs
    once the round's answer has ended. ``index`` is its position in the round."""

    round: int
    index: int
    id: str
    name: str
    arguments: str


@attrs.frozen
class ToolResultEvent:
    """A tool call of round ``round`` has run: ``call`` says how (its ``result`` is what the
    model will see, its ``error`` the exception if it failed)."""

    round: int
    call: ToolCallRecord

    @property
    def result(self) -> str:
        """The text sent back to the model: ``call.result``."""
        return self.call.result

    @property
    def error(self) -> Exception | None:
        """The exception when the call failed: ``call.error``."""
        return self.call.error

    @property
    def duration(self) -> float:
        """How long the call took, in seconds: ``call.duration``."""
        return self.call.duration


@attrs.frozen
class RoundEnd:
    """Round ``round`` is over: its ``completion``, and its ``calls`` run (after their
    :class:`ToolResultEvent`); the last round's ``calls`` are empty and its completion is the
    final answer."""

    round: int
    completion: ChatCompletion
    calls: tuple[ToolCallRecord, ...] = ()


ToolRunEvent: TypeAlias = TextDelta | ToolCallEvent | ToolResultEvent | RoundEnd
"""An event of a streamed tool run (:class:`AsyncToolRun`), in this order per round:
:class:`TextDelta`, :class:`ToolCallEvent`, then :class:`ToolResultEvent` and
:class:`RoundEnd` once the answer has ended."""


# -- errors --------------------------------------------------------------------------------------


class UnknownToolError(AgentChatError, LookupError):
    """The model asked for a tool that the run was not given (reported to the model as a
    tool result, unless ``on_tool_error="raise"``)."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        self.name = name
        self.available = tuple(available)
        tools = ", ".join(self.available) or "none"
        super().__init__(f"The model asked for the tool {name!r}, which it was not given ({tools})")


class ToolError(AgentChatError):
    """A tool call failed in a run with ``on_tool_error="raise"``.

    ``error`` (also the ``__cause__``) is the failure, unchanged: the function's own
    exception, a :class:`ToolArgumentsError`, or an :class:`UnknownToolError`. ``call`` is
    the call's record, ``round`` its round, ``messages`` the conversation up to the assistant
    message that made the call, ``rounds`` the rounds completed before it.
    """

    def __init__(
        self,
        message: str,
        *,
        error: Exception,
        call: ToolCallRecord,
        round: int,
        messages: list[dict[str, Any]],
        rounds: tuple[ToolRound, ...],
    ) -> None:
        super().__init__(message)
        self.error = error
        self.call = call
        self.round = round
        self.messages = messages
        self.rounds = rounds


class ToolRoundLimitError(AgentChatError):
    """``max_rounds`` requests all asked for tools: the run stops rather than loop on.

    ``messages`` is the conversation so far, the last round's tool results included (a valid
    conversation: pass it to another ``run_tools()`` to go on), ``rounds`` the rounds run,
    ``max_rounds`` the limit.
    """

    def __init__(
        self,
        message: str,
        *,
        messages: list[dict[str, Any]],
        rounds: tuple[ToolRound, ...],
        max_rounds: int,
    ) -> None:
        super().__init__(message)
        self.messages = messages
        self.rounds = rounds
        self.max_rounds = max_rounds


# -- turning results and errors into the text the model sees -------------------------------------


def encode_result(value: Any) -> str:
    """A function's result as the ``content`` of its tool message: a string as it is,
    anything else as JSON (``None`` is ``null``; agentchat models, attrs classes and
    dataclasses as objects; sets and tuples as arrays; other objects by ``str()``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    """What ``json.dumps`` cannot encode by itself, made encodable."""
    if isinstance(value, Model):
        return value.to_dict()
    if attrs.has(type(value)):
        return attrs.asdict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def default_error_text(name: str, error: Exception) -> str:
    """The text the model sees for a failed call, by default: short, and saying what to fix."""
    if isinstance(error, UnknownToolError):
        tools = ", ".join(error.available) or "none"
        return f"Error: there is no tool named {name!r}. The tools are: {tools}."
    if isinstance(error, ToolArgumentsError):  # its message is written for the model
        return f"Error: {error}"
    text = f"Error: the tool {name} raised {type(error).__name__}"
    detail = str(error)
    return f"{text}: {detail}" if detail else text


def _error_formatter(error_text: ErrorText | None) -> Callable[[str, Exception], str]:
    """``error_text`` as a function, checked before anything is sent."""
    if error_text is None:
        return default_error_text
    if isinstance(error_text, str):
        template = error_text
        try:
            template.format(name="tool", error="message", error_type="ValueError")
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidRequestError(
                "error_text",
                error_text,
                "a format string with only the fields {name}, {error} and {error_type} "
                f"({type(exc).__name__}: {exc}), or a function (name, error) -> str",
            ) from None

        def formatted(name: str, error: Exception) -> str:
            return template.format(name=name, error=error, error_type=type(error).__name__)

        return formatted
    if callable(error_text):
        return error_text
    raise InvalidRequestError(
        "error_text", error_text, "a format string or a function (name, error) -> str"
    )


# -- the conversation ----------------------------------------------------------------------------


@attrs.frozen
class _Call:
    """A tool call as the model asked for it, with an id (made up when missing)."""

    index: int
    id: str
    name: str
    arguments: str | None


def _is_json(text: str | None) -> bool:
    """Whether ``text`` is a whole JSON document (a call's arguments, all arrived)."""
    try:
        json.loads(text or "")
    except ValueError:
        return False
    return True


def _first_message(completion: ChatCompletion) -> ChatMessage:
    choices = completion.choices
    return choices[0].message if choices else ChatMessage()


def _calls_of(message: ChatMessage, round: int) -> list[_Call]:
    """The tool calls of an answer, each with an id and a name (``""`` when missing)."""
    calls = []
    for index, call in enumerate(message.tool_calls or ()):
        function = call.function
        calls.append(
            _Call(
                index=index,
                id=call.id or f"call_{round}_{index}",
                name=(function.name if function is not None else None) or "",
                arguments=function.arguments if function is not None else None,
            )
        )
    return calls


def _assistant_message(message: ChatMessage, calls: list[_Call]) -> dict[str, Any]:
    """The answer as the next request carries it: its text and its tool calls (missing
    arguments sent as ``{}``). Reasoning text is not sent back."""
    entry: dict[str, Any] = {"role": "assistant", "content": message.content}
    if calls:
        entry["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments or "{}"},
            }
            for call in calls
        ]
    return entry


def _as_message_dict(message: Any) -> Any:
    """A caller's message as a plain dict (a ChatMessage by its wire form); anything else
    is left for create() to reject."""
    if isinstance(message, Model):
        return message.to_dict()
    if isinstance(message, Mapping):
        return dict(message)
    return message


def _total_usage(completions: Iterable[ChatCompletion]) -> Usage | None:
    """Prompt, completion and total tokens summed over the completions that report usage."""
    usages = [completion.usage for completion in completions if completion.usage is not None]
    if not usages:
        return None

    def total(values: list[int | None]) -> int | None:
        known = [value for value in values if value is not None]
        return sum(known) if known else None

    return Usage(
        prompt_tokens=total([usage.prompt_tokens for usage in usages]),
        completion_tokens=total([usage.completion_tokens for usage in usages]),
        total_tokens=total([usage.total_tokens for usage in usages]),
    )


def _tools_by_name(tools: Iterable[ToolLike]) -> dict[str, FunctionTool]:
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Iterable):
        raise InvalidRequestError("tools", tools, "a list of FunctionTool objects or functions")
    found: dict[str, FunctionTool] = {}
    for index, tool in enumerate(tools):
        if not isinstance(tool, FunctionTool):
            if isinstance(tool, Mapping) or not callable(tool):
                raise InvalidRequestError(
                    f"tools[{index}]",
                    tool,
                    "a FunctionTool or a function: run_tools() runs the tools it is given, "
                    "so a tool definition alone will not do (send those with create())",
                )
            tool = function_tool(tool)
        if tool.name in found:
            raise InvalidRequestError(
                f"tools[{index}]", tool.name, "tool names must be unique in one run"
            )
        found[tool.name] = tool
    return found


def _forces_a_call(tool_choice: Any) -> bool:
    """``"required"`` or a named function (a dict or a ``NamedToolChoice``): a choice that
    leaves the model no way to answer in text."""
    return tool_choice == "required" or (
        tool_choice is not None and not isinstance(tool_choice, str)
    )


def _positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequestError(name, value, "an integer >= 1 is required")
    return value


def _check_params(params: Mapping[str, Any]) -> None:
    """Refuse what the loop itself decides: the tools (from ``tools=``) and ``n``."""
    extra_body = params.get("extra_body")
    if isinstance(extra_body, Mapping) and "tools" in extra_body:
        raise InvalidRequestError(
            "extra_body.tools",
            extra_body["tools"],
            "run_tools() sends the definitions of its tools= itself; pass the tools there",
        )
    n = params.get("n")
    if n is not None and n != 1:
        raise InvalidRequestError("n", n, "run_tools() follows one answer: n must be 1")


class _ToolLoop:
    """The state of one tool-using conversation: the messages so far, the rounds run, and
    how to send the next request and run a round's calls. Driven by :meth:`run` (plain) or by
    :class:`AsyncToolRun` (streamed)."""

    def __init__(
        self,
        completions: _AsyncCompletionsBase,
        *,
        messages: Iterable[Any],
        tools: Iterable[ToolLike],
        model: str,
        max_rounds: int,
        max_parallel: int,
        on_tool_error: OnToolError,
        error_text: ErrorText | None,
        params: Mapping[str, Any],
        reset_tool_choice: bool = True,
    ) -> None:
        self._completions = completions
        self._tools = _tools_by_name(tools)
        self._definitions = [tool.definition() for tool in self._tools.values()]
        self._model = model
        self._max_rounds = _positive("max_rounds", max_rounds)
        self._limiter = anyio.CapacityLimiter(_positive("max_parallel", max_parallel))
        if on_tool_error not in ("report", "raise"):
            raise InvalidRequestError("on_tool_error", on_tool_error, "'report' or 'raise'")
        self._raise = on_tool_error == "raise"
        self._error_text = _error_formatter(error_text)
        _check_params(params)
        if not isinstance(reset_tool_choice, bool):
            raise InvalidRequestError(
                "reset_tool_choice", reset_tool_choice, "True or False is required"
            )
        self._params = dict(params)
        # A forced choice goes with the first request only (see run_tools()).
        self._reset_tool_choice = reset_tool_choice and _forces_a_call(
            self._params.get("tool_choice")
        )
        if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
            raise InvalidRequestError("messages", messages, "a list of messages is required")
        self.messages: list[dict[str, Any]] = [_as_message_dict(m) for m in messages]
        self.rounds: list[ToolRound] = []

    # -- the steps -------------------------------------------------------------------------

    async def request(self, stream: bool) -> ChatCompletion | AsyncStream:
        """Send the conversation so far, with the tools' definitions."""
        params = dict(self._params)
        if self._reset_tool_choice and self.rounds:
            del params["tool_choice"]  # the server's default: "auto"
        if self._definitions:
            params["tools"] = self._definitions
        if stream:
            params["stream"] = True
        return await self._completions.create(
            messages=list(self.messages), model=self._model, **params
        )

    def answer(self, completion: ChatCompletion) -> list[_Call]:
        """Take a round's answer into the conversation; the calls it asks for (none: the
        final answer)."""
        message = _first_message(completion)
        calls = _calls_of(message, len(self.rounds))
        self.messages.append(_assistant_message(message, calls))
        return calls

    def finish(self, completion: ChatCompletion) -> ToolRunResult:
        """The final answer has come: the run's result."""
        self.rounds.append(ToolRound(completion))
        return ToolRunResult(
            completion=completion,
            messages=list(self.messages),
            rounds=tuple(self.rounds),
            usage=_total_usage(r.completion for r in self.rounds),
        )

    async def run_calls(self, completion: ChatCompletion, calls: list[_Call]) -> ToolRound:
        """Run a round's calls, concurrently, and append their results to the conversation
        in the order of the calls. With ``on_tool_error="raise"``, the first failure cancels
        the calls still running and raises :class:`ToolError`."""
        records: list[ToolCallRecord | None] = [None] * len(calls)
        failures: list[ToolCallRecord | Exception] = []
        async with anyio.create_task_group() as group:
            for call in calls:
                group.start_soon(self._run_one, call, records, failures, group.cancel_scope)
        if failures:
            first = failures[0]
            if isinstance(first, Exception):
                raise first
            self._fail(first)
        done = tuple(record for record in records if record is not None)
        self.messages.extend(
            {"role": "tool", "tool_call_id": record.id, "content": record.result} for record in done
        )
        tool_round = ToolRound(completion, done)
        self.rounds.append(tool_round)
        return tool_round

    def check_limit(self) -> None:
        """Raise :class:`ToolRoundLimitError` when ``max_rounds`` requests have been made
        (each of which asked for tools, or the run would have ended)."""
        if len(self.rounds) >= self._max_rounds:
            raise ToolRoundLimitError(
                f"The model still asked for tools after {len(self.rounds)} rounds "
                f"(max_rounds={self._max_rounds}); the conversation so far is on this "
                "error's .messages",
                messages=list(self.messages),
                rounds=tuple(self.rounds),
                max_rounds=self._max_rounds,
            )

    async def run(self) -> ToolRunResult:
        """The whole loop, with plain (not streamed) requests."""
        while True:
            completion = await self.request(stream=False)
            assert isinstance(completion, ChatCompletion)
            calls = self.answer(completion)
            if not calls:
                return self.finish(completion)
            await self.run_calls(completion, calls)
            self.check_limit()

    # -- one call ----------------------------------------------------------------------------

    async def _run_one(
        self,
        call: _Call,
        records: list[ToolCallRecord | None],
        failures: list[ToolCallRecord | Exception],
        scope: anyio.CancelScope,
    ) -> None:
        """Run one call of a round; a failure that stops the round is put in ``failures``
        (raised after the task group, so that it is not wrapped in an exception group)."""
        try:
            async with self._limiter:
                record = await self._call(call)
        except Exception as exc:  # error_text itself failed: a bug to raise, not to report
            failures.append(exc)
            scope.cancel()
            return
        records[call.index] = record
        if record.error is not None and self._raise:
            failures.append(record)
            scope.cancel()

    async def _call(self, call: _Call) -> ToolCallRecord:
        """Run one call; a failure becomes the error text the model sees."""
        started = time.perf_counter()
        parsed: dict[str, Any] | None = None
        error: Exception | None = None
        try:
            tool = self._tools.get(call.name)
            if tool is None:
                raise UnknownToolError(call.name, list(self._tools))
            parsed = tool.parse_arguments(call.arguments)
            result = encode_result(await _invoke(tool, parsed))
        except Exception as exc:  # the model is told, and may try again
            error = exc
            result = self._error_text(call.name, exc)
        return ToolCallRecord(
            id=call.id,
            name=call.name,
            arguments=call.arguments or "",
            parsed=parsed,
            result=result,
            error=error,
            duration=time.perf_counter() - started,
        )

    def _fail(self, record: ToolCallRecord) -> NoReturn:
        error = record.error
        assert error is not None
        raise ToolError(
            f"The tool call {record.id} ({record.name}) failed in round {len(self.rounds)}: "
            f"{type(error).__name__}: {error}",
            error=error,
            call=record,
            round=len(self.rounds),
            messages=list(self.messages),
            rounds=tuple(self.rounds),
        ) from error


async def _invoke(tool: FunctionTool, arguments: dict[str, Any]) -> Any:
    """Call the function: a coroutine function on the loop, a plain one in a worker thread
    (a blocking function must not stall the loop and every other call on it)."""
    if tool.is_async:
        return await tool.function(**arguments)
    value = await anyio.to_thread.run_sync(functools.partial(tool.function, **arguments))
    if inspect.iscoroutine(value):  # a plain function that returned a coroutine
        value = await value
    return value


# -- the streamed run ----------------------------------------------------------------------------


class AsyncToolRun:
    """A streamed tool run: a context manager, iterated for its events.

    ::

        async with await completions.run_tools(..., stream=True) as run:
            async for event in run:
                if isinstance(event, TextDelta):
                    print(event.text, end="")
                elif isinstance(event, ToolCallEvent):
                    print(f"[calling {event.name}({event.arguments})]")
            result = await run.get_result()

    Per round (``round`` counts from 0): :class:`TextDelta` as the answer's text arrives,
    :class:`ToolCallEvent` as each tool call has been streamed whole, then, once the answer
    has ended and its calls have run, one :class:`ToolResultEvent` per call (in the calls'
    order) and :class:`RoundEnd`. The next round's request is sent when the next events are
    asked for; the run ends after the :class:`RoundEnd` of an answer without tool calls.
    :meth:`get_result` returns the :class:`ToolRunResult` (reading the rest first, if any).

    A failure (the server's, :class:`ToolError`, :class:`ToolRoundLimitError`) is raised
    after the events before it, and again by every later read. Leaving the ``with`` block,
    closing the run, a ``break`` out of the loop, an exception in the loop or a cancelled
    read close the run and the stream of its round: a later read raises
    :class:`~agentchat.StreamClosedError`.
    """

    def __init__(self, loop: _ToolLoop, stream: AsyncStream) -> None:
        self._loop = loop
        self._stream: AsyncStream | None = stream  # the round being streamed
        self._pending: tuple[ChatCompletion, list[_Call]] | None = None  # calls to run
        self._result: ToolRunResult | None = None  # once the final answer has ended
        self._announced = 0  # tool calls of this round given as ToolCallEvent
        self._latest_index = -1  # of the tool-call fragments seen in this round
        self._latest_id: str | None = None
        self._outcome: str | None = None  # what the reader has been given: _ENDED, ...
        self._failure: BaseException | None = None
        self._events = 0
        self._readers: list[weakref.ref[Any]] = []

    # -- iteration ---------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[ToolRunEvent]:
        return self._watch(self._iterate())

    async def _iterate(self) -> AsyncIterator[ToolRunEvent]:
        try:
            while True:
                batch = await self.next_batch()
                if not batch:
                    return
                for event in batch:
                    yield event
        finally:
            await self.aclose()  # a no-op once the end or a failure has been given

    def _watch(self, reader: _T) -> _T:
        """Hand out ``reader``, noting when it is dropped: a loop left early (a ``break``
        without ``async with``) closes the run there and then; its clean-up, which closes the
        stream, runs a moment later as a task of the loop, and a read in between is refused
        (and closes the stream itself). As in :class:`~agentchat.AsyncStream`, only the state
        changes here: a finaliser must do no I/O."""
        this = weakref.ref(self)

        def dropped(_: object) -> None:
            run = this()
            if run is not None and run._outcome is None:
                run._outcome = _CLOSED

        self._readers.append(weakref.ref(reader, dropped))
        return reader

    async def next_batch(self) -> list[ToolRunEvent]:
        """The next events (at least one), or ``[]`` once the run has ended (and on every
        read after that)."""
        if self._outcome is not None:
            return await self._refuse()
        try:
            events = await self._advance()
        except BaseException as error:
            if self._outcome is None:
                cancelled = not isinstance(error, Exception)
                self._outcome = _CLOSED if cancelled else _FAILED
                self._failure = None if cancelled else error
            await self._close_stream()
            raise
        self._events += len(events)
        return events

    async def _advance(self) -> list[ToolRunEvent]:
        loop = self._loop
        while True:
            stream = self._stream
            if stream is not None:
                batch = await stream.next_batch()
                events = self._events_of(batch, stream) if batch else self._round_ended(stream)
                if events:
                    return events
            elif self._pending is not None:
                completion, calls = self._pending
                self._pending = None
                return await self._run_calls(completion, calls)
            elif self._result is not None:
                self._outcome = _ENDED
                return []
            else:
                loop.check_limit()
                opened = await loop.request(stream=True)
                assert isinstance(opened, AsyncStream)
                self._stream = opened
                self._announced, self._latest_index, self._latest_id = 0, -1, None

    def _events_of(
        self, batch: list[ChatCompletionChunk], stream: AsyncStream
    ) -> list[ToolRunEvent]:
        """A batch's text, in one :class:`TextDelta`, then the tool calls it completed.

        A call is complete once the next one has started and its arguments are whole JSON:
        some servers (OpenAI, vLLM) interleave the fragments of parallel calls, so the next
        call's start alone does not end the one before. Calls whose arguments never parse are
        announced when the round ends."""
        round = len(self._loop.rounds)
        text: list[str] = []
        new_call = False
        for chunk in batch:
            for choice in chunk.choices:
                if (choice.index or 0) != 0:
                    continue
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                for fragment in delta.tool_calls or ():
                    if fragment.index is not None:
                        if fragment.index > self._latest_index:
                            self._latest_index, new_call = fragment.index, True
                    elif fragment.id is not None and fragment.id != self._latest_id:
                        new_call = True
                    if fragment.id is not None:
                        self._latest_id = fragment.id
        events: list[ToolRunEvent] = [TextDelta(round, "".join(text))] if text else []
        if new_call:
            calls = _calls_of(_first_message(stream.snapshot()), round)[:-1]
            whole = 0
            while whole < len(calls) and _is_json(calls[whole].arguments):
                whole += 1
            events += self._announce(calls[:whole], round)
        return events

    def _announce(self, calls: list[_Call], round: int) -> list[ToolRunEvent]:
        """Events for the calls not yet announced."""
        fresh = calls[self._announced :]
        self._announced += len(fresh)
        return [
            ToolCallEvent(round, call.index, call.id, call.name, call.arguments or "")
            for call in fresh
        ]

    def _round_ended(self, stream: AsyncStream) -> list[ToolRunEvent]:
        """The round's answer is complete: announce its last calls, and either queue them
        to run or, when there are none, end the run."""
        self._stream = None
        loop = self._loop
        round = len(loop.rounds)
        completion = stream.snapshot()
        calls = loop.answer(completion)
        events = self._announce(calls, round)
        if calls:
            self._pending = (completion, calls)
        else:
            self._result = loop.finish(completion)
            events.append(RoundEnd(round, completion))
        return events

    async def _run_calls(
        self, completion: ChatCompletion, calls: list[_Call]
    ) -> list[ToolRunEvent]:
        round = len(self._loop.rounds)
        tool_round = await self._loop.run_calls(completion, calls)
        events: list[ToolRunEvent] = [ToolResultEvent(round, call) for call in tool_round.calls]
        events.append(RoundEnd(round, completion, tool_round.calls))
        return events

    async def _refuse(self) -> list[ToolRunEvent]:
        """What a read gets once the reader has been given the end, a failure or a close."""
        if self._outcome == _ENDED:
            return []
        await self._close_stream()  # not yet done if a dropped iterator's clean-up is pending
        if self._outcome == _FAILED and self._failure is not None:
            raise self._failure
        raise StreamClosedError(
            f"This tool run was closed by its user after {self._events} events, before its "
            "end (a break out of a loop over it, an exception in that loop, aclose()/close(), "
            "leaving its 'with' block, or a cancelled read): nothing more can be read from it.",
            chunks=self._events,
        )

    # -- results -------------------------------------------------------------------------------

    async def get_result(self) -> ToolRunResult:
        """Run to the end (the events not read yet are dropped) and return the
        :class:`ToolRunResult`; once the run has ended, just return it again."""
        if self._outcome is None:
            while await self.next_batch():
                pass
        if self._result is None or self._outcome != _ENDED:
            await self._refuse()
        assert self._result is not None
        return self._result

    # -- closing -------------------------------------------------------------------------------

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

    async def aclose(self) -> None:
        """Close the run and the stream of its current round. Safe at any time, more than
        once; closed before its end, the run cannot be read any further."""
        if self._outcome is None:
            self._outcome = _CLOSED
        await self._close_stream()

    async def __aenter__(self) -> AsyncToolRun:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """True once the run has ended, failed, or been closed."""
        return self._outcome is not None

    def __repr__(self) -> str:
        state = {_ENDED: "finished", _FAILED: "failed", _CLOSED: "closed"}.get(
            self._outcome or "", "running"
        )
        return f"<AsyncToolRun {state}, round {len(self._loop.rounds)}, {self._events} events>"


# -- entry points --------------------------------------------------------------------------------


async def start_tool_run(
    completions: _AsyncCompletionsBase,
    *,
    messages: Iterable[Any],
    tools: Iterable[ToolLike],
    model: str,
    max_rounds: int,
    max_parallel: int,
    on_tool_error: OnToolError,
    error_text: ErrorText | None,
    reset_tool_choice: bool = True,
    stream: bool,
    params: Mapping[str, Any],
) -> ToolRunResult | AsyncToolRun:
    """``run_tools()``: the whole run, or (``stream=True``) a run whose first round's stream
    is open, so that a request the server refuses raises here, as ``create()`` does."""
    loop = _ToolLoop(
        completions,
        messages=messages,
        tools=tools,
        model=model,
        max_rounds=max_rounds,
        max_parallel=max_parallel,
        on_tool_error=on_tool_error,
        error_text=error_text,
        reset_tool_choice=reset_tool_choice,
        params=params,
    )
    if not stream:
        return await loop.run()
    opened = await loop.request(stream=True)
    assert isinstance(opened, AsyncStream)
    return AsyncToolRun(loop, opened)


async def complete_tool_run(
    completions: _AsyncCompletionsBase, params: Mapping[str, Any]
) -> ToolRunResult:
    """One fan-out input's tool run (``params`` are ``run_tools()``'s keywords), to its end."""
    run: ToolRunResult | AsyncToolRun = await completions.run_tools(**params)
    if isinstance(run, AsyncToolRun):
        async with run:
            return await run.get_result()
    return run
