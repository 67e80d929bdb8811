"""The dashboard's HTTP side: static files, the JSON routes, acknowledging (POST), the event stream;
security headers on every answer, JSON for every error."""

from __future__ import annotations

import hmac
import json
import logging
import queue
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import ApiError

__all__ = ["Handler", "chart_library"]

_log = logging.getLogger("otel_supabase_exporter.show.dashboard")

MAX_BODY = 4096
JS, CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
# the package's static folder; vendor/ in it is written by the build (hatch_build.py), not kept in git
STATIC = resources.files(__package__).joinpath("static")
VENDOR_FILES = ("uPlot.iife.min.js", "uPlot.min.css")
VENDOR_MISSING = ("the chart library (uPlot) is not in this installation: it is fetched when the package is "
                  "built, so run `pip install -e .` in the source tree (or install the wheel)")
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/style.css": ("style.css", CSS),
    **{f"/static/{name}": (name, JS) for name in ("app.js", "charts.js", "format.js", "observations.js")},
    "/static/vendor/uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", JS),
    "/static/vendor/uPlot.min.css": ("vendor/uPlot.min.css", CSS),
}


def chart_library() -> dict[str, Any]:
    """What the build vendored (name, version, sha256), and whether its files are present."""
    try:
        info = json.loads(STATIC.joinpath("vendor", "vendor.json").read_text())
    except (OSError, ValueError):
        info = {"name": "uPlot"}
    present = all(STATIC.joinpath("vendor", name).is_file() for name in VENDOR_FILES)
    return {**info, "present": present, **({} if present else {"fix": VENDOR_MISSING})}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# path -> the Dashboard method answering it
_ROUTES: dict[str, str] = {
    "/api/health": "api_health",
    "/api/caches": "api_caches",
    "/api/series": "api_series",
    "/api/summary": "api_summary",
    "/api/compare": "api_compare",
    "/api/observations": "api_observations",
    "/api/bands": "api_bands",
}
_ACK = re.compile(r"^/api/observations/(\d{1,18})/ack$")


class Handler(BaseHTTPRequestHandler):
    """One request to the dashboard of the subclass's ``dashboard`` attribute."""

    dashboard: Any
    server_version = "otel-supabase-exporter-dashboard"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet; requests never carry secrets in URLs
        _log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**_SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        body = json.dumps(value, default=_json_default, allow_nan=False).encode()
        self._send(status, body, "application/json", {"Cache-Control": "no-store"})

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._json(status, {"error": message, "status": int(status)})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The server's own errors (unknown method, malformed request line) as JSON too."""
        self.close_connection = True
        try:
            self._error(HTTPStatus(code), message or HTTPStatus(code).phrase)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _not_allowed(self) -> None:
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{self.command} is not supported: GET, or POST to "
                                                            "acknowledge", "status": 405})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _host_allowed(self) -> bool:
        """Whether the Host header names this dashboard (DNS rebinding sends the attacker's name)."""
        host = (self.headers.get("Host") or "").strip().lower()
        name = host[1:host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 \
            else host
        if name in self.dashboard.allowed_hosts:
            return True
        self._error(HTTPStatus.FORBIDDEN, f"host {host[:80]!r} is not allowed: open the dashboard as "
                                          "http://127.0.0.1:<port>/ or add the name with --allowed-host")
        return False

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if not self._host_allowed():
            return
        try:
            if parts.path in _STATIC:
                name, content_type = _STATIC[parts.path]
                try:
                    body = STATIC.joinpath(*name.split("/")).read_bytes()
                except FileNotFoundError:
                    raise ApiError(HTTPStatus.NOT_FOUND, VENDOR_MISSING if name.startswith("vendor/")
                                   else f"{name} is missing from the installation") from None
                self._send(200, body, content_type, {"Cache-Control": "no-cache"})
            elif parts.path == "/api/events":
                self._events()
            elif parts.path in _ROUTES:
                params = parse_qs(parts.query, keep_blank_values=True)
                self._json(200, getattr(self.dashboard, _ROUTES[parts.path])(params))
            elif _ACK.match(parts.path):
                self._error(HTTPStatus.METHOD_NOT_ALLOWED, "acknowledge with POST")
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such page: {parts.path[:80]}")
        except ApiError as exc:
            self._error(exc.status, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # never a traceback (or a DSN) to the client
            _log.warning("dashboard: %s on %s", type(exc).__name__, parts.path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(exc).__name__})")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        match = _ACK.match(parts.path)
        if not self._host_allowed():
            return
        try:
            if not match:
                if parts.path in _ROUTES or parts.path in _STATIC or parts.path == "/api/events":
                    raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, f"{parts.path} is read-only (GET)")
                raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {parts.path[:80]}")
            self._check_origin()
            self._check_token()
            if self.headers.get_content_type() != "application/json":
                raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise ApiError(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
            if length > MAX_BODY:
                raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY} bytes")
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                raise ApiError(HTTPStatus.BAD_REQUEST, "body is not JSON") from None
            if not isinstance(body, dict):
                raise ApiError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
            self._json(200, self.dashboard.api_acknowledge(int(match.group(1)), body))
        except ApiError as exc:
            self._error(exc.status, exc.message)
        except Exception as exc:
            _log.warning("dashboard: %s on %s", type(exc).__name__, parts.path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(exc).__name__})")

    def _check_origin(self) -> None:
        # a page from another site may POST to 127.0.0.1: refuse any request a browser marks as foreign
        origin = self.headers.get("Origin")
        if origin and urlsplit(origin).netloc != self.headers.get("Host"):
            raise ApiError(HTTPStatus.FORBIDDEN, "cross-origin requests are refused")

    def _check_token(self) -> None:
        token = self.dashboard.token
        if not token:
            return
        given = self.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].encode(), token.encode()):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "acknowledging needs the dashboard's token "
                                                    "(Authorization: Bearer <token>)")

    def _events(self) -> None:
        q = self.dashboard.subscribe()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            for k, v in _SECURITY_HEADERS.items():
                self.send_header(k, v)
            self.end_headers()
            self._event("status", {"live": self.dashboard.listening})
            while not self.dashboard.stopping:
                try:
                    event, data = q.get(timeout=15)
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    continue
                self._event(event, data)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            self.dashboard.unsubscribe(q)

    def _event(self, event: str, data: dict) -> None:
        self.wfile.write(f"event: {event}\ndata: {json.dumps(data, default=_json_default)}\n\n".encode())
        self.wfile.flush()
