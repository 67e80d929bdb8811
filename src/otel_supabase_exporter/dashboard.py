"""The live dashboard: a small HTTP server with a JSON API under ``/api/``, a page that draws its
own charts (SVG; every asset ships in the package, nothing is fetched from the internet), and
Server-Sent Events fed by the database's NOTIFYs so the page updates without reloading.

Safe by default: it binds 127.0.0.1; every query is read-only and parameterised except
acknowledging an observation; acknowledging needs a token whenever one is configured, and one
must be configured to bind anything but loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import queue
import re
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .config import ConfigurationError, Settings, error_line
from .connections import ConnectionCache
from .embedded import connect

__all__ = ["ENV_TOKEN", "RANGES", "Dashboard"]

_log = logging.getLogger(__name__)

ENV_TOKEN = "OTEL_EXPORTER_SUPABASE_DASHBOARD_TOKEN"
CHANNEL = "otel_supabase_exporter"

# range name -> (length, bucket). Up to 24 h from 1-minute rows; 7 and 30 days from 1-hour rows
# (cache_series reads hour rows for whole-hour buckets starting on the hour).
RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "24h": (timedelta(hours=24), timedelta(minutes=10)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
    "30d": (timedelta(days=30), timedelta(hours=6)),
}
MAX_BUCKETS = 5000
MAX_SPAN = timedelta(days=400)
MAX_BODY = 4096
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
_DURATION = re.compile(r"^(\d+)\s*([mhd])$")
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class ApiError(Exception):
    """An answer other than 200: the status and a message for the client."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"parameter {name!r} given more than once")
    return values[0]


def _time(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}: not an ISO 8601 time: {text[:40]!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _bucket(text: str) -> timedelta:
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"bucket: use a whole number of minutes, hours or days, e.g. 5m, "
                                               f"1h, 1d (got {text[:20]!r})")
    n, unit = int(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]


def window(params: dict[str, list[str]], now: datetime | None = None) -> tuple[datetime, datetime, timedelta, str]:
    """(from, to, bucket, label) from ``range=1h|24h|7d|30d`` or ``from``/``to``/``bucket``."""
    now = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start, end, bucket = _one(params, "from"), _one(params, "to"), _one(params, "bucket")
    name = _one(params, "range")
    if start is None and end is None and bucket is None:
        name = name or "1h"
        if name not in RANGES:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"range: one of {', '.join(RANGES)} (got {name[:20]!r})")
        length, step = RANGES[name]
        begin = now - length
        if step >= timedelta(hours=1):  # buckets on the hour: read from the 1-hour rows
            begin = begin.replace(minute=0)
        return begin, now, step, name
    if name is not None:
        raise ApiError(HTTPStatus.BAD_REQUEST, "give either range or from/to/bucket, not both")
    begin = _time(start, "from") if start else now - timedelta(hours=1)
    finish = _time(end, "to") if end else now
    if finish <= begin:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"inverted time range: to ({finish.isoformat()}) is not after "
                                               f"from ({begin.isoformat()})")
    if finish - begin > MAX_SPAN:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"time range too large: at most {MAX_SPAN.days} days")
    step = _bucket(bucket) if bucket else max(timedelta(minutes=1), (finish - begin) / 120)
    step = timedelta(minutes=max(1, round(step.total_seconds() / 60)))
    if (finish - begin) / step > MAX_BUCKETS:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"too many buckets: at most {MAX_BUCKETS}; use a larger bucket")
    return begin, finish, step, "custom"


