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

One bad row never sinks its batch: rows whose time is outside the plausibility window are
rejected (counted) before anything is written, and a batch that fails because of its data (not
the database's state) is bisected until the rows at fault stand alone and are rejected.

In a forked child (gunicorn, Celery prefork, ``multiprocessing``) a delivery starts over: its
own counters, connections, spool segment and replay thread; nothing of the parent's is used.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from typing import Any

from ..errors import SpoolUnavailable, WriteError
from ..forks import start_over_in_children
from ..redact import mask_dsn
from ..settings import Settings
from .batch import Batch
from .plausible import TimestampWindow
from .retry import (BREAKER_CAP_S, MAX_ATTEMPTS, PERMANENT_BACKOFF_S, RETRY_CAP_S, backoff, is_poison, is_transient,
                    retry_now)
from .spool import Spool, SpoolState, directory_for
from .stats import SIGNALS, ExportStats
from .throttle import Throttle
from .writer import PostgresWriter, WriteResult

__all__ = ["Delivery", "delivery_for"]

_log = logging.getLogger(__name__)
_throttle = Throttle(_log)

REPLAY_IDLE_S = 5.0
SPOOL_RECORD_ROWS = 256


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


# ---------------------------------------------------------------- delivery


class Delivery:
    """Writes batches for one destination: retries, circuit breaker, spool and replay."""

    def __init__(self, settings: Settings, writer: PostgresWriter) -> None:
        self.settings = settings
        self.writer = writer
        self.stats = {signal: ExportStats() for signal in SIGNALS}
        self.torn_records = 0
        self.window = TimestampWindow(settings.max_age_s, settings.max_ahead_s)
        self.spool: Spool | None = None
        if settings.spool_max_bytes > 0:
            try:
                self.spool = Spool(directory_for(settings), settings.spool_max_bytes,
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
        self._start_replayer()
        start_over_in_children(self)

    def _start_replayer(self) -> None:
        if self.spool is not None and not self._closed.is_set():
            self._replayer = threading.Thread(target=self._replay_loop, name="otel-supabase-replay", daemon=True)
            self._replayer.start()

    def _after_fork_in_child(self) -> None:
        """Start over in a forked child: the parent's counters, connections, spool segment and
        threads are the parent's (its replay thread does not exist here)."""
        global _deliveries_lock
        _deliveries_lock = threading.Lock()
        self.stats = {signal: ExportStats() for signal in SIGNALS}
        self.torn_records = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        closed, self._closed = self._closed.is_set(), threading.Event()
        if closed:
            self._closed.set()
        self._retry_at, self._failures, self._reported = 0.0, 0, set()
        self.writer.after_fork()
        if self.spool is not None:
            self.spool.after_fork()
        self._start_replayer()

    def __repr__(self) -> str:
        return f"Delivery(dsn={mask_dsn(self.settings.dsn)!r}, schema={self.settings.schema!r})"

    # -- sending

    def send(self, batch: Batch, received: int, timeout_s: float | None = None) -> bool:
        """Write ``batch`` now, or keep it in the spool; True when it is written or spooled.
        Never raises, never takes much longer than ``timeout_s``."""
        stats = self.stats[batch.signal]
        stats.add(received=received)
        rejected = batch.screen(self.window)
        try:
            return self._send(batch, stats, timeout_s)
        finally:
            self._rejected(stats, rejected)

    def _rejected(self, stats: ExportStats, rejected: Counter) -> None:
        if rejected:
            stats.add_reasons("rejected", rejected)
            _throttle.warn("rejected", "%d row(s) not stored: %s", sum(rejected.values()), dict(rejected))

    def _send(self, batch: Batch, stats: ExportStats, timeout_s: float | None) -> bool:
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.settings.timeout_s)
        attempt = 0
        while time.monotonic() >= self._retry_at:
            try:
                result, left = self._write(batch)
            except Exception as exc:
                if not is_transient(exc):
                    self._failed(exc, permanent=True)
                    break
                attempt += 1
                delay = backoff(attempt, RETRY_CAP_S)
                if not retry_now(exc) or attempt > MAX_ATTEMPTS or time.monotonic() + delay >= deadline:
                    self._failed(exc, permanent=False)
                    break
                stats.add(retried=1)
                time.sleep(delay)
                continue
            stats.written(result)
            self._succeeded()
            return all([self._keep(part, stats) for part in left])
        return self._keep(batch, stats)

    def _write(self, batch: Batch) -> tuple[WriteResult, list[Batch]]:
        """Write ``batch``; when its data makes it fail, bisect it and reject the rows at fault
        alone. Returns what was written and the parts left unwritten by a later transient error."""
        try:
            return batch.write(self.writer), []
        except Exception as exc:
            if not is_poison(exc):
                raise
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            n = batch.items
            if n <= 1:
                result = WriteResult()
                result.rejected[f"unwritable row ({type(cause).__name__})"] += n
                _throttle.warn("poison", "a %s row set aside: %s", batch.signal, self.writer.describe(cause))
                return result, []
        total, left = WriteResult(), []
        parts = batch.split(math.ceil(n / 2))
        for i, part in enumerate(parts):
            try:
                result, rest = self._write(part)
            except Exception as exc:  # the database failed meanwhile: the parts not written wait
                self._failed(exc, permanent=not is_transient(exc))
                left.extend(parts[i:])
                break
            total.written += result.written
            total.duplicates += result.duplicates
            total.rejected.update(result.rejected)
            left.extend(rest)
        return total, left

    def _keep(self, batch: Batch, stats: ExportStats, rows_per_record: int = SPOOL_RECORD_ROWS, *,
              again: bool = False) -> bool:
        """Spool ``batch`` (``again``: a part of a replayed batch, counted as spooled already)."""
        try:
            items = batch.items
        except Exception as exc:  # the rest of a streamed batch could not be made
            _log.warning("could not complete a %s batch for the spool: %s", batch.signal, type(exc).__name__)
            stats.add(failed=1)
            stats.add_reasons("dropped", {"batch could not be completed": 1})
            return False
        if self.spool is None:
            stats.add(failed=items)
            stats.add_reasons("dropped", {"database unavailable and spool off": items})
            return False
        kept = True
        for part in batch.split(rows_per_record):
            n = part.items
            try:
                appended = self.spool.append(part.payload(), n, SIGNALS.index(part.signal))
            except (TypeError, ValueError, OverflowError):  # a row that is not JSON: spool the others
                if n > 1:
                    kept = self._keep(part, stats, math.ceil(n / 2), again=again) and kept
                    continue
                stats.add_reasons("rejected", {"row not storable in the spool": n})
                continue
            if appended:
                stats.add(spooled=0 if again else n)
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
            pause = PERMANENT_BACKOFF_S if permanent else backoff(self._failures + 2, BREAKER_CAP_S)
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
            stats = self.stats[batch.signal]
            self._rejected(stats, batch.screen(self.window))
            try:
                result, left = self._write(batch)
            except Exception as exc:
                self._failed(exc, permanent=not is_transient(exc))
                return False
            stats.written(result, replayed=True)
            for part in left:  # written again as a record of its own; counted as spooled again
                self._keep(part, stats, again=True)
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

    def spool_state(self) -> SpoolState | None:
        return self.spool.state() if self.spool is not None else None

    def report(self) -> dict[str, Any]:
        """The counters per signal and the spool's state, as plain values."""
        out: dict[str, Any] = {signal: s.snapshot() for signal, s in self.stats.items()}
        state = self.spool_state()
        out["spool"] = None if state is None else {"directory": state.directory, "segments": state.segments,
                                                   "bytes": state.bytes, "max_bytes": state.max_bytes,
                                                   "torn_records": self.torn_records}
        return out

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
