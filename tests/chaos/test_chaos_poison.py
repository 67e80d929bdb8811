"""Poisoned input: a row that cannot be mapped or written is rejected alone, with its reason
counted, and never blocks its batch, the spool or later batches; no partition is made for a
timestamp outside the plausibility window."""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta, timezone

from conftest import sql_rows
from otel_supabase_exporter import Settings
from otel_supabase_exporter.rows.schema import MinuteRow
from otel_supabase_exporter.sdk.exporters import SupabaseSpanExporter
from otel_supabase_exporter.store.batch import Batch
from otel_supabase_exporter.store.delivery import Delivery
from otel_supabase_exporter.store.plausible import OUTSIDE_WINDOW
from otel_supabase_exporter.store.spool import Spool, directory_for
from otel_supabase_exporter.store.writer import PostgresWriter
from test_writer import _spans

DAY_NS = 86_400 * 10**9


def _settings(dsn: str, schema: str, tmp_path) -> Settings:
    return Settings(dsn=dsn, schema=schema, spool_dir=str(tmp_path / "spool"), timeout_s=3)


def _partition_days(dsn: str, schema: str) -> list[date]:
    names = [r[0] for r in sql_rows(dsn, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                    " WHERE i.inhparent = %s::regclass", (f'"{schema}".cache_metrics',))]
    return sorted(datetime.strptime(n[-8:], "%Y%m%d").date() for n in names)


def _raw(dsn: str, schema: str) -> int:
    return sql_rows(dsn, f'SELECT count(*) FROM "{schema}".cache_metrics')[0][0]


def test_a_span_in_the_wrong_unit_is_rejected_alone_and_later_batches_flow(pg_dsn, schema, tmp_path):
    exporter = SupabaseSpanExporter(settings=_settings(pg_dsn, schema, tmp_path))
    try:
        now = time.time_ns()
        poisoned = _spans(1, start_ns=now * 1000) + _spans(1, start_ns=now - 40 * DAY_NS) \
            + _spans(1, start_ns=now + 400 * DAY_NS) + _spans(1, start_ns=253_402_000_000 * 10**9)  # year 9999
        exporter.export(_spans(30) + poisoned + _spans(30))
        exporter.export(_spans(25))  # an unrelated batch after the poisoned one
        stats = exporter.stats.snapshot()
    finally:
        exporter.shutdown()
    assert _raw(pg_dsn, schema) == 85
    assert stats["exported"] == 85 and stats["rejected"] == {OUTSIDE_WINDOW: 4}
    assert stats["failed"] == 0 and stats["spooled"] == 0 and stats["dropped"] == {}
    today = datetime.now(timezone.utc).date()
    assert all(today - timedelta(days=8) <= d <= today + timedelta(days=3) for d in _partition_days(pg_dsn, schema))


def test_a_poisoned_record_in_the_spool_replays_its_good_rows_and_does_not_block(pg_dsn, schema, tmp_path):
    settings = _settings(pg_dsn, schema, tmp_path)
    # As an earlier version spooled it: a record with a row in the wrong unit among good ones.
    good = _spans(10)
    bad = _spans(1, start_ns=time.time_ns() * 1000)
    from otel_supabase_exporter.rows import stream_spans

    rows = list(stream_spans(good + bad).cache_rows)
    spool = Spool(directory_for(settings), settings.spool_max_bytes)
    spool.append(Batch("spans", rows).payload(), len(rows), 0)
    spool.append(Batch("spans", list(stream_spans(_spans(5)).cache_rows)).payload(), 5, 0)
    spool.close()
    delivery = Delivery(settings, PostgresWriter(settings))  # its replay thread starts on the spool at once
    try:
        deadline = time.monotonic() + 30
        while not delivery.spool.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert delivery.spool.empty()
        stats = delivery.stats["spans"].snapshot()
    finally:
        delivery.close()
    assert _raw(pg_dsn, schema) == 15
    assert stats["replayed"] == 15 and stats["rejected"] == {OUTSIDE_WINDOW: 1}


def test_a_minute_row_the_database_refuses_is_bisected_out_and_the_rest_merges_once(pg_dsn, schema, tmp_path):
    settings = _settings(pg_dsn, schema, tmp_path)
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    rows = [MinuteRow(minute_window=minute, cache_name=f"c{i}", implementation_type="new", service_name="s",
                      hits=3, latency_count=3, latency_sum_ms=1.0) for i in range(20)]
    rows[7] = MinuteRow(minute_window=minute, cache_name="c7", implementation_type="new", service_name="s",
                        hits=2**63 + 5)  # no bigint holds it
    delivery = Delivery(settings, PostgresWriter(settings))
    try:
        batch_id = uuid.uuid4()
        assert delivery.send(Batch("metrics", rows, (), batch_id), len(rows))
        assert delivery.send(Batch("metrics", rows, (), batch_id), len(rows))  # a retry of the same batch
        stats = delivery.stats["metrics"].snapshot()
    finally:
        delivery.close()
    stored = dict(sql_rows(pg_dsn, f'SELECT cache_name, hits FROM "{schema}".cache_metrics_1min'))
    assert stored == {f"c{i}": 3 for i in range(20) if i != 7}
    assert sum(stats["rejected"].values()) == 1 and stats["failed"] == 0 and stats["spooled"] == 0


def test_span_events_are_screened_too_after_the_rows_they_come_with(pg_dsn, schema, tmp_path):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("request") as span:
        span.add_event("fine")
        span.add_event("in the wrong unit", timestamp=time.time_ns() * 1000)
    exporter = SupabaseSpanExporter(settings=_settings(pg_dsn, schema, tmp_path))
    try:
        exporter.export(list(memory.get_finished_spans()))
        stats = exporter.stats.snapshot()
    finally:
        exporter.shutdown()
    kinds = sorted(r[0] for r in sql_rows(pg_dsn, f'SELECT event_type FROM "{schema}".monitoring_events'))
    assert kinds == ["span", "span_event"] and stats["rejected"] == {OUTSIDE_WINDOW: 1}
