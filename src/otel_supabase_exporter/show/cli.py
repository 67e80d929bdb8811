"""The ``otel-supabase-exporter`` command: migrate, doctor, demo, dashboard, maintain, roles, summary, baseline,
observations, ack, compare."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Any, Sequence

import psycopg

from ..errors import Error
from ..judge import health
from ..redact import error_line, mask_dsn
from ..semconv import VERSION
from ..settings import Settings
from ..store import migrations
from ..store.connect import connect
from . import _args, cli_demo, cli_embedded, cli_judge


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(dsn=args.dsn, schema=args.schema)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.dry_run:  # what is pending depends on the database: no connection, no answer
        with connect(settings) as conn:
            print(migrations.pending_sql(conn, settings.schema) or "-- nothing to apply")
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


def _dashboard(settings: Settings, args: argparse.Namespace):
    from .dashboard import Dashboard

    return Dashboard(settings, host=args.host, port=args.port, token=args.token, allowed_hosts=args.allowed_host)


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
    board.serve_forever()  # until Ctrl-C: main() exits 130
    return 0


def _add_server_options(p: argparse.ArgumentParser) -> None:
    from .dashboard import ENV_TOKEN

    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; anything else "
                                                        "needs --token)")
    p.add_argument("--port", type=_args.port, default=8787, help="port (default 8787; 0 picks a free one)")
    p.add_argument("--token", default=None, help=f"token that acknowledging needs (default ${ENV_TOKEN})")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name the dashboard answers besides loopback ones and --host (repeatable)")


def cmd_gateway(args: argparse.Namespace) -> int:
    from ..gateway import Gateway

    settings = _settings(args)
    gateway = Gateway(settings, host=args.host, port=args.port, token=args.token,
                      max_body=args.max_body_mib * 1024 * 1024)
    print(f"gateway: {gateway.url}/v1/{{traces,metrics,logs}} -> schema {settings.schema!r} on "
          f"{mask_dsn(settings.dsn)}  (Ctrl-C to stop)", flush=True)
    gateway.serve_forever()  # until Ctrl-C: main() exits 130
    return 0


def cmd_roles(args: argparse.Namespace) -> int:
    settings = _settings(args)
    writer = args.writer or f"{settings.schema}_writer"
    reader = args.reader or f"{settings.schema}_reader"
    if not args.apply:  # printed from the package's SQL files: no database needed
        from ..store.roles import offline_roles_script

        script = offline_roles_script(settings.schema, writer, reader)
        print(f"-- roles for schema {settings.schema} (after migrate): run as its owner (with CREATEROLE), "
              "or use --apply")
        print(script, end="")
        return 0
    with connect(settings) as conn:
        script = migrations.roles_script(conn, settings.schema, writer, reader)
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


def cmd_sql_print(args: argparse.Namespace) -> int:
    print(migrations.full_script(_settings(args).schema), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every command; --dsn, --schema and -v go before or after the command's name."""
    parser = argparse.ArgumentParser(
        prog="otel-supabase-exporter", parents=[_args.common_options(top_level=True)],
        description="Cache telemetry in PostgreSQL. Without --dsn or OTEL_EXPORTER_SUPABASE_DSN, "
                    "commands use the embedded PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    common = [_args.common_options(top_level=False)]

    p = sub.add_parser("migrate", parents=common, help="apply the SQL migrations")
    p.add_argument("--dry-run", action="store_true", help="print the SQL that would run, change nothing")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("doctor", parents=common, help="check that everything really works, data arriving included")
    p.add_argument("--window-minutes", type=_args.positive_int, default=10, help="how recent data must be (default 10)")
    p.set_defaults(func=cmd_doctor)

    cli_demo.add_commands(sub, common, _add_server_options)

    p = sub.add_parser("dashboard", parents=common, help="serve the live dashboard (and its JSON API under /api/)")
    _add_server_options(p)
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("gateway", parents=common,
                       help="receive OTLP/HTTP from any OpenTelemetry SDK or Collector into the tables")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; anything else "
                                                        "needs --token)")
    p.add_argument("--port", type=_args.port, default=4318, help="port (default 4318, OTLP/HTTP's; 0 picks one)")
    p.add_argument("--token", default=None,
                   help="bearer token senders must send (default $OTEL_EXPORTER_SUPABASE_GATEWAY_TOKEN)")
    p.add_argument("--max-body-mib", type=_args.positive_int, default=8,
                   help="largest request accepted, inflated (default 8 MiB)")
    p.set_defaults(func=cmd_gateway)

    cli_judge.add_commands(sub, common)
    cli_embedded.add_commands(sub, common)

    p = sub.add_parser("sql", parents=common, help="the SQL migrations as files for other tools")
    sql_sub = p.add_subparsers(dest="sql_command", required=True)
    e = sql_sub.add_parser("export", parents=common,
                           help="write the migrations for the Supabase CLI (supabase db push)")
    e.add_argument("--supabase", required=True, metavar="DIR",
                   help="project directory: files go to DIR/supabase/migrations/<timestamp>_<name>.sql")
    e.set_defaults(func=cmd_sql_export)
    e = sql_sub.add_parser("print", parents=common,
                           help="print every migration as one script for an empty schema (no database needed)")
    e.set_defaults(func=cmd_sql_print)

    p = sub.add_parser("roles", parents=common,
                       help="print (or --apply) the SQL of the writer and reader roles: least privilege, RLS")
    p.add_argument("--writer", help="writer role name (default <schema>_writer)")
    p.add_argument("--reader", help="reader role name (default <schema>_reader)")
    p.add_argument("--apply", action="store_true", help="run it now (as the schema's owner, with CREATEROLE)")
    p.set_defaults(func=cmd_roles)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's error is one line on stderr and exit 2, Ctrl-C exits 130."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version (0) or a usage error (2), already printed
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    previous = _exit_on_sigterm()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `doctor | head`: the reader left; say nothing more
        _silence_stdout()
        return 141
    except Error as exc:
        return _fail(error_line(exc))
    except psycopg.Error as exc:
        return _fail(error_line(exc))
    except (OSError, OverflowError, ValueError) as exc:  # a busy port, an unknown host, a file for a directory
        return _fail(f"{type(exc).__name__}: {error_line(exc)}")
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm() -> Any:
    """SIGTERM exits with 143 through SystemExit, so exit handlers run: the embedded server's last
    user leaving stops it. Only in the main thread; returns the handler to put back (main() is
    also called in-process, by tests)."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def _fail(message: str) -> int:
    try:
        print(f"error: {message}", file=sys.stderr)
    except BrokenPipeError:
        pass
    return 2


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
