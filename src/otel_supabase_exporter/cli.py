"""The ``otel-supabase-exporter`` command: migrate, doctor, demo, maintain, summary."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import timedelta
from typing import Sequence

import psycopg

from . import doctor, migrations
from .config import ENV_DSN, ConfigurationError, Settings, error_line, mask_dsn
from .embedded import connect
from .report import format_table, performance_summary


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
    print(doctor.spool_check(settings).line())
    try:
        conn = connect(settings)
    except psycopg.OperationalError as exc:
        print(f"[FAIL] connection: {error_line(exc, settings.dsn)}")
        return 1
    with conn:
        checks = doctor.run_checks(conn, settings.schema, window_minutes=args.window_minutes)
    for check in checks:
        print(check.line())
    failed = [c for c in checks if c.ok is False]
    print(f"{len(failed)} check(s) failed" if failed else "all checks passed")
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(_settings(args), seconds=args.seconds, service_name=args.service_name)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with connect(settings) as conn:
        rows = performance_summary(conn, settings.schema, args.implementation, args.window)
    if not rows:
        print(f"no 1-minute rows in the last {args.window}; run `otel-supabase-exporter doctor`")
        return 0
    print(format_table(rows))
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    import threading

    from .maintenance import maintain, maintain_every, set_retention

    settings = _settings(args)
    with connect(settings) as conn:
        set_retention(conn, settings.schema, raw_retention=args.raw_retention,
                      minute_retention=args.minute_retention, hour_retention=args.hour_retention,
                      event_retention=args.event_retention)
        if args.every is None:
            _print_steps(maintain(conn, settings.schema))
            return 0
    stop = threading.Event()
    try:
        maintain_every(lambda: connect(settings), settings.schema, args.every.total_seconds(), stop, _print_steps)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _print_steps(steps: list[tuple[str, int]]) -> None:
    from datetime import datetime, timezone

    done = ", ".join(f"{step}: {n}" for step, n in steps)
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} maintain: {done}", flush=True)


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
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("maintain", help="roll up hours, make partitions, apply retention (SQL: <schema>.maintain())")
    p.add_argument("--every", type=_parse_window, help="run in a loop, e.g. 60s (default: once)")
    for name, default in (("raw", "7d"), ("minute", "30d"), ("hour", "365d"), ("event", "90d")):
        p.add_argument(f"--{name}-retention", type=_parse_window, dest=f"{name}_retention",
                       help=f"keep {name} rows this long, e.g. 14d (stored in maintenance_settings; default {default})")
    p.set_defaults(func=cmd_maintain)

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
    except (ConfigurationError, migrations.MigrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"error: {error_line(exc, args.dsn or os.environ.get(ENV_DSN))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
