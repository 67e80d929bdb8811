"""Running the database's maintenance (rollups, partitions, retention): once, or every N seconds.

The work itself is the SQL function ``<schema>.maintain()`` (sql/005), so ``pg_cron`` can run it
without this package; this module is what the ``maintain`` command calls.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import psycopg
from psycopg import sql

__all__ = ["RETENTION_SETTINGS", "maintain", "set_retention"]

_log = logging.getLogger(__name__)

# maintenance_settings columns that take an interval, and the CLI option of each
RETENTION_SETTINGS = ("raw_retention", "minute_retention", "hour_retention", "event_retention")


def set_retention(conn: psycopg.Connection, schema: str, **windows: timedelta | None) -> None:
    """Change retention windows (``raw_retention=timedelta(days=14)``...); None leaves one as it is."""
    changes = {k: v for k, v in windows.items() if v is not None}
    unknown = set(changes) - set(RETENTION_SETTINGS)
    if unknown:
        raise ValueError(f"unknown retention setting(s): {', '.join(sorted(unknown))}")
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


def maintain_every(connect, schema: str, seconds: float, stop: threading.Event, report) -> None:
    """Run maintenance every ``seconds`` until ``stop`` is set; a failed run is reported and retried."""
    while True:
        try:
            with connect() as conn:
                report(maintain(conn, schema))
        except psycopg.Error as exc:
            _log.warning("maintenance failed (%s); next try in %.0f s", type(exc).__name__, seconds)
        if stop.wait(seconds):
            return
