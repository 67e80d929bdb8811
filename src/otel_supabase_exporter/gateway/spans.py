"""OTLP spans → the SDK's ``ReadableSpan``, so the in-process mapping (:mod:`..rows.spans`) makes
the same rows for them. Cache spans other SDKs emit the Sentry way (``cache.get``/``cache.put``
spans with ``cache.hit``) are given this package's attributes first (docs/gateway.md)."""

from __future__ import annotations

from typing import Any, Iterator

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .. import semconv as sc
from ..instrument.keys import default_hasher
from .values import attributes, resource, scope

__all__ = ["readable_spans", "recognise_span"]

# Sentry's cache span operations -> (operation, result when it is not read from cache.hit)
_SENTRY_OPS = {"cache.get": (sc.GET, None), "cache.get_item": (sc.GET, None), "cache.put": (sc.SET, sc.OK),
               "cache.remove": (sc.DELETE, sc.OK)}


def recognise_span(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` with this package's cache attributes added when the span is a cache operation in
    another convention; unchanged otherwise."""
    if sc.ATTR_OPERATION in attrs and sc.ATTR_NAME in attrs:
        return attrs
    op = _SENTRY_OPS.get(attrs.get("sentry.op") or name)
    if op is None:
        return attrs
    operation, result = op
    if result is None:
        hit = attrs.get(sc.ATTR_HIT)
        if not isinstance(hit, bool):
            return attrs
        result = sc.HIT if hit else sc.MISS
    out = dict(attrs)
    out[sc.ATTR_OPERATION] = operation
    out[sc.ATTR_RESULT] = result
    out.setdefault(sc.ATTR_NAME, attrs.get("db.system") or "default")
    key = out.pop(sc.ATTR_KEY, None)  # raw keys are not stored: a keyed hash, as for ours
    if key is not None and sc.ATTR_KEY_HASH not in out:
        out[sc.ATTR_KEY_HASH] = default_hasher(key if not isinstance(key, list) or len(key) != 1 else key[0])
    return out


def _context(trace_id: bytes, span_id: bytes) -> SpanContext | None:
    if len(trace_id) != 16 or len(span_id) != 8:
        return None
    return SpanContext(int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big"), is_remote=True,
                       trace_flags=TraceFlags(TraceFlags.SAMPLED))


def _status(status: Any) -> Status:
    if status.code == 2:
        return Status(StatusCode.ERROR, status.message or None)
    return Status(StatusCode.OK if status.code == 1 else StatusCode.UNSET)


def readable_spans(request: Any) -> Iterator[ReadableSpan | None]:
    """Every span of an ``ExportTraceServiceRequest``; None for one without valid ids."""
    for resource_spans in request.resource_spans:
        res = resource(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            instrumentation = scope(scope_spans.scope)
            for span in scope_spans.spans:
                context = _context(span.trace_id, span.span_id)
                if context is None:
                    yield None
                    continue
                parent = _context(span.trace_id, span.parent_span_id) if span.parent_span_id else None
                yield ReadableSpan(
                    name=span.name,
                    context=context,
                    parent=parent,
                    resource=res,
                    attributes=recognise_span(span.name, attributes(span.attributes)),
                    events=tuple(Event(e.name, attributes(e.attributes), e.time_unix_nano) for e in span.events),
                    kind=SpanKind(max(span.kind - 1, 0)) if span.kind <= 5 else SpanKind.INTERNAL,
                    status=_status(span.status),
                    start_time=span.start_time_unix_nano or None,
                    end_time=span.end_time_unix_nano or None,
                    instrumentation_scope=instrumentation,
                )
