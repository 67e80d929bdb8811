"""The timestamp plausibility window: a row whose time is far in the past or the future is a
bug (a wrong unit, a broken clock), not data. It is rejected alone, with a counted reason,
before it can reach the partition computation or make a partition nobody asked for."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator

from ..rows.schema import EVENT, RAW, CumulativePoint, MinuteRow
from .stream import RowStream

__all__ = ["OUTSIDE_WINDOW", "TimestampWindow"]

OUTSIDE_WINDOW = "timestamp outside the plausible window"
_RAW_TS = RAW.index("timestamp")
_EVENT_TS = EVENT.index("timestamp")


@dataclass(frozen=True)
class TimestampWindow:
    """Rows are kept from ``max_age_s`` before now to ``max_ahead_s`` after it (microseconds
    since the epoch in row tuples, ``minute_window`` in 1-minute rows)."""

    max_age_s: float
    max_ahead_s: float

    def bounds_us(self) -> tuple[int, int]:
        """(earliest, latest) plausible row time now, in microseconds since the epoch."""
        now = time.time_ns() // 1000
        return now - int(self.max_age_s * 1e6), now + int(self.max_ahead_s * 1e6)

    def plausible_us(self, ts: object, bounds: tuple[int, int]) -> bool:
        return type(ts) is int and bounds[0] <= ts <= bounds[1]

    def _tuples(self, rows: Iterable[tuple], index: int, rejected: Counter) -> Iterator[tuple]:
        bounds = self.bounds_us()
        for row in rows:
            if self.plausible_us(row[index], bounds):
                yield row
            else:
                rejected[OUTSIDE_WINDOW] += 1

    def span_rows(self, rows: "Iterable[tuple] | RowStream", events: list[tuple], rejected: Counter
                  ) -> "list[tuple] | RowStream":
        """Raw rows without the implausible ones, and ``events`` screened in place. A stream stays a
        stream, screened as it is made; its events (which the mapping adds while the stream is
        consumed) are screened when it ends."""
        if isinstance(rows, RowStream):
            return RowStream(self._stream_then_events(rows, events, rejected))
        kept = list(self._tuples(rows, _RAW_TS, rejected))
        events[:] = self.event_rows(events, rejected)
        return kept

    def _stream_then_events(self, rows: RowStream, events: list[tuple], rejected: Counter) -> Iterator[tuple]:
        yield from self._tuples(rows.stream(), _RAW_TS, rejected)
        events[:] = self.event_rows(events, rejected)

    def event_rows(self, rows: Iterable[tuple], rejected: Counter) -> list[tuple]:
        return list(self._tuples(rows, _EVENT_TS, rejected))

    def minute_rows(self, rows: Iterable[MinuteRow], rejected: Counter) -> list[MinuteRow]:
        bounds = self.bounds_us()
        kept = []
        for row in rows:
            at = row.minute_window
            us = int(at.timestamp() * 1_000_000) if isinstance(at, datetime) and at.tzinfo else None
            if us is not None and bounds[0] <= us <= bounds[1]:
                kept.append(row)
            else:
                rejected[OUTSIDE_WINDOW] += 1
        return kept

    def cumulative_points(self, points: Iterable[CumulativePoint], rejected: Counter) -> list[CumulativePoint]:
        """The points whose time is inside the window (a long-running sender's start may be older)."""
        bounds = self.bounds_us()
        kept = []
        for p in points:
            if type(p.time_ns) is int and self.plausible_us(p.time_ns // 1000, bounds):
                kept.append(p)
            else:
                rejected[OUTSIDE_WINDOW] += 1
        return kept
