"""redis-py, sync and asyncio: GET/MGET hits and misses (a stored empty string is a hit, ``None`` a
miss), SET/SETEX/SETNX/PSETEX as sets, DEL as deletes, and errors.

``instrument()`` patches the client classes (what the auto-instrumentation does); every client
then reports as cache ``redis`` / implementation ``redis`` unless named::

    from otel_supabase_exporter.integrations import redis as redis_integration

    redis_integration.instrument()
    sessions = redis_integration.name_client(redis.Redis(), "sessions", implementation="redis")

It wraps the client methods, not ``execute_command``, so it works alongside OpenTelemetry's own
redis instrumentation (which makes a span per command). Commands queued in a pipeline are not
counted (their results arrive later, in bulk).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NamedTuple

from ..instrument.recorder import CacheRecorder, enter_recorded_call, inside_recorded_call, leave_recorded_call
from . import Patches

__all__ = ["DEFAULT_IMPLEMENTATION", "DEFAULT_NAME", "instrument", "is_instrumented", "name_client",
           "uninstrument"]

DEFAULT_NAME = "redis"
DEFAULT_IMPLEMENTATION = "redis"
_ATTR = "_otel_supabase_recorder"

_patches = Patches()


def name_client(client: Any, name: str, implementation: str = DEFAULT_IMPLEMENTATION) -> Any:
    """Report ``client``'s operations as cache ``name`` / ``implementation``; returns the client."""
    setattr(client, _ATTR, _patches.recorder(name, implementation))
    return client


def _for(client: Any) -> CacheRecorder:
    return getattr(client, _ATTR, None) or _patches.recorder(DEFAULT_NAME, DEFAULT_IMPLEMENTATION)


class _Call(NamedTuple):
    """The arguments of one wrapped client call, as the readers below see them."""

    args: tuple
    kwargs: dict


def _keys(args: tuple, kwargs: dict) -> list:
    keys = list(args[0]) if args and isinstance(args[0], (list, tuple)) else list(args)
    if not args and "keys" in kwargs:
        keys = list(kwargs["keys"])
    return keys


# How each method's result reads: (operation, key(args, kwargs) or keys, outcome recorder)
def _after_get(rec, op, call, result):
    rec.looked_up(op, call.args[0] if call.args else call.kwargs.get("name"), result is not None, result)


def _after_mget(rec, op, call, result):
    keys = _keys(call.args, call.kwargs)
    rec.looked_up_many(op, [(k, v is not None, v) for k, v in zip(keys, result or [])])


def _after_set(rec, op, call, result):
    args, kwargs = call.args, call.kwargs
    value = kwargs.get("value", args[-1] if len(args) >= 2 else None)
    rec.stored(op, args[0] if args else kwargs.get("name"), value)


def _after_delete(rec, op, call, result):
    rec.deleted(op, list(call.args), int(result or 0))


_METHODS: dict[str, tuple[str, Callable]] = {
    "get": ("get", _after_get),
    "mget": ("get", _after_mget),
    "set": ("set", _after_set),
    "setex": ("set", _after_set),
    "psetex": ("set", _after_set),
    "setnx": ("set", _after_set),
    "delete": ("delete", _after_delete),
}


def _sync_wrapper(original: Callable, op_name: str, after: Callable, pipeline: type) -> Callable:
    @functools.wraps(original)
    def method(self, *args, **kwargs):
        if isinstance(self, pipeline) or inside_recorded_call():
            return original(self, *args, **kwargs)
        rec = _for(self)
        op = rec.begin(op_name)
        token = enter_recorded_call()
        try:
            result = original(self, *args, **kwargs)
        except Exception as exc:
            rec.failed(op, exc, args[0] if args and op_name != "delete" else None)
            raise
        finally:
            leave_recorded_call(token)
        try:
            after(rec, op, _Call(args, kwargs), result)
        except Exception:  # telemetry never breaks the call
            pass
        return result

    return method


def _async_wrapper(original: Callable, op_name: str, after: Callable, pipeline: type) -> Callable:
    @functools.wraps(original)
    def method(self, *args, **kwargs):
        if isinstance(self, pipeline) or inside_recorded_call():  # a pipeline queues and returns itself
            return original(self, *args, **kwargs)
        # called now, as the client is: an error it raises before awaiting (bad arguments) is raised
        # here, at call time, not deferred to the await
        try:
            awaitable = original(self, *args, **kwargs)
        except Exception as exc:
            rec = _for(self)
            rec.failed(rec.begin(op_name, attach=False), exc, args[0] if args and op_name != "delete" else None)
            raise
        if not inspect.isawaitable(awaitable):
            return awaitable
        return run(self, awaitable, args, kwargs)

    async def run(self, awaitable, args, kwargs):
        rec = _for(self)
        op = rec.begin(op_name)
        try:
            result = await awaitable
        except Exception as exc:
            rec.failed(op, exc, args[0] if args and op_name != "delete" else None)
            raise
        try:
            after(rec, op, _Call(args, kwargs), result)
        except Exception:
            pass
        return result

    return method


def is_instrumented() -> bool:
    return _patches.active


def instrument(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Patch ``redis.Redis`` and ``redis.asyncio.Redis`` (once; idempotent)."""
    import redis
    import redis.asyncio

    with _patches.lock:
        if not _patches.begin(tracer_provider, meter_provider):
            return
        for cls, pipeline, wrap in ((redis.Redis, redis.client.Pipeline, _sync_wrapper),
                                    (redis.asyncio.Redis, redis.asyncio.client.Pipeline, _async_wrapper)):
            for name, (op_name, after) in _METHODS.items():
                original = _find(cls, name)
                if original is None:
                    continue
                _patches.patch(cls, name, wrap(original, op_name, after, pipeline))


def _find(cls: type, name: str) -> Callable | None:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def uninstrument() -> None:
    """Undo ``instrument()``."""
    _patches.undo()
