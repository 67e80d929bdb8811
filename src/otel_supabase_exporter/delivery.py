"""Getting batches into PostgreSQL without losing them and without hurting the application.

Every export goes through :class:`Delivery` (one per destination, shared by the exporters):

* a connection that broke in use, a serialization failure or a deadlock is retried at once
  (up to 3 attempts, exponential backoff with full jitter, within the export's time budget);
* when no connection can be made or the server is too slow (statement timeout), the batch
  goes to the spool at once and the database is tried again later, with capped exponential
  backoff and jitter (the same for every transient error, pooler errors included);
* permanent ones (missing table, missing privilege, bad password...) are logged once per
  cause, with what to do, and not retried for a while;
* what could not be written goes to the :class:`~.spool.Spool` and an export reports success:
  the batch is safe. While the database is failing, exports go straight to the spool (a
  circuit breaker), so a down or slow database costs an export a few milliseconds;
* a background thread replays the spool, oldest first, whenever the database answers again
  — also the spool a crashed process left behind.

Replays are exactly-once: raw rows and events have stable ids (``ON CONFLICT DO NOTHING``)
and each 1-minute merge carries a batch id recorded in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import psycopg
from opentelemetry.metrics import Observation
from psycopg import conninfo

from .config import Settings, mask_dsn
from .histogram import ExpHistogram
from .mapping import MinuteRow, RowStream, all_rows
from .spool import Spool, SpoolState, SpoolUnavailable
from .writer import PostgresWriter, Unavailable, WriteError, WriteResult

__all__ = ["Batch", "Delivery", "ExportStats", "delivery_for"]

_log = logging.getLogger(__name__)

SIGNALS = ("spans", "logs", "metrics")
OUTCOMES = ("received", "exported", "duplicates", "retried", "spooled", "replayed", "failed")
RETRY_BASE_S = 0.1
MAX_ATTEMPTS = 3
RETRY_CAP_S = 5.0
BREAKER_CAP_S = 30.0
PERMANENT_BACKOFF_S = 60.0
REPLAY_IDLE_S = 5.0
SPOOL_RECORD_ROWS = 256
SELF_SCOPE = "otel_supabase_exporter"


# ---------------------------------------------------------------- counters


@dataclass
class ExportStats:
    """Items of one signal: received, written, duplicates, retried, spooled, replayed, and why
    any were set aside (rejected) or lost (dropped)."""

    received: int = 0
    exported: int = 0
    duplicates: int = 0
    retried: int = 0
    spooled: int = 0
    replayed: int = 0
    failed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def add_reasons(self, kind: str, reasons: dict[str, int] | Counter) -> None:
        if not reasons:
            return
        with self._lock:
            target = self.rejected if kind == "rejected" else self.dropped
            for reason, n in reasons.items():
                target[reason] = target.get(reason, 0) + n

    def written(self, result: WriteResult, replayed: bool = False) -> None:
        self.add(exported=result.written, duplicates=result.duplicates,
                 **({"replayed": result.written} if replayed else {}))
        self.add_reasons("rejected", result.rejected)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {name: getattr(self, name) for name in OUTCOMES}
            out.update(rejected=dict(self.rejected), dropped=dict(self.dropped))
            return out


# ---------------------------------------------------------------- batches


@dataclass
class Batch:
    """What one export writes: raw rows + events (spans), events (logs), or minute merges (metrics)."""

    signal: str
    rows: Sequence[tuple] | RowStream | Sequence[MinuteRow] = ()
    events: Sequence[tuple] = ()
    batch_id: uuid.UUID | None = None

    @property
    def items(self) -> int:
        return len(all_rows(self.rows)) + len(self.events)

    def write(self, writer: PostgresWriter) -> WriteResult:
        if self.signal == "metrics":
            assert self.batch_id is not None
            return writer.write_minutes(self.rows, self.events, self.batch_id)  # type: ignore[arg-type]
        if self.signal == "spans":
            return writer.write_spans(self.rows, self.events)  # type: ignore[arg-type]
        return writer.write_events(self.events)

    def split(self, size: int) -> list[Batch]:
        """Batches of at most ``size`` rows or events each. Spooling small records keeps every
        (de)serialisation short: it holds the GIL, so the application must not wait for it.
        A minute merge's parts get batch ids derived from its own, so each stays exactly-once."""
        rows = list(all_rows(self.rows))
        parts = [Batch(self.signal, rows[i:i + size], (), None) for i in range(0, len(rows), size)]
        events = list(self.events)
        parts += [Batch(self.signal, [], events[i:i + size], None) for i in range(0, len(events), size)]
        if self.batch_id is not None:
            for i, part in enumerate(parts):
                part.batch_id = uuid.uuid5(self.batch_id, str(i)) if len(parts) > 1 else self.batch_id
        return parts

    def payload(self) -> dict[str, Any]:
        rows = all_rows(self.rows)
        if self.signal == "metrics":
            encoded: list = [_minute_json(r) for r in rows]  # type: ignore[arg-type]
        else:
            encoded = [list(r) for r in rows]
        return {"v": 1, "signal": self.signal, "batch_id": self.batch_id.hex if self.batch_id else None,
                "rows": encoded, "events": [list(e) for e in self.events]}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Batch:
        signal = payload["signal"]
        rows: list = payload["rows"]
        if signal == "metrics":
            rows = [_minute_from_json(r) for r in rows]
        else:
            rows = [tuple(r) for r in rows]
        batch_id = uuid.UUID(payload["batch_id"]) if payload.get("batch_id") else None
        return cls(signal, rows, [tuple(e) for e in payload["events"]], batch_id)


