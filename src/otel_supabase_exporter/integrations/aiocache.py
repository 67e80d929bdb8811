"""aiocache, as a plugin that also records errors::

    cache = CachePlugin("sessions").attach(Cache(Cache.REDIS, endpoint="localhost"))

The plugin's hooks time and read every get, multi_get, set, multi_set, add, increment and delete.
aiocache calls post-hooks only when the operation succeeds, so ``attach`` also wraps the cache's
methods to record the operations that raise (a plugin given in ``plugins=[...]`` without ``attach``
records successes only). A hit is a value other than ``None``: aiocache returns the default for a
miss, so a stored ``None`` reads as a miss. ``exists`` and ``clear`` are not counted.
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any

from aiocache.plugins import BasePlugin

from ..instrument.recorder import CacheRecorder

__all__ = ["CachePlugin"]

# Operations begun by a pre-hook and not yet ended by their post-hook. A list changed in place:
# aiocache may run the hooks in another task (asyncio.wait_for), which sees a copy of the context
# but the same list.
_pending: contextvars.ContextVar[list | None] = contextvars.ContextVar("otel_supabase_aiocache_pending",
                                                                       default=None)

_OPS = {"get": "get", "multi_get": "get", "set": "set", "multi_set": "set", "add": "set", "increment": "set",
        "delete": "delete"}


class CachePlugin(BasePlugin):
    """Records the cache's operations as cache ``name`` (implementation: the cache class by default)."""

    def __init__(self, name: str, implementation: str | None = None, *, tracer_provider: Any = None,
                 meter_provider: Any = None) -> None:
        self._args = (name, implementation, tracer_provider, meter_provider)
        self._recorders: dict[str, CacheRecorder] = {}

    def _rec(self, client: Any) -> CacheRecorder:
        impl = self._args[1] or type(client).__name__
        found = self._recorders.get(impl)
        if found is None:
            found = self._recorders[impl] = CacheRecorder(self._args[0], impl, tracer_provider=self._args[2],
                                                          meter_provider=self._args[3])
        return found

    def attach(self, cache: Any) -> Any:
        """Add the plugin to ``cache`` and record the operations that raise; returns the cache."""
        if self not in cache.plugins:
            cache.plugins = [*cache.plugins, self]
        for name in _OPS:
            method = getattr(cache, name)

            @functools.wraps(method)
            async def recorded(*args, __method=method, **kwargs):
                box: list = []
                token = _pending.set(box)
                try:
                    return await __method(*args, **kwargs)
                except Exception as exc:
                    if box:  # begun by our pre-hook, never ended: it raised
                        rec, op, key = box.pop()
                        rec.failed(op, exc, key)
                    raise
                finally:
                    _pending.reset(token)

            setattr(cache, name, recorded)
        return cache

    def _begin(self, client: Any, op_name: str, key: Any) -> None:
        stack = _pending.get()
        if stack is None:
            stack = []
            _pending.set(stack)
        rec = self._rec(client)
        stack.append((rec, rec.begin(op_name, attach=False), key))

    def _end(self) -> tuple | None:
        stack = _pending.get()
        return stack.pop() if stack else None

    async def pre_get(self, client, key, *args, **kwargs):
        self._begin(client, "get", key)

    async def post_get(self, client, key, *args, ret=None, **kwargs):
        if (ended := self._end()) is not None:
            ended[0].looked_up(ended[1], key, ret is not None, ret)

    async def pre_multi_get(self, client, keys, *args, **kwargs):
        self._begin(client, "get", None)

    async def post_multi_get(self, client, keys, *args, ret=None, **kwargs):
        if (ended := self._end()) is not None:
            ended[0].looked_up_many(ended[1], [(k, v is not None, v) for k, v in zip(keys, ret or [])])

    async def pre_set(self, client, key, *args, **kwargs):
        self._begin(client, "set", key)

    async def post_set(self, client, key, value=None, *args, **kwargs):
        if (ended := self._end()) is not None:
            ended[0].stored(ended[1], key, value)

    pre_add = pre_set
    post_add = post_set

    async def pre_multi_set(self, client, pairs, *args, **kwargs):
        self._begin(client, "set", None)

    async def post_multi_set(self, client, pairs, *args, **kwargs):
        if (ended := self._end()) is not None:
            ended[0].stored_many(ended[1], list(pairs))

    async def pre_increment(self, client, key, *args, **kwargs):
        self._begin(client, "set", key)

    async def post_increment(self, client, key, *args, ret=None, **kwargs):
        if (ended := self._end()) is not None:
            ended[0].stored(ended[1], key, ret)

    async def pre_delete(self, client, key, *args, **kwargs):
        self._begin(client, "delete", key)

    async def post_delete(self, client, key, *args, ret=None, **kwargs):
        if (ended := self._end()) is not None:
            ended[0].deleted(ended[1], [key], int(ret or 0))
