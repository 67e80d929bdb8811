"""Running the database's maintenance (rollups, partitions, retention, baselines, the auditor): once, or
every N seconds.

The work itself is the SQL function ``<schema>.maintain()`` (sql/005, sql/006), so ``pg_cron`` can run it
without this package; this module is what the ``maintain`` command calls.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Callable

import psycopg
from psycopg import sql

__all__ = ["SETTINGS", "maintain", "update_settings"]

_log = logging.getLogger(__name__)

# maintenance_settings columns that can be changed, and the Python type of each
SETTINGS: dict[str, type] = {
    "raw_retention": timedelta, "minute_retention": timedelta, "hour_retention": timedelta,
    "event_retention": timedelta, "partitions_ahead": int,
    "baseline_window": timedelta, "baseline_min_samples": int, "seasonal_min_weeks": int,
    "seasonal_min_samples": int, "baseline_refresh": timedelta, "baseline_history": timedelta,
    "audit_lag": timedelta, "resolve_after": timedelta, "reference_implementation": str,
    "observation_retention": timedelta, "time_zone": str, "seasonal_full_weeks": int, "baseline_batch": int,
    "escalate_after": timedelta,
}


def update_settings(conn: psycopg.Connection, schema: str, **values: object) -> None:
    """Change maintenance settings (``raw_retention=timedelta(days=14)``...); None leaves one as it is."""
    changes = {k: v for k, v in values.items() if v is not None}
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        if not isinstance(value, SETTINGS[name]) or isinstance(value, bool):
            raise ValueError(f"{name} must be a {SETTINGS[name].__name__}, got {type(value).__name__}")
    if not changes:
        return
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(name)) for name in changes
    )
    conn.execute(
        sql.SQL("UPDATE {} SET {}, updated_at = now()").format(
            sql.Identifier(schema, "maintenance_settings"), assignments),
        list(changes.values()),
    )


def maintain(conn: psycopg.Connection, schema: str) -> list[tuple[str, int]]:
    """Run ``<schema>.maintain()`` once, in its own transaction; returns (step, rows affected)."""
    with conn.transaction():
        return [(step, int(n)) for step, n in conn.execute(
            sql.SQL("SELECT step, affected FROM {}()").format(sql.Identifier(schema, "maintain"))).fetchall()]


def maintain_every(connect: Callable[[], psycopg.Connection], schema: str, seconds: float, *, stop: threading.Event,
                   report: Callable[[list[tuple[str, int]]], None]) -> None:
    """Run maintenance every ``seconds`` until ``stop`` is set; a failed run is reported and retried."""
    while True:
        try:
            with connect() as conn:
                report(maintain(conn, schema))
        except psycopg.Error as exc:
            _log.warning("maintenance failed (%s); next try in %.0f s", type(exc).__name__, seconds)
        if stop.wait(seconds):
            return
