"""Django's cache framework: every ``BaseCache`` backend (locmem, redis, memcached, database, file)
reports hits, misses, sets, deletes and errors, per cache alias::

    from otel_supabase_exporter.integrations import django as django_integration
    django_integration.instrument()          # e.g. in AppConfig.ready(), after configure()

``cache.get`` is read with a private sentinel, so a stored ``None`` is a hit; ``get_or_set`` is one
lookup (and one set on a miss) although Django calls ``get`` twice inside; ``get_many`` counts each
key once; ``incr``/``decr`` count as a set (a missing key, which raises ``ValueError``, as a miss);
``has_key`` and ``touch`` are not counted. Calls a backend makes to another instrumented library
(Django's redis backend to redis-py) are not counted twice. The cache name is the alias
(``default``), the implementation the backend class (``LocMemCache``, ``RedisCache``…).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, Callable

from ..instrument.recorder import CacheRecorder, enter_recorded_call, inside_recorded_call, leave_recorded_call
from . import Patches

__all__ = ["instrument", "uninstrument"]

_BACKENDS = ("locmem", "redis", "db", "filebased", "memcached", "dummy")
_MISSING = object()
_patches = Patches()


def _recorder(backend: Any) -> CacheRecorder:
    return _patches.recorder(getattr(backend, "_otel_supabase_alias", None) or "django", type(backend).__name__)


class _Call:
    """One call of a backend method, its arguments bound to the method's own signature (positional or
    keyword, given or defaulted); calling it calls the method with some of them replaced."""

    __slots__ = ("original", "bound")

    def __init__(self, original: Callable, bound: inspect.BoundArguments) -> None:
        self.original = original
        self.bound = bound

    def has(self, name: str) -> bool:
        return name in self.bound.signature.parameters

    def arg(self, name: str, fallback: Any = None) -> Any:
        """The argument ``name`` as given, else the parameter's default, else ``fallback``."""
        if name in self.bound.arguments:
            return self.bound.arguments[name]
        param = self.bound.signature.parameters.get(name)
        return fallback if param is None or param.default is param.empty else param.default

    def __call__(self, **replace: Any) -> Any:
        bound = self.bound
        if replace:
            bound = inspect.BoundArguments(bound.signature, {**bound.arguments, **replace})
        return self.original(*bound.args, **bound.kwargs)


def _get(rec, op, call):
    key = call.arg("key")
    if not call.has("default"):  # a backend with its own signature: None is a miss
        value = call()
        rec.looked_up(op, key, value is not None, value)
        return value
    value = call(default=_MISSING)
    hit = value is not _MISSING
    rec.looked_up(op, key, hit, value)
    return value if hit else call.arg("default")


def _listed(call: _Call, name: str) -> list | None:
    """The iterable argument ``name`` as a list (a generator is read once, here, and the list passed
    on in its place), or None if it is not iterable (the backend raises its own error for it)."""
    try:
        return list(call.arg(name))
    except TypeError:
        return None


def _get_many(rec, op, call):
    keys = _listed(call, "keys")
    if keys is None:
        return call()
    found = call(keys=keys)
    rec.looked_up_many(op, [(k, k in found, found.get(k)) for k in keys])
    return found


def _get_or_set(rec, op, call):
    key, default = call.arg("key"), call.arg("default")
    produced = []

    def produce():  # Django calls the default only on a miss
        produced.append(True)
        return default() if callable(default) else default

    value = call(default=produce)
    if produced:
        rec.looked_up(op, key, False)
        rec.stored(rec.begin("set"), key, value)
    else:
        rec.looked_up(op, key, True, value)
    return value


def _set(rec, op, call):
    result = call()
    rec.stored(op, call.arg("key"), call.arg("value"))
    return result


def _set_many(rec, op, call):
    result = call()
    data = call.arg("data")
    rec.stored_many(op, list(data.items()) if isinstance(data, dict) else [])
    return result


def _incr(rec, op, call):
    key = call.arg("key")
    try:
        value = call()
    except ValueError:  # the key is not there
        rec.looked_up(op, key, False)
        raise
    rec.stored(op, key, value)
    return value


def _delete(rec, op, call):
    result = call()
    rec.deleted(op, [call.arg("key")], 0 if result is False else 1)
    return result


def _delete_many(rec, op, call):
    keys = _listed(call, "keys")
    if keys is None:
        return call()
    result = call(keys=keys)
    rec.deleted(op, keys, len(keys))
    return result


# method: (operation it is timed as, how its call is read)
_METHODS: dict[str, tuple[str, Callable]] = {
    "get": ("get", _get), "get_many": ("get", _get_many), "get_or_set": ("get", _get_or_set),
    "set": ("set", _set), "add": ("set", _set), "set_many": ("set", _set_many),
    "incr": ("set", _incr), "decr": ("set", _incr),
    "delete": ("delete", _delete), "delete_many": ("delete", _delete_many),
    "has_key": ("get", None), "touch": ("set", None),
}


def _wrap(original: Callable, op_name: str, read: Callable | None) -> Callable:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def method(self, *args, **kwargs):
        if inside_recorded_call():
            return original(self, *args, **kwargs)
        token = enter_recorded_call()
        try:
            if read is None:  # not counted, but what it calls inside is not counted either
                return original(self, *args, **kwargs)
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:  # arguments the method does not take: it raises its own error
                return original(self, *args, **kwargs)
            rec = _recorder(self)
            op = rec.begin(op_name)
            try:
                return read(rec, op, _Call(original, bound))
            except ValueError:
                raise
            except Exception as exc:
                if "key" in bound.arguments:
                    rec.failed(op, exc, bound.arguments["key"])
                else:
                    rec.failed(op, exc)
                raise
        finally:
            leave_recorded_call(token)

    return method


def _backend_classes() -> list[type]:
    from django.core.cache.backends.base import BaseCache

    for name in _BACKENDS:
        try:
            importlib.import_module(f"django.core.cache.backends.{name}")
        except ImportError:
            pass
    found, todo = [], [BaseCache]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def instrument(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Patch every Django cache backend class (and name new backends after their alias). Idempotent."""
    from django.core.cache import CacheHandler

    with _patches.lock:
        if not _patches.begin(tracer_provider, meter_provider):
            return
        for cls in _backend_classes():
            for name, (op_name, read) in _METHODS.items():
                if name in cls.__dict__:
                    _patches.patch(cls, name, _wrap(cls.__dict__[name], op_name, read))
        create = CacheHandler.__dict__["create_connection"]

        def create_connection(self, alias):
            backend = create(self, alias)
            try:
                backend._otel_supabase_alias = alias
            except Exception:
                pass
            return backend

        _patches.patch(CacheHandler, "create_connection", create_connection)


def uninstrument() -> None:
    _patches.undo()