class Dashboard:
    """The dashboard of one (DSN, schema): ``start()`` serves in the background, ``serve_forever()`` blocks."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 8787,
                 token: str | None = None) -> None:
        self.settings = settings
        self.schema = settings.schema
        self.token = token if token is not None else (os.environ.get(ENV_TOKEN) or None)
        if not _is_loopback(host) and not self.token:
            raise ConfigurationError(
                f"the dashboard binds {host}, which is not loopback: set a token for acknowledging "
                f"(--token or {ENV_TOKEN}), or bind 127.0.0.1")
        self._connections = ConnectionCache(lambda: connect(settings), max_idle=4)
        self._subscribers: set[queue.Queue] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.listening = False
        handler = type("Handler", (_Handler,), {"dashboard": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"Dashboard(url={self.url!r}, schema={self.schema!r})"

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    def start(self) -> "Dashboard":
        """Serve and listen in background threads."""
        for target in (self._server.serve_forever, self._listen):
            thread = threading.Thread(target=target, name=f"otel-dashboard-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        """Serve until interrupted (KeyboardInterrupt stops it cleanly)."""
        listener = threading.Thread(target=self._listen, name="otel-dashboard-listen", daemon=True)
        listener.start()
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._connections.close()

    # -- database

    @contextmanager
    def _transaction(self, read_only: bool = True) -> Iterator[psycopg.Cursor]:
        try:
            conn = self._connections.take()
        except psycopg.Error as exc:
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE,
                           f"database unavailable: {error_line(exc, self.settings.dsn)}") from None
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                if read_only:
                    cur.execute("SET TRANSACTION READ ONLY")
                yield cur
        except ApiError:
            self._connections.give_back(conn)  # rolled back, still healthy
            raise
        except psycopg.errors.UndefinedTable:
            self._connections.discard(conn)
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, f"schema {self.schema!r} is not migrated: "
                                                           "run `otel-supabase-exporter migrate`") from None
        except psycopg.OperationalError as exc:
            self._connections.discard(conn)
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE,
                           f"database unavailable: {error_line(exc, self.settings.dsn)}") from None
        except BaseException:
            self._connections.discard(conn)
            raise
        self._connections.give_back(conn)

    def _fn(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def _known(self, cur: psycopg.Cursor, cache: str | None, implementation: str | None) -> None:
        if cache is None:
            return
        cur.execute(sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM {m} WHERE cache_name = %(c)s"
            "               AND (%(i)s::text IS NULL OR implementation_type = %(i)s))"
            " OR EXISTS (SELECT 1 FROM {h} WHERE cache_name = %(c)s"
            "            AND (%(i)s::text IS NULL OR implementation_type = %(i)s)) AS known").format(
            m=self._fn("cache_metrics_1min"), h=self._fn("cache_metrics_1hour")), {"c": cache, "i": implementation})
        if not cur.fetchone()["known"]:
            what = f"cache {cache!r}" + (f" with implementation {implementation!r}" if implementation else "")
            raise ApiError(HTTPStatus.NOT_FOUND, f"unknown {what}: see /api/caches")

    # -- the API (each returns what is sent as JSON)

    def api_health(self, params: dict) -> dict:
        with self._transaction() as cur:
            cur.execute("SELECT now() AS now")
            now = cur.fetchone()["now"]
        return {"status": "ok", "schema": self.schema, "database_time": now, "live": self.listening}

    def api_caches(self, params: dict) -> dict:
        with self._transaction() as cur:
            cur.execute(sql.SQL(
                "SELECT cache_name, implementation_type FROM {h} WHERE hour_window > now() - interval '31 days'"
                " UNION SELECT cache_name, implementation_type FROM {q}"
                " UNION SELECT cache_name, implementation_type FROM {m} WHERE minute_window > now() - interval '2 hours'"
                " ORDER BY 1, 2").format(h=self._fn("cache_metrics_1hour"), q=self._fn("rollup_queue"),
                                         m=self._fn("cache_metrics_1min")))
            rows = cur.fetchall()
            cur.execute(sql.SQL("SELECT reference_implementation FROM {}").format(self._fn("maintenance_settings")))
            reference = cur.fetchone()["reference_implementation"]
        caches: dict[str, list[str]] = {}
        for r in rows:
            caches.setdefault(r["cache_name"], []).append(r["implementation_type"])
        return {"reference_implementation": reference,
                "caches": [{"cache_name": c, "implementations": impls} for c, impls in caches.items()]}

    def api_series(self, params: dict) -> dict:
        cache, implementation = _one(params, "cache"), _one(params, "implementation")
        begin, end, step, label = window(params)
        with self._transaction() as cur:
            self._known(cur, cache, implementation)
            cur.execute(sql.SQL("SELECT * FROM {}(%s, %s, %s, %s, %s)").format(self._fn("cache_series")),
                        (begin, end, step, cache, implementation))
            rows = cur.fetchall()
        series: dict[str, dict[str, list]] = {}
        for r in rows:
            key = f"{r['cache_name']}\x1f{r['implementation_type']}"
            s = series.setdefault(key, {"cache_name": r["cache_name"], "implementation_type": r["implementation_type"],
                                        "points": []})
            s["points"].append({
                "t": r["bucket_start"], "operations": r["total_operations"],
                "ops_per_minute": r["throughput_per_minute"], "hit_rate": r["hit_rate"],
                "error_rate": r["error_rate"], "p50_ms": r["p50_response_time_ms"],
                "p95_ms": r["p95_response_time_ms"], "p99_ms": r["p99_response_time_ms"],
                "avg_ms": r["avg_response_time_ms"], "cache_size": r["cache_size"],
                "hits": r["hits"], "misses": r["misses"], "errors": r["errors"],
            })
        return {"range": label, "from": begin, "to": end, "bucket_seconds": step.total_seconds(),
                "source": "1-hour rows" if step >= timedelta(hours=1) and begin.minute == 0 else "1-minute rows",
                "series": list(series.values())}

    def _whole(self, params: dict) -> tuple[datetime, datetime, str]:
        """The range as one bucket: for ranges read from hour rows, its whole hours (so hour rows serve)."""
        begin, end, step, label = window(params)
        if step >= timedelta(hours=1) and begin.minute == 0 and end - begin > timedelta(hours=2):
            end = end.replace(minute=0)
        return begin, end, label

    def api_summary(self, params: dict) -> dict:
        cache = _one(params, "cache")
        begin, end, label = self._whole(params)
        with self._transaction() as cur:
            self._known(cur, cache, None)
            cur.execute(sql.SQL("SELECT * FROM {}(%s, %s, %s, %s)").format(self._fn("cache_series")),
                        (begin, end, end - begin, cache))
            rows = cur.fetchall()
        return {"range": label, "from": begin, "to": end, "rows": [
            {k: r[k] for k in ("cache_name", "implementation_type", "total_operations", "throughput_per_minute",
                               "hit_rate", "error_rate", "p50_response_time_ms", "p95_response_time_ms",
                               "p99_response_time_ms", "cache_size", "hits", "misses", "errors")} for r in rows]}

    def api_compare(self, params: dict) -> dict:
        cache = _one(params, "cache")
        begin, end, label = self._whole(params)
        with self._transaction() as cur:
            self._known(cur, cache, None)
            cur.execute(sql.SQL("SELECT * FROM {}(%s, %s, %s, %s)").format(self._fn("compare_implementations")),
                        (begin, end, end - begin, cache))
            rows = cur.fetchall()
        return {"range": label, "from": begin, "to": end, "rows": rows}

    def api_observations(self, params: dict) -> dict:
        status = _one(params, "status") or "open"
        if status not in ("open", "all"):
            raise ApiError(HTTPStatus.BAD_REQUEST, f"status: open or all (got {status[:20]!r})")
        try:
            limit = int(_one(params, "limit") or 100)
        except ValueError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "limit: a whole number") from None
        if not 1 <= limit <= 1000:
            raise ApiError(HTTPStatus.BAD_REQUEST, "limit: between 1 and 1000")
        cache = _one(params, "cache")
        with self._transaction() as cur:
            cur.execute(sql.SQL(
                "SELECT id, severity, category, cache_name, implementation_type, rule, metric, observed_value,"
                " expected_value, deviation_pct, z_score, worst_value, message, recommendation, status,"
                " first_seen_at, last_seen_at, resolved_at, acknowledged, acknowledged_by, acknowledged_at"
                " FROM {} WHERE (%(s)s = 'all' OR status = 'open') AND (%(c)s::text IS NULL OR cache_name = %(c)s)"
                " ORDER BY status = 'open' DESC,"
                "          CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, first_seen_at DESC"
                " LIMIT %(n)s").format(self._fn("cache_auditor_observations")), {"s": status, "c": cache, "n": limit})
            rows = cur.fetchall()
        return {"status": status, "observations": rows}

    def api_acknowledge(self, observation_id: int, body: dict) -> dict:
        by = body.get("by")
        if not isinstance(by, str) or not by.strip() or len(by) > 200:
            raise ApiError(HTTPStatus.BAD_REQUEST, "body: {\"by\": \"who acknowledges\"} (1 to 200 characters)")
        try:
            with self._transaction(read_only=False) as cur:
                cur.execute(sql.SQL("SELECT * FROM {}(%s, %s)").format(self._fn("acknowledge_observation")),
                            (observation_id, by.strip()))
                row = cur.fetchone()
        except psycopg.errors.NoDataFound:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no observation with id {observation_id}") from None
        return {"observation": row}

    # -- live updates

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=100)
        with self._lock:
            self._subscribers.add(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self._subscribers.discard(q)

    def _broadcast(self, event: str, data: dict) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait((event, data))
            except queue.Full:  # a client that does not read loses events, nobody else waits for it
                pass

    def _listen(self) -> None:
        """LISTEN for the schema's NOTIFYs; many minute rows written at once become one event."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                with connect(self.settings) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self.listening, delay = True, 0.5
                    self._broadcast("status", {"live": True})
                    self._relay(conn)
            except psycopg.Error as exc:
                _log.debug("dashboard listener: %s", error_line(exc, self.settings.dsn))
            if self.listening:
                self.listening = False
                self._broadcast("status", {"live": False})
            self._stop.wait(delay)
            delay = min(delay * 2, 10.0)

    def _relay(self, conn: psycopg.Connection) -> None:
        minutes: dict[str, Any] = {}
        observations: list[dict] = []
        flush_at = None
        while not self._stop.is_set():
            for note in conn.notifies(timeout=0.25):
                try:
                    payload = json.loads(note.payload)
                except ValueError:
                    continue
                if payload.get("schema") != self.schema:
                    continue
                if payload.get("table") == "cache_metrics_1min":
                    caches = minutes.setdefault("caches", set())
                    caches.add(payload.get("cache_name"))
                    minutes["rows"] = minutes.get("rows", 0) + 1
                    minutes["latest"] = max(minutes.get("latest", ""), str(payload.get("minute", "")))
                elif payload.get("table") == "cache_auditor_observations":
                    observations.append({k: payload.get(k) for k in ("id", "status", "severity", "acknowledged")})
                flush_at = flush_at or time.monotonic() + 0.3
            if flush_at is not None and time.monotonic() >= flush_at:
                if minutes:
                    self._broadcast("minute", {"caches": sorted(c for c in minutes["caches"] if c),
                                               "rows": minutes["rows"], "latest": minutes["latest"]})
                if observations:
                    self._broadcast("observation", {"changes": observations[-50:]})
                minutes, observations, flush_at = {}, [], None


_ROUTES: dict[str, Callable[[Dashboard, dict], dict]] = {
    "/api/health": Dashboard.api_health,
    "/api/caches": Dashboard.api_caches,
    "/api/series": Dashboard.api_series,
    "/api/summary": Dashboard.api_summary,
    "/api/compare": Dashboard.api_compare,
    "/api/observations": Dashboard.api_observations,
}
_ACK = re.compile(r"^/api/observations/(\d{1,18})/ack$")


class _Handler(BaseHTTPRequestHandler):
    dashboard: Dashboard
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

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        try:
            if parts.path in _STATIC:
                name, content_type = _STATIC[parts.path]
                body = resources.files("otel_supabase_exporter").joinpath("static", name).read_bytes()
                self._send(200, body, content_type, {"Cache-Control": "no-cache"})
            elif parts.path == "/api/events":
                self._events()
            elif parts.path in _ROUTES:
                params = parse_qs(parts.query, keep_blank_values=True)
                self._json(200, _ROUTES[parts.path](self.dashboard, params))
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
            while not self.dashboard._stop.is_set():
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
