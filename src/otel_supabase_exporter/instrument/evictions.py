"""Evictions of wrapped mappings that evict through ``popitem`` (cachetools calls ``self.popitem()``
from ``__setitem__``). The hook is on the cache's class, not on the instance: an instance keeps
nothing of ours, so it copies and pickles as it did, and a copy of it is not instrumented. The class
hook counts only for the instances registered here (by identity, dropped when they are collected)."""

from __future__ import annotations

import contextvars
import functools
import threading
import weakref
from typing import Any

from .series import MISSING, Series

__all__ = ["hook_evictions"]

_registered: dict[int, tuple[weakref.ref, Series]] = {}
_lock = threading.Lock()
# set while a hooked popitem runs: a subclass's popitem calling super().popitem() counts once
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_cache_popitem", default=False)


def _hooked(original: Any) -> Any:
    @functools.wraps(original)
    def popitem(self, *args, **kwargs):
        entry = _registered.get(id(self))
        if entry is None or entry[0]() is not self or _inside.get():
            return original(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            item = original(self, *args, **kwargs)
        finally:
            _inside.reset(token)
        entry[1].evicted(item[0] if isinstance(item, tuple) and item else MISSING, self)
        return item

    popitem._otel_evictions = True  # type: ignore[attr-defined]
    return popitem


def _forget(key: int, ref: weakref.ref) -> None:
    with _lock:
        if _registered.get(key, (None,))[0] is ref:
            del _registered[key]


def hook_evictions(obj: object, series: Series) -> None:
    """Count ``obj``'s ``popitem`` calls as evictions of ``series`` (nothing for classes that cannot
    take the hook: builtins such as ``dict``, or objects that cannot be weakly referenced)."""
    cls = type(obj)
    method = getattr(cls, "popitem", None)
    if method is None:
        return
    try:
        ref = weakref.ref(obj, lambda r, key=id(obj): _forget(key, r))
    except TypeError:
        return
    with _lock:
        if not getattr(method, "_otel_evictions", False):
            try:
                cls.popitem = _hooked(method)  # type: ignore[attr-defined]
            except (AttributeError, TypeError):
                return
        _registered[id(obj)] = (ref, series)
