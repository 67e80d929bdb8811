"""Reading and acting on the judging half of the schema: baselines, the auditor's observations,
acknowledgements, and legacy-vs-new comparisons.

The work itself is SQL (sql/006: ``refresh_baselines``, ``run_auditor``, ``acknowledge_observation``,
``compare_implementations``), run by ``maintain()``; these are the calls the CLI and the dashboard make.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..errors import ObservationNotFound
from ..settings import validate_identifier
from . import board

__all__ = [
    "ObservationNotFound", "acknowledge", "active_baselines", "compare_implementations", "observations",
    "refresh_baselines",
]


def _function(schema: str, name: str) -> sql.Identifier:
    validate_identifier(schema, "schema name")
    return sql.Identifier(schema, name)


def _rows(conn: psycopg.Connection, query: sql.Composable, params: tuple = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def refresh_baselines(conn: psycopg.Connection, schema: str, force: bool = False,
                      at: datetime | None = None) -> int:
    """Recompute the baselines that are due (all of them with ``force``); returns how many were written."""
    with conn.transaction():
        (written,) = conn.execute(sql.SQL("SELECT {}(%s, %s)").format(_function(schema, "refresh_baselines")),
                                  (at or datetime.now(timezone.utc), force)).fetchone()
    return int(written)


def active_baselines(conn: psycopg.Connection, schema: str, cache_name: str | None = None,
                     implementation_type: str | None = None) -> list[dict[str, Any]]:
    """The active all-hours baseline of each series, with how many hour-of-week baselines it has."""
    return _rows(conn, sql.SQL(
        "SELECT b.*, (SELECT count(*) FROM {t} AS s WHERE s.is_active AND s.hour_of_week IS NOT NULL"
        "   AND s.cache_name = b.cache_name AND s.implementation_type = b.implementation_type) AS seasonal_hours"
        " FROM {t} AS b WHERE b.is_active AND b.hour_of_week IS NULL"
        " AND (%s::text IS NULL OR b.cache_name = %s) AND (%s::text IS NULL OR b.implementation_type = %s)"
        " ORDER BY b.cache_name, b.implementation_type").format(t=_function(schema, "cache_baseline_metrics")),
        (cache_name, cache_name, implementation_type, implementation_type))


def observations(conn: psycopg.Connection, schema: str, include_resolved: bool = False,
                 limit: int = 100) -> list[dict[str, Any]]:
    """Open observations, worst first (with ``include_resolved``, the most recent of all)."""
    if include_resolved:
        query = sql.SQL("SELECT *, last_seen_at - first_seen_at AS duration FROM {}"
                        " ORDER BY first_seen_at DESC LIMIT %s").format(_function(schema, "cache_auditor_observations"))
    else:
        query = sql.SQL("SELECT * FROM {} LIMIT %s").format(_function(schema, "open_observations"))
    return _rows(conn, query, (limit,))


def acknowledge(conn: psycopg.Connection, schema: str, observation_id: int, by: str) -> dict[str, Any]:
    """Acknowledge one observation as ``by``; returns it. Raises ObservationNotFound, ValueError."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = board.acknowledge(cur, schema, observation_id, by)
    except psycopg.errors.NoDataFound:
        raise ObservationNotFound(f"no observation with id {observation_id}") from None
    except psycopg.errors.InvalidParameterValue as exc:
        raise ValueError(exc.diag.message_primary or "invalid acknowledgement") from None
    return row


def compare_implementations(conn: psycopg.Connection, schema: str, window: timedelta = timedelta(hours=1), *,
                            bucket: timedelta | None = None, cache_name: str | None = None,
                            reference: str | None = None) -> list[dict[str, Any]]:
    """Each implementation against the reference one, per bucket of the last ``window`` (one bucket by default)."""
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    return _rows(conn, sql.SQL("SELECT * FROM {}(%s, %s, %s, %s, %s)").format(
        _function(schema, "compare_implementations")), (end - window, end, bucket or window, cache_name, reference))
