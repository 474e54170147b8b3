"""OpenTelemetry GenAI telemetry, built on the client's hooks (``agentchat._hooks``) alone.

Install the extra (``pip install agentchat[otel]``, which adds ``opentelemetry-api`` only) and
configure an SDK as usual; a client made with ``telemetry=True`` then appends
:class:`OpenTelemetryHooks` to its hooks. Without ``opentelemetry-api`` :func:`telemetry_hooks`
returns ``None``, and importing this module imports nothing of OpenTelemetry.

What is emitted follows the OpenTelemetry GenAI semantic conventions (client inference
spans, ``gen-ai-spans.md``; client metrics, ``gen-ai-metrics.md``; guardrails,
``gen-ai-guardrails.md``):

Span (kind ``CLIENT``), one per ``create()`` call, retries included, named ``chat {model}``,
child of the context current at ``on_request``:

- at the start: ``gen_ai.operation.name`` (``chat``), ``gen_ai.provider.name``,
  ``gen_ai.request.model``, ``server.address``, ``server.port``, and the request parameters
  present in the body: ``gen_ai.request.max_tokens`` (``max_tokens`` or
  ``max_completion_tokens``), ``.temperature``, ``.top_p``, ``.top_k``, ``.seed``,
  ``.frequency_penalty``, ``.presence_penalty``, ``.stop_sequences``, ``.choice.count``
  (``n``, when not 1), ``gen_ai.output.type`` (``json`` / ``text`` from ``response_format``);
- at the end: ``gen_ai.response.id``, ``gen_ai.response.model``,
  ``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens``,
  ``gen_ai.usage.output_tokens``, ``http.request.resend_count`` (retries, HTTP conventions),
  ``http.response.status_code``; a stream its reader left early ends without error and with
  ``agentchat.stream.outcome`` = ``closed``;
- on failure: ``error.type`` and status ``ERROR`` (see :func:`error_type`).

The W3C trace context of the span is injected into ``CallStarted.headers``
(``opentelemetry.propagate.inject``, so whatever propagators are configured), which the client
sends with every attempt: the server sees ``traceparent``.

Span events:

- ``agentchat.retry``: each retry or rate-limit wait, with ``agentchat.retry.attempt`` (the
  attempt that failed), ``error.type``, ``agentchat.retry.delay`` (seconds) and
  ``agentchat.retry.reason`` (``retry-after``, ``rate-limit-reset``, ``backoff``), plus
  ``http.response.status_code`` when the failure had one. The conventions define no retry
  event and reserve the ``gen_ai.`` namespace, hence the library's own.
- ``gen_ai.guardrail.result``: one per guardrail an agent reports as triggered
  (``gen_ai-guardrails.md``): ``gen_ai.guardrail.component.name`` = ``DigitalOcean agent
  guardrails``, ``gen_ai.guardrail.policy.id`` = the rule name, ``gen_ai.guardrail.result.type``
  = ``triggered``, ``gen_ai.guardrail.result.value`` = ``true``; the guardrail's message goes
  in ``gen_ai.guardrail.result.reason`` only when content capture is on.

Agent extras as span attributes: ``gen_ai.retrieval.documents`` (a JSON array of
``{"id", "score", "index"}``, the conventions' retrieval-document form; ids and scores, no
content) and ``digitalocean.agent.functions.called`` (string array: the agent's server-side
function calls; provider-specific attributes go under the provider's namespace).

Content (opt-in, off by default): with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
set to ``true`` (or ``span_only`` / ``span_and_event``), or ``capture_content=True``, the span
gets ``gen_ai.input.messages`` and ``gen_ai.output.messages`` as JSON strings in the
conventions' parts form (``{"role", "parts": [{"type": "text", "content"}, {"type":
"tool_call", ...}, {"type": "tool_call_response", ...}]}``).

Metrics (a Meter from the given or global provider), with ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``server.address``, ``server.port`` and, on failure, ``error.type``:

- ``gen_ai.client.operation.duration`` (``s``), buckets 0.01 ... 81.92;
- ``gen_ai.client.token.usage`` (``{token}``, ``gen_ai.token.type`` ``input``/``output``),
  buckets 1, 4, 16, ... 67108864; only when the response reported usage;
- ``gen_ai.client.operation.time_to_first_chunk`` (``s``), streams only, same buckets as the
  duration.

``gen_ai.provider.name``: ``digitalocean`` for agents and serverless inference (not a
well-known value; the conventions allow a custom one). For an OpenAI-compatible server the
host decides: a well-known provider's API host gives its well-known value (``api.openai.com``
is ``openai``, ``api.groq.com`` is ``groq``, ...), DigitalOcean hosts give ``digitalocean``,
anything else ``openai_compatible`` (the conventions have no "unknown" value; ``server.address``
says which server it was). ``provider_name=`` overrides it.

``error.type``: the exception class's name (``RateLimitError``, ``APITimeoutError``,
``IncompleteStreamError``, ``CancelledError`` for a cancelled call, ...): the conventions'
"canonical name of the exception" (low cardinality); ``_OTHER`` if it has none.

Cost: when neither a tracer nor a meter provider is configured (the API's default proxies),
``on_request`` checks that and returns, and the other hooks find no entry for the call: a few
hundred nanoseconds a call. A provider configured later is picked up on the next call. The key
never reaches a span or a metric: the hooks see the URL, the body and the response only.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import yarl

    from ._hooks import CallEnded, CallFailed, CallStarted, RetryScheduled
    from ._models._completion import ChatCompletion

__all__ = ["OpenTelemetryHooks", "error_type", "provider_name", "telemetry_hooks"]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})

#: The conventions' explicit bucket boundaries.
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

_DIGITALOCEAN = "digitalocean"
_COMPATIBLE = "openai_compatible"
_GUARDRAIL_COMPONENT = "DigitalOcean agent guardrails"
_KNOWN_HOSTS = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "api.cohere.com": "cohere",
    "api.cohere.ai": "cohere",
    "api.moonshot.ai": "moonshot_ai",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "aiplatform.googleapis.com": "gcp.vertex_ai",
}
_KNOWN_SUFFIXES = {
    ".openai.azure.com": "azure.ai.openai",
    "-aiplatform.googleapis.com": "gcp.vertex_ai",
    ".do-ai.run": _DIGITALOCEAN,
    ".digitalocean.com": _DIGITALOCEAN,
}

# Request body key -> span attribute, for the plain numeric parameters.
_REQUEST_NUMBERS = (
    ("temperature", "gen_ai.request.temperature", float),
    ("top_p", "gen_ai.request.top_p", float),
    ("top_k", "gen_ai.request.top_k", float),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", float),
    ("presence_penalty", "gen_ai.request.presence_penalty", float),
    ("seed", "gen_ai.request.seed", int),
)


def provider_name(server: str, host: str | None) -> str:
    """The ``gen_ai.provider.name`` of a client of kind ``server`` talking to ``host``."""
    if server in ("agent", "inference"):
        return _DIGITALOCEAN
    host = (host or "").lower().rstrip(".")
    known = _KNOWN_HOSTS.get(host)
    if known is not None:
        return known
    for suffix, name in _KNOWN_SUFFIXES.items():
        if host.endswith(suffix):
            return name
    return _COMPATIBLE


def error_type(error: BaseException) -> str:
    """The ``error.type`` of a failure: the exception class's name."""
    return type(error).__qualname__ or "_OTHER"


