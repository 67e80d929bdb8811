"""Recording for code that is not a cache object: the integrations with redis, Django, dogpile
and aiocache time and report each library call through a :class:`CacheRecorder`."""

from __future__ import annotations

import contextvars
import time

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace

from ._calls import DELETE, SET, VALUE, Operation
from .series import DEL_MISS, DEL_OK, GET_HIT, GET_MISS, MISSING, SET_OK, Series, telemetry_failed
from .keys import KeyHasher

__all__ = ["CacheRecorder", "enter_recorded_call", "inside_recorded_call", "leave_recorded_call"]

_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns

# Set while an integration records a call, so the library calls it makes inside (Django's
# get_or_set calling get, Django's redis backend calling redis-py) are not counted again.
_OUTER_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_supabase_outer_call", default=False)


def inside_recorded_call() -> bool:
    """Whether an integration is already recording the call this code runs in."""
    return _OUTER_CALL.get()


def enter_recorded_call() -> contextvars.Token:
    return _OUTER_CALL.set(True)


def leave_recorded_call(token: contextvars.Token) -> None:
    _OUTER_CALL.reset(token)


class CacheRecorder:
    """Records the operations of one cache (name, implementation) for code that is not a cache
    object — the integrations with redis and other libraries use it::

        recorder = CacheRecorder("sessions", "redis")
        op = recorder.begin("get")
        try:
            value = client.get(key)
        except Exception as exc:
            recorder.failed(op, exc, key)
            raise
        recorder.looked_up(op, key, value is not None, value)

    Like everything here, it never raises into the caller's code.
    """

    _MODES = {"get": VALUE, "set": SET, "delete": DELETE}

    def __init__(self, name: str, implementation: str, *, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None, record_keys: bool | None = None,
                 hasher: KeyHasher | None = None, spans: bool | None = None) -> None:
        self.series = Series(name, implementation, tracer_provider=tracer_provider, meter_provider=meter_provider,
                             record_keys=record_keys, hasher=hasher, spans=spans)
        self._operations = {op: Operation(self.series, mode) for op, mode in self._MODES.items()}

    def __repr__(self) -> str:
        return f"CacheRecorder({self.series.name!r}, {self.series.implementation!r})"

    def begin(self, op: str, *, attach: bool = True) -> tuple:
        """Start timing one call doing ``op`` ("get", "set" or "delete"). ``attach=False``: the span
        does not become the current one (for calls whose end runs in another context, as aiocache's
        hooks do inside ``asyncio.wait_for``'s task)."""
        operation = self._operations[op]
        try:
            started = operation.start(attach=attach)
        except Exception as exc:
            telemetry_failed("operation start", exc)
            started = None
        return operation, started, _perf_ns(), _time_ns()

    def looked_up(self, op: tuple, key: object, hit: bool, item: object = MISSING) -> None:
        """The get ``op`` found ``key`` (hit) or not."""
        self._done(op, [(key, GET_HIT if hit else GET_MISS, item if hit else MISSING)])

    def looked_up_many(self, op: tuple, outcomes: list[tuple[object, bool, object]]) -> None:
        """A multi-key get: (key, hit, item) per key; each key is one operation with an equal share of the time."""
        self._done(op, [(k, GET_HIT if hit else GET_MISS, item if hit else MISSING) for k, hit, item in outcomes])

    def stored(self, op: tuple, key: object, item: object = MISSING) -> None:
        self._done(op, [(key, SET_OK, item)])

    def stored_many(self, op: tuple, items: list[tuple[object, object]]) -> None:
        """A multi-key set: (key, value) per key."""
        self._done(op, [(key, SET_OK, item) for key, item in items])

    def deleted(self, op: tuple, keys: list[object], removed: int) -> None:
        """A delete of ``keys`` of which ``removed`` existed: that many deletes, the rest delete misses."""
        self._done(op, [(k, DEL_OK if i < removed else DEL_MISS, MISSING) for i, k in enumerate(keys)])

    def failed(self, op: tuple, exc: BaseException, key: object = MISSING) -> None:
        operation, started, t0, _ = op
        operation.raised(exc, _perf_ns() - t0, started, key=key)

    def _done(self, op: tuple, outcomes: list[tuple[object, int, object]]) -> None:
        _, started, t0, wall = op
        if not outcomes:
            if started is not None:
                started[0].end()
                if started[1] is not None:
                    otel_context.detach(started[1])
            return
        share = (_perf_ns() - t0) // len(outcomes)
        series = self.series
        try:
            for i, (key, slot, item) in enumerate(outcomes):
                series.record(slot, share)
                span = started if i == 0 else None
                if i and started is not None:  # sampled: one span per key, one after the other
                    tracer = series.tracer()
                    span = None if tracer is None else series.start_span(tracer, slot, start=wall + i * share,
                                                                          attach=False)
                if span is not None:
                    series.end_span(span, slot, share, key=key, item=item)
        except Exception as exc:
            telemetry_failed("operation record", exc)
