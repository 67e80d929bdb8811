"""Translation of OpenTelemetry spans, metrics and log records into table rows. No I/O.

Rows are tuples of plain values in column order: ids are 128-bit integers
(stored as ``uuid``), timestamps integer microseconds since the Unix epoch
(stored as ``timestamptz``) — cheap to make, exact, and what the writer's
binary COPY sends as is.

Sanitisation (documented in docs/schema.md): text loses NUL characters and
unencodable surrogates (replaced by U+FFFD) and is cut to a column limit;
non-finite floats become strings in JSON; attributes beyond a count limit are
dropped and counted. A span that cannot become a valid row is rejected with a
reason instead of failing its batch.
"""

from __future__ import annotations

import fnmatch
import json
import os
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

from . import semconv as sc
from .histogram import ExpHistogram, merge

CACHE_METRICS_COLUMNS = (
    "id", "timestamp", "cache_name", "implementation_type", "operation_type", "response_time_ms",
    "cache_size", "item_size_bytes", "cache_key_hash", "error_type", "error_message", "service_name",
    "trace_id", "span_id", "attributes",
)
EVENT_COLUMNS = ("id", "event_type", "timestamp", "source", "data", "metadata")
MINUTE_KEY_COLUMNS = ("minute_window", "cache_name", "implementation_type", "service_name")

MAX_NAME = 200
MAX_IMPLEMENTATION = 100
MAX_TEXT = 4096
MAX_ERROR_MESSAGE = 1024
MAX_SOURCE = 100
MAX_ATTRIBUTES = 128
MAX_JSON_DEPTH = 8

_NS_EVENTS = uuid.UUID("6f1e0c3a-5b0e-4c59-9a55-3f8f0f0c7a11")
_KNOWN_CACHE_ATTRS = sc.METRIC_ATTRIBUTES | sc.SPAN_ONLY_ATTRIBUTES
_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


# ---------------------------------------------------------------- sanitising


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """A string Postgres accepts: no NUL, no lone surrogates, at most ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and "\x00" not in text:  # the common case: nothing to replace
        return text if len(text) <= limit else text[: limit - 1] + "\u2026"
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


def clean_json(value: Any, depth: int = 0) -> Any:
    """A JSON-serialisable copy of an attribute value (see module docstring)."""
    if value is None or isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bytes):
        return clean_text(value.decode("utf-8", "replace"))
    if depth >= MAX_JSON_DEPTH:
        return clean_text(repr(value))
    if isinstance(value, Mapping):
        return {clean_text(k, 256): clean_json(v, depth + 1) for k, v in list(value.items())[:MAX_ATTRIBUTES]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [clean_json(v, depth + 1) for v in list(value)[:MAX_ATTRIBUTES]]
    return clean_text(repr(value))


def to_json(value: Any) -> str:
    return json.dumps(clean_json(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


ENV_ATTRIBUTES_ALLOW = "OTEL_EXPORTER_SUPABASE_ATTRIBUTES_ALLOW"
ENV_ATTRIBUTES_DENY = "OTEL_EXPORTER_SUPABASE_ATTRIBUTES_DENY"
DEFAULT_DENY = ("*password*", "*passwd*", "*secret*", "*token*", "*authorization*", "*cookie*", "*api_key*",
                "*apikey*")


class AttributeFilter:
    """Which span, event and log attributes are exported: keys matching an ``allow`` pattern (all
    when there is none) and no ``deny`` pattern (shell-style, case-insensitive). The defaults
    deny keys that look like credentials; the environment (comma-separated patterns, an empty
    value for none) replaces them."""

    def __init__(self, allow: Sequence[str] = (), deny: Sequence[str] = DEFAULT_DENY) -> None:
        self.allow = tuple(p.strip().lower() for p in allow if p.strip())
        self.deny = tuple(p.strip().lower() for p in deny if p.strip())
        self._memo: dict[str, bool] = {}

    @classmethod
    def from_env(cls) -> "AttributeFilter":
        allow = os.environ.get(ENV_ATTRIBUTES_ALLOW, "")
        deny = os.environ.get(ENV_ATTRIBUTES_DENY)
        return cls(allow.split(","), DEFAULT_DENY if deny is None else deny.split(","))

    def keeps(self, key: str) -> bool:
        kept = self._memo.get(key)
        if kept is None:
            low = key.lower()
            kept = (not self.allow or any(fnmatch.fnmatchcase(low, p) for p in self.allow)) and not any(
                fnmatch.fnmatchcase(low, p) for p in self.deny)
            if len(self._memo) < 4096:
                self._memo[key] = kept
        return kept


_filter = AttributeFilter.from_env()


def set_attribute_filter(attribute_filter: AttributeFilter | None = None) -> None:
    """Replace the process's attribute filter (None: read the environment again)."""
    global _filter
    _filter = attribute_filter or AttributeFilter.from_env()


