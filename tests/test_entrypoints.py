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


def test_cache_libraries_are_optional_dependencies():
    from importlib.metadata import requires

    required = [r.split(";")[0].strip().lower() for r in requires("otel-supabase-exporter") or []
                if "extra ==" not in r]
    for library in ("redis", "django", "aiocache", "dogpile", "cachetools", "opentelemetry-instrumentation"):
        assert not any(r.startswith(library) for r in required), (library, required)


def test_the_instrumentor_is_registered_for_opentelemetry_instrument():
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert found["otel_supabase_exporter_caches"] == \
        "otel_supabase_exporter.integrations.instrumentor:CacheInstrumentor"
