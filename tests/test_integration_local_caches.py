"""In-process caches: ``functools.lru_cache`` read through ``cache_info()`` at each collection, and
``cachetools`` caches under its own decorators; through the real pipeline into PostgreSQL."""

from __future__ import annotations

import functools

import cachetools
import pytest

from conftest import providers, sql_rows, wait_for_minute_room
from otel_supabase_exporter import instrument_cache
from otel_supabase_exporter.integrations.lru import observe_lru_cache


def _counts(dsn: str, schema: str, cache: str) -> dict[str, int]:
    rows = sql_rows(dsn, f'SELECT sum(hits), sum(misses), sum(sets), sum(evictions), max(cache_size),'
                         f' sum(latency_count) FROM "{schema}".cache_metrics_1min WHERE cache_name = %s', (cache,))
    return dict(zip(("hits", "misses", "sets", "evictions", "size", "timed"), (int(v or 0) for v in rows[0])))


def test_lru_cache_counts_come_from_cache_info_deltas(telemetry, pg_dsn, schema):
    wait_for_minute_room(10)

    @functools.lru_cache(maxsize=3)
    def square(x: int) -> int:
        return x * x

    square(0)  # before observing: not counted
    stop = observe_lru_cache(square, "squares", meter_provider=telemetry.meter_provider)
    for x in [1, 2, 1, 1, 3, 4, 2, 5]:  # hits, misses and, the cache holding 3, evictions
        square(x)
    telemetry.meter_provider.force_flush()
    square(1)
    telemetry.shutdown()
    stop()
    info = square.cache_info()
    got = _counts(pg_dsn, schema, "squares")
    assert got["hits"] == info.hits and got["misses"] == info.misses - 1  # the call before observing
    assert got["sets"] == got["misses"]
    assert got["evictions"] == got["misses"] - (info.currsize - 1)
    assert got["size"] == 3 and got["timed"] == 0  # counts only: nothing to time
    with pytest.raises(TypeError, match="cache_info"):
        observe_lru_cache(lambda: None, "nope")


def test_cachetools_decorators_over_an_instrumented_cache(telemetry, pg_dsn, schema):
    wait_for_minute_room(10)
    cache = instrument_cache(cachetools.LRUCache(maxsize=2), name="lookups", implementation="cachetools",
                             **providers(telemetry))

    @cachetools.cached(cache)
    def lookup(x: int) -> str:
        return str(x)

    for x in [1, 2, 1, 3, 1, 2]:
        lookup(x)
    telemetry.shutdown()
    # 1 miss, 2 miss, 1 hit, 3 miss (evicts 2), 1 hit, 2 miss (evicts 3)
    assert _counts(pg_dsn, schema, "lookups") == {"hits": 2, "misses": 4, "sets": 4, "evictions": 2, "size": 2,
                                                  "timed": 10}
