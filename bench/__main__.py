"""Run the benchmarks and print one table each: ``python -m bench [--quick | --full | --smoke] [--only a,b]``;
``python -m bench --chaos [--quick | --full]``: the chaos suite's faults, longer (needs root)."""

from __future__ import annotations

import argparse
import sys
import time

from . import auditor, export, gateway, hotpath, ingest, memory, queries, rls, scaleout
from .common import database, machine

SUITES = {
    "hotpath": lambda dsn, mode: hotpath.run(mode),
    "ingest": ingest.run,
    "export": export.run,
    "queries": queries.run,
    "scaleout": scaleout.run,
    "memory": memory.run,
    "auditor": auditor.run,
    "auditor_cost": auditor.costs,
    "rls": rls.run,
    "gateway": gateway.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="mode", const="quick", help="a few minutes (default)")
    size.add_argument("--full", action="store_const", dest="mode", const="full", help="the sizes of docs/benchmarks.md")
    size.add_argument("--smoke", action="store_const", dest="mode", const="smoke", help="seconds: checks they run")
    parser.add_argument("--only", default=",".join(SUITES), help=f"comma-separated subset of {', '.join(SUITES)}")
    parser.add_argument("--chaos", action="store_true", help="only the chaos runs (bench/chaos.py; needs root)")
    args = parser.parse_args(argv)
    mode = args.mode or "quick"
    chosen = ["chaos"] if args.chaos else [name.strip() for name in args.only.split(",") if name.strip()]
    if args.chaos:
        from . import chaos

        SUITES["chaos"] = chaos.run
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    print(f"# otel-supabase-exporter benchmarks ({mode}) — {machine()}\n", flush=True)
    started = time.perf_counter()
    with database() as dsn:
        for name in chosen:
            t0 = time.perf_counter()
            table = SUITES[name](dsn, mode)
            print(table.render(), flush=True)
            print(f"\n({name}: {time.perf_counter() - t0:.0f} s)\n", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
