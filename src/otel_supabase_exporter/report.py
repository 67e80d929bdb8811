"""Reading summaries back from the database and printing them as tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .config import validate_identifier

SUMMARY_COLUMNS = (
    ("cache_name", "cache"), ("implementation_type", "impl"), ("total_operations", "ops"), ("hits", "hits"),
    ("misses", "misses"), ("sets", "sets"), ("evictions", "evict"), ("errors", "errors"),
    ("hit_rate", "hit %"), ("error_rate", "err %"), ("p50_response_time_ms", "p50 ms"),
    ("p95_response_time_ms", "p95 ms"), ("p99_response_time_ms", "p99 ms"), ("cache_size", "size"),
)


def performance_summary(conn: psycopg.Connection, schema: str, implementation: str | None = None,
                        window: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]:
    """Rows of ``get_cache_performance_summary`` as dicts."""
    validate_identifier(schema, "schema name")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("SELECT * FROM {}(%s, %s)").format(
            sql.Identifier(schema, "get_cache_performance_summary")), (implementation, window))
        return cur.fetchall()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, datetime):
        return f"{value.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
    if isinstance(value, timedelta):
        return str(value - timedelta(microseconds=value.microseconds))
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]] = SUMMARY_COLUMNS) -> str:
    """A fixed-width text table; one header line, one line per row."""
    cells = [[title for _, title in columns]] + [[_cell(r.get(key)) for key, _ in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    out = []
    for n, line in enumerate(cells):
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
