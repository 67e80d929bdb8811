"""The faults the demo injects on purpose: each begins inside the backfilled history and goes on
during the live run, so the auditor has minutes of it to judge before the demo ends.

In the history a fault is a :class:`~.synthetic.Fault` of the generator; live it is what the
demo's caches do (:class:`LiveFaults`): a slower lookup, or a backend that times out more often.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .synthetic import Fault

__all__ = ["DEFAULT_FAULTS", "DemoFault", "LiveFaults"]

LATENCY_METRICS = frozenset({"p50_response_time_ms", "p95_response_time_ms", "p99_response_time_ms"})


@dataclass(frozen=True)
class DemoFault:
    """``latency``: the implementation's lookups take ``value`` times as long; ``errors``: a share
    ``value`` of its lookups fail. It began ``began`` before the live run and lasts until the demo ends."""

    implementation: str
    kind: Literal["latency", "errors"]
    value: float
    began: timedelta
    story: str

    def start(self, live_start: datetime) -> datetime:
        return live_start - self.began

    def history_fault(self, live_start: datetime) -> Fault:
        """The same change in the generator's terms, from its start to the live run (and beyond)."""
        return Fault(self.kind, self.start(live_start), live_start + timedelta(days=1), self.value)

    def metrics(self) -> frozenset[str]:
        """The metrics an observation of this fault is about."""
        return LATENCY_METRICS if self.kind == "latency" else frozenset({"error_rate"})

    def describe(self) -> str:
        what = f"lookups {self.value:g}x slower" if self.kind == "latency" else f"{self.value:.0%} of lookups fail"
        minutes = round(self.began.total_seconds() / 60)
        return f"{self.implementation}: {what}, since {minutes} min before the live run ({self.story})"


DEFAULT_FAULTS: tuple[DemoFault, ...] = (
    DemoFault("new", "latency", 4.0, timedelta(minutes=40), "a deploy of the new index"),
    DemoFault("legacy", "errors", 0.08, timedelta(minutes=25), "its backend starts timing out"),
)


class LiveFaults:
    """What the live caches ask on every lookup: how much slower they are and whether this one fails."""

    def __init__(self, faults: tuple[DemoFault, ...], seed: int = 0) -> None:
        self._faults = faults
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.active = True

    def latency_factor(self, implementation: str) -> float:
        factor = 1.0
        if self.active:
            for f in self._faults:
                if f.implementation == implementation and f.kind == "latency":
                    factor *= f.value
        return factor

    def fails(self, implementation: str) -> bool:
        if not self.active:
            return False
        rate = max((f.value for f in self._faults if f.implementation == implementation and f.kind == "errors"),
                   default=0.0)
        if not rate:
            return False
        with self._lock:
            return self._rng.random() < rate
