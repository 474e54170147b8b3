"""``agentchat chat``: stream an answer to the terminal, or hold a conversation.

    agentchat chat "What is the capital of Portugal?"    one answer, streamed as it arrives
    echo "What is the capital of Portugal?" | agentchat chat     the same, from a pipe
    agentchat chat                                       a session (stdin a terminal)

**Output.** The answer text goes to stdout; everything about it goes to stderr: the model's
reasoning (dimmed, streamed before the answer), then its tool calls, the agent's extras
(retrieval, functions, guardrails), citations, a note when it was cut short, and the usage
line. So ``agentchat chat "..." > answer.txt`` keeps only the answer, and ``--quiet`` drops
the rest. ``--json`` writes each streamed chunk (or, with ``--no-stream``, the completion) as
one line of JSON on stdout and nothing else. Colour only on a terminal; see ``_render``.

**Model.** ``--model``, else ``$AGENTCHAT_MODEL``. An agent answers with its own model
whatever the request says, so for an agent a default is sent (:data:`AGENT_MODEL`, the name
DigitalOcean's and pydo's samples use); serverless inference and OpenAI-compatible servers
need the real name, so without one the command stops with a usage error before sending.

**The session.** Each turn sends the whole conversation (``--system`` first). Line editing
and input history come from the standard library's ``readline`` where it exists, with the
history kept in ``~/.agentchat_history`` (``$AGENTCHAT_HISTORY_FILE`` names another file; set
it empty for none). Ctrl-C stops the answer being received (the connection is closed; the
part already shown stays in the conversation, marked ``[interrupted]`` on screen) and at the
prompt just gives a new prompt; Ctrl-D or ``/exit`` quits with 0. A turn that fails (an API
error before or during the answer) is not kept: the conversation is as it was before the
question, and the question is one up-arrow away. Slash commands: ``/help``, ``/clear``,
``/info``, ``/save FILE``, ``/exit``; ``//text`` sends ``/text``.

**Exit codes** (one-shot): 0 answered, 1 an API error, 2 usage or configuration (a bad
flag, no key or endpoint, no model, an agent-only flag for another server, a value the
client refuses), 130 interrupted. Errors are one line on stderr.

Why the blocking client: Ctrl-C is a ``KeyboardInterrupt`` in the main thread, where the sync
facade cancels the request in its loop, waits for the connection to be closed and re-raises
(docs/sync.md), and ``input()`` with readline wants the main thread too. The async client
would need a signal handler on the loop and ``input()`` in an executor, for nothing more.

Only the standard library and ``_common`` are imported at the top; the client and the
renderer come in :func:`run`, so ``agentchat chat --help`` never loads aiohttp.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from . import _common

if TYPE_CHECKING:
    from .._models import ChatCompletion
    from .._params import MessageParam, UserMessageParam
    from .._response import ResponseInfo
    from .._sync import Completions, StandardCompletions, Stream
    from ._render import Renderer, Terminal

__all__ = ["configure", "run"]

#: The model sent to an agent when none is named: agents answer with their own model
#: whatever the request says (this is the name of DigitalOcean's and pydo's samples).
AGENT_MODEL = "llama3.3-70b-instruct"
MODEL_VARIABLE = "AGENTCHAT_MODEL"
HISTORY_VARIABLE = "AGENTCHAT_HISTORY_FILE"
HISTORY_FILE = "~/.agentchat_history"
HISTORY_LENGTH = 1000
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

#: The agent-only flags: (argument name, flag). Serverless inference and OpenAI-compatible
#: servers do not take them (the client refuses them too, naming the Python argument).
AGENT_FLAGS = (
    ("include_retrieval_info", "--include-retrieval-info"),
    ("include_guardrails_info", "--include-guardrails-info"),
    ("include_functions_info", "--include-functions-info"),
    ("provide_citations", "--provide-citations"),
    ("kb_filter", "--kb-filter"),
)

SESSION_COMMANDS = """\
/clear       forget the conversation (the --system prompt stays)
/info        the last answer's model, id, finish reason, request id, usage, rate limits,
             attempts and times
/save FILE   write the conversation as JSON, a request body: {"model", "messages"}
/help        this list
/exit        quit (Ctrl-D does too)
//text       sends the line /text"""
SESSION_HELP = (
    SESSION_COMMANDS
    + "\nCtrl-C stops an answer (what arrived stays in the conversation) or clears the line."
)


# -- arguments --------------------------------------------------------------------------


