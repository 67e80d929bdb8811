"""Checks that the whole path really works: connection, schema, ledger, objects, publication, data arriving."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg import sql

from ..settings import Settings
from ..store import migrations

EXPECTED_TABLES = (
    "cache_metrics", "monitoring_events", "cache_metrics_1min", "cache_metrics_1hour",
    "cache_baseline_metrics", "cache_auditor_observations", "export_batches", "maintenance_settings",
    "rollup_queue", "auditor_rules", "auditor_state", migrations.LEDGER_TABLE,
)
EXPECTED_FUNCTIONS = (
    "calculate_hit_rate", "get_cache_performance_summary", "ensure_cache_metrics_partitions",
    "exp_hist_merge", "exp_hist_quantiles", "sync_realtime_publication", "rollup_hours", "apply_retention",
    "maintain", "cache_series", "refresh_baselines", "run_auditor", "auditor_findings", "acknowledge_observation",
    "compare_implementations", "expire_judgements", "roles_sql", "privilege_plan",
)


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report. ``ok`` is None for information that is not a failure."""

    name: str
    ok: bool | None
    detail: str

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "info"}[self.ok]
        return f"[{mark}] {self.name}: {self.detail}"


def run_checks(conn: psycopg.Connection, schema: str, window_minutes: int = 10) -> list[Check]:
    """Run every check on an open connection; stops at the first check the others depend on."""
    checks: list[Check] = []
    version = conn.execute("SHOW server_version").fetchone()[0]
    major = conn.info.server_version // 10000
    checks.append(Check("server", major >= 14, f"PostgreSQL {version}" + ("" if major >= 14 else " (need >= 14)")))

    has_schema = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if not has_schema:
        checks.append(Check("schema", False, f"schema {schema!r} does not exist: run `otel-supabase-exporter migrate`"))
        return checks
    checks.append(Check("schema", True, f"schema {schema!r} exists"))

    state = migrations.status(conn, schema)
    if state.edited:
        checks.append(Check("migrations", False, f"applied file(s) edited since: {', '.join(state.edited)}"))
    elif state.pending:
        checks.append(Check("migrations", False, f"{len(state.pending)} pending: "
                            f"{', '.join(m.filename for m in state.pending)}; run `otel-supabase-exporter migrate`"))
    elif state.stale:
        checks.append(Check("migrations", False, f"{len(state.stale)} function/view file(s) changed since applied: "
                            f"{', '.join(r.filename for r in state.stale)}; run `otel-supabase-exporter migrate`"))
    else:
        extra = f" (database also has unknown versions {state.unknown})" if state.unknown else ""
        checks.append(Check("migrations", True, f"{len(state.applied)} applied, none pending{extra}"))

    missing_tables = [t for t in EXPECTED_TABLES if not migrations.relation_exists(conn, schema, t)]
    checks.append(Check("tables", not missing_tables,
                        "all present" if not missing_tables
                        else f"missing {', '.join(f'{schema}.{t}' for t in missing_tables)}; "
                             "run `otel-supabase-exporter migrate`"))
    present = {
        name for (name,) in conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s", (schema,)).fetchall()
    }
    missing_functions = [f for f in EXPECTED_FUNCTIONS if f not in present]
    checks.append(Check("functions", not missing_functions,
                        "all present" if not missing_functions
                        else f"missing {', '.join(missing_functions)}; run `otel-supabase-exporter migrate`"))
    if missing_tables:
        return checks

    today = f"cache_metrics_p{datetime.now(timezone.utc):%Y%m%d}"
    has_partition = migrations.relation_exists(conn, schema, today)
    checks.append(Check("partitions", None if not has_partition else True,
                        f"{today} exists" if has_partition
                        else f"{today} not created yet (the exporter creates it on its first write)"))

    publication = conn.execute("SELECT puballtables FROM pg_publication WHERE pubname = 'supabase_realtime'").fetchone()
    if publication is None:
        checks.append(Check("realtime", None, "no supabase_realtime publication (plain PostgreSQL): NOTIFY only"))
    else:
        published = {t for (t,) in conn.execute(
            "SELECT tablename FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = %s",
            (schema,)).fetchall()}
        wanted = {"cache_metrics_1min", "cache_auditor_observations"}
        ok = publication[0] or wanted <= published
        checks.append(Check("realtime", ok, "cache_metrics_1min and cache_auditor_observations published" if ok
                            else f"not in supabase_realtime: {', '.join(sorted(wanted - published))}; "
                                 f"run SELECT {schema}.sync_realtime_publication()"))

    window = f"{int(window_minutes)} minutes"
    raw = conn.execute(
        sql.SQL("SELECT count(*), max(\"timestamp\") FROM {} WHERE \"timestamp\" > now() - %s::interval").format(
            sql.Identifier(schema, "cache_metrics")), (window,)).fetchone()
    checks.append(Check("raw rows", raw[0] > 0,
                        f"{raw[0]} in the last {window} (latest {raw[1]:%Y-%m-%d %H:%M:%S %Z})" if raw[0]
                        else f"none in the last {window}: is the exporter configured "
                             "(OTEL_TRACES_EXPORTER=supabase or configure()) and are spans sampled?"))
    agg = conn.execute(
        sql.SQL("SELECT count(*), coalesce(sum(total_operations), 0) FROM {}"
                " WHERE minute_window > now() - %s::interval").format(
            sql.Identifier(schema, "cache_metrics_1min")), (window,)).fetchone()
    checks.append(Check("1-minute rows", agg[0] > 0,
                        f"{agg[0]} rows, {agg[1]} operations in the last {window}" if agg[0]
                        else f"none in the last {window}: is the metrics exporter configured "
                             "(OTEL_METRICS_EXPORTER=supabase or configure())? Rows appear after each minute"))
    if raw[0] and agg[0]:
        checks.append(raw_coverage(conn, schema, window_minutes))
    checks.append(exporter_counters(conn, schema, window_minutes))
    checks.append(judging(conn, schema))
    checks.extend(exposure(conn, schema))
    return checks


