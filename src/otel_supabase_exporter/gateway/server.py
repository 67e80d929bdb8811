"""The OTLP/HTTP receiver: ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs`` (protobuf or JSON,
gzip or not), answered as the OTLP specification says: 200 with ``partial_success`` when some items
were rejected, 400 for a request that must not be retried, 413 when too large, 429 when the
gateway is busy and 503 when the data cannot be kept now — both with ``Retry-After``, which
standard exporters honour. Stateless apart from its spool: run as many as you like behind a load
balancer."""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from .. import settings as env
from ..errors import ConfigurationError
from ..settings import Settings, is_loopback
from ..store.delivery import Delivery, delivery_for
from .decode import BadRequest, TooLarge, decode
from .ingest import Outcome, digest_of, ingest

__all__ = ["Gateway"]

_log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024
RETRY_AFTER_S = 5
_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
_RESPONSES: dict[str, Any] = {"traces": ExportTraceServiceResponse, "metrics": ExportMetricsServiceResponse,
                              "logs": ExportLogsServiceResponse}
_REJECTED_FIELD = {"traces": "rejected_spans", "metrics": "rejected_data_points", "logs": "rejected_log_records"}


class Gateway:
    """An OTLP/HTTP receiver writing to one (DSN, schema) through the package's delivery."""

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 4318, token: str | None = None,
                 max_body: int = MAX_BODY, max_inflight: int = 16) -> None:
        self.settings = settings
        self.token = token if token is not None else env.gateway_token()
        if not is_loopback(host) and not self.token:
            raise ConfigurationError(f"the gateway binds {host}, which is not loopback: set a token (--token or "
                                     f"{env.ENV_GATEWAY_TOKEN}) that senders send as Authorization: Bearer")
        self.max_body = max_body
        self.delivery: Delivery = delivery_for(settings)
        self._slots = threading.BoundedSemaphore(max_inflight)
        handler = type("GatewayHandler", (_Handler,), {"gateway": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Gateway(url={self.url!r}, schema={self.settings.schema!r})"

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{f'[{host}]' if ':' in str(host) else host}:{port}"

    def start(self) -> "Gateway":
        self._thread = threading.Thread(target=self._server.serve_forever, name="otel-gateway", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.delivery.release()

    def handle(self, signal: str, body: bytes, *, content_type: str, encoding: str) -> Outcome:
        """Decode and ingest one request (BadRequest/TooLarge when it is not a valid one)."""
        request = decode(signal, body, content_type=content_type, encoding=encoding, limit=self.max_body)
        return ingest(self.delivery, signal, request, digest_of(signal, body))


class _Handler(BaseHTTPRequestHandler):
    gateway: Gateway
    server_version = "otel-supabase-exporter-gateway"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def _reply(self, status: int, body: bytes, content_type: str, retry_after: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if retry_after:
            self.send_header("Retry-After", str(RETRY_AFTER_S))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str, json_reply: bool, retry_after: bool = False) -> None:
        if json_reply:
            body = json.dumps({"code": int(status), "message": message}).encode()
            self._reply(status, body, "application/json", retry_after)
        else:  # a google.rpc.Status would need its own proto; plain text says the same
            self._reply(status, message.encode(), "text/plain; charset=utf-8", retry_after)

    def do_POST(self) -> None:
        signal = _PATHS.get(self.path.split("?", 1)[0])
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        as_json = content_type == "application/json"
        try:
            length = int(self.headers.get("Content-Length") or -1)
        except ValueError:
            length = -1
        if signal is None:
            self._discard(length)
            return self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path[:80]}", as_json)
        if not self._authorised():
            self._discard(length)
            return self._error(HTTPStatus.UNAUTHORIZED, "send Authorization: Bearer <gateway token>", as_json)
        try:
            body = self._body(length)
        except TooLarge as exc:
            self.close_connection = True
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc), as_json)
        except (BadRequest, ValueError, OSError) as exc:
            self.close_connection = True
            return self._error(HTTPStatus.BAD_REQUEST, f"unreadable body: {exc}"[:200], as_json)
        if not self.gateway._slots.acquire(blocking=False):
            return self._error(HTTPStatus.TOO_MANY_REQUESTS, "busy: retry later", as_json, retry_after=True)
        try:
            outcome = self.gateway.handle(signal, body, content_type=content_type,
                                          encoding=(self.headers.get("Content-Encoding") or "").strip().lower())
        except TooLarge as exc:
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc), as_json)
        except BadRequest as exc:
            return self._error(HTTPStatus.BAD_REQUEST, str(exc), as_json)
        except Exception as exc:  # never a traceback (or a DSN) to the sender
            _log.warning("gateway: %s on %s", type(exc).__name__, self.path)
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"internal error ({type(exc).__name__})", as_json,
                               retry_after=True)
        finally:
            self.gateway._slots.release()
        if not outcome.stored:
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, "the database cannot take the data now and it "
                               "could not be spooled: retry later", as_json, retry_after=True)
        response = _RESPONSES[signal]()
        if outcome.rejected:
            setattr(response.partial_success, _REJECTED_FIELD[signal], outcome.rejected)
            response.partial_success.error_message = outcome.message[:1000]
        if as_json:
            self._reply(200, json_format.MessageToJson(response).encode(), "application/json")
        else:
            self._reply(200, response.SerializeToString(), "application/x-protobuf")

    def _body(self, length: int) -> bytes:
        """The request body: Content-Length or chunked (what OpenTelemetry JS sends), never over the limit."""
        limit = self.gateway.max_body
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts, size = [], 0
            while True:
                line = self.rfile.readline(1026)
                chunk = int(line.split(b";", 1)[0].strip() or b"x", 16)
                if chunk == 0:
                    while self.rfile.readline(1026) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                size += chunk
                if size > limit:
                    raise TooLarge(f"body over {limit} bytes")
                parts.append(self.rfile.read(chunk))
                self.rfile.readline(3)
        if length < 0:
            raise BadRequest("send a Content-Length or a chunked body")
        if length > limit:
            raise TooLarge(f"body over {limit} bytes")
        return self.rfile.read(length)

    def _authorised(self) -> bool:
        token = self.gateway.token
        if not token:
            return True
        given = self.headers.get("Authorization", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())

    def _discard(self, length: int) -> None:
        if 0 < length <= self.gateway.max_body:
            self.rfile.read(length)
        else:
            self.close_connection = True
