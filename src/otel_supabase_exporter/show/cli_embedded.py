"""``otel-supabase-exporter embedded status|stop|reset``: the embedded PostgreSQL that commands use
when no DSN is configured — where it is, how large, its DSN for psql; stop it; delete it."""

from __future__ import annotations

import argparse
import shlex

from ..settings import Settings
from ..store import embedded


def cmd_embedded(args: argparse.Namespace) -> int:
    settings = Settings.from_env(schema=args.schema)
    if args.embedded_command == "status":
        s = embedded.embedded_status(settings.embedded_dir)
        print(f"data directory: {s.data_dir}" + ("" if s.exists else " (not created yet)"))
        if s.exists:
            print(f"size: {s.size_bytes / 2**20:.1f} MiB")
            print(f"server: {'running' if s.running else 'stopped'}"
                  + (f", used by process(es) {', '.join(map(str, s.users))}" if s.users else ""))
        if s.dsn:
            print(f"dsn: {s.dsn}")
            print(f"psql {shlex.quote(s.dsn)}")
        return 0
    if args.embedded_command == "stop":
        stopped = embedded.stop_embedded(settings.embedded_dir)
        print("stopped" if stopped else "not running")
        return 0
    if not args.yes:
        print(f"error: reset deletes {embedded.data_path(settings.embedded_dir)} and every row in it: "
              "add --yes", flush=True)
        return 2
    print(f"deleted {embedded.reset_embedded(settings.embedded_dir)}")
    return 0


def add_commands(sub: "argparse._SubParsersAction", common: list[argparse.ArgumentParser]) -> None:
    """Add ``embedded status|stop|reset``."""
    p = sub.add_parser("embedded", parents=common,
                       help="the embedded PostgreSQL (used without a DSN): status, stop, reset")
    e = p.add_subparsers(dest="embedded_command", required=True)
    e.add_parser("status", parents=common, help="data directory, size, running or not, a psql-ready DSN")
    e.add_parser("stop", parents=common, help="stop the server now")
    r = e.add_parser("reset", parents=common, help="stop it and delete its data directory")
    r.add_argument("--yes", action="store_true", help="yes, delete every row")
    p.set_defaults(func=cmd_embedded)
