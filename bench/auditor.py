"""The auditor against labelled faults: three weeks of synthetic 1-minute history (two to learn
baselines from, one judged), faults injected into some series, the auditor replayed over the
judged week as maintain() would run it; per scenario, the detection delay, the severity, the time
to resolve, and the false alarms (warning or critical observations outside the fault or of
another category)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from otel_supabase_exporter import Settings, migrate
from otel_supabase_exporter.demo.synthetic import Fault, Profile, write_history
from otel_supabase_exporter.store.writer import PostgresWriter

from .common import Table

SCHEMA = "bench_auditor"
HISTORY = timedelta(days=21)
JUDGED = timedelta(days=7)
# after the end of a fault, the auditor's window still holds it and resolution waits resolve_after
AFTERMATH = timedelta(minutes=30)


# a warning-sized finding is info for its first escalate_after (10 min): with the window (5 min),
# the audit lag (1 min) and a replay step of up to 10 minutes, it is a warning within 30
WARNING_WITHIN = timedelta(minutes=30)


@dataclass(frozen=True)
class Scenario:
    name: str
    cache_name: str
    category: str | None            # None: a clean series, nothing may be raised
    fault: Fault | None = None
    implementation_type: str = "legacy"
    rule: str | None = None          # the rule expected to catch it
    severities: tuple[str, ...] = ()  # the severities that are right for it
    within: timedelta = timedelta(minutes=20)  # the detection delay the tests accept
    persists: bool = False           # the fault is still there at the end
    # faults written but not scored (history, or an earlier occurrence): what they raise is neither
    # a detection nor a false alarm
    extra: tuple[Fault, ...] = ()
    noisy: bool = False              # over-dispersed traffic, hit rate and latency wandering by the hour
    peak: float = 1200.0             # operations per minute at the busiest hour


def scenarios(judged_from: datetime, end: datetime) -> list[Scenario]:
    """The labelled scenarios, faults placed in the judged week at different hours of the day."""
    day = timedelta(days=1)

    def at(days: int, hour: int) -> datetime:
        return (judged_from + days * day).replace(hour=hour, minute=7)

    return [
        Scenario("clean week (legacy)", "sessions", None),
        Scenario("clean week (new)", "sessions", None, implementation_type="new"),
        Scenario("hit-rate collapse to 30 % for 1 h, at night", "catalog", "performance",
                 Fault("hit_rate", at(1, 3), at(1, 4), 0.30), rule="hit_rate_drop", severities=("critical",)),
        Scenario("hit-rate dip to 74 % for 2 h, at the peak", "feed", "performance",
                 Fault("hit_rate", at(2, 15), at(2, 17), 0.74), rule="hit_rate_drop", severities=("warning",),
                 within=WARNING_WITHIN),
        Scenario("latency spike x4 for 30 min", "profiles", "performance",
                 Fault("latency", at(2, 14), at(2, 14) + timedelta(minutes=30), 4.0), rule="latency_p95_increase",
                 severities=("critical",)),
        Scenario("latency +50 % for 1 h", "media", "performance",
                 Fault("latency", at(5, 10), at(5, 11), 1.5), rule="latency_p95_increase", severities=("warning",),
                 within=WARNING_WITHIN),
        Scenario("error burst, 8 % for 20 min", "tokens", "reliability",
                 Fault("errors", at(3, 21), at(3, 21) + timedelta(minutes=20), 0.08), rule="error_rate_high",
                 severities=("critical",)),
        Scenario("steady capacity growth to x3 over 5 days", "search", "capacity",
                 Fault("traffic", at(0, 12), at(5, 12), 3.0, ramp=True), rule="throughput_growth",
                 severities=("warning", "critical"), within=timedelta(days=2), persists=True),
        Scenario("regression: new p95 x1.6 vs legacy after a deploy", "checkout", "performance",
                 Fault("latency", at(4, 9), end + day, 1.6), implementation_type="new",
                 rule="regression_latency_p95", severities=("warning",), within=WARNING_WITHIN,
                 persists=True),
        Scenario("reference for the regression (legacy)", "checkout", None),
        Scenario("quiet cache, clean (peak 40 ops/min, 6 at night)", "settings", None, peak=40.0),
        # the classes of trouble of issue 17, on noisier series
        Scenario("clean week, over-dispersed traffic, hit rate and latency wandering", "inventory", None,
                 noisy=True),
        Scenario("hit rate 55 % for 1 h at 10:00; two days of it in the history", "pricing", "performance",
                 Fault("hit_rate", at(3, 10), at(3, 11), 0.55), rule="hit_rate_drop", severities=("critical",),
                 extra=(Fault("hit_rate", at(-6, 10), at(-4, 10), 0.55),), noisy=True),
        Scenario("latency x3 for 1 h at 10:00, the day after the same incident", "ledger", "performance",
                 Fault("latency", at(2, 10), at(2, 11), 3.0), rule="latency_p95_increase",
                 severities=("critical",), extra=(Fault("latency", at(1, 10), at(1, 11), 3.0),), noisy=True),
        Scenario("traffic spike x5 for 20 min (no capacity problem)", "banner", None,
                 Fault("traffic", at(4, 13), at(4, 13) + timedelta(minutes=20), 5.0), noisy=True),
        Scenario("errors at 1.5 % for 3 days, through the quiet nights", "uploads", "reliability",
                 Fault("errors", at(1, 8), at(4, 8), 0.015), rule="error_rate_high", severities=("warning",),
                 within=WARNING_WITHIN, noisy=True, peak=600.0),
    ]


def profiles(cases: list[Scenario]) -> list[Profile]:
    noise = {"dispersion": 0.15, "drift": 1.0}
    return [Profile(s.cache_name, s.implementation_type, peak_ops_per_minute=s.peak,
                    faults=((s.fault,) if s.fault else ()) + s.extra, **(noise if s.noisy else {})) for s in cases]


def build(dsn: str, schema: str, now: datetime | None = None,
          seed: int = 1) -> tuple[datetime, datetime, list[Scenario]]:
    """A fresh schema holding the history; returns (start of the judged week, end, scenarios)."""
    end = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    judged_from = end - JUDGED
    cases = scenarios(judged_from, end)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        migrate(conn, schema)
    writer = PostgresWriter(Settings.from_env(dsn=dsn, schema=schema))
    try:
        write_history(writer, profiles(cases), end - HISTORY, end, seed=seed)
    finally:
        writer.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SELECT {}(1000000)").format(sql.Identifier(schema, "rollup_hours")))
    return judged_from, end, cases


def replay(dsn: str, schema: str, start: datetime, end: datetime, step: timedelta = timedelta(minutes=5)) -> int:
    """Run the baseline refresh and the auditor as maintain() does, at every ``step`` from start to end."""
    runs = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        refresh = sql.SQL("SELECT {}(%s)").format(sql.Identifier(schema, "refresh_baselines"))
        audit = sql.SQL("SELECT * FROM {}(%s)").format(sql.Identifier(schema, "run_auditor"))
        t = start
        while t <= end:
            with conn.transaction():
                conn.execute(refresh, (t,))
                conn.execute(audit, (t,))
            runs += 1
            t += step
    return runs


@dataclass
class Outcome:
    scenario: Scenario
    detected_after: timedelta | None = None
    severity: str | None = None
    rules: list[str] = field(default_factory=list)
    resolved_after: timedelta | None = None
    false_alarms: int = 0
    observations: int = 0


def _escalated(observation: dict) -> datetime:
    at = observation["details"].get("escalated_at")
    return datetime.fromisoformat(at) if at else observation["first_seen_at"]


def score(dsn: str, schema: str, cases: list[Scenario]) -> list[Outcome]:
    """What the auditor raised, per scenario."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("SELECT * FROM {} ORDER BY first_seen_at").format(
            sql.Identifier(schema, "cache_auditor_observations")))
        observations = cur.fetchall()
    outcomes = []
    for case in cases:
        mine = [o for o in observations
                if o["cache_name"] == case.cache_name and o["implementation_type"] == case.implementation_type
                and o["severity"] in ("warning", "critical")]
        out = Outcome(case)
        for o in mine:
            f = case.fault
            during = f is not None and f.start <= o["first_seen_at"] and (
                case.persists or o["first_seen_at"] <= f.end + AFTERMATH)
            if case.category and o["category"] == case.category and any(
                    x.start <= o["first_seen_at"] <= x.end + AFTERMATH for x in case.extra):
                continue  # raised by an unscored occurrence
            out.observations += 1
            if during and o["category"] == case.category:
                if out.detected_after is None:  # when it became a warning or worse (it may open as info)
                    out.detected_after = _escalated(o) - f.start
                    if o["resolved_at"] is not None and not case.persists:
                        out.resolved_after = o["resolved_at"] - f.end
                if o["rule"] not in out.rules:
                    out.rules.append(o["rule"])
                if o["severity"] == "critical" or out.severity is None:
                    out.severity = o["severity"]
            else:
                out.false_alarms += 1
        outcomes.append(out)
    return outcomes


