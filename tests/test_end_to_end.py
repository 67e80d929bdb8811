"""The whole path against a real PostgreSQL: decorator → OpenTelemetry SDK → exporters → tables."""

from __future__ import annotations

import functools
import random
import re
import time
import uuid

import pytest

from conftest import ROOT, providers, sql_rows, wait_for_minute_room
from otel_supabase_exporter import cached, instrument_cache
from otel_supabase_exporter.store.writer import PostgresWriter
from otel_supabase_exporter.rows import map_spans


def _zipf_keys(n: int, distinct: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    weights = [1.0 / (k ** 1.1) for k in range(1, distinct + 1)]
    return rng.choices(range(distinct), weights=weights, k=n)


def test_one_row_per_operation_and_totals_match_lru_cache_ground_truth(pg_dsn, schema, telemetry):
    keys = _zipf_keys(3_000, 500, seed=7)

    @cached(name="e2e", implementation="new", maxsize=64, **providers(telemetry))
    def ours(k):
        return k * 2

    @functools.lru_cache(maxsize=64)
    def truth(k):
        return k * 2

    for k in keys:
        assert ours(k) == truth(k)
    info = truth.cache_info()
    assert telemetry.force_flush()

    raw = dict(sql_rows(pg_dsn, f'SELECT operation_type, count(*) FROM "{schema}".cache_metrics GROUP BY 1'))
    assert raw["hit"] == info.hits and raw["miss"] == info.misses
    assert raw["set"] == info.misses
    assert raw["evict"] == info.misses - 64
    assert set(raw) == {"hit", "miss", "set", "evict"}

    (agg,) = sql_rows(pg_dsn, f'SELECT sum(hits), sum(misses), sum(sets), sum(evictions), sum(errors),'
                              f' sum(total_operations), sum(latency_count), max(cache_size)'
                              f' FROM "{schema}".cache_metrics_1min WHERE cache_name = %s', ("e2e",))
    assert agg[:5] == (info.hits, info.misses, info.misses, info.misses - 64, 0)
    assert agg[5] == info.hits + 2 * info.misses == len(keys) + info.misses
    assert agg[6] == agg[5]  # every caller operation was timed
    assert agg[7] == 64

    rows = sql_rows(pg_dsn, f'SELECT id, response_time_ms, trace_id, span_id, cache_key_hash, service_name,'
                            f' implementation_type, "timestamp" FROM "{schema}".cache_metrics')
    assert len({r[0] for r in rows}) == len(rows)
    for _id, ms, trace_id, span_id, key_hash, service, impl, ts in rows:
        assert ms is not None and ms >= 0
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id) and re.fullmatch(r"[0-9a-f]{16}", span_id)
        assert re.fullmatch(r"[0-9a-f]{16}", key_hash)
        assert (service, impl) == ("tests", "new")
        assert abs(ts.timestamp() - time.time()) < 120


def test_errors_are_recorded_and_reraised_unchanged(pg_dsn, schema, telemetry):
    class Boom(Exception):
        pass

    @instrument_cache(name="flaky", implementation="legacy", **providers(telemetry))
    class Flaky:
        def get(self, key):
            raise Boom(f"backend down for {key}")

        def set(self, key, value):
            pass

    cache = Flaky()
    with pytest.raises(Boom, match="backend down for k1"):
        cache.get("k1")
    cache.set("k1", b"abc")
    assert cache.get.__name__ == "get"
    telemetry.force_flush()
    rows = sql_rows(pg_dsn, f'SELECT operation_type, error_type, error_message, item_size_bytes'
                            f' FROM "{schema}".cache_metrics ORDER BY "timestamp"')
    assert rows == [("error", "test_errors_are_recorded_and_reraised_unchanged.<locals>.Boom",
                     "backend down for k1", None), ("set", None, None, 3)]
    (agg,) = sql_rows(pg_dsn, f'SELECT errors, sets, hits + misses FROM "{schema}".cache_metrics_1min')
    assert agg == (1, 1, 0)
    events = sql_rows(pg_dsn, f'SELECT event_type, data->>\'span_name\' FROM "{schema}".monitoring_events'
                              " WHERE event_type <> 'metric'")  # metric events: the exporters' own counters
    assert events == [("exception", "cache.get")]


