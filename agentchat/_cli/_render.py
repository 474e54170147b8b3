"""How ``agentchat chat`` shows an answer: text for a person, or JSON lines for a program.

Where things go (so that ``agentchat chat "..." > answer.txt`` keeps only the answer):

- **stdout**: the answer text, as it arrives (and, with ``--json``, nothing but JSON lines);
- **stderr**: everything about the answer: the model's reasoning (dimmed, before the answer),
  then its tool calls, the agent's extras (what was retrieved, which functions ran, which
  guardrails fired), citations, a note when the answer was cut short, and the usage line;
  also the session's notes and errors.

Colour only on a terminal, decided for each stream on its own: ``$NO_COLOR`` (any value)
turns it off, ``$FORCE_COLOR`` (any value but ``0``) turns it on for pipes too, ``TERM=dumb``
turns it off. The styles are a handful of ANSI SGR codes written here rather than taken from
``rich``: agentchat keeps its dependency list at the design's four (aiohttp, attrs, cattrs,
anyio) plus orjson, and a dimmed line needs none of rich's machinery (nor its import time,
which ``--help`` would pay).

Only the standard library is imported at run time; the models are types for mypy only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from .._models import ChatCompletion, ChatCompletionChunk, ChatMessage, Usage
    from .._response import ResponseInfo

__all__ = [
    "JsonLines",
    "Renderer",
    "Styles",
    "Terminal",
    "colour_enabled",
    "extras_lines",
    "finish_note",
    "metadata_lines",
    "tool_call_lines",
    "usage_text",
]

# SGR codes: the few styles the chat needs.
_RESET = "\x1b[0m"
_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def colour_enabled(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to colour what is written to ``stream``: ``$NO_COLOR`` wins, then
    ``$FORCE_COLOR``, then ``TERM=dumb``; otherwise only a terminal gets colour."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", "") != "":
        return False
    force = env.get("FORCE_COLOR", "")
    if force not in ("", "0"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


class Styles:
    """ANSI styles for one stream, or plain text when colour is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def paint(self, text: str, *styles: str) -> str:
        """``text`` in ``styles`` (names of :data:`_CODES`), reset after it."""
        if not self.enabled or not text:
            return text
        codes = ";".join(_CODES[style] for style in styles)
        return f"\x1b[{codes}m{text}{_RESET}"

    def dim(self, text: str) -> str:
        return self.paint(text, "dim")

    def bold(self, text: str) -> str:
        return self.paint(text, "bold")

    def error(self, text: str) -> str:
        return self.paint(text, "bold", "red")

    def warning(self, text: str) -> str:
        return self.paint(text, "yellow")

    def label(self, text: str) -> str:
        return self.paint(text, "cyan")

    def prompt(self, text: str) -> str:
        """A prompt for ``input()``: readline must be told which bytes take no room on the
        line (``\\001`` ... ``\\002`` around each escape), or line editing misplaces the
        cursor."""
        if not self.enabled:
            return text
        return f"\001\x1b[1;32m\002{text}\001{_RESET}\002"


# -- what to say about an answer ---------------------------------------------------------


def usage_text(usage: Usage | None) -> str | None:
    """``12 prompt + 30 completion = 42 tokens`` with the breakdowns the server sent, or
    ``None`` without usage."""
    if usage is None:
        return None
    parts = []
    if usage.prompt_tokens is not None:
        parts.append(f"{usage.prompt_tokens} prompt")
    if usage.completion_tokens is not None:
        parts.append(f"{usage.completion_tokens} completion")
    text = " + ".join(parts)
    if usage.total_tokens is not None:
        text = f"{text} = {usage.total_tokens} tokens" if text else f"{usage.total_tokens} tokens"
    elif text:
        text += " tokens"
    details = []
    reasoning = usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens
    if reasoning:
        details.append(f"{reasoning} reasoning")
    cached = usage.cache_read_input_tokens or (
        usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens
    )
    if cached:
        details.append(f"{cached} cached")
    if details:
        text += f" ({', '.join(details)})"
    return text or None


def finish_note(finish_reason: str | None) -> str | None:
    """A note for an answer that did not simply finish (``stop``, ``tool_calls``)."""
    if finish_reason == "length":
        return "the answer was cut short: it reached the token limit (finish_reason=length)"
    if finish_reason == "content_filter":
        return "the answer was stopped by a content filter (finish_reason=content_filter)"
    if finish_reason in (None, "stop", "tool_calls", "function_call", "eos"):
        return None
    return f"finish_reason={finish_reason}"


def tool_call_lines(message: ChatMessage) -> list[str]:
    """``name(arguments)  [id]`` for each tool call of ``message``."""
    lines = []
    for call in message.tool_calls or ():
        function = call.function
        name = (function.name if function else None) or "?"
        arguments = (function.arguments if function else None) or ""
        suffix = f"  [{call.id}]" if call.id else ""
        lines.append(f"{name}({arguments}){suffix}")
    return lines


