"""`doctor` fails precisely on broken set-ups and passes on a working one; CLI output keeps secrets out."""

from __future__ import annotations

import psycopg

from conftest import providers
from otel_supabase_exporter import instrument_cache
from otel_supabase_exporter.show.cli import main


def test_doctor_fails_on_an_empty_database(pg_dsn, fresh_schema, capsys):
    assert main(["--dsn", pg_dsn, "--schema", fresh_schema, "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"[FAIL] schema: schema '{fresh_schema}' does not exist: run `otel-supabase-exporter migrate`" in out


def test_doctor_names_a_missing_table(pg_dsn, schema, capsys):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{schema}".cache_metrics_1hour')
    assert main(["--dsn", pg_dsn, "--schema", schema, "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"[FAIL] tables: missing {schema}.cache_metrics_1hour; run `otel-supabase-exporter migrate`" in out


def test_doctor_fails_without_data_and_passes_after_traffic(pg_dsn, schema, telemetry, capsys):
    assert main(["--dsn", pg_dsn, "--schema", schema, "doctor"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] raw rows: none in the last 10 minutes" in out
    assert "[FAIL] 1-minute rows: none" in out

    cache = instrument_cache({}, name="doctor", **providers(telemetry))
    cache["a"] = 1
    cache.get("a")
    telemetry.force_flush()
    assert main(["--dsn", pg_dsn, "--schema", schema, "doctor"]) == 0
    out = capsys.readouterr().out
    assert "[ok  ] raw rows: 2 in the last 10 minutes" in out
    assert "[ok  ] 1-minute rows: 1 rows, 2 operations" in out
    assert "all checks passed" in out


def test_summary_prints_the_table(pg_dsn, schema, telemetry, capsys):
    cache = instrument_cache({}, name="summary", implementation="legacy", **providers(telemetry))
    cache["a"] = 1
    for _ in range(3):
        cache.get("a")
    cache.get("b")
    telemetry.force_flush()
    assert main(["--dsn", pg_dsn, "--schema", schema, "summary", "--window", "30m"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = [line for line in lines if line.startswith("summary")][0].split()
    assert row[:9] == ["summary", "legacy", "5", "0.167", "3", "1", "1", "0", "0"]  # ops/min: 5 over 30 min
    assert row[9] == "75.0"


def test_connection_errors_never_show_the_password(capsys):
    secret = "s3cr3t-Pa55word"
    dsn = f"postgresql://monitor:{secret}@127.0.0.1:1/postgres?connect_timeout=2"
    assert main(["--dsn", dsn, "doctor"]) == 1
    assert main(["--dsn", dsn, "summary"]) == 2
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    assert "127.0.0.1" in captured.out and "****" in captured.out


def test_doctor_reports_raw_coverage_of_complete_minutes(pg_dsn, schema):
    import psycopg

    from otel_supabase_exporter.judge.health import raw_coverage

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SELECT "{schema}".ensure_cache_metrics_partitions(current_date - 1, current_date)')
        minute = conn.execute("SELECT date_trunc('minute', now()) - interval '3 minutes'").fetchone()[0]
        conn.execute(f'INSERT INTO "{schema}".cache_metrics_1min (minute_window, cache_name, implementation_type,'
                     f" service_name, hits, misses) VALUES (%s, 'c', 'new', 's', 3, 1)", (minute,))
        for i in range(3):
            conn.execute(f'INSERT INTO "{schema}".cache_metrics (id, "timestamp", cache_name, implementation_type,'
                         f" operation_type) VALUES (gen_random_uuid(), %s + %s * interval '1 second', 'c', 'new',"
                         f" 'hit')", (minute, i))
        check = raw_coverage(conn, schema, 10)
    assert check.ok is None and "3 raw rows for 4 operations" in check.detail and "75.0 %" in check.detail