def test_percentiles_within_5_percent_of_exact_raw_percentiles(pg_dsn, schema, telemetry):
    rng = random.Random(3)
    durations = [rng.lognormvariate(-9.5, 1.0) for _ in range(1500)]  # ~75 µs median, long tail

    @instrument_cache(name="latency", implementation="new", **providers(telemetry))
    class Slow:
        def get(self, key):
            end = time.perf_counter() + durations[key]
            while time.perf_counter() < end:
                pass
            return key

    cache = Slow()
    wait_for_minute_room(20)
    for i in range(len(durations)):
        cache.get(i)
    telemetry.force_flush()

    rows = sql_rows(pg_dsn, f'SELECT minute_window, p50_response_time_ms, p95_response_time_ms,'
                            f' p99_response_time_ms, latency_count FROM "{schema}".cache_metrics_1min')
    assert len(rows) == 1
    minute, p50, p95, p99, count = rows[0]
    (exact,) = sql_rows(
        pg_dsn,
        f'SELECT percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms), count(*)'
        f' FROM "{schema}".cache_metrics WHERE "timestamp" >= %s AND "timestamp" < %s + interval \'1 minute\'',
        (minute, minute))
    assert exact[1] == count == len(durations)
    for estimate, truth in zip((p50, p95, p99), exact[0]):
        assert abs(estimate - truth) / truth < 0.05, (estimate, truth)


WRITER = """
import sys
from otel_supabase_exporter import configure, instrument_cache
telemetry = configure(sys.argv[1], schema=sys.argv[2], service_name="shared-service", set_global=False)
cache = instrument_cache({}, name="shared", implementation="new",
                         tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
for i in range(200):
    cache[i] = i
for i in range(300):
    cache.get(i)
telemetry.shutdown()
"""


def test_two_processes_same_minute_merge_into_one_row(pg_dsn, schema, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    wait_for_minute_room(40)
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, str(script), pg_dsn, schema], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    rows = sql_rows(pg_dsn, f'SELECT minute_window, service_name, hits, misses, sets, latency_count, cache_size'
                            f' FROM "{schema}".cache_metrics_1min WHERE cache_name = %s', ("shared",))
    assert len(rows) == 1, rows
    assert rows[0][1:] == ("shared-service", 400, 200, 400, 1000, 200)
    raw = sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics WHERE cache_name = %s', ("shared",))
    assert raw[0][0] == 1000


def test_replayed_batches_are_not_counted_twice(pg_dsn, schema, telemetry):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from otel_supabase_exporter.sdk.exporters import DELTA_TEMPORALITY, HISTOGRAM_AGGREGATION
    from opentelemetry.sdk.metrics import Histogram
    from otel_supabase_exporter.rows import map_metrics

    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader(preferred_temporality=DELTA_TEMPORALITY,
                                  preferred_aggregation={Histogram: HISTOGRAM_AGGREGATION})
    mp = MeterProvider(metric_readers=[reader])
    cache = instrument_cache({}, name="replay", tracer_provider=tp, meter_provider=mp)
    for i in range(50):
        cache[i] = i
        cache.get(i)
    writer = PostgresWriter(telemetry.settings)
    span_rows = map_spans(spans.get_finished_spans())
    first = writer.write_spans(span_rows.cache_rows, span_rows.event_rows)
    again = writer.write_spans(span_rows.cache_rows, span_rows.event_rows)
    assert (first.written, again.written, again.duplicates) == (100, 0, 100)

    metric_rows = map_metrics(reader.get_metrics_data())
    batch = uuid.uuid4()
    writer.write_minutes(metric_rows.minute_rows, metric_rows.event_rows, batch)
    replay = writer.write_minutes(metric_rows.minute_rows, metric_rows.event_rows, batch)
    assert replay.written == 0
    (agg,) = sql_rows(pg_dsn, f'SELECT sum(hits), sum(sets) FROM "{schema}".cache_metrics_1min'
                              f' WHERE cache_name = %s', ("replay",))
    assert agg == (50, 50)
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics WHERE cache_name = %s',
                    ("replay",))[0][0] == 100


def test_log_records_and_other_spans_land_in_monitoring_events(pg_dsn, schema, telemetry):
    import logging

    from opentelemetry.sdk._logs import LoggingHandler

    logger = logging.getLogger("e2e-logs")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=telemetry.logger_provider))
    logger.warning("disk %s is full", "/var")
    with telemetry.tracer_provider.get_tracer("app").start_as_current_span("handle-request", attributes={"n": 1}):
        pass
    telemetry.force_flush()
    rows = sql_rows(pg_dsn, f'SELECT event_type, source, data FROM "{schema}".monitoring_events'
                            " WHERE event_type <> 'metric' ORDER BY event_type")
    assert [(r[0], r[1]) for r in rows] == [("log", "tests"), ("span", "tests")]
    assert rows[0][2]["body"] == "disk /var is full" and rows[0][2]["severity"] == "WARN"
    assert rows[1][2]["name"] == "handle-request" and rows[1][2]["attributes"] == {"n": 1}
