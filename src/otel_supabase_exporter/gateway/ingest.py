"""One decoded OTLP request → rows → the same delivery as the in-process exporters (retries, spool,
replay, exactly-once). Returns what the sender is told: accepted, partly rejected, or retry later."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from opentelemetry._logs import SeverityNumber

from ..rows import log_rows, map_metrics, stream_spans
from ..store.batch import Batch
from ..store.delivery import Delivery
from ..store.stream import RowStream
from .metrics import translate
from .spans import readable_spans
from .values import attributes, resource, scope, value

__all__ = ["Outcome", "digest_of", "ingest"]

_NS = uuid.UUID("0b9f6f36-3f8e-4b4e-9a8e-6b7f3c1d2e4f")


@dataclass(frozen=True)
class Outcome:
    """What became of one request: stored (possibly with some items rejected), or not (retry later)."""

    stored: bool
    received: int
    rejected: int
    message: str = ""


def ingest(delivery: Delivery, signal: str, request: Any, digest: bytes) -> Outcome:
    """Map and deliver one request; ``digest`` (of its bytes) makes a retried metrics request count once."""
    if signal == "traces":
        return _traces(delivery, request)
    if signal == "metrics":
        return _metrics(delivery, request, uuid.uuid5(_NS, digest.hex()))
    return _logs(delivery, request)


def _outcome(delivery: Delivery, batch: Batch, received: int, rejected: Any, *, invalid: int = 0) -> Outcome:
    stored = delivery.send(batch, received)
    if rejected.total:
        delivery.stats[batch.signal].add_reasons("rejected", rejected.reasons)
    total = rejected.total + invalid
    reasons = dict(rejected.reasons)
    if invalid:
        reasons["invalid ids"] = invalid
    message = "; ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    return Outcome(stored, received, total, message)


def _traces(delivery: Delivery, request: Any) -> Outcome:
    spans = list(readable_spans(request))
    valid = [s for s in spans if s is not None]
    rows = stream_spans(valid)
    batch = Batch("spans", RowStream(rows.cache_rows), rows.event_rows)
    return _outcome(delivery, batch, len(spans), rows.rejected, invalid=len(spans) - len(valid))


def _metrics(delivery: Delivery, request: Any, batch_id: uuid.UUID) -> Outcome:
    translated = translate(request)
    mapped = map_metrics(translated)
    batch = Batch("metrics", mapped.minute_rows, mapped.event_rows, batch_id, cumulative=translated.cumulative)
    return _outcome(delivery, batch, translated.points, mapped.rejected)


def _severity(number: int) -> Any:
    try:
        return SeverityNumber(number) if number else None
    except ValueError:
        return None


def _logs(delivery: Delivery, request: Any) -> Outcome:
    records = []
    for rl in request.resource_logs:
        res = resource(rl.resource)
        for sl in rl.scope_logs:
            instrumentation = scope(sl.scope)
            for r in sl.log_records:
                records.append(SimpleNamespace(
                    resource=res, instrumentation_scope=instrumentation, log_record=SimpleNamespace(
                        body=value(r.body), attributes=attributes(r.attributes), timestamp=r.time_unix_nano or None,
                        observed_timestamp=r.observed_time_unix_nano or None, severity_text=r.severity_text or None,
                        severity_number=_severity(r.severity_number),
                        trace_id=int.from_bytes(r.trace_id, "big") if len(r.trace_id) == 16 else 0,
                        span_id=int.from_bytes(r.span_id, "big") if len(r.span_id) == 8 else 0)))
    rows, rejected = log_rows(records)
    return _outcome(delivery, Batch("logs", (), rows), len(records), rejected)


def digest_of(signal: str, body: bytes) -> bytes:
    return hashlib.sha256(signal.encode() + b"\0" + body).digest()
