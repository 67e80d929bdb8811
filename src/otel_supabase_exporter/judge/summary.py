"""The performance summary per cache and implementation (``get_cache_performance_summary``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..settings import validate_identifier


def window_minutes(window: timedelta) -> int:
    """The minutes ``get_cache_performance_summary`` reads for ``window``: the whole minutes of the
    window, ending with the current one (a 90 s window is the current minute; under a minute, none)."""
    return int(window.total_seconds() // 60)


def performance_summary(conn: psycopg.Connection, schema: str, implementation: str | None = None,
                        window: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]:
    """Rows of ``get_cache_performance_summary`` as dicts, with ``throughput_per_minute``: the
    operations divided by the minutes of the window, the current minute included — the dashboard's
    definition (``cache_series``), so ``summary --window 1h`` and the dashboard's "1h" agree."""
    validate_identifier(schema, "schema name")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("SELECT * FROM {}(%s, %s)").format(
            sql.Identifier(schema, "get_cache_performance_summary")), (implementation, window))
        rows = cur.fetchall()
    minutes = window_minutes(window)
    for row in rows:
        row["throughput_per_minute"] = row["total_operations"] / minutes if minutes else None
    return rows


def raw_rows_of(conn: psycopg.Connection, schema: str, instance_id: str, since: datetime) -> int:
    """How many raw rows the process (the run) with resource ``service.instance.id`` ``instance_id``
    wrote: rows of other runs of the same service, before or at the same time, are not counted.
    ``since`` (the run's start, by the database's clock; five minutes earlier are read too, for a
    client clock behind the database's) only narrows the daily partitions read."""
    validate_identifier(schema, "schema name")
    return conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE service_instance_id = %s AND \"timestamp\" >= %s")
        .format(sql.Identifier(schema, "cache_metrics")), (instance_id, since - timedelta(minutes=5))).fetchone()[0]


def implementations(conn: psycopg.Connection, schema: str) -> list[str]:
    """Every implementation name the 1-minute rows hold, sorted."""
    validate_identifier(schema, "schema name")
    return [name for (name,) in conn.execute(
        sql.SQL("SELECT DISTINCT implementation_type FROM {} ORDER BY 1").format(
            sql.Identifier(schema, "cache_metrics_1min"))).fetchall()]