def extras_lines(completion: ChatCompletion) -> list[tuple[str, str]]:
    """The agent's extras and any citations, as ``(label, text)`` pairs: what was retrieved,
    which functions ran, which guardrails fired. A section the agent sent empty says so
    (``nothing``), which tells "asked, and none" from "not asked"."""
    lines: list[tuple[str, str]] = []
    if completion.retrieval is not None:
        found = completion.retrieval.retrieved_data or ()
        for item in found:
            where = f" from {item.index}" if item.index else ""
            score = f" (score {item.score:.2f})" if item.score is not None else ""
            lines.append(("retrieved", f"{item.id or '?'}{where}{score}"))
        if not found:
            lines.append(("retrieved", "nothing"))
    if completion.functions is not None:
        called = completion.functions.called_functions or ()
        lines.append(("functions called", ", ".join(called) if called else "none"))
    if completion.guardrails is not None:
        fired = completion.guardrails.triggered_guardrails or ()
        for guardrail in fired:
            rule = guardrail.rule_name or "?"
            lines.append(
                ("guardrail", f"{rule}: {guardrail.message}" if guardrail.message else rule)
            )
        if not fired:
            lines.append(("guardrails", "none triggered"))
    for number, citation in enumerate(_citations(completion), 1):
        lines.append((f"citation {number}", _citation_text(citation)))
    return lines


def _citations(completion: ChatCompletion) -> list[Any]:
    """Citations, wherever a server put them: the models have no field for them (the spec
    has only the ``provide_citations`` request flag), so they arrive as an unknown field,
    kept in ``extra``, of the completion or of the message."""
    found: list[Any] = []
    places: list[Mapping[str, Any]] = [completion.extra]
    if completion.choices:
        places.append(completion.choices[0].message.extra)
    for extra in places:
        value = extra.get("citations")
        if isinstance(value, (list, tuple)):
            found.extend(value)
        elif value is not None:
            found.append(value)
    return found


def _citation_text(citation: Any) -> str:
    """A citation as one line: its title and URL when it has them, else its JSON."""
    if isinstance(citation, str):
        return citation
    if isinstance(citation, Mapping):
        named = [str(citation[key]) for key in ("title", "url", "source") if citation.get(key)]
        if named:
            return " ".join(named)
    return json.dumps(citation, ensure_ascii=False, separators=(", ", ": "))


def metadata_lines(
    completion: ChatCompletion | None,
    response: ResponseInfo | None,
    *,
    elapsed: float,
    chunks: int | None,
    interrupted: bool,
) -> list[tuple[str, str]]:
    """What ``/info`` shows about the last answer: model, id, finish reason, request id,
    usage, rate limits, attempts and times."""
    lines: list[tuple[str, str]] = []
    choice = completion.choices[0] if completion is not None and completion.choices else None
    if completion is not None:
        lines.append(("model", completion.model or "?"))
        lines.append(("id", completion.id or "?"))
    finish = choice.finish_reason if choice is not None else None
    lines.append(("finish reason", "interrupted (Ctrl-C)" if interrupted else finish or "?"))
    if response is not None:
        lines.append(("request id", response.request_id or "?"))
        lines.append(("status", str(response.status)))
    usage = usage_text(completion.usage if completion is not None else None)
    lines.append(("usage", usage or "not sent"))
    if response is not None:
        lines.extend(_rate_limit_lines(response))
        lines.append(("attempts", str(response.attempts)))
        lines.append(
            ("elapsed", f"{response.elapsed:.3f} s to the headers, {elapsed:.3f} s in all")
        )
    else:
        lines.append(("elapsed", f"{elapsed:.3f} s"))
    if chunks is not None:
        lines.append(("chunks", str(chunks)))
    return lines


def _rate_limit_lines(response: ResponseInfo) -> list[tuple[str, str]]:
    limits = response.rate_limit
    lines = []
    if limits.limit is not None or limits.remaining is not None:
        text = f"{_number(limits.remaining)}/{_number(limits.limit)} requests left"
        if limits.reset_after is not None:
            text += f", resets in {limits.reset_after:.0f} s"
        lines.append(("rate limit", text))
    for bucket in limits.token_buckets:
        text = f"{_number(bucket.remaining)}/{_number(bucket.limit)} left"
        if bucket.reset_after is not None:
            text += f", resets in {bucket.reset_after:.0f} s"
        lines.append((f"rate limit ({bucket.kind})", text))
    if limits.retry_after is not None:
        lines.append(("retry after", f"{limits.retry_after:g} s"))
    return lines


def _number(value: int | None) -> str:
    return "?" if value is None else str(value)


# -- renderers ---------------------------------------------------------------------------


class Renderer(Protocol):
    """What the chat loop calls while an answer arrives; :class:`Terminal` shows it to a
    person, :class:`JsonLines` writes it for a program."""

    def chunk(self, chunk: ChatCompletionChunk, raw: str) -> None:
        """A streamed chunk, with its JSON text as the server sent it."""

    def completion(self, completion: ChatCompletion) -> None:
        """A whole (non-streamed) answer."""

    def end(self, completion: ChatCompletion | None, *, interrupted: bool) -> None:
        """The answer is over: finished (``completion`` is all of it), interrupted
        (``completion`` is what arrived), or failed (``None``)."""


