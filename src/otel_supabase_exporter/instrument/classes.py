"""``@instrument_cache(...)`` on a class: its cache methods are wrapped in place, so every
instance (and every subclass) records its operations."""

from __future__ import annotations

import collections.abc
import contextvars
import functools
import inspect
from typing import Any, Callable

from ._calls import DEFAULT, DELETE, ITEM, SET, VALUE, Operation
from .series import MISSING, Series

__all__ = ["instrument_class"]

# The instrumented object whose operation is in progress in this thread or
# task: a cache method that calls another instrumented method of the same
# object (cachetools' get calls __getitem__) is not counted twice.
_active: contextvars.ContextVar[int] = contextvars.ContextVar("otel_cache_active", default=0)

_CLASS_METHODS = (
    ("__getitem__", ITEM), ("__setitem__", SET), ("__delitem__", DELETE),
    ("get", None), ("set", SET), ("delete", DELETE), ("pop", DELETE),
)


def _class_method(original: Callable[..., Any], operation: Operation, sized: bool):
    default_get = operation.mode == DEFAULT
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def amethod(self, *args, **kwargs):
            if _active.get() == id(self):
                return await original(self, *args, **kwargs)
            token = _active.set(id(self))
            try:
                return await operation.arun(functools.partial(original, self), args[0] if args else MISSING,
                                            args, kwargs, sized=self if sized else None)
            finally:
                _active.reset(token)
        return amethod

    @functools.wraps(original)
    def method(self, *args, **kwargs):
        if _active.get() == id(self):
            return original(self, *args, **kwargs)
        token = _active.set(id(self))
        try:
            if default_get:
                return operation.run_default(functools.partial(original, self), args, kwargs,
                                             sized=self if sized else None)
            return operation.run(functools.partial(original, self), args[0] if args else MISSING, args, kwargs,
                                 sized=self if sized else None)
        finally:
            _active.reset(token)
    return method


def _unwrapped(cls: type, name: str) -> Any:
    """The method to instrument, without our wrapper: an inherited one (a base class instrumented
    under another name or implementation) or the class's own (instrumented before: the latest
    ``instrument_cache`` wins, so a class instrumented again records to the new providers)."""
    method = getattr(cls, name, None)
    while getattr(method, "_otel_wrapped", False):
        method = method.__wrapped__
    return method


def instrument_class(cls: type, series: Series, miss_value: object) -> type:
    """Instrument ``cls`` in place: its cache methods record their operations."""
    is_mapping = issubclass(cls, collections.abc.Mapping)
    sized = hasattr(cls, "__len__")
    for name, mode in _CLASS_METHODS:
        original = _unwrapped(cls, name)
        if not callable(original):
            continue
        if name == "pop" and is_mapping:
            continue  # MutableMapping.pop goes through __getitem__ / __delitem__
        if mode is None:
            mode = DEFAULT if is_mapping and not inspect.iscoroutinefunction(original) else VALUE
        wrapped = _class_method(original, Operation(series, mode, miss_value), sized)
        wrapped._otel_wrapped = True  # type: ignore[attr-defined]
        setattr(cls, name, wrapped)

    popitem = _unwrapped(cls, "popitem")
    if callable(popitem):
        @functools.wraps(popitem)
        def evicting_popitem(self):
            item = popitem(self)
            series.evicted(item[0] if isinstance(item, tuple) and item else MISSING, self if sized else None)
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
