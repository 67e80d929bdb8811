"""The view processor: Views for the cache instruments and a reader aligned to wall-clock minutes."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, MetricsData
from opentelemetry.sdk.metrics.view import View

from .. import semconv as sc
from .. import settings
from .exporters import HISTOGRAM_AGGREGATION, SupabaseMetricExporter
from .self_metrics import observe_delivery

__all__ = ["cache_views", "MinuteAlignedMetricReader", "SupabaseMetricReader"]

_log = logging.getLogger(__name__)
_COLLECT_DELAY_S = 0.02
FORK_WAIT_S = 1.0  # at most this long does a fork wait for a collection in progress


def cache_views() -> list[View]:
    """Views that keep the cache instruments' attributes low-cardinality and use exponential histograms."""
    series = {sc.ATTR_NAME, sc.ATTR_IMPLEMENTATION}
    return [
        View(instrument_name=sc.METRIC_OPERATIONS, attribute_keys=set(sc.METRIC_ATTRIBUTES)),
        View(instrument_name=sc.METRIC_DURATION, attribute_keys=set(sc.METRIC_ATTRIBUTES),
             aggregation=HISTOGRAM_AGGREGATION),
        View(instrument_name=sc.METRIC_SIZE, attribute_keys=series),
    ]


def _aligned_interval(seconds: float) -> float:
    """The interval rounded to one that divides a minute (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60 s)."""
    divisors = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
    if seconds >= 60:
        return 60.0
    return float(max(d for d in divisors if d <= max(seconds, 1)))


class MinuteAlignedMetricReader(MetricReader):
    """Collects at wall-clock boundaries (every minute by default) and exports to ``exporter``.

    Collections at :00 of each minute mean each delta export holds one
    minute's operations. ``interval_s`` is rounded to a divisor of 60 s.
    """

    def __init__(self, exporter: MetricExporter, interval_s: float | None = None) -> None:
        super().__init__(
            preferred_temporality=exporter._preferred_temporality,
            preferred_aggregation=exporter._preferred_aggregation,
        )
        self._exporter = exporter
        self.interval_s = _aligned_interval(interval_s if interval_s is not None else settings.metric_export_interval_s())
        self._export_lock = threading.Lock()
        self._stop = threading.Event()
        # Held while the SDK collects for this reader (its storages' locks taken): a fork waits for
        # it, so that no child starts with those locks held by a thread it does not have.
        self._collecting = threading.Lock()
        self._held_for_fork = False
        self._start_thread()
        if hasattr(os, "register_at_fork"):  # as the SDK's periodic reader does: a thread of its own in a child
            before, parent, child = (weakref.WeakMethod(m) for m in (
                self._before_fork, self._after_fork_in_parent, self._after_fork_in_child))
            os.register_at_fork(before=lambda: (m := before()) and m(),
                                after_in_parent=lambda: (m := parent()) and m(),
                                after_in_child=lambda: (m := child()) and m())

    def _set_collect_callback(self, func: Any) -> None:
        def collect(reader: Any, timeout_millis: float = 10_000) -> Any:
            with self._collecting:
                return func(reader, timeout_millis=timeout_millis)

        collect.__func__ = getattr(func, "__func__", None)  # type: ignore[attr-defined]  # for producer.rebind
        super()._set_collect_callback(collect)

    def _before_fork(self) -> None:
        self._held_for_fork = self._collecting.acquire(timeout=FORK_WAIT_S)

    def _after_fork_in_parent(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self._collecting.release()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="otel-supabase-minute-reader", daemon=True)
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        self._collecting, self._held_for_fork = threading.Lock(), False
        self._export_lock = threading.Lock()
        if not self._stop.is_set():
            self._start_thread()

    def _run(self) -> None:
        while True:
            now = time.time()
            next_boundary = (now // self.interval_s + 1) * self.interval_s
            if self._stop.wait(next_boundary - now + _COLLECT_DELAY_S):
                return
            try:
                self.collect(timeout_millis=self.interval_s * 1000)
            except Exception as exc:
                _log.warning("metric collection failed: %s", type(exc).__name__)

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        if metrics_data is None:
            return
        with self._export_lock:
            try:
                self._exporter.export(metrics_data, timeout_millis=timeout_millis)
            except Exception as exc:  # the exporter reports its own failures; never raise into the SDK
                _log.warning("metric export raised %s", type(exc).__name__)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        super().force_flush(timeout_millis=timeout_millis)
        return self._exporter.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if self._stop.is_set():
            return
        deadline = time.monotonic() + timeout_millis / 1000
        self._stop.set()
        self._thread.join(timeout=timeout_millis / 1000)

        def left_ms() -> float:
            return max(deadline - time.monotonic(), 0.001) * 1000

        try:
            self.collect(timeout_millis=left_ms())
        except Exception as exc:
            _log.warning("final metric collection failed: %s", type(exc).__name__)
        self._exporter.shutdown(timeout_millis=left_ms())


class SupabaseMetricReader(MinuteAlignedMetricReader):
    """A minute-aligned reader with a :class:`SupabaseMetricExporter`; the ``supabase`` metrics entry point."""

    def __init__(self, dsn: str | None = None, *, schema: str | None = None, timeout: float | None = None,
                 interval_s: float | None = None) -> None:
        exporter = SupabaseMetricExporter(dsn, schema=schema, timeout=timeout)
        super().__init__(exporter, interval_s=interval_s)
        # Autoconfiguration sets the global provider this reader belongs to right after.
        observe_delivery(exporter.delivery, metrics.get_meter_provider())
