"""What one export writes — raw rows and events (spans), events (logs), or minute merges
(metrics) — and its spool record."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..rows.schema import EVENT, MINUTE, RAW, CumulativePoint, MinuteRow
from .plausible import TimestampWindow
from .stream import RowStream, all_rows
from .writer import PostgresWriter, WriteResult

__all__ = ["Batch"]

# The shape of a batch's rows, by signal (a logs batch has only events).
_ROW_SHAPES: dict[str, Any] = {"spans": RAW, "logs": RAW, "metrics": MINUTE}


@dataclass
class Batch:
    """What one export writes: raw rows + events (spans), events (logs), or minute merges (metrics)."""

    signal: str
    rows: Sequence[tuple] | RowStream | Sequence[MinuteRow] = ()
    events: Sequence[tuple] = ()
    batch_id: uuid.UUID | None = None
    #: The id of the batch this one is a part of (a split minute merge); None for a whole batch.
    parent_id: uuid.UUID | None = None
    #: Points of cumulative senders (the gateway's), turned into minute deltas by the writer.
    cumulative: Sequence[CumulativePoint] = ()

    @property
    def items(self) -> int:
        return len(all_rows(self.rows)) + len(self.events) + len(self.cumulative)

    def write(self, writer: PostgresWriter) -> WriteResult:
        if self.signal == "metrics":
            assert self.batch_id is not None
            return writer.write_minutes(self.rows, self.events, self.batch_id,  # type: ignore[arg-type]
                                        parent_id=self.parent_id, cumulative=self.cumulative)
        if self.signal == "spans":
            return writer.write_spans(self.rows, self.events)  # type: ignore[arg-type]
        return writer.write_events(self.events)

    def screen(self, window: TimestampWindow) -> Counter:
        """Drop the rows whose time is outside ``window``; returns the rejections by reason
        (of a streamed batch, filled as its rows are made)."""
        rejected: Counter = Counter()
        if self.signal == "spans":
            if not isinstance(self.events, list):
                self.events = list(self.events)
            self.rows = window.span_rows(self.rows, self.events, rejected)  # type: ignore[arg-type]
            return rejected
        if self.signal == "metrics":
            self.rows = window.minute_rows(self.rows, rejected)  # type: ignore[arg-type]
            if self.cumulative:
                self.cumulative = window.cumulative_points(self.cumulative, rejected)
        self.events = window.event_rows(self.events, rejected)
        return rejected

    def split(self, size: int) -> list[Batch]:
        """Batches of at most ``size`` rows or events each. Spooling small records keeps every
        (de)serialisation short: it holds the GIL, so the application must not wait for it.
        A minute merge's parts get batch ids derived from its own and keep its id as their
        parent: the writer skips a part whose parent was merged whole (a commit whose reply
        was lost), so the batch counts once however it was split."""
        rows = list(all_rows(self.rows))
        parts = [Batch(self.signal, rows[i:i + size], (), None) for i in range(0, len(rows), size)]
        events = list(self.events)
        parts += [Batch(self.signal, [], events[i:i + size], None) for i in range(0, len(events), size)]
        cumulative = list(self.cumulative)
        parts += [Batch(self.signal, [], [], None, cumulative=cumulative[i:i + size])
                  for i in range(0, len(cumulative), size)]
        if self.batch_id is not None:
            for i, part in enumerate(parts):
                if len(parts) > 1:
                    part.batch_id = uuid.uuid5(self.batch_id, str(i))
                    part.parent_id = self.parent_id or self.batch_id
                else:
                    part.batch_id, part.parent_id = self.batch_id, self.parent_id
        return parts

    def payload(self) -> dict[str, Any]:
        """The batch as a JSON object (a spool record); every row through its shape's codec."""
        shape = _ROW_SHAPES[self.signal]
        return {"v": 1, "signal": self.signal, "batch_id": self.batch_id.hex if self.batch_id else None,
                "parent_id": self.parent_id.hex if self.parent_id else None,
                "rows": [shape.encode(r) for r in all_rows(self.rows)],
                "events": [EVENT.encode(e) for e in self.events],
                "cumulative": [p.encode() for p in self.cumulative]}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Batch:
        """:meth:`payload` reversed."""
        signal = payload["signal"]
        shape = _ROW_SHAPES[signal]
        batch_id = uuid.UUID(payload["batch_id"]) if payload.get("batch_id") else None
        parent_id = uuid.UUID(payload["parent_id"]) if payload.get("parent_id") else None
        return cls(signal, [shape.decode(r) for r in payload["rows"]], [EVENT.decode(e) for e in payload["events"]],
                   batch_id, parent_id, [CumulativePoint.decode(p) for p in payload.get("cumulative", ())])
