"""Cache telemetry through OpenTelemetry into PostgreSQL (Supabase or any Postgres).

Usage::

    from otel_supabase_exporter import configure, instrument_cache

    telemetry = configure(service_name="api")          # DSN from OTEL_EXPORTER_SUPABASE_DSN, else embedded
    cache = instrument_cache({}, name="users", implementation="new")
    cache["u1"] = "Ada"                                 # set
    cache.get("u1")                                     # hit
    telemetry.shutdown()                                # flushes raw rows and the 1-minute aggregates
"""

from .config import ConfigurationError, Settings
from .configuration import Telemetry, configure
from .exporters import SupabaseLogExporter, SupabaseMetricExporter, SupabaseSpanExporter
from .instrumentation import CacheRecorder, InstrumentedCache, InstrumentedMapping, cached, instrument_cache
from .migrations import MigrationError, migrate
from .reader import MinuteAlignedMetricReader, SupabaseMetricReader, cache_views
from .semconv import VERSION
from .writer import WriteError

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
