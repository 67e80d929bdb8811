"""Loaded into aiocache's own test run (``-p aiocache_plugin``). ``OTEL_CONFORMANCE_MODE``:
``plain`` changes nothing but the redis port (``OTEL_CONFORMANCE_REDIS_PORT``: the suite's redis
caches talk to this run's own server, in both modes); ``instrumented`` attaches the integration's
plugin the way docs/adapters.md says, ``CachePlugin(...).attach(cache)``, to every cache a test
builds (after the test's own plugins), every span sampled."""

from __future__ import annotations

import functools
import os

MODE = os.environ.get("OTEL_CONFORMANCE_MODE", "plain")


def _redis_port() -> None:
    port = os.environ.get("OTEL_CONFORMANCE_REDIS_PORT")
    if not port:
        return
    from aiocache.backends import redis as redis_backend

    original = redis_backend.RedisBackend.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        if len(args) < 2:  # (endpoint, port, ...): a port given stays
            kwargs.setdefault("port", int(port))
        original(self, *args, **kwargs)

    redis_backend.RedisBackend.__init__ = __init__


def pytest_configure(config) -> None:
    _redis_port()
    if MODE == "plain":
        return
    import _telemetry
    from aiocache.base import BaseCache

    from otel_supabase_exporter.integrations.aiocache import CachePlugin

    _telemetry.start()
    original = BaseCache.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        CachePlugin("aiocache.conformance").attach(self)

    BaseCache.__init__ = __init__


def pytest_sessionfinish(session, exitstatus) -> None:
    if MODE != "plain":
        import _telemetry

        _telemetry.write_stats()
