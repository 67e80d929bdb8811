"""Make cache operations emit OpenTelemetry metrics and spans. Uses only ``opentelemetry-api``.

Usage::

    import cachetools
    from otel_supabase_exporter import cached, instrument_cache

    users = instrument_cache(cachetools.LRUCache(1000), name="users", implementation="new")
    users["u1"] = {"id": 1}          # set
    users.get("u1")                  # hit

    @instrument_cache(name="semantic", implementation="legacy")
    class SemanticCache:
        def get(self, key): ...      # returning None is a miss
        def set(self, key, value): ...

    @cached(name="prices", maxsize=1024)
    def price(sku): ...

Each operation adds 1 to ``cache.operations`` and records its duration in
``cache.operation.duration`` through pre-aggregated per-series counters (see
``producer``); if a span is sampled, a ``cache.<operation>`` span carries the
key hash and sizes. Telemetry failures are logged, never raised.
"""

from __future__ import annotations

import collections
import collections.abc
import contextvars
import functools
import inspect
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Status, StatusCode

from . import semconv as sc
from .keys import KeyHasher, default_hasher
from .producer import SLOT, SLOTS, producer_for, slot_attributes

__all__ = ["instrument_cache", "cached", "CacheRecorder", "InstrumentedCache", "InstrumentedMapping"]

_log = logging.getLogger(__name__)
_MISSING = object()
_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns
_MAX_ERROR_MESSAGE = 1024

T = TypeVar("T")


class _Sizes:
    """The ``cache.size`` gauge of one meter provider and the caches whose size it observes."""

    def __init__(self, meter_provider: metrics.MeterProvider) -> None:
        meter = meter_provider.get_meter(sc.SCOPE, sc.VERSION)
        self._sized: dict[tuple[str, str], tuple[dict[str, str], dict[int, weakref.ref]]] = {}
        self._lock = threading.Lock()
        meter.create_observable_gauge(
            sc.METRIC_SIZE, callbacks=[self._observe_sizes], unit="{entry}", description="Entries in the cache."
        )

    def track(self, series: "_Series", obj: object) -> None:
        try:
            ref = weakref.ref(obj)
        except TypeError:  # not weak-referenceable: its size stays unknown
            return
        with self._lock:
            entry = self._sized.setdefault((series.name, series.implementation), (series.base_attrs, {}))
            entry[1][id(obj)] = ref

    def _observe_sizes(self, options: CallbackOptions) -> list[Observation]:
        observations = []
        with self._lock:
            entries = []
            for attrs, refs in self._sized.values():
                live = [(k, r()) for k, r in list(refs.items())]
                for k, obj in live:
                    if obj is None:
                        del refs[k]
                entries.append((attrs, [obj for _, obj in live if obj is not None]))
        for attrs, objs in entries:
            total, known = 0, False
            for obj in objs:
                try:
                    total += len(obj)  # type: ignore[arg-type]
                    known = True
                except Exception:
                    pass
            if known:
                observations.append(Observation(total, attrs))
        return observations


_sizes_lock = threading.Lock()
_sizes_by_provider: dict[int, tuple[object, _Sizes]] = {}


def _sizes_for(meter_provider: metrics.MeterProvider | None) -> _Sizes:
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    with _sizes_lock:
        found = _sizes_by_provider.get(id(provider))
        if found is None or found[0] is not provider:
            found = (provider, _Sizes(provider))
            _sizes_by_provider[id(provider)] = found
        return found[1]


_warned: set[str] = set()


def _telemetry_failed(where: str, exc: BaseException) -> None:
    # Logged once per place: monitoring must not flood the application's logs.
    if where not in _warned:
        _warned.add(where)
        _log.warning("cache telemetry failed in %s (%s); the cache call was not affected", where, type(exc).__name__)


def _item_size(value: object) -> int | None:
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        return len(value)
    return None


_UNRESOLVED = object()
_GET_HIT, _GET_MISS, _GET_ERROR = SLOT[(sc.GET, sc.HIT)], SLOT[(sc.GET, sc.MISS)], SLOT[(sc.GET, sc.ERROR)]
_SET_OK, _SET_ERROR = SLOT[(sc.SET, sc.OK)], SLOT[(sc.SET, sc.ERROR)]
_DEL_OK, _DEL_MISS, _DEL_ERROR = SLOT[(sc.DELETE, sc.OK)], SLOT[(sc.DELETE, sc.MISS)], SLOT[(sc.DELETE, sc.ERROR)]
_EVICT = SLOT[(sc.EVICT, sc.OK)]
_SPAN_NAMES = tuple(sc.SPAN_PREFIX + op for op, _ in SLOTS)


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in ("1", "true", "yes", "on")


