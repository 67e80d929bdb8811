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

import collections.abc
import copy
import inspect
import time
from typing import Any, Callable, NamedTuple

import wrapt
from opentelemetry import metrics, trace

from ._calls import DELETE, SET, VALUE, Operations
from .classes import instrument_class
from .evictions import hook_evictions
from .keys import KeyHasher
from .series import GET_HIT, GET_MISS, MISSING, SET_OK, Series

_perf_ns = time.perf_counter_ns

__all__ = ["InstrumentedCache", "InstrumentedMapping", "instrument_cache"]


class _Proxy(wrapt.ObjectProxy):
    """The wrapped cache in everything but the instrumented methods: attributes, ``len``, ``iter``,
    ``in``, ``==``, ``repr``, ``isinstance`` (``__class__`` is the cache's) are the cache's own.
    ``copy.copy`` / ``copy.deepcopy`` instrument the copy under the same series; pickling stores the
    cache and instruments it again when loaded (under the same name and options, with the loading
    process's providers and key hasher)."""

    def __init__(self, wrapped: object, series: Series, options: "_Options") -> None:
        super().__init__(wrapped)
        self._self_series = series
        self._self_options = options
        self._self_ops = Operations.of(series, options.miss_value, wrapped)

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name == "__wrapped__":  # the operations call the cache they were made for: make them again
            self._self_ops = Operations.of(self._self_series, self._self_options.miss_value, self.__wrapped__)

    def __repr__(self) -> str:
        return repr(self.__wrapped__)

    def __copy__(self) -> "_Proxy":
        return wrap_instance(copy.copy(self.__wrapped__), self._self_series, self._self_options)

    def __deepcopy__(self, memo: dict) -> "_Proxy":
        return wrap_instance(copy.deepcopy(self.__wrapped__, memo), self._self_series, self._self_options)

    def __reduce_ex__(self, protocol: int) -> tuple:
        return _reinstrument, (self.__wrapped__, self._self_options)

    def __reduce__(self) -> tuple:
        return self.__reduce_ex__(2)


class InstrumentedCache(_Proxy):
    """An instrumented object with ``get`` / ``set`` / ``delete`` methods (sync or async)."""


class InstrumentedMapping(_Proxy):
    """An instrumented mapping (dict, cachetools caches...): ``cache[k]``, ``get``, ``del``, ``pop``,
    ``setdefault`` are recorded; each calls the cache's own method with the same arguments. Every
    other method (``clear``, ``update``, ``popitem``, ``keys``...) is the cache's own, unrecorded."""

    # Each method reads the proxy once (``_self_ops``; a wrapt proxy's attributes cost more than a
    # plain object's) and the cache from its operation (``target``, kept in step by ``__setattr__``).

    def __getitem__(self, key):
        op = self._self_ops.item
        return op.call(op.target.__getitem__, (key,), {})

    def __setitem__(self, key, value):
        op = self._self_ops.set
        op.call(op.target.__setitem__, (key, value), {})

    def __delitem__(self, key):
        op = self._self_ops.delete
        op.call(op.target.__delitem__, (key,), {})

    def get(self, *args, **kwargs):
        op = self._self_ops.default
        return op.run_default(op.target.get, args, kwargs, sized=op.target)

    def pop(self, *args, **kwargs):
        if len(args) == 1 and not kwargs:  # KeyError on a miss: a delete miss
            op = self._self_ops.delete
            return op.call(op.target.pop, args, {})
        op = self._self_ops.default
        return op.run_default(op.target.pop, args, kwargs, sized=op.target)

    def setdefault(self, *args, **kwargs):
        """The cache's own ``setdefault``: a hit when it returns other than the default given."""
        wrapped = self.__wrapped__
        key = args[0] if args else kwargs.get("key", MISSING)
        default = args[1] if len(args) > 1 else kwargs.get("default")
        op = self._self_ops.item
        started = None if op.series.current_tracer is None else op.maybe_start()
        t0 = _perf_ns()
        try:
            result = wrapped.setdefault(*args, **kwargs)
        except Exception as exc:
            op.raised(exc, _perf_ns() - t0, started, key=key, sized=wrapped)
            raise
        duration = _perf_ns() - t0
        if result is default:
            op.record(GET_MISS, duration, started, key=key, sized=wrapped)
            self._self_ops.set.record(SET_OK, 0, None)
        else:
            op.record(GET_HIT, duration, started, key=key, item=result, sized=wrapped)
        return result


def _proxy_method(mode: str, name: str, is_async: bool) -> Callable[..., Any]:
    index = Operations._fields.index(mode)
    if is_async:
        def method(self, *args, **kwargs):
            call = getattr(self.__wrapped__, name)
            return self._self_ops[index].arun(call, args[0] if args else MISSING, args, kwargs,
                                              sized=self.__wrapped__)
    else:
        def method(self, *args, **kwargs):
            op = self._self_ops[index]
            return op.call(getattr(op.target, name), args, kwargs)
    method.__name__ = name
    return method


_PROXY_METHODS = (("get", VALUE), ("set", SET), ("delete", DELETE))
_proxy_classes: dict[tuple, type] = {}


def _cache_proxy_class(obj: object) -> type:
    present = tuple(
        (name, mode, inspect.iscoroutinefunction(getattr(obj, name)))
        for name, mode in _PROXY_METHODS
        if callable(getattr(obj, name, None))
    )
    cls = _proxy_classes.get(present)
    if cls is None:
        namespace = {}
        for name, mode, is_async in present:
            namespace[name] = _proxy_method(mode, name, is_async)
        cls = type("InstrumentedCache", (InstrumentedCache,), namespace)
        _proxy_classes[present] = cls
    return cls


class _Options(NamedTuple):
    """What ``instrument_cache`` was given that pickles (providers and key hashers do not)."""

    name: str
    implementation: str
    miss_value: object
    record_keys: bool | None
    spans: bool | None


def _reinstrument(wrapped: object, options: _Options) -> _Proxy:
    return instrument_cache(wrapped, **options._asdict())


def wrap_instance(obj: object, series: Series, options: _Options) -> _Proxy:
    """A wrapper of ``obj`` that records its operations."""
    if isinstance(obj, collections.abc.Mapping):
        hook_evictions(obj, series)
        proxy: _Proxy = InstrumentedMapping(obj, series, options)
    else:
        proxy = _cache_proxy_class(obj)(obj, series, options)
    series.sizes.track(series, proxy, wrapper=True)
    return proxy


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
    series = Series(
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
            return instrument_class(target, series, miss_value)
        return wrap_instance(target, series, _Options(name, implementation, miss_value, record_keys, spans))

    return apply if obj is None else apply(obj)
