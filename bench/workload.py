"""A steady cache workload in its own process (fault-injection tests, scale-out and memory
benchmarks), and the helpers that start it and count what reached the database.

The process prints one JSON line at the end: operations performed, per-operation latency
figures, and the exporters' counters. It is configured from OTEL_EXPORTER_SUPABASE_* like
an application.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from otel_supabase_exporter import configure, instrument_cache

ROOT = Path(__file__).resolve().parents[1]
RESERVOIR = 20_000


class Pacer:
    """Sleeps so that calls of :meth:`tick` happen ``rate`` times a second (0: no pause)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()

    def tick(self) -> None:
        if self.interval:
            self.next_at += self.interval
            delay = self.next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rate", type=float, default=500, help="operations per second per thread (0: as fast as it can)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="faults")
    parser.add_argument("--no-telemetry", action="store_true", help="the same workload without monitoring")
    parser.add_argument("--work-us", type=float, default=0, help="busy work per operation (µs)")
    parser.add_argument("--replay-only", type=float, default=0, metavar="SECONDS",
                        help="no workload: wait (at most SECONDS) until the spool left by others is replayed")
    args = parser.parse_args()
    if args.replay_only:
        telemetry = configure(service_name="replayer", export_interval_s=1)
        deadline = time.monotonic() + args.replay_only
        while telemetry.stats()["spool"]["segments"] and time.monotonic() < deadline:
            time.sleep(0.2)
        telemetry.shutdown()
        print(json.dumps({"ops": 0, "stats": telemetry.stats()}))
        return 0

    telemetry = None if args.no_telemetry else configure(service_name="faults", export_interval_s=1)
    store: dict = {}
    cache = store if args.no_telemetry else instrument_cache(store, name=args.name, implementation="new")
    counts = [0] * args.threads
    # A fixed-size uniform sample of per-operation latencies (reservoir), and the exact maximum:
    # the workload's own bookkeeping must not grow with time (the memory benchmark watches it).
    latencies: list[list[float]] = [[] for _ in range(args.threads)]
    worst = [0.0] * args.threads
    stop_at = time.monotonic() + args.seconds

    def run(t: int) -> None:
        rng = random.Random(t)
        pacer = Pacer(args.rate)
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
            elapsed = time.perf_counter() - t0
            worst[t] = max(worst[t], elapsed)
            sample = latencies[t]
            if len(sample) < RESERVOIR:
                sample.append(elapsed)
            else:
                j = rng.randrange(i + 1)
                if j < RESERVOIR:
                    sample[j] = elapsed
            i += 1
            pacer.tick()

    if telemetry is not None and os.environ.get("OTEL_BENCH_DEBUG"):
        def debug() -> None:  # queue depth and memory, once a second, to stderr
            processor = telemetry.tracer_provider._active_span_processor._span_processors[0]
            queue = processor._batch_processor._queue
            while time.monotonic() < stop_at + 5:
                with open("/proc/self/status") as fh:
                    rss = next(line.split()[1] for line in fh if line.startswith("VmRSS"))
                print(f"t={time.monotonic() - stop_at:+.0f}s queue={len(queue)} rss_kb={rss}", file=sys.stderr,
                      flush=True)
                time.sleep(1)
        threading.Thread(target=debug, daemon=True).start()

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
            "max": max(worst) * 1e6,
        },
        "stats": stats,
    }))
    return 0


def run_workload(dsn: str, schema: str, spool: Path, *args: str, timeout: float = 300,
             extra_env: dict[str, str] | None = None) -> dict:
    """Run this workload in a process to completion; returns its JSON report."""
    proc = start_workload(dsn, schema, spool, *args, extra_env=extra_env)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def start_workload(dsn: str, schema: str, spool: Path, *args: str,
                   extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start this workload as an application configured from the environment."""
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_DSN": dsn, "OTEL_EXPORTER_SUPABASE_SCHEMA": schema,
           "OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(spool), "OTEL_EXPORTER_SUPABASE_TIMEOUT": "2",
           "PYTHONPATH": str(ROOT), **(extra_env or {})}
    return subprocess.Popen([sys.executable, str(Path(__file__)), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def totals(dsn: str, schema: str, name: str | None = None) -> tuple[int, int, int]:
    """(raw rows that are operations, their distinct ids, 1-minute total operations)."""
    where = "" if name is None else " AND cache_name = %(name)s"
    with psycopg.connect(dsn, autocommit=True) as conn:
        raw, distinct = conn.execute(
            f'SELECT count(*), count(DISTINCT id) FROM "{schema}".cache_metrics'
            f" WHERE operation_type <> 'evict'{where}", {"name": name}).fetchone()
        minute = conn.execute(
            f'SELECT coalesce(sum(total_operations), 0) FROM "{schema}".cache_metrics_1min WHERE true{where}',
            {"name": name}).fetchone()[0]
    return raw, distinct, int(minute)


if __name__ == "__main__":
    sys.exit(main())
