"""Hot-path overhead per cache operation: ours vs the naive OpenTelemetry pattern, same run, same workload."""

from __future__ import annotations

import collections
import gc
import time
from typing import Callable

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NoOpTracerProvider

from otel_supabase_exporter import instrument_cache
from otel_supabase_exporter.sdk.reader import cache_views

from .common import Table, zipf_keys


class LRU:
    """The cache under test: a plain in-process LRU with get/set."""

    def __init__(self, maxsize: int) -> None:
        self.data: collections.OrderedDict = collections.OrderedDict()
        self.maxsize = maxsize

    def get(self, key):
        data = self.data
        if key in data:
            data.move_to_end(key)
            return data[key]
        return None

    def set(self, key, value) -> None:
        data = self.data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self.maxsize:
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self.data)


class _NullExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


def _tracer_provider(sampler) -> TracerProvider:
    # A synchronous processor with an exporter that does nothing: every finished span costs the
    # same in every variant, and none is dropped (a BatchSpanProcessor drops when its queue is full).
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(_NullExporter()))
    return provider


def _meter_provider() -> MeterProvider:
    return MeterProvider(metric_readers=[InMemoryMetricReader()], views=cache_views())


def _workload(cache, keys: list[int]) -> None:
    get, set_ = cache.get, cache.set
    for k in keys:
        if get(k) is None:
            set_(k, k)


def _naive(meter_provider, tracer_provider=None):
    meter = meter_provider.get_meter("naive")
    counter = meter.create_counter("cache.operations")
    histogram = meter.create_histogram("cache.operation.duration", unit="s")
    tracer = tracer_provider.get_tracer("naive") if tracer_provider else None
    perf = time.perf_counter
    hit = {"cache.name": "bench", "cache.operation": "get", "cache.result": "hit"}
    miss = {"cache.name": "bench", "cache.operation": "get", "cache.result": "miss"}
    ok = {"cache.name": "bench", "cache.operation": "set", "cache.result": "ok"}

    class Naive(LRU):
        def get(self, key):
            t0 = perf()
            if tracer is not None:
                with tracer.start_as_current_span("cache.get"):
                    value = LRU.get(self, key)
            else:
                value = LRU.get(self, key)
            attrs = miss if value is None else hit
            counter.add(1, attrs)
            histogram.record(perf() - t0, attrs)
            return value

        def set(self, key, value):
            t0 = perf()
            if tracer is not None:
                with tracer.start_as_current_span("cache.set"):
                    LRU.set(self, key, value)
            else:
                LRU.set(self, key, value)
            counter.add(1, ok)
            histogram.record(perf() - t0, ok)

    return Naive


def _prometheus():
    """prometheus_client's pre-bound pattern: labels resolved once, ``inc`` and ``observe`` per call."""
    import prometheus_client as prom

    registry = prom.CollectorRegistry()
    counter = prom.Counter("cache_operations", "ops", ["name", "operation", "result"], registry=registry)
    histogram = prom.Histogram("cache_operation_seconds", "s", ["name", "operation", "result"], registry=registry)
    bound = {k: (counter.labels("bench", *k), histogram.labels("bench", *k))
             for k in (("get", "hit"), ("get", "miss"), ("set", "ok"))}
    (hit_c, hit_h), (miss_c, miss_h), (ok_c, ok_h) = bound.values()
    perf = time.perf_counter

    class Prometheus(LRU):
        def get(self, key):
            t0 = perf()
            value = LRU.get(self, key)
            if value is None:
                miss_c.inc()
                miss_h.observe(perf() - t0)
            else:
                hit_c.inc()
                hit_h.observe(perf() - t0)
            return value

        def set(self, key, value):
            t0 = perf()
            LRU.set(self, key, value)
            ok_c.inc()
            ok_h.observe(perf() - t0)

    return Prometheus


def _variants() -> list[tuple[str, Callable[[], object]]]:
    def ours(tracer_provider):
        def make():
            return instrument_cache(LRU(1000), name="bench", implementation="new",
                                    tracer_provider=tracer_provider, meter_provider=_meter_provider())
        return make

    return [
        ("no instrumentation", lambda: LRU(1000)),
        ("ours, metrics only", ours(NoOpTracerProvider())),
        ("ours, metrics + spans (sampler off: parent-based always off)", ours(_tracer_provider(ParentBased(ALWAYS_OFF)))),
        ("ours, metrics + spans (1% ratio sampler)", ours(_tracer_provider(ParentBased(TraceIdRatioBased(0.01))))),
        ("ours, metrics + spans (default: always on)", ours(_tracer_provider(ParentBased(ALWAYS_ON)))),
        ("prometheus_client: pre-bound Counter.inc + Histogram.observe", lambda: _prometheus()(1000)),
        ("naive: Counter.add + Histogram.record", lambda: _naive(_meter_provider())(1000)),
        ("naive: same + start_as_current_span", lambda: _naive(_meter_provider(),
                                                                _tracer_provider(ParentBased(ALWAYS_ON)))(1000)),
    ]


def _ops(keys: list[int]) -> int:
    """Operations the workload performs on an LRU of 1,000 (one get per key, a set per miss)."""
    plain = LRU(1000)
    n = 0
    for k in keys:
        n += 1
        if plain.get(k) is None:
            plain.set(k, k)
            n += 1
    return n


def run(mode: str = "quick") -> Table:
    n = {"smoke": 5_000, "quick": 50_000, "full": 300_000}[mode]
    rounds = {"smoke": 2, "quick": 7, "full": 11}[mode]
    keys = zipf_keys(n, distinct=5_000)
    ops = _ops(keys)
    variants = _variants()
    caches = [(label, make()) for label, make in variants]
    for _, cache in caches:  # warm: fill the caches, create the series
        _workload(cache, keys[: n // 5])
    # The workload in slices of 2,500 keys; every round runs each slice on every variant in turn.
    # A variant's time is the sum over slices of its best round: on a shared machine a short slice
    # is more often undisturbed than a whole run, and both sides of every ratio are measured alike.
    slices = [keys[i:i + 2_500] for i in range(0, n, 2_500)]
    best = {label: [float("inf")] * len(slices) for label, _ in caches}
    gc.collect()
    for _ in range(rounds):
        for i, part in enumerate(slices):
            for label, cache in caches:
                gc.disable()
                t0 = time.perf_counter_ns()
                _workload(cache, part)
                elapsed = time.perf_counter_ns() - t0
                gc.enable()
                best[label][i] = min(best[label][i], elapsed)
    best = {label: sum(times) / ops / 1000 for label, times in best.items()}
    base = best["no instrumentation"]
    naive_metrics = best["naive: Counter.add + Histogram.record"] - base
    naive_span = best["naive: same + start_as_current_span"] - base
    table = Table(
        f"Hot path: µs per cache operation ({ops:,} ops, Zipf over 5,000 keys, LRU of 1,000; best of {rounds} "
        "per slice of 2,500 keys)",
        ["variant", "µs/op", "added µs/op", "vs prometheus_client", "vs naive metrics", "vs naive metrics+span"],
    )
    prometheus = best["prometheus_client: pre-bound Counter.inc + Histogram.observe"] - base
    for label, _ in caches:
        added = best[label] - base
        table.add(label, best[label], added, f"{added / prometheus:.2f}×", f"{added / naive_metrics:.2f}×",
                  f"{added / naive_span:.2f}×")
    hits = sum(1 for _ in keys) - (ops - len(keys))
    table.notes.append(f"hit ratio of the workload: {hits / len(keys):.1%}")
    return table


if __name__ == "__main__":
    print(run().render())
