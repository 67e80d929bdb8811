"""The live dashboard: a small HTTP server with a JSON API under ``/api/`` (reads through
:mod:`..judge.board`), a page whose charts are drawn by uPlot (fetched at a pinned version when the
package is built, see ``hatch_build.py``; every asset ships in the package, nothing is fetched from
the internet), and Server-Sent Events fed by the database's NOTIFYs so the page updates without
reloading. docs/dashboard.md describes the page.

Safe by default: it binds 127.0.0.1; every query is read-only and parameterised except
acknowledging an observation; acknowledging needs a token whenever one is configured, and one
must be configured to bind anything but loopback.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any, Iterator, Sequence

import psycopg
from psycopg.rows import dict_row

from .. import settings as env
from ..errors import ApiError, ConfigurationError
from ..judge import board
from ..redact import error_line
from ..settings import Settings, is_loopback
from ..store.connect import connect
from ..store.connections import ConnectionCache
from ._http import Handler, chart_library
from ._params import RANGES, one, window

__all__ = ["ENV_TOKEN", "RANGES", "Dashboard"]

_log = logging.getLogger(__name__)

ENV_TOKEN = env.ENV_DASHBOARD_TOKEN

class Dashboard:
    """The dashboard of one (DSN, schema): ``start()`` serves in the background, ``serve_forever()`` blocks."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 8787,
                 token: str | None = None, *, allowed_hosts: Sequence[str] = ()) -> None:
        self.settings = settings
        # the names a request's Host header may carry: loopback, the bound address, and those given
        # (a page on another origin that rebinds its DNS name to 127.0.0.1 still sends its own name)
        self.allowed_hosts = frozenset(
            {"localhost", "127.0.0.1", "::1"} | {h.strip().strip("[]").lower() for h in (host, *allowed_hosts)}
            - {"", "0.0.0.0", "::"})
        self.schema = settings.schema
        self.token = token if token is not None else env.dashboard_token()
        if not is_loopback(host) and not self.token:
            raise ConfigurationError(
                f"the dashboard binds {host}, which is not loopback: set a token for acknowledging "
                f"(--token or {ENV_TOKEN}), or bind 127.0.0.1")
        self._connections = ConnectionCache(lambda: connect(settings), max_idle=4)
        self._subscribers: set[queue.Queue] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.listening = False
        handler = type("Handler", (Handler,), {"dashboard": self})
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

    def _known(self, cur: psycopg.Cursor, cache: str | None, implementation: str | None) -> None:
        if cache is not None and not board.is_known(cur, self.schema, cache, implementation):
            what = f"cache {cache!r}" + (f" with implementation {implementation!r}" if implementation else "")
            raise ApiError(HTTPStatus.NOT_FOUND, f"unknown {what}: see /api/caches")

    # -- the API (each returns what is sent as JSON)

    def api_health(self, params: dict) -> dict:
        with self._transaction() as cur:
            now = board.database_time(cur)
        return {"status": "ok", "schema": self.schema, "database_time": now, "live": self.listening,
                "charts": chart_library()}

    def api_caches(self, params: dict) -> dict:
        with self._transaction() as cur:
            rows, reference = board.cache_list(cur, self.schema)
            activity = board.cache_activity(cur, self.schema)
        caches: dict[str, list[str]] = {}
        for r in rows:
            caches.setdefault(r["cache_name"], []).append(r["implementation_type"])
        # the page starts on the busiest cache (most operations in the last 24 hours; ties: by name)
        busiest = max(caches, key=lambda c: activity.get(c, 0), default=None)
        return {"reference_implementation": reference, "busiest": busiest,
                "caches": [{"cache_name": c, "implementations": impls, "operations_24h": activity.get(c, 0)}
                           for c, impls in caches.items()]}

    def api_series(self, params: dict) -> dict:
        cache, implementation = one(params, "cache"), one(params, "implementation")
        begin, end, step, label = window(params)
        with self._transaction() as cur:
            self._known(cur, cache, implementation)
            span = board.Span(begin, end, step)
            rows = board.series_rows(cur, self.schema, span, cache=cache, implementation=implementation)
            expected = board.expected_rows(cur, self.schema, span, cache=cache) if cache else []
            now = board.database_time(cur)
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
        # the baseline the auditor judges each bucket against (a cache's series only)
        for r in expected:
            s = series.get(f"{cache}\x1f{r['implementation_type']}")
            if s is not None:
                s.setdefault("expected", []).append({
                    "t": r["bucket_start"], "hour_of_week": r["hour_of_week"], "hit_rate": r["hit_rate"],
                    "error_rate": r["error_rate"], "ops_per_minute": r["throughput_per_minute"],
                    "p50_ms": r["p50_response_time_ms"], "p95_ms": r["p95_response_time_ms"],
                    "p99_ms": r["p99_response_time_ms"]})
        # minutes before this one are complete; a bucket that ends after it is still being written
        complete_before = min(end, now.replace(second=0, microsecond=0))
        return {"range": label, "from": begin, "to": end, "bucket_seconds": step.total_seconds(),
                "source": "1-hour rows" if step >= timedelta(hours=1) and begin.minute == 0 else "1-minute rows",
                "complete_before": complete_before, "series": list(series.values())}

    def _whole(self, params: dict) -> tuple[board.Span, str]:
        """The range as one bucket, the current (partial) hour included. For ranges read from hour
        rows the bucket is rounded up to whole hours (so hour rows serve the complete hours and
        minute rows the rest); the rate still divides by the range's own minutes."""
        begin, end, step, label = window(params)
        if step >= timedelta(hours=1) and begin.minute == 0 and end - begin > timedelta(hours=2):
            return board.Span(begin, end, end.replace(minute=0) - begin + timedelta(hours=1)), label
        return board.Span(begin, end), label

    def api_summary(self, params: dict) -> dict:
        cache = one(params, "cache")
        span, label = self._whole(params)
        with self._transaction() as cur:
            self._known(cur, cache, None)
            rows = board.series_rows(cur, self.schema, span, cache=cache)
        return {"range": label, "from": span.begin, "to": span.end, "rows": [
            {k: r[k] for k in ("cache_name", "implementation_type", "total_operations", "throughput_per_minute",
                               "hit_rate", "error_rate", "p50_response_time_ms", "p95_response_time_ms",
                               "p99_response_time_ms", "cache_size", "hits", "misses", "errors")} for r in rows]}

    def api_compare(self, params: dict) -> dict:
        cache = one(params, "cache")
        span, label = self._whole(params)
        with self._transaction() as cur:
            self._known(cur, cache, None)
            rows = board.comparison(cur, self.schema, span, cache=cache)
        return {"range": label, "from": span.begin, "to": span.end, "rows": rows}

    def api_observations(self, params: dict) -> dict:
        status = one(params, "status") or "open"
        if status not in ("open", "all"):
            raise ApiError(HTTPStatus.BAD_REQUEST, f"status: open or all (got {status[:20]!r})")
        try:
            limit = int(one(params, "limit") or 100)
        except ValueError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "limit: a whole number") from None
        if not 1 <= limit <= 1000:
            raise ApiError(HTTPStatus.BAD_REQUEST, "limit: between 1 and 1000")
        cache = one(params, "cache")
        with self._transaction() as cur:
            rows = board.observation_list(cur, self.schema, status=status, cache=cache, limit=limit)
        return {"status": status, "observations": rows}

    def api_bands(self, params: dict) -> dict:
        """The observations open at some time in the range: the bands on the charts."""
        cache = one(params, "cache")
        begin, end, _, label = window(params)
        with self._transaction() as cur:
            rows = board.observation_bands(cur, self.schema, board.Span(begin, end), cache=cache)
        return {"range": label, "from": begin, "to": end, "bands": rows}

    def api_acknowledge(self, observation_id: int, body: dict) -> dict:
        by = body.get("by")
        if not isinstance(by, str) or not by.strip() or len(by) > 200:
            raise ApiError(HTTPStatus.BAD_REQUEST, "body: {\"by\": \"who acknowledges\"} (1 to 200 characters)")
        try:
            with self._transaction(read_only=False) as cur:
                row = board.acknowledge(cur, self.schema, observation_id, by.strip())
        except psycopg.errors.NoDataFound:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no observation with id {observation_id}") from None
        return {"observation": row}

    # -- live updates

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

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
                    board.listen(conn)
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


