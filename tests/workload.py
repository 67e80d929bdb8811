"""A steady cache workload in its own process, for the fault-injection tests.

Prints one JSON line at the end: operations performed, per-operation latency figures,
and the exporters' counters. Configured from OTEL_EXPORTER_SUPABASE_* like an application.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time

from otel_supabase_exporter import configure, instrument_cache


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rate", type=float, default=500, help="operations per second per thread")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="faults")
    parser.add_argument("--no-telemetry", action="store_true", help="the same workload without monitoring")
    parser.add_argument("--work-us", type=float, default=0, help="busy work per operation (µs)")
    args = parser.parse_args()

    telemetry = None if args.no_telemetry else configure(service_name="faults", export_interval_s=1)
    store: dict = {}
    cache = store if args.no_telemetry else instrument_cache(store, name=args.name, implementation="new")
    counts = [0] * args.threads
    latencies: list[list[float]] = [[] for _ in range(args.threads)]
    stop_at = time.monotonic() + args.seconds

    def run(t: int) -> None:
        interval = 1.0 / args.rate
        next_at = time.monotonic()
        i = 0
        while time.monotonic() < stop_at:
            key = f"{t}:{i % 300}"
            t0 = time.perf_counter()
            if cache.get(key) is None:
                cache[key] = i
                counts[t] += 1
            counts[t] += 1
            if args.work_us:  # the application's own work, after the cache call
                end = time.perf_counter() + args.work_us / 1e6
                while time.perf_counter() < end:
                    pass
            latencies[t].append(time.perf_counter() - t0)
            i += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    shutdown_started = time.monotonic()
    stats = {}
    if telemetry is not None:
        telemetry.shutdown()
        stats = telemetry.stats()
    all_latencies = sorted(x for per in latencies for x in per)
    print(json.dumps({
        "ops": sum(counts),
        "shutdown_s": time.monotonic() - shutdown_started,
        "latency_us": {
            "p50": statistics.median(all_latencies) * 1e6,
            "p99": all_latencies[int(0.99 * (len(all_latencies) - 1))] * 1e6,
            "max": all_latencies[-1] * 1e6,
        },
        "stats": stats,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
