"""The server changes under a running application: partitions dropped (stale knowledge), a tiny
``statement_timeout`` set on the database, the application SIGKILLed."""

from __future__ import annotations

import os
import signal
import time

import psycopg

from .harness import app_env, finish, performed, start_app, stored

RATE = 300


def test_partitions_dropped_under_a_running_writer_are_made_again_and_nothing_rejected(
        chaos_server, chaos_schema, tmp_path):
    proc = start_app(app_env(chaos_server.dsn, chaos_schema, tmp_path / "spool"), "--truth",
                     str(tmp_path / "truth"), "--seconds", "6")
    time.sleep(3)
    with psycopg.connect(chaos_server.dsn, autocommit=True) as conn:
        parts = [r[0] for r in conn.execute(
            "SELECT i.inhrelid::regclass::text FROM pg_inherits i WHERE i.inhparent = %s::regclass",
            (f'"{chaos_schema}".cache_metrics',))]
        for part in parts:
            conn.execute(f"DROP TABLE {part}")  # what they held is gone: the test's doing, not a loss
        after = conn.execute(f'SELECT count(*) FROM "{chaos_schema}".cache_metrics').fetchone()[0]
    report = finish(proc)
    spans = report["stats"]["spans"]
    assert spans["rejected"] == {} and spans["dropped"] == {} and spans["failed"] == 0
    raw, distinct, _ = stored(chaos_server.dsn, chaos_schema)
    assert after == 0 and raw == distinct and raw >= RATE * 2  # the rows after the drop landed


def test_a_tiny_statement_timeout_on_the_database_changes_nothing(chaos_server, chaos_schema, tmp_path):
    with psycopg.connect(chaos_server.dsn, autocommit=True) as conn:
        conn.execute("ALTER ROLE postgres SET statement_timeout = '1ms'")
    try:
        report = finish(start_app(app_env(chaos_server.dsn, chaos_schema, tmp_path / "spool"), "--truth",
                                  str(tmp_path / "truth"), "--seconds", "3"))
    finally:
        with psycopg.connect(chaos_server.dsn, autocommit=True) as conn:
            conn.execute("ALTER ROLE postgres RESET statement_timeout")
    assert report["stats"]["spans"]["spooled"] == 0 and report["stats"]["metrics"]["spooled"] == 0
    ops = performed(tmp_path / "truth")
    assert stored(chaos_server.dsn, chaos_schema) == (ops, ops, ops)


def test_sigkill_loses_at_most_the_last_export_interval_and_never_doubles(chaos_server, chaos_schema, tmp_path):
    """The guarantee of the README: a process killed with SIGKILL loses what it held in memory —
    at most its last span schedule delay and metric export interval (1 s each here) — nothing else."""
    proc = start_app(app_env(chaos_server.dsn, chaos_schema, tmp_path / "spool"), "--truth",
                     str(tmp_path / "truth"), "--seconds", "60", "--rate", str(RATE))
    time.sleep(5.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    ops = performed(tmp_path / "truth")
    raw, distinct, minute = stored(chaos_server.dsn, chaos_schema)
    assert raw == distinct and raw <= ops and minute <= ops
    assert ops - raw <= RATE * 2 and ops - minute <= RATE * 2  # export interval + one export's time
