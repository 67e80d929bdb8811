"""The cache metrics a collection adds: the producer's snapshots as OpenTelemetry ``Metric``s
(``cache.operations`` sums, ``cache.operation.duration`` exponential histograms) in the
temporality each reader asks for, merged into what the SDK collected."""

from __future__ import annotations

import time
from typing import Any, Iterable

from .. import semconv as sc
from ..histogram import MAX_BUCKETS, ExpHistogram, merge
from .producer import _N, _TIMED, SCALE, Snapshot, producers_of, slot_attributes

__all__ = ["add_to_collection", "histogram_of"]


def histogram_of(buckets: dict[int, int], max_buckets: int = MAX_BUCKETS) -> ExpHistogram | None:
    """The recorded buckets as an exponential histogram of at most ``max_buckets`` buckets."""
    if not buckets:
        return None
    lo, hi = min(buckets), max(buckets)
    counts = [0] * (hi - lo + 1)
    for index, c in buckets.items():
        counts[index - lo] = c
    return merge(ExpHistogram(SCALE, lo, tuple(counts)), None, max_buckets)


def _sum_metric(view: dict[tuple[str, str], Snapshot], start: int | None, now: int, temporality: Any) -> Any:
    from opentelemetry.sdk.metrics.export import Metric, NumberDataPoint, Sum

    points = []
    for (name, impl), snap in sorted(view.items()):
        attributes = slot_attributes(name, impl)
        for slot in range(_N):
            if snap.counts[slot]:
                points.append(NumberDataPoint(
                    attributes=attributes[slot],
                    start_time_unix_nano=start or snap.firsts[slot], time_unix_nano=now, value=snap.counts[slot],
                ))
    if not points:
        return None
    return Metric(name=sc.METRIC_OPERATIONS, description="Cache operations by operation and result.",
                  unit="{operation}",
                  data=Sum(data_points=points, aggregation_temporality=temporality, is_monotonic=True))


def _duration_metric(view: dict[tuple[str, str], Snapshot], start: int | None, now: int, temporality: Any
                     ) -> Any:
    from opentelemetry.sdk.metrics.export import (
        Buckets,
        ExponentialHistogram,
        ExponentialHistogramDataPoint,
        Metric,
    )

    points = []
    for (name, impl), snap in sorted(view.items()):
        attributes = slot_attributes(name, impl)
        for slot in _TIMED:
            count = snap.counts[slot]
            if not count:
                continue
            hist = histogram_of(snap.buckets[slot])
            points.append(ExponentialHistogramDataPoint(
                attributes=attributes[slot],
                start_time_unix_nano=start or snap.firsts[slot], time_unix_nano=now,
                count=count, sum=snap.sums[slot] / 1e9,
                scale=hist.scale if hist else SCALE, zero_count=snap.zeros[slot],
                positive=Buckets(offset=hist.index_offset, bucket_counts=list(hist.counts)) if hist
                else Buckets(offset=0, bucket_counts=[]),
                negative=Buckets(offset=0, bucket_counts=[]), flags=0,
                min=snap.mins[slot] / 1e9, max=snap.maxs[slot] / 1e9,
            ))
    if not points:
        return None
    return Metric(name=sc.METRIC_DURATION, description="Duration of cache operations.", unit="s",
                  data=ExponentialHistogram(data_points=points, aggregation_temporality=temporality))


def _merge_views(views: Iterable[dict[tuple[str, str], Snapshot]]) -> dict[tuple[str, str], Snapshot]:
    views = [v for v in views if v]
    if len(views) == 1:
        return views[0]
    out: dict[tuple[str, str], Snapshot] = {}
    for view in views:
        for key, snap in view.items():
            out.setdefault(key, Snapshot()).add(snap)
    return out


def _temporality(reader: Any, instrument: type) -> Any:
    """The temporality ``reader`` wants for ``instrument`` (the SDK keys it by internal subclasses)."""
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    for cls, temporality in reader._instrument_class_temporality.items():
        if issubclass(cls, instrument):
            return temporality
    return AggregationTemporality.CUMULATIVE


def add_to_collection(consumer: Any, reader: Any, result: Any) -> Any:
    producers = producers_of(consumer)
    if not producers:
        return result
    from opentelemetry.sdk.metrics import Counter, Histogram
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        MetricsData,
        ResourceMetrics,
        ScopeMetrics,
    )
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    counts_t = _temporality(reader, Counter)
    durations_t = _temporality(reader, Histogram)
    now = time.time_ns()
    counts_views, duration_views, starts = [], [], []
    for producer in producers:
        c, d, start = producer.collect(reader, counts_t == AggregationTemporality.CUMULATIVE,
                                       durations_t == AggregationTemporality.CUMULATIVE, now)
        counts_views.append(c)
        duration_views.append(d)
        starts.append(start)
    # Cumulative points start at their series' first operation; so do a reader's first deltas.
    start = None if None in starts else min(starts)
    counts_start = None if counts_t == AggregationTemporality.CUMULATIVE else start
    durations_start = None if durations_t == AggregationTemporality.CUMULATIVE else start
    ours = [m for m in (_sum_metric(_merge_views(counts_views), counts_start, now, counts_t),
                        _duration_metric(_merge_views(duration_views), durations_start, now, durations_t))
            if m is not None]
    if not ours:
        return result
    scope = InstrumentationScope(sc.SCOPE, sc.VERSION)
    if result is None or not result.resource_metrics:
        return MetricsData(resource_metrics=[ResourceMetrics(
            resource=consumer._sdk_config.resource,
            scope_metrics=[ScopeMetrics(scope=scope, metrics=ours, schema_url="")],
            schema_url="",
        )])
    first = result.resource_metrics[0]
    scopes = list(first.scope_metrics)
    for i, scope_metrics in enumerate(scopes):
        if scope_metrics.scope.name == sc.SCOPE:
            scopes[i] = ScopeMetrics(scope=scope_metrics.scope, metrics=[*scope_metrics.metrics, *ours],
                                     schema_url=scope_metrics.schema_url)
            break
    else:
        scopes.append(ScopeMetrics(scope=scope, metrics=ours, schema_url=""))
    resource_metrics = [ResourceMetrics(resource=first.resource, scope_metrics=scopes, schema_url=first.schema_url),
                        *result.resource_metrics[1:]]
    return MetricsData(resource_metrics=resource_metrics)
