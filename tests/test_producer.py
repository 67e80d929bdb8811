"""The pre-aggregated hot path: what standard SDK readers receive from it, in either temporality."""

from __future__ import annotations

import math
import os
import random
import threading
import time

import pytest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    InMemoryMetricReader,
)

from otel_supabase_exporter import instrument_cache
from otel_supabase_exporter.instrument._collection import histogram_of
from otel_supabase_exporter.instrument.producer import SCALE, SLOT, Accumulator

from conftest import run_python

DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}


def _points(reader: InMemoryMetricReader, name: str) -> dict[tuple, object]:
    out = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    for p in m.data.data_points:
                        a = p.attributes
                        out[(a["cache.name"], a["cache.operation"], a["cache.result"])] = p
    return out


def test_cumulative_and_delta_readers_on_one_provider_each_get_exact_standard_metrics():
    cumulative, delta = InMemoryMetricReader(), InMemoryMetricReader(preferred_temporality=DELTA)
    mp = MeterProvider(metric_readers=[cumulative, delta])
    cache = instrument_cache({}, name="both", meter_provider=mp, spans=False)
    for i in range(10):
        cache[i] = i
    for i in range(15):
        cache.get(i)

    first_c, first_d = _points(cumulative, "cache.operations"), _points(delta, "cache.operations")
    expected = {("both", "set", "ok"): 10, ("both", "get", "hit"): 10, ("both", "get", "miss"): 5}
    assert {k: p.value for k, p in first_c.items()} == expected
    assert {k: p.value for k, p in first_d.items()} == expected

    cache.get(1)
    second_c, second_d = _points(cumulative, "cache.operations"), _points(delta, "cache.operations")
    assert second_c[("both", "get", "hit")].value == 11  # cumulative keeps growing
    assert {k: p.value for k, p in second_d.items()} == {("both", "get", "hit"): 1}  # delta: this interval
    assert second_d[("both", "get", "hit")].start_time_unix_nano == first_d[("both", "get", "hit")].time_unix_nano
    assert _points(delta, "cache.operations") == {}  # nothing new: no points

    hist = _points(cumulative, "cache.operation.duration")[("both", "get", "hit")]
    assert isinstance(hist, ExponentialHistogramDataPoint)
    assert hist.count == 11 == sum(hist.positive.bucket_counts) + hist.zero_count
    assert 0 < hist.min <= hist.sum / hist.count <= hist.max


def test_histogram_buckets_follow_the_opentelemetry_definition_and_exact_min_max_sum():
    acc = Accumulator(("h", "x"))
    rng = random.Random(5)
    durations = [int(rng.lognormvariate(11, 1.5)) + 1 for _ in range(5000)]
    for d in durations:
        acc.record(SLOT[("get", "hit")], d)
    snap = acc.drain()
    slot = SLOT[("get", "hit")]
    assert snap.counts[slot] == 5000 and snap.sums[slot] == sum(durations)
    assert snap.mins[slot] == min(durations) and snap.maxs[slot] == max(durations)
    hist = histogram_of(snap.buckets[slot])
    assert hist.total == 5000 and len(hist.counts) <= 320
    base = 2 ** (2 ** -hist.scale)
    # every value lies in its bucket (base^i, base^(i+1)], counted once
    expected = [0] * len(hist.counts)
    for d in durations:
        index = math.ceil(math.log(d / 1e9, base)) - 1
        expected[index - hist.index_offset] += 1
    mismatches = sum(abs(a - b) for a, b in zip(expected, hist.counts))
    assert mismatches <= 2  # floating-point ties at exact bucket boundaries only
    assert hist.scale <= SCALE
    assert acc.drain().empty()  # drained means empty


def test_concurrent_threads_lose_no_count():
    acc = Accumulator(("t", "x"))
    slot = SLOT[("get", "miss")]

    def work():
        for i in range(20_000):
            acc.record(slot, 1000 + i)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = acc.drain()
    assert snap.counts[slot] == 160_000 == sum(snap.buckets[slot].values())
    assert snap.sums[slot] == 8 * sum(range(1000, 21_000))


