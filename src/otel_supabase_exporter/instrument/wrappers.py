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
import inspect
from typing import Any, Callable

from opentelemetry import metrics, trace

from ._calls import DELETE, SET, VALUE, Operations
from .series import MISSING, Series
from .classes import instrument_class
from .keys import KeyHasher

__all__ = ["InstrumentedCache", "InstrumentedMapping", "instrument_cache"]


def _sized_or_none(obj: object) -> object:
    return obj if hasattr(type(obj), "__len__") else None


class _Proxy:
    """Forwards every attribute that is not instrumented to the wrapped cache."""

    __slots__ = ("__wrapped__", "_otel_series", "_otel_ops", "_otel_sized", "__weakref__")

    def __init__(self, wrapped: object, series: Series, miss_value: object) -> None:
        object.__setattr__(self, "__wrapped__", wrapped)
        object.__setattr__(self, "_otel_series", series)
        object.__setattr__(self, "_otel_ops", Operations.of(series, miss_value))
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
        return self._otel_ops.item.run(self.__wrapped__.__getitem__, key, (), {}, sized=self._otel_sized)

    def __setitem__(self, key, value):
        self._otel_ops.set.run(self.__wrapped__.__setitem__, key, (value,), {}, sized=self._otel_sized)

    def __delitem__(self, key):
        self._otel_ops.delete.run(self.__wrapped__.__delitem__, key, (), {}, sized=self._otel_sized)

    def get(self, key, default=None):
        return self._otel_ops.default.run(self.__wrapped__.get, key, (default,), {}, sized=self._otel_sized)

    def pop(self, key, *default):
        if default:
            return self._otel_ops.default.run(self.__wrapped__.pop, key, default, {}, sized=self._otel_sized)
        return self._otel_ops.delete.run(self.__wrapped__.pop, key, (), {}, sized=self._otel_sized)

    def popitem(self):
        return self.__wrapped__.popitem()

    def __eq__(self, other):
        return self.__wrapped__ == other

    __hash__ = None  # type: ignore[assignment]


def _proxy_method(mode: str, name: str, is_async: bool) -> Callable[..., Any]:
    index = Operations._fields.index(mode)
    if is_async:
        async def method(self, key, *args, **kwargs):
            return await self._otel_ops[index].arun(getattr(self.__wrapped__, name), key, args, kwargs,
                                                    sized=self._otel_sized)
    else:
        def method(self, key, *args, **kwargs):
            return self._otel_ops[index].run(getattr(self.__wrapped__, name), key, args, kwargs,
                                             sized=self._otel_sized)
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
        namespace = {"__slots__": ()}
        for name, mode, is_async in present:
            namespace[name] = _proxy_method(mode, name, is_async)
        cls = type("InstrumentedCache", (InstrumentedCache,), namespace)
        _proxy_classes[present] = cls
    return cls


def _hook_evictions(obj: object, series: Series) -> None:
    """Record evictions of caches that evict through ``popitem`` (cachetools)."""
    original = getattr(obj, "popitem", None)
    if original is None or getattr(original, "_otel_evictions", False):
        return

    def popitem():
        item = original()
        series.evicted(item[0] if isinstance(item, tuple) and item else MISSING, obj)
        return item

    popitem._otel_evictions = True  # type: ignore[attr-defined]
    try:
        obj.popitem = popitem  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # dict and slotted classes: no per-instance hook
        pass


def wrap_instance(obj: object, series: Series, miss_value: object) -> _Proxy:
    """A wrapper of ``obj`` that records its operations."""
    if isinstance(obj, collections.abc.Mapping):
        _hook_evictions(obj, series)
        proxy: _Proxy = InstrumentedMapping(obj, series, miss_value)
    else:
        proxy = _cache_proxy_class(obj)(obj, series, miss_value)
    series.sizes.track(series, proxy)
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
        return wrap_instance(target, series, miss_value)

    return apply if obj is None else apply(obj)