class _Series:
    """Telemetry state of one instrumented (cache name, implementation): its accumulator and span settings."""

    __slots__ = (
        "name", "implementation", "base_attrs", "attrs", "sizes", "record", "count", "_tracer",
        "record_keys", "hasher",
    )

    def __init__(
        self,
        name: str,
        implementation: str,
        *,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        record_keys: bool | None,
        hasher: KeyHasher | None,
        spans: bool | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("instrument_cache: name must be a non-empty string")
        if not isinstance(implementation, str) or not implementation.strip():
            raise ValueError("instrument_cache: implementation must be a non-empty string")
        self.name = name
        self.implementation = implementation
        self.base_attrs = {sc.ATTR_NAME: name, sc.ATTR_IMPLEMENTATION: implementation}
        self.attrs = slot_attributes(name, implementation)
        self.sizes = _sizes_for(meter_provider)
        accumulator = producer_for(meter_provider).accumulator(name, implementation)
        self.record = accumulator.record
        self.count = accumulator.count
        if not (_env_flag("OTEL_EXPORTER_SUPABASE_SPANS", True) if spans is None else spans):
            self._tracer = None
        elif tracer_provider is None:
            self._tracer = _UNRESOLVED  # the global provider may be set later
        elif isinstance(tracer_provider, trace.NoOpTracerProvider):
            self._tracer = None
        else:
            self._tracer = tracer_provider.get_tracer(sc.SCOPE, sc.VERSION)
        self.record_keys = _env_flag("OTEL_EXPORTER_SUPABASE_RECORD_KEYS", False) if record_keys is None \
            else record_keys
        self.hasher = hasher or default_hasher

    def tracer(self) -> Any:
        """The tracer spans go to, or None when there is no tracer provider to send them to."""
        found = self._tracer
        if found is not _UNRESOLVED:
            return found
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            return None  # no global provider yet: look again next time
        found = None if isinstance(provider, trace.NoOpTracerProvider) else provider.get_tracer(sc.SCOPE, sc.VERSION)
        self._tracer = found
        return found

    def start_span(self, tracer: Any, slot: int, start: int | None = None,
                   attach: bool = True) -> tuple[Any, Any, int] | None:
        """Start the span of an operation if it is sampled: (span, context token, wall start ns)."""
        try:
            start = _time_ns() if start is None else start
            span = tracer.start_span(_SPAN_NAMES[slot], start_time=start)
            if span.is_recording():
                return span, otel_context.attach(trace.set_span_in_context(span)) if attach else None, start
        except Exception as exc:
            _telemetry_failed("span start", exc)
        return None

    def end_span(
        self,
        started: tuple[Any, Any, int],
        slot: int,
        duration_ns: int,
        key: object = _MISSING,
        exc: BaseException | None = None,
        item: object = _MISSING,
        sized: object = None,
    ) -> None:
        span, token, start = started
        try:
            if token is not None:
                otel_context.detach(token)
            op, res = SLOTS[slot]
            attrs: dict[str, Any] = dict(self.attrs[slot])
            if op == sc.GET:
                attrs[sc.ATTR_HIT] = res == sc.HIT
            if key is not _MISSING:
                attrs[sc.ATTR_KEY_HASH] = self.hasher(key)
                if self.record_keys:
                    attrs[sc.ATTR_KEY] = key if isinstance(key, str) else repr(key)
            if item is not _MISSING:
                size = _item_size(item)
                if size is not None:
                    attrs[sc.ATTR_ITEM_SIZE] = size
            if sized is not None:
                try:
                    attrs[sc.ATTR_SIZE] = len(sized)  # type: ignore[arg-type]
                except Exception:
                    pass
            if exc is not None and res == sc.ERROR:
                attrs[sc.ATTR_ERROR_TYPE] = type(exc).__qualname__
                attrs[sc.ATTR_ERROR_MESSAGE] = str(exc)[:_MAX_ERROR_MESSAGE]
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
            span.set_attributes(attrs)
            span.end(end_time=start + duration_ns)
        except Exception as telemetry_exc:
            _telemetry_failed("span end", telemetry_exc)

    def evicted(self, key: object, sized: object) -> None:
        try:
            self.count(_EVICT)
            tracer = self.tracer()
            started = self.start_span(tracer, _EVICT) if tracer is not None else None
            if started is not None:
                self.end_span(started, _EVICT, 0, key, sized=sized)
        except Exception as exc:
            _telemetry_failed("eviction record", exc)


# How the outcome of each kind of call is read.
#   value:   get(key) returning the miss value (None by default) is a miss
#   default: mapping get(key, default): called with a private sentinel to tell a miss
#   item:    __getitem__: KeyError is a miss
#   set:     set / __setitem__
#   delete:  delete / __delitem__ / pop: KeyError is a miss
_ERROR_SLOT = {"value": _GET_ERROR, "default": _GET_ERROR, "item": _GET_ERROR, "set": _SET_ERROR,
               "delete": _DEL_ERROR}
_START_SLOT = {"value": _GET_HIT, "default": _GET_HIT, "item": _GET_HIT, "set": _SET_OK, "delete": _DEL_OK}


def _failed(series: _Series, mode: str, exc: BaseException, duration: int, started, key, sized) -> None:
    if isinstance(exc, KeyError) and mode in ("item", "delete"):
        slot = _GET_MISS if mode == "item" else _DEL_MISS
    else:
        slot = _ERROR_SLOT[mode]
    try:
        series.record(slot, duration)
    except Exception as telemetry_exc:
        _telemetry_failed("operation record", telemetry_exc)
    if started is not None:
        series.end_span(started, slot, duration, key, exc, sized=sized)


def _succeeded(series: _Series, mode: str, result, duration: int, started, key, args, kwargs, miss_value,
               sized) -> bool:
    """Record a call that returned; True if it was a hit (for get) or succeeded."""
    hit = True
    item = _MISSING
    if mode == "default":
        hit = result is not _MISSING
        slot, item = (_GET_HIT, result) if hit else (_GET_MISS, _MISSING)
    elif mode == "value":
        hit = result is not miss_value
        slot, item = (_GET_HIT, result) if hit else (_GET_MISS, _MISSING)
    elif mode == "set":
        slot = _SET_OK
        item = args[0] if args else kwargs.get("value", _MISSING)
    elif mode == "item":
        slot, item = _GET_HIT, result
    else:
        slot = _DEL_OK
    try:
        series.record(slot, duration)
    except Exception as telemetry_exc:
        _telemetry_failed("operation record", telemetry_exc)
    if started is not None:
        series.end_span(started, slot, duration, key, item=item, sized=sized)
    return hit


def _started(series: _Series, mode: str):
    tracer = series._tracer
    if tracer is _UNRESOLVED:
        tracer = series.tracer()
    return None if tracer is None else series.start_span(tracer, _START_SLOT[mode])


def _run_sync(series, mode, call, key, args, kwargs, miss_value, sized):
    started = _started(series, mode)
    t0 = _perf_ns()
    try:
        if mode == "default":
            default = args[0] if args else kwargs.pop("default", None)
            result = call(key, _MISSING)
        else:
            result = call(key, *args, **kwargs)
    except Exception as exc:
        _failed(series, mode, exc, _perf_ns() - t0, started, key, sized)
        raise
    hit = _succeeded(series, mode, result, _perf_ns() - t0, started, key, args, kwargs, miss_value, sized)
    return default if mode == "default" and not hit else result


async def _run_async(series, mode, call, key, args, kwargs, miss_value, sized):
    started = _started(series, mode)
    t0 = _perf_ns()
    try:
        result = await call(key, *args, **kwargs)
    except Exception as exc:
        _failed(series, mode, exc, _perf_ns() - t0, started, key, sized)
        raise
    _succeeded(series, mode, result, _perf_ns() - t0, started, key, args, kwargs, miss_value, sized)
    return result


def _sized_or_none(obj: object) -> object:
    return obj if hasattr(type(obj), "__len__") else None


# ---------------------------------------------------------------- recording for integrations


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

    _MODES = {"get": "value", "set": "set", "delete": "delete"}

    def __init__(self, name: str, implementation: str, *, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None, record_keys: bool | None = None,
                 hasher: KeyHasher | None = None, spans: bool | None = None) -> None:
        self.series = _Series(name, implementation, tracer_provider=tracer_provider, meter_provider=meter_provider,
                              record_keys=record_keys, hasher=hasher, spans=spans)

    def __repr__(self) -> str:
        return f"CacheRecorder({self.series.name!r}, {self.series.implementation!r})"

    def begin(self, op: str) -> tuple:
        """Start timing one call doing ``op`` ("get", "set" or "delete")."""
        mode = self._MODES[op]
        try:
            started = _started(self.series, mode)
        except Exception as exc:
            _telemetry_failed("operation start", exc)
            started = None
        return mode, started, _perf_ns(), _time_ns()

    def looked_up(self, op: tuple, key: object, hit: bool, item: object = _MISSING) -> None:
        """The get ``op`` found ``key`` (hit) or not."""
        self._done(op, [(key, _GET_HIT if hit else _GET_MISS, item if hit else _MISSING)])

    def looked_up_many(self, op: tuple, outcomes: list[tuple[object, bool, object]]) -> None:
        """A multi-key get: (key, hit, item) per key; each key is one operation with an equal share of the time."""
        self._done(op, [(k, _GET_HIT if hit else _GET_MISS, item if hit else _MISSING) for k, hit, item in outcomes])

    def stored(self, op: tuple, key: object, item: object = _MISSING) -> None:
        self._done(op, [(key, _SET_OK, item)])

    def stored_many(self, op: tuple, items: list[tuple[object, object]]) -> None:
        """A multi-key set: (key, value) per key."""
        self._done(op, [(key, _SET_OK, item) for key, item in items])

    def deleted(self, op: tuple, keys: list[object], removed: int) -> None:
        """A delete of ``keys`` of which ``removed`` existed: that many deletes, the rest delete misses."""
        self._done(op, [(k, _DEL_OK if i < removed else _DEL_MISS, _MISSING) for i, k in enumerate(keys)])

    def failed(self, op: tuple, exc: BaseException, key: object = _MISSING) -> None:
        mode, started, t0, _ = op
        _failed(self.series, mode, exc, _perf_ns() - t0, started, key, None)

    def _done(self, op: tuple, outcomes: list[tuple[object, int, object]]) -> None:
        mode, started, t0, wall = op
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
                    series.end_span(span, slot, share, key, item=item)
        except Exception as exc:
            _telemetry_failed("operation record", exc)


# ---------------------------------------------------------------- wrappers of existing objects


class _Proxy:
    """Forwards every attribute that is not instrumented to the wrapped cache."""

    __slots__ = ("__wrapped__", "_otel_series", "_otel_miss_value", "_otel_sized", "__weakref__")

    def __init__(self, wrapped: object, series: _Series, miss_value: object) -> None:
        object.__setattr__(self, "__wrapped__", wrapped)
        object.__setattr__(self, "_otel_series", series)
        object.__setattr__(self, "_otel_miss_value", miss_value)
        object.__setattr__(self, "_otel_sized", _sized_or_none(wrapped))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.__wrapped__, name, value)

    def __repr__(self) -> str:
        return f"<instrumented {self._otel_series.name}/{self._otel_series.implementation} {self.__wrapped__!r}>"

    def __len__(self) -> int:
        return len(self.__wrapped__)  # type: ignore[arg-type]

    def __iter__(self):
        return iter(self.__wrapped__)  # type: ignore[call-overload]

    def __contains__(self, key: object) -> bool:
        return key in self.__wrapped__  # type: ignore[operator]


