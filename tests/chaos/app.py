"""The application of the chaos tests: an instrumented dict cache read at a steady rate, configured
from OTEL_EXPORTER_SUPABASE_* like any service, counting each operation in a :class:`Truth`.

    python tests/chaos/app.py --truth DIR [--seconds S] [--rate R] [--fork N | --mp N] [--no-shutdown]

``--fork N``: after some operations in the parent (pending in its accumulators and span queue),
fork N children with ``os.fork``; each works, shuts down and ``os._exit``s. ``--mp N``: the same
with ``multiprocessing`` ('fork' start method) and no shutdown in the children. The parent
reports {"ops", "stats", "shutdown_s"} as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from truth import Truth  # noqa: E402

from bench.workload import Pacer  # noqa: E402

from otel_supabase_exporter import configure, instrument_cache  # noqa: E402


def work(cache, truth: Truth, seconds: float, rate: float) -> int:
    pacer = Pacer(rate)
    stop_at = time.monotonic() + seconds
    i = 0
    while time.monotonic() < stop_at:
        cache.get(f"k{i % 100}")
        truth.add()
        i += 1
        pacer.tick()
    return i


def _mp_child(cache, truth_dir: str, seconds: float, rate: float) -> None:
    work(cache, Truth(truth_dir), seconds, rate)  # returns without shutdown: multiprocessing os._exit()s


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--truth", required=True)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--name", default="chaos")
    parser.add_argument("--fork", type=int, default=0)
    parser.add_argument("--mp", type=int, default=0)
    parser.add_argument("--no-shutdown", action="store_true")
    args = parser.parse_args()
    telemetry = configure(service_name="chaos", export_interval_s=1)
    store = {f"k{i}": i for i in range(100)}
    cache = instrument_cache(store, name=args.name, implementation="new")
    truth = Truth(args.truth)
    ops = work(cache, truth, min(args.seconds, 0.5) if (args.fork or args.mp) else args.seconds, args.rate)
    if args.fork:
        children = []
        for _ in range(args.fork):
            pid = os.fork()
            if pid == 0:
                work(cache, Truth(args.truth), args.seconds, args.rate)
                telemetry.shutdown()
                os._exit(0)
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
    if args.mp:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_mp_child, args=(cache, args.truth, args.seconds, args.rate))
                 for _ in range(args.mp)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
            assert p.exitcode == 0
    started = time.monotonic()
    if not args.no_shutdown:
        telemetry.shutdown()
    print(json.dumps({"ops": ops, "stats": telemetry.stats(), "shutdown_s": time.monotonic() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
