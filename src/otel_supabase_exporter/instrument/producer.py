"""Pre-aggregated cache metrics: what the hot path records, and the standard metrics readers collect from it.

A cache call appends its duration to a per-series, per-outcome log (no
lock: ``list.append`` is atomic), folded every 256 entries and at each
collection into a counter and a base-2 exponential histogram (well under a
microsecond per call), instead of going through ``Counter.add`` and
``Histogram.record`` (about 12 µs together in the SDK). At collection time
every reader of an SDK ``MeterProvider`` receives these as ordinary
OpenTelemetry metrics in the ``otel_supabase_exporter`` scope:

* ``cache.operations`` — a monotonic Sum, per cache.name / cache.implementation /
  cache.operation / cache.result;
* ``cache.operation.duration`` — an exponential histogram in seconds (count,
  sum, min, max exact; at most 320 buckets);

in the temporality each reader asks for (delta or cumulative), so OTLP,
Prometheus or any other exporter on the same provider sees them too. The
OpenTelemetry specification calls this a *MetricProducer*; the Python SDK
has no public hook for one yet, so :func:`install` wraps the SDK's
collection step (``SynchronousMeasurementConsumer.collect``) once per process.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
import weakref
from typing import Any, Callable

from .. import semconv as sc
from ..forks import start_over_in_children

__all__ = ["SLOTS", "Accumulator", "Producer", "install", "producer_for", "producers_of", "rebind",
           "slot_attributes", "start_global_over"]

_log = logging.getLogger(__name__)

# One slot per (operation, result) pair; the hot path indexes lists by slot.
SLOTS: tuple[tuple[str, str], ...] = (
    (sc.GET, sc.HIT), (sc.GET, sc.MISS), (sc.GET, sc.ERROR),
    (sc.SET, sc.OK), (sc.SET, sc.ERROR),
    (sc.DELETE, sc.OK), (sc.DELETE, sc.MISS), (sc.DELETE, sc.ERROR),
    (sc.EVICT, sc.OK),
)
SLOT = {pair: i for i, pair in enumerate(SLOTS)}
_N = len(SLOTS)
_TIMED = tuple(i for i, (op, _) in enumerate(SLOTS) if op != sc.EVICT)

# Recording scale: 32 buckets per power of two (bucket width 2.2 %). Exports
# downscale when a histogram spans more than MAX_BUCKETS buckets.
SCALE = 5
_SCALE_FACTOR = float(1 << SCALE)
_NS_OFFSET = math.log2(1e9) * _SCALE_FACTOR  # index of seconds from nanoseconds
_log2 = math.log2
_ceil = math.ceil
_time_ns = time.time_ns


def slot_attributes(name: str, implementation: str) -> tuple[dict[str, str], ...]:
    """The metric attributes of each slot of a series (the same on spans and on metric points)."""
    base = {sc.ATTR_NAME: name, sc.ATTR_IMPLEMENTATION: implementation}
    return tuple({**base, sc.ATTR_OPERATION: op, sc.ATTR_RESULT: res} for op, res in SLOTS)


def _bucket_index(duration_ns: int) -> int:
    """The exponential-histogram bucket (at :data:`SCALE`, of seconds) of a positive duration in ns."""
    return _ceil(_log2(duration_ns) * _SCALE_FACTOR - _NS_OFFSET) - 1


# Bucket indexes of the durations below 16 µs (most in-process cache calls), computed once with
# the same formula: a fold looks them up in C (``map(list.__getitem__)``) instead of calling it.
_TABLE_NS = 1 << 14
_INDEX: list[int] = [0] + [_bucket_index(d) for d in range(1, _TABLE_NS)]
_index_of = _INDEX.__getitem__
_FOLD_AT = 256  # durations a slot's log holds before the call that reaches it folds them


class Accumulator:
    """Counts and duration histograms of one (cache name, implementation) since the last drain.

    :meth:`record` takes no lock: it appends the duration to its slot's log (``list.append`` is
    atomic), and the log is folded into the counts and buckets under the lock by the call that
    fills it to :data:`_FOLD_AT` entries, and by :meth:`drain`. A fold removes exactly the entries
    it read (``del log[:n]``), so an append made meanwhile is kept for the next one.
    """

    __slots__ = ("buckets", "counts", "firsts", "key", "lock", "logs", "maxs", "mins", "sums", "zeros")

    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.lock = threading.Lock()
        self.logs: list[list[int]] = [[] for _ in range(_N)]
        self._reset()

    def _reset(self) -> None:
        self.counts = [0] * _N
        self.sums = [0] * _N  # nanoseconds: integer sums stay exact
        self.mins = [0] * _N
        self.maxs = [0] * _N
        self.zeros = [0] * _N
        self.firsts = [0] * _N  # wall-clock ns of the first operation: the start of a first delta
        self.buckets: list[dict[int, int]] = [collections.Counter() for _ in range(_N)]

    def record(self, slot: int, duration_ns: int) -> None:
        """Count one operation of ``slot`` that took ``duration_ns``."""
        log = self.logs[slot]
        if log:
            log.append(duration_ns)
            if len(log) >= _FOLD_AT:
                self.fold(slot)
        else:  # the first since the last fold: the wall clock of a first operation is read here
            self._first(slot, duration_ns)

    def _first(self, slot: int, duration_ns: int) -> None:
        with self.lock:
            self.firsts[slot] = self.firsts[slot] or _time_ns()
        self.logs[slot].append(duration_ns)

    def fold(self, slot: int) -> None:
        """Move what ``slot``'s log holds into the counts and buckets."""
        with self.lock:
            self._fold_locked(slot)

    def _fold_locked(self, slot: int) -> None:
        log = self.logs[slot]
        n = len(log)
        if not n:
            return
        durations = log[:n]
        del log[:n]
        lo, hi = min(durations), max(durations)
        if lo <= 0:  # a clock that did not advance: zero, as the histogram's zero bucket counts it
            positive = [d for d in durations if d > 0]
            self.zeros[slot] += n - len(positive)
            durations, lo = positive, 0
        if not self.counts[slot]:
            self.mins[slot] = lo
            if not self.firsts[slot]:  # its first operation raced a fold: it happened before now
                self.firsts[slot] = _time_ns()
        elif lo < self.mins[slot]:
            self.mins[slot] = lo
        if hi > self.maxs[slot]:
            self.maxs[slot] = hi
        self.counts[slot] += n
        if durations:
            self.sums[slot] += sum(durations)
            buckets = self.buckets[slot]
            if hi < _TABLE_NS:
                buckets.update(map(_index_of, durations))
            else:  # a slow call among them: only it takes the formula
                buckets.update(map(_index_of, [d for d in durations if d < _TABLE_NS]))
                buckets.update(map(_bucket_index, [d for d in durations if d >= _TABLE_NS]))

    def count(self, slot: int, n: int = 1) -> None:
        """Count ``n`` operations of ``slot`` that have no duration (evictions, polled caches)."""
        with self.lock:
            self.firsts[slot] = self.firsts[slot] or _time_ns()
            self.counts[slot] += n

    def drain(self) -> "Snapshot":
        """What was recorded since the last drain; the accumulator starts over."""
        with self.lock:
            for slot in range(_N):
                self._fold_locked(slot)
            snap = Snapshot(counts=self.counts, sums=self.sums, mins=self.mins, maxs=self.maxs, zeros=self.zeros,
                            buckets=self.buckets, firsts=self.firsts)
            self._reset()
        return snap

    def _after_fork_in_child(self) -> None:
        """The parent's recordings are the parent's: the child starts empty, with a new lock."""
        self.lock = threading.Lock()
        for log in self.logs:  # emptied, not replaced: the hot path holds these lists
            log.clear()
        self._reset()


