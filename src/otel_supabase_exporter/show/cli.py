"""The ``otel-supabase-exporter`` command: migrate, doctor, demo, dashboard, maintain, roles, summary, baseline,
observations, ack, compare."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from datetime import timedelta
from typing import Sequence

import psycopg

from .. import settings as env
from ..errors import Error
from ..judge import health
from ..judge.summary import performance_summary
from ..redact import error_line, mask_dsn
from ..settings import Settings
from ..store import migrations
from ..store.connect import connect
from .tables import BASELINE_COLUMNS, COMPARISON_COLUMNS, OBSERVATION_COLUMNS, SUMMARY_COLUMNS, format_table


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(dsn=args.dsn, schema=args.schema)


def _parse_window(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        if text[-1] in units:
            return timedelta(seconds=float(text[:-1]) * units[text[-1]])
        return timedelta(seconds=float(text))
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"invalid window {text!r}: use e.g. 30m, 1h, 7d") from None


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.dry_run:
        try:
            conn = connect(settings)
        except psycopg.OperationalError:
            conn = None
        print(migrations.pending_sql(conn, settings.schema) or "-- nothing to apply")
        if conn is not None:
            conn.close()
        return 0
    with connect(settings) as conn:
        applied = migrations.migrate(conn, settings.schema)
    if applied:
        print(f"applied {len(applied)} migration(s) to schema {settings.schema!r}: {', '.join(applied)}")
    else:
        print(f"schema {settings.schema!r} is up to date")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"[info] target: {mask_dsn(settings.dsn)} schema {settings.schema!r}")
    spool = health.spool_check(settings)
    print(spool.line())
    try:
        conn = connect(settings)
    except psycopg.OperationalError as exc:
        print(f"[FAIL] connection: {error_line(exc, settings.dsn)}")
        return 1
    with conn:
        checks = health.run_checks(conn, settings.schema, window_minutes=args.window_minutes)
    for check in checks:
        print(check.line())
    failed = [c for c in [spool, *checks] if c.ok is False]
    print(f"{len(failed)} check(s) failed" if failed else "all checks passed")
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    settings = _settings(args)
    if not args.dashboard:
        run_demo(settings, seconds=args.seconds, service_name=args.service_name)
        return 0
    with connect(settings) as conn:
        migrations.migrate(conn, settings.schema)
    board = _dashboard(settings, args).start()
    print(f"dashboard: {board.url}  (Ctrl-C to stop)", flush=True)
    try:
        run_demo(settings, seconds=args.seconds, service_name=args.service_name)
        print(f"\nthe workload is done; the dashboard stays at {board.url} until Ctrl-C", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0


def _dashboard(settings: Settings, args: argparse.Namespace):
    from .dashboard import Dashboard

    return Dashboard(settings, host=args.host, port=args.port, token=args.token)


def cmd_dashboard(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with connect(settings) as conn:  # fail early, and clearly, when the database is not there
        if not migrations.relation_exists(conn, settings.schema, "cache_metrics_1min"):
            print(f"error: schema {settings.schema!r} is not migrated: run `otel-supabase-exporter migrate`",
                  file=sys.stderr)
            return 2
    board = _dashboard(settings, args)
    print(f"dashboard: {board.url}  schema {settings.schema!r} on {mask_dsn(settings.dsn)}  (Ctrl-C to stop)",
          flush=True)
    try:
        board.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _add_server_options(p: argparse.ArgumentParser) -> None:
    from .dashboard import ENV_TOKEN

    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; anything else "
                                                        "needs --token)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 picks a free one)")
    p.add_argument("--token", default=None, help=f"token that acknowledging needs (default ${ENV_TOKEN})")


def cmd_summary(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with connect(settings) as conn:
        rows = performance_summary(conn, settings.schema, args.implementation, args.window)
    return _print_table(rows, SUMMARY_COLUMNS,
                        f"no 1-minute rows in the last {args.window}; run `otel-supabase-exporter doctor`")


def _print_table(rows: list[dict], columns: Sequence[tuple[str, str]], empty: str) -> int:
    """Print ``rows`` as a table, or ``empty`` when there are none; the command's exit status."""
    print(format_table(rows, columns) if rows else empty)
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from ..judge.maintenance import maintain, maintain_every, update_settings

    settings = _settings(args)
    with connect(settings) as conn:
        update_settings(conn, settings.schema, raw_retention=args.raw_retention,
                        minute_retention=args.minute_retention, hour_retention=args.hour_retention,
                        event_retention=args.event_retention, baseline_window=args.baseline_window,
                        reference_implementation=args.reference_implementation)
        if args.every is None:
            _print_steps(maintain(conn, settings.schema))
            return 0
    stop = threading.Event()
    try:
        maintain_every(lambda: connect(settings), settings.schema, args.every.total_seconds(), stop=stop,
                       report=_print_steps)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _print_steps(steps: list[tuple[str, int]]) -> None:
    from datetime import datetime, timezone

    done = ", ".join(f"{step}: {n}" for step, n in steps)
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} maintain: {done}", flush=True)


