"""Gateway: an OTLP/HTTP receiver, so any OpenTelemetry SDK or Collector (``otlphttp`` exporter)
writes the same rows as the in-process exporters, through the same mapping (:mod:`..rows`) and
delivery (:mod:`..store`). Cache telemetry in other conventions (Micrometer, Sentry-style spans,
.NET) is recognised; cumulative senders are turned into per-minute deltas in the database.

Public here: :class:`Gateway` (and the ``otel-supabase-exporter gateway`` command).
"""

from .server import Gateway

__all__ = ["Gateway"]