def _minute_json(r: MinuteRow) -> list:
    h = r.histogram
    return [int(r.minute_window.timestamp()), r.cache_name, r.implementation_type, r.service_name, r.hits,
            r.misses, r.sets, r.deletes, r.evictions, r.errors, r.latency_count, r.latency_sum_ms,
            r.min_response_time_ms, r.max_response_time_ms, r.cache_size, r.latency_zero_count,
            [h.scale, h.index_offset, list(h.counts)] if h else None]


def _minute_from_json(v: list) -> MinuteRow:
    from datetime import datetime, timezone

    h = v[16]
    return MinuteRow(datetime.fromtimestamp(v[0], timezone.utc), *v[1:16],
                     histogram=ExpHistogram(h[0], h[1], tuple(h[2])) if h else None)


# ---------------------------------------------------------------- errors


def retry_now(exc: BaseException) -> bool:
    """Worth an immediate retry within the export: the connection broke in use (a fresh one may
    work) or the server asked us to (serialization failure, deadlock). Not when no connection
    could be made, nor when the server is too slow: those go to the spool at once."""
    cause = exc.__cause__ if isinstance(exc, WriteError) and exc.__cause__ is not None else exc
    if isinstance(exc, Unavailable) or isinstance(cause, psycopg.errors.QueryCanceled):
        return False
    return is_transient(exc)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying soon: the connection or the server's state, not our request, was the problem."""
    cause = exc.__cause__ if isinstance(exc, WriteError) and exc.__cause__ is not None else exc
    if isinstance(cause, psycopg.errors.InvalidAuthorizationSpecification) or (
        getattr(cause, "sqlstate", None) or "").startswith("28"):
        return False  # wrong password or role: retrying will not help
    return isinstance(cause, (psycopg.OperationalError, psycopg.InterfaceError, OSError, TimeoutError))


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc only). A replay allocates and frees a
    lot, in a thread of its own; without this, glibc keeps the freed pages and the
    process's resident size steps up after each outage."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def _backoff(attempt: int, cap: float) -> float:
    return random.uniform(0, min(cap, RETRY_BASE_S * (2 ** attempt)))  # full jitter


def _spool_directory(settings: Settings) -> Path:
    base = Path(settings.spool_dir).expanduser() if settings.spool_dir else \
        Path(platformdirs.user_cache_dir("otel-supabase-exporter")) / "spool"
    if settings.dsn:
        try:
            p = conninfo.conninfo_to_dict(settings.dsn)
            where = f"{p.get('host', '')}:{p.get('port', '')}/{p.get('dbname', '')}/{p.get('user', '')}"
        except Exception:
            where = mask_dsn(settings.dsn)
    else:
        where = f"embedded:{settings.embedded_dir or ''}"
    key = hashlib.sha256(f"{where}/{settings.schema}".encode()).hexdigest()[:16]
    return base / f"{settings.schema}-{key}"


# ---------------------------------------------------------------- delivery


