"""``@cached(...)``: memoize a function in an instrumented cache, a hit or a miss per call."""

from __future__ import annotations

import collections
import collections.abc
import functools
import inspect
from typing import Any, Callable, TypeVar

from opentelemetry import metrics, trace

from .series import MISSING
from .wrappers import instrument_cache

__all__ = ["cached"]

T = TypeVar("T")


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
                value = instrumented.get(k, MISSING)
                if value is not MISSING:
                    return value
                value = await fn(*args, **kwargs)
                instrumented[k] = value
                return value
            wrapper: Any = awrapper
        else:
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                k = make_key(args, kwargs)
                value = instrumented.get(k, MISSING)
                if value is not MISSING:
                    return value
                value = fn(*args, **kwargs)
                instrumented[k] = value
                return value
        wrapper.cache = instrumented
        wrapper.cache_clear = store.clear
        return wrapper

    return decorate
