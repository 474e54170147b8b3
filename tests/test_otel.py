"""OpenTelemetry GenAI telemetry (agentchat._otel): unit tests on hand-built hook events, then
end to end against the fake agent server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import timeit
from collections.abc import Iterator
from typing import Any

import pytest
import yarl

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentchat import APIError, InternalServerError, RateLimitError
from agentchat._hooks import CallEnded, CallFailed, CallStarted, RetryScheduled
from agentchat._models._completion import ChatCompletion
from agentchat._otel import (
    DURATION_BUCKETS,
    TOKEN_BUCKETS,
    OpenTelemetryHooks,
    error_type,
    provider_name,
    telemetry_hooks,
)
from agentchat._response import ResponseInfo
from agentchat.testing import FakeAgentServer

URL = "https://example.agents.do-ai.run/api/v1/chat/completions?agent=true"


class Telemetry:
    def __init__(self, capture_content: bool | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.hooks = OpenTelemetryHooks(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            capture_content=capture_content,
        )

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, spans
        return spans[0]

    def points(self, name: str) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)  # type: ignore[arg-type]
        return found


@pytest.fixture
def tel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


BODY: dict[str, Any] = {
    "model": "llama3-8b",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "secret question"},
    ],
    "max_tokens": 100,
    "temperature": 0.5,
    "top_p": 0.9,
    "seed": 7,
    "n": 2,
    "frequency_penalty": 0.1,
    "presence_penalty": 0.2,
    "stop": ["END"],
}


def started(call_id: int = 1, body: dict[str, Any] | None = None, **kw: Any) -> CallStarted:
    options: dict[str, Any] = {"server": "agent", "url": URL, "model": "llama3-8b", "stream": False}
    options.update(kw)
    return CallStarted(call_id=call_id, body=body if body is not None else BODY, **options)


def completion(**extra: Any) -> ChatCompletion:
    data: dict[str, Any] = {
        "id": "chatcmpl-1",
        "model": "llama3-8b-instruct",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "secret answer"},
                "finish_reason": "stop",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": "other"},
                "finish_reason": "length",
            },
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    data.update(extra)
    return ChatCompletion.from_dict(data)


def ended(call_id: int = 1, result: ChatCompletion | None = None, **kw: Any) -> CallEnded:
    info = ResponseInfo(status=200, headers={}, url=URL, attempts=kw.pop("attempts", 1))
    return CallEnded(
        call_id=call_id,
        completion=result if result is not None else completion(),
        response=info,
        duration=kw.pop("duration", 0.3),
        **kw,
    )


def status_error(cls: type[APIError], status: int) -> APIError:
    from agentchat._errors import APIStatusError

    assert issubclass(cls, APIStatusError)
    info = ResponseInfo(status=status, headers={}, url=URL)
    return cls("boom", response=info, body=None)


# -- unit: spans -------------------------------------------------------------------------


def test_span_name_kind_and_request_attributes(tel: Telemetry) -> None:
    event = started()
    tel.hooks.on_request(event)
    tel.hooks.on_response(ended())
    span = tel.span()
    assert span.name == "chat llama3-8b"
    assert span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "digitalocean"
    assert attrs["gen_ai.request.model"] == "llama3-8b"
    assert attrs["server.address"] == "example.agents.do-ai.run"
    assert attrs["server.port"] == 443
    assert attrs["gen_ai.request.max_tokens"] == 100
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.request.frequency_penalty"] == 0.1
    assert attrs["gen_ai.request.presence_penalty"] == 0.2
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.response.id"] == "chatcmpl-1"
    assert attrs["gen_ai.response.model"] == "llama3-8b-instruct"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert attrs["gen_ai.usage.input_tokens"] == 12
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert span.status.status_code is StatusCode.UNSET
    assert tel.hooks._calls == {}
    # Content is not recorded by default.
    assert "gen_ai.input.messages" not in attrs
    assert "gen_ai.output.messages" not in attrs
    assert "secret" not in repr(attrs)


def test_traceparent_injected_into_event_headers(tel: Telemetry) -> None:
    event = started()
    tel.hooks.on_request(event)
    tel.hooks.on_response(ended())
    context = tel.span().context
    assert context is not None
    _, trace_id, span_id, _ = event.headers["traceparent"].split("-")
    assert int(trace_id, 16) == context.trace_id
    assert int(span_id, 16) == context.span_id


def test_span_is_child_of_the_current_span(tel: Telemetry) -> None:
    tracer = tel.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("parent") as parent:
        tel.hooks.on_request(started())
    tel.hooks.on_response(ended())
    child = next(span for span in tel.spans() if span.name.startswith("chat"))
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id


def test_retry_events_and_resend_count(tel: Telemetry) -> None:
    tel.hooks.on_request(started())
    error = status_error(RateLimitError, 429)
    tel.hooks.on_retry(RetryScheduled(1, 1, error, 0.25, "retry-after"))
    tel.hooks.on_retry(RetryScheduled(1, 2, status_error(InternalServerError, 503), 0.5, "backoff"))
    tel.hooks.on_response(ended(attempts=3))
    span = tel.span()
    events = [event for event in span.events if event.name == "agentchat.retry"]
    assert len(events) == 2
    first = dict(events[0].attributes or {})
    assert first == {
        "agentchat.retry.attempt": 1,
        "error.type": "RateLimitError",
        "agentchat.retry.delay": 0.25,
        "agentchat.retry.reason": "retry-after",
        "http.response.status_code": 429,
    }
    assert dict(events[1].attributes or {})["agentchat.retry.reason"] == "backoff"
    assert (span.attributes or {})["http.request.resend_count"] == 2


def test_error_sets_error_type_and_status(tel: Telemetry) -> None:
    tel.hooks.on_request(started())
    tel.hooks.on_error(CallFailed(1, status_error(InternalServerError, 500), 0.1))
    span = tel.span()
    assert span.status.status_code is StatusCode.ERROR
    attrs = dict(span.attributes or {})
    assert attrs["error.type"] == "InternalServerError"
    assert attrs["http.response.status_code"] == 500
    assert tel.hooks._calls == {}
    (point,) = tel.points("gen_ai.client.operation.duration")
    assert dict(point.attributes or {})["error.type"] == "InternalServerError"


def test_cancelled_stream_is_an_error_with_partial(tel: Telemetry) -> None:
    tel.hooks.on_request(started(stream=True))
    partial = completion(usage=None)
    tel.hooks.on_error(
        CallFailed(1, asyncio.CancelledError(), 0.2, partial=partial, time_to_first_chunk=0.05)
    )
    span = tel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "CancelledError"
    assert (span.attributes or {})["gen_ai.response.id"] == "chatcmpl-1"
    assert len(tel.points("gen_ai.client.operation.time_to_first_chunk")) == 1


def test_stream_closed_early_is_not_an_error(tel: Telemetry) -> None:
    tel.hooks.on_request(started(stream=True))
    tel.hooks.on_response(ended(outcome="closed", time_to_first_chunk=0.04))
    span = tel.span()
    assert span.status.status_code is StatusCode.UNSET
    assert (span.attributes or {})["agentchat.stream.outcome"] == "closed"
    (point,) = tel.points("gen_ai.client.operation.time_to_first_chunk")
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS


def test_plain_call_records_no_time_to_first_chunk(tel: Telemetry) -> None:
    tel.hooks.on_request(started())
    tel.hooks.on_response(ended())
    assert tel.points("gen_ai.client.operation.time_to_first_chunk") == []


def test_unknown_call_ids_are_ignored(tel: Telemetry) -> None:
    tel.hooks.on_retry(RetryScheduled(9, 1, status_error(InternalServerError, 500), 0.1, "backoff"))
    tel.hooks.on_response(ended(call_id=9))
    tel.hooks.on_error(CallFailed(9, RuntimeError(), 0.1))
    assert tel.spans() == []


def test_many_calls_leave_nothing_behind(tel: Telemetry) -> None:
    for call_id in range(1, 51):
        tel.hooks.on_request(started(call_id))
    for call_id in range(1, 51):
        if call_id % 2:
            tel.hooks.on_response(ended(call_id))
        else:
            tel.hooks.on_error(CallFailed(call_id, TimeoutError(), 0.1))
    assert len(tel.spans()) == 50
    assert tel.hooks._calls == {}


# -- unit: content capture ---------------------------------------------------------------


def test_content_capture_on_with_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    telemetry = Telemetry()
    body = dict(BODY)
    body["messages"] = [
        *BODY["messages"],
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    telemetry.hooks.on_request(started(body=body))
    telemetry.hooks.on_response(ended())
    attrs = dict(telemetry.span().attributes or {})
    inputs = json.loads(str(attrs["gen_ai.input.messages"]))
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}
    assert inputs[1] == {"role": "user", "parts": [{"type": "text", "content": "secret question"}]}
    assert inputs[2]["parts"] == [
        {"type": "tool_call", "id": "c1", "name": "f", "arguments": {"a": 1}}
    ]
    assert inputs[3]["parts"] == [{"type": "tool_call_response", "id": "c1", "response": "42"}]
    outputs = json.loads(str(attrs["gen_ai.output.messages"]))
    assert outputs[0] == {
        "role": "assistant",
        "parts": [{"type": "text", "content": "secret answer"}],
        "finish_reason": "stop",
    }
    assert len(outputs) == 2


def test_content_capture_off_when_the_variable_says_false(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    telemetry = Telemetry()
    assert telemetry.hooks.capture_content is False
    assert Telemetry(capture_content=True).hooks.capture_content is True


# -- unit: agent extras ------------------------------------------------------------------


def test_guardrails_retrieval_and_functions(tel: Telemetry) -> None:
    tel.hooks.on_request(started())
    result = completion(
        retrieval={"retrieved_data": [{"id": "doc-1", "index": "kb-1", "score": 0.9}]},
        functions={"called_functions": ["get_weather", "lookup"]},
        guardrails={"triggered_guardrails": [{"rule_name": "pii", "message": "no PII please"}]},
    )
    tel.hooks.on_response(ended(result=result))
    span = tel.span()
    attrs = dict(span.attributes or {})
    assert json.loads(str(attrs["gen_ai.retrieval.documents"])) == [
        {"id": "doc-1", "score": 0.9, "index": "kb-1"}
    ]
    assert attrs["digitalocean.agent.functions.called"] == ("get_weather", "lookup")
    (event,) = [event for event in span.events if event.name == "gen_ai.guardrail.result"]
    assert dict(event.attributes or {}) == {
        "gen_ai.guardrail.component.name": "DigitalOcean agent guardrails",
        "gen_ai.provider.name": "digitalocean",
        "gen_ai.guardrail.result.type": "triggered",
        "gen_ai.guardrail.result.value": "true",
        "gen_ai.guardrail.policy.id": "pii",
    }


def test_guardrail_message_only_with_content_capture() -> None:
    telemetry = Telemetry(capture_content=True)
    telemetry.hooks.on_request(started())
    result = completion(guardrails={"triggered_guardrails": [{"rule_name": "pii", "message": "m"}]})
    telemetry.hooks.on_response(ended(result=result))
    (event,) = [e for e in telemetry.span().events if e.name == "gen_ai.guardrail.result"]
    assert (event.attributes or {})["gen_ai.guardrail.result.reason"] == "m"


# -- unit: metrics -----------------------------------------------------------------------


def test_duration_and_token_metrics(tel: Telemetry) -> None:
    tel.hooks.on_request(started())
    tel.hooks.on_response(ended(duration=0.3))
    (duration,) = tel.points("gen_ai.client.operation.duration")
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert duration.sum == pytest.approx(0.3)
    assert dict(duration.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "digitalocean",
        "gen_ai.request.model": "llama3-8b",
        "gen_ai.response.model": "llama3-8b-instruct",
        "server.address": "example.agents.do-ai.run",
        "server.port": 443,
    }
    tokens = {
        dict(point.attributes or {})["gen_ai.token.type"]: point
        for point in tel.points("gen_ai.client.token.usage")
    }
    assert tokens["input"].sum == 12
    assert tokens["output"].sum == 5
    assert tuple(tokens["input"].explicit_bounds) == tuple(float(b) for b in TOKEN_BUCKETS)


def test_metrics_only_when_no_tracer_is_configured() -> None:
    reader = InMemoryMetricReader()
    hooks = OpenTelemetryHooks(meter_provider=MeterProvider(metric_readers=[reader]))
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    event = started()
    hooks.on_request(event)
    assert event.headers == {}
    hooks.on_response(ended())
    data = reader.get_metrics_data()
    assert data is not None
    names = {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert "gen_ai.client.operation.duration" in names
    assert hooks._calls == {}


# -- unit: the no-provider fast path and the factory -------------------------------------


def test_nothing_configured_means_nothing_done() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    hooks = OpenTelemetryHooks()
    event = started()
    hooks.on_request(event)
    assert event.headers == {}
    assert hooks._calls == {}
    hooks.on_response(ended())
    cost = min(timeit.repeat(lambda: hooks.on_request(event), number=2000, repeat=3)) / 2000
    assert cost < 20e-6  # microseconds at most, even on a slow CI machine


def test_provider_names() -> None:
    assert provider_name("agent", "x.agents.do-ai.run") == "digitalocean"
    assert provider_name("inference", "inference.do-ai.run") == "digitalocean"
    assert provider_name("compatible", "api.openai.com") == "openai"
    assert provider_name("compatible", "inference.do-ai.run") == "digitalocean"
    assert provider_name("compatible", "my.openai.azure.com") == "azure.ai.openai"
    assert provider_name("compatible", "localhost") == "openai_compatible"
    assert error_type(asyncio.CancelledError()) == "CancelledError"


def test_telemetry_hooks_factory() -> None:
    hooks = telemetry_hooks("compatible", yarl.URL("https://api.openai.com/v1"))
    assert isinstance(hooks, OpenTelemetryHooks)
    assert hooks._provider_name == "openai"


def test_module_imports_no_opentelemetry_and_returns_none_without_it() -> None:
    code = (
        "import sys, yarl\n"
        "import agentchat._otel as o\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "sys.modules['opentelemetry'] = None\n"
        "sys.modules['opentelemetry.trace'] = None\n"
        "assert o.telemetry_hooks('agent', yarl.URL('https://a.example')) is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- end to end against the fake server ----------------------------------------------------


async def test_e2e_one_span_across_retries_and_traceparent(tel: Telemetry) -> None:
    async with FakeAgentServer() as server:
        server.respond(503, json={"id": "unavailable", "message": "try again"})
        server.reply("hello")
        async with server.client(hooks=[tel.hooks], telemetry=False) as client:
            await client.agent.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "secret hi"}]
            )
        span = tel.span()
        assert [e.name for e in span.events].count("agentchat.retry") == 1
        assert span.status.status_code is StatusCode.UNSET
        context = span.context
        assert context is not None
        for request in server.requests:
            _, trace_id, span_id, _ = request.headers["traceparent"].split("-")
            assert int(trace_id, 16) == context.trace_id
            assert int(span_id, 16) == context.span_id
        assert "gen_ai.input.messages" not in (span.attributes or {})
        assert "secret" not in repr(dict(span.attributes or {}))
        assert tel.hooks._calls == {}


async def test_e2e_error(tel: Telemetry) -> None:
    async with FakeAgentServer() as server:
        server.error(400, "bad")
        async with server.client(hooks=[tel.hooks], telemetry=False) as client:
            with pytest.raises(APIError):
                await client.agent.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
        span = tel.span()
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "BadRequestError"
        assert tel.hooks._calls == {}


@pytest.mark.parametrize("how", ["end", "break"])
async def test_e2e_stream_ends(tel: Telemetry, how: str) -> None:
    async with FakeAgentServer() as server:
        server.reply(["one ", "two ", "three"])
        async with server.client(hooks=[tel.hooks], telemetry=False) as client:
            stream = await client.agent.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async with stream:
                async for _chunk in stream:
                    if how == "break":
                        break
        span = tel.span()
        assert span.status.status_code is StatusCode.UNSET
        if how == "break":
            assert (span.attributes or {})["agentchat.stream.outcome"] == "closed"
        assert len(tel.points("gen_ai.client.operation.time_to_first_chunk")) == 1
        assert tel.hooks._calls == {}


async def test_e2e_stream_failure(tel: Telemetry) -> None:
    async with FakeAgentServer() as server:
        server.respond(200, body="data: {not json\n\n", content_type="text/event-stream")
        async with server.client(hooks=[tel.hooks], telemetry=False, max_retries=0) as client:
            with pytest.raises(APIError):
                stream = await client.agent.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}], stream=True
                )
                async with stream:
                    async for _chunk in stream:
                        pass
        span = tel.span()
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"]
        assert tel.hooks._calls == {}


def test_a_global_provider_configured_later_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = OpenTelemetryHooks()
    hooks.on_request(started(1))
    hooks.on_response(ended(1))
    telemetry = Telemetry()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", telemetry.tracer_provider)
    event = started(2)
    hooks.on_request(event)
    hooks.on_response(ended(2))
    assert [span.name for span in telemetry.spans()] == ["chat llama3-8b"]
    assert "traceparent" in event.headers
    assert hooks._calls == {}


# -- no provider configured: the client skips the telemetry hooks altogether -------------------


async def test_with_no_provider_a_call_builds_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default client carries OpenTelemetryHooks (telemetry=True, the API installed); with
    no provider configured, a call must not even build the hook events: that is what keeps
    the cost negligible (docs/benchmarks.md's "cost of OpenTelemetry" table)."""
    from agentchat._otel import OpenTelemetryHooks
    from agentchat._resources._completions import _AsyncCompletionsBase
    from agentchat.testing import FakeAgentServer

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the observed path ran with no provider and no user hooks")

    seen: list[str] = []

    class Recorder:
        def on_request(self, event: CallStarted) -> None:
            seen.append("request")

        def on_response(self, event: CallEnded) -> None:
            seen.append("response")

    assert trace._TRACER_PROVIDER is None  # the suite never sets the global providers
    async with FakeAgentServer() as server:
        async with server.client(max_retries=0) as client:
            assert isinstance(client._telemetry, OpenTelemetryHooks)
            assert not client._telemetry.recording()
            with monkeypatch.context() as patch:
                patch.setattr(_AsyncCompletionsBase, "_send_observed", refuse)
                await client.agent.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
        # A user's hooks still see every call; the telemetry hooks are left out of it.
        async with server.client(max_retries=0, hooks=[Recorder()]) as client:
            await client.agent.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            assert client._telemetry._calls == {}
    assert seen == ["request", "response"]
