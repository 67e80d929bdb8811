"""dogpile.cache through a CacheProxy, on its memory backend and on its redis backend (the real
redis-server), into PostgreSQL."""

from __future__ import annotations

import pytest

from conftest import providers, sql_rows, wait_for_minute_room

pytest.importorskip("dogpile.cache")
from dogpile.cache import make_region  # noqa: E402

from otel_supabase_exporter.integrations.dogpile import CacheProxy  # noqa: E402


@pytest.mark.parametrize("backend", ["dogpile.cache.memory", "dogpile.cache.redis"])
def test_region_operations_through_the_proxy(telemetry, redis_port, pg_dsn, schema, backend):
    wait_for_minute_room(10)
    arguments = {"port": redis_port, "db": 4} if backend.endswith("redis") else {}
    region = make_region().configure(backend, arguments=arguments,
                                     wrap=[CacheProxy("reports", **providers(telemetry))])
    region.delete_multi(["a", "b", "c"])              # three deletes (the backend does not say which existed)
    calls = []

    def create():
        calls.append(1)
        return "fresh"

    assert region.get_or_create("a", create) == "fresh"  # miss, then set
    assert region.get_or_create("a", create) == "fresh"  # hit
    assert len(calls) == 1
    region.set("b", "x")                                   # set
    region.get_multi(["a", "b", "c"])                      # two hits, one miss
    telemetry.shutdown()
    implementation = "MemoryBackend" if backend.endswith("memory") else "RedisBackend"
    rows = sql_rows(pg_dsn, f'SELECT implementation_type, sum(hits), sum(misses), sum(sets), sum(deletes)'
                            f' FROM "{schema}".cache_metrics_1min WHERE cache_name = %s GROUP BY 1', ("reports",))
    # get_or_create looks the key up again under its lock after a miss: two misses for "a", one for "c"
    assert rows == [(implementation, 3, 3, 2, 3)]
