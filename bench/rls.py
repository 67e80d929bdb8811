"""Raw ingest as the schema's owner (binary COPY straight into the partitioned table) against the
least-privilege writer role (row-level security applies, PostgreSQL refuses COPY FROM into such a
table: the writer copies into a temporary table and inserts from there)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import psycopg
from psycopg import conninfo, sql

from otel_supabase_exporter import Settings, migrate
from otel_supabase_exporter.store.migrations import roles_script
from otel_supabase_exporter.store.writer import PostgresWriter

from .common import Table

SCHEMA = "bench_rls"
ROLES = (f"{SCHEMA}_app", f"{SCHEMA}_writer", f"{SCHEMA}_reader")


def _drop(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    for role in ROLES:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def run(dsn: str, mode: str = "quick") -> Table:
    batches, repeats = {"smoke": (2, 1), "quick": (10, 3), "full": (10, 5)}[mode]
    with psycopg.connect(dsn, autocommit=True) as conn:
        _drop(conn)
        migrate(conn, SCHEMA)
        conn.execute(roles_script(conn, SCHEMA, ROLES[1], ROLES[2]))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(*map(sql.Identifier, ROLES[:2])))
    now = int(datetime.now(timezone.utc).timestamp() * 1e6)

    def batch() -> list[tuple]:
        return [(uuid.uuid4().int, now + i, "c", "new", "hit", 0.5, 10, None, "k", None, None, "svc", None,
                 None, "{}", None) for i in range(4096)]

    table = Table(f"Raw ingest by role: {batches} batches of 4,096 rows (best of {repeats})",
                  ["connected as", "rows/s", "vs owner"])
    owner_rate = None
    for who, role_dsn in (("owner (COPY into the table)", dsn),
                          ("writer role, RLS applies (COPY into a temp table, INSERT … SELECT)",
                           conninfo.make_conninfo(dsn, user=ROLES[0]))):
        writer = PostgresWriter(Settings.from_env(dsn=role_dsn, schema=SCHEMA))
        writer.write_spans(batch(), [])
        best = float("inf")
        for _ in range(repeats):
            rows = [batch() for _ in range(batches)]
            t0 = time.perf_counter()
            for b in rows:
                writer.write_spans(b, [])
            best = min(best, time.perf_counter() - t0)
        writer.close()
        rate = batches * 4096 / best
        owner_rate = owner_rate or rate
        table.add(who, rate, f"{rate / owner_rate:.2f}x")
    with psycopg.connect(dsn, autocommit=True) as conn:
        _drop(conn)
    return table
