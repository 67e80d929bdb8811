"""Finished spans → rows: a cache operation span becomes a ``cache_metrics`` row, every other
span and every span event a ``monitoring_events`` row. A span that cannot become a valid row is
rejected with a reason instead of failing its batch. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from .. import semconv as sc
from .sanitize import (
    MAX_ERROR_MESSAGE,
    MAX_IMPLEMENTATION,
    MAX_NAME,
    MAX_SOURCE,
    Rejected,
    attributes_json,
    clean_short,
    clean_text,
    event_id,
    instance_of,
    int_or_none,
    resource_json,
    row_us,
    service_of,
    to_json,
)

__all__ = ["SpanRows", "cache_span_row", "is_cache_span", "map_spans", "span_event_rows", "span_row_id",
           "stream_spans"]

_KNOWN_CACHE_ATTRS = sc.METRIC_ATTRIBUTES | sc.SPAN_ONLY_ATTRIBUTES


def span_row_id(trace_id: int, span_id: int) -> int:
    """Stable id of a span's row (a 128-bit ``uuid``): the high half of the trace id and the span id."""
    return ((trace_id >> 64) << 64) | (span_id & 0xFFFF_FFFF_FFFF_FFFF)


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
    name = clean_short(attrs.get(sc.ATTR_NAME, ""), MAX_NAME)
    if not name:
        rejected.add("empty cache name")
        return None
    impl = clean_short(attrs.get(sc.ATTR_IMPLEMENTATION) or "default", MAX_IMPLEMENTATION) or "default"
    start, end = span.start_time, span.end_time
    response_ms = (end - start) / 1e6 if start and end and end >= start else None
    attributes = "{}"
    for k in attrs:
        if k not in _ROW_ATTRS:  # only then is there anything for the JSON column
            attributes = attributes_json(attrs, _KNOWN_CACHE_ATTRS)[0]
            break
    error_type = attrs.get(sc.ATTR_ERROR_TYPE)
    error_message = attrs.get(sc.ATTR_ERROR_MESSAGE)
    key_hash = attrs.get(sc.ATTR_KEY_HASH)
    trace_id, span_id = ctx.trace_id, ctx.span_id
    return (
        span_row_id(trace_id, span_id),
        row_us(start),
        name,
        impl,
        op_type,
        response_ms,
        int_or_none(attrs.get(sc.ATTR_SIZE)),
        int_or_none(attrs.get(sc.ATTR_ITEM_SIZE)),
        clean_text(key_hash, 128) if key_hash is not None else None,
        clean_text(error_type, 200) if error_type is not None else None,
        clean_text(error_message, MAX_ERROR_MESSAGE) if error_message is not None else None,
        service_of(span.resource),
        f"{trace_id:032x}",
        f"{span_id:016x}",
        attributes,
        instance_of(span.resource),
    )


def _span_metadata(span: Any, ctx: Any) -> str:
    scope = span.instrumentation_scope
    return to_json(
        {
            "trace_id": f"{ctx.trace_id:032x}",
            "span_id": f"{ctx.span_id:016x}",
            "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
            "scope": scope.name if scope else None,
            "resource": resource_json(span.resource),
        }
    )


def span_event_rows(span: Any) -> list[tuple]:
    """``monitoring_events`` rows for a span that is not a cache operation, and for every span event."""
    ctx = span.context
    rows: list[tuple] = []
    source = clean_text(service_of(span.resource), MAX_SOURCE)
    metadata = _span_metadata(span, ctx)
    if not is_cache_span(span):
        attributes, _ = attributes_json(span.attributes)
        data = (
            '{"name":' + to_json(span.name)
            + ',"kind":' + to_json(getattr(span.kind, "name", str(span.kind)))
            + ',"duration_ms":' + to_json((span.end_time - span.start_time) / 1e6 if span.end_time else None)
            + ',"status":' + to_json(getattr(span.status.status_code, "name", None))
            + ',"attributes":' + attributes + "}"
        )
        rows.append((event_id("span", ctx.trace_id, ctx.span_id), "span", row_us(span.start_time), source, data,
                     metadata))
    for index, event in enumerate(span.events or ()):
        attributes, _ = attributes_json(event.attributes)
        event_type = "exception" if event.name == "exception" else "span_event"
        data = '{"name":' + to_json(event.name) + ',"span_name":' + to_json(span.name) + ',"attributes":' \
            + attributes + "}"
        rows.append((event_id("event", ctx.trace_id, ctx.span_id, index), event_type, row_us(event.timestamp),
                     source, data, metadata))
    return rows


@dataclass
class SpanRows:
    """A span batch's rows. ``cache_rows`` is an iterator for :func:`stream_spans` (``event_rows``
    and ``rejected`` are complete once it is exhausted), a list for :func:`map_spans`."""

    cache_rows: list[tuple] | Iterator[tuple]
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
    return SpanRows(_span_rows(spans, event_rows, rejected), event_rows, rejected)


def map_spans(spans: Iterable[Any]) -> SpanRows:
    """Rows for a batch of finished spans."""
    rows = stream_spans(spans)
    rows.cache_rows = list(rows.cache_rows)
    return rows


