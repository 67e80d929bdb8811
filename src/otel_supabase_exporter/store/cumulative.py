"""Cumulative points → the 1-minute rows of their deltas, computed in the database against the
state of each series (``cumulative_deltas``), inside the transaction that merges the rows."""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

import psycopg
from psycopg import sql

from ..histogram import merge
from ..rows.metrics import minute_of
from ..rows.schema import ADD, GREATEST, HISTOGRAM, KEEP_GREATEST, KEY, LEAST, MINUTE, CumulativePoint, MinuteRow

__all__ = ["combine", "delta_rows"]

_LONGEST_WINDOW_NS = 3_600_000_000_000


def delta_rows(conn: psycopg.Connection, schema: str, points: Sequence[CumulativePoint]) -> list[MinuteRow]:
    """The 1-minute rows the points add, one per point with a delta (their state updated in
    ``conn``'s transaction)."""
    payload = json.dumps([{"i": i, "k": p.series, "s": p.start_ns, "t": p.time_ns, "v": p.value}
                          for i, p in enumerate(points)])
    deltas = conn.execute(sql.SQL("SELECT idx, delta, window_start_ns FROM {}(%s::jsonb)").format(
        sql.Identifier(schema, "cumulative_deltas")), (payload,)).fetchall()
    rows = []
    for i, delta, start_ns in deltas:
        if not delta:
            continue
        p = points[i]
        if p.time_ns - start_ns > _LONGEST_WINDOW_NS:  # a sender silent for long: its point's own minute
            start_ns = p.time_ns
        row = MinuteRow(minute_of(start_ns), p.cache_name, p.implementation_type, p.service_name)
        setattr(row, p.column, delta if isinstance(getattr(row, p.column), float) else round(delta))
        rows.append(row)
    return rows  # one per point: combine() merges those of one minute


def _either(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``fn(a, b)`` ignoring an unknown side, as LEAST/GREATEST do."""
    return b if a is None else a if b is None else fn(a, b)


_COMBINE = {
    ADD: lambda a, b: a + b,
    LEAST: lambda a, b: _either(min, a, b),
    GREATEST: lambda a, b: _either(max, a, b),
    KEEP_GREATEST: lambda a, b: _either(max, a, b),
    HISTOGRAM: merge,
}


def combine(rows: Sequence[MinuteRow], more: Sequence[MinuteRow]) -> list[MinuteRow]:
    """``rows`` and ``more`` with rows of the same key merged by the schema's rules (an upsert may
    touch each key once)."""
    out: dict[tuple, MinuteRow] = {r.key: r for r in rows}
    for row in more:
        mine = out.get(row.key)
        if mine is None:
            out[row.key] = row
            continue
        for f in MINUTE.fields:
            if f.merge != KEY:
                setattr(mine, f.name, _COMBINE[f.merge](getattr(mine, f.name), getattr(row, f.name)))
    return sorted(out.values(), key=lambda r: r.key)
