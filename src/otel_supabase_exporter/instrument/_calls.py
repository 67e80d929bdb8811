"""Recording one call of an instrumented cache: time it, read its outcome (hit, miss, set,
delete, error) the way its kind of call tells it, record it, end its span. Never raises into
the caller's code; the call's own result and exception pass through unchanged."""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

from .producer import _FOLD_AT
from .series import (
    UNRESOLVED,
    DEL_ERROR,
    DEL_MISS,
    DEL_OK,
    GET_ERROR,
    GET_HIT,
    GET_MISS,
    MISSING,
    SET_ERROR,
    SET_OK,
    Series,
    telemetry_failed,
)

_perf_ns = time.perf_counter_ns

# How the outcome of each kind of call is read.
VALUE = "value"      # get(key) returning the miss value (None by default) is a miss
DEFAULT = "default"  # mapping get(key, default): called with a private sentinel to tell a miss
ITEM = "item"        # __getitem__: KeyError is a miss
SET = "set"          # set / __setitem__
DELETE = "delete"    # delete / __delitem__ / pop: KeyError is a miss
_ERROR_SLOT = {VALUE: GET_ERROR, DEFAULT: GET_ERROR, ITEM: GET_ERROR, SET: SET_ERROR, DELETE: DEL_ERROR}
_START_SLOT = {VALUE: GET_HIT, DEFAULT: GET_HIT, ITEM: GET_HIT, SET: SET_OK, DELETE: DEL_OK}


_FIXED_SLOT = {ITEM: GET_HIT, SET: SET_OK, DELETE: DEL_OK}  # the outcome of a call that returns


