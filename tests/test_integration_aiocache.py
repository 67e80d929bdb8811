"""aiocache through CachePlugin: its memory cache and its redis cache (the real redis-server), errors
included (which aiocache's own post-hooks never see), into PostgreSQL."""

from __future__ import annotations

import asyncio
import logging

import pytest

from conftest import providers, sql_rows, wait_for_minute_room

aiocache = pytest.importorskip("aiocache")

from otel_supabase_exporter.integrations.aiocache import CachePlugin  # noqa: E402


def _counts(dsn: str, schema: str, cache: str) -> list[tuple]:
    return sql_rows(dsn, f'SELECT implementation_type, sum(hits)::int, sum(misses)::int, sum(sets)::int,'
                         f' sum(deletes)::int, sum(errors)::int FROM "{schema}".cache_metrics_1min'
                         f' WHERE cache_name = %s GROUP BY 1', (cache,))


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_operations_and_errors_are_recorded(telemetry, redis_port, pg_dsn, schema, kind, caplog):
    wait_for_minute_room(10)
    caplog.set_level(logging.ERROR, logger="opentelemetry.context")
    plugin = CachePlugin("feeds", **providers(telemetry))

    async def work() -> None:
        if kind == "memory":
            cache = plugin.attach(aiocache.SimpleMemoryCache())
        else:
            cache = plugin.attach(aiocache.RedisCache(endpoint="127.0.0.1", port=redis_port, db=5))
        await cache.clear()
        await cache.set("a", "1")
        await cache.add("b", "2")
        assert await cache.get("a") == "1"                           # hit
        assert await cache.get("zz") is None                          # miss
        assert await cache.multi_get(["a", "zz", "b"]) == ["1", None, "2"]  # two hits, one miss
        await cache.multi_set([("c", "3"), ("d", "4")])              # two sets
        await cache.increment("n", 2)                                # a set
        assert await cache.delete("c") == 1                          # a delete
        assert await cache.delete("zz") == 0                         # a delete miss
        with pytest.raises(ValueError):
            await cache.add("a", "again")                            # an error (the key exists)
        assert await cache.exists("a")                               # not counted
        if kind == "redis":
            await cache.close()

    asyncio.run(work())
    telemetry.shutdown()
    implementation = "SimpleMemoryCache" if kind == "memory" else "RedisCache"
    assert _counts(pg_dsn, schema, "feeds") == [(implementation, 3, 2, 5, 2, 1)]
    # a span begun in aiocache's wait_for task and ended in the caller is never attached, so never
    # detached in the wrong context
    assert [r.getMessage() for r in caplog.records if r.name == "opentelemetry.context"] == []
