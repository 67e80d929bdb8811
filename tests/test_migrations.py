"""Migrations: idempotent, safe concurrently, immutable once applied."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import psycopg
import pytest

from conftest import sql_rows
from otel_supabase_exporter import MigrationError, migrate
from otel_supabase_exporter.show.cli import main
from otel_supabase_exporter.store.migrations import load_migrations, load_repeatables, status


def test_apply_twice_is_a_noop(pg_dsn, fresh_schema):
    files = [m.filename for m in load_migrations()] + [r.filename for r in load_repeatables()]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert migrate(conn, fresh_schema) == files
        before = sql_rows(pg_dsn, f'SELECT version, applied_at FROM "{fresh_schema}".schema_migrations ORDER BY 1')
        assert migrate(conn, fresh_schema) == []
        assert status(conn, fresh_schema).up_to_date
    after = sql_rows(pg_dsn, f'SELECT version, applied_at FROM "{fresh_schema}".schema_migrations ORDER BY 1')
    assert before == after and len(after) == len(files)


def test_concurrent_migrate_runs_both_succeed(pg_dsn, fresh_schema):
    cmd = [sys.executable, "-m", "otel_supabase_exporter", "--dsn", pg_dsn, "--schema", fresh_schema, "migrate"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    applied = [out for out, _ in outputs if "applied" in out]
    assert len(applied) == 1, outputs  # exactly one run did the work; the others found it done
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{fresh_schema}".schema_migrations')[0][0] == \
        len(load_migrations()) + len(load_repeatables())


def test_edited_applied_file_is_refused(pg_dsn, fresh_schema):
    original = load_migrations()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        migrate(conn, fresh_schema, original)
        edited = [dataclasses.replace(original[0], body=original[0].body + "\n-- edited\n")] + original[1:]
        with pytest.raises(MigrationError, match=original[0].filename):
            migrate(conn, fresh_schema, edited)
        assert status(conn, fresh_schema, edited).edited == [original[0].filename]


def test_dry_run_prints_sql_and_changes_nothing(pg_dsn, fresh_schema, capsys):
    assert main(["--dsn", pg_dsn, "--schema", fresh_schema, "migrate", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "CREATE TABLE cache_metrics" in out and f'SET LOCAL search_path TO "{fresh_schema}"' in out
    assert sql_rows(pg_dsn, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (fresh_schema,))[0][0] == 0


def test_schema_is_validated_as_identifier(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(ValueError, match="invalid schema name"):
            migrate(conn, 'x"; DROP SCHEMA public; --')


def test_realtime_publication_gets_the_tables_when_it_exists(pg_dsn, fresh_schema):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP PUBLICATION IF EXISTS supabase_realtime")
        conn.execute("CREATE PUBLICATION supabase_realtime")
        try:
            migrate(conn, fresh_schema)
            published = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = %s",
                (fresh_schema,)).fetchall()}
        finally:
            conn.execute("DROP PUBLICATION supabase_realtime")
    assert published == {"cache_metrics_1min", "cache_auditor_observations"}
