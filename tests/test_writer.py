"""The writer's binary COPY path against the real server: exact values, missing partitions, bad rows."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import sql_rows
from otel_supabase_exporter import Settings
from otel_supabase_exporter.rows import RAW, map_spans, stream_spans
from otel_supabase_exporter.store.writer import PostgresWriter


def _spans(n: int, start_ns: int | None = None) -> list:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "writer-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for i in range(n):
        start = (start_ns or time.time_ns()) + i * 1_000
        span = tracer.start_span("cache.get", start_time=start, attributes={
            "cache.name": "w", "cache.implementation": "new", "cache.operation": "get",
            "cache.result": "hit" if i % 2 else "miss", "cache.key.hash": f"{i:016x}", "custom": i})
        span.end(end_time=start + 1_234_567)
    return list(exporter.get_finished_spans())


def test_binary_copy_stores_exact_ids_timestamps_and_json(pg_dsn, schema):
    spans = _spans(3)
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        result = writer.write_spans(stream_spans(spans).cache_rows, [])
    finally:
        writer.close()
    assert result.written == 3
    stored = {r[0]: r[1:] for r in sql_rows(
        pg_dsn, f'SELECT id, "timestamp", response_time_ms, attributes, trace_id FROM "{schema}".cache_metrics')}
    for span in spans:
        ctx = span.context
        row_id = uuid.UUID(int=((ctx.trace_id >> 64) << 64) | ctx.span_id)
        ts, ms, attributes, trace_id = stored[row_id]
        assert ts == datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=span.start_time // 1000)
        assert ms == 1.234567
        assert attributes == {"custom": json.loads(json.dumps(span.attributes["custom"]))}
        assert trace_id == f"{ctx.trace_id:032x}"


def test_rows_of_a_day_without_partition_get_one_and_land(pg_dsn, schema):
    old = int((time.time() - 12 * 86_400) * 1e9)
    spans = _spans(4, start_ns=old) + _spans(4)
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        result = writer.write_spans(stream_spans(spans).cache_rows, [])
    finally:
        writer.close()
    assert result.written == 8 and not result.rejected
    days = sql_rows(pg_dsn, f'SELECT "timestamp"::date, count(*) FROM "{schema}".cache_metrics GROUP BY 1 ORDER BY 1')
    assert [n for _, n in days] == [4, 4]


def test_a_row_the_database_rejects_is_set_aside_and_the_rest_of_the_batch_lands(pg_dsn, schema):
    rows = map_spans(_spans(5)).cache_rows
    op = RAW.names.index("operation_type")
    bad = list(rows[2])
    bad[op] = "teleport"  # violates the operation_type CHECK
    rows[2] = tuple(bad)
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        result = writer.write_spans(rows, [])
        again = writer.write_spans(rows, [])  # a replay: nothing new, the bad row set aside again
    finally:
        writer.close()
    assert result.written == 4 and sum(result.rejected.values()) == 1
    assert "CheckViolation" in next(iter(result.rejected))
    assert again.written == 0 and again.duplicates == 4
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics')[0][0] == 4
