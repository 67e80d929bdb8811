"""redis-py, sync and asyncio, against a real redis-server (Debian package; started here), through
the real pipeline into PostgreSQL; alongside OpenTelemetry's redis instrumentation; and with no code
change under ``opentelemetry-instrument``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from conftest import ROOT, providers, sql_rows, wait_for_minute_room

redis = pytest.importorskip("redis")
pytest.importorskip("redis.asyncio")

from otel_supabase_exporter.integrations import redis as integration  # noqa: E402


@pytest.fixture
def instrumented(telemetry, redis_port):
    integration.instrument(**providers(telemetry))
    yield telemetry
    integration.uninstrument()


def _counts(dsn: str, schema: str, cache: str) -> dict[str, int]:
    rows = sql_rows(dsn, f'SELECT sum(hits), sum(misses), sum(sets), sum(deletes), sum(errors)'
                         f' FROM "{schema}".cache_metrics_1min WHERE cache_name = %s', (cache,))
    return dict(zip(("hits", "misses", "sets", "deletes", "errors"), (int(v or 0) for v in rows[0])))


def _raw(dsn: str, schema: str, cache: str) -> list[tuple]:
    return sql_rows(dsn, f'SELECT operation_type, error_type FROM "{schema}".cache_metrics WHERE cache_name = %s'
                         f' ORDER BY "timestamp"', (cache,))


def test_sync_client_hits_misses_sets_deletes_errors(instrumented, redis_port, pg_dsn, schema):
    wait_for_minute_room(10)
    client = integration.name_client(redis.Redis(port=redis_port), "sessions", implementation="redis-sync")
    client.flushdb()
    client.set("a", "1")
    client.set("empty", "")                       # a stored empty string ...
    assert client.get("empty") == b""             # ... is a hit
    assert client.get("a") == b"1"
    assert client.get("nothing") is None          # a miss
    assert client.mget(["a", "nothing", "empty"]) == [b"1", None, b""]  # two hits, one miss
    client.setex("b", 60, "2")
    assert client.delete("a", "nothing") == 1     # one delete, one delete of a missing key
    client.rpush("list", "x")
    with pytest.raises(redis.ResponseError):
        client.get("list")                        # WRONGTYPE: an error, raised as before
    pipe = client.pipeline()
    pipe.get("b").set("c", "3")
    assert pipe.execute() == [b"2", True]         # not counted: pipelines are left alone
    plain = redis.Redis(port=redis_port)          # an unnamed client reports as cache "redis"
    plain.get("b")
    instrumented.shutdown()

    assert _counts(pg_dsn, schema, "sessions") == {"hits": 4, "misses": 2, "sets": 3, "deletes": 2, "errors": 1}
    assert _counts(pg_dsn, schema, "redis")["hits"] == 1
    raw = _raw(pg_dsn, schema, "sessions")
    assert len(raw) == 4 + 2 + 3 + 2 + 1  # a raw row per operation, mget's keys included
    assert ("error", "ResponseError") in raw
    impls = sql_rows(pg_dsn, f'SELECT DISTINCT implementation_type FROM "{schema}".cache_metrics_1min'
                             f" WHERE cache_name = 'sessions'")
    assert impls == [("redis-sync",)]


def test_asyncio_client(instrumented, redis_port, pg_dsn, schema):
    wait_for_minute_room(10)

    async def work() -> None:
        client = integration.name_client(redis.asyncio.Redis(port=redis_port), "async-sessions")
        await client.set("k", "v")
        assert await client.get("k") == b"v"
        assert await client.get("missing") is None
        assert await client.mget("k", "missing") == [b"v", None]
        assert await client.delete("k") == 1
        async with client.pipeline() as pipe:
            pipe.get("k")
            await pipe.execute()
        await client.aclose()

    asyncio.run(work())
    instrumented.shutdown()
    assert _counts(pg_dsn, schema, "async-sessions") == {"hits": 2, "misses": 2, "sets": 1, "deletes": 1,
                                                         "errors": 0}


def test_asyncio_errors_raise_when_the_client_raises_them(instrumented, redis_port):
    """Bad arguments raise at call time, as the uninstrumented client does, not at the await."""
    async def work() -> None:
        client = redis.asyncio.Redis(port=redis_port)
        with pytest.raises(redis.exceptions.DataError):
            client.set("k", "v", ex=1, px=1)
        with pytest.raises(TypeError):
            client.get()  # type: ignore[call-arg]
        assert await client.set("k", "v") is True
        await client.aclose()

    asyncio.run(work())


def test_uninstrument_restores_the_client(redis_port, telemetry):
    original = redis.Redis.get
    integration.instrument(**providers(telemetry))
    assert redis.Redis.get is not original and integration.is_instrumented()
    integration.uninstrument()
    assert redis.Redis.get is original and not integration.is_instrumented()


def test_alongside_opentelemetry_redis_instrumentation(instrumented, redis_port, pg_dsn, schema):
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument(tracer_provider=instrumented.tracer_provider)
    try:
        client = integration.name_client(redis.Redis(port=redis_port), "both")
        client.set("x", "1")
        client.get("x")
    finally:
        RedisInstrumentor().uninstrument()
    instrumented.shutdown()
    # ours: a raw row per cache operation; theirs: a span per command, stored with the other spans
    assert sorted(r[0] for r in _raw(pg_dsn, schema, "both")) == ["hit", "set"]
    names = {r[0] for r in sql_rows(pg_dsn, f'SELECT data->>\'name\' FROM "{schema}".monitoring_events'
                                            f" WHERE event_type = 'span'")}
    assert {"GET", "SET"} <= names


APP = """
import os, redis
client = redis.Redis(port=int(os.environ["REDIS_PORT"]))
client.set("greeting", "hello")
for _ in range(3):
    client.get("greeting")
client.get("nobody")
"""


def test_an_unmodified_script_under_opentelemetry_instrument(redis_port, pg_dsn, schema, tmp_path):
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {**os.environ, "REDIS_PORT": str(redis_port), "OTEL_EXPORTER_SUPABASE_DSN": pg_dsn,
           "OTEL_EXPORTER_SUPABASE_SCHEMA": schema, "OTEL_TRACES_EXPORTER": "supabase",
           "OTEL_METRICS_EXPORTER": "supabase", "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": "unmodified",
           "OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(tmp_path / "spool"), "PYTHONPATH": str(ROOT / "src")}
    instrument = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    done = subprocess.run([instrument, sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert _counts(pg_dsn, schema, "redis") == {"hits": 3, "misses": 1, "sets": 1, "deletes": 0, "errors": 0}
    assert len(_raw(pg_dsn, schema, "redis")) == 5
    assert sql_rows(pg_dsn, f'SELECT DISTINCT service_name FROM "{schema}".cache_metrics')[0][0] == "unmodified"
