"""Loaded into cachetools' own test run (``-p cachetools_plugin``). ``OTEL_CONFORMANCE_MODE``:

- ``plain``: nothing changes;
- ``instance``: every cache a test makes is wrapped, ``instrument_cache(cache, name=...)``: the
  test classes' ``Cache`` (through a subclass whose construction returns the wrapper, so the
  tests can still subclass it), their ``cache()`` factories (the caches under ``cached`` and
  ``cachedmethod``) and the caches ``cachetools.func`` builds;
- ``class``: the same classes, decorated (``instrument_cache(name=...)(subclass)``).
"""

from __future__ import annotations

import abc
import functools
import os
import sys

import cachetools
import cachetools.func

MODE = os.environ.get("OTEL_CONFORMANCE_MODE", "plain")
_FUNC_CACHES = ("FIFOCache", "LFUCache", "LRUCache", "RRCache", "TTLCache", "_UnboundTTLCache")
_done: dict[type, type] = {}


def _register(cls: type) -> type:
    """Make ``cls`` importable from this module, so instances pickle as they do plain."""
    cls.__module__ = __name__
    cls.__qualname__ = cls.__name__ = f"{cls.__name__}"
    name = f"_instrumented_{len(_done)}_{cls.__name__}"
    cls.__qualname__ = name
    setattr(sys.modules[__name__], name, cls)
    return cls


class _Wrapping(abc.ABCMeta):
    """Constructing a class of this metaclass returns the instance wrapped by ``instrument_cache``."""

    def __call__(cls, *args, **kwargs):
        from otel_supabase_exporter import instrument_cache

        return instrument_cache(super().__call__(*args, **kwargs), name=f"ct.{cls.__name__}", implementation=MODE)


def _instrumented(original: type) -> type:
    found = _done.get(original)
    if found is None:
        from otel_supabase_exporter import instrument_cache

        if MODE == "instance":
            found = _Wrapping(original.__name__, (original,), {})
        else:
            found = instrument_cache(name=f"ct.{original.__name__}", implementation=MODE)(
                type(original.__name__, (original,), {}))
        _done[original] = _register(found)
    return found


def _wrap_factory(factory):
    from otel_supabase_exporter import instrument_cache

    @functools.wraps(factory)
    def make(*args, **kwargs):
        return instrument_cache(factory(*args, **kwargs), name="ct.factory", implementation=MODE)
    return make


def pytest_configure(config) -> None:
    if MODE == "plain":
        return
    import _telemetry

    _telemetry.start()
    for name in _FUNC_CACHES:
        original = getattr(cachetools.func, name)
        setattr(cachetools.func, name, _instrumented(original))


def pytest_collection_modifyitems(session, config, items) -> None:
    if MODE == "plain":
        return
    seen = set()
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is None or cls in seen:
            continue
        seen.add(cls)
        original = cls.__dict__.get("Cache")
        if isinstance(original, type) and issubclass(original, cachetools.Cache):
            cls.Cache = _instrumented(original)
        factory = getattr(cls, "cache", None)
        if MODE == "instance" and callable(factory) and not isinstance(factory, type):
            cls.cache = _wrap_factory(factory)


def pytest_sessionfinish(session, exitstatus) -> None:
    if MODE != "plain":
        import _telemetry

        _telemetry.write_stats()
