"""OTLP/HTTP request bodies → OTLP protobuf messages: protobuf or JSON, gzip or not, bounded in size.

OTLP/JSON differs from protobuf's canonical JSON mapping in one way that matters: trace and
span ids are hex strings, not base64 (OTLP specification, "JSON Protobuf Encoding").
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..errors import Error

__all__ = ["REQUESTS", "BadRequest", "TooLarge", "decode"]

REQUESTS: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
_HEX_IDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class BadRequest(Error):
    """The body is not a valid OTLP request (400: the sender must not retry it)."""


class TooLarge(Error):
    """The body, or what it inflates to, is over the limit (413)."""


def _inflate(body: bytes, limit: int) -> bytes:
    """Gunzip ``body`` without ever holding more than ``limit`` bytes of output (no zip bombs)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"invalid gzip body: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"the body inflates to more than {limit} bytes")
    return out


def _hex_ids_to_base64(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in _HEX_IDS and isinstance(v, str) and v
                    else _hex_ids_to_base64(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_hex_ids_to_base64(v) for v in value]
    return value


def decode(signal: str, body: bytes, *, content_type: str, encoding: str, limit: int) -> Message:
    """The request message of ``signal`` in ``body``; BadRequest or TooLarge when it is not one."""
    if len(body) > limit:
        raise TooLarge(f"the body is larger than {limit} bytes")
    if encoding == "gzip":
        body = _inflate(body, limit)
    elif encoding not in ("", "identity"):
        raise BadRequest(f"unsupported Content-Encoding {encoding[:40]!r} (gzip or none)")
    message = REQUESTS[signal]()
    if content_type == "application/x-protobuf":
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequest(f"invalid protobuf body: {exc}") from None
    elif content_type == "application/json":
        try:
            json_format.ParseDict(_hex_ids_to_base64(json.loads(body)), message, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError, TypeError) as exc:
            raise BadRequest(f"invalid OTLP/JSON body: {str(exc)[:200]}") from None
    else:
        raise BadRequest(f"unsupported Content-Type {content_type[:60]!r} (application/x-protobuf or "
                         "application/json)")
    return message
