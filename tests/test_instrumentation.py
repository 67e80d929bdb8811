"""What the decorator and wrappers record, read from the SDK's in-memory reader (no exporter involved)."""

from __future__ import annotations

import asyncio
from collections import Counter

import cachetools
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_supabase_exporter import cached, instrument_cache


def _counts(reader: InMemoryMetricReader) -> Counter:
    out: Counter = Counter()
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == "cache.operations":
                    for p in m.data.data_points:
                        a = p.attributes
                        out[(a["cache.name"], a["cache.operation"], a["cache.result"])] += p.value
    return out


def test_decorated_cachetools_subclass_counts_each_get_once_and_records_evictions():
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])

    @instrument_cache(name="lru", meter_provider=mp)
    class Users(cachetools.LRUCache):
        pass

    cache = Users(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["c"] = 3            # evicts "a"
    assert cache.get("a") is None and cache.get("b") == 2 and cache["c"] == 3
    assert len(cache) == 2
    assert _counts(reader) == Counter({("lru", "set", "ok"): 3, ("lru", "evict", "ok"): 1,
                                       ("lru", "get", "miss"): 1, ("lru", "get", "hit"): 2})


def test_wrapped_mapping_keeps_its_interface():
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    cache = instrument_cache(cachetools.LRUCache(10), name="m", meter_provider=mp)
    cache["k"] = None
    assert "k" in cache and len(cache) == 1 and list(cache) == ["k"]
    assert cache.get("k", "default") is None          # a stored None is a hit
    assert cache.get("x", "default") == "default"
    assert cache.maxsize == 10                         # other attributes pass through
    del cache["k"]
    try:
        del cache["k"]
    except KeyError:
        pass
    assert _counts(reader) == Counter({("m", "set", "ok"): 1, ("m", "get", "hit"): 1, ("m", "get", "miss"): 1,
                                       ("m", "delete", "ok"): 1, ("m", "delete", "miss"): 1})


def test_async_cache_class_and_async_memoized_function():
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])

    @instrument_cache(name="async", meter_provider=mp)
    class AsyncCache:
        def __init__(self):
            self.data = {}

        async def get(self, key):
            await asyncio.sleep(0)
            return self.data.get(key)

        async def set(self, key, value):
            self.data[key] = value

    calls = []

    @cached(name="afn", meter_provider=mp)
    async def double(x):
        calls.append(x)
        return 2 * x

    async def main():
        c = AsyncCache()
        await c.set("a", 1)
        assert await c.get("a") == 1 and await c.get("b") is None
        assert [await double(i) for i in (1, 1, 2)] == [2, 2, 4]

    asyncio.run(main())
    assert calls == [1, 2]
    assert _counts(reader) == Counter({("async", "set", "ok"): 1, ("async", "get", "hit"): 1,
                                       ("async", "get", "miss"): 1, ("afn", "get", "hit"): 1,
                                       ("afn", "get", "miss"): 2, ("afn", "set", "ok"): 2})


def test_broken_telemetry_never_reaches_the_caller(caplog):
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    cache = instrument_cache({}, name="broken", meter_provider=mp)
    series = cache._self_series

    def boom(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    series.record = boom
    cache["a"] = 1
    assert cache["a"] == 1
    assert cache.get("b", "fallback") == "fallback"
    assert "cache telemetry failed" in caplog.text


def test_a_class_instrumented_again_records_to_the_latest_providers_once():
    """The demo instruments its classes on every run, each time with new providers: the second
    run's operations must reach the second providers (once each), not the first, shut-down ones."""
    first, second = InMemoryMetricReader(), InMemoryMetricReader()

    class Plain(cachetools.LRUCache):
        pass

    instrument_cache(name="again", meter_provider=MeterProvider(metric_readers=[first]))(Plain)
    Plain(maxsize=4)["a"] = 1
    instrument_cache(name="again", meter_provider=MeterProvider(metric_readers=[second]))(Plain)
    cache = Plain(maxsize=4)
    cache["a"] = 1
    assert cache.get("a") == 1 and cache.get("b") is None
    assert _counts(second) == Counter({("again", "set", "ok"): 1, ("again", "get", "hit"): 1,
                                       ("again", "get", "miss"): 1})
    assert _counts(first) == Counter({("again", "set", "ok"): 1})


def test_a_wrapper_given_another_cache_calls_and_counts_that_one():
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    first, second = {"k": 1}, {"k": 2}
    cache = instrument_cache(first, name="rewrapped", meter_provider=mp)
    assert cache.get("k") == 1
    cache.__wrapped__ = second  # wrapt's way of pointing a proxy at another object
    assert cache.get("k") == 2 and cache["k"] == 2
    cache["j"] = 3
    assert "j" in second and "j" not in first
    assert _counts(reader)[("rewrapped", "get", "hit")] == 3
