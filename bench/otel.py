"""The OpenTelemetry set-ups of the telemetry rows: none, and an SDK as a service has one.

agentchat's clients record spans and metrics (``agentchat._otel``) to OpenTelemetry's
*global* providers when ``opentelemetry-api`` is installed and ``telemetry=True``. Three
rows of the latency, throughput and stream scenarios show what that costs:

- ``agentchat (async)``: ``telemetry=False``, nothing recorded (what every other row uses);
- ``agentchat + otel API, no SDK``: ``telemetry=True`` in the runner's process, where no
  provider is ever configured: the API's no-op tracer and meter;
- ``agentchat + otel SDK``: ``telemetry=True`` in a process of its own
  (:mod:`bench.isolated`) whose global providers are the SDK's, configured by
  :func:`configure_sdk` as a service would: a ``TracerProvider`` with a
  ``BatchSpanProcessor`` (its exporter drops the spans, counting them) and a
  ``MeterProvider`` with an ``InMemoryMetricReader``.

A global provider can be set once per process and cannot be unset, so the SDK row never runs
in the runner's process: there it would reach the other clients' rounds (and the no-SDK
row's no-op tracer would turn into the SDK's).

Between two rounds of the SDK row (outside the timing) :func:`between_rounds` flushes the
span processor and collects the metrics, as its background thread and a periodic reader
would, so that neither the queue nor the export work reaches the next client's round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

__all__ = ["between_rounds", "check_no_sdk", "configure_sdk", "spans_exported"]

_SERVICE: Final = "agentchat-bench"


@dataclass(frozen=True)
class _Sdk:
    tracer_provider: TracerProvider
    reader: InMemoryMetricReader
    exported: Callable[[], int]  # the spans the exporter has dropped so far


#: The SDK set up in this process, if any.
_sdk: list[_Sdk] = []


def _is_sdk(provider: object) -> bool:
    return type(provider).__module__.startswith("opentelemetry.sdk")


def check_no_sdk() -> None:
    """Fail unless this process's global providers are the API's defaults (no SDK)."""
    from opentelemetry import metrics, trace

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        if _is_sdk(provider):
            raise RuntimeError(
                f"a global OpenTelemetry provider is configured ({type(provider).__name__}): "
                "the 'otel API, no SDK' row would measure the SDK"
            )


def configure_sdk() -> None:
    """Set the SDK's tracer and meter providers as this process's global ones (once)."""
    if _sdk:
        return
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class DropSpans(SpanExporter):
        """An exporter that counts the spans and drops them: no I/O, no serialization."""

        def __init__(self) -> None:
            self.count = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.count += len(spans)
            return SpanExportResult.SUCCESS

    if _is_sdk(trace.get_tracer_provider()) or _is_sdk(metrics.get_meter_provider()):
        raise RuntimeError("an OpenTelemetry SDK provider is already configured here")
    resource = Resource.create({"service.name": _SERVICE})
    exporter = DropSpans()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if trace.get_tracer_provider() is not tracer_provider:
        raise RuntimeError("OpenTelemetry refused the SDK's tracer provider")
    _sdk.append(_Sdk(tracer_provider, reader, lambda: exporter.count))


def between_rounds() -> None:
    """Flush the spans of the round just ended to the exporter and collect the metrics;
    fail if no span was ever recorded (the row would not measure what it says)."""
    for sdk in _sdk:
        sdk.tracer_provider.force_flush()
        sdk.reader.get_metrics_data()
        if not sdk.exported():
            raise RuntimeError(
                "the SDK recorded no span in a whole round: agentchat's telemetry is not on"
            )


def spans_exported() -> int:
    """The spans the SDK has exported in this process so far (0 without the SDK)."""
    return sum(sdk.exported() for sdk in _sdk)
