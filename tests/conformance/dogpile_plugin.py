"""Loaded into dogpile.cache's own test run (``-p dogpile_plugin``). ``OTEL_CONFORMANCE_MODE``:
``plain`` changes nothing; ``instrumented`` configures every region a test makes the way
docs/adapters.md says to, ``wrap=[CacheProxy(...)]`` — the integration's proxy innermost, next to the
backend, so a test's own proxies still wrap what they wrapped — every span sampled."""

from __future__ import annotations

import os

MODE = os.environ.get("OTEL_CONFORMANCE_MODE", "plain")


def pytest_configure(config) -> None:
    if MODE == "plain":
        return
    import _telemetry
    from dogpile.cache.region import CacheRegion

    from otel_supabase_exporter.integrations.dogpile import CacheProxy

    _telemetry.start()
    original = CacheRegion.configure

    def configure(self, backend, *args, wrap=(), **kwargs):
        return original(self, backend, *args, wrap=[CacheProxy("dogpile.conformance"), *(wrap or ())], **kwargs)

    configure.__wrapped__ = original  # type: ignore[attr-defined]
    CacheRegion.configure = configure


def pytest_sessionfinish(session, exitstatus) -> None:
    if MODE != "plain":
        import _telemetry

        _telemetry.write_stats()