class InstrumentedCache(_Proxy):
    """An instrumented object with ``get`` / ``set`` / ``delete`` methods (sync or async)."""

    __slots__ = ()


class InstrumentedMapping(_Proxy, collections.abc.MutableMapping):
    """An instrumented mapping (dict, cachetools caches...): ``cache[k]``, ``get``, ``del``, ``pop``."""

    __slots__ = ()

    def __getitem__(self, key):
        return _run_sync(self._otel_series, "item", self.__wrapped__.__getitem__, key, (), {}, None,
                         self._otel_sized)

    def __setitem__(self, key, value):
        _run_sync(self._otel_series, "set", self.__wrapped__.__setitem__, key, (value,), {}, None,
                  self._otel_sized)

    def __delitem__(self, key):
        _run_sync(self._otel_series, "delete", self.__wrapped__.__delitem__, key, (), {}, None,
                  self._otel_sized)

    def get(self, key, default=None):
        return _run_sync(self._otel_series, "default", self.__wrapped__.get, key, (default,), {}, None,
                         self._otel_sized)

    def pop(self, key, *default):
        if default:
            value = _run_sync(self._otel_series, "default", self.__wrapped__.pop, key, default, {}, None,
                              self._otel_sized)
            return value
        return _run_sync(self._otel_series, "delete", self.__wrapped__.pop, key, (), {}, None, self._otel_sized)

    def popitem(self):
        return self.__wrapped__.popitem()

    def __eq__(self, other):
        return self.__wrapped__ == other

    __hash__ = None  # type: ignore[assignment]