class Delivery:
    """Writes batches for one destination: retries, circuit breaker, spool and replay."""

    def __init__(self, settings: Settings, writer: PostgresWriter) -> None:
        self.settings = settings
        self.writer = writer
        self.stats = {signal: ExportStats() for signal in SIGNALS}
        self.torn_records = 0
        self.spool: Spool | None = None
        if settings.spool_max_bytes > 0:
            try:
                self.spool = Spool(_spool_directory(settings), settings.spool_max_bytes,
                                   on_drop=self._spool_dropped)
            except SpoolUnavailable as exc:
                _log.warning("%s; batches the database cannot take are dropped (counted)", exc)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._retry_at = 0.0  # monotonic time before which the database is not tried
        self._failures = 0
        self._reported: set[str] = set()
        self._users = 0
        self._replayer: threading.Thread | None = None
        if self.spool is not None:
            self._replayer = threading.Thread(target=self._replay_loop, name="otel-supabase-replay", daemon=True)
            self._replayer.start()

    def __repr__(self) -> str:
        return f"Delivery(dsn={mask_dsn(self.settings.dsn)!r}, schema={self.settings.schema!r})"

    # -- sending

    def send(self, batch: Batch, received: int, timeout_s: float | None = None) -> bool:
        """Write ``batch`` now, or keep it in the spool; True when it is written or spooled.
        Never raises, never takes much longer than ``timeout_s``."""
        stats = self.stats[batch.signal]
        stats.add(received=received)
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.settings.timeout_s)
        attempt = 0
        while time.monotonic() >= self._retry_at:
            try:
                result = batch.write(self.writer)
            except Exception as exc:
                if not is_transient(exc):
                    self._failed(exc, permanent=True)
                    break
                attempt += 1
                delay = _backoff(attempt, RETRY_CAP_S)
                if not retry_now(exc) or attempt > MAX_ATTEMPTS or time.monotonic() + delay >= deadline:
                    self._failed(exc, permanent=False)
                    break
                stats.add(retried=1)
                time.sleep(delay)
                continue
            stats.written(result)
            self._succeeded()
            return True
        return self._keep(batch, stats)

    def _keep(self, batch: Batch, stats: ExportStats) -> bool:
        try:
            items = batch.items
        except Exception as exc:  # the rest of a streamed batch could not be made
            _log.warning("could not complete a %s batch for the spool: %s", batch.signal, type(exc).__name__)
            stats.add(failed=1)
            return False
        if self.spool is None:
            stats.add(failed=items)
            stats.add_reasons("dropped", {"database unavailable and spool off": items})
            return False
        kept = True
        for part in batch.split(SPOOL_RECORD_ROWS):
            n = part.items
            if self.spool.append(part.payload(), n, SIGNALS.index(part.signal)):
                stats.add(spooled=n)
            else:
                stats.add(failed=n)
                kept = False
        return kept

    def _spool_dropped(self, reason: str, items: int, tag: int) -> None:
        signal = SIGNALS[tag] if 0 <= tag < len(SIGNALS) else "spans"
        self.stats[signal].add_reasons("dropped", {reason: items})

    def _succeeded(self) -> None:
        with self._lock:
            had_failures = self._failures > 0
            self._failures = 0
            self._retry_at = 0.0
        if had_failures:
            _log.info("database %s answers again", mask_dsn(self.settings.dsn))
            self._reported.clear()
            self._wake.set()

    def _failed(self, exc: BaseException, permanent: bool) -> None:
        message = exc.args[0] if isinstance(exc, WriteError) and exc.args else self.writer.describe(exc)
        with self._lock:
            self._failures += 1
            pause = PERMANENT_BACKOFF_S if permanent else _backoff(self._failures + 2, BREAKER_CAP_S)
            self._retry_at = time.monotonic() + pause
        key = message.split(":", 1)[0] + (" permanent" if permanent else "")
        if key not in self._reported:  # once per cause until the database answers again
            self._reported.add(key)
            _log.warning("cannot write to %s (%s): %s; batches go to the spool %s and are replayed when it works",
                         mask_dsn(self.settings.dsn), "not retrying for a while" if permanent else "retrying",
                         message, self.spool.directory if self.spool else "(spool off: they are dropped)")

    # -- replay

    def _replay_loop(self) -> None:
        # At start first: a spool left by a crashed process replays as soon as the database answers.
        while not self._closed.is_set():
            if time.monotonic() >= self._retry_at:
                try:
                    self.replay()
                except Exception as exc:  # keep the thread alive whatever happens
                    _log.warning("spool replay failed: %s", type(exc).__name__)
            wait = max(self._retry_at - time.monotonic(), 0.0)
            self._wake.wait(wait if wait > 0 else REPLAY_IDLE_S)
            self._wake.clear()

    def replay(self) -> int:
        """Replay the spool now (oldest first); returns the batches written."""
        if self.spool is None or self.spool.empty():
            return 0

        def deliver(payload: dict[str, Any], items: int, tag: int) -> bool:
            if self._closed.is_set():
                return False
            try:
                batch = Batch.from_payload(payload)
            except Exception as exc:
                _log.warning("unreadable batch in the spool skipped (%s)", type(exc).__name__)
                self._spool_dropped("unreadable spool record", items, tag)
                return True
            started = time.monotonic()
            try:
                result = batch.write(self.writer)
            except Exception as exc:
                self._failed(exc, permanent=not is_transient(exc))
                return False
            self.stats[batch.signal].written(result, replayed=True)
            self._succeeded()
            # Half duty: live exports (and the application) keep at least as much time as the replay.
            self._closed.wait(time.monotonic() - started)
            return True

        def torn(n: int) -> None:
            self.torn_records += n

        batches, _ = self.spool.replay(deliver, on_torn=torn)
        if batches:
            release_memory()
        return batches

    def observe(self, meter_provider: Any) -> None:
        """Report this delivery's counters as OpenTelemetry metrics of ``meter_provider``."""
        ref = weakref.ref(self)
        meter = meter_provider.get_meter(SELF_SCOPE)

        def snapshots() -> list[tuple[str, dict[str, Any]]]:
            delivery = ref()
            return [] if delivery is None else [(sig, st.snapshot()) for sig, st in delivery.stats.items()]

        def items(options: Any) -> list[Observation]:
            return [Observation(snap[outcome], {"signal": signal, "outcome": outcome})
                    for signal, snap in snapshots() for outcome in OUTCOMES]

        def set_aside(options: Any) -> list[Observation]:
            out = [Observation(n, {"signal": signal, "kind": kind, "reason": reason})
                   for signal, snap in snapshots() for kind in ("rejected", "dropped")
                   for reason, n in snap[kind].items()]
            delivery = ref()
            if delivery is not None and delivery.torn_records:
                out.append(Observation(delivery.torn_records,
                                       {"signal": "unknown", "kind": "dropped", "reason": "torn spool record"}))
            return out

        def spool_bytes(options: Any) -> list[Observation]:
            delivery = ref()
            state = delivery.spool_state() if delivery is not None else None
            return [] if state is None else [Observation(state.bytes, {"directory": state.directory})]

        meter.create_observable_counter(f"{SELF_SCOPE}.items", callbacks=[items], unit="{item}",
                                        description="Items the exporters received, wrote, retried, spooled...")
        meter.create_observable_counter(f"{SELF_SCOPE}.items.set_aside", callbacks=[set_aside], unit="{item}",
                                        description="Items rejected (invalid) or dropped (lost), by reason.")
        meter.create_observable_gauge(f"{SELF_SCOPE}.spool.size", callbacks=[spool_bytes], unit="By",
                                      description="Bytes waiting in the spool.")

    def spool_state(self) -> SpoolState | None:
        return self.spool.state() if self.spool is not None else None

    def release(self, timeout_s: float | None = None) -> None:
        """One exporter is done with this delivery; the last one closes it."""
        with _deliveries_lock:
            self._users -= 1
            if self._users > 0:
                return
            if _deliveries.get(self.settings) is self:
                del _deliveries[self.settings]
        self.close(timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Stop replaying; close the spool segment and the connections."""
        self._closed.set()
        self._wake.set()
        if self._replayer is not None:
            self._replayer.join(timeout=timeout_s if timeout_s is not None else self.settings.timeout_s)
        if self.spool is not None:
            self.spool.close()
        self.writer.close()


_deliveries: dict[Settings, Delivery] = {}
_deliveries_lock = threading.Lock()


def delivery_for(settings: Settings) -> Delivery:
    """The process-wide delivery of these settings, for one more exporter (which calls
    :meth:`Delivery.release` when it shuts down)."""
    with _deliveries_lock:
        delivery = _deliveries.get(settings)
        if delivery is None:
            delivery = _deliveries[settings] = Delivery(settings, PostgresWriter(settings))
        delivery._users += 1
        return delivery