def _minutes(d: timedelta | None) -> object:
    return "-" if d is None else round(d.total_seconds() / 60)


def run(dsn: str, mode: str) -> Table:
    step = {"smoke": timedelta(minutes=60), "quick": timedelta(minutes=5), "full": timedelta(minutes=2)}[mode]
    seeds = (1, 2, 3) if mode == "full" else (1,)
    per_seed: list[list[Outcome]] = []
    built = replayed = 0.0
    runs = 0
    for seed in seeds:
        t0 = time.perf_counter()
        judged_from, end, cases = build(dsn, SCHEMA, seed=seed)
        built += time.perf_counter() - t0
        t0 = time.perf_counter()
        runs += replay(dsn, SCHEMA, judged_from, end, step)
        replayed += time.perf_counter() - t0
        per_seed.append(score(dsn, SCHEMA, cases))
    table = Table(
        f"Auditor on labelled faults (judged week, auditor every {step.total_seconds() / 60:.0f} min, "
        f"{len(seeds)} seed(s): one value per seed)",
        ["scenario", "series", "expected", "caught by", "severity", "detected after (min)",
         "resolved after end (min)", "false alarms"])
    for outcomes in zip(*per_seed):
        s = outcomes[0].scenario
        rules = sorted({r for o in outcomes for r in o.rules})
        table.add(s.name, f"{s.cache_name}/{s.implementation_type}", s.category or "nothing",
                  ", ".join(rules) or "-", " / ".join(o.severity or "-" for o in outcomes),
                  " / ".join(str(_minutes(o.detected_after)) for o in outcomes),
                  "persists" if s.persists else " / ".join(str(_minutes(o.resolved_after)) for o in outcomes),
                  sum(o.false_alarms for o in outcomes))
    table.notes.append(f"History: 3 weeks x {len(per_seed[0])} series of 1-minute rows, written in "
                       f"{built / len(seeds):.0f} s per seed; {runs} auditor runs in {replayed:.0f} s "
                       f"({1000 * replayed / runs:.1f} ms per run with its baseline check).")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)))
    return table