def exposure(conn: psycopg.Connection, schema: str) -> list[Check]:
    """Row-level security on every table, and whether Supabase's public roles can reach the schema."""
    off = [name for (name,) in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity ORDER BY 1", (schema,)).fetchall()]
    checks = [Check("row-level security", not off,
                    "on for every table" if not off
                    else f"OFF for {', '.join(off)}: anyone granted these tables reads every row; "
                         f"run `otel-supabase-exporter migrate` (sql/007 enables it)")]
    public = [role for (role,) in conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated') ORDER BY 1").fetchall()]
    if not public:
        return checks
    exposed = [role for role in public if conn.execute(
        "SELECT has_schema_privilege(%s, %s, 'USAGE')", (role, schema)).fetchone()[0]]
    policies = [f"{table} ({', '.join(roles)})" for table, roles in conn.execute(
        "SELECT tablename, array_agg(DISTINCT r) FROM pg_policies, unnest(roles) AS r"
        " WHERE schemaname = %s AND r IN ('anon', 'authenticated', 'public') GROUP BY 1 ORDER BY 1",
        (schema,)).fetchall()]
    # SECURITY DEFINER bypasses row-level security: one anon may run must check its caller
    # (the package's own call assert_caller, so later grants cannot open them)
    definers = [f"{name} ({', '.join(roles)})" for name, roles in conn.execute(
        "SELECT p.oid::regprocedure::text, array_agg(r.rolname ORDER BY r.rolname) FROM pg_proc p"
        " JOIN pg_roles r ON r.rolname IN ('anon', 'authenticated') AND has_function_privilege(r.oid, p.oid, 'EXECUTE')"
        " WHERE p.pronamespace = %s::regnamespace AND p.prosecdef AND p.prosrc NOT LIKE '%%assert_caller(%%'"
        " GROUP BY 1 ORDER BY 1", (schema,)).fetchall()]
    writers, tables = _public_writes(conn, schema)
    if policies or definers or writers or tables:
        problems = ([f"policies open rows to Supabase's public roles: {'; '.join(policies)}; anyone with the "
                     "anon key reads them"] if policies else []) + \
                   ([f"SECURITY DEFINER functions that do not check their caller are executable by them: "
                     f"{'; '.join(definers)}; anyone with the anon key runs them as the owner, past row-level "
                     "security (REVOKE EXECUTE, or `otel-supabase-exporter migrate` for the package's own)"]
                    if definers else []) + \
                   ([f"functions that may write (VOLATILE) are executable by them: {'; '.join(writers)} "
                     f"(REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA {schema} FROM PUBLIC, anon, authenticated; grant back "
                     "only the STABLE read functions the Data API needs)"] if writers else []) + \
                   ([f"TRUNCATE or TRIGGER, which row-level security does not stop, is granted to them on: "
                     f"{'; '.join(tables)} (REVOKE TRUNCATE, TRIGGER ON ALL TABLES IN SCHEMA {schema} "
                     "FROM anon, authenticated)"] if tables else [])
        checks.append(Check("public access", False, "; ".join(problems)))
    elif exposed:
        checks.append(Check("public access", None, f"schema {schema} is usable by {', '.join(exposed)} (exposed "
                                                   "through the Data API?); no policy lets them see a row, but "
                                                   "consider not exposing it (docs/supabase.md)"))
    else:
        checks.append(Check("public access", True, f"{', '.join(public)} cannot use schema {schema}"))
    return checks


def _public_writes(conn: psycopg.Connection, schema: str) -> tuple[list[str], list[str]]:
    """What anon/authenticated may run that writes, besides SECURITY DEFINER functions: VOLATILE
    functions (only those may write; triggers and the functions that refuse them via assert_caller
    aside), and tables where they hold TRUNCATE or TRIGGER (row-level security stops neither)."""
    writers = [f"{name} ({', '.join(roles)})" for name, roles in conn.execute(
        "SELECT p.oid::regprocedure::text, array_agg(r.rolname ORDER BY r.rolname) FROM pg_proc p"
        " JOIN pg_roles r ON r.rolname IN ('anon', 'authenticated') AND has_function_privilege(r.oid, p.oid, 'EXECUTE')"
        " WHERE p.pronamespace = %s::regnamespace AND NOT p.prosecdef AND p.provolatile = 'v'"
        " AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)"
        " AND p.prosrc NOT LIKE '%%assert_caller(%%'"
        " GROUP BY 1 ORDER BY 1", (schema,)).fetchall()]
    tables = [f"{name} ({', '.join(roles)})" for name, roles in conn.execute(
        "SELECT c.relname, array_agg(DISTINCT r.rolname ORDER BY r.rolname) FROM pg_class c"
        " JOIN pg_roles r ON r.rolname IN ('anon', 'authenticated')"
        "  AND (has_table_privilege(r.oid, c.oid, 'TRUNCATE') OR has_table_privilege(r.oid, c.oid, 'TRIGGER'))"
        " WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " GROUP BY 1 ORDER BY 1", (schema,)).fetchall()]
    return writers, tables


def judging(conn: psycopg.Connection, schema: str) -> Check:
    """Whether maintenance runs (hours rolled up, baselines) and what the auditor has open."""
    queued, oldest, series, baselined, open_obs, critical = conn.execute(
        sql.SQL("SELECT (SELECT count(*) FROM {q}), (SELECT min(hour_window) FROM {q}),"
                " (SELECT count(DISTINCT (cache_name, implementation_type)) FROM {m}"
                "  WHERE minute_window > now() - interval '1 day'),"
                " (SELECT count(*) FROM {b} WHERE is_active AND hour_of_week IS NULL),"
                " (SELECT count(*) FROM {o} WHERE status = 'open'),"
                " (SELECT count(*) FROM {o} WHERE status = 'open' AND severity = 'critical')").format(
            q=sql.Identifier(schema, "rollup_queue"), m=sql.Identifier(schema, "cache_metrics_1min"),
            b=sql.Identifier(schema, "cache_baseline_metrics"), o=sql.Identifier(schema, "cache_auditor_observations")),
    ).fetchone()
    detail = (f"baselines for {baselined} of the {series} series active in the last day; "
              f"{open_obs} open observation(s), {critical} critical (`otel-supabase-exporter observations`)")
    stale = oldest is not None and oldest < datetime.now(timezone.utc) - timedelta(hours=3)
    if stale:
        return Check("maintenance", None,
                     f"{queued} hour(s) waiting for their rollup since {oldest:%Y-%m-%d %H:%M %Z}: "
                     "is maintain() scheduled (pg_cron, or `maintain --every 60s`)? " + detail)
    return Check("maintenance", True, detail)


def raw_coverage(conn: psycopg.Connection, schema: str, window_minutes: int) -> Check:
    """How many of the operations the 1-minute rows count have a raw row, over complete minutes
    of the window. Below 100 %: spans were not sampled, or the SDK's span queue overflowed
    (it drops the oldest spans when the application produces them faster than they are
    exported); the 1-minute counts stay exact either way."""
    window = f"{int(window_minutes)} minutes"
    ops, raw = conn.execute(
        sql.SQL("WITH w AS (SELECT date_trunc('minute', now() - %s::interval) AS lo,"
                " date_trunc('minute', now()) - interval '1 minute' AS hi)"
                " SELECT (SELECT coalesce(sum(total_operations), 0)::bigint FROM {m}, w"
                "         WHERE minute_window >= w.lo AND minute_window < w.hi),"
                "        (SELECT count(*) FROM {r}, w WHERE \"timestamp\" >= w.lo AND \"timestamp\" < w.hi"
                "         AND operation_type <> 'evict')").format(
            m=sql.Identifier(schema, "cache_metrics_1min"), r=sql.Identifier(schema, "cache_metrics")),
        (window,)).fetchone()
    if not ops:
        return Check("raw coverage", None, "no complete minute with operations in the window yet")
    share = 100.0 * raw / ops
    detail = f"{raw} raw rows for {ops} operations in the 1-minute rows ({share:.1f} %)"
    if share >= 99.9:
        return Check("raw coverage", True, detail)
    return Check("raw coverage", None, detail + ": spans sampled out, or dropped by the SDK's span queue when "
                                                 "the application outpaces the export (OTEL_BSP_MAX_QUEUE_SIZE)")


def spool_check(settings: Settings) -> Check:
    """What waits in this destination's spool (readable even when the database is not)."""
    from ..store.spool import Spool, SpoolUnavailable, directory_for

    if settings.spool_max_bytes <= 0:
        return Check("spool", None, "off (OTEL_EXPORTER_SUPABASE_SPOOL_MAX_BYTES=0): batches are dropped in outages")
    try:
        state = Spool(directory_for(settings), settings.spool_max_bytes).state()
    except SpoolUnavailable as exc:
        return Check("spool", None, str(exc))
    if not state.segments:
        return Check("spool", True, f"empty ({state.directory}, up to {state.max_bytes / 2**20:.0f} MiB)")
    seconds = state.items / REPLAY_ROWS_PER_S
    return Check("spool", False, f"{state.items} item(s) in {state.records} batch(es), {state.bytes / 2**20:.1f} MiB "
                                 f"in {state.directory} are NOT in the database yet: nothing drains them until a "
                                 "process with the exporter (configure(), OTEL_*_EXPORTER=supabase, or `demo`) reaches "
                                 f"this destination; it replays them oldest first, about {_duration(seconds)} at "
                                 f"~{REPLAY_ROWS_PER_S:,} rows/s (an estimate: half the measured COPY rate)")


#: Rows per second a replaying exporter writes: half (its duty cycle) of the owner's measured raw
#: COPY rate, ~190,000 rows/s (docs/benchmarks.md). Only for the doctor's estimate.
REPLAY_ROWS_PER_S = 90_000


def _duration(seconds: float) -> str:
    return "under a second" if seconds < 1 else f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def exporter_counters(conn: psycopg.Connection, schema: str, window_minutes: int) -> Check:
    """The exporters' own counters over the window, from the metric events they wrote
    (delta points: their sum is what happened in the window)."""
    window = f"{int(window_minutes)} minutes"
    rows = conn.execute(
        sql.SQL("SELECT source, data->'points' FROM {}"
                " WHERE event_type = 'metric' AND data->>'name' IN"
                " ('otel_supabase_exporter.items', 'otel_supabase_exporter.items.set_aside')"
                " AND \"timestamp\" > now() - %s::interval").format(
            sql.Identifier(schema, "monitoring_events")), (window,)).fetchall()
    if not rows:
        return Check("exporter counters", None, f"no report in the last {window} "
                                                "(exporters set up by configure() report theirs every minute)")
    totals: dict[str, dict[str, int]] = {}
    for source, points in rows:
        per_source = totals.setdefault(source, {})
        for point in points or []:
            attrs = point.get("attributes", {})
            label = attrs.get("outcome") or f"{attrs.get('kind')} ({attrs.get('reason')})"
            key = f"{attrs.get('signal')} {label}"
            per_source[key] = per_source.get(key, 0) + int(point.get("value") or 0)
    parts = [f"{source}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
             for source, counts in sorted(totals.items())]
    lost = any(k.split(" ", 1)[1].startswith(("dropped", "failed")) and v
               for counts in totals.values() for k, v in counts.items())
    return Check("exporter counters", False if lost else True,
                 f"last {window}: " + "; ".join(parts) + (" — items were LOST" if lost else ""))