def _attributes_json(attributes: Mapping[str, Any] | None, skip: frozenset = frozenset()) -> tuple[str, int]:
    """JSON object of the attributes not in ``skip`` that the filter keeps; also returns how many
    were dropped by the count limit (filtered ones are counted in ``otel.filtered_attributes``)."""
    if not attributes:
        return "{}", 0
    out: dict[str, Any] = {}
    dropped = 0
    filtered = 0
    keeps = _filter.keeps
    for k, v in attributes.items():
        if k in skip:
            continue
        if not keeps(k):
            filtered += 1
            continue
        if len(out) >= MAX_ATTRIBUTES:
            dropped += 1
            continue
        out[clean_text(k, 256)] = clean_json(v)
    if dropped:
        out["otel.dropped_attributes"] = dropped
    if filtered:
        out["otel.filtered_attributes"] = filtered
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"), allow_nan=False), dropped


def _us(ns: int | None) -> int:
    """A row timestamp: microseconds since the Unix epoch (now if unknown)."""
    if not ns:
        return time.time_ns() // 1000
    return ns // 1000


def row_datetime(us: int) -> datetime:
    """The ``datetime`` of a row timestamp."""
    return _EPOCH + timedelta(microseconds=us)  # exact: no float rounding


_last_service: tuple[Any, str] = (None, "")


def _service(resource: Any) -> str:
    global _last_service
    seen, name = _last_service
    if resource is seen and resource is not None:  # resources are shared by every span of a provider
        return name
    attrs = getattr(resource, "attributes", None) or {}
    name = clean_text(attrs.get("service.name") or "unknown_service", MAX_NAME)
    _last_service = (resource, name)
    return name


_short_texts: dict[tuple[str, int], str] = {}


def _clean_short(value: Any, limit: int) -> str:
    """:func:`clean_text`, stripped, remembered: cache and implementation names repeat on every row."""
    if type(value) is not str:
        return clean_text(value, limit).strip()
    found = _short_texts.get((value, limit))
    if found is None:
        found = clean_text(value, limit).strip()
        if len(value) <= 256:
            if len(_short_texts) >= 4096:
                _short_texts.clear()
            _short_texts[(value, limit)] = found
    return found


def _resource_json(resource: Any) -> dict[str, Any]:
    attrs = getattr(resource, "attributes", None) or {}
    return {clean_text(k, 256): clean_json(v) for k, v in list(attrs.items())[:MAX_ATTRIBUTES]}


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


@dataclass
class Rejected:
    """Rows that were not produced, by reason."""

    reasons: Counter = field(default_factory=Counter)

    def add(self, reason: str) -> None:
        self.reasons[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.reasons.values())


# ---------------------------------------------------------------- spans


def span_row_id(trace_id: int, span_id: int) -> int:
    """Stable id of a span's row (a 128-bit ``uuid``): the high half of the trace id and the span id."""
    return ((trace_id >> 64) << 64) | (span_id & 0xFFFF_FFFF_FFFF_FFFF)


