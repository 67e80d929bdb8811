"""OpenTelemetry SDK exporters that write spans, metrics and log records to PostgreSQL.

Each constructs with no arguments from ``OTEL_EXPORTER_SUPABASE_*`` (what the
SDK's autoconfiguration does) or with explicit ones.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .config import Settings, mask_dsn
from .histogram import MAX_BUCKETS
from .mapping import Rejected, log_rows, map_metrics, stream_spans
from .writer import PostgresWriter, WriteError, WriteResult, writer_for

__all__ = ["SupabaseSpanExporter", "SupabaseMetricExporter", "SupabaseLogExporter", "ExportStats"]

_log = logging.getLogger(__name__)

# Histograms: exponential buckets, max scale 20, up to 320 buckets, so the
# scale stays >= 4 (<= 2.2 % relative error) across 20 octaves of durations.
HISTOGRAM_AGGREGATION = ExponentialBucketHistogramAggregation(max_size=MAX_BUCKETS, max_scale=20)
DELTA_TEMPORALITY = {
    Counter: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.CUMULATIVE,
    Histogram: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
    ObservableUpDownCounter: AggregationTemporality.CUMULATIVE,
    ObservableGauge: AggregationTemporality.CUMULATIVE,
}


@dataclass
class ExportStats:
    """What an exporter received, wrote and could not write."""

    received: int = 0
    exported: int = 0
    duplicates: int = 0
    failed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, received: int, result: WriteResult | None, rejected: Rejected, failed: int = 0) -> None:
        with self._lock:
            self.received += received
            self.failed += failed
            if result is not None:
                self.exported += result.written
                self.duplicates += result.duplicates
                for reason, n in result.rejected.items():
                    self.rejected[reason] = self.rejected.get(reason, 0) + n
            for reason, n in rejected.reasons.items():
                self.rejected[reason] = self.rejected.get(reason, 0) + n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"received": self.received, "exported": self.exported, "duplicates": self.duplicates,
                    "failed": self.failed, "rejected": dict(self.rejected)}


class _PostgresExporterBase:
    def __init__(
        self,
        dsn: str | None = None,
        *,
        schema: str | None = None,
        timeout: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env(dsn=dsn, schema=schema, timeout_s=timeout)
        self._writer: PostgresWriter = writer_for(self.settings)
        self.stats = ExportStats()
        self._shutdown = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dsn={mask_dsn(self.settings.dsn)!r}, schema={self.settings.schema!r})"

    def _write(self, what: str, count: int, rejected: Rejected, write: Callable[[], WriteResult]) -> bool:
        """Run one batch write; count and log the outcome. Never raises."""
        try:
            result = write()
        except Exception as exc:
            self.stats.record(count, None, rejected, failed=count)
            message = exc.args[0] if isinstance(exc, WriteError) else self._writer.describe(exc)
            _log.warning("%s: could not write %d %s to %s: %s", type(self).__name__, count, what,
                         mask_dsn(self.settings.dsn), message)
            return False
        self.stats.record(count, result, rejected)
        if rejected.total:
            _log.warning("%s: %d item(s) not stored: %s", type(self).__name__, rejected.total,
                         dict(rejected.reasons))
        return True


class SupabaseSpanExporter(_PostgresExporterBase, SpanExporter):
    """Cache operation spans → ``cache_metrics``; other spans and span events → ``monitoring_events``."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        rows = stream_spans(spans)
        ok = self._write("spans", len(spans), rows.rejected,
                         lambda: self._writer.write_spans(rows.cache_rows, rows.event_rows))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class SupabaseLogExporter(_PostgresExporterBase, LogRecordExporter):
    """Log records → ``monitoring_events`` (event_type ``log``)."""

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        if self._shutdown:
            return LogRecordExportResult.FAILURE
        rows, rejected = log_rows(batch)
        ok = self._write("log records", len(batch), rejected, lambda: self._writer.write_events(rows))
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class SupabaseMetricExporter(_PostgresExporterBase, MetricExporter):
    """Cache instruments → merged into ``cache_metrics_1min``; other metrics → ``monitoring_events``.

    Prefers delta temporality and exponential histograms, so it needs no Views
    to get mergeable percentiles; pair it with :class:`MinuteAlignedMetricReader`
    so each export covers one wall-clock minute.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        schema: str | None = None,
        timeout: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        _PostgresExporterBase.__init__(self, dsn, schema=schema, timeout=timeout, settings=settings)
        MetricExporter.__init__(
            self,
            preferred_temporality=dict(DELTA_TEMPORALITY),
            preferred_aggregation={Histogram: HISTOGRAM_AGGREGATION},
        )

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self._shutdown:
            return MetricExportResult.FAILURE
        rows = map_metrics(metrics_data)
        count = len(rows.minute_rows) + len(rows.event_rows)
        if not count:
            return MetricExportResult.SUCCESS
        ok = self._write("metric rows", count, rows.rejected,
                         lambda: self._writer.write_minutes(rows.minute_rows, rows.event_rows, uuid.uuid4()))
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._shutdown = True
