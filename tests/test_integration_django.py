"""Django's cache framework, locmem and redis (against the real redis-server), through the real
pipeline: hits and misses by the sentinel, no double counting of get_or_set, get_many and incr,
and no double counting with the redis-py integration underneath."""

from __future__ import annotations

import pytest

from conftest import providers, sql_rows, wait_for_minute_room

django = pytest.importorskip("django")


@pytest.fixture(scope="module")
def django_caches(redis_port):
    from django.conf import settings

    if not settings.configured:
        settings.configure(CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "shared": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                       "LOCATION": f"redis://127.0.0.1:{redis_port}/3"},
            "broken": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                       "LOCATION": "redis://127.0.0.1:1/0"},
        })
        django.setup()
    from django.core.cache import caches

    return caches


@pytest.fixture
def instrumented(telemetry, django_caches):
    from otel_supabase_exporter.integrations import django as integration
    from otel_supabase_exporter.integrations import redis as redis_integration

    integration.instrument(**providers(telemetry))
    redis_integration.instrument(**providers(telemetry))  # underneath Django's redis backend: not counted twice
    yield telemetry
    redis_integration.uninstrument()
    integration.uninstrument()


def _counts(dsn: str, schema: str, cache: str) -> dict:
    rows = sql_rows(dsn, f'SELECT implementation_type, sum(hits), sum(misses), sum(sets), sum(deletes), sum(errors)'
                         f' FROM "{schema}".cache_metrics_1min WHERE cache_name = %s GROUP BY 1', (cache,))
    return {r[0]: dict(zip(("hits", "misses", "sets", "deletes", "errors"), map(int, r[1:]))) for r in rows}


@pytest.mark.parametrize("alias, backend", [("default", "LocMemCache"), ("shared", "RedisCache")])
def test_django_cache_operations_are_counted_once(instrumented, django_caches, pg_dsn, schema, alias, backend):
    wait_for_minute_room(10)
    from django.core.cache import caches

    cache = caches[alias]
    cache.clear()
    cache.set("a", 1)
    cache.set("none", None)                       # a stored None ...
    assert cache.get("none", "default") is None   # ... is a hit (the sentinel tells)
    assert cache.get("a") == 1                    # hit
    assert cache.get("b", "fallback") == "fallback"  # miss
    assert cache.get_or_set("c", lambda: 3) == 3  # one miss and one set (Django calls get twice inside)
    assert cache.get_or_set("c", 4) == 3          # one hit
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "c": 3}  # two hits, one miss
    cache.set_many({"d": 4, "e": 5})              # two sets
    assert cache.incr("a") == 2                   # one set
    with pytest.raises(ValueError):
        cache.incr("nope")                        # one miss
    assert cache.delete("d") is True              # one delete
    assert cache.has_key("e")                     # not counted
    instrumented.shutdown()

    assert _counts(pg_dsn, schema, alias) == {backend: {"hits": 5, "misses": 4, "sets": 6, "deletes": 1,
                                                        "errors": 0}}
    assert _counts(pg_dsn, schema, "redis") == {}  # redis-py underneath was not counted again


def test_backend_errors_are_counted_and_raised(instrumented, django_caches, pg_dsn, schema):
    from django.core.cache import caches

    with pytest.raises(Exception) as caught:
        caches["broken"].get("k")
    instrumented.shutdown()
    assert "Connection" in type(caught.value).__name__
    assert _counts(pg_dsn, schema, "broken") == {"RedisCache": {"hits": 0, "misses": 0, "sets": 0, "deletes": 0,
                                                                "errors": 1}}


_CALLS = [  # (method, args, kwargs): every form a caller may use, valid or not
    ("set", ("a", 1), {}), ("set", (), {"key": "b", "value": 2}), ("set", ("c",), {"value": 3, "timeout": 5}),
    ("get", ("a",), {}), ("get", (), {"key": "a"}), ("get", ("zz", "dflt"), {}), ("get", ("zz",), {"default": 0}),
    ("get", (), {"key": "zz", "default": "d"}), ("get", (), {}), ("get", ("a", None, None, "extra"), {}),
    ("get_or_set", ("n",), {}), ("get_or_set", (), {"key": "n", "default": 5}), ("get_or_set", ("n", 6), {}),
    ("get_or_set", ("m",), {"default": lambda: 7}),
    ("get_many", (["a", "zz"],), {}), ("get_many", (), {"keys": iter(["a", "b"])}), ("get_many", (5,), {}),
    ("set_many", ({"x": 1, "y": 2},), {}), ("set_many", (), {"data": {"z": 3}}), ("set_many", ([("w", 1)],), {}),
    ("add", ("a", 9), {}), ("add", (), {"key": "new", "value": 1}),
    ("incr", ("n",), {}), ("incr", ("nope",), {}), ("decr", (), {"key": "n", "delta": 2}),
    ("delete", ("x",), {}), ("delete", (), {"key": "zz"}),
    ("delete_many", ((k for k in ("y", "z")),), {}), ("delete_many", (), {"keys": iter(["w"])}),
    ("delete_many", (3,), {}), ("has_key", ("a",), {}), ("touch", ("a",), {}),
]


def _replay(cache) -> list:
    """Each call's result or exception type, then what the cache holds."""
    import copy

    cache.clear()
    seen = []
    for method, args, kwargs in copy.deepcopy([c for c in _CALLS if not _one_shot(c)]) + _fresh_one_shots():
        try:
            seen.append((method, repr(getattr(cache, method)(*args, **kwargs))))
        except Exception as exc:
            seen.append((method, type(exc).__name__))
    seen.append(("state", sorted(cache.get_many(["a", "b", "c", "n", "m", "x", "y", "z", "w", "new"]).items())))
    return seen


def _one_shot(call) -> bool:
    return any(callable(a) or hasattr(a, "__next__") for a in (*call[1], *call[2].values()))


def _fresh_one_shots() -> list:
    return [("get_or_set", ("m",), {"default": lambda: 7}), ("get_many", (), {"keys": iter(["a", "b"])}),
            ("delete_many", ((k for k in ("y", "z")),), {}), ("delete_many", (), {"keys": iter(["w"])})]


def test_every_argument_form_behaves_as_without_instrumentation(django_caches, telemetry):
    """Positional and keyword arguments, defaults or none, generators, wrong calls: the same results,
    the same exceptions, the same state left behind, with the integration on and off."""
    from otel_supabase_exporter.integrations import django as integration

    cache = django_caches["default"]
    plain = _replay(cache)
    integration.instrument(**providers(telemetry))
    try:
        instrumented = _replay(cache)
    finally:
        integration.uninstrument()
    assert ("get_or_set", "TypeError") in plain and ("state", [("a", 1), ("b", 2), ("c", 3), ("m", 7), ("n", 4),
                                                               ("new", 1)]) in plain
    assert instrumented == plain
