"""The mapping layer on its own (no server): spans, metrics and log records → rows."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_supabase_exporter import instrument_cache
from otel_supabase_exporter.histogram import ExpHistogram, merge
from otel_supabase_exporter.rows import RAW, clean_text, map_spans, span_row_id


def _spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_cache_spans_become_rows_with_stable_ids_and_exact_durations():
    provider, exporter = _spans()
    cache = instrument_cache({}, name="users", implementation="new", tracer_provider=provider)
    cache["secret-key"] = "value"
    cache.get("secret-key")
    cache.get("other")
    with provider.get_tracer("app").start_as_current_span("request"):
        pass
    spans = exporter.get_finished_spans()
    rows = map_spans(spans)
    assert rows.rejected.total == 0
    assert [r[RAW.names.index("operation_type")] for r in rows.cache_rows] == ["set", "hit", "miss"]
    for span, row in zip(spans, rows.cache_rows):
        record = dict(zip(RAW.names, row))
        assert record["id"] == span_row_id(span.context.trace_id, span.context.span_id)
        assert record["response_time_ms"] == (span.end_time - span.start_time) / 1e6
        assert record["cache_key_hash"] and "secret-key" not in json.dumps(record, default=str)
    assert map_spans(spans).cache_rows == rows.cache_rows  # deterministic: replays map to the same ids
    assert [(r[1], json.loads(r[4])["name"]) for r in rows.event_rows] == [("span", "request")]


def test_hostile_attribute_values_are_sanitised_not_fatal():
    provider, exporter = _spans()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("cache.get", attributes={
        "cache.name": "a\x00b", "cache.implementation": "x" * 500, "cache.operation": "get",
        "cache.result": "hit", "nan": float("nan"), "big": "y" * 100_000, "surrogate": "\udc80"}):
        pass
    with tracer.start_as_current_span("cache.get", attributes={
        "cache.name": "   ", "cache.operation": "get", "cache.result": "hit"}):
        pass
    with tracer.start_as_current_span("cache.get", attributes={
        "cache.name": "n", "cache.operation": "get", "cache.result": "bogus"}):
        pass
    rows = map_spans(exporter.get_finished_spans())
    assert len(rows.cache_rows) == 1
    assert dict(rows.rejected.reasons) == {"empty cache name": 1, "unknown cache operation/result": 1}
    record = dict(zip(RAW.names, rows.cache_rows[0]))
    assert record["cache_name"] == "a\ufffdb" and len(record["implementation_type"]) == 100
    attrs = json.loads(record["attributes"])
    assert attrs["nan"] == "nan" and attrs["surrogate"] == "\ufffd" and len(attrs["big"]) == 4096


@given(st.text())
def test_clean_text_always_encodes_and_has_no_nul(text):
    cleaned = clean_text(text)
    cleaned.encode("utf-8")
    assert "\x00" not in cleaned and len(cleaned) <= 4096


histograms = st.builds(
    lambda scale, offset, counts: ExpHistogram(scale, offset, tuple(counts)),
    st.integers(-2, 8), st.integers(-400, 100), st.lists(st.integers(0, 50), min_size=1, max_size=60))


def _bucket(index: int, scale: int, target: int) -> int:
    return index >> (scale - target)


@settings(max_examples=300)
@given(histograms, histograms, st.integers(4, 320))
def test_histogram_merge_is_exact(a, b, max_buckets):
    merged = merge(a, b, max_buckets)
    assert merged.total == a.total + b.total
    assert len(merged.counts) <= max_buckets
    assert merged.scale <= min(a.scale, b.scale)
    # every value lands in the bucket of the merged scale that contains its original bucket
    expected: dict[int, int] = {}
    for h in (a, b):
        for i, c in enumerate(h.counts):
            if c:
                j = _bucket(h.index_offset + i, h.scale, merged.scale)
                expected[j] = expected.get(j, 0) + c
    got = {merged.index_offset + i: c for i, c in enumerate(merged.counts) if c}
    assert got == expected
    # bucket boundaries nest: (2^(i/2^s), 2^((i+1)/2^s)] lies inside (2^(j/2^t), 2^((j+1)/2^t)]
    for h in (a, b):
        k = 2 ** (h.scale - merged.scale)
        for i in range(h.index_offset, h.index_offset + len(h.counts)):
            j = _bucket(i, h.scale, merged.scale)
            assert j * k <= i and i + 1 <= (j + 1) * k
