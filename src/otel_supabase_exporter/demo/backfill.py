"""The demo's history: days of 1-minute rows for the "legacy" and "new" semantic cache, made by
:func:`.synthetic.generate` (daily and weekly seasonality, noise, the faults that began before the
live run) and written by the exporter's own :class:`~..store.writer.PostgresWriter` — the minute
path every exported row takes (one COPY and merge per batch).

Minutes a series already has (same cache, implementation and service) are left alone, so a
second backfill over the same days adds nothing, and a live run's minutes are never doubled.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Iterable, Sequence, TextIO

from psycopg import sql

from ..rows.schema import MinuteRow
from ..settings import Settings
from ..store.writer import PostgresWriter
from .faults import DemoFault
from .progress import Progress
from .synthetic import Profile, generate

__all__ = ["BackfillResult", "backfill", "demo_profiles", "history_window"]

BATCH_ROWS = 5_000
CACHE = "semantic"  # the demo's cache

# What the live workload (workload.py) measures when nothing is wrong, so history and live agree:
# hit rates, the share of operations that are lookups, errors, latency (p50 and p95), size.
_LEGACY = Profile(CACHE, "legacy", peak_ops_per_minute=4000, night_ratio=0.25, lookup_share=0.78,
                  hit_rate=0.72, hit_rate_swing=0.02, median_ms=1.3, sigma=0.12, load_latency=0.05,
                  error_rate=0.004, cache_size=300)
_NEW = Profile(CACHE, "new", peak_ops_per_minute=4000, night_ratio=0.25, lookup_share=0.88,
               hit_rate=0.87, hit_rate_swing=0.02, median_ms=0.4, sigma=0.2, load_latency=0.05,
               error_rate=0.0, cache_size=600)


def demo_profiles(service_name: str, faults: Sequence[DemoFault], live_start: datetime) -> tuple[Profile, ...]:
    """The legacy and new series of the demo's cache, each with the history part of its faults."""
    return tuple(
        replace(p, service_name=service_name,
                faults=tuple(f.history_fault(live_start) for f in faults if f.implementation == p.implementation_type))
        for p in (_LEGACY, _NEW))


@dataclass
class BackfillResult:
    written: int = 0
    already_there: int = 0
    last_ops_per_minute: dict[str, float] = field(default_factory=dict)  # implementation -> its last minute's ops


def backfill(settings: Settings, profiles: Iterable[Profile], start: datetime, end: datetime, *, seed: int = 0,
             stream: TextIO | None = None, label: str = "history") -> BackfillResult:
    """Write every profile's minutes in [start, end) through the writer; minutes already stored for the
    same series and service are skipped. ``stream`` gets a progress bar when it is a terminal."""
    profiles = tuple(profiles)
    minutes = max(0, int((end - start).total_seconds() // 60))
    result = BackfillResult()
    writer = PostgresWriter(settings)
    progress = Progress(label, minutes * len(profiles), "minutes", stream)
    try:
        done = 0
        for profile in profiles:
            have = _stored_minutes(writer, profile, start, end)
            batch: list[MinuteRow] = []
            for row in generate(profile, start, end, seed):
                done += 1
                result.last_ops_per_minute[profile.implementation_type] = float(
                    row.hits + row.misses + row.sets + row.deletes + row.errors)
                if row.minute_window in have:
                    result.already_there += 1
                    continue
                batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    result.written += writer.write_minutes(batch, [], uuid.uuid4()).written
                    batch = []
                    progress.update(done)
            if batch:
                result.written += writer.write_minutes(batch, [], uuid.uuid4()).written
            progress.update(done)
        progress.update(progress.total)
    finally:
        progress.close()
        writer.close()
    return result


def _stored_minutes(writer: PostgresWriter, profile: Profile, start: datetime, end: datetime) -> set[datetime]:
    query = sql.SQL("SELECT minute_window FROM {} WHERE cache_name = %s AND implementation_type = %s"
                    " AND service_name = %s AND minute_window >= %s AND minute_window < %s").format(
        sql.Identifier(writer.settings.schema, "cache_metrics_1min"))
    with writer.connection() as conn:
        rows = conn.execute(query, (profile.cache_name, profile.implementation_type, profile.service_name,
                                    start, end)).fetchall()
    return {t for (t,) in rows}


def history_window(days: float, end: datetime) -> tuple[datetime, datetime]:
    """[end - days, end), both on whole minutes."""
    end = end.replace(second=0, microsecond=0)
    return (end - timedelta(days=days)).replace(second=0, microsecond=0), end
