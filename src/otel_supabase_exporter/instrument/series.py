"""The telemetry state of one instrumented (cache name, implementation): its accumulator, its
tracer, and the ``cache.size`` gauge of the caches it names. The hot path's shared pieces."""

from __future__ import annotations

import logging
import threading
import time
import types
import weakref
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Status, StatusCode

from .. import semconv as sc
from .. import settings
from . import _context
from .producer import SLOT, SLOTS, producer_for, slot_attributes
from .keys import KeyHasher, default_hasher, key_text
from .sampling import presampler

_log = logging.getLogger("otel_supabase_exporter.instrument")

MISSING = object()  # "no value": a miss, or an argument not given
_time_ns = time.time_ns
_MAX_ERROR_MESSAGE = 1024

GET_HIT, GET_MISS, GET_ERROR = SLOT[(sc.GET, sc.HIT)], SLOT[(sc.GET, sc.MISS)], SLOT[(sc.GET, sc.ERROR)]
SET_OK, SET_ERROR = SLOT[(sc.SET, sc.OK)], SLOT[(sc.SET, sc.ERROR)]
DEL_OK, DEL_MISS, DEL_ERROR = SLOT[(sc.DELETE, sc.OK)], SLOT[(sc.DELETE, sc.MISS)], SLOT[(sc.DELETE, sc.ERROR)]
EVICT = SLOT[(sc.EVICT, sc.OK)]
_SPAN_NAMES = tuple(sc.SPAN_PREFIX + op for op, _ in SLOTS)
UNRESOLVED = object()

_warned: set[str] = set()


def telemetry_failed(where: str, exc: BaseException) -> None:
    """Log a telemetry failure once per place: monitoring must not flood the application's logs."""
    if where not in _warned:
        _warned.add(where)
        _log.warning("cache telemetry failed in %s (%s); the cache call was not affected", where, type(exc).__name__)


# How each class's entries are counted: 1 its C ``len()``, 2 an entry dict its instances may hold
# (``self.__data`` in a class named Cache, as cachetools' is), 0 not without its own code.
_SIZE_KIND: dict[type, int] = {}


def _size_kind(cls: type) -> int:
    if isinstance(getattr(cls, "__len__", None), types.WrapperDescriptorType):
        return 1
    return 2 if any(k.__name__.lstrip("_") == "Cache" for k in cls.__mro__) else 0


def entry_count(obj: object) -> int | None:
    """Entries in ``obj``, read without running the application's code, or None.

    A ``len()`` implemented in C (dict, OrderedDict...) is read; a cachetools cache's entry dict
    (``_Cache__data``) is counted directly, because its ``len()`` may call the cache's timer (TTL and
    TLRU caches: expired entries not yet purged are counted); anything else is unknown here.
    """
    if obj is None:
        return None
    cls = type(obj)
    kind = _SIZE_KIND.get(cls)
    if kind is None:
        kind = _SIZE_KIND[cls] = _size_kind(cls)
    if kind == 1:
        return len(obj)  # type: ignore[arg-type]
    if not kind:
        return None
    try:
        data = object.__getattribute__(obj, "__dict__").get("_Cache__data")
    except AttributeError:
        return None
    return len(data) if type(data) is dict else None


class _Sizes:
    """The ``cache.size`` gauge of one meter provider and the caches whose size it observes."""

    def __init__(self, meter_provider: metrics.MeterProvider) -> None:
        meter = meter_provider.get_meter(sc.SCOPE, sc.VERSION)
        self._sized: dict[tuple[str, str], tuple[dict[str, str], dict[int, weakref.ref]]] = {}
        self._lock = threading.Lock()
        meter.create_observable_gauge(
            sc.METRIC_SIZE, callbacks=[self._observe_sizes], unit="{entry}", description="Entries in the cache."
        )

    def track(self, series: "Series", obj: object, *, wrapper: bool = False) -> None:
        """Observe ``obj``'s size while it lives; ``wrapper``: ``obj`` is our proxy (it can be weakly
        referenced where the cache, a ``dict``, cannot), and the cache it wraps is what is read."""
        try:
            ref = weakref.ref(obj)
        except TypeError:  # not weak-referenceable: its size stays unknown
            return
        with self._lock:
            entry = self._sized.setdefault((series.name, series.implementation), (series.base_attrs, {}))
            entry[1][id(obj)] = (ref, wrapper)

    def _observe_sizes(self, options: CallbackOptions) -> list[Observation]:
        observations = []
        with self._lock:
            entries = []
            for attrs, refs in self._sized.values():
                live = [(k, r(), wrapper) for k, (r, wrapper) in list(refs.items())]
                for k, obj, _ in live:
                    if obj is None:
                        del refs[k]
                entries.append((attrs, [obj.__wrapped__ if wrapper else obj for _, obj, wrapper in live
                                        if obj is not None]))
        for attrs, objs in entries:
            total, known = 0, False
            for obj in objs:
                try:
                    size = entry_count(obj)
                    if size is None:  # the application's own __len__: the one place it is called for us
                        size = len(obj)  # type: ignore[arg-type]
                    total += size
                    known = True
                except Exception:
                    pass
            if known:
                observations.append(Observation(total, attrs))
        return observations


_sizes_lock = threading.Lock()
_sizes_by_provider: dict[int, tuple[object, _Sizes]] = {}