def _proxy_method(mode: str, name: str, is_async: bool) -> Callable[..., Any]:
    if is_async:
        async def method(self, key, *args, **kwargs):
            return await _run_async(self._otel_series, mode, getattr(self.__wrapped__, name), key, args, kwargs,
                                    self._otel_miss_value, self._otel_sized)
    else:
        def method(self, key, *args, **kwargs):
            return _run_sync(self._otel_series, mode, getattr(self.__wrapped__, name), key, args, kwargs,
                             self._otel_miss_value, self._otel_sized)
    method.__name__ = name
    return method


_PROXY_METHODS = (("get", "value"), ("set", "set"), ("delete", "delete"))
_proxy_classes: dict[tuple, type] = {}


def _cache_proxy_class(obj: object) -> type:
    present = tuple(
        (name, mode, inspect.iscoroutinefunction(getattr(obj, name)))
        for name, mode in _PROXY_METHODS
        if callable(getattr(obj, name, None))
    )
    cls = _proxy_classes.get(present)
    if cls is None:
        namespace = {"__slots__": ()}
        for name, mode, is_async in present:
            namespace[name] = _proxy_method(mode, name, is_async)
        cls = type("InstrumentedCache", (InstrumentedCache,), namespace)
        _proxy_classes[present] = cls
    return cls


