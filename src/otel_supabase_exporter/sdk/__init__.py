"""SDK: the OpenTelemetry SDK side. :func:`configure` sets up providers; the exporters (kept thin:
rows from :mod:`..rows`, delivery from :mod:`..store`) and the minute-aligned reader are what the
``supabase`` entry points build; :mod:`.producer` pre-aggregates the hot path's metrics.

Public here: :func:`configure`, :class:`Telemetry`, the three exporters, the two readers and
:func:`cache_views`. Modules with a leading underscore are internal.
"""

from .configure import Telemetry, configure
from .exporters import SupabaseLogExporter, SupabaseMetricExporter, SupabaseSpanExporter
from .reader import MinuteAlignedMetricReader, SupabaseMetricReader, cache_views

__all__ = [
    "MinuteAlignedMetricReader", "SupabaseLogExporter", "SupabaseMetricExporter", "SupabaseMetricReader",
    "SupabaseSpanExporter", "Telemetry", "cache_views", "configure",
]
