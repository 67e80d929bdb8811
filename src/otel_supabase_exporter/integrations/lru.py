"""``functools.lru_cache`` (and anything with the same ``cache_info()``): it has no per-call hook, so
its counters are read at every metric collection and the differences recorded — hits, misses, a
set per miss (the result is stored), evictions once the cache is full, and its size::

    @functools.lru_cache(maxsize=1024)
    def price(sku): ...

    observe_lru_cache(price, name="prices")

Only counts: calls are not timed and make no spans (there is nothing to hook them on). Use
``otel_supabase_exporter.cached`` instead of ``lru_cache`` to get both.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from ..instrument.series import EVICT, GET_HIT, GET_MISS, SET_OK, Series

__all__ = ["observe_lru_cache"]


class _Observed:
    """The poller of one lru-cached function; also what the size gauge asks ``len()`` of."""

    def __init__(self, fn: Any, series: Series) -> None:
        self.fn = fn
        self.series = series
        self.lock = threading.Lock()
        info = fn.cache_info()
        self.last = (info.hits, info.misses, info.currsize)

    def __len__(self) -> int:
        return self.fn.cache_info().currsize

    def poll(self) -> None:
        info = self.fn.cache_info()
        with self.lock:
            hits0, misses0, size0 = self.last
            self.last = (info.hits, info.misses, info.currsize)
        hits, misses = info.hits - hits0, info.misses - misses0
        if hits < 0 or misses < 0:  # cache_clear() reset the counters: count from zero
            hits, misses, size0 = info.hits, info.misses, 0
        count = self.series.count
        if hits:
            count(GET_HIT, hits)
        if misses:
            count(GET_MISS, misses)
            if info.maxsize != 0:
                count(SET_OK, misses)
                evicted = misses - (info.currsize - size0)
                if info.maxsize is not None and evicted > 0:
                    count(EVICT, evicted)


def observe_lru_cache(fn: Callable[..., Any], name: str, implementation: str = "functools.lru_cache", *,
                      meter_provider: Any = None) -> Callable[[], None]:
    """Report ``fn``'s lru cache as cache ``name``; returns a function that stops reporting."""
    if not callable(getattr(fn, "cache_info", None)):
        raise TypeError("observe_lru_cache: the function has no cache_info() (decorate it with functools.lru_cache)")
    from ..instrument.producer import producer_for

    series = Series(name, implementation, tracer_provider=None, meter_provider=meter_provider, record_keys=None,
                     hasher=None, spans=False)
    observed = _Observed(fn, series)
    producer = producer_for(meter_provider)
    producer.add_poller(observed.poll)
    series.sizes.track(series, observed)
    return lambda: producer.remove_poller(observed.poll)