def _event_id(*parts: Any) -> int:
    return uuid.uuid5(_NS_EVENTS, "/".join(str(p) for p in parts)).int


def _span_attributes(span: Any) -> Mapping[str, Any]:
    """A span's attributes for reading. The SDK's ``ReadableSpan.attributes`` wraps a
    ``BoundedAttributes`` whose every lookup runs Python code; its plain dict is read
    directly when present (a fivefold gain on the export path), else the public view."""
    raw = getattr(span, "_attributes", None)
    plain = getattr(raw, "_dict", None)
    if type(plain) is dict:
        return plain
    return span.attributes or {}


def _has_events(span: Any) -> bool:
    # ``ReadableSpan.events`` copies its bounded list under a lock; its length says as much.
    raw = getattr(span, "_events", None)
    if raw is not None:
        try:
            return len(raw) > 0
        except TypeError:
            pass
    return bool(span.events)


def is_cache_span(span: Any, attrs: Mapping[str, Any] | None = None) -> bool:
    if attrs is None:
        attrs = _span_attributes(span)
    return span.name.startswith(sc.SPAN_PREFIX) and sc.ATTR_OPERATION in attrs and sc.ATTR_NAME in attrs


_OPERATION_TYPES = {
    (op, res): sc.operation_type(op, res)
    for op in (sc.GET, sc.SET, sc.DELETE, sc.EVICT)
    for res in (sc.HIT, sc.MISS, sc.OK, sc.ERROR)
    if sc.operation_type(op, res) is not None
}
_ROW_ATTRS = _KNOWN_CACHE_ATTRS - {sc.ATTR_KEY}


def cache_span_row(span: Any, rejected: Rejected, attrs: Mapping[str, Any] | None = None) -> tuple | None:
    """The ``cache_metrics`` row of a cache operation span, or None (and a reason) if invalid."""
    if attrs is None:
        attrs = _span_attributes(span)
    ctx = span.context
    if ctx is None:
        rejected.add("span without context")
        return None
    operation, result = attrs.get(sc.ATTR_OPERATION), attrs.get(sc.ATTR_RESULT)
    op_type = _OPERATION_TYPES.get((operation, result)) if type(operation) is str and type(result) is str \
        else None
    if op_type is None:
        rejected.add("unknown cache operation/result")
        return None
    name = _clean_short(attrs.get(sc.ATTR_NAME, ""), MAX_NAME)
    if not name:
        rejected.add("empty cache name")
        return None
    impl = _clean_short(attrs.get(sc.ATTR_IMPLEMENTATION) or "default", MAX_IMPLEMENTATION) or "default"
    start, end = span.start_time, span.end_time
    response_ms = (end - start) / 1e6 if start and end and end >= start else None
    attributes = "{}"
    for k in attrs:
        if k not in _ROW_ATTRS:  # only then is there anything for the JSON column
            attributes = _attributes_json(attrs, _KNOWN_CACHE_ATTRS)[0]
            break
    error_type = attrs.get(sc.ATTR_ERROR_TYPE)
    error_message = attrs.get(sc.ATTR_ERROR_MESSAGE)
    key_hash = attrs.get(sc.ATTR_KEY_HASH)
    trace_id, span_id = ctx.trace_id, ctx.span_id
    return (
        span_row_id(trace_id, span_id),
        _us(start),
        name,
        impl,
        op_type,
        response_ms,
        _int_or_none(attrs.get(sc.ATTR_SIZE)),
        _int_or_none(attrs.get(sc.ATTR_ITEM_SIZE)),
        clean_text(key_hash, 128) if key_hash is not None else None,
        clean_text(error_type, 200) if error_type is not None else None,
        clean_text(error_message, MAX_ERROR_MESSAGE) if error_message is not None else None,
        _service(span.resource),
        f"{trace_id:032x}",
        f"{span_id:016x}",
        attributes,
    )


