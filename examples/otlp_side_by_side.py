"""Keep your OTLP backend and add PostgreSQL: the same instrumentation goes to both.

Two span processors on one tracer provider and two metric readers on one meter provider: one pair
exports OTLP (to the collector or vendor you already use, OTEL_EXPORTER_OTLP_ENDPOINT), the other
writes this package's tables. Run:

    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/otlp_side_by_side.py
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_supabase_exporter import SupabaseMetricReader, SupabaseSpanExporter, cache_views, instrument_cache


def main() -> None:
    resource = Resource.create({"service.name": "side-by-side"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))       # your backend
    tracer_provider.add_span_processor(BatchSpanProcessor(SupabaseSpanExporter()))   # PostgreSQL
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter()),         # your backend
                        SupabaseMetricReader()],                                     # PostgreSQL
        views=cache_views(),
    )

    cache = instrument_cache({}, name="profiles", implementation="dict",
                             tracer_provider=tracer_provider, meter_provider=meter_provider)
    cache["alice"] = {"plan": "pro"}
    for user in ("alice", "alice", "bob"):
        cache.get(user)

    tracer_provider.shutdown()
    meter_provider.shutdown()


if __name__ == "__main__":
    main()
