"""Metric exports → 1-minute rows for the cache instruments, one ``metric`` event per other metric. No I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from .. import semconv as sc
from ..histogram import ExpHistogram, merge
from .schema import MinuteRow
from .sanitize import (
    MAX_ATTRIBUTES,
    MAX_IMPLEMENTATION,
    MAX_NAME,
    MAX_SOURCE,
    Rejected,
    clean_json,
    clean_text,
    event_id,
    int_or_none,
    resource_json,
    row_us,
    service_of,
    to_json,
)

__all__ = ["MetricRows", "map_metrics", "minute_of"]

_UTC = timezone.utc


_COUNT_COLUMN = {"hit": "hits", "miss": "misses", "set": "sets", "delete": "deletes", "evict": "evictions",
                 "error": "errors"}


def minute_of(ns: int) -> datetime:
    """The UTC minute an export window belongs to: the minute its start falls in."""
    return datetime.fromtimestamp((ns // 60_000_000_000) * 60, _UTC)


def _collection_start(metrics_data: Any) -> int | None:
    """Start of the collection window: the earliest start time of the delta points."""
    starts = [
        p.start_time_unix_nano
        for rm in metrics_data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in getattr(m.data, "data_points", ())
        if getattr(p, "start_time_unix_nano", None)
    ]
    return min(starts) if starts else None


def _window_start(point: Any, collection_start: int | None) -> int:
    """Start of the window a point describes. Gauges carry no start: they take the window of
    their collection, or, alone, one second before their reading (an aligned collection runs
    a few ms after the minute it closes)."""
    if point.start_time_unix_nano:
        return point.start_time_unix_nano
    if collection_start is not None:
        return collection_start
    return point.time_unix_nano - 1_000_000_000


@dataclass
class MetricRows:
    minute_rows: list[MinuteRow]
    event_rows: list[tuple]
    rejected: Rejected


def _points_json(points: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for p in list(points)[:MAX_ATTRIBUTES]:
        item: dict[str, Any] = {"attributes": clean_json(dict(p.attributes or {}))}
        for name in ("value", "count", "sum", "min", "max"):
            if hasattr(p, name):
                item[name] = clean_json(getattr(p, name))
        item["start"] = p.start_time_unix_nano
        item["time"] = p.time_unix_nano
        out.append(item)
    return out


def map_metrics(metrics_data: Any) -> MetricRows:
    """1-minute rows for the cache instruments; one ``metric`` event per other metric."""
    rows: dict[tuple, MinuteRow] = {}
    events: list[tuple] = []
    rejected = Rejected()
    collection_start = _collection_start(metrics_data)

    def row_for(point: Any, service: str) -> MinuteRow | None:
        attrs = point.attributes or {}
        name = clean_text(attrs.get(sc.ATTR_NAME, ""), MAX_NAME).strip()
        impl = clean_text(attrs.get(sc.ATTR_IMPLEMENTATION) or "default", MAX_IMPLEMENTATION).strip() or "default"
        if not name:
            rejected.add("metric point without cache name")
            return None
        key = (minute_of(_window_start(point, collection_start)), name, impl, service)
        row = rows.get(key)
        if row is None:
            row = rows[key] = MinuteRow(*key)
        return row

    for resource_metrics in metrics_data.resource_metrics:
        service = service_of(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = getattr(metric.data, "data_points", ())
                try:
                    if metric.name == sc.METRIC_OPERATIONS:
                        for p in points:
                            attrs = p.attributes or {}
                            op = sc.operation_type(str(attrs.get(sc.ATTR_OPERATION)), str(attrs.get(sc.ATTR_RESULT)))
                            value = int_or_none(p.value)
                            if op is None or value is None or value < 0:
                                rejected.add("invalid cache.operations point")
                                continue
                            row = row_for(p, service)
                            if row is not None:
                                column = _COUNT_COLUMN[op]
                                setattr(row, column, getattr(row, column) + value)
                    elif metric.name == sc.METRIC_DURATION:
                        for p in points:
                            row = row_for(p, service)
                            if row is not None:
                                _add_duration(row, p, rejected)
                    elif metric.name == sc.METRIC_SIZE:
                        for p in points:
                            value = int_or_none(p.value)
                            row = row_for(p, service) if value is not None and value >= 0 else None
                            if row is not None:
                                row.cache_size = value if row.cache_size is None else max(row.cache_size, value)
                    else:
                        data = to_json({
                            "name": metric.name,
                            "unit": metric.unit,
                            "description": metric.description,
                            "type": type(metric.data).__name__,
                        })[:-1] + ',"points":' + to_json(_points_json(points)) + "}"
                        first = points[0] if points else None
                        ns = first.time_unix_nano if first is not None else None
                        events.append((
                            event_id("metric", service, metric.name, ns, data), "metric", row_us(ns),
                            clean_text(service, MAX_SOURCE), data,
                            to_json({"scope": scope_metrics.scope.name if scope_metrics.scope else None,
                                     "resource": resource_json(resource_metrics.resource)}),
                        ))
                except Exception as exc:
                    rejected.add(f"unmappable metric ({type(exc).__name__})")
    return MetricRows(sorted(rows.values(), key=lambda r: r.key), events, rejected)


def _add_duration(row: MinuteRow, point: Any, rejected: Rejected) -> None:
    count = int_or_none(getattr(point, "count", None))
    total = getattr(point, "sum", None)
    total_ms = total * 1000.0 if isinstance(total, (int, float)) and not isinstance(total, bool) else math.nan
    if count is None or count <= 0 or not math.isfinite(total_ms):
        if count:
            rejected.add("invalid duration point")
        return
    low, high = getattr(point, "min", None), getattr(point, "max", None)
    positive = getattr(point, "positive", None)
    if positive is not None:  # exponential histogram
        zero = int_or_none(point.zero_count)
        counts = tuple(int_or_none(c) for c in positive.bucket_counts)
        scale = int_or_none(getattr(point, "scale", None))
        if zero is None or zero < 0 or any(c is None or c < 0 for c in counts) \
                or scale is None or not -10 <= scale <= 20 \
                or int_or_none(getattr(positive, "offset", None)) is None:  # OpenTelemetry's scale range
            rejected.add("invalid duration point")
            return
        negative = sum(getattr(point.negative, "bucket_counts", ()) or ())
        if negative:
            rejected.add("negative durations")
        count = zero + sum(counts)
        row.latency_zero_count += zero
        row.histogram = merge(row.histogram, ExpHistogram(point.scale, positive.offset, counts))
    row.latency_count += count
    row.latency_sum_ms += max(total_ms, 0.0)
    if isinstance(low, (int, float)) and math.isfinite(low) and low >= 0:
        low_ms = low * 1000.0
        row.min_response_time_ms = low_ms if row.min_response_time_ms is None else min(row.min_response_time_ms, low_ms)
    if isinstance(high, (int, float)) and math.isfinite(high) and high >= 0:
        high_ms = high * 1000.0
        row.max_response_time_ms = high_ms if row.max_response_time_ms is None else max(row.max_response_time_ms,
                                                                                           high_ms)
