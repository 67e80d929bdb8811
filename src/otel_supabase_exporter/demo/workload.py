"""The demo's live workload: a semantic cache in two implementations, "legacy" and "new", asked for
prompts with a Zipf popularity at a steady pace, with the faults of :mod:`.faults` applied."""

from __future__ import annotations

import bisect
import itertools
import random
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from .faults import LiveFaults

__all__ = ["LegacySemanticCache", "NewSemanticCache", "prompt", "warm", "workload"]

PROMPTS = 2_000
LEGACY_LOOKUP_S = 0.0012  # a remote similarity index: a round trip
NEW_LOOKUP_S = 0.0003     # an in-process index
LEGACY_TIMEOUTS = 0.005   # the legacy backend's usual share of lookups that time out


def prompt(rank: int) -> str:
    return f"prompt-{rank}"


class _SemanticCache:
    """What both implementations share: a dict of answers, a lookup that takes its time (longer
    under a latency fault) and may fail (under an error fault)."""

    capacity = 0
    implementation = ""
    lookup_s = 0.0

    def __init__(self, faults: LiveFaults | None = None) -> None:
        self._data: OrderedDict[str, str] = OrderedDict()
        self._faults = faults

    def __len__(self) -> int:
        return len(self._data)

    def popitem(self) -> tuple[str, str]:
        return self._data.popitem(last=False)

    def _lookup(self) -> None:
        faults = self._faults
        time.sleep(self.lookup_s * (faults.latency_factor(self.implementation) if faults else 1.0))
        if faults is not None and faults.fails(self.implementation):
            raise TimeoutError("semantic index did not answer in time")


class LegacySemanticCache(_SemanticCache):
    """FIFO, 300 entries, a remote similarity index that times out now and then."""

    capacity = 300
    implementation = "legacy"
    lookup_s = LEGACY_LOOKUP_S

    def __init__(self, rng: random.Random, faults: LiveFaults | None = None) -> None:
        super().__init__(faults)
        self._rng = rng

    def get(self, key: str) -> str | None:
        self._lookup()
        if self._rng.random() < LEGACY_TIMEOUTS:
            raise TimeoutError("semantic index did not answer in time")
        return self._data.get(key)

    def set(self, key: str, answer: str) -> None:
        self._data[key] = answer
        while len(self._data) > self.capacity:
            self.popitem()


class NewSemanticCache(_SemanticCache):
    """LRU, 600 entries, an in-process index."""

    capacity = 600
    implementation = "new"
    lookup_s = NEW_LOOKUP_S

    def get(self, key: str) -> str | None:
        self._lookup()
        answer = self._data.get(key)
        if answer is not None:
            self._data.move_to_end(key)
        return answer

    def set(self, key: str, answer: str) -> None:
        self._data[key] = answer
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self.popitem()


def warm(cache: Any) -> None:
    """Fill a cache with its capacity's worth of the most asked prompts, as a cache that has been
    running for days holds them, without going through the instrumented calls."""
    for rank in reversed(range(cache.capacity)):
        cache._data[prompt(rank)] = f"answer to {prompt(rank)}"


def _zipf_sampler(rng: random.Random, n: int, s: float = 1.1) -> Callable[[], int]:
    weights = list(itertools.accumulate(1.0 / (k ** s) for k in range(1, n + 1)))
    total = weights[-1]
    return lambda: bisect.bisect_left(weights, rng.random() * total)


def workload(cache: Any, stop: threading.Event, counter: list[int], *, ops_per_minute: float, seed: int) -> None:
    """Ask ``cache`` for prompts until ``stop``, at ``ops_per_minute`` operations (a get, and a set
    after each miss); a lookup that times out counts as a miss. ``counter[0]`` counts operations."""
    rng = random.Random(seed)
    next_prompt = _zipf_sampler(rng, PROMPTS)
    interval = 60.0 / max(ops_per_minute, 1.0)
    due = time.monotonic()
    while not stop.is_set():
        key = prompt(next_prompt())
        ops = 1
        try:
            answer = cache.get(key)
        except TimeoutError:
            answer = None
        if answer is None:
            cache.set(key, f"answer to {key}")
            ops += 1
        counter[0] += ops
        due += ops * interval
        delay = due - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        elif delay < -1.0:  # fell behind (a busy machine): carry on from now, do not burst
            due = time.monotonic()
