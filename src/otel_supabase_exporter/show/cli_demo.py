"""``otel-supabase-exporter demo``: history, faults, the live workload and the auditor's observations
(:func:`..demo.run_demo`); with ``--dashboard`` watched live, with ``--screenshot`` saved as a PNG."""

from __future__ import annotations

import argparse
import threading
from typing import Callable

from ..settings import Settings
from ..store import migrations
from ..store.connect import connect
from . import _args

DEFAULT_PORT = 8787


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    settings = Settings.from_env(dsn=args.dsn, schema=args.schema)

    def demo() -> None:
        run_demo(settings, seconds=args.seconds, service_name=args.service_name, history_days=args.history_days)

    if not args.dashboard and not args.screenshot:
        demo()
        return 0
    from .dashboard import Dashboard

    if args.screenshot:
        from .screenshot import find_chromium

        find_chromium(args.chromium)  # before the demo runs, not after
    with connect(settings) as conn:
        migrations.migrate(conn, settings.schema)
    port = args.port if args.port is not None else 0 if args.screenshot else DEFAULT_PORT
    board = Dashboard(settings, host=args.host, port=port, token=args.token,
                      allowed_hosts=args.allowed_host).start()
    print(f"dashboard: {board.url}  (Ctrl-C to stop)", flush=True)
    try:
        demo()
        if args.screenshot:
            from .screenshot import save_screenshot

            url = board.url + (f"?{args.screenshot_query.lstrip('?')}" if args.screenshot_query else "")
            print(f"\nsaving a screenshot of {url} ...", flush=True)
            path = save_screenshot(url, args.screenshot, chromium=args.chromium, settle_s=args.settle)
            print(f"saved {path}", flush=True)
            return 0
        print(f"\nthe workload is done; the dashboard stays at {board.url} until Ctrl-C", flush=True)
        threading.Event().wait()
    finally:
        board.stop()
    return 0


def add_commands(sub: "argparse._SubParsersAction", common: list[argparse.ArgumentParser],
                 server_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``demo``; ``server_options`` adds the dashboard's --host, --port, --token, --allowed-host."""
    from ..demo.run import DEFAULT_HISTORY_DAYS, DEFAULT_SECONDS

    p = sub.add_parser("demo", parents=common,
                       help="backfill history, inject faults, run a legacy-vs-new semantic cache workload "
                            "through the real pipeline, print the auditor's observations")
    p.add_argument("--seconds", type=_args.positive_seconds, default=DEFAULT_SECONDS,
                   help=f"how long the live workload runs (default {DEFAULT_SECONDS:g})")
    p.add_argument("--history-days", type=_args.history_days, default=DEFAULT_HISTORY_DAYS, metavar="DAYS",
                   help=f"days of 1-minute history to backfill first (default {DEFAULT_HISTORY_DAYS:g}; 0 skips it, "
                        "and without history there is no baseline to judge against)")
    p.add_argument("--service-name", default="otel-supabase-demo")
    p.add_argument("--dashboard", action="store_true", help="serve the dashboard while the demo runs, and after")
    p.add_argument("--screenshot", metavar="PNG",
                   help="serve the dashboard (on a free port unless --port is given), run the demo, save a "
                        "full-page PNG of it from headless Chromium, and exit")
    p.add_argument("--screenshot-query", default="", metavar="QUERY",
                   help="query string appended to the dashboard's URL for the screenshot")
    p.add_argument("--settle", type=_args.positive_seconds, default=8.0, metavar="SECONDS",
                   help="how long the page is given after it has loaded, before the screenshot (default 8)")
    p.add_argument("--chromium", default=None, metavar="PATH", help="the Chromium binary (default /usr/bin/chromium)")
    server_options(p)
    p.set_defaults(func=cmd_demo, port=None)  # --port's default: 8787, or a free port for --screenshot
