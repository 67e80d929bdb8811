"""Every query of examples/grafana/cache-dashboard.json, with Grafana's macros expanded as the
PostgreSQL data source does, runs against a seeded database and returns what its panel shows."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import ROOT
from otel_supabase_exporter import Settings
from otel_supabase_exporter.demo.synthetic import Fault, Profile, generate
from otel_supabase_exporter.store.writer import PostgresWriter

DASHBOARD = ROOT / "examples" / "grafana" / "cache-dashboard.json"
UTC = timezone.utc


def expand(sql: str, schema: str, start: datetime, end: datetime, interval_ms: int, cache: str) -> str:
    """What Grafana sends: macros and variables replaced (the cache as an escaped string literal)."""
    literal = "'" + cache.replace("'", "''") + "'"
    out = sql.replace("$__timeFrom()", f"'{start.isoformat()}'").replace("$__timeTo()", f"'{end.isoformat()}'")
    out = re.sub(r"\$__timeFilter\((\w+)\)", lambda m: f"{m.group(1)} BETWEEN '{start.isoformat()}' AND "
                                                       f"'{end.isoformat()}'", out)
    out = out.replace("$__interval_ms", str(interval_ms)).replace("${cache:sqlstring}", literal)
    assert "$" not in out.replace("$$", ""), f"unexpanded macro in: {out}"
    return out.replace("monitoring.", f'"{schema}".')


@pytest.fixture(scope="module")
def seeded(pg_dsn):
    from otel_supabase_exporter import migrate

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        migrate(conn, schema)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = [r for p in (Profile("o'brien"), Profile("o'brien", "new", faults=(Fault("errors", end - timedelta(hours=2),
                                                                                       end, 0.03),)))
            for r in generate(p, end - timedelta(days=2), end, seed=2)]
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        writer.write_minutes(rows, [], uuid.uuid4())
    finally:
        writer.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SELECT "{schema}".rollup_hours(100000)')
        conn.execute(f'SELECT "{schema}".ensure_cache_metrics_partitions(current_date, current_date)')
        conn.execute(f'INSERT INTO "{schema}".cache_metrics (id, "timestamp", cache_name, implementation_type,'
                     f" operation_type, error_type, error_message) VALUES (gen_random_uuid(), now(), 'o''brien',"
                     f" 'new', 'error', 'TimeoutError', 'slow backend')")
        conn.execute(f'SELECT * FROM "{schema}".run_auditor(%s)', (end,))
    yield schema, end
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _run(dsn: str, sql: str) -> tuple[list[str], list[tuple]]:
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return [d.name for d in cur.description], cur.fetchall()


@pytest.mark.parametrize("hours, interval_ms", [(6, 60_000), (48, 1_200_000)])
def test_every_panel_query_runs_and_returns_its_data(pg_dsn, seeded, hours, interval_ms):
    schema, end = seeded
    dashboard = json.loads(DASHBOARD.read_text())
    start = end - timedelta(hours=hours)
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "cache")
    _, caches = _run(pg_dsn, expand(variable["query"], schema, start, end, interval_ms, ""))
    assert caches == [("o'brien",)]

    shown = {}
    for panel in dashboard["panels"]:
        assert panel["datasource"]["type"] == "grafana-postgresql-datasource"
        for target in panel["targets"]:
            columns, rows = _run(pg_dsn, expand(target["rawSql"], schema, start, end, interval_ms, "o'brien"))
            assert rows, f"panel {panel['title']!r} shows nothing"
            if panel["type"] == "timeseries":
                assert columns[0] == "time" and target["format"] == "time_series"
            shown[panel["title"]] = (columns, rows)

    ops = shown["Operations per minute"][1]
    assert {r[1] for r in ops} == {"legacy", "new"} and all(r[2] > 0 for r in ops)
    bucket = timedelta(minutes=max(1, -(-interval_ms // 60000)))
    assert len(ops) >= 2 * (hours * 60 // (bucket.total_seconds() // 60)) - 2
    latency = shown["Latency p50 / p95 / p99 (ms)"][1]
    assert {r[1] for r in latency} == {f"{i} {q}" for i in ("legacy", "new") for q in ("p50", "p95", "p99")}
    (compare,) = shown["Legacy vs new over the range (other − reference)"][1]
    assert compare[0] == "new" and compare[1] == "legacy" and compare[8] > 0  # new has the errors
    observations = shown["Open observations (the auditor)"][1]
    assert any(r[4] == "error_rate_high" and r[3] == "new" for r in observations)
    assert shown["Errors by type, last 7 days"][1][0][2] == "TimeoutError"
