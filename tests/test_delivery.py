"""Retries, permanent errors, the spool and the exporters' own counters, on the session's server."""

from __future__ import annotations

import logging
import time

import psycopg

from conftest import providers, sql_rows
from otel_supabase_exporter import configure, instrument_cache, migrate
from otel_supabase_exporter.show.cli import main as cli_main


def test_permanent_error_is_reported_once_with_the_fix_spooled_not_hammered_then_replayed(
        pg_dsn, fresh_schema, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SPOOL_DIR", str(tmp_path))
    telemetry = configure(pg_dsn, schema=fresh_schema, service_name="perm", set_global=False)
    try:
        cache = instrument_cache({}, name="perm", **providers(telemetry))
        with caplog.at_level(logging.WARNING):
            for i in range(30):
                cache[i] = i
            telemetry.tracer_provider.force_flush()
            t0 = time.monotonic()
            for i in range(30):
                cache.get(i)
            telemetry.tracer_provider.force_flush()
            second_flush = time.monotonic() - t0
        warnings = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
        assert len(warnings) == 1, warnings  # once per cause, not once per batch
        assert fresh_schema in warnings[0] and "InvalidSchemaName" in warnings[0] and "migrate" in warnings[0]
        stats = telemetry.stats()
        assert stats["spans"]["exported"] == 0 and stats["spans"]["spooled"] == 60
        assert second_flush < 1.0  # the breaker sends it straight to the spool: no retry storm
        assert stats["spool"]["segments"] >= 1

        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            migrate(conn, fresh_schema)
        delivery = telemetry.span_exporter.delivery
        assert delivery.replay() >= 1
        assert telemetry.stats()["spans"]["replayed"] == 60
    finally:
        telemetry.shutdown()
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{fresh_schema}".cache_metrics')[0][0] == 60


def test_lost_connections_are_retried_and_nothing_is_spooled(pg_dsn, schema, tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SPOOL_DIR", str(tmp_path))
    telemetry = configure(pg_dsn, schema=schema, service_name="retry", set_global=False)
    try:
        cache = instrument_cache({}, name="retry", **providers(telemetry))
        cache["warm"] = 1
        telemetry.tracer_provider.force_flush()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:  # an admin kills the exporter's sessions
            killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                  " WHERE application_name = 'otel-supabase-exporter'").fetchone()[0]
        assert killed >= 1
        for i in range(20):
            cache[i] = i
        telemetry.tracer_provider.force_flush()
        stats = telemetry.stats()["spans"]
        assert stats["retried"] >= 1 and stats["spooled"] == 0 and stats["exported"] == 21
    finally:
        telemetry.shutdown()


def test_exporter_counters_reach_the_database_and_doctor_prints_them_and_the_spool(
        pg_dsn, schema, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SPOOL_DIR", str(tmp_path))
    telemetry = configure(pg_dsn, schema=schema, service_name="selfobs", set_global=False, export_interval_s=1)
    try:
        cache = instrument_cache({}, name="selfobs", **providers(telemetry))
        for i in range(10):
            cache[i] = i
        telemetry.force_flush()
        telemetry.force_flush()  # the second collection reports what the first export wrote
    finally:
        telemetry.shutdown()
    names = {r[0] for r in sql_rows(pg_dsn, f"SELECT data->>'name' FROM \"{schema}\".monitoring_events"
                                            " WHERE event_type = 'metric'")}
    assert "otel_supabase_exporter.items" in names
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_DSN", pg_dsn)
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SCHEMA", schema)
    cli_main(["doctor"])
    out = capsys.readouterr().out
    assert "[ok  ] spool: empty" in out
    line = next(x for x in out.splitlines() if "exporter counters" in x)
    assert "selfobs" in line and "spans exported 10" in line