class Operation:
    """One kind of call (``mode``) of one series: ``run``/``arun`` make the call and record it;
    ``call`` is the wrappers' hot path (the key is the first argument; ``target``, the wrapped cache,
    is what spans read the size of)."""

    __slots__ = ("series", "mode", "miss_value", "target", "fixed", "miss", "start_slot")

    def __init__(self, series: Series, mode: str, miss_value: object = None, target: object = None) -> None:
        self.series = series
        self.mode = mode
        self.miss_value = miss_value
        self.target = target
        self.fixed = _FIXED_SLOT.get(mode)  # None: a lookup, a miss when the result is ``miss``
        self.miss = MISSING if mode == DEFAULT else miss_value  # DEFAULT: asked with the sentinel
        self.start_slot = _START_SLOT[mode]  # the span's name until the outcome is known

    def start(self, attach: bool = True, context: Any = None) -> tuple[Any, Any, int] | None:
        """The call's span, if one is sampled (``context``: the sampler was asked and keeps a span
        started in that context)."""
        series = self.series
        tracer = series.current_tracer
        if tracer is UNRESOLVED:
            tracer = series.tracer()
        return None if tracer is None else series.start_span(tracer, self.start_slot, attach=attach,
                                                              context=context)

    def maybe_start(self) -> tuple[Any, Any, int] | None:
        """:meth:`start`, the sampling decision made first where it can be (nothing built on "drop";
        a decision never raises)."""
        decide = self.series.decide
        if decide is None:
            return self.start()
        context = decide()
        return None if context is None else self.start(context=context)

    def call(self, call: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """``call(*args, **kwargs)``, recorded: the hot path of the wrappers, as few steps as it can
        take. Unsampled, it times the call and counts its outcome, nothing more; a sampled call (or
        one whose sampler is not known here) goes through :meth:`timed` with its span."""
        series = self.series
        if series.current_tracer is not None:
            decide = series.decide
            if decide is None:
                return self.run(call, args[0] if args else MISSING, args, kwargs, sized=self.target)
            context = decide()
            if context is not None:
                tracer = series.current_tracer
                if tracer is UNRESOLVED:
                    tracer = series.tracer()
                started = None if tracer is None else series.start_span(tracer, self.start_slot, context=context)
                return self.timed(call, args[0] if args else MISSING, args, kwargs, started=started,
                                  sized=self.target)
        t0 = _perf_ns()
        try:
            result = call(*args, **kwargs)
        except Exception as exc:
            self.raised(exc, _perf_ns() - t0, None)
            raise
        duration = _perf_ns() - t0
        slot = self.fixed
        if slot is None:
            slot = GET_MISS if result is self.miss else GET_HIT
        try:
            log = series.logs[slot]
            if log:  # Accumulator.record without the call (the hot path): append, fold when full
                log.append(duration)
                if len(log) >= _FOLD_AT:
                    series.fold(slot)
            else:
                series.record(slot, duration)
        except Exception as telemetry_exc:
            telemetry_failed("operation record", telemetry_exc)
        return result

    def run(self, call: Callable[..., Any], key: object, args: tuple, kwargs: dict, *, sized: object = None) -> Any:
        """``call(*args, **kwargs)`` (``key`` is the cache key among them), recorded."""
        started = None if self.series.current_tracer is None else self.maybe_start()
        return self.timed(call, key, args, kwargs, started=started, sized=sized)

    def timed(self, call: Callable[..., Any], key: object, args: tuple, kwargs: dict, *, started: tuple | None,
              sized: object) -> Any:
        """``call(*args, **kwargs)`` timed and recorded, with the span ``started`` (or None)."""
        t0 = _perf_ns()
        try:
            result = call(*args, **kwargs)
        except Exception as exc:
            self.raised(exc, _perf_ns() - t0, started, key=key, sized=sized)
            raise
        duration = _perf_ns() - t0
        slot, item = self.outcome(result, args, kwargs)
        try:
            self.series.record(slot, duration)
        except Exception as telemetry_exc:
            telemetry_failed("operation record", telemetry_exc)
        if started is not None:
            self.series.end_span(started, slot, duration, key=key, item=item, sized=sized)
        return result

    def run_default(self, call: Callable[..., Any], args: tuple, kwargs: dict, *, sized: object = None) -> Any:
        """A mapping's ``get(key[, default])``: asked with a private sentinel, so a stored value equal
        to the default is still a hit, and the caller's default returned on a miss. Any other form of
        call (keywords, more arguments) is passed on as it is and read like ``get``."""
        if kwargs or not 1 <= len(args) <= 2:
            return self.run(call, args[0] if args else kwargs.get("key", MISSING), args, kwargs, sized=sized)
        result = self.call(call, (args[0], MISSING), {}) if sized is self.target else self.run(
            call, args[0], (args[0], MISSING), {}, sized=sized)
        if result is MISSING:
            return args[1] if len(args) == 2 else None
        return result

    async def arun(self, call: Callable[..., Any], key: object, args: tuple, kwargs: dict, *,
                   sized: object = None) -> Any:
        """``await call(*args, **kwargs)``, recorded."""
        started = None if self.series.current_tracer is None else self.maybe_start()
        t0 = _perf_ns()
        try:
            result = await call(*args, **kwargs)
        except Exception as exc:
            self.raised(exc, _perf_ns() - t0, started, key=key, sized=sized)
            raise
        duration = _perf_ns() - t0
        slot, item = self.outcome(result, args, kwargs)
        self.record(slot, duration, started, key=key, item=item, sized=sized)
        return result

    def outcome(self, result: object, args: tuple, kwargs: dict) -> tuple[int, object]:
        """(slot, stored or returned item) of a call that returned ``result``."""
        mode = self.mode
        if mode == DEFAULT and result is MISSING:
            return GET_MISS, MISSING
        if mode == VALUE or mode == DEFAULT and len(args) != 2:
            return (GET_HIT, result) if result is not self.miss_value else (GET_MISS, MISSING)
        if mode == SET:
            return SET_OK, args[1] if len(args) > 1 else kwargs.get("value", MISSING)
        if mode in (ITEM, DEFAULT):
            return GET_HIT, result
        return DEL_OK, MISSING

    def raised(self, exc: BaseException, duration_ns: int, started: tuple | None, *, key: object = MISSING,
               sized: object = None) -> None:
        """Record a call that raised ``exc`` (a KeyError of a lookup or delete is a miss)."""
        if isinstance(exc, KeyError) and self.mode in (ITEM, DELETE):
            slot = GET_MISS if self.mode == ITEM else DEL_MISS
        else:
            slot = _ERROR_SLOT[self.mode]
        self.record(slot, duration_ns, started, key=key, exc=exc, sized=sized)

    def record(self, slot: int, duration_ns: int, started: tuple | None, *, key: object = MISSING,
               item: object = MISSING, exc: BaseException | None = None, sized: object = None) -> None:
        """Count the outcome ``slot`` and end the span, if any."""
        try:
            self.series.record(slot, duration_ns)
        except Exception as telemetry_exc:
            telemetry_failed("operation record", telemetry_exc)
        if started is not None:
            self.series.end_span(started, slot, duration_ns, key=key, exc=exc, item=item, sized=sized)


class Operations(NamedTuple):
    """The operations of one instrumented object, one per kind of call (``ops.item``, ``ops[i]``)."""

    value: Operation
    default: Operation
    item: Operation
    set: Operation
    delete: Operation

    @classmethod
    def of(cls, series: Series, miss_value: object = None, target: object = None) -> "Operations":
        return cls(*(Operation(series, mode, miss_value, target) for mode in cls._fields))
