"""The one definition of each row shape: the raw cache row, the event row and the 1-minute row.

The writer derives its COPY column lists, its staging table and its upsert from these, and the
spool its codec; nothing else spells a row out. Raw and event rows are tuples in column order
(cheap to make on the export path); a 1-minute row is a :class:`MinuteRow`, whose fields carry
their SQL type and how two contributions to the same minute merge.

Values are plain: ids are 128-bit integers (stored as ``uuid``), timestamps integer
microseconds since the Unix epoch (stored as ``timestamptz``), JSON columns JSON text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Sequence

from ..histogram import ExpHistogram

__all__ = ["EVENT", "MINUTE", "RAW", "Column", "CumulativePoint", "MinuteField", "MinuteRow", "MinuteShape", "TableShape", "column",
           "row_datetime"]

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str


@dataclass(frozen=True)
class TableShape:
    """A table's rows as tuples: the columns, in the order every tuple holds them. New columns go
    at the end: a record spooled before one was added decodes with None for it."""

    table: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def encode(self, row: tuple) -> list:
        """The row as JSON values (the spool's codec): every value is already plain."""
        return list(row)

    def decode(self, values: Sequence[Any]) -> tuple:
        missing = len(self.columns) - len(values)
        return tuple(values) + (None,) * missing if missing > 0 else tuple(values)


RAW = TableShape("cache_metrics", (
    Column("id", "uuid"), Column("timestamp", "timestamptz"), Column("cache_name", "text"),
    Column("implementation_type", "text"), Column("operation_type", "text"),
    Column("response_time_ms", "double precision"), Column("cache_size", "bigint"),
    Column("item_size_bytes", "bigint"), Column("cache_key_hash", "text"), Column("error_type", "text"),
    Column("error_message", "text"), Column("service_name", "text"), Column("trace_id", "text"),
    Column("span_id", "text"), Column("attributes", "jsonb"), Column("service_instance_id", "text"),
))

EVENT = TableShape("monitoring_events", (
    Column("id", "uuid"), Column("event_type", "text"), Column("timestamp", "timestamptz"),
    Column("source", "text"), Column("data", "jsonb"), Column("metadata", "jsonb"),
))


def row_datetime(us: int) -> datetime:
    """The ``datetime`` of a row timestamp (microseconds since the epoch)."""
    return _EPOCH + timedelta(microseconds=us)  # exact: no float rounding


# How a field of a 1-minute row merges with the stored row of the same minute and series.
KEY, ADD, LEAST, GREATEST, KEEP_GREATEST, HISTOGRAM = "key", "add", "least", "greatest", "keep_greatest", "histogram"


def column(sql_type: str, merge: str, default: Any = dataclasses.MISSING, stored_as: str | None = None) -> Any:
    """A :class:`MinuteRow` field stored in a column of type ``sql_type`` merged by rule ``merge``
    (``stored_as`` names the column when it is not the field's name)."""
    metadata = {"sql": sql_type, "merge": merge, "column": stored_as}
    if default is dataclasses.MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class MinuteRow:
    """One ``cache_metrics_1min`` contribution: merged into the row of its key by the writer.

    A new field is a new column: give it its SQL type and merge rule here, add the column in a
    versioned migration, and the writer and the spool follow. Add fields at the end: spooled
    rows are positional, and older records then simply lack the new value (its default).
    """

    minute_window: datetime = column("timestamptz", KEY)
    cache_name: str = column("text", KEY)
    implementation_type: str = column("text", KEY)
    service_name: str = column("text", KEY)
    hits: int = column("bigint", ADD, 0)
    misses: int = column("bigint", ADD, 0)
    sets: int = column("bigint", ADD, 0)
    deletes: int = column("bigint", ADD, 0)
    evictions: int = column("bigint", ADD, 0)
    errors: int = column("bigint", ADD, 0)
    latency_count: int = column("bigint", ADD, 0)
    latency_sum_ms: float = column("double precision", ADD, 0.0)
    min_response_time_ms: float | None = column("double precision", LEAST, None)
    max_response_time_ms: float | None = column("double precision", GREATEST, None)
    cache_size: int | None = column("bigint", KEEP_GREATEST, None)
    latency_zero_count: int = column("bigint", ADD, 0)
    # staged as its three parts, stored as one exp_histogram
    histogram: ExpHistogram | None = column("exp_histogram", HISTOGRAM, None, stored_as="latency_histogram")

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, f.name) for f in MINUTE.key_fields)


@dataclass(frozen=True)
class MinuteField:
    name: str
    sql_type: str
    merge: str
    column: str  # the table's column


class MinuteShape:
    """A 1-minute row class's fields, as the writer and the spool need them."""

    def __init__(self, row_class: type = MinuteRow) -> None:
        self.row_class = row_class
        self.fields = tuple(MinuteField(f.name, f.metadata["sql"], f.metadata["merge"],
                                        f.metadata["column"] or f.name)
                            for f in dataclasses.fields(row_class))
        self.key_fields = tuple(f for f in self.fields if f.merge == KEY)
        self.table = "cache_metrics_1min"

    def stage_columns(self) -> Iterator[tuple[str, str]]:
        """(name, SQL type) of the staging table's columns: the histogram in three parts."""
        for f in self.fields:
            if f.merge == HISTOGRAM:
                yield from ((f"{f.name}_scale", "integer"), (f"{f.name}_offset", "integer"),
                            (f"{f.name}_counts", "bigint[]"))
            else:
                yield f.name, f.sql_type

    def stage_tuple(self, row: MinuteRow) -> tuple:
        """The row as the staging table's values, in :meth:`stage_columns` order."""
        out: list[Any] = []
        for f in self.fields:
            value = getattr(row, f.name)
            if f.merge == HISTOGRAM:
                out += [value.scale, value.index_offset, list(value.counts)] if value else [None, None, None]
            else:
                out.append(value)
        return tuple(out)

    def encode(self, row: MinuteRow) -> list:
        """The row as JSON values (the spool's codec), positional."""
        out: list[Any] = []
        for f in self.fields:
            value = getattr(row, f.name)
            if isinstance(value, datetime):
                value = int(value.timestamp())
            elif isinstance(value, ExpHistogram):
                value = [value.scale, value.index_offset, list(value.counts)]
            out.append(value)
        return out

    def decode(self, values: Sequence[Any]) -> MinuteRow:
        """:meth:`encode` reversed; missing trailing values take their defaults."""
        kwargs: dict[str, Any] = {}
        for f, value in zip(self.fields, values):
            if f.sql_type == "timestamptz" and value is not None:
                value = datetime.fromtimestamp(value, _UTC)
            elif f.merge == HISTOGRAM and value is not None:
                value = ExpHistogram(value[0], value[1], tuple(value[2]))
            kwargs[f.name] = value
        return self.row_class(**kwargs)


MINUTE = MinuteShape(MinuteRow)


@dataclass(frozen=True)
class CumulativePoint:
    """A cumulative-temporality point of a cache series from another sender (the gateway's): the
    store turns it into the delta since the sender's previous point, in ``column`` of a 1-minute row.
    ``series`` identifies the sender and series; times are ns since the epoch."""

    series: str
    cache_name: str
    implementation_type: str
    service_name: str
    column: str
    start_ns: int
    time_ns: int
    value: float

    def encode(self) -> list:
        return list(dataclasses.astuple(self))

    @classmethod
    def decode(cls, values: Sequence[Any]) -> "CumulativePoint":
        return cls(*values)
