"""OTLP metrics → what :func:`..rows.metrics.map_metrics` reads, with cache telemetry in other
conventions recognised (docs/gateway.md) and cumulative points set aside for the store, which
turns them into per-minute deltas against the state it keeps.

Recognised as cache operations (cache name, result):
* this package's ``cache.operations`` / ``cache.operation.duration`` / ``cache.size``;
* Micrometer: ``cache.gets{cache, result=hit|miss}``, ``cache.puts{cache}``, ``cache.evictions{cache}``,
  ``cache.removals{cache}``, ``cache.size{cache}``;
* .NET: ``[dotnet.]cache.requests{cache.name, [dotnet.]cache.request.type=hit|miss}``,
  ``[dotnet.]cache.evictions{cache.name}``, ``[dotnet.]cache.entries{cache.name}``.
Everything else becomes ``metric`` events, as in process.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .. import semconv as sc
from ..rows.schema import CumulativePoint
from .values import attributes, resource, scope

__all__ = ["Translated", "translate"]

DELTA, CUMULATIVE = 1, 2
_COUNTED = {"hit": ("get", "hit"), "miss": ("get", "miss")}
# metric name -> (operation, result) for counters whose result is fixed; None: read from an attribute
_COUNTERS: dict[str, tuple[str, str] | None] = {
    "cache.gets": None, "cache.requests": None, "dotnet.cache.requests": None,
    "cache.puts": (sc.SET, sc.OK), "cache.removals": (sc.DELETE, sc.OK),
    "cache.evictions": (sc.EVICT, sc.OK), "dotnet.cache.evictions": (sc.EVICT, sc.OK),
}
_SIZES = {"cache.entries", "dotnet.cache.entries"}
_RESULT_KEYS = ("result", "cache.request.type", "dotnet.cache.request.type")
_NAME_KEYS = (sc.ATTR_NAME, "cache", "name")
# the MinuteRow column each (operation, result) counts in
_COLUMNS = {(sc.GET, sc.HIT): "hits", (sc.GET, sc.MISS): "misses", (sc.SET, sc.OK): "sets",
            (sc.DELETE, sc.OK): "deletes", (sc.DELETE, sc.MISS): "deletes", (sc.EVICT, sc.OK): "evictions"}


class _Data:
    def __init__(self, points: list) -> None:
        self.data_points = points


class Sum(_Data):
    pass


class Gauge(_Data):
    pass


class Histogram(_Data):
    pass


class ExponentialHistogram(_Data):
    pass


@dataclass
class _Point:
    attributes: dict
    start_time_unix_nano: int
    time_unix_nano: int
    value: Any = None
    count: Any = None
    sum: Any = None
    min: Any = None
    max: Any = None


@dataclass
class _Buckets:
    offset: int
    bucket_counts: list


@dataclass
class _ExpPoint(_Point):
    scale: int = 0
    zero_count: int = 0
    positive: Any = None
    negative: Any = None


@dataclass
class _Metric:
    name: str
    unit: str
    description: str
    data: Any


@dataclass
class _ScopeMetrics:
    scope: Any
    metrics: list


@dataclass
class _ResourceMetrics:
    resource: Any
    scope_metrics: list


@dataclass
class Translated:
    """A metrics request as the mapping reads it, and its cumulative cache points."""

    resource_metrics: list = field(default_factory=list)
    cumulative: list[CumulativePoint] = field(default_factory=list)
    points: int = 0


def _number(point: Any) -> float | int:
    return point.as_int if point.WhichOneof("value") == "as_int" else point.as_double


def _series_of(attrs: dict[str, Any]) -> tuple[str, str] | None:
    name = next((attrs[k] for k in _NAME_KEYS if isinstance(attrs.get(k), str) and attrs[k]), None)
    if name is None:
        return None
    impl = attrs.get(sc.ATTR_IMPLEMENTATION) or attrs.get("cacheManager") or attrs.get("cache.manager") or "default"
    return name, str(impl)


def _operation(metric: str, attrs: dict[str, Any]) -> tuple[str, str] | None:
    fixed = _COUNTERS.get(metric)
    if fixed is not None:
        return fixed
    result = next((attrs[k] for k in _RESULT_KEYS if k in attrs), None)
    return _COUNTED.get(str(result).lower()) if result is not None else None


def _sender(res_attrs: dict[str, Any]) -> str:
    """Who sends a cumulative series: its resource (a restarted process has a new instance id or start time)."""
    return hashlib.sha256(json.dumps(res_attrs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def translate(request: Any) -> Translated:
    """An ``ExportMetricsServiceRequest`` translated (see the module docstring)."""
    out = Translated()
    for rm in request.resource_metrics:
        res = resource(rm.resource)
        service = str(res.attributes.get("service.name") or "unknown_service")
        sender = _sender(dict(res.attributes))
        scopes = []
        for sm in rm.scope_metrics:
            metrics = []
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                points = list(getattr(metric, kind).data_points) if kind else []
                out.points += len(points)
                translated = _translate_metric(metric, kind, points, _Sender(sender, service, out.cumulative))
                if translated is not None:
                    metrics.append(translated)
            scopes.append(_ScopeMetrics(scope(sm.scope), metrics))
        out.resource_metrics.append(_ResourceMetrics(res, scopes))
    return out


@dataclass
class _Sender:
    """Who sent the points being translated, and where their cumulative points go."""

    key: str
    service: str
    cumulative: list[CumulativePoint]

    def add(self, series: tuple[str, str], column: str, point: Any, *, attrs: dict[str, Any], value: float,
            metric: str) -> None:
        key = json.dumps([self.key, metric, column, series, sorted(attrs.items(), key=str)], default=str)
        self.cumulative.append(CumulativePoint(
            hashlib.sha256(key.encode()).hexdigest()[:32], series[0], series[1], self.service, column,
            point.start_time_unix_nano, point.time_unix_nano, float(value)))


def _translate_metric(metric: Any, kind: str | None, points: list, who: _Sender) -> _Metric | None:
    name = metric.name
    temporality = getattr(getattr(metric, kind), "aggregation_temporality", DELTA) if kind else DELTA
    if kind == "sum" and (name in _COUNTERS or name == sc.METRIC_OPERATIONS):
        delta = []
        for p in points:
            attrs = attributes(p.attributes)
            series = _series_of(attrs)
            op = (attrs.get(sc.ATTR_OPERATION), attrs.get(sc.ATTR_RESULT)) if name == sc.METRIC_OPERATIONS \
                else _operation(name, attrs)
            if series is None or op is None or None in op:
                delta.append(_Point(attrs, p.start_time_unix_nano, p.time_unix_nano, value=_number(p)))
                continue  # the mapping rejects it, counted
            canonical = {sc.ATTR_NAME: series[0], sc.ATTR_IMPLEMENTATION: series[1], sc.ATTR_OPERATION: op[0],
                         sc.ATTR_RESULT: op[1]}
            if temporality == CUMULATIVE:
                column = _COLUMNS.get((op[0], op[1])) or ("errors" if op[1] == sc.ERROR else None)
                if column is not None:
                    who.add(series, column, p, attrs=attrs, value=_number(p), metric=name)
                continue
            delta.append(_Point(canonical, p.start_time_unix_nano, p.time_unix_nano, value=_number(p)))
        return _Metric(sc.METRIC_OPERATIONS, "{operation}", "", Sum(delta))
    if kind == "gauge" or (kind == "sum" and name in _SIZES):
        if name in _SIZES or name == sc.METRIC_SIZE:
            sized = []
            for p in points:
                series = _series_of(attributes(p.attributes))
                if series is not None:
                    sized.append(_Point({sc.ATTR_NAME: series[0], sc.ATTR_IMPLEMENTATION: series[1]},
                                        p.start_time_unix_nano, p.time_unix_nano, value=_number(p)))
            return _Metric(sc.METRIC_SIZE, "{entry}", "", Gauge(sized))
    if name == sc.METRIC_DURATION and kind in ("histogram", "exponential_histogram"):
        scale = 0.001 if metric.unit == "ms" else 1.0
        out = []
        for p in points:
            attrs = attributes(p.attributes)
            series = _series_of(attrs)
            if temporality == CUMULATIVE:
                if series is not None:
                    who.add(series, "latency_count", p, attrs=attrs, value=p.count, metric=name)
                    who.add(series, "latency_sum_ms", p, attrs=attrs, value=p.sum * scale * 1000.0, metric=name)
                continue
            if kind == "exponential_histogram":
                out.append(_ExpPoint(attrs, p.start_time_unix_nano, p.time_unix_nano, count=p.count,
                                     sum=p.sum * scale, min=p.min * scale, max=p.max * scale, scale=p.scale,
                                     zero_count=p.zero_count,
                                     positive=_Buckets(p.positive.offset, list(p.positive.bucket_counts)),
                                     negative=_Buckets(p.negative.offset, list(p.negative.bucket_counts))))
            else:
                out.append(_Point(attrs, p.start_time_unix_nano, p.time_unix_nano, count=p.count,
                                  sum=p.sum * scale, min=p.min * scale if p.HasField("min") else None,
                                  max=p.max * scale if p.HasField("max") else None))
        return _Metric(sc.METRIC_DURATION, "s", "",
                       ExponentialHistogram(out) if kind == "exponential_histogram" else Histogram(out))
    return _passthrough(metric, kind, points)


def _passthrough(metric: Any, kind: str | None, points: list) -> _Metric:
    """A metric the gateway does not recognise, in the shape the mapping turns into a ``metric`` event."""
    out: list = []
    for p in points:
        attrs = attributes(p.attributes)
        if kind in ("sum", "gauge"):
            out.append(_Point(attrs, p.start_time_unix_nano, p.time_unix_nano, value=_number(p)))
        elif kind in ("histogram", "exponential_histogram", "summary"):
            out.append(_Point(attrs, p.start_time_unix_nano, p.time_unix_nano, count=p.count, sum=p.sum))
    data = {"sum": Sum, "gauge": Gauge, "histogram": Histogram, "exponential_histogram": ExponentialHistogram}.get(
        kind or "", _Data)(out)
    return _Metric(metric.name, metric.unit, metric.description, data)
