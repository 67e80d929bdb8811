"""Cache telemetry through OpenTelemetry into PostgreSQL (Supabase or any Postgres).

Usage::

    from otel_supabase_exporter import configure, instrument_cache

    telemetry = configure(service_name="api")          # DSN from OTEL_EXPORTER_SUPABASE_DSN, else embedded
    cache = instrument_cache({}, name="users", implementation="new")
    cache["u1"] = "Ada"                                 # set
    cache.get("u1")                                     # hit
    telemetry.shutdown()                                # flushes raw rows and the 1-minute aggregates
"""

from .errors import ConfigurationError, MigrationError, WriteError
from .instrument import CacheRecorder, InstrumentedCache, InstrumentedMapping, cached, instrument_cache
from .sdk import (
    MinuteAlignedMetricReader,
    SupabaseLogExporter,
    SupabaseMetricExporter,
    SupabaseMetricReader,
    SupabaseSpanExporter,
    Telemetry,
    cache_views,
    configure,
)
from .semconv import VERSION
from .settings import Settings
from .store import migrate

__version__ = VERSION

__all__ = [
    "configure",
    "Telemetry",
    "instrument_cache",
    "cached",
    "CacheRecorder",
    "InstrumentedCache",
    "InstrumentedMapping",
    "SupabaseSpanExporter",
    "SupabaseMetricExporter",
    "SupabaseLogExporter",
    "SupabaseMetricReader",
    "MinuteAlignedMetricReader",
    "cache_views",
    "migrate",
    "Settings",
    "ConfigurationError",
    "MigrationError",
    "WriteError",
]