def configure(commands: Any) -> None:
    """Add the ``chat`` command to the ``commands`` subparsers."""
    chat = commands.add_parser(
        "chat",
        help="stream an answer, or hold a conversation",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Stream the answer to PROMPT to the terminal. With no PROMPT: a conversation\n"
            "(stdin a terminal), or one prompt read from stdin (a pipe)."
        ),
        epilog=_EPILOG,
    )
    chat.set_defaults(run=run)
    chat.add_argument(
        "prompt", nargs="*", help="the question (none: a session, or stdin when it is a pipe)"
    )
    request = chat.add_argument_group("request")
    request.add_argument(
        "-m",
        "--model",
        metavar="NAME",
        help=f"the model (default: ${MODEL_VARIABLE}; for an agent, which answers with its own "
        f"model anyway, {AGENT_MODEL}; --serverless and --base-url need one)",
    )
    request.add_argument("-s", "--system", metavar="TEXT", help="a system prompt")
    request.add_argument("--temperature", type=float, metavar="T", help="sampling temperature, 0-2")
    request.add_argument(
        "--max-tokens", type=_common.at_least(1), metavar="N", help="at most N tokens of answer"
    )
    request.add_argument(
        "--reasoning-effort",
        choices=REASONING_EFFORTS,
        metavar="LEVEL",
        help=f"how hard a reasoning model thinks: {', '.join(REASONING_EFFORTS)}",
    )
    agent = chat.add_argument_group("agent extras (agents only)")
    agent.add_argument(
        "--include-retrieval-info",
        action="store_true",
        help="show the knowledge-base chunks the answer used",
    )
    agent.add_argument(
        "--include-guardrails-info", action="store_true", help="show the guardrails that fired"
    )
    agent.add_argument(
        "--include-functions-info", action="store_true", help="show the functions the agent ran"
    )
    agent.add_argument(
        "--provide-citations", action="store_true", help="ask for citations in the answer"
    )
    agent.add_argument(
        "--kb-filter",
        type=_kb_filter,
        action="append",
        metavar="INDEX[:PATH]",
        help="retrieve only from this knowledge base (its UUID), optionally under PATH "
        "(repeatable)",
    )
    output = chat.add_argument_group("output")
    output.add_argument(
        "--json",
        action="store_true",
        help="write each streamed chunk (with --no-stream: the completion) as a line of JSON "
        "on stdout, nothing else",
    )
    output.add_argument("--no-stream", action="store_true", help="ask for the whole answer at once")
    output.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only the answer: no reasoning, extras or usage on stderr",
    )
    _common.add_connection_options(chat)


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


_EPILOG = f"""\
output: the answer on stdout; the reasoning (dimmed, before the answer), tool calls,
agent extras, citations and usage on stderr, so '> answer.txt' keeps only the answer.
Colour only on a terminal ($NO_COLOR: never, $FORCE_COLOR: always).

session (no PROMPT, stdin a terminal): each turn sends the whole conversation; a
failed turn is not kept. Ctrl-C stops an answer (the part shown is kept) or clears
the line; Ctrl-D quits. Input history: {HISTORY_FILE}
(${HISTORY_VARIABLE} names another file; empty: none).
{_indented(SESSION_COMMANDS)}

{_common.CONNECTION_HELP}

exit codes: 0 answered, 1 API error, 2 usage or configuration (bad flag, no key,
endpoint or model, an agent-only flag for another server), 130 interrupted.

examples:
  agentchat chat --demo 'What is the capital of Portugal?'
  agentchat chat 'What is the capital of Portugal?'   # $AGENT_ENDPOINT, $AGENT_ACCESS_KEY
  agentchat chat                                      # a conversation
  echo 'Summarise this: ...' | agentchat chat > summary.txt
  agentchat chat --include-retrieval-info --kb-filter KB_UUID:docs/ 'How do I reset it?'
  agentchat chat --serverless --model llama3.3-70b-instruct 'Hello'
  agentchat chat --base-url http://localhost:8080/v1 --model smollm2 'Hello'
  agentchat chat --json 'Hello' | jq -r '.choices[0].delta.content // empty'"""


def _kb_filter(text: str) -> dict[str, str]:
    """An argparse type: ``INDEX[:PATH]`` as a ``kb_filters`` item."""
    index, _, path = text.partition(":")
    if not index.strip():
        raise argparse.ArgumentTypeError(f"INDEX[:PATH] with a knowledge-base UUID, not {text!r}")
    item = {"index": index.strip()}
    if path:
        item["path"] = path
    return item


class Settings(NamedTuple):
    """What every request of the command sends."""

    model: str
    system: str | None
    params: dict[str, Any]
    stream: bool