def telemetry_hooks(
    server: Literal["agent", "inference", "compatible"], base_url: yarl.URL
) -> object | None:
    """The OpenTelemetry hooks for a client, or None when opentelemetry-api is not installed."""
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return None
    return OpenTelemetryHooks(provider_name=provider_name(server, base_url.host))


class _Call:
    """What the hooks keep of one call between ``on_request`` and its end."""

    __slots__ = ("attributes", "span")

    def __init__(self, span: Any, attributes: dict[str, Any]) -> None:
        self.span = span
        self.attributes = attributes  # the metric attributes known at the start


class OpenTelemetryHooks:
    """Hooks that turn each call into a GenAI client span and metrics (see the module doc).

    ``tracer_provider`` and ``meter_provider`` default to the global ones, looked up on each
    call (so one configured later is used); ``capture_content`` defaults to the
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` environment variable, read here;
    ``provider_name`` defaults to the one :func:`provider_name` derives per call. All four
    methods are plain (sync) and cheap.
    """

    def __init__(
        self,
        tracer_provider: Any | None = None,
        meter_provider: Any | None = None,
        capture_content: bool | None = None,
        *,
        provider_name: str | None = None,
    ) -> None:
        from opentelemetry import metrics, propagate, trace

        self._trace = trace
        self._metrics = metrics
        self._inject = propagate.inject
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        if capture_content is None:
            capture_content = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _CAPTURE_ON
        self.capture_content = capture_content
        self._provider_name = provider_name
        self._inactive_tracers = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        self._inactive_meters = (metrics._internal._ProxyMeterProvider, metrics.NoOpMeterProvider)
        # The fast path: the API's get_*_provider() cost about 2 us each (an os.environ
        # lookup); the module global they return is read in tens of nanoseconds. Used only
        # while the API still has that global and no provider is named by environment variable
        # (then the public function loads it).
        self._trace_module: Any = trace if _has_global(trace, "_TRACER_PROVIDER") else None
        self._metrics_module: Any = (
            metrics._internal if _has_global(metrics._internal, "_METER_PROVIDER") else None
        )
        self._tracer: tuple[Any, Any] | None = None  # (provider, tracer)
        self._instruments: tuple[Any, Any, Any, Any] | None = None  # (provider, 3 histograms)
        self._calls: dict[int, _Call] = {}
        self._hosts: dict[str, tuple[str | None, int | None]] = {}

    def recording(self) -> bool:
        """Whether a tracer or meter provider is configured now: the client skips these hooks
        for a call (builds no event at all) while none is."""
        return self._tracer_now() is not None or self._histograms() is not None

    # The providers, found cheaply on every call.

    def _tracer_now(self) -> Any | None:
        provider = self._tracer_provider
        if provider is None:
            module = self._trace_module
            if module is not None and module._TRACER_PROVIDER is None:
                return None  # nothing configured (the default proxy)
            provider = self._trace.get_tracer_provider()
            if isinstance(provider, self._inactive_tracers):
                return None
        cached = self._tracer
        if cached is not None and cached[0] is provider:
            return cached[1]
        from ._version import __version__

        tracer = provider.get_tracer("agentchat", __version__)
        self._tracer = (provider, tracer)
        return tracer

    def _histograms(self) -> tuple[Any, Any, Any] | None:
        provider = self._meter_provider
        if provider is None:
            module = self._metrics_module
            if module is not None and module._METER_PROVIDER is None:
                return None  # nothing configured (the default proxy)
            provider = self._metrics.get_meter_provider()
            if isinstance(provider, self._inactive_meters):
                return None
        cached = self._instruments
        if cached is not None and cached[0] is provider:
            return cached[1], cached[2], cached[3]
        from ._version import __version__

        meter = provider.get_meter("agentchat", __version__)
        duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self._instruments = (provider, duration, tokens, first_chunk)
        return duration, tokens, first_chunk

    def _server(self, url: str) -> tuple[str | None, int | None]:
        found = self._hosts.get(url)
        if found is None:
            import yarl

            parsed = yarl.URL(url)
            found = (parsed.host, parsed.port)
            if len(self._hosts) < 64:
                self._hosts[url] = found
        return found

    # The hooks.

    def on_request(self, event: CallStarted) -> None:
        tracer = self._tracer_now()
        if tracer is None and self._histograms() is None:
            return  # nothing configured: nothing to do
        host, port = self._server(event.url)
        provider = self._provider_name or provider_name(event.server, host)
        common: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
        }
        if event.model:
            common["gen_ai.request.model"] = event.model
        if host:
            common["server.address"] = host
            if port is not None:
                common["server.port"] = port
        span = None
        if tracer is not None:
            attributes = dict(common)
            attributes.update(_request_attributes(event.body))
            if self.capture_content:
                messages = event.body.get("messages")
                if isinstance(messages, (list, tuple)):
                    attributes["gen_ai.input.messages"] = _dumps(_input_messages(messages))
            name = f"chat {event.model}" if event.model else "chat"
            span = tracer.start_span(name, kind=self._trace.SpanKind.CLIENT, attributes=attributes)
            self._inject(event.headers, context=self._trace.set_span_in_context(span))
        self._calls[event.call_id] = _Call(span, common)

    def on_retry(self, event: RetryScheduled) -> None:
        call = self._calls.get(event.call_id)
        if call is None or call.span is None:
            return
        attributes: dict[str, Any] = {
            "agentchat.retry.attempt": event.attempt,
            "error.type": error_type(event.error),
            "agentchat.retry.delay": float(event.delay),
            "agentchat.retry.reason": event.reason,
        }
        status = getattr(event.error, "status_code", None)
        if isinstance(status, int):
            attributes["http.response.status_code"] = status
        call.span.add_event("agentchat.retry", attributes)

    def on_response(self, event: CallEnded) -> None:
        call = self._calls.pop(event.call_id, None)
        if call is None:
            return
        completion = event.completion
        response_model = completion.model
        span = call.span
        if span is not None:
            attributes = _response_attributes(completion)
            attributes["http.request.resend_count"] = max(0, event.response.attempts - 1)
            if event.response.status:
                attributes["http.response.status_code"] = event.response.status
            if event.outcome != "complete":
                attributes["agentchat.stream.outcome"] = event.outcome
            if self.capture_content:
                attributes["gen_ai.output.messages"] = _dumps(_output_messages(completion))
            span.set_attributes(attributes)
            self._agent_extras(span, completion, call)
            span.end()
        self._record(call, event.duration, event.time_to_first_chunk, response_model, None)
        if response_model is None:
            return
        usage = completion.usage
        if usage is None:
            return
        histograms = self._histograms()
        if histograms is None:
            return
        metric = dict(call.attributes)
        metric["gen_ai.response.model"] = response_model
        for kind, count in (("input", usage.prompt_tokens), ("output", usage.completion_tokens)):
            if count is not None:
                metric["gen_ai.token.type"] = kind
                histograms[1].record(count, metric)

    def on_error(self, event: CallFailed) -> None:
        call = self._calls.pop(event.call_id, None)
        if call is None:
            return
        kind = error_type(event.error)
        partial = event.partial
        span = call.span
        if span is not None:
            attributes: dict[str, Any] = {"error.type": kind}
            if partial is not None:
                attributes.update(_response_attributes(partial))
                if self.capture_content:
                    attributes["gen_ai.output.messages"] = _dumps(_output_messages(partial))
            status = getattr(event.error, "status_code", None)
            if isinstance(status, int):
                attributes["http.response.status_code"] = status
            elif event.response is not None and event.response.status:
                attributes["http.response.status_code"] = event.response.status
            if event.response is not None:
                attributes["http.request.resend_count"] = max(0, event.response.attempts - 1)
            span.set_attributes(attributes)
            if partial is not None:
                self._agent_extras(span, partial, call)
            description = str(event.error)[:200] or kind
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))
            span.end()
        model = partial.model if partial is not None else None
        self._record(call, event.duration, event.time_to_first_chunk, model, kind)

    # Helpers.

    def _record(
        self,
        call: _Call,
        duration: float,
        first_chunk: float | None,
        response_model: str | None,
        failure: str | None,
    ) -> None:
        histograms = self._histograms()
        if histograms is None:
            return
        metric = call.attributes
        if response_model is not None or failure is not None:
            metric = dict(metric)
            if response_model is not None:
                metric["gen_ai.response.model"] = response_model
            if failure is not None:
                metric["error.type"] = failure
        histograms[0].record(duration, metric)
        if first_chunk is not None:
            histograms[2].record(first_chunk, metric)

    def _agent_extras(self, span: Any, completion: ChatCompletion, call: _Call) -> None:
        retrieval = completion.retrieval
        if retrieval is not None and retrieval.retrieved_data:
            documents = [
                {
                    key: value
                    for key, value in (
                        ("id", item.id),
                        ("score", item.score),
                        ("index", item.index),
                    )
                    if value is not None
                }
                for item in retrieval.retrieved_data
            ]
            span.set_attribute("gen_ai.retrieval.documents", _dumps(documents))
        functions = completion.functions
        if functions is not None and functions.called_functions:
            span.set_attribute(
                "digitalocean.agent.functions.called", list(functions.called_functions)
            )
        guardrails = completion.guardrails
        if guardrails is not None and guardrails.triggered_guardrails:
            provider = call.attributes["gen_ai.provider.name"]
            for guardrail in guardrails.triggered_guardrails:
                attributes: dict[str, Any] = {
                    "gen_ai.guardrail.component.name": _GUARDRAIL_COMPONENT,
                    "gen_ai.provider.name": provider,
                    "gen_ai.guardrail.result.type": "triggered",
                    "gen_ai.guardrail.result.value": "true",
                }
                if guardrail.rule_name:
                    attributes["gen_ai.guardrail.policy.id"] = guardrail.rule_name
                if self.capture_content and guardrail.message:
                    attributes["gen_ai.guardrail.result.reason"] = guardrail.message
                span.add_event("gen_ai.guardrail.result", attributes)


