"""OpenTelemetry SDK exporters that write spans, metrics and log records to PostgreSQL.

Each constructs with no arguments from ``OTEL_EXPORTER_SUPABASE_*`` (what the
SDK's autoconfiguration does) or with explicit ones.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

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

from .. import settings as env
from ..redact import mask_dsn
from ..rows import AttributeFilter, Rejected, log_rows, map_metrics, set_attribute_filter, stream_spans
from ..histogram import MAX_BUCKETS
from ..settings import Settings
from ..store.batch import Batch
from ..store.delivery import Delivery, delivery_for
from ..store.stats import ExportStats
from ..store.stream import RowStream

__all__ = ["SupabaseSpanExporter", "SupabaseMetricExporter", "SupabaseLogExporter", "ExportStats"]

_log = logging.getLogger(__name__)

# Which attributes are exported: OTEL_EXPORTER_SUPABASE_ATTRIBUTES_ALLOW / _DENY, read once.
set_attribute_filter(AttributeFilter(*env.attribute_patterns()))

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


class _PostgresExporterBase:
    _signal = "spans"

    def __init__(
        self,
        dsn: str | None = None,
        *,
        schema: str | None = None,
        timeout: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env(dsn=dsn, schema=schema, timeout_s=timeout)
        self._delivery: Delivery = delivery_for(self.settings)
        self._shutdown = False
        self._init_sdk_base()

    def _init_sdk_base(self) -> None:
        """Initialise the SDK's exporter base class, where it takes arguments."""

    @property
    def delivery(self) -> Delivery:
        """The destination's delivery this exporter shares (its counters, spool and replay)."""
        return self._delivery

    @property
    def stats(self) -> ExportStats:
        """Counters of this signal for this destination (shared by its exporters)."""
        return self._delivery.stats[self._signal]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dsn={mask_dsn(self.settings.dsn)!r}, schema={self.settings.schema!r})"

    def _send(self, batch: Batch, received: int, rejected: Rejected, timeout_s: float | None = None) -> bool:
        """Write or spool one batch; count and log rejections. Never raises."""
        try:
            ok = self._delivery.send(batch, received, timeout_s)
        except Exception as exc:  # a bug must not reach the SDK's worker thread
            _log.warning("%s: export failed: %s", type(self).__name__, type(exc).__name__, exc_info=True)
            return False
        if rejected.total:
            self.stats.add_reasons("rejected", rejected.reasons)
            _log.warning("%s: %d item(s) not stored: %s", type(self).__name__, rejected.total,
                         dict(rejected.reasons))
        return ok

    def _close(self, timeout_s: float | None = None) -> None:
        if not self._shutdown:
            self._shutdown = True
            self._delivery.release(timeout_s)


class SupabaseSpanExporter(_PostgresExporterBase, SpanExporter):
    """Cache operation spans → ``cache_metrics``; other spans and span events → ``monitoring_events``."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        rows = stream_spans(spans)
        ok = self._send(Batch("spans", RowStream(rows.cache_rows), rows.event_rows), len(spans), rows.rejected)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class SupabaseLogExporter(_PostgresExporterBase, LogRecordExporter):
    """Log records → ``monitoring_events`` (event_type ``log``)."""

    _signal = "logs"

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        if self._shutdown:
            return LogRecordExportResult.FAILURE
        rows, rejected = log_rows(batch)
        ok = self._send(Batch("logs", (), rows), len(batch), rejected)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class SupabaseMetricExporter(_PostgresExporterBase, MetricExporter):
    """Cache instruments → merged into ``cache_metrics_1min``; other metrics → ``monitoring_events``.

    Prefers delta temporality and exponential histograms, so it needs no Views
    to get mergeable percentiles; pair it with :class:`MinuteAlignedMetricReader`
    so each export covers one wall-clock minute.
    """

    _signal = "metrics"

    def _init_sdk_base(self) -> None:
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
        # The batch id makes a retried or replayed merge count once.
        batch = Batch("metrics", rows.minute_rows, rows.event_rows, uuid.uuid4())
        ok = self._send(batch, count, rows.rejected, timeout_s=timeout_millis / 1000)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._close(timeout_millis / 1000)