def costs(dsn: str, mode: str) -> Table:
    """What each maintain() step of the judging half costs with many series: ``run_auditor`` once a
    minute, an ordinary refresh (``baseline_batch`` series) and a forced one of every series."""
    series = {"smoke": 10, "quick": 100, "full": 100}[mode]
    days = {"smoke": 1, "quick": 2, "full": 14}[mode]
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    schema = SCHEMA + "_cost"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        migrate(conn, schema)
        conn.execute(sql.SQL("UPDATE {} SET baseline_min_samples = 600, seasonal_min_weeks = 1").format(
            sql.Identifier(schema, "maintenance_settings")))
    writer = PostgresWriter(Settings.from_env(dsn=dsn, schema=schema))
    try:
        write_history(writer, [Profile(f"c{i:03d}", ("legacy", "new")[i % 2], peak_ops_per_minute=200.0 + 20 * i,
                                       dispersion=0.15, drift=1.0) for i in range(series)],
                      end - timedelta(days=days), end + timedelta(minutes=45), seed=7)
    finally:
        writer.close()
    table = Table(f"Auditor costs: {series} series, {days} day(s) of 1-minute history",
                  ["step", "runs", "ms per run (mean)", "ms (worst)", "what"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        def timed(query: sql.Composable, params: tuple) -> float:
            t0 = time.perf_counter()
            with conn.transaction():
                conn.execute(query, params)
            return 1000 * (time.perf_counter() - t0)

        refresh = sql.SQL("SELECT {}(%s, %s)").format(sql.Identifier(schema, "refresh_baselines"))
        audit = sql.SQL("SELECT * FROM {}(%s)").format(sql.Identifier(schema, "run_auditor"))
        forced = timed(refresh, (end, True))
        table.add("refresh_baselines(force)", 1, forced, forced, f"every series at once ({forced / series:.0f} ms each)")
        conn.execute(sql.SQL("UPDATE {} SET window_end = window_end - interval '2 days'").format(
            sql.Identifier(schema, "cache_baseline_metrics")))  # all due again
        ordinary = [timed(refresh, (end + timedelta(minutes=m), False)) for m in range(1, 11)]
        table.add("refresh_baselines", len(ordinary), sum(ordinary) / len(ordinary), max(ordinary),
                  "an ordinary run, all series due (baseline_batch of them)")
        audits = [timed(audit, (end + timedelta(minutes=m),)) for m in range(11, 41)]
        table.add("run_auditor", len(audits), sum(audits) / len(audits), max(audits), "once a minute, every rule")
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return table
