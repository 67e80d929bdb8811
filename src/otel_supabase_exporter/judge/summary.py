"""The performance summary per cache and implementation (``get_cache_performance_summary``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..settings import validate_identifier

def performance_summary(conn: psycopg.Connection, schema: str, implementation: str | None = None,
                        window: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]:
    """Rows of ``get_cache_performance_summary`` as dicts."""
    validate_identifier(schema, "schema name")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("SELECT * FROM {}(%s, %s)").format(
            sql.Identifier(schema, "get_cache_performance_summary")), (implementation, window))
        return cur.fetchall()


def raw_rows_of(conn: psycopg.Connection, schema: str, service_name: str, since: datetime) -> int:
    """How many raw rows ``service_name`` wrote with a timestamp from ``since`` on (a run's start,
    read from the database's clock: rows of earlier runs of the same service are not counted)."""
    validate_identifier(schema, "schema name")
    return conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE service_name = %s AND \"timestamp\" >= %s")
        .format(sql.Identifier(schema, "cache_metrics")), (service_name, since)).fetchone()[0]


def implementations(conn: psycopg.Connection, schema: str) -> list[str]:
    """Every implementation name the 1-minute rows hold, sorted."""
    validate_identifier(schema, "schema name")
    return [name for (name,) in conn.execute(
        sql.SQL("SELECT DISTINCT implementation_type FROM {} ORDER BY 1").format(
            sql.Identifier(schema, "cache_metrics_1min"))).fetchall()]
