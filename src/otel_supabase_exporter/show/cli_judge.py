"""The judging commands of ``otel-supabase-exporter``: summary, maintain, baseline, observations, ack,
compare — each a thin layer over :mod:`..judge`."""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import timedelta
from typing import Sequence

from .. import settings as env
from ..judge.summary import implementations, performance_summary
from ..settings import Settings
from ..store.connect import connect
from . import _args
from .tables import BASELINE_COLUMNS, COMPARISON_COLUMNS, OBSERVATION_COLUMNS, SUMMARY_COLUMNS, format_table


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(dsn=args.dsn, schema=args.schema)


def cmd_summary(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with connect(settings) as conn:
        rows = performance_summary(conn, settings.schema, args.implementation, args.window)
        known = implementations(conn, settings.schema) if args.implementation and not rows else []
    if args.implementation and not rows and args.implementation not in known:
        print(f"no implementation {args.implementation!r} in the 1-minute rows; known: "
              f"{', '.join(known) or 'none yet'}", file=sys.stderr)
        return 2
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
        raise
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




def add_commands(sub: "argparse._SubParsersAction", common: list[argparse.ArgumentParser]) -> None:
    """Add the judging commands to the command line."""
    p = sub.add_parser("maintain", parents=common,
                       help="roll up hours, make partitions, apply retention, compute baselines, "
                            "run the auditor (SQL: <schema>.maintain())")
    p.add_argument("--every", type=_args.duration, help="run in a loop, e.g. 60s (default: once)")
    for name, default in (("raw", "7d"), ("minute", "30d"), ("hour", "365d"), ("event", "90d")):
        p.add_argument(f"--{name}-retention", type=_args.duration, dest=f"{name}_retention",
                       help=f"keep {name} rows this long, e.g. 14d (stored in maintenance_settings; default {default})")
    p.add_argument("--baseline-window", type=_args.duration,
                   help="trailing window baselines are computed from (stored; default 14d)")
    p.add_argument("--reference-implementation",
                   help="implementation the others are compared with (stored; default legacy)")
    p.set_defaults(func=cmd_maintain)

    p = sub.add_parser("baseline", parents=common,
                       help="show the active baselines; --recompute recomputes them all first")
    p.add_argument("--recompute", action="store_true", help="recompute every series' baseline now")
    p.add_argument("--cache", help="only this cache")
    p.add_argument("--implementation", help="only this implementation")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("observations", parents=common, help="the auditor's open observations, worst first")
    p.add_argument("--all", action="store_true", help="the most recent ones, resolved included")
    p.add_argument("--limit", type=_args.positive_int, default=50)
    p.set_defaults(func=cmd_observations)

    p = sub.add_parser("ack", parents=common, help="acknowledge observations (keeps who and when)")
    p.add_argument("ids", type=_args.positive_int, nargs="+", metavar="ID")
    p.add_argument("--by", help="who acknowledges (default: $USER)")
    p.set_defaults(func=cmd_ack)

    p = sub.add_parser("compare", parents=common,
                       help="each implementation against the reference one (legacy vs new)")
    p.add_argument("--window", type=_args.duration, default=timedelta(hours=1), help="e.g. 15m, 1h, 1d")
    p.add_argument("--cache", help="only this cache")
    p.add_argument("--reference", help="reference implementation (default: maintenance_settings, legacy)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("summary", parents=common, help="performance per cache and implementation")
    p.add_argument("--window", type=_args.duration, default=timedelta(hours=1), help="e.g. 30m, 1h, 7d")
    p.add_argument("--implementation", help="only this implementation")
    p.set_defaults(func=cmd_summary)
