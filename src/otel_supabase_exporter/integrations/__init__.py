"""Integrations with the caches Python services run: hit/miss metrics and spans without writing an
adapter. Each needs its library installed (none is a dependency of this package)."""

from __future__ import annotations

import threading
from typing import Any, Callable

from ..instrument.recorder import CacheRecorder

__all__ = ["Patches"]


class Patches:
    """What one integration patched into a library's classes, and the recorders its wrappers use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._patched: list[tuple[type, str, Any]] = []
        self._recorders: dict[tuple[str, str], CacheRecorder] = {}
        self._providers: dict[str, Any] = {}

    @property
    def active(self) -> bool:
        return bool(self._patched)

    def begin(self, tracer_provider: Any, meter_provider: Any) -> bool:
        """Under ``lock``: False if already patched; else remember the providers the recorders will use."""
        if self._patched:
            return False
        self._providers = {k: v for k, v in (("tracer_provider", tracer_provider),
                                             ("meter_provider", meter_provider)) if v is not None}
        self._recorders.clear()
        return True

    def recorder(self, name: str, implementation: str) -> CacheRecorder:
        """The one recorder of (name, implementation)."""
        key = (name, implementation)
        found = self._recorders.get(key)
        if found is None:
            with self.lock:
                found = self._recorders.get(key)
                if found is None:
                    found = self._recorders[key] = CacheRecorder(name, implementation, **self._providers)
        return found

    def patch(self, cls: type, name: str, replacement: Callable) -> None:
        """Set ``cls.name``, remembering what to put back (nothing, when it was inherited)."""
        self._patched.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, replacement)

    def undo(self) -> None:
        """Put back everything patched, newest first."""
        with self.lock:
            while self._patched:
                cls, name, own = self._patched.pop()
                if own is None:
                    delattr(cls, name)
                else:
                    setattr(cls, name, own)
            self._recorders.clear()