def _settings(args: argparse.Namespace) -> Settings | str:
    """The request settings, or the usage error that stops the command before anything is
    sent: a model missing where there is no default, an agent flag for another server."""
    kind = _common.kind(args)
    server = {
        "inference": "--serverless (serverless inference)",
        "compatible": "--base-url (an OpenAI-compatible server)"
        if args.base_url is not None
        else f"${_common.OPENAI_BASE_URL} (an OpenAI-compatible server)",
    }
    if kind != "agent":
        for name, flag in AGENT_FLAGS:
            if getattr(args, name):
                return f"{flag} is for agents only, not for {server[kind]}"
    model = (args.model or os.environ.get(MODEL_VARIABLE) or "").strip()
    if not model:
        if kind != "agent":
            return (
                f"{server[kind]} needs a model: pass --model NAME or set ${MODEL_VARIABLE} "
                "(only an agent has a default)"
            )
        model = AGENT_MODEL
    params: dict[str, Any] = {}
    for name in ("temperature", "max_tokens", "reasoning_effort"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if kind == "agent":
        for name, _flag in AGENT_FLAGS[:-1]:
            if getattr(args, name):
                params[name] = True
        if args.kb_filter:
            params["kb_filters"] = args.kb_filter
    return Settings(model, args.system, params, stream=not args.no_stream)


def _prompt(args: argparse.Namespace) -> str | None:
    """The one-shot prompt (the arguments, else stdin when it is not a terminal), or
    ``None`` for a session. An empty prompt is a usage error."""
    if args.prompt:
        text = " ".join(args.prompt)
        where = "the prompt"
    elif sys.stdin is None or not sys.stdin.isatty():
        text = sys.stdin.read() if sys.stdin is not None else ""
        where = "the prompt read from stdin"
    else:
        return None
    if not text.strip():
        raise _usage_error(f"{where} is empty")
    return text.strip()


def _usage_error(message: str) -> Exception:
    from .._errors import ConfigurationError

    return ConfigurationError(message)


# -- running ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Answer one prompt, or hold a session; returns the exit code."""
    settings = _settings(args)
    if isinstance(settings, str):
        print(f"agentchat chat: {settings}", file=sys.stderr)
        return _common.EXIT_USAGE
    prompt = _prompt(args)
    _tolerate_unencodable_text()
    # Here, not at the top: `agentchat chat --help` loads neither (the client is aiohttp).
    from .._sync import AgentClient
    from . import _render

    terminal = _render.Terminal(
        sys.stdout,
        sys.stderr,
        quiet=args.quiet,
        out_styles=_render.Styles(_render.colour_enabled(sys.stdout)),
        err_styles=_render.Styles(_render.colour_enabled(sys.stderr)),
    )
    renderer: Renderer = _render.JsonLines(sys.stdout) if args.json else terminal
    with _common.target(args) as where:
        client = _common.sync_client(where)
        with client:
            completions: Completions | StandardCompletions = (
                client.agent.chat.completions
                if isinstance(client, AgentClient)
                else client.chat.completions
            )
            chat = Chat(completions, settings, renderer, where)
            if prompt is None:
                return Session(chat, terminal).run()
            return _once(chat, terminal, prompt)


def _tolerate_unencodable_text() -> None:
    """An answer with characters the terminal's encoding lacks is shown escaped, not
    raised as a ``UnicodeEncodeError``."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


def _once(chat: Chat, terminal: Terminal, prompt: str) -> int:
    """One prompt, one answer: 0, 1 for an API error, 130 for Ctrl-C."""
    from .._errors import APIError

    try:
        answer = chat.ask([*chat.preamble(), {"role": "user", "content": prompt}])
    except APIError as error:
        terminal.error(f"agentchat chat: {chat.explain(error)}")
        return _common.EXIT_API_ERROR
    except BrokenPipeError:  # `agentchat chat ... | head`: the reader has gone, fine
        _silence_stdout()
        return _common.EXIT_OK
    if answer.interrupted:
        terminal.line("agentchat chat: interrupted")
        return _common.EXIT_INTERRUPTED
    return _common.EXIT_OK


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not complain
    about the closed pipe (the recipe of Python's signal documentation)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


class Answer(NamedTuple):
    """One answer as received: its text (when interrupted, exactly what was shown), the
    completion (what arrived, when interrupted), its HTTP metadata, the time from sending to
    the end, the number of chunks (``None`` when not streamed), and whether Ctrl-C stopped
    it."""

    text: str
    completion: ChatCompletion | None
    response: ResponseInfo | None
    elapsed: float
    chunks: int | None
    interrupted: bool


def _content(completion: ChatCompletion) -> str:
    """The text of the first choice ("" for none: a tool call, say)."""
    return (completion.choices[0].message.content or "") if completion.choices else ""


class Chat:
    """Sends a conversation and shows the answer: the part shared by one-shot and session."""

    def __init__(
        self,
        completions: Completions | StandardCompletions,
        settings: Settings,
        renderer: Renderer,
        where: _common.Target,
    ) -> None:
        self.completions = completions
        self.settings = settings
        self.renderer = renderer
        self.where = where

    def preamble(self) -> list[MessageParam]:
        """The messages every request starts with: the system prompt, if any."""
        if self.settings.system is None:
            return []
        return [{"role": "system", "content": self.settings.system}]

    def ask(self, messages: list[MessageParam]) -> Answer:
        """Send ``messages`` and show the answer as it arrives. Ctrl-C stops it and returns
        what arrived (``interrupted``); an API error is raised after what arrived before it
        is shown."""
        started = time.monotonic()
        if not self.settings.stream:
            try:
                completion = cast(
                    "ChatCompletion",
                    self.completions.create(
                        model=self.settings.model, messages=messages, **self.settings.params
                    ),
                )
            except KeyboardInterrupt:
                return Answer("", None, None, time.monotonic() - started, None, interrupted=True)
            self.renderer.completion(completion)
            self.renderer.end(completion, interrupted=False)
            elapsed = time.monotonic() - started
            return Answer(
                _content(completion), completion, completion.response, elapsed, None, False
            )
        try:
            stream = cast(
                "Stream",
                self.completions.create(
                    model=self.settings.model,
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                    **self.settings.params,
                ),
            )
        except KeyboardInterrupt:
            return Answer("", None, None, time.monotonic() - started, None, interrupted=True)
        shown: list[str] = []  # the text shown: what an interrupted answer keeps
        try:
            with stream:
                while batch := stream.next_batch_raw():
                    for chunk, raw in batch:
                        self.renderer.chunk(chunk, raw)
                        shown.extend(
                            choice.delta.content
                            for choice in chunk.choices
                            if (choice.index or 0) == 0 and choice.delta.content
                        )
                completion = stream.get_final_completion()
        except KeyboardInterrupt:
            # The sync facade has cancelled the read and closed the connection; leaving
            # `with` closed the stream. What arrived is kept.
            partial = stream.snapshot()
            self.renderer.end(None, interrupted=False)
            return Answer(
                "".join(shown),
                partial,
                stream.response,
                time.monotonic() - started,
                stream.chunks_received,
                interrupted=True,
            )
        except BaseException:
            self.renderer.end(None, interrupted=False)  # finish the line shown so far
            raise
        self.renderer.end(completion, interrupted=False)
        elapsed = time.monotonic() - started
        return Answer(
            _content(completion),
            completion,
            stream.response,
            elapsed,
            stream.chunks_received,
            False,
        )

    def explain(self, error: BaseException) -> str:
        """The error's line, with what to check for a refused key or a wrong endpoint."""
        from .._errors import AuthenticationError, NotFoundError

        text = str(error)
        key, endpoint = {
            "agent": (f"${_common.AGENT_KEY}", f"--endpoint or ${_common.AGENT_ENDPOINT}"),
            "inference": (f"${_common.MODEL_KEY}", f"--endpoint or ${_common.INFERENCE_ENDPOINT}"),
            "compatible": (f"${_common.OPENAI_KEY}", f"--base-url or ${_common.OPENAI_BASE_URL}"),
        }[self.where.kind]
        if isinstance(error, AuthenticationError):
            text += f"; check the key ({key}, or --ask-key)"
        elif isinstance(error, NotFoundError):
            text += f"; check the URL ({endpoint})"
        return text


# -- the session ------------------------------------------------------------------------


class Session:
    """An interactive conversation on a terminal (see the module docstring)."""

    def __init__(self, chat: Chat, terminal: Terminal) -> None:
        self.chat = chat
        self.terminal = terminal
        self.turns: list[MessageParam] = []  # user and assistant messages, in order
        self.last: Answer | None = None
        self.commands: dict[str, Callable[[str], bool]] = {
            "/help": self._help,
            "/clear": self._clear,
            "/info": self._info,
            "/save": self._save,
            "/exit": self._exit,
            "/quit": self._exit,
        }

    def run(self) -> int:
        """Read prompts until Ctrl-D or ``/exit``; returns 0 (or 2 when the settings are
        refused by the client: every turn would fail the same way)."""
        with _line_editing():
            self._banner()
            prompt = self.terminal.out_styles.prompt("> ")
            while True:
                try:
                    line = input(prompt)
                except KeyboardInterrupt:  # Ctrl-C at the prompt: a fresh prompt
                    self.terminal.out.write("\n")
                    continue
                except EOFError:  # Ctrl-D
                    self.terminal.out.write("\n")
                    return _common.EXIT_OK
                text = line.strip()
                if not text:
                    continue
                if text.startswith("/") and not text.startswith("//"):
                    if not self._command(text):
                        return _common.EXIT_OK
                    continue
                code = self._turn(text.removeprefix("/") if text.startswith("//") else text)
                if code is not None:
                    return code

    def _banner(self) -> None:
        where = self.chat.where
        place = where.endpoint or "DigitalOcean serverless inference"
        self.terminal.note(
            f"agentchat chat: {self.chat.settings.model} at {place}. "
            "/help for commands, Ctrl-D to quit."
        )

    def _turn(self, text: str) -> int | None:
        """Ask ``text`` with the conversation so far; keep the turn if it was answered or
        interrupted after some text. Returns an exit code only when the session must end."""
        from .._errors import AgentChatError, APIError, ConfigurationError, InvalidRequestError

        question: UserMessageParam = {"role": "user", "content": text}
        messages = [*self.chat.preamble(), *self.turns, question]
        try:
            answer = self.chat.ask(messages)
        except (ConfigurationError, InvalidRequestError) as error:
            self.terminal.error(f"agentchat chat: {error}")
            return _common.EXIT_USAGE
        except APIError as error:
            self.terminal.error(f"error: {self.chat.explain(error)} (this turn is not kept)")
            return None
        except AgentChatError as error:
            self.terminal.error(f"error: {error} (this turn is not kept)")
            return None
        except KeyboardInterrupt:  # while the extras were shown: the answer is complete
            self.terminal.line("")
            return None
        self.last = answer
        if answer.interrupted:
            self.terminal.line(self.terminal.err_styles.warning("[interrupted]"))
            if not answer.text:
                return None  # nothing arrived: the question is not kept either
        self.turns += [question, {"role": "assistant", "content": answer.text}]
        return None

    # -- slash commands ---------------------------------------------------------------

    def _command(self, text: str) -> bool:
        """Run a slash command; False means quit."""
        name, _, argument = text.partition(" ")
        command = self.commands.get(name.lower())
        if command is None:
            self.terminal.error(f"unknown command {name}: /help lists them")
            return True
        return command(argument.strip())

    def _help(self, argument: str) -> bool:
        for line in SESSION_HELP.splitlines():
            self.terminal.line(line)
        return True

    def _clear(self, argument: str) -> bool:
        count = len(self.turns)
        self.turns.clear()
        self.terminal.line(f"conversation cleared ({count} messages forgotten)")
        return True

    def _info(self, argument: str) -> bool:
        from ._render import metadata_lines

        if self.last is None:
            self.terminal.line("no answer yet")
            return True
        answer = self.last
        self.terminal.pairs(
            metadata_lines(
                answer.completion,
                answer.response,
                elapsed=answer.elapsed,
                chunks=answer.chunks,
                interrupted=answer.interrupted,
            ),
            dim=False,
        )
        return True

    def _save(self, argument: str) -> bool:
        import json

        if not argument:
            self.terminal.error("/save FILE: name the file to write")
            return True
        path = os.path.expanduser(argument)
        messages = [*self.chat.preamble(), *self.turns]
        record = {"model": self.chat.settings.model, "messages": messages}
        try:
            with open(path, "w", encoding="utf-8") as file:
                json.dump(record, file, ensure_ascii=False, indent=2)
                file.write("\n")
        except OSError as error:
            self.terminal.error(f"could not save: {error}")
            return True
        count = len(messages)
        self.terminal.line(f"saved {count} message{'s' if count != 1 else ''} to {path}")
        return True

    def _exit(self, argument: str) -> bool:
        return False


@contextlib.contextmanager
def _line_editing() -> Iterator[None]:
    """Line editing and input history with the standard library's ``readline`` (absent on
    some platforms: then plain ``input()``), the history loaded from and saved to the
    history file. The file is private (0600): prompts can be sensitive."""
    try:
        import readline
    except ImportError:
        yield
        return
    path = os.environ.get(HISTORY_VARIABLE, HISTORY_FILE)
    path = os.path.expanduser(path) if path else ""
    readline.set_history_length(HISTORY_LENGTH)
    if path:
        with contextlib.suppress(OSError):
            readline.read_history_file(path)
    try:
        yield
    finally:
        if path:
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
                readline.write_history_file(path)
