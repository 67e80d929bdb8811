"""The ``opentelemetry-instrument`` entry point: hit/miss metrics and spans for the supported cache
libraries that are installed, with no code change (``opentelemetry_instrumentor`` entry point
``otel_supabase_exporter_caches``). Needs ``opentelemetry-instrumentation`` (which
``opentelemetry-instrument`` brings)."""

from __future__ import annotations

import importlib.util
from typing import Any, Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

__all__ = ["CacheInstrumentor"]


class CacheInstrumentor(BaseInstrumentor):
    """Instruments redis-py (sync and asyncio) when it is installed."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()  # each library is instrumented only if it is there

    def _instrument(self, **kwargs: Any) -> None:
        if importlib.util.find_spec("redis") is not None:
            from . import redis

            redis.instrument(tracer_provider=kwargs.get("tracer_provider"),
                             meter_provider=kwargs.get("meter_provider"))

    def _uninstrument(self, **kwargs: Any) -> None:
        if importlib.util.find_spec("redis") is not None:
            from . import redis

            redis.uninstrument()
