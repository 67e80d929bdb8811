"""The demo: a semantic cache in a "legacy" and a "new" implementation, told as a story.

1. History: ``history_days`` of 1-minute rows (daily and weekly seasonality, noise) written through
   the exporter's writer (:mod:`.backfill`), ending where the live run begins. The faults of
   :mod:`.faults` begin in its last part.
2. Judging the history: baselines from the minutes before the faults, and the auditor run for each
   minute since, as ``maintain()`` every minute would have (:mod:`.audit`).
3. Live: the instrumented caches through ``configure()`` and the real pipeline for ``seconds``,
   the faults still on; ``maintain()`` runs every ``maintain_every_s`` and once at the end.
4. The summary read back from the database, and the observations the auditor raised.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence, TextIO

from ..instrument import instrument_cache
from ..judge.summary import performance_summary, raw_rows_of
from ..sdk.configure import configure
from ..settings import Settings
from ..show.tables import format_table
from ..store import migrations
from ..store.connect import connect, resolve_dsn
from . import audit
from .backfill import CACHE, BackfillResult, backfill, demo_profiles, history_window
from .faults import DEFAULT_FAULTS, DemoFault, LiveFaults
from .workload import LegacySemanticCache, NewSemanticCache, warm, workload

__all__ = ["DemoResult", "run_demo"]

DEFAULT_SECONDS = 30.0
DEFAULT_HISTORY_DAYS = 14.0
LIVE_OPS_WITHOUT_HISTORY = 2000.0  # operations per minute per implementation when nothing was backfilled
JUDGED_BEFORE_FAULTS = timedelta(minutes=5)  # the auditor's catch-up starts this long before the first fault

OBSERVATION_COLUMNS = (
    ("severity", "severity"), ("rule", "kind"), ("category", "category"), ("cache_name", "cache"),
    ("implementation_type", "impl"), ("first_seen_at", "since"), ("status", "status"), ("message", "message"),
)


@dataclass
class DemoResult:
    summary: list[dict[str, Any]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    history: BackfillResult | None = None
    operations: int = 0


def _say(line: str) -> None:
    print(line, flush=True)


def run_demo(settings: Settings, seconds: float = DEFAULT_SECONDS, service_name: str = "otel-supabase-demo",
             out: Callable[[str], None] = _say, *, history_days: float = DEFAULT_HISTORY_DAYS,
             faults: Sequence[DemoFault] = DEFAULT_FAULTS, progress: TextIO | None = None,
             maintain_every_s: float = 60.0, seed: int = 0) -> DemoResult:
    """Backfill, judge, run live for ``seconds``, judge again; print and return what the database holds.

    ``progress`` is where the backfill's progress bar goes (default stdout; only drawn on a terminal).
    """
    faults = tuple(faults)
    with connect(settings) as conn:
        applied = migrations.migrate(conn, settings.schema)
        run_started = conn.execute("SELECT now()").fetchone()[0]
    if applied:
        out(f"applied migrations: {', '.join(applied)}")
    result = DemoResult()
    live_start = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    judged_from = live_start - max((f.began for f in faults), default=timedelta(0)) - JUDGED_BEFORE_FAULTS
    if history_days > 0:
        result.history = _history(settings, history_days, live_start, service_name=service_name, faults=faults,
                                  out=out, progress=progress, seed=seed)
        since = max(judged_from, live_start - timedelta(days=history_days))
        out("computing baselines and running the auditor over the history's last "
            f"{round((datetime.now(timezone.utc) - since).total_seconds() / 60)} minutes...")
        written = audit.catch_up(settings, since, datetime.now(timezone.utc))
        out(f"  {written} baseline(s) written")
    else:
        out("no history backfilled (--history-days 0): there are no baselines to judge against")
    for fault in faults:
        out(f"fault injected: {fault.describe()}")

    result.operations, instance_id = _live(settings, seconds, service_name, out=out, faults=faults,
                              rates=result.history.last_ops_per_minute if result.history else {},
                              maintain_every_s=maintain_every_s)
    out("running maintenance (rollups, baselines, the auditor)...")
    audit.maintain_now(settings)

    with connect(settings) as conn:
        result.summary = performance_summary(conn, settings.schema)
        raw = raw_rows_of(conn, settings.schema, instance_id, run_started)
    result.observations = audit.raised_since(settings, judged_from, CACHE)
    out("")
    out("summary read back from get_cache_performance_summary() (last hour: history and this run):")
    out(format_table(result.summary))
    out("")
    out(f"raw rows written by this run ({service_name}, service.instance.id {instance_id}): {raw}; "
        f"operations performed: {result.operations}")
    out("")
    if result.observations:
        out(f"observations the auditor raised ({len(result.observations)}):")
        out(format_table(result.observations, OBSERVATION_COLUMNS))
    else:
        out("the auditor raised no observation")
    return result


def _history(settings: Settings, days: float, live_start: datetime, *, service_name: str,
             faults: tuple[DemoFault, ...], out: Callable[[str], None], progress: TextIO | None,
             seed: int) -> BackfillResult:
    """Backfill up to ``live_start``, then top up the minutes that ended meanwhile."""
    profiles = demo_profiles(service_name, faults, live_start)
    start, end = history_window(days, live_start)
    out(f"backfilling {days:g} days of history ({start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC) through the writer...")
    began = time.monotonic()
    result = backfill(settings, profiles, start, end, seed=seed, stream=progress if progress else sys.stdout)
    while (now := datetime.now(timezone.utc).replace(second=0, microsecond=0)) > end:
        more = backfill(settings, profiles, end, now, seed=seed, stream=None)
        result.written += more.written
        result.already_there += more.already_there
        result.last_ops_per_minute.update(more.last_ops_per_minute)
        end = now
    out(f"  {result.written:,} minute rows written in {time.monotonic() - began:.1f} s"
        + (f" ({result.already_there:,} were there already)" if result.already_there else ""))
    return result


def _live(settings: Settings, seconds: float, service_name: str, *, out: Callable[[str], None],
          faults: tuple[DemoFault, ...], rates: dict[str, float], maintain_every_s: float) -> tuple[int, str]:
    """The instrumented workload through configure() for ``seconds``; returns the operations performed
    and the run's ``service.instance.id``."""
    telemetry = configure(resolve_dsn(settings), schema=settings.schema, service_name=service_name,
                          export_interval_s=5, set_global=False)
    providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}
    live_faults = LiveFaults(faults)
    legacy_cls = instrument_cache(name=CACHE, implementation="legacy", **providers)(LegacySemanticCache)
    new_cls = instrument_cache(name=CACHE, implementation="new", **providers)(NewSemanticCache)
    caches = {"legacy": legacy_cls(random.Random(1), live_faults), "new": new_cls(live_faults)}
    for cache in caches.values():
        warm(cache)

    stop = threading.Event()
    counters = {name: [0] for name in caches}
    threads = [threading.Thread(target=workload, args=(cache, stop, counters[name]), daemon=True,
                                kwargs={"ops_per_minute": rates.get(name, LIVE_OPS_WITHOUT_HISTORY), "seed": n})
               for n, (name, cache) in enumerate(caches.items())]
    out(f"running the live workload for {seconds:g} s (legacy and new side by side, the faults still on)...")
    started = last_maintained = time.monotonic()
    try:
        for t in threads:
            t.start()
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(min(5.0, seconds - elapsed))
            ops = {name: c[0] for name, c in counters.items()}
            out(f"  {time.monotonic() - started:5.1f} s  legacy {ops['legacy']:>7} ops   new {ops['new']:>7} ops")
            if time.monotonic() - last_maintained >= maintain_every_s:
                audit.maintain_now(settings)
                last_maintained = time.monotonic()
    finally:
        stop.set()
        for t in threads:
            t.join()
        out("flushing spans and metrics to PostgreSQL...")
        telemetry.shutdown()
    return sum(c[0] for c in counters.values()), telemetry.instance_id
