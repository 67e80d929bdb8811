"""One call that sets up tracer, meter and logger providers writing to PostgreSQL."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Sampler

from ..redact import mask_dsn
from ..settings import Settings
from .fork import flush_children_at_exit
from .exporters import SupabaseLogExporter, SupabaseMetricExporter, SupabaseSpanExporter
from .reader import MinuteAlignedMetricReader, cache_views
from .self_metrics import observe_delivery

__all__ = ["configure", "Telemetry"]

_log = logging.getLogger("otel_supabase_exporter.sdk")

# Larger than the SDK default (2048): at 10k cache operations/s the default
# queue overflows between two exports and the SDK drops spans.
SPAN_QUEUE_SIZE = 65_536
SPAN_BATCH_SIZE = 4_096
SPAN_SCHEDULE_DELAY_MS = 1_000


@dataclass
class Telemetry:
    """The providers and exporters that :func:`configure` set up."""

    settings: Settings
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    span_exporter: SupabaseSpanExporter
    metric_exporter: SupabaseMetricExporter
    log_exporter: SupabaseLogExporter

    @property
    def instance_id(self) -> str | None:
        """The resource's ``service.instance.id`` (set by :func:`configure` when not given): every
        raw row this process writes carries it, in ``cache_metrics.service_instance_id``."""
        value = self.tracer_provider.resource.attributes.get(SERVICE_INSTANCE_ID)
        return None if value is None else str(value)

    def __repr__(self) -> str:
        return f"Telemetry(dsn={mask_dsn(self.settings.dsn)!r}, schema={self.settings.schema!r})"

    def stats(self) -> dict[str, Any]:
        """The exporters' counters per signal (received, exported, retried, spooled, replayed,
        rejected and dropped by reason) and the spool's state."""
        return self.span_exporter.delivery.report()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write everything buffered now: spans and logs first, then the metrics collected so far."""
        ok = self.tracer_provider.force_flush(timeout_millis)
        ok = self.logger_provider.force_flush(timeout_millis) and ok
        ok = self.meter_provider.force_flush(timeout_millis) and ok
        return ok

    def shutdown(self) -> None:
        """Flush and stop every provider (spans first, so raw rows land before the last minute)."""
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


_said_discarded = False


def _start_together() -> None:
    """Before the first global providers: caches instrumented earlier (on the global providers)
    counted their operations but had no tracer to give them spans, so the 1-minute rows would count
    operations the raw rows never see. Both start here instead, and a warning says so once.
    Operations other threads run while configure() itself runs may still be counted without a span."""
    global _said_discarded
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) \
            or hasattr(metrics.get_meter_provider(), "_measurement_consumer"):
        return  # global providers were set before: what was recorded went to them
    from ..instrument.producer import start_global_over

    dropped = start_global_over()
    if dropped and not _said_discarded:
        _said_discarded = True
        _log.warning("%d cache operation(s) before configure() were not exported: spans and metrics start "
                     "together at configure() (instrumenting earlier is fine; run the cache after it)", dropped)


def _resource(given: Resource | None, service_name: str | None) -> Resource:
    """The SDK's defaults and OTEL_RESOURCE_ATTRIBUTES, then ``given`` over them, then
    ``service_name``; and a ``service.instance.id`` of this configure() (a random UUID) unless
    ``given`` or OTEL_RESOURCE_ATTRIBUTES has one — the SDK's own default is one per process, the
    same in every configure() of the process and in forked children."""
    attributes: dict[str, str] = {SERVICE_NAME: service_name} if service_name else {}
    if SERVICE_INSTANCE_ID not in (given.attributes if given else {}) \
            and SERVICE_INSTANCE_ID not in OTELResourceDetector().detect().attributes:
        attributes[SERVICE_INSTANCE_ID] = str(uuid.uuid4())
    resource = Resource.create()
    if given is not None:
        resource = resource.merge(given)
    return resource.merge(Resource(attributes))


def configure(
    dsn: str | None = None,
    *,
    service_name: str | None = None,
    schema: str | None = None,
    resource: Resource | None = None,
    sampler: Sampler | None = None,
    export_interval_s: float | None = None,
    set_global: bool = True,
    capture_logging: bool = False,
) -> Telemetry:
    """Set up tracing, metrics and logs exported to PostgreSQL; returns a handle to flush and shut down.

    ``dsn=None`` reads ``OTEL_EXPORTER_SUPABASE_DSN`` and falls back to the embedded
    server. Without a ``service.instance.id`` in ``resource`` (or ``OTEL_RESOURCE_ATTRIBUTES``),
    each call makes one up (a random UUID): raw rows carry it (:attr:`Telemetry.instance_id`).
    ``resource``'s attributes win over the SDK's defaults; ``service_name`` wins over both. With ``set_global`` the providers become OpenTelemetry's globals, so
    ``instrument_cache`` and any other instrumentation use them. ``capture_logging``
    also sends the ``logging`` module's records to ``monitoring_events``.
    """
    settings = Settings.from_env(dsn=dsn, schema=schema)
    resource = _resource(resource, service_name)

    span_exporter = SupabaseSpanExporter(settings=settings)
    tracer_provider = TracerProvider(resource=resource, sampler=sampler)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            span_exporter,
            max_queue_size=SPAN_QUEUE_SIZE,
            max_export_batch_size=SPAN_BATCH_SIZE,
            schedule_delay_millis=SPAN_SCHEDULE_DELAY_MS,
        )
    )

    metric_exporter = SupabaseMetricExporter(settings=settings)
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[MinuteAlignedMetricReader(metric_exporter, interval_s=export_interval_s)],
        views=cache_views(),
    )

    log_exporter = SupabaseLogExporter(settings=settings)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))

    observe_delivery(span_exporter.delivery, meter_provider)  # the exporters' own counters, as metrics

    if set_global and not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # OpenTelemetry sets the global providers once: caches on them stay with the first ones
        _log.warning("configure() was called before in this process: the global providers stay the first "
                     "call's, so caches instrumented without providers keep recording there (nowhere, once it "
                     "is shut down); to start over, pass set_global=False and give this call's tracer_provider "
                     "and meter_provider to instrument_cache")
    elif set_global:
        from opentelemetry import _logs

        _start_together()
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        _logs.set_logger_provider(logger_provider)
    if capture_logging:
        logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))

    telemetry = Telemetry(settings, tracer_provider, meter_provider, logger_provider, span_exporter,
                          metric_exporter, log_exporter)
    flush_children_at_exit(telemetry)
    return telemetry
