"""Instrument: the hot path. Cache operations become OpenTelemetry metrics and spans using only
``opentelemetry-api``. Metrics are pre-aggregated per series (:mod:`.producer`) and handed to the
SDK's readers at collection time (:mod:`._collection`); the SDK is imported only there, and only
when it is installed.

Public here: :func:`instrument_cache`, :func:`cached`, :class:`CacheRecorder` (for integrations;
:mod:`.series` too, for those that count without timing),
:class:`InstrumentedCache`, :class:`InstrumentedMapping`, :class:`KeyHasher`. Everything in
modules with a leading underscore is internal.
"""

from .keys import KeyHasher
from .memoize import cached
from .recorder import CacheRecorder, enter_recorded_call, inside_recorded_call, leave_recorded_call
from .wrappers import InstrumentedCache, InstrumentedMapping, instrument_cache

__all__ = [
    "CacheRecorder", "InstrumentedCache", "InstrumentedMapping", "KeyHasher", "cached", "enter_recorded_call",
    "inside_recorded_call", "instrument_cache", "leave_recorded_call",
]