def cmd_baseline(args: argparse.Namespace) -> int:
    from ..judge.auditor import active_baselines, refresh_baselines

    settings = _settings(args)
    with connect(settings) as conn:
        if args.recompute:
            print(f"recomputed {refresh_baselines(conn, settings.schema, force=True)} baseline(s)")
        rows = active_baselines(conn, settings.schema, args.cache, args.implementation)
    return _print_table(rows, BASELINE_COLUMNS,
                        "no baselines yet: a series needs enough 1-minute rows (maintenance_settings."
                        "baseline_min_samples minutes with traffic); `maintain` computes them")


def cmd_observations(args: argparse.Namespace) -> int:
    from ..judge.auditor import observations

    settings = _settings(args)
    with connect(settings) as conn:
        rows = observations(conn, settings.schema, include_resolved=args.all, limit=args.limit)
    columns = OBSERVATION_COLUMNS + ((("status", "status"),) if args.all else ())
    _print_table(rows, columns, "no open observations" if not args.all else "no observations")
    if args.verbose:
        for r in rows:
            print(f"#{r['id']} recommendation: {r['recommendation']}")
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    import getpass

    from ..judge.auditor import ObservationNotFound, acknowledge

    settings = _settings(args)
    by = args.by or env.env_text("USER") or getpass.getuser()
    failed = 0
    with connect(settings) as conn:
        for observation_id in args.ids:
            try:
                row = acknowledge(conn, settings.schema, observation_id, by)
            except (ObservationNotFound, ValueError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
                continue
            print(f"#{row['id']} acknowledged by {row['acknowledged_by']}"
                  f" at {row['acknowledged_at']:%Y-%m-%d %H:%M:%S %Z}"
                  f" ({row['severity']}, {row['status']}): {row['message']}")
    return 1 if failed else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..judge.auditor import compare_implementations

    settings = _settings(args)
    with connect(settings) as conn:
        rows = compare_implementations(conn, settings.schema, args.window, cache_name=args.cache,
                                       reference=args.reference)
    return _print_table(rows, COMPARISON_COLUMNS,
                        f"nothing to compare in the last {args.window}: no cache ran both the reference "
                        "implementation and another one")


def cmd_roles(args: argparse.Namespace) -> int:
    settings = _settings(args)
    writer = args.writer or f"{settings.schema}_writer"
    reader = args.reader or f"{settings.schema}_reader"
    with connect(settings) as conn:
        script = migrations.roles_script(conn, settings.schema, writer, reader)
        if not args.apply:
            print(f"-- roles for schema {settings.schema}: run as its owner (with CREATEROLE), or use --apply")
            print(script, end="")
            return 0
        with conn.transaction():
            conn.execute(script)
    print(f"roles {writer} (writer) and {reader} (reader) are in place for schema {settings.schema!r}; "
          f"grant them to login roles: GRANT {writer} TO <exporter login>; GRANT {reader} TO <dashboard login>")
    return 0


def cmd_sql_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    settings = _settings(args)
    from ..store.supabase_export import export_supabase

    written = export_supabase(Path(args.supabase), settings.schema)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} migration(s) written for schema {settings.schema!r}"
          + ("; apply them with `supabase db push`" if written else " (all were there already)"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-supabase-exporter",
        description="Cache telemetry in PostgreSQL. Without --dsn or OTEL_EXPORTER_SUPABASE_DSN, "
                    "commands use the embedded PostgreSQL.",
    )
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: $OTEL_EXPORTER_SUPABASE_DSN, else embedded)")
    parser.add_argument("--schema", help="schema name (default: $OTEL_EXPORTER_SUPABASE_SCHEMA or monitoring)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply the SQL migrations")
    p.add_argument("--dry-run", action="store_true", help="print the SQL that would run, change nothing")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("doctor", help="check that everything really works, data arriving included")
    p.add_argument("--window-minutes", type=int, default=10, help="how recent data must be (default 10)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="run a legacy-vs-new semantic cache workload through the real pipeline")
    p.add_argument("--seconds", type=float, default=20.0, help="how long the workload runs (default 20)")
    p.add_argument("--service-name", default="otel-supabase-demo")
    p.add_argument("--dashboard", action="store_true", help="serve the dashboard while the workload runs")
    _add_server_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("dashboard", help="serve the live dashboard (and its JSON API under /api/)")
    _add_server_options(p)
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("maintain", help="roll up hours, make partitions, apply retention, compute baselines, "
                                        "run the auditor (SQL: <schema>.maintain())")
    p.add_argument("--every", type=_parse_window, help="run in a loop, e.g. 60s (default: once)")
    for name, default in (("raw", "7d"), ("minute", "30d"), ("hour", "365d"), ("event", "90d")):
        p.add_argument(f"--{name}-retention", type=_parse_window, dest=f"{name}_retention",
                       help=f"keep {name} rows this long, e.g. 14d (stored in maintenance_settings; default {default})")
    p.add_argument("--baseline-window", type=_parse_window,
                   help="trailing window baselines are computed from (stored; default 14d)")
    p.add_argument("--reference-implementation",
                   help="implementation the others are compared with (stored; default legacy)")
    p.set_defaults(func=cmd_maintain)

    p = sub.add_parser("baseline", help="show the active baselines; --recompute recomputes them all first")
    p.add_argument("--recompute", action="store_true", help="recompute every series' baseline now")
    p.add_argument("--cache", help="only this cache")
    p.add_argument("--implementation", help="only this implementation")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("observations", help="the auditor's open observations, worst first")
    p.add_argument("--all", action="store_true", help="the most recent ones, resolved included")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_observations)

    p = sub.add_parser("ack", help="acknowledge observations (keeps who and when)")
    p.add_argument("ids", type=int, nargs="+", metavar="ID")
    p.add_argument("--by", help="who acknowledges (default: $USER)")
    p.set_defaults(func=cmd_ack)

    p = sub.add_parser("compare", help="each implementation against the reference one (legacy vs new)")
    p.add_argument("--window", type=_parse_window, default=timedelta(hours=1), help="e.g. 15m, 1h, 1d")
    p.add_argument("--cache", help="only this cache")
    p.add_argument("--reference", help="reference implementation (default: maintenance_settings, legacy)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sql", help="the SQL migrations as files for other tools")
    sql_sub = p.add_subparsers(dest="sql_command", required=True)
    e = sql_sub.add_parser("export", help="write the migrations for the Supabase CLI (supabase db push)")
    e.add_argument("--supabase", required=True, metavar="DIR",
                   help="project directory: files go to DIR/supabase/migrations/<timestamp>_<name>.sql")
    e.set_defaults(func=cmd_sql_export)

    p = sub.add_parser("roles", help="print (or --apply) the SQL of the writer and reader roles: least privilege, RLS")
    p.add_argument("--writer", help="writer role name (default <schema>_writer)")
    p.add_argument("--reader", help="reader role name (default <schema>_reader)")
    p.add_argument("--apply", action="store_true", help="run it now (as the schema's owner, with CREATEROLE)")
    p.set_defaults(func=cmd_roles)

    p = sub.add_parser("summary", help="performance per cache and implementation")
    p.add_argument("--window", type=_parse_window, default=timedelta(hours=1), help="e.g. 30m, 1h, 7d")
    p.add_argument("--implementation", help="only this implementation")
    p.set_defaults(func=cmd_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"error: {error_line(exc, args.dsn or env.env_text(env.ENV_DSN))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