def _has_global(module: Any, name: str) -> bool:
    """Whether ``module.name`` is the API's global provider slot, usable for the fast path."""
    variable = "OTEL_PYTHON_TRACER_PROVIDER" if "TRACER" in name else "OTEL_PYTHON_METER_PROVIDER"
    return hasattr(module, name) and variable not in os.environ


def _request_attributes(body: Mapping[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attributes["gen_ai.request.max_tokens"] = max_tokens
    for key, name, kind in _REQUEST_NUMBERS:
        value = body.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[name] = kind(value)
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attributes["gen_ai.request.choice.count"] = n
    stop = body.get("stop")
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, (list, tuple)) and all(isinstance(item, str) for item in stop):
        attributes["gen_ai.request.stop_sequences"] = list(stop)
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping):
        kind_of = response_format.get("type")
        if kind_of in ("json_object", "json_schema"):
            attributes["gen_ai.output.type"] = "json"
        elif kind_of == "text":
            attributes["gen_ai.output.type"] = "text"
    return attributes


def _response_attributes(completion: ChatCompletion) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if completion.id:
        attributes["gen_ai.response.id"] = completion.id
    if completion.model:
        attributes["gen_ai.response.model"] = completion.model
    reasons = [choice.finish_reason for choice in completion.choices if choice.finish_reason]
    if reasons:
        attributes["gen_ai.response.finish_reasons"] = reasons
    usage = completion.usage
    if usage is not None:
        if usage.prompt_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        if usage.completion_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
    return attributes