class Terminal:
    """An answer for a person: the text on ``out``, the rest on ``err`` (see the module
    docstring). It keeps track of which stream holds an unfinished line, so that the two
    never share one when both are the same terminal."""

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        quiet: bool = False,
        out_styles: Styles | None = None,
        err_styles: Styles | None = None,
    ) -> None:
        self.out = out
        self.err = err
        self.quiet = quiet
        self.out_styles = out_styles or Styles(False)
        self.err_styles = err_styles or Styles(False)
        self._open: TextIO | None = None  # the stream whose last line is unfinished
        self._reasoning = False  # reasoning text is being shown

    # -- writing ----------------------------------------------------------------------

    def _write(self, stream: TextIO, text: str) -> None:
        """Write ``text`` on ``stream`` (flushed at once: a stream shows as it arrives),
        first ending the other stream's unfinished line."""
        if not text:
            return
        if self._open is not None and self._open is not stream:
            self._end_line()
        stream.write(text)
        stream.flush()
        self._open = None if text.endswith("\n") else stream

    def _end_line(self) -> None:
        """Finish the unfinished line, if any."""
        stream, self._open = self._open, None
        if stream is not None:
            stream.write("\n")
            stream.flush()

    def line(self, text: str) -> None:
        """A line of its own on stderr (shown even with ``--quiet``: errors and the
        session's answers to commands)."""
        self._end_line()
        self._write(self.err, text + "\n")

    def note(self, text: str) -> None:
        """A dimmed line about the answer on stderr (left out with ``--quiet``)."""
        if not self.quiet:
            self.line(self.err_styles.dim(text))

    def error(self, text: str) -> None:
        """An error line on stderr."""
        self.line(self.err_styles.error(text))

    def pairs(self, pairs: Iterable[tuple[str, str]], *, dim: bool = True) -> None:
        """``label: text`` lines on stderr, labels aligned."""
        rows = list(pairs)
        width = max((len(label) for label, _ in rows), default=0)
        for label, text in rows:
            head = self.err_styles.label(f"{label}:".ljust(width + 1))
            self.line(f"{head} {self.err_styles.dim(text) if dim else text}")

    # -- an answer --------------------------------------------------------------------

    def _reasoning_text(self, text: str) -> None:
        if self.quiet or not text:
            return
        self._reasoning = True
        self._write(self.err, self.err_styles.dim(text))

    def _answer_text(self, text: str) -> None:
        if not text:
            return
        if self._reasoning:  # a blank line between the thinking and the answer
            self._reasoning = False
            self._end_line()
            if not self.quiet:
                self._write(self.err, "\n")
        self._write(self.out, text)

    def chunk(self, chunk: ChatCompletionChunk, raw: str) -> None:
        for choice in chunk.choices:
            if (choice.index or 0) != 0:
                continue  # one answer is shown (the command never asks for more)
            delta = choice.delta
            # vLLM, Ollama and OpenRouter call it "reasoning" (kept in extra), as the
            # accumulator knows too.
            other = delta.extra.get("reasoning") if delta.extra else None
            reasoning = delta.reasoning_content or (other if type(other) is str else None)
            if reasoning:
                self._reasoning_text(reasoning)
            if delta.content:
                self._answer_text(delta.content)
            if delta.refusal:
                self._answer_text(delta.refusal)

    def completion(self, completion: ChatCompletion) -> None:
        if not completion.choices:
            return
        message = completion.choices[0].message
        self._reasoning_text(message.reasoning_content or "")
        self._answer_text(message.content or "")
        self._answer_text(message.refusal or "")

    def end(self, completion: ChatCompletion | None, *, interrupted: bool) -> None:
        self._reasoning = False
        self._end_line()
        if interrupted:
            self.line(self.err_styles.warning("[interrupted]"))
        if completion is None or self.quiet:
            return
        choice = completion.choices[0] if completion.choices else None
        if choice is not None:
            for text in tool_call_lines(choice.message):
                self.line(f"{self.err_styles.label('tool call:')} {text}")
        self.pairs(extras_lines(completion))
        note = finish_note(choice.finish_reason if choice is not None else None)
        if note is not None and not interrupted:
            self.line(self.err_styles.warning(note))
        usage = usage_text(completion.usage)
        if usage is not None:
            self.note(f"usage: {usage}")


class JsonLines:
    """An answer for a program (``--json``): each streamed chunk as one line of JSON on
    ``out`` (its text as the server sent it), or the whole completion as one line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def chunk(self, chunk: ChatCompletionChunk, raw: str) -> None:
        # An event's data may span lines (joined with "\n"); JSON allows a line break only
        # as whitespace outside strings, where a space means the same, so the line stays
        # the server's JSON and parses alike.
        self.out.write(raw.replace("\r", " ").replace("\n", " ") + "\n")
        self.out.flush()

    def completion(self, completion: ChatCompletion) -> None:
        self.out.write(completion.to_json() + "\n")
        self.out.flush()

    def end(self, completion: ChatCompletion | None, *, interrupted: bool) -> None:
        """Nothing to add: the lines written are the whole record."""
