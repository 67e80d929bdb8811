"""A crash between the COMMIT of a write and its reply (the commit is durable, the client hears
nothing): retried, split for the spool and replayed, the batch still counts once."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

from conftest import sql_rows
from otel_supabase_exporter import Settings
from otel_supabase_exporter.rows.schema import MinuteRow
from otel_supabase_exporter.store.batch import Batch
from otel_supabase_exporter.store.delivery import Delivery
from otel_supabase_exporter.store.writer import PostgresWriter

from .harness import app_env, drain, finish, performed, start_app, stored
from .proxy import Proxy


def _proxy(server) -> Proxy:
    return Proxy(("127.0.0.1", 0), f"{server.socket_dir}/.s.PGSQL.{server.port}")


def test_a_minute_merge_committed_without_reply_then_split_for_the_spool_counts_once(
        chaos_server, chaos_schema, tmp_path):
    proxy = _proxy(chaos_server)
    settings = Settings(dsn=f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres", schema=chaos_schema,
                        spool_dir=str(tmp_path / "spool"), timeout_s=5)
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    rows = [MinuteRow(minute_window=minute, cache_name=f"c{i}", implementation_type="new", service_name="s",
                      hits=3) for i in range(300)]  # more than a spool record holds: spooled in parts
    delivery = Delivery(settings, PostgresWriter(settings))
    try:
        proxy.lost_commits = 4  # every attempt of this export (1 + 3 retries) commits and loses its reply
        assert delivery.send(Batch("metrics", rows, (), uuid.uuid4()), len(rows))
        stats = delivery.stats["metrics"].snapshot()
        assert proxy.cut >= 2 and stats["spooled"] == 300 and stats["retried"] >= 1
        deadline = time.monotonic() + 60
        while not delivery.spool.empty() and time.monotonic() < deadline:  # the replay thread's work
            time.sleep(0.1)
        assert delivery.spool.empty() and proxy.lost_commits == 0
    finally:
        delivery.close()
        proxy.close()
    assert sql_rows(chaos_server.dsn, f'SELECT sum(hits), count(*) FROM "{chaos_schema}".cache_metrics_1min')[0] \
        == (900, 300)


def test_commits_whose_replies_are_lost_during_a_workload(chaos_server, chaos_schema, tmp_path):
    proxy = _proxy(chaos_server)
    try:
        spool = tmp_path / "spool"
        dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        proc = start_app(app_env(dsn, chaos_schema, spool), "--truth", str(tmp_path / "truth"), "--seconds", "7")
        for _ in range(12):
            time.sleep(0.5)
            proxy.lost_commits += 1
        finish(proc)
        proxy.lost_commits = 0
        drain(dsn, chaos_schema, spool)
        assert proxy.cut >= 6
    finally:
        proxy.close()
    ops = performed(tmp_path / "truth")
    assert stored(chaos_server.dsn, chaos_schema) == (ops, ops, ops)