def _span_metadata(span: Any, ctx: Any) -> str:
    scope = span.instrumentation_scope
    return to_json(
        {
            "trace_id": f"{ctx.trace_id:032x}",
            "span_id": f"{ctx.span_id:016x}",
            "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
            "scope": scope.name if scope else None,
            "resource": _resource_json(span.resource),
        }
    )


def span_event_rows(span: Any) -> list[tuple]:
    """``monitoring_events`` rows for a span that is not a cache operation, and for every span event."""
    ctx = span.context
    rows: list[tuple] = []
    source = clean_text(_service(span.resource), MAX_SOURCE)
    metadata = _span_metadata(span, ctx)
    if not is_cache_span(span):
        attributes, _ = _attributes_json(span.attributes)
        data = (
            '{"name":' + to_json(span.name)
            + ',"kind":' + to_json(getattr(span.kind, "name", str(span.kind)))
            + ',"duration_ms":' + to_json((span.end_time - span.start_time) / 1e6 if span.end_time else None)
            + ',"status":' + to_json(getattr(span.status.status_code, "name", None))
            + ',"attributes":' + attributes + "}"
        )
        rows.append((_event_id("span", ctx.trace_id, ctx.span_id), "span", _us(span.start_time), source, data,
                     metadata))
    for index, event in enumerate(span.events or ()):
        attributes, _ = _attributes_json(event.attributes)
        event_type = "exception" if event.name == "exception" else "span_event"
        data = '{"name":' + to_json(event.name) + ',"span_name":' + to_json(span.name) + ',"attributes":' \
            + attributes + "}"
        rows.append((_event_id("event", ctx.trace_id, ctx.span_id, index), event_type, _us(event.timestamp),
                     source, data, metadata))
    return rows


class RowStream:
    """Rows made while they are consumed, so mapping overlaps the database's work on a COPY;
    every row made is kept (:meth:`all`) for retries, fallbacks and the spool."""

    def __init__(self, source: Iterable[tuple]) -> None:
        self._source = iter(source)
        self.rows: list[tuple] = []

    def stream(self) -> Iterator[tuple]:
        """The rows — those made already, then the rest, made as they are taken."""
        rows = self.rows
        yield from rows[:]
        for row in self._source:
            rows.append(row)
            yield row

    def all(self) -> list[tuple]:
        """Every row (making the ones not taken yet)."""
        self.rows.extend(self._source)
        return self.rows


def all_rows(rows: Sequence[tuple] | RowStream) -> Sequence[tuple]:
    """Every row of ``rows``, a stream completed if need be."""
    return rows.all() if isinstance(rows, RowStream) else rows


@dataclass
class SpanRows:
    cache_rows: list[tuple] | RowStream
    event_rows: list[tuple]
    rejected: Rejected


def _span_rows(spans: Iterable[Any], event_rows: list[tuple], rejected: Rejected) -> Iterator[tuple]:
    for span in spans:
        try:
            attrs = _span_attributes(span)
            cache = is_cache_span(span, attrs)
            row = cache_span_row(span, rejected, attrs) if cache else None
            if not cache or _has_events(span):
                event_rows.extend(span_event_rows(span))
        except Exception as exc:  # a malformed span never sinks the batch
            rejected.add(f"unmappable span ({type(exc).__name__})")
            continue
        if row is not None:
            yield row


def stream_spans(spans: Iterable[Any]) -> SpanRows:
    """Rows for a batch of finished spans, cache rows made as the writer takes them; the event
    rows and rejections are complete once the cache rows are."""
    event_rows: list[tuple] = []
    rejected = Rejected()
    return SpanRows(RowStream(_span_rows(spans, event_rows, rejected)), event_rows, rejected)


def map_spans(spans: Iterable[Any]) -> SpanRows:
    """Rows for a batch of finished spans."""
    rows = stream_spans(spans)
    rows.cache_rows = rows.cache_rows.all()
    return rows


# ---------------------------------------------------------------- log records


