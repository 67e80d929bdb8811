"""Loaded into redis-py's own test run (``-p redis_plugin``). ``OTEL_CONFORMANCE_MODE``: ``plain``
changes nothing; ``instrumented`` switches the redis-py integration on (sync and asyncio clients)
before any test runs, every span sampled."""

from __future__ import annotations

import os

MODE = os.environ.get("OTEL_CONFORMANCE_MODE", "plain")


def pytest_configure(config) -> None:
    if MODE == "plain":
        return
    import _telemetry
    from otel_supabase_exporter.integrations import redis as redis_integration

    _telemetry.start()
    redis_integration.instrument()


def pytest_sessionfinish(session, exitstatus) -> None:
    if MODE != "plain":
        import _telemetry

        _telemetry.write_stats()
