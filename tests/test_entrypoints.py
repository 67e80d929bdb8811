"""The exporters are registered where OpenTelemetry's autoconfiguration looks for them."""

from importlib.metadata import entry_points

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace.export import SpanExporter

from otel_supabase_exporter import SupabaseLogExporter, SupabaseMetricReader, SupabaseSpanExporter


def _load(group: str):
    (ep,) = [ep for ep in entry_points(group=group) if ep.name == "supabase"]
    return ep.load()


def test_entry_points_resolve_to_the_exporters():
    assert _load("opentelemetry_traces_exporter") is SupabaseSpanExporter
    assert _load("opentelemetry_metrics_exporter") is SupabaseMetricReader
    assert _load("opentelemetry_logs_exporter") is SupabaseLogExporter
    assert issubclass(SupabaseSpanExporter, SpanExporter)
    assert issubclass(SupabaseMetricReader, MetricReader)
    assert issubclass(SupabaseLogExporter, LogRecordExporter)
