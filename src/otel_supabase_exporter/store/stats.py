"""The exporters' counters of one destination, per signal: what they received, wrote, retried,
spooled, replayed, and why any item was set aside (rejected) or lost (dropped)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .writer import WriteResult

__all__ = ["OUTCOMES", "SIGNALS", "ExportStats"]

SIGNALS = ("spans", "logs", "metrics")
OUTCOMES = ("received", "exported", "duplicates", "retried", "spooled", "replayed", "failed")


@dataclass
class ExportStats:
    """Items of one signal: received, written, duplicates, retried, spooled, replayed, and why
    any were set aside (rejected) or lost (dropped)."""

    received: int = 0
    exported: int = 0
    duplicates: int = 0
    retried: int = 0
    spooled: int = 0
    replayed: int = 0
    failed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def add_reasons(self, kind: str, reasons: dict[str, int] | Counter) -> None:
        if not reasons:
            return
        with self._lock:
            target = self.rejected if kind == "rejected" else self.dropped
            for reason, n in reasons.items():
                target[reason] = target.get(reason, 0) + n

    def written(self, result: WriteResult, replayed: bool = False) -> None:
        self.add(exported=result.written, duplicates=result.duplicates,
                 **({"replayed": result.written} if replayed else {}))
        self.add_reasons("rejected", result.rejected)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {name: getattr(self, name) for name in OUTCOMES}
            out.update(rejected=dict(self.rejected), dropped=dict(self.dropped))
            return out
