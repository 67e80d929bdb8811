"""Arbitrary spans, metric points and log records (hypothesis): mapping never raises, every
item is either a row or a counted rejection, and every row the mapping makes is accepted by
the real database or set aside with its reason — the rest of its batch lands."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from otel_supabase_exporter import Settings
from otel_supabase_exporter.rows import (
    EVENT,
    RAW,
    log_rows,
    map_metrics,
    map_spans,
)
from otel_supabase_exporter.store.writer import PostgresWriter


class Opaque:
    """Not JSON-serialisable, with a repr that is hostile too."""

    def __repr__(self) -> str:
        return "<opaque \x00 \udcff '; DROP TABLE x; -->"


texts = st.one_of(st.text(), st.text(alphabet=st.characters(codec="utf-8")),
                  st.sampled_from(["", " ", "\x00", "\udc80", "a" * 300_000, "'; DROP TABLE cache_metrics; --",
                                   "$$", "ünïcødé ✓", "\u202e"]))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-1.0, 1e308, -0.0]))
leaves = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80), floats, texts,
                   st.binary(max_size=50), st.builds(Opaque))
values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                      max_leaves=10)
cache_attrs = st.fixed_dictionaries(
    {},
    optional={
        "cache.name": st.one_of(texts, values), "cache.implementation": st.one_of(texts, values),
        "cache.operation": st.sampled_from(["get", "set", "delete", "evict", "bogus", ""]) | values,
        "cache.result": st.sampled_from(["hit", "miss", "ok", "error", "x"]) | values,
        "cache.key.hash": values, "cache.size": values, "cache.item_size": values,
        "error.type": values, "cache.error.message": values,
    })
attrs = st.builds(lambda a, b: {**a, **b}, cache_attrs, st.dictionaries(texts, values, max_size=6))
times = st.one_of(st.none(), st.integers(min_value=0, max_value=2**63 - 1))


@st.composite
def spans(draw):
    n_attrs = draw(attrs)
    if draw(st.booleans()):
        n_attrs.update({f"k{i}": i for i in range(draw(st.sampled_from([0, 200, 3000])))})  # thousands
    ctx = SpanContext(draw(st.integers(1, 2**128 - 1)), draw(st.integers(1, 2**64 - 1)), False,
                      TraceFlags(1)) if draw(st.integers(0, 9)) else None
    start, end = draw(times), draw(times)
    events = [Event(draw(texts), attributes=draw(st.dictionaries(texts, values, max_size=3)), timestamp=draw(times))
              for _ in range(draw(st.integers(0, 2)))]
    resource = Resource.create({"service.name": draw(texts)}) if draw(st.booleans()) else None
    return ReadableSpan(draw(st.sampled_from(["cache.get", "cache.set", "request", ""]) | texts), context=ctx,
                        attributes=n_attrs, events=events, start_time=start, end_time=end, resource=resource)


def _check_rows(rows: list[tuple], columns: tuple[str, ...]) -> None:
    for row in rows:
        assert len(row) == len(columns)
        for value in row:
            if isinstance(value, str):
                value.encode("utf-8")
                assert "\x00" not in value
            if isinstance(value, float):
                assert math.isfinite(value)
        for name in ("attributes", "data", "metadata"):
            if name in columns:
                json.loads(row[columns.index(name)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(spans(), max_size=12))
def test_arbitrary_spans_are_rows_or_counted_rejections(batch):
    out = map_spans(batch)
    cache_like = sum(1 for s in batch if s.name.startswith("cache.") and "cache.operation" in (s.attributes or {})
                     and "cache.name" in (s.attributes or {}))
    assert len(out.cache_rows) + out.rejected.total >= cache_like  # each cache span: a row or a reason
    assert len(out.cache_rows) <= cache_like
    _check_rows(out.cache_rows, RAW.names)
    _check_rows(out.event_rows, EVENT.names)


def _point(draw, histogram: bool):
    attributes = draw(st.one_of(cache_attrs, st.dictionaries(texts, values, max_size=3)))
    base = {"attributes": attributes, "start_time_unix_nano": draw(times), "time_unix_nano": draw(times) or 1}
    if histogram:
        return SimpleNamespace(**base, count=draw(st.integers(-5, 10**6) | values), sum=draw(floats | values),
                               min=draw(floats), max=draw(floats), zero_count=draw(st.integers(-3, 10)),
                               scale=draw(st.integers(-30, 30) | st.sampled_from([10**9, -10**9])),
                               positive=SimpleNamespace(offset=draw(st.integers(-10**6, 10**6)),
                                                        bucket_counts=draw(st.lists(st.integers(-2, 10**9),
                                                                                    max_size=400))),
                               negative=SimpleNamespace(offset=0, bucket_counts=[]))
    return SimpleNamespace(**base, value=draw(st.integers(-10, 2**70) | floats | values))


@st.composite
def metrics_data(draw):
    metrics = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["cache.operations", "cache.operation.duration", "cache.size", "other"]) | texts)
        histogram = name == "cache.operation.duration" and draw(st.booleans())
        points = [_point(draw, histogram) for _ in range(draw(st.integers(0, 4)))]
        metrics.append(SimpleNamespace(name=name, unit=draw(texts), description=draw(texts),
                                       data=SimpleNamespace(data_points=points)))
    scope = SimpleNamespace(scope=SimpleNamespace(name=draw(texts)), metrics=metrics)
    resource = Resource.create({"service.name": draw(texts)})
    return SimpleNamespace(resource_metrics=[SimpleNamespace(resource=resource, scope_metrics=[scope])])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(metrics_data())
def test_arbitrary_metric_points_never_raise_and_counts_stay_valid(data):
    out = map_metrics(data)
    for row in out.minute_rows:
        for name in ("hits", "misses", "sets", "deletes", "evictions", "errors", "latency_count"):
            assert getattr(row, name) >= 0
        assert math.isfinite(row.latency_sum_ms)
        assert row.cache_name.strip() and "\x00" not in row.cache_name
        if row.histogram is not None:
            assert len(row.histogram.counts) <= 320 and all(c >= 0 for c in row.histogram.counts)
    _check_rows(out.event_rows, EVENT.names)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.builds(lambda body, a, t, o, sev: SimpleNamespace(
    body=body, attributes=a, timestamp=t, observed_timestamp=o, severity_text=sev, severity_number=None,
    trace_id=0, span_id=0, resource=None), values, st.dictionaries(texts, values, max_size=4), times, times,
    st.none() | texts), max_size=8))
def test_arbitrary_log_records_are_rows_or_counted_rejections(records):
    rows, rejected = log_rows(records)
    assert len(rows) + rejected.total == len(records)
    _check_rows(rows, EVENT.names)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(spans(), min_size=1, max_size=8))
def test_every_mapped_row_is_stored_or_set_aside_by_the_real_database(pg_dsn, schema, batch):
    out = map_spans(batch)
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        result = writer.write_spans(out.cache_rows, out.event_rows)
    finally:
        writer.close()
    total = len(out.cache_rows) + len(out.event_rows)
    assert result.written + result.duplicates + sum(result.rejected.values()) == total