def _hook_evictions(obj: object, series: _Series) -> None:
    """Record evictions of caches that evict through ``popitem`` (cachetools)."""
    original = getattr(obj, "popitem", None)
    if original is None or getattr(original, "_otel_evictions", False):
        return

    def popitem():
        item = original()
        series.evicted(item[0] if isinstance(item, tuple) and item else _MISSING, obj)
        return item

    popitem._otel_evictions = True  # type: ignore[attr-defined]
    try:
        obj.popitem = popitem  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # dict and slotted classes: no per-instance hook
        pass


def _wrap_instance(obj: object, series: _Series, miss_value: object) -> _Proxy:
    if isinstance(obj, collections.abc.Mapping):
        _hook_evictions(obj, series)
        proxy: _Proxy = InstrumentedMapping(obj, series, miss_value)
    else:
        proxy = _cache_proxy_class(obj)(obj, series, miss_value)
    series.sizes.track(series, proxy)
    return proxy


# ---------------------------------------------------------------- class decorator

# The instrumented object whose operation is in progress in this thread or
# task: a cache method that calls another instrumented method of the same
# object (cachetools' get calls __getitem__) is not counted twice.
_active: contextvars.ContextVar[int] = contextvars.ContextVar("otel_cache_active", default=0)

_CLASS_METHODS = (
    ("__getitem__", "item"), ("__setitem__", "set"), ("__delitem__", "delete"),
    ("get", None), ("set", "set"), ("delete", "delete"), ("pop", "delete"),
)


def _class_method(original: Callable[..., Any], mode: str, series: _Series, miss_value: object, sized: bool):
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def amethod(self, key, *args, **kwargs):
            if _active.get() == id(self):
                return await original(self, key, *args, **kwargs)
            token = _active.set(id(self))
            try:
                return await _run_async(series, mode, functools.partial(original, self), key, args, kwargs,
                                        miss_value, self if sized else None)
            finally:
                _active.reset(token)
        return amethod

    @functools.wraps(original)
    def method(self, key, *args, **kwargs):
        if _active.get() == id(self):
            return original(self, key, *args, **kwargs)
        token = _active.set(id(self))
        try:
            return _run_sync(series, mode, functools.partial(original, self), key, args, kwargs, miss_value,
                             self if sized else None)
        finally:
            _active.reset(token)
    return method


def _unwrapped(cls: type, name: str) -> Any:
    """The method to instrument: an inherited wrapper (a base class instrumented under another
    name or implementation) is replaced by the function it wraps; None if ``cls`` itself is done."""
    method = getattr(cls, name, None)
    if getattr(method, "_otel_wrapped", False):
        if name in cls.__dict__:
            return None
        method = method.__wrapped__
    return method


