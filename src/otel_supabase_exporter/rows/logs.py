"""Log records → ``monitoring_events`` rows (event_type ``log``). No I/O."""

from __future__ import annotations

from typing import Any, Iterable

from .sanitize import (
    MAX_SOURCE,
    Rejected,
    attributes_json,
    clean_text,
    event_id,
    resource_json,
    row_us,
    service_of,
    to_json,
)

__all__ = ["log_rows"]


def log_rows(batch: Iterable[Any]) -> tuple[list[tuple], Rejected]:
    """``monitoring_events`` rows (event_type ``log``) for log records."""
    rows: list[tuple] = []
    rejected = Rejected()
    for readable in batch:
        try:
            record = getattr(readable, "log_record", readable)
            resource = getattr(readable, "resource", None) or getattr(record, "resource", None)
            attributes, _ = attributes_json(record.attributes)
            timestamp = record.timestamp or record.observed_timestamp
            severity = record.severity_text or (record.severity_number.name if record.severity_number else None)
            data = (
                '{"body":' + to_json(record.body)
                + ',"severity":' + to_json(severity)
                + ',"attributes":' + attributes + "}"
            )
            scope = getattr(readable, "instrumentation_scope", None)
            metadata = to_json(
                {
                    "trace_id": f"{record.trace_id:032x}" if record.trace_id else None,
                    "span_id": f"{record.span_id:016x}" if record.span_id else None,
                    "scope": scope.name if scope else None,
                    "resource": resource_json(resource),
                }
            )
            row_id = event_id("log", timestamp, record.observed_timestamp, record.trace_id, record.span_id, data)
            rows.append((row_id, "log", row_us(timestamp), clean_text(service_of(resource), MAX_SOURCE), data,
                         metadata))
        except Exception as exc:
            rejected.add(f"unmappable log record ({type(exc).__name__})")
    return rows, rejected
