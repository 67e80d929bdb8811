"""Hourly rollups, retention at its boundaries, the maintain entry points, views and NOTIFY."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import run_python, sql_rows
from otel_supabase_exporter import Settings
from otel_supabase_exporter.histogram import ExpHistogram, merge
from otel_supabase_exporter.judge.maintenance import maintain, update_settings
from otel_supabase_exporter.rows import MinuteRow
from otel_supabase_exporter.store.writer import PostgresWriter

UTC = timezone.utc


def _minute_rows(hour: datetime, rng: random.Random, minutes: range, caches=("a", "b")) -> list[MinuteRow]:
    rows = []
    for minute in minutes:
        for cache in caches:
            scale = rng.choice([3, 4, 5])
            counts = tuple(rng.randrange(0, 40) for _ in range(rng.randrange(1, 30)))
            hist = ExpHistogram(scale, rng.randrange(-400, -200), counts)
            rows.append(MinuteRow(hour + timedelta(minutes=minute), cache, "new", "svc",
                                  hits=rng.randrange(100), misses=rng.randrange(50), sets=rng.randrange(50),
                                  errors=rng.randrange(3), latency_count=hist.total,
                                  latency_sum_ms=hist.total * 0.05, min_response_time_ms=0.001 + minute / 1e4,
                                  max_response_time_ms=5.0 + minute, cache_size=minute,
                                  latency_zero_count=rng.randrange(3), histogram=hist))
    return rows


def _write(writer: PostgresWriter, rows: list[MinuteRow]) -> None:
    writer.write_minutes(rows, [], uuid.uuid4())


def _hour_rows(dsn: str, schema: str) -> dict[tuple, tuple]:
    return {(r[0], r[1]): r[2:] for r in sql_rows(
        dsn, f'SELECT hour_window, cache_name, hits, misses, sets, errors, latency_count, latency_zero_count,'
             f' min_response_time_ms, max_response_time_ms, cache_size, (latency_histogram).scale,'
             f' (latency_histogram).index_offset, (latency_histogram).counts, p50_response_time_ms,'
             f' p95_response_time_ms, p99_response_time_ms FROM "{schema}".cache_metrics_1hour')}


def _expected(dsn: str, schema: str, minutes: list[MinuteRow]) -> dict[tuple, tuple]:
    by_hour: dict[tuple, list[MinuteRow]] = {}
    for m in minutes:
        by_hour.setdefault((m.minute_window.replace(minute=0), m.cache_name), []).append(m)
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for key, rows in by_hour.items():
            hist = None
            for r in rows:
                hist = merge(hist, r.histogram)
            zero = sum(r.latency_zero_count for r in rows)
            lo, hi = min(r.min_response_time_ms for r in rows), max(r.max_response_time_ms for r in rows)
            q = conn.execute(
                f'SELECT "{schema}".exp_hist_quantiles(ROW(%s, %s, %s)::"{schema}".exp_histogram, %s,'
                f" ARRAY[0.5, 0.95, 0.99]::float8[], %s, %s)",
                (hist.scale, hist.index_offset, list(hist.counts), zero, lo, hi)).fetchone()[0]
            last = max(rows, key=lambda r: r.minute_window)
            out[key] = (sum(r.hits for r in rows), sum(r.misses for r in rows), sum(r.sets for r in rows),
                        sum(r.errors for r in rows), sum(r.latency_count for r in rows), zero, lo, hi,
                        last.cache_size, hist.scale, hist.index_offset, list(hist.counts), *q)
    return out


def test_hour_rows_equal_an_independent_merge_of_their_minutes_late_minutes_included(pg_dsn, schema):
    rng = random.Random(11)
    base = (datetime.now(UTC) - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    minutes: list[MinuteRow] = []
    try:
        for h in range(3):
            rows = _minute_rows(base + timedelta(hours=h), rng, range(0, 60, 3))
            _write(writer, rows)
            minutes += rows
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            steps = dict(maintain(conn, schema))
            assert steps["hour rows rolled up"] == 6
            assert _hour_rows(pg_dsn, schema) == _expected(pg_dsn, schema, minutes)
            before = _hour_rows(pg_dsn, schema)
            assert dict(maintain(conn, schema))["hour rows rolled up"] == 0  # idempotent: nothing queued
            assert _hour_rows(pg_dsn, schema) == before

            # a late minute (a spool replayed later) for the first hour, and a merge into an existing minute
            late = _minute_rows(base, rng, range(1, 2)) + _minute_rows(base, rng, range(3, 4), caches=("a",))
            _write(writer, late)
            minutes += late
            assert dict(maintain(conn, schema))["hour rows rolled up"] == 2
    finally:
        writer.close()
    merged_minutes: dict[tuple, MinuteRow] = {}
    for m in minutes:  # the database merged the second contribution to minute 3 of "a"
        key = (m.minute_window, m.cache_name)
        if key in merged_minutes:
            prev = merged_minutes[key]
            m = MinuteRow(m.minute_window, m.cache_name, "new", "svc", prev.hits + m.hits, prev.misses + m.misses,
                          prev.sets + m.sets, 0, 0, prev.errors + m.errors, prev.latency_count + m.latency_count,
                          0.0, min(prev.min_response_time_ms, m.min_response_time_ms),
                          max(prev.max_response_time_ms, m.max_response_time_ms),
                          max(prev.cache_size, m.cache_size), prev.latency_zero_count + m.latency_zero_count,
                          merge(prev.histogram, m.histogram))
        merged_minutes[key] = m
    assert _hour_rows(pg_dsn, schema) == _expected(pg_dsn, schema, list(merged_minutes.values()))


def test_summary_from_hours_equals_summary_from_minutes(pg_dsn, schema):
    rng = random.Random(5)
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        for h in range(1, 8):
            _write(writer, _minute_rows(now_hour - timedelta(hours=h), rng, range(0, 60, 7)))
        _write(writer, _minute_rows(now_hour, rng, range(0, min(datetime.now(UTC).minute + 1, 60), 5)))
    finally:
        writer.close()
    query = f"SELECT * FROM \"{schema}\".get_cache_performance_summary(NULL, interval '5 hours 30 minutes')"
    from_minutes = sql_rows(pg_dsn, query)  # nothing rolled up yet: every hour is queued
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        maintain(conn, schema)
        assert conn.execute(f'SELECT count(*) FROM "{schema}".rollup_queue').fetchone()[0] == 0
    from_hours = sql_rows(pg_dsn, query)
    assert from_minutes and len(from_hours) == len(from_minutes)
    for got, want in zip(from_hours, from_minutes):  # floats may differ in the last digit (summation order)
        assert [pytest.approx(w, rel=1e-12) if isinstance(w, float) else w for w in want] == list(got)


def test_retention_removes_only_what_is_outside_each_window(pg_dsn, schema):
    now = datetime.now(UTC)
    today = now.date()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        update_settings(conn, schema, raw_retention=timedelta(days=2), minute_retention=timedelta(hours=3),
                      hour_retention=timedelta(days=2), event_retention=timedelta(hours=1))
        conn.execute(f'SELECT "{schema}".ensure_cache_metrics_partitions(%s, %s)', (today - timedelta(days=5), today))
        inside = now - timedelta(days=2) + timedelta(minutes=1)
        for ts in (inside, now - timedelta(days=4), now):
            conn.execute(f'INSERT INTO "{schema}".cache_metrics (id, "timestamp", cache_name, implementation_type,'
                         f" operation_type) VALUES (gen_random_uuid(), %s, 'r', 'new', 'hit')", (ts,))
        for ts in (now - timedelta(hours=3) + timedelta(minutes=1), now - timedelta(hours=3, minutes=1)):
            minute = ts.replace(second=0, microsecond=0)
            conn.execute(f'INSERT INTO "{schema}".cache_metrics_1min (minute_window, cache_name, implementation_type,'
                         f" service_name, hits) VALUES (%s, 'm', 'new', 's', 1)", (minute,))
        for ts in (now - timedelta(days=2) + timedelta(hours=1), now - timedelta(days=2, hours=1)):
            conn.execute(f'INSERT INTO "{schema}".cache_metrics_1hour (hour_window, cache_name, implementation_type,'
                         f" service_name, hits) VALUES (%s, 'h', 'new', 's', 1)",
                         (ts.replace(minute=0, second=0, microsecond=0),))
        for ts in (now - timedelta(minutes=59), now - timedelta(minutes=61)):
            conn.execute(f'INSERT INTO "{schema}".monitoring_events (id, event_type, "timestamp", data)'
                         f" VALUES (gen_random_uuid(), 'log', %s, '{{}}')", (ts,))
        steps = dict(maintain(conn, schema))
        again = dict(maintain(conn, schema))

    raw = [r[0] for r in sql_rows(pg_dsn, f'SELECT "timestamp" FROM "{schema}".cache_metrics ORDER BY 1')]
    assert raw == [inside, now]  # the partition holding the boundary stays whole
    boundary_day = inside.date()
    parts = {r[0] for r in sql_rows(pg_dsn, "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                            " WHERE nspname = %s AND relname LIKE 'cache_metrics_p%%'", (schema,))}
    assert f"cache_metrics_p{boundary_day:%Y%m%d}" in parts
    assert f"cache_metrics_p{boundary_day - timedelta(days=1):%Y%m%d}" not in parts
    assert f"cache_metrics_p{today + timedelta(days=2):%Y%m%d}" in parts  # the coming days exist
    assert steps["expired: cache_metrics (daily partitions dropped)"] >= 2
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics_1min')[0][0] == 1
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics_1hour WHERE cache_name = %s',
                    ("h",))[0][0] == 1
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".monitoring_events')[0][0] == 1
    assert all(n == 0 for step, n in again.items() if step.startswith("expired"))  # twice changes nothing


def test_new_minute_rows_and_observations_are_notified(pg_dsn, schema):
    with psycopg.connect(pg_dsn, autocommit=True) as listener:
        listener.execute("LISTEN otel_supabase_exporter")
        writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
        try:
            _write(writer, _minute_rows(datetime.now(UTC).replace(second=0, microsecond=0), random.Random(1),
                                        range(0, 1)))
        finally:
            writer.close()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'INSERT INTO "{schema}".cache_auditor_observations (cache_name, implementation_type,'
                         f" severity, category, rule, metric, message) VALUES ('a', 'new', 'warning',"
                         f" 'performance', 'latency', 'p95', 'slow')")
        got = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=3)]
    tables = sorted((g["table"], g.get("cache_name")) for g in got if g["schema"] == schema)
    assert tables == [("cache_auditor_observations", None), ("cache_metrics_1min", "a"), ("cache_metrics_1min", "b")]
    assert all(isinstance(g["id"], int) for g in got)


def test_common_views_answer(pg_dsn, schema):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SELECT "{schema}".ensure_cache_metrics_partitions(current_date, current_date)')
        conn.execute(f'INSERT INTO "{schema}".cache_metrics (id, "timestamp", cache_name, implementation_type,'
                     f" operation_type, error_type, error_message) VALUES (gen_random_uuid(), now(), 'e', 'new',"
                     f" 'error', 'TimeoutError', 'took too long')")
        conn.execute(f'INSERT INTO "{schema}".monitoring_events (id, event_type, data) VALUES (gen_random_uuid(),'
                     f" 'log', '{{}}')")
    assert sql_rows(pg_dsn, f'SELECT cache_name, error_type, errors, last_message FROM "{schema}".error_summary') == \
        [("e", "TimeoutError", 1, "took too long")]
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".recent_events')[0][0] == 1
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".performance_summary')[0][0] == 0


@pytest.mark.timeout(60)
def test_cli_maintain_once_and_in_a_loop(pg_dsn, schema):
    env = {"OTEL_EXPORTER_SUPABASE_DSN": pg_dsn, "OTEL_EXPORTER_SUPABASE_SCHEMA": schema}
    once = run_python(["-m", "otel_supabase_exporter", "maintain", "--raw-retention", "10d"], env)
    assert once.returncode == 0, once.stderr
    assert "hour rows rolled up: 0" in once.stdout and "partitions created" in once.stdout
    assert sql_rows(pg_dsn, f'SELECT raw_retention FROM "{schema}".maintenance_settings')[0][0] == timedelta(days=10)
    try:
        looped = run_python(["-m", "otel_supabase_exporter", "maintain", "--every", "1s"], env, timeout=3.5)
        out = looped.stdout
    except Exception as exc:  # subprocess.TimeoutExpired carries what it printed
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    assert out.count("maintain:") >= 2