def _input_messages(messages: Any) -> list[dict[str, Any]]:
    """The request's messages in the conventions' ``gen_ai.input.messages`` form."""
    converted = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = message.get("role") or "user"
        parts: list[dict[str, Any]] = []
        content = message.get("content")
        if role == "tool":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": content,
                }
            )
        elif isinstance(content, str):
            parts.append({"type": "text", "content": content})
        elif isinstance(content, (list, tuple)):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") == "text":
                    parts.append({"type": "text", "content": part.get("text", "")})
                elif isinstance(part, Mapping):
                    parts.append({"type": str(part.get("type", "unknown"))})
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping):
                function = call.get("function") or {}
                parts.append(
                    _tool_call(call.get("id"), function.get("name"), function.get("arguments"))
                )
        entry: dict[str, Any] = {"role": role, "parts": parts}
        if message.get("name"):
            entry["name"] = message["name"]
        converted.append(entry)
    return converted


def _output_messages(completion: ChatCompletion) -> list[dict[str, Any]]:
    """The choices in the conventions' ``gen_ai.output.messages`` form."""
    converted = []
    for choice in completion.choices:
        message = choice.message
        parts: list[dict[str, Any]] = []
        if message.reasoning_content:
            parts.append({"type": "reasoning", "content": message.reasoning_content})
        if message.content:
            parts.append({"type": "text", "content": message.content})
        if message.refusal:
            parts.append({"type": "refusal", "content": message.refusal})
        for call in message.tool_calls or ():
            function = call.function
            parts.append(
                _tool_call(
                    call.id,
                    function.name if function else None,
                    function.arguments if function else None,
                )
            )
        entry: dict[str, Any] = {"role": message.role or "assistant", "parts": parts}
        if choice.finish_reason:
            entry["finish_reason"] = choice.finish_reason
        converted.append(entry)
    return converted


def _tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments)
    return {"type": "tool_call", "id": call_id, "name": name or "", "arguments": arguments}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