def log_rows(batch: Iterable[Any]) -> tuple[list[tuple], Rejected]:
    """``monitoring_events`` rows (event_type ``log``) for log records."""
    rows: list[tuple] = []
    rejected = Rejected()
    for readable in batch:
        try:
            record = getattr(readable, "log_record", readable)
            resource = getattr(readable, "resource", None) or getattr(record, "resource", None)
            attributes, _ = _attributes_json(record.attributes)
            timestamp = record.timestamp or record.observed_timestamp
            severity = record.severity_text or (record.severity_number.name if record.severity_number else None)
            data = (
                '{"body":' + to_json(record.body)
                + ',"severity":' + to_json(severity)
                + ',"attributes":' + attributes + "}"
            )
            scope = getattr(readable, "instrumentation_scope", None)
            metadata = to_json(
                {
                    "trace_id": f"{record.trace_id:032x}" if record.trace_id else None,
                    "span_id": f"{record.span_id:016x}" if record.span_id else None,
                    "scope": scope.name if scope else None,
                    "resource": _resource_json(resource),
                }
            )
            event_id = _event_id("log", timestamp, record.observed_timestamp, record.trace_id, record.span_id, data)
            rows.append((event_id, "log", _us(timestamp), clean_text(_service(resource), MAX_SOURCE), data, metadata))
        except Exception as exc:
            rejected.add(f"unmappable log record ({type(exc).__name__})")
    return rows, rejected


# ---------------------------------------------------------------- metrics


@dataclass
class MinuteRow:
    """One ``cache_metrics_1min`` contribution: merged into the row of its key by the writer."""

    minute_window: datetime
    cache_name: str
    implementation_type: str
    service_name: str
    hits: int = 0
    misses: int = 0
    sets: int = 0
    deletes: int = 0
    evictions: int = 0
    errors: int = 0
    latency_count: int = 0
    latency_sum_ms: float = 0.0
    min_response_time_ms: float | None = None
    max_response_time_ms: float | None = None
    cache_size: int | None = None
    latency_zero_count: int = 0
    histogram: ExpHistogram | None = None

    @property
    def key(self) -> tuple:
        return (self.minute_window, self.cache_name, self.implementation_type, self.service_name)


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
        service = _service(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = getattr(metric.data, "data_points", ())
                try:
                    if metric.name == sc.METRIC_OPERATIONS:
                        for p in points:
                            attrs = p.attributes or {}
                            op = sc.operation_type(str(attrs.get(sc.ATTR_OPERATION)), str(attrs.get(sc.ATTR_RESULT)))
                            value = _int_or_none(p.value)
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
                            value = _int_or_none(p.value)
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
                            _event_id("metric", service, metric.name, ns, data), "metric", _us(ns),
                            clean_text(service, MAX_SOURCE), data,
                            to_json({"scope": scope_metrics.scope.name if scope_metrics.scope else None,
                                     "resource": _resource_json(resource_metrics.resource)}),
                        ))
                except Exception as exc:
                    rejected.add(f"unmappable metric ({type(exc).__name__})")
    return MetricRows(sorted(rows.values(), key=lambda r: r.key), events, rejected)


def _add_duration(row: MinuteRow, point: Any, rejected: Rejected) -> None:
    count = _int_or_none(getattr(point, "count", None))
    total = getattr(point, "sum", None)
    total_ms = total * 1000.0 if isinstance(total, (int, float)) and not isinstance(total, bool) else math.nan
    if count is None or count <= 0 or not math.isfinite(total_ms):
        if count:
            rejected.add("invalid duration point")
        return
    low, high = getattr(point, "min", None), getattr(point, "max", None)
    positive = getattr(point, "positive", None)
    if positive is not None:  # exponential histogram
        zero = _int_or_none(point.zero_count)
        counts = tuple(_int_or_none(c) for c in positive.bucket_counts)
        scale = _int_or_none(getattr(point, "scale", None))
        if zero is None or zero < 0 or any(c is None or c < 0 for c in counts) \
                or scale is None or not -10 <= scale <= 20 \
                or _int_or_none(getattr(positive, "offset", None)) is None:  # OpenTelemetry's scale range
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
