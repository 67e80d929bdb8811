"""The demo's judging: the database's own baselines and auditor, called as maintenance calls them.

After the backfill, :func:`catch_up` computes the baselines as they stood before the faults began
and runs the auditor once for every minute of the last part of the history, as ``maintain()``
running every minute would have; :func:`maintain_now` is one ordinary maintenance run. Nothing
here writes an observation: the auditor (``run_auditor``) does, from the stored minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from ..judge.auditor import refresh_baselines
from ..judge.maintenance import maintain
from ..settings import Settings
from ..store.connect import connect

__all__ = ["catch_up", "maintain_now", "raised_since"]


def catch_up(settings: Settings, since: datetime, until: datetime) -> int:
    """Baselines as of ``since`` (every series), then ``run_auditor`` at each minute in (since, until];
    returns the baselines written."""
    with connect(settings) as conn:
        written = refresh_baselines(conn, settings.schema, force=True, at=since)
        run = sql.SQL("SELECT * FROM {}(%s)").format(sql.Identifier(settings.schema, "run_auditor"))
        at = since.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while at <= until:
            with conn.transaction():
                conn.execute(run, (at,)).fetchall()
            at += timedelta(minutes=1)
    return written


def maintain_now(settings: Settings) -> list[tuple[str, int]]:
    """One run of ``maintain()``: rollups, partitions, retention, due baselines, the auditor at now()."""
    with connect(settings) as conn:
        return maintain(conn, settings.schema)


def raised_since(settings: Settings, since: datetime, cache_name: str) -> list[dict[str, Any]]:
    """Observations of ``cache_name`` seen from ``since`` on (open or resolved), oldest first."""
    query = sql.SQL(
        "SELECT id, severity, category, rule, metric, cache_name, implementation_type, status,"
        " first_seen_at, last_seen_at, message FROM {} WHERE last_seen_at >= %s AND cache_name = %s ORDER BY first_seen_at, id"
    ).format(sql.Identifier(settings.schema, "cache_auditor_observations"))
    with connect(settings) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, (since, cache_name)).fetchall()
