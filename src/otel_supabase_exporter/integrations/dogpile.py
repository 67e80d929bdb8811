"""dogpile.cache, as a ``ProxyBackend`` wrapped around any backend::

    region = make_region().configure("dogpile.cache.redis", arguments={...},
                                     wrap=[CacheProxy("sessions")])

Through the proxy, the backend's attributes and ``isinstance`` are the backend's own (``region.backend``
is the outermost proxy once wrapped). A hit is the backend returning a value (``NO_VALUE`` is a miss); a value dogpile then finds expired
and regenerates is still a hit of the backend. Multi-key calls count each key. The implementation
is the backend's class name unless given.
"""

from __future__ import annotations

from typing import Any

from dogpile.cache.api import NO_VALUE
from dogpile.cache.proxy import ProxyBackend

from ..instrument.recorder import CacheRecorder

__all__ = ["CacheProxy"]


class CacheProxy(ProxyBackend):
    """Records every get, set and delete that passes through to the proxied backend."""

    def __init__(self, name: str = "dogpile", implementation: str | None = None, *,
                 tracer_provider: Any = None, meter_provider: Any = None) -> None:
        super().__init__()
        self._args = (name, implementation, tracer_provider, meter_provider)
        self._recorder: CacheRecorder | None = None

    # Wrapped, ``region.backend`` is this proxy: what code reads of the backend through it (its
    # attributes, ``isinstance``) is the proxied backend's, as with the backend alone.
    # (``wrap`` sets ``proxied``; before that there is nothing to read through.)

    def __getattr__(self, name: str) -> Any:
        proxied = self.__dict__.get("proxied")
        if proxied is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(proxied, name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        proxied = self.__dict__.get("proxied")
        return type(self) if proxied is None else proxied.__class__

    def _rec(self) -> CacheRecorder:
        if self._recorder is None:
            name, implementation, tracer_provider, meter_provider = self._args
            self._recorder = CacheRecorder(name, implementation or type(self.proxied).__name__,
                                           tracer_provider=tracer_provider, meter_provider=meter_provider)
        return self._recorder

    def _get(self, call, key):
        rec = self._rec()
        op = rec.begin("get")
        try:
            value = call(key)
        except Exception as exc:
            rec.failed(op, exc, key)
            raise
        rec.looked_up(op, key, value is not NO_VALUE, value)
        return value

    def _get_multi(self, call, keys):
        rec = self._rec()
        op = rec.begin("get")
        try:
            values = call(keys)
        except Exception as exc:
            rec.failed(op, exc)
            raise
        rec.looked_up_many(op, [(k, v is not NO_VALUE, v) for k, v in zip(keys, values)])
        return values

    def _write(self, op_name: str, call, done) -> None:
        rec = self._rec()
        op = rec.begin(op_name)
        try:
            call()
        except Exception as exc:
            rec.failed(op, exc)
            raise
        done(rec, op)

    def _set(self, call, items):
        self._write("set", call, lambda rec, op: rec.stored_many(op, items))

    def _delete(self, call, keys):
        self._write("delete", call, lambda rec, op: rec.deleted(op, keys, len(keys)))

    def get(self, key):
        return self._get(self.proxied.get, key)

    def get_serialized(self, key):
        return self._get(self.proxied.get_serialized, key)

    def get_multi(self, keys):
        return self._get_multi(self.proxied.get_multi, list(keys))

    def get_serialized_multi(self, keys):
        return self._get_multi(self.proxied.get_serialized_multi, list(keys))

    def set(self, key, value):
        self._set(lambda: self.proxied.set(key, value), [(key, value)])

    def set_serialized(self, key, value):
        self._set(lambda: self.proxied.set_serialized(key, value), [(key, value)])

    def set_multi(self, mapping):
        self._set(lambda: self.proxied.set_multi(mapping), list(mapping.items()))

    def set_serialized_multi(self, mapping):
        self._set(lambda: self.proxied.set_serialized_multi(mapping), list(mapping.items()))

    def delete(self, key):
        self._delete(lambda: self.proxied.delete(key), [key])

    def delete_multi(self, keys):
        keys = list(keys)
        self._delete(lambda: self.proxied.delete_multi(keys), keys)