class Snapshot:
    """Recorded values of one series over some interval (mergeable)."""

    __slots__ = ("buckets", "counts", "firsts", "maxs", "mins", "sums", "zeros")

    def __init__(self, *, counts=None, sums=None, mins=None, maxs=None, zeros=None, buckets=None,
                 firsts=None) -> None:
        self.counts = counts if counts is not None else [0] * _N
        self.sums = sums if sums is not None else [0] * _N
        self.mins = mins if mins is not None else [0] * _N
        self.maxs = maxs if maxs is not None else [0] * _N
        self.zeros = zeros if zeros is not None else [0] * _N
        self.buckets = buckets if buckets is not None else [{} for _ in range(_N)]
        self.firsts = firsts if firsts is not None else [0] * _N

    def empty(self) -> bool:
        return not any(self.counts)

    def add(self, other: "Snapshot") -> None:
        for i in range(_N):
            n = other.counts[i]
            if not n:
                continue
            if not self.counts[i] or other.mins[i] < self.mins[i]:
                self.mins[i] = other.mins[i]
            if not self.counts[i] or other.firsts[i] < self.firsts[i]:
                self.firsts[i] = other.firsts[i]
            if other.maxs[i] > self.maxs[i]:
                self.maxs[i] = other.maxs[i]
            self.counts[i] += n
            self.sums[i] += other.sums[i]
            self.zeros[i] += other.zeros[i]
            mine = self.buckets[i]
            for index, c in other.buckets[i].items():
                mine[index] = mine.get(index, 0) + c

    def copy(self) -> "Snapshot":
        out = Snapshot()
        out.add(self)
        return out


