"""The telemetry an instrumented conformance run records into: every span sampled (the path that
does the most), metrics collected every few milliseconds from another thread (as a periodic reader
does) so the size gauge reads caches while the tests use them."""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import threading

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

spans = InMemorySpanExporter()
reader = InMemoryMetricReader()
_stop = threading.Event()
stats: collections.Counter = collections.Counter()


class _Logged(logging.Handler):
    """Counts the warnings and errors OpenTelemetry and this package log (``Failed to detach
    context``, ``cache telemetry failed``...): an instrumented run should log none."""

    def emit(self, record: logging.LogRecord) -> None:
        stats[f"logged {record.name}: {record.getMessage()[:120]}"] += 1


class _Counting(SpanProcessor):
    def on_end(self, span) -> None:
        stats[span.name] += 1


def _collect_loop() -> None:
    while not _stop.wait(0.005):
        reader.get_metrics_data()
        stats["collections"] += 1
        spans.clear()


def write_stats() -> None:
    """What the run recorded, to ``OTEL_CONFORMANCE_STATS`` (the conformance test checks it)."""
    path = os.environ.get("OTEL_CONFORMANCE_STATS")
    if path:
        with open(path, "w") as fh:
            json.dump(dict(stats), fh)


def start() -> None:
    """Install the SDK providers globally, count what they log, start the collecting thread."""
    for name in ("opentelemetry", "otel_supabase_exporter"):
        logging.getLogger(name).addHandler(_Logged(logging.WARNING))
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    provider.add_span_processor(_Counting())
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    thread = threading.Thread(target=_collect_loop, name="conformance-metric-reader", daemon=True)
    thread.start()
    atexit.register(_stop.set)