def _instrument_class(cls: type, series: _Series, miss_value: object) -> type:
    is_mapping = issubclass(cls, collections.abc.Mapping)
    sized = hasattr(cls, "__len__")
    for name, mode in _CLASS_METHODS:
        original = _unwrapped(cls, name)
        if original is None or not callable(original):
            continue
        if name == "pop" and is_mapping:
            continue  # MutableMapping.pop goes through __getitem__ / __delitem__
        if mode is None:
            mode = "default" if is_mapping and not inspect.iscoroutinefunction(original) else "value"
        wrapped = _class_method(original, mode, series, miss_value, sized)
        wrapped._otel_wrapped = True  # type: ignore[attr-defined]
        setattr(cls, name, wrapped)

    popitem = _unwrapped(cls, "popitem")
    if callable(popitem):
        @functools.wraps(popitem)
        def evicting_popitem(self):
            item = popitem(self)
            series.evicted(item[0] if isinstance(item, tuple) and item else _MISSING, self if sized else None)
            return item
        evicting_popitem._otel_wrapped = True  # type: ignore[attr-defined]
        cls.popitem = evicting_popitem  # type: ignore[attr-defined]

    original_init = _unwrapped(cls, "__init__")
    if sized and original_init is not None:
        @functools.wraps(original_init)
        def __init__(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            series.sizes.track(series, self)

        __init__._otel_wrapped = True  # type: ignore[attr-defined]
        cls.__init__ = __init__  # type: ignore[misc]
    return cls


def instrument_cache(
    obj: Any = None,
    *,
    name: str,
    implementation: str = "default",
    miss_value: object = None,
    record_keys: bool | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    key_hasher: KeyHasher | None = None,
    spans: bool | None = None,
) -> Any:
    """Instrument a cache class (as a decorator) or a cache object (returns a wrapper).

    A miss is a ``KeyError`` from ``cache[key]``, a ``get`` returning ``miss_value``
    (``None`` by default; mappings are asked with a private sentinel instead), an
    exception is recorded as ``error`` and re-raised unchanged. Raw keys go on
    spans only with ``record_keys=True`` (or ``OTEL_EXPORTER_SUPABASE_RECORD_KEYS``);
    otherwise a keyed hash does. ``spans=False`` (or ``OTEL_EXPORTER_SUPABASE_SPANS=false``)
    records metrics only; otherwise a span is started per operation and kept
    if the tracer provider's sampler samples it.
    """
    series = _Series(
        name,
        implementation,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        record_keys=record_keys,
        hasher=key_hasher,
        spans=spans,
    )

    def apply(target: Any) -> Any:
        if inspect.isclass(target):
            return _instrument_class(target, series, miss_value)
        return _wrap_instance(target, series, miss_value)

    return apply if obj is None else apply(obj)


# ---------------------------------------------------------------- memoizing decorator


class _LRU(collections.OrderedDict):
    """A bounded LRU mapping; evicts through ``popitem`` so evictions are recorded."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def get(self, key, default=None):
        if key in self:
            return self[key]
        return default

    def __setitem__(self, key, value):
        if key in self:
            self.move_to_end(key)
        super().__setitem__(key, value)
        while len(self) > self.maxsize:
            self.popitem()

    def popitem(self, last: bool = False):
        return super().popitem(last=last)


def _make_key(args: tuple, kwargs: dict) -> Any:
    if not kwargs:
        return args[0] if len(args) == 1 and type(args[0]) in (str, int) else args
    return (args, tuple(sorted(kwargs.items())))


def cached(
    *,
    name: str,
    implementation: str = "default",
    cache: collections.abc.MutableMapping | None = None,
    maxsize: int = 128,
    key: Callable[..., Any] | None = None,
    record_keys: bool | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    spans: bool | None = None,
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Memoize a function (sync or ``async def``) in ``cache``, recording a hit or miss per call.

    ``cache`` defaults to an LRU of ``maxsize`` entries; any mutable mapping
    (e.g. a ``cachetools`` cache) works. On a miss the result is stored (a ``set``).
    """
    store = cache if cache is not None else _LRU(maxsize)
    instrumented = instrument_cache(
        store,
        name=name,
        implementation=implementation,
        record_keys=record_keys,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        spans=spans,
    )
    make_key = key or _make_key

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args, **kwargs):
                k = make_key(args, kwargs)
                value = instrumented.get(k, _MISSING)
                if value is not _MISSING:
                    return value
                value = await fn(*args, **kwargs)
                instrumented[k] = value
                return value
            wrapper: Any = awrapper
        else:
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                k = make_key(args, kwargs)
                value = instrumented.get(k, _MISSING)
                if value is not _MISSING:
                    return value
                value = fn(*args, **kwargs)
                instrumented[k] = value
                return value
        wrapper.cache = instrumented
        wrapper.cache_clear = store.clear
        return wrapper

    return decorate