class _ReaderState:
    __slots__ = ("pending", "last_ns")

    def __init__(self, pending: dict[tuple[str, str], Snapshot], last_ns: int | None) -> None:
        self.pending = pending
        self.last_ns = last_ns


class Producer:
    """The series recorded for one meter provider (or for the global one) and what each reader has seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], Accumulator] = {}
        self._totals: dict[tuple[str, str], Snapshot] = {}
        self._readers: "weakref.WeakKeyDictionary[Any, _ReaderState]" = weakref.WeakKeyDictionary()
        self._pollers: list[Callable[[], None]] = []
        start_over_in_children(self)

    def _after_fork_in_child(self) -> None:
        """A forked child starts from zero: what the parent recorded is the parent's to export
        (sending it again from every worker would count it once per worker). Locks are new: a
        thread of the parent may have held one at the fork."""
        self._lock = threading.Lock()
        now = _time_ns()
        for acc in self._series.values():
            acc._after_fork_in_child()
        self._totals = {}
        for state in self._readers.values():
            state.pending, state.last_ns = {}, now

    def add_poller(self, poll: Callable[[], None]) -> None:
        """Call ``poll`` at the start of every collection: the observable-instrument way for caches
        without a per-call hook (``functools.lru_cache``) to count what happened since the last one."""
        with self._lock:
            self._pollers.append(poll)

    def remove_poller(self, poll: Callable[[], None]) -> None:
        with self._lock:
            if poll in self._pollers:
                self._pollers.remove(poll)

    def accumulator(self, name: str, implementation: str) -> Accumulator:
        """The accumulator of a series; every instrumented cache of that name and implementation shares it."""
        key = (name, implementation)
        with self._lock:
            acc = self._series.get(key)
            if acc is None:
                acc = self._series[key] = Accumulator(key)
            return acc

    def discard_recorded(self) -> int:
        """Forget everything recorded so far (no reader has it yet, nor ever will); returns how many
        operations that was."""
        with self._lock:
            dropped = sum(sum(acc.drain().counts) for acc in self._series.values())
            dropped += sum(sum(snap.counts) for snap in self._totals.values())
            self._totals = {}
            for state in self._readers.values():
                state.pending = {}
        return dropped

    def collect(self, reader: Any, cumulative_counts: bool, cumulative_durations: bool, now_ns: int
                ) -> tuple[dict[tuple[str, str], Snapshot], dict[tuple[str, str], Snapshot], int | None]:
        """Drain the hot path; returns (counts view, durations view, delta start) for ``reader``.

        The delta start is the reader's previous collection, or None on its first
        collection: each point then starts at its series' first operation.
        """
        for poll in list(self._pollers):
            try:
                poll()
            except Exception as exc:  # a poller never breaks a collection
                _log.debug("cache poller failed: %s", type(exc).__name__)
        with self._lock:
            drained = [(acc.key, acc.drain()) for acc in self._series.values()]
            drained = [(k, s) for k, s in drained if not s.empty()]
            for key, snap in drained:
                self._totals.setdefault(key, Snapshot()).add(snap)
                for state in self._readers.values():
                    state.pending.setdefault(key, Snapshot()).add(snap)
            state = self._readers.get(reader)
            if state is None:
                # A reader seen for the first time gets everything recorded so far.
                state = self._readers[reader] = _ReaderState({k: s.copy() for k, s in self._totals.items()}, None)
            delta, start = state.pending, state.last_ns
            state.pending, state.last_ns = {}, now_ns
            totals = {k: s.copy() for k, s in self._totals.items()} if (
                cumulative_counts or cumulative_durations) else {}
        return (totals if cumulative_counts else delta), (totals if cumulative_durations else delta), start


# ---------------------------------------------------------------- the SDK hook

_producers_lock = threading.Lock()
_global_producer = Producer()
_warned = False


def producer_for(meter_provider: Any) -> Producer:
    """The producer of an explicit meter provider, or of the global one when ``meter_provider`` is None."""
    install()
    if meter_provider is None:
        from opentelemetry import metrics

        rebind(metrics.get_meter_provider())
        return _global_producer
    consumer = getattr(meter_provider, "_measurement_consumer", None)
    if consumer is None:  # not an SDK provider: nobody will collect what is recorded
        return Producer()
    rebind(meter_provider)
    with _producers_lock:
        producer = getattr(consumer, "_otel_supabase_producer", None)
        if producer is None:
            producer = Producer()
            consumer._otel_supabase_producer = producer
        return producer


def start_global_over() -> int:
    """The global provider's series start from zero (``configure()`` installing the first global
    providers: what was recorded before had no span either); returns the operations dropped."""
    return _global_producer.discard_recorded()


def producers_of(consumer: Any) -> list[Producer]:
    from opentelemetry import metrics

    found = []
    explicit = getattr(consumer, "_otel_supabase_producer", None)
    if explicit is not None:
        found.append(explicit)
    if getattr(metrics.get_meter_provider(), "_measurement_consumer", None) is consumer:
        found.append(_global_producer)
    return found


_original_collect: Any = None


def install() -> None:
    """Make every SDK collection include the pre-aggregated cache metrics (idempotent)."""
    global _original_collect
    try:
        from opentelemetry.sdk.metrics._internal.measurement_consumer import SynchronousMeasurementConsumer
    except ImportError:  # API only: there is no SDK reader to feed
        return
    with _producers_lock:
        if _original_collect is not None:
            return
        original = _original_collect = SynchronousMeasurementConsumer.collect

    def collect(self, metric_reader, timeout_millis: float = 10_000):
        result = original(self, metric_reader, timeout_millis)
        try:
            from ._collection import add_to_collection

            return add_to_collection(self, metric_reader, result)
        except Exception as exc:  # never break the user's collection
            global _warned
            if not _warned:
                _warned = True
                _log.warning("could not add cache metrics to a collection: %s", type(exc).__name__, exc_info=True)
            return result

    SynchronousMeasurementConsumer.collect = collect  # type: ignore[method-assign]


def rebind(meter_provider: Any) -> None:
    """Point the readers of a provider created before :func:`install` at the wrapped collection."""
    consumer = getattr(meter_provider, "_measurement_consumer", None)
    if consumer is None or _original_collect is None:
        return
    for reader in list(getattr(consumer, "_reader_storages", {})):
        callback = getattr(reader, "_collect", None)
        if getattr(callback, "__func__", None) is _original_collect:
            reader._set_collect_callback(consumer.collect)