def _sizes_for(meter_provider: metrics.MeterProvider | None) -> _Sizes:
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    with _sizes_lock:
        found = _sizes_by_provider.get(id(provider))
        if found is None or found[0] is not provider:
            found = (provider, _Sizes(provider))
            _sizes_by_provider[id(provider)] = found
        return found[1]


_SIZED_ITEMS = (bytes, bytearray, memoryview, str)  # values whose size a span carries (cache.item_size)


class Series:
    """Telemetry state of one instrumented (cache name, implementation): its accumulator and span
    settings. ``current_tracer`` is the tracer, None (no spans), or UNRESOLVED (the global
    provider is asked again by :meth:`tracer`)."""

    __slots__ = (
        "name", "implementation", "base_attrs", "attrs", "span_attrs", "sizes", "record", "count",
        "current_tracer", "record_keys", "hasher", "decide", "logs", "fold",
    )

    def __init__(
        self,
        name: str,
        implementation: str,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_keys: bool | None = None,
        hasher: KeyHasher | None = None,
        spans: bool | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("instrument_cache: name must be a non-empty string")
        if not isinstance(implementation, str) or not implementation.strip():
            raise ValueError("instrument_cache: implementation must be a non-empty string")
        self.name = name
        self.implementation = implementation
        self.base_attrs = {sc.ATTR_NAME: name, sc.ATTR_IMPLEMENTATION: implementation}
        self.attrs = slot_attributes(name, implementation)
        self.span_attrs = self.attrs  # a span's attributes start from its slot's: one dict copy per span
        self.sizes = _sizes_for(meter_provider)
        accumulator = producer_for(meter_provider).accumulator(name, implementation)
        self.record = accumulator.record
        self.count = accumulator.count
        self.logs, self.fold = accumulator.logs, accumulator.fold  # Operation.call records through them
        self.decide: Any = None
        if not (settings.spans_enabled() if spans is None else spans):
            self.current_tracer = None
        elif tracer_provider is None:
            self.current_tracer = UNRESOLVED  # the global provider may be set later
        elif isinstance(tracer_provider, trace.NoOpTracerProvider):
            self.current_tracer = None
        else:
            self.current_tracer = tracer_provider.get_tracer(sc.SCOPE, sc.VERSION)
            self.decide = presampler(self.current_tracer)
        self.record_keys = settings.record_keys() if record_keys is None else record_keys
        self.hasher = hasher or default_hasher

    def tracer(self) -> Any:
        """The tracer spans go to, or None when there is no tracer provider to send them to."""
        found = self.current_tracer
        if found is not UNRESOLVED:
            return found
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            return None  # no global provider yet: look again next time
        found = None if isinstance(provider, trace.NoOpTracerProvider) else provider.get_tracer(sc.SCOPE, sc.VERSION)
        self.decide = presampler(found)
        self.current_tracer = found
        return found

    def start_span(self, tracer: Any, slot: int, start: int | None = None, attach: bool = True, *,
                   context: Any = None) -> tuple[Any, Any, int] | None:
        """Start the span of an operation if it is sampled: (span, context token, wall start ns).
        Where the sampler is one :mod:`.sampling` knows, a span it would drop is never built;
        ``context``: it was asked already, and would keep a span started in that (the current) one."""
        try:
            if context is None:
                decide = self.decide
                if decide is not None:
                    context = decide()
                    if context is None:
                        return None
            start = _time_ns() if start is None else start
            span = tracer.start_span(_SPAN_NAMES[slot], context, start_time=start)
            if span.is_recording():
                return span, _context.attach(_context.with_span(context, span)) if attach else None, start
        except Exception as exc:
            telemetry_failed("span start", exc)
        return None

    def end_span(self, started: tuple[Any, Any, int], slot: int, duration_ns: int, *, key: object = MISSING,
                 exc: BaseException | None = None, item: object = MISSING, sized: object = None) -> None:
        """End a sampled span with the operation's outcome and attributes."""
        span, token, start = started
        try:
            if token is not None:
                _context.detach(token)
            attrs: dict[str, Any] = self.span_attrs[slot].copy()
            if key is not MISSING:
                key_hash = self.hasher(key)
                if key_hash is not None:
                    attrs[sc.ATTR_KEY_HASH] = key_hash
                if self.record_keys:
                    text = key_text(key)
                    attrs[sc.ATTR_KEY] = text if text is not None else f"<{type(key).__qualname__}>"
            if item is not MISSING and isinstance(item, _SIZED_ITEMS):
                attrs[sc.ATTR_ITEM_SIZE] = len(item)
            size = entry_count(sized)
            if size is not None:
                attrs[sc.ATTR_SIZE] = size
            if exc is not None and SLOTS[slot][1] == sc.ERROR:
                attrs[sc.ATTR_ERROR_TYPE] = type(exc).__qualname__
                attrs[sc.ATTR_ERROR_MESSAGE] = str(exc)[:_MAX_ERROR_MESSAGE]
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
            span.set_attributes(attrs)
            span.end(end_time=start + duration_ns)
        except Exception as telemetry_exc:
            telemetry_failed("span end", telemetry_exc)

    def evicted(self, key: object, sized: object) -> None:
        """Count an eviction (and give it a span when sampled)."""
        try:
            self.count(EVICT)
            tracer = self.tracer()
            started = self.start_span(tracer, EVICT) if tracer is not None else None
            if started is not None:
                self.end_span(started, EVICT, 0, key=key, sized=sized)
        except Exception as exc:
            telemetry_failed("eviction record", exc)