def test_drains_while_threads_record_count_every_operation_once():
    # record() takes no lock: what concurrent drains (the collector) take, plus what is left, is
    # exactly what was recorded, threads that have exited included.
    acc = Accumulator(("c", "x"))
    slot = SLOT[("get", "hit")]
    snaps, done = [], threading.Event()

    def work(n):
        for i in range(n):
            acc.record(slot, 1 + (i * 7919) % 40_000)  # below and above the bucket table

    def drain():
        while not done.is_set():
            snaps.append(acc.drain())

    drainer = threading.Thread(target=drain)
    drainer.start()
    threads = [threading.Thread(target=work, args=(10_000 + 1_000 * k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    drainer.join()
    snaps.append(acc.drain())
    total = sum(s.counts[slot] for s in snaps)
    expected = [1 + (i * 7919) % 40_000 for k in range(6) for i in range(10_000 + 1_000 * k)]
    assert total == len(expected) == sum(sum(s.buckets[slot].values()) for s in snaps)
    assert sum(s.sums[slot] for s in snaps) == sum(expected)
    assert min(s.mins[slot] for s in snaps if s.counts[slot]) == min(expected)
    assert max(s.maxs[slot] for s in snaps) == max(expected)
    assert all(s.firsts[slot] for s in snaps if s.counts[slot])  # every point has a start time


def test_bucket_table_agrees_with_the_formula_and_zero_durations_are_zeros():
    from otel_supabase_exporter.instrument import producer

    assert all(producer._INDEX[d] == producer._bucket_index(d) for d in range(1, producer._TABLE_NS))
    acc = Accumulator(("z", "x"))
    slot = SLOT[("set", "ok")]
    for d in (0, 5, -3, 20_000, 0):
        acc.record(slot, d)
    snap = acc.drain()
    assert snap.counts[slot] == 5 and snap.zeros[slot] == 3 and snap.sums[slot] == 20_005
    assert snap.mins[slot] == 0 and snap.maxs[slot] == 20_000
    assert dict(snap.buckets[slot]) == {producer._bucket_index(5): 1, producer._bucket_index(20_000): 1}


def test_first_delta_starts_at_the_first_operation_not_at_instrumentation_time():
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    mp = MeterProvider(metric_readers=[reader])
    cache = instrument_cache({}, name="late", meter_provider=mp, spans=False)
    time.sleep(0.3)
    before = time.time_ns()
    cache.get("k")
    point = _points(reader, "cache.operations")[("late", "get", "miss")]
    assert point.start_time_unix_nano >= before


@pytest.mark.parametrize("order", ["provider-first", "instrument-first"])
def test_global_provider_set_before_or_after_instrumenting_sees_the_metrics(order):
    # A fresh interpreter: the global meter provider can be set once per process.
    script = f"""
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
reader = InMemoryMetricReader()
if {order!r} == "provider-first":
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # before our package is imported
from otel_supabase_exporter import instrument_cache
cache = instrument_cache({{}}, name="g", spans=False)
if {order!r} == "instrument-first":
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
cache["a"] = 1
cache.get("a"); cache.get("b")
counts = {{}}
for rm in reader.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            if m.name == "cache.operations":
                for p in m.data.data_points:
                    counts[p.attributes["cache.result"]] = p.value
print(sorted(counts.items()))
"""
    result = run_python(["-c", script], env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('hit', 1), ('miss', 1), ('ok', 1)]"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_counts_only_its_own_operations_through_the_lists_held_before_the_fork():
    from otel_supabase_exporter.instrument.producer import Producer

    producer = Producer()  # kept: the fork hook holds producers weakly
    acc = producer.accumulator("fork", "x")
    slot = SLOT[("get", "hit")]
    held = acc.logs[slot]  # as Operation.call holds it
    for i in range(300):  # one fold and 44 pending at the fork
        acc.record(slot, 1000 + i)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            acc.record(slot, 5)
            held.append(7)
            snap = acc.drain()
            ok = snap.counts[slot] == 2 and snap.sums[slot] == 12 and acc.logs[slot] is held
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    snap = acc.drain()
    assert snap.counts[slot] == 300 and snap.sums[slot] == sum(range(1000, 1300))
