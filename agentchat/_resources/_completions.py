"""``chat.completions``: build, check and send a chat-completions request.

Two flavours share everything but ``create()``'s signature: :class:`AsyncCompletions`
(``client.agent.chat.completions``, with a DigitalOcean agent's own fields) and
:class:`AsyncStandardCompletions` (``client.chat.completions`` of the serverless inference and
OpenAI-compatible clients, with the standard fields only). Both build the body and hand it to
:meth:`_AsyncCompletionsBase._send`; the fan-out and batch files are the base's too.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, overload

import aiohttp

from .. import _json
from .._backoff import check_max_retries
from .._errors import (
    APIError,
    APIResponseValidationError,
    InvalidRequestError,
    parse_error_body,
    snippet,
)
from .._params import (
    AGENT_FIELDS,
    ChatCompletionCreateParams,
    CompletionCreateParams,
    KBFilterParam,
    MessageParam,
    ReasoningEffort,
    RetrievalMethod,
    ToolChoiceParam,
    ToolParam,
)
from .._response import ResponseInfo
from .._timeouts import Timeout, to_timeout
from .._transport import logger
from .._validate import CHECKED_FIELDS, check_body, check_json

if TYPE_CHECKING:
    from typing_extensions import Unpack
    from yarl import URL

    from .._client import _AsyncClient
    from .._fanout import AsyncFanOut, Outcome, Progress, RequestsInput
    from .._hooks import CallStarted
    from .._models._completion import ChatCompletion
    from .._models._options import StreamOptions
    from .._streaming import AsyncStream
    from .._tools._runner import AsyncToolRun, ErrorText, ToolLike, ToolRunResult

__all__ = [
    "CREATE_KEYWORDS",
    "STANDARD_KEYWORDS",
    "AsyncCompletions",
    "AsyncStandardCompletions",
    "parse_completion",
    "unknown_keyword",
]


class _AsyncCompletionsBase:
    """What both flavours share: sending a body (retries, streaming, parsing), the fan-out and
    its batch files."""

    def __init__(self, client: _AsyncClient) -> None:
        self._client = client

    if TYPE_CHECKING:
        # Each flavour defines create() with its own fields; the fan-out calls it with a dict.
        async def create(self, *args: Any, **params: Any) -> ChatCompletion | AsyncStream: ...

    async def _send(
        self,
        body: dict[str, Any],
        extra_headers: Mapping[str, str] | None,
        extra_query: Mapping[str, str] | None,
        extra_body: Mapping[str, Any] | None,
        timeout: float | Timeout | None,
        max_retries: int | None,
    ) -> ChatCompletion | AsyncStream:
        """Check ``body``, send it, and parse the answer: a completion, or an open stream."""
        client = self._client
        check_body(body)
        streaming = body.get("stream") is True
        if extra_body:
            body.update(extra_body)
        payload = check_json(body)
        call_timeout = client.timeout if timeout is None else to_timeout(timeout)
        retries = client.max_retries if max_retries is None else check_max_retries(max_retries)
        url = client._completions_url(extra_query)
        headers = client._request_headers(extra_headers, stream=streaming)
        hooks = client._hooks
        if hooks:  # all that a client without hooks pays for them
            telemetry = client._telemetry
            if telemetry is not None and not telemetry.recording():
                hooks = client._user_hooks  # OpenTelemetry with no provider: nothing to record
            if hooks:
                return await self._send_observed(
                    hooks, body, payload, url, headers, streaming, call_timeout, retries
                )
        if not streaming:  # the plain call, spelt out: one coroutine frame less per call
            data, info = await client._transport.fetch(
                url, payload, headers=headers, timeout=call_timeout, max_retries=retries
            )
            return parse_completion(data, info)
        result, _ = await self._transmit(url, payload, headers, streaming, call_timeout, retries)
        return result

    async def _transmit(
        self,
        url: URL,
        payload: bytes,
        headers: Mapping[str, str],
        streaming: bool,
        call_timeout: Timeout,
        retries: int,
        on_retry: Callable[[int, APIError, float, str], Awaitable[None]] | None = None,
    ) -> tuple[ChatCompletion | AsyncStream, ResponseInfo]:
        """Send the checked payload, with retries: a parsed completion, or a stream whose
        first event has arrived, and the metadata of the response."""
        transport = self._client._transport
        if not streaming:
            data, info = await transport.fetch(
                url,
                payload,
                headers=headers,
                timeout=call_timeout,
                max_retries=retries,
                on_retry=on_retry,
            )
            return parse_completion(data, info), info
        deadline = None
        if call_timeout.total is not None:
            deadline = asyncio.get_running_loop().time() + call_timeout.total

        async def open_stream(response: aiohttp.ClientResponse, info: ResponseInfo) -> AsyncStream:
            return await _open_stream(response, info, call_timeout, deadline)

        return await transport.request(
            url,
            payload,
            headers=headers,
            timeout=call_timeout,
            max_retries=retries,
            consume=open_stream,
            stream=True,
            on_retry=on_retry,
        )

    async def _send_observed(
        self,
        hooks: tuple[object, ...],
        body: dict[str, Any],
        payload: bytes,
        url: URL,
        headers: Mapping[str, str],
        streaming: bool,
        call_timeout: Timeout,
        retries: int,
    ) -> ChatCompletion | AsyncStream:
        """:meth:`_send` for a client with hooks: the same call, told to them (see
        ``agentchat._hooks``): ``on_request`` first, ``on_retry`` before each retry's wait,
        then one of ``on_response`` and ``on_error``, here for a plain call or a stream that
        never opened, by the stream itself for one that did."""
        from .._hooks import CallEnded, CallStarted, RetryScheduled, call_hooks, next_call_id

        client = self._client
        model = body.get("model")
        started = CallStarted(
            call_id=next_call_id(),
            server=client._service.kind,
            url=str(url),
            model=model if isinstance(model, str) else str(model),
            stream=streaming,
            body=MappingProxyType(body),
            started=time.monotonic(),
        )
        call_id = started.call_id

        async def on_retry(attempt: int, error: APIError, delay: float, reason: str) -> None:
            await call_hooks(
                hooks, "on_retry", RetryScheduled(call_id, attempt, error, delay, reason)
            )

        try:
            await call_hooks(hooks, "on_request", started)
            if started.headers:
                headers = _with_hook_headers(headers, started.headers)
            result, info = await self._transmit(
                url, payload, headers, streaming, call_timeout, retries, on_retry
            )
        except BaseException as error:
            await _report_failure(hooks, started, error)
            raise
        elapsed = time.monotonic() - started.started
        from .._models._completion import ChatCompletion

        if not isinstance(result, ChatCompletion):  # a stream, which reports its own end
            result._observe(hooks, started, elapsed)
            return result
        await call_hooks(hooks, "on_response", CallEnded(call_id, result, info, elapsed))
        return result

    def create_many(
        self,
        requests: RequestsInput,
        *,
        max_concurrency: int = 16,
        ordered: bool = True,
        fail_fast: bool = False,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        adaptive: bool = True,
        keep_chunks: bool = False,
        max_buffered: int | None = None,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> AsyncFanOut:
        """Run many requests with bounded, paced concurrency; one :class:`~agentchat.Outcome`
        per input::

            async with client.agent.chat.completions.create_many(requests) as results:
                async for outcome in results:
                    ...

        ``requests`` is any iterable or async iterable (read lazily) of ``create()`` keyword
        dicts, or :class:`~agentchat.Request` objects carrying an id. Outcomes come in input
        order, or as they complete with ``ordered=False``; each says its input's ``index``
        and ``id``. Concurrency starts at ``max_concurrency`` and adapts to the server (halved
        on a 429, which also pauses every worker for its ``Retry-After``; grown back on
        success); ``requests_per_minute`` and ``tokens_per_minute`` cap it further. A failed
        input is an outcome with its ``error`` (after the usual retries), unless
        ``fail_fast=True``, which stops everything and raises the first error. Streamed
        requests are accumulated (``keep_chunks=True`` keeps their chunks too).
        ``on_progress`` is called with a :class:`~agentchat.Progress` after each outcome.
        ``max_buffered`` bounds the finished outcomes held back (waiting in input order for a
        slower one, or for you to read them): by default the larger of 1,024 and 16 x
        ``max_concurrency``.
        """
        from .._fanout import AsyncFanOut  # anyio's task machinery loads only when used

        return AsyncFanOut(
            self,
            requests,
            max_concurrency=max_concurrency,
            ordered=ordered,
            fail_fast=fail_fast,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            adaptive=adaptive,
            keep_chunks=keep_chunks,
            max_buffered=max_buffered,
            on_progress=on_progress,
        )

    async def create_all(
        self,
        requests: RequestsInput,
        *,
        max_concurrency: int = 16,
        fail_fast: bool = False,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> list[Outcome]:
        """Run every request (as :meth:`create_many` does) and return all the outcomes, in
        input order. For inputs that fit in memory; stream the rest with ``create_many``."""
        async with self.create_many(
            requests,
            max_concurrency=max_concurrency,
            fail_fast=fail_fast,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            on_progress=on_progress,
        ) as results:
            return [outcome async for outcome in results]

    @overload
    async def run_tools(
        self,
        *,
        messages: Iterable[MessageParam],
        tools: Iterable[ToolLike],
        model: str,
        max_rounds: int = 8,
        max_parallel: int = 8,
        on_tool_error: Literal["report", "raise"] = "report",
        error_text: ErrorText | None = None,
        reset_tool_choice: bool = True,
        stream: Literal[False] = False,
        **params: Any,
    ) -> ToolRunResult: ...

    @overload
    async def run_tools(
        self,
        *,
        messages: Iterable[MessageParam],
        tools: Iterable[ToolLike],
        model: str,
        max_rounds: int = 8,
        max_parallel: int = 8,
        on_tool_error: Literal["report", "raise"] = "report",
        error_text: ErrorText | None = None,
        reset_tool_choice: bool = True,
        stream: Literal[True],
        **params: Any,
    ) -> AsyncToolRun: ...

    @overload
    async def run_tools(
        self,
        *,
        messages: Iterable[MessageParam],
        tools: Iterable[ToolLike],
        model: str,
        max_rounds: int = 8,
        max_parallel: int = 8,
        on_tool_error: Literal["report", "raise"] = "report",
        error_text: ErrorText | None = None,
        reset_tool_choice: bool = True,
        stream: bool = False,
        **params: Any,
    ) -> ToolRunResult | AsyncToolRun: ...

    async def run_tools(
        self,
        *,
        messages: Iterable[MessageParam],
        tools: Iterable[ToolLike],
        model: str,
        max_rounds: int = 8,
        max_parallel: int = 8,
        on_tool_error: Literal["report", "raise"] = "report",
        error_text: ErrorText | None = None,
        reset_tool_choice: bool = True,
        stream: bool = False,
        **params: Any,
    ) -> ToolRunResult | AsyncToolRun:
        """Run a tool-using exchange to its end in one call: send the tools' definitions, run
        the functions the model asks for, send their results back, and ask again until an
        answer has no tool calls::

            result = await client.chat.completions.run_tools(
                model="m", messages=[{"role": "user", "content": "Weather in Paris?"}],
                tools=[get_weather],
            )
            print(result.text)

        ``tools`` are :class:`~agentchat.FunctionTool` objects or plain functions (wrapped
        with :func:`~agentchat.function_tool`). The calls of one answer run concurrently, at
        most ``max_parallel`` at a time; coroutine functions on the event loop, plain ones in
        a worker thread. Arguments that are not valid JSON or do not fit, a tool the model
        was not given, or an exception in the function become an error text the model sees
        (``error_text``: a format string with ``{name}``, ``{error}``, ``{error_type}``, or a
        function ``(name, error) -> str``); ``on_tool_error="raise"`` raises a
        :class:`~agentchat.ToolError` instead. After ``max_rounds`` requests that all asked
        for tools, :class:`~agentchat.ToolRoundLimitError` is raised with the conversation.
        Other keywords (``temperature``, ``tool_choice``, ``extra_headers``, ...) go to
        every request as ``create()`` takes them, except that a ``tool_choice`` forcing a
        call (``"required"``, or a named function) is sent with the first request only
        (``reset_tool_choice=False`` sends it with every request): forced on every round,
        the model could never answer, and the run would end at ``max_rounds``.

        Returns a :class:`~agentchat.ToolRunResult`: the final ``completion``, the whole
        conversation as ``messages`` (ready to continue), a :class:`~agentchat.ToolRound`
        per request, and the summed ``usage``. With ``stream=True`` every request is
        streamed, and it returns the run as events instead (:class:`~agentchat.AsyncToolRun`,
        read in ``async with``): text as it arrives, tool calls, their results, round ends;
        its ``get_result()`` gives the same result at the end.
        """
        from .._tools._runner import start_tool_run  # the tool machinery loads only when used

        return await start_tool_run(
            self,
            messages=messages,
            tools=tools,
            model=model,
            max_rounds=max_rounds,
            max_parallel=max_parallel,
            on_tool_error=on_tool_error,
            error_text=error_text,
            reset_tool_choice=reset_tool_choice,
            stream=stream,
            params=params,
        )


class AsyncCompletions(_AsyncCompletionsBase):
    """The chat-completions operation of a DigitalOcean agent endpoint
    (``client.agent.chat.completions``): the standard fields and the agent's own."""

    @overload
    async def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[CompletionCreateParams]
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[CompletionCreateParams]
    ) -> AsyncStream: ...

    @overload
    async def create(
        self, *, stream: bool | None = None, **params: Unpack[CompletionCreateParams]
    ) -> ChatCompletion | AsyncStream: ...

    async def create(
        self,
        *,
        messages: Iterable[MessageParam],
        model: str,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        top_logprobs: int | None = None,
        tools: Iterable[ToolParam] | None = None,
        tool_choice: ToolChoiceParam | None = None,
        stream: bool | None = None,
        stop: str | Sequence[str] | None = None,
        logit_bias: Mapping[str, int] | Mapping[int, int] | None = None,
        logprobs: bool | None = None,
        n: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        reasoning_effort: ReasoningEffort | None = None,
        seed: int | None = None,
        metadata: Mapping[str, str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        user: str | None = None,
        k: int | None = None,
        retrieval_method: RetrievalMethod | None = None,
        kb_filters: Iterable[KBFilterParam] | None = None,
        filter_kb_content_by_query_metadata: bool | None = None,
        instruction_override: str | None = None,
        include_functions_info: bool | None = None,
        include_retrieval_info: bool | None = None,
        include_guardrails_info: bool | None = None,
        provide_citations: bool | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        **unknown: Any,
    ) -> ChatCompletion | AsyncStream:
        """Create a model response for the conversation in ``messages``.

        Every request field is a keyword; a field left at ``None`` is not sent (to send a
        JSON ``null``, use ``extra_body={"field": None}``). Values are checked against the
        spec's limits before anything is sent and rejected with
        :class:`~agentchat.InvalidRequestError`.

        With ``stream=True`` it returns an open stream of
        :class:`~agentchat.ChatCompletionChunk` (:class:`~agentchat.AsyncStream`, read in
        ``async with``); otherwise a :class:`~agentchat.ChatCompletion`. Either has a
        ``response`` attribute with the status, headers, request id and rate limits.

        ``extra_headers``, ``extra_query`` and ``extra_body`` add what a server accepts
        beyond this signature (``extra_body`` is merged last and is not checked). Any other
        keyword is an :class:`~agentchat.InvalidRequestError` naming it, not a field sent
        unchecked: a misspelt ``temprature=`` must not be silently ignored by the server.
        ``timeout`` and ``max_retries`` override the client's settings for this call.
        """
        if unknown:
            raise unknown_keyword(unknown, CREATE_KEYWORDS)
        body = _standard_body(
            messages,
            model,
            max_tokens,
            max_completion_tokens,
            frequency_penalty,
            presence_penalty,
            top_logprobs,
            tools,
            tool_choice,
            stream,
            stop,
            logit_bias,
            logprobs,
            n,
            stream_options,
            reasoning_effort,
            seed,
            metadata,
            temperature,
            top_p,
            user,
        )
        if k is not None:
            body["k"] = k
        if retrieval_method is not None:
            body["retrieval_method"] = retrieval_method
        if kb_filters is not None:
            body["kb_filters"] = _as_list(kb_filters)
        if filter_kb_content_by_query_metadata is not None:
            body["filter_kb_content_by_query_metadata"] = filter_kb_content_by_query_metadata
        if instruction_override is not None:
            body["instruction_override"] = instruction_override
        if include_functions_info is not None:
            body["include_functions_info"] = include_functions_info
        if include_retrieval_info is not None:
            body["include_retrieval_info"] = include_retrieval_info
        if include_guardrails_info is not None:
            body["include_guardrails_info"] = include_guardrails_info
        if provide_citations is not None:
            body["provide_citations"] = provide_citations
        return await self._send(body, extra_headers, extra_query, extra_body, timeout, max_retries)


class AsyncStandardCompletions(_AsyncCompletionsBase):
    """The chat-completions operation of DigitalOcean serverless inference and of any
    OpenAI-compatible server (``client.chat.completions``): the standard fields only."""

    @overload
    async def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[ChatCompletionCreateParams]
    ) -> AsyncStream: ...

    @overload
    async def create(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | AsyncStream: ...

    async def create(
        self,
        *,
        messages: Iterable[MessageParam],
        model: str,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        top_logprobs: int | None = None,
        tools: Iterable[ToolParam] | None = None,
        tool_choice: ToolChoiceParam | None = None,
        stream: bool | None = None,
        stop: str | Sequence[str] | None = None,
        logit_bias: Mapping[str, int] | Mapping[int, int] | None = None,
        logprobs: bool | None = None,
        n: int | None = None,
        stream_options: StreamOptions | Mapping[str, Any] | None = None,
        reasoning_effort: ReasoningEffort | None = None,
        seed: int | None = None,
        metadata: Mapping[str, str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        user: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        **unknown: Any,
    ) -> ChatCompletion | AsyncStream:
        """Create a model response for the conversation in ``messages``.

        The same as the agent client's :meth:`AsyncCompletions.create`, with the standard
        chat-completions fields only: an agent's own fields (``k``, ``kb_filters``,
        ``include_retrieval_info``, ...) are refused before anything is sent. A field left at
        ``None`` is not sent; values are checked against the spec's limits; ``extra_body``,
        ``extra_headers`` and ``extra_query`` send what a server takes beyond these (vLLM's
        ``top_k``, Ollama's ``options``), unchecked. With ``stream=True`` it returns an open
        stream (:class:`~agentchat.AsyncStream`), otherwise a :class:`~agentchat.ChatCompletion`.
        """
        if unknown:
            raise unknown_keyword(unknown, STANDARD_KEYWORDS)
        body = _standard_body(
            messages,
            model,
            max_tokens,
            max_completion_tokens,
            frequency_penalty,
            presence_penalty,
            top_logprobs,
            tools,
            tool_choice,
            stream,
            stop,
            logit_bias,
            logprobs,
            n,
            stream_options,
            reasoning_effort,
            seed,
            metadata,
            temperature,
            top_p,
            user,
        )
        return await self._send(body, extra_headers, extra_query, extra_body, timeout, max_retries)


def _standard_body(
    messages: Iterable[MessageParam],
    model: str,
    max_tokens: int | None,
    max_completion_tokens: int | None,
    frequency_penalty: float | None,
    presence_penalty: float | None,
    top_logprobs: int | None,
    tools: Iterable[ToolParam] | None,
    tool_choice: ToolChoiceParam | None,
    stream: bool | None,
    stop: str | Sequence[str] | None,
    logit_bias: Mapping[str, int] | Mapping[int, int] | None,
    logprobs: bool | None,
    n: int | None,
    stream_options: StreamOptions | Mapping[str, Any] | None,
    reasoning_effort: ReasoningEffort | None,
    seed: int | None,
    metadata: Mapping[str, str] | None,
    temperature: float | None,
    top_p: float | None,
    user: str | None,
) -> dict[str, Any]:
    """The body of the standard fields given, and only those (None is "not given").

    Written out rather than filtered from a dict of every field: this runs on every call.
    """
    body: dict[str, Any] = {"messages": _as_list(messages), "model": model}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if max_completion_tokens is not None:
        body["max_completion_tokens"] = max_completion_tokens
    if frequency_penalty is not None:
        body["frequency_penalty"] = frequency_penalty
    if presence_penalty is not None:
        body["presence_penalty"] = presence_penalty
    if top_logprobs is not None:
        body["top_logprobs"] = top_logprobs
    if tools is not None:
        body["tools"] = _as_list(tools)
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if stream is not None:
        body["stream"] = stream
    if stop is not None:
        body["stop"] = stop
    if logit_bias is not None:
        body["logit_bias"] = logit_bias
    if logprobs is not None:
        body["logprobs"] = logprobs
    if n is not None:
        body["n"] = n
    if stream_options is not None:
        body["stream_options"] = stream_options
    if reasoning_effort is not None:
        body["reasoning_effort"] = reasoning_effort
    if seed is not None:
        body["seed"] = seed
    if metadata is not None:
        body["metadata"] = metadata
    if temperature is not None:
        body["temperature"] = temperature
    if top_p is not None:
        body["top_p"] = top_p
    if user is not None:
        body["user"] = user
    return body


def _with_hook_headers(headers: Mapping[str, str], added: Mapping[str, str]) -> Mapping[str, str]:
    """The request's headers with those the ``on_request`` hooks added; invalid ones (a
    name that is no HTTP token, a value with a line break) are left out, with a warning:
    a hook never breaks a call."""
    from .._client import _check_headers  # not at import: the client imports this module

    try:
        checked = _check_headers(added, "CallStarted.headers")
    except InvalidRequestError as exc:
        logger.warning("headers added by a hook are not sent: %s", exc)
        return headers
    return {**headers, **checked}


async def _report_failure(
    hooks: tuple[object, ...], started: CallStarted, error: BaseException
) -> None:
    """Tell the hooks that a call failed (or was cancelled) before it had a result."""
    from .._hooks import CallFailed, call_hooks, call_hooks_now, call_hooks_shielded

    response = getattr(error, "response", None)
    failed = CallFailed(
        started.call_id,
        error,
        time.monotonic() - started.started,
        response=response if isinstance(response, ResponseInfo) else None,
    )
    if isinstance(error, Exception):
        await call_hooks(hooks, "on_error", failed)
    elif isinstance(error, GeneratorExit):  # the coroutine is being closed: no awaiting
        call_hooks_now(hooks, "on_error", failed)
    else:  # cancelled, interrupted: told all the same, shielded from the cancellation
        await call_hooks_shielded(hooks, "on_error", failed)


async def _open_stream(
    response: aiohttp.ClientResponse,
    info: ResponseInfo,
    timeout: Timeout,
    deadline: float | None,
) -> AsyncStream:
    """An event stream becomes an :class:`AsyncStream`, returned once its first event has
    arrived. A server that answers a stream request with a plain JSON completion gets a
    finished stream of that completion; a JSON error body, or any other content, raises."""
    from .._streaming import AsyncStream  # imported by the first stream: plain calls skip it

    content_type = info.content_type
    if content_type in ("text/event-stream", ""):
        stream = AsyncStream(response, info, timeout=timeout, deadline=deadline)
        await stream.prime()  # inside the retry loop: a stream cut before its first event
        return stream  # is retried

    try:
        data = await response.read()
    finally:
        response.release()
    if content_type == "application/json" or content_type.endswith("+json"):
        return AsyncStream.from_completion(parse_completion(data, info), timeout)
    raise APIResponseValidationError(
        f"Expected an event stream from HTTP {info.status}, got {content_type}: {snippet(data)}",
        body=data.decode("utf-8", "replace"),
        response=info,
        attempts=info.attempts,
    )


_CALL_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout", "max_retries"})
#: Every keyword the agent's create() takes, and the standard create().
CREATE_KEYWORDS = CHECKED_FIELDS | _CALL_OPTIONS
STANDARD_KEYWORDS = CREATE_KEYWORDS - AGENT_FIELDS


def unknown_keyword(
    unknown: Mapping[str, Any], keywords: frozenset[str] = CREATE_KEYWORDS
) -> InvalidRequestError:
    """The error for a keyword create() does not take: an agent's field sent to another
    server, a likely misspelling, or a request field agentchat does not model, which goes in
    ``extra_body``."""
    import difflib  # only on this error path: keep it off import time

    name, value = next(iter(unknown.items()))
    if name in AGENT_FIELDS:
        return InvalidRequestError(
            name,
            value,
            f"{name} is a field of DigitalOcean agent endpoints (AsyncAgentClient and "
            "AgentClient take it), not of serverless inference or OpenAI-compatible servers; "
            f"to send it anyway, pass extra_body={{{name!r}: ...}}",
        )
    close = difflib.get_close_matches(name, sorted(keywords), n=1, cutoff=0.75)
    if close:
        allowed = (
            f"create() has no parameter {name!r}: did you mean {close[0]}=? (A request field "
            f"agentchat does not know goes in extra_body={{{name!r}: ...}}.)"
        )
    else:
        allowed = (
            f"create() has no parameter {name!r}; to send a request field agentchat does not "
            f"know, pass extra_body={{{name!r}: ...}} (extra_headers= and extra_query= do the "
            "same for headers and the query string)"
        )
    return InvalidRequestError(name, value, allowed)


def _as_list(value: Any) -> Any:
    """Materialise a one-shot iterable (a generator) so it can be checked and then sent.

    Strings, mappings and other non-iterables pass through for the checks to reject.
    """
    if value is None or isinstance(value, (list, tuple, str, bytes, Mapping)):
        return value
    try:
        return list(value)
    except TypeError:
        return value


@functools.cache
def _completion_class() -> tuple[
    type[ChatCompletion], Callable[[Any, Any], ChatCompletion], Callable[[Any, Any], None]
]:
    """``ChatCompletion``, its compiled structure function, and the setter of its off-wire
    ``response`` slot: made on first use rather than at import, since the models and the
    converter (cattrs with it) are a good part of agentchat's import time.

    The slot's own setter, because the completion is frozen: at about half the cost of
    ``object.__setattr__``, once per call.
    """
    from .._convert import converter
    from .._models._completion import ChatCompletion

    setter = ChatCompletion.__dict__["response"].__set__
    return ChatCompletion, converter.get_structure_hook(ChatCompletion), setter


def parse_completion(data: bytes, info: ResponseInfo) -> ChatCompletion:
    """Decode a 2xx body into a :class:`ChatCompletion`, or raise a clear error showing what
    came back instead (HTML, an empty body, an error object, a JSON value of another shape)."""
    try:
        decoded = _json.loads(data)
    except ValueError:
        kind = info.content_type or "no content type"
        what = "an empty body" if not data.strip() else f"non-JSON ({kind}) {snippet(data)}"
        raise APIResponseValidationError(
            f"Expected a chat.completion JSON object from HTTP {info.status}, got {what}",
            body=data.decode("utf-8", "replace"),
            response=info,
            attempts=info.attempts,
        ) from None
    if type(decoded) is not dict or type(decoded.get("choices")) is not list:
        message, code = parse_error_body(decoded)
        if isinstance(decoded, dict) and ("error" in decoded or message):
            what = f"an error: {message}" + (f" [{code}]" if code else "")
        else:
            what = f"JSON without a 'choices' list: {snippet(data)}"
        raise APIResponseValidationError(
            f"Expected a chat.completion from HTTP {info.status}, got {what}",
            body=decoded,
            response=info,
            attempts=info.attempts,
        )
    cls, structure, set_response = _completion_class()
    try:
        completion = structure(decoded, cls)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise APIResponseValidationError(
            f"The chat.completion from HTTP {info.status} has a field of an unexpected type "
            f"({exc}): {snippet(data)}",
            body=decoded,
            response=info,
            attempts=info.attempts,
        ) from exc
    set_response(completion, info)
    return completion
