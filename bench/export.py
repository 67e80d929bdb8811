"""Metric export: one 1-minute export of 1,000 series (map + upsert-merge), and the same minute
merged from 10 and 100 processes' worth of exports (4 processes at a time)."""

from __future__ import annotations

import multiprocessing
import random
import statistics
import time

import psycopg
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from psycopg import sql

from otel_supabase_exporter import SupabaseMetricExporter, instrument_cache, migrate

from .common import Table, p95

SERIES = 1_000
DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}


def minute_of_metrics(series: int = SERIES):
    """One collection of ``series`` caches (hits, misses, sets, sizes) as a delta MetricsData."""
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "bench"}))
    rng = random.Random(2)
    caches = [instrument_cache({}, name=f"cache-{i:04d}", implementation="new", meter_provider=provider,
                               spans=False) for i in range(series)]
    for cache in caches:
        for _ in range(20):
            k = rng.randrange(30)
            if cache.get(k) is None:
                cache[k] = k
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def _export_many(dsn: str, schema: str, count: int, queue) -> None:
    data = minute_of_metrics()
    exporter = SupabaseMetricExporter(dsn, schema=schema)
    exporter.export(data)  # connect and warm up outside the timing
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        exporter.export(data)
        times.append(time.perf_counter() - t0)
    queue.put(times)


def run(dsn: str, mode: str = "quick") -> Table:
    schema = "bench_export"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        migrate(conn, schema)
    data = minute_of_metrics()
    exporter = SupabaseMetricExporter(dsn, schema=schema)
    exporter.export(data)  # warm: pool, prepared types
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {}.cache_metrics_1min").format(sql.Identifier(schema)))

    table = Table(f"Metric export: one collection of {SERIES:,} series into cache_metrics_1min",
                  ["case", "exports", "median ms/export", "p95 ms/export", "series merged/s", "sums exact"])
    times = []
    for i in range({"smoke": 2, "quick": 7, "full": 21}[mode]):
        t0 = time.perf_counter()
        exporter.export(data)
        times.append(time.perf_counter() - t0)
    exporter.shutdown()
    first = times[0]
    table.add("first export (1,000 new rows)", 1, first * 1000, first * 1000, SERIES / first, "")
    rest = times[1:]
    table.add("later exports (merge into existing rows)", len(rest), statistics.median(rest) * 1000,
              p95(rest) * 1000, SERIES / statistics.median(rest), "")

    ctx = multiprocessing.get_context("spawn")
    for processes in (4,) if mode == "smoke" else (10, 100):
        workers = 4
        per_worker = [processes // workers + (1 if i < processes % workers else 0) for i in range(workers)]
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("TRUNCATE {}.cache_metrics_1min").format(sql.Identifier(schema)))
        queue = ctx.Queue()
        procs = [ctx.Process(target=_export_many, args=(dsn, schema, n, queue)) for n in per_worker]
        for p in procs:
            p.start()
        all_times = []
        for _ in procs:
            all_times += queue.get()
        for p in procs:
            p.join()
        with psycopg.connect(dsn, autocommit=True) as conn:
            total, series = conn.execute(sql.SQL("SELECT sum(total_operations), count(DISTINCT cache_name)"
                                                 " FROM {}.cache_metrics_1min").format(sql.Identifier(schema))
                                         ).fetchone()
        expected = _operations(data) * (processes + workers)  # + each worker's warm-up export
        table.add(f"{processes} processes' worth ({workers} at a time)", processes, statistics.median(all_times) * 1000,
                  p95(all_times) * 1000, SERIES * processes / sum(all_times) * workers,
                  "yes" if total == expected and series == SERIES else f"NO ({total} vs {expected}, {series} series)")
    table.notes.append("series merged/s for the concurrent cases: per-export throughput × the writers at work.")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return table


def _operations(data) -> int:
    total = 0
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == "cache.operations":
                    total += sum(p.value for p in m.data.data_points)
    return total


if __name__ == "__main__":
    from .common import database

    with database() as dsn:
        print(run(dsn).render())
