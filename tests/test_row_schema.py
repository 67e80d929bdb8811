"""One definition per row shape: the spool codec, the COPY columns, the staging table and the upsert
all follow it, so a new column is one field (plus its versioned migration)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import psycopg

from otel_supabase_exporter.histogram import ExpHistogram
from otel_supabase_exporter.rows.schema import ADD, EVENT, MINUTE, RAW, MinuteRow, MinuteShape, column
from otel_supabase_exporter.store.batch import Batch
from otel_supabase_exporter.store.minute_sql import minute_upsert

UTC = timezone.utc


def _distinct_values(row_class: type) -> dict:
    """A value for every field, none of them the default, each different from the others."""
    values: dict = {}
    for i, f in enumerate(dataclasses.fields(row_class)):
        sql_type = f.metadata["sql"]
        values[f.name] = (
            datetime(2026, 3, 4, 5, 6 + i, tzinfo=UTC) if sql_type == "timestamptz"
            else f"text-{i}" if sql_type == "text"
            else 1000 + i if sql_type == "bigint"
            else 0.5 + i if sql_type == "double precision"
            else ExpHistogram(3, -7 + i, (1, 0, i)) if sql_type == "exp_histogram"
            else NotImplemented)
        assert values[f.name] is not NotImplemented, f"no test value for SQL type {sql_type} ({f.name})"
    return values


def test_every_minute_field_round_trips_through_the_spool():
    row = MinuteRow(**_distinct_values(MinuteRow))
    batch = Batch("metrics", [row], [(1, "log", 2, "svc", "{}", "{}")], batch_id=None)
    back = Batch.from_payload(batch.payload())
    assert back.rows == [row] and back.events == batch.events


def test_raw_and_event_rows_round_trip_through_the_spool():
    raw = tuple(range(len(RAW.columns)))
    event = tuple(f"v{i}" for i in range(len(EVENT.columns)))
    back = Batch.from_payload(Batch("spans", [raw], [event]).payload())
    assert back.rows == [raw] and back.events == [event]


def test_old_spool_records_without_newer_fields_still_decode():
    values = MINUTE.encode(MinuteRow(datetime(2026, 1, 1, tzinfo=UTC), "c", "i", "s", hits=3))
    assert MINUTE.decode(values[:-1]) == MinuteRow(datetime(2026, 1, 1, tzinfo=UTC), "c", "i", "s", hits=3)


def test_staging_and_upsert_cover_every_field():
    staged = dict(MINUTE.stage_columns())
    _, copy_columns, upsert = minute_upsert("monitoring", "stage")
    text = upsert.as_string(None)
    for f in MINUTE.fields:
        assert f'"{f.column}"' in text
        assert f.name in staged or f"{f.name}_counts" in staged
    assert copy_columns == list(staged)
    assert len(MINUTE.stage_tuple(MinuteRow(**_distinct_values(MinuteRow)))) == len(copy_columns)


def test_a_new_field_is_the_only_python_edit_a_new_column_needs(pg_dsn, schema):
    """A row class with one more field, and the column a migration would add: the derived staging
    table, COPY and upsert write and merge it with no other change."""
    extended = dataclasses.make_dataclass(
        "ExtendedMinuteRow", [("stale_reads", int, column("bigint", ADD, 0))], bases=(MinuteRow,))
    shape = MinuteShape(extended)
    t = datetime(2026, 5, 6, 7, 8, tzinfo=UTC)
    rows = [extended(t, "c", "impl", "svc", hits=2, latency_count=2, latency_sum_ms=3.0, stale_reads=5,
                     histogram=ExpHistogram(3, 10, (1, 1))),
            extended(t, "c", "impl", "svc", hits=1, latency_count=1, latency_sum_ms=1.0, stale_reads=7,
                     histogram=ExpHistogram(3, 11, (1,)))]
    assert shape.decode(shape.encode(rows[0])) == rows[0]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{schema}".cache_metrics_1min ADD COLUMN stale_reads bigint NOT NULL DEFAULT 0')
        create, columns, upsert = minute_upsert(schema, "_stage_extended", shape)
        for row in rows:  # two batches: the second merges into the first
            with conn.transaction():
                conn.execute(create)
                with conn.cursor().copy(f"COPY _stage_extended ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write_row(shape.stage_tuple(row))
                conn.execute(upsert)
        hits, stale, count, hist = conn.execute(
            f'SELECT hits, stale_reads, latency_count, (latency_histogram).counts FROM "{schema}".cache_metrics_1min'
            " WHERE cache_name = 'c'").fetchone()
    assert (hits, stale, count, hist) == (3, 12, 3, [1, 2])


def test_spool_records_of_the_release_before_the_split_still_replay():
    """Records as the release before this layout wrote them (taken from a spool it left): a process
    upgraded with data in its spool replays it unchanged."""
    minute = {"v": 1, "signal": "metrics", "batch_id": "2ec779fda60a578a8db03d034cdd8d48",
              "rows": [[1796161560, "xcache", "new", "xver", 200, 100, 300, 0, 0, 0, 600, 0.337881, 0.000182,
                        0.005035, 10, 0, [5, -717, [1, 1, 1, 0, 1]]]], "events": []}
    batch = Batch.from_payload(minute)
    assert batch.batch_id.hex == minute["batch_id"]
    assert batch.rows == [MinuteRow(datetime.fromtimestamp(1796161560, UTC), "xcache", "new", "xver", hits=200,
                                    misses=100, sets=300, latency_count=600, latency_sum_ms=0.337881,
                                    min_response_time_ms=0.000182, max_response_time_ms=0.005035, cache_size=10,
                                    histogram=ExpHistogram(5, -717, (1, 1, 1, 0, 1)))]
    raw = [77548766616723670525090677352278883535, 1796161590521427, "xcache", "new", "set", 0.001517, 1, None,
           "cb5f7a011f90a179", None, None, "xver", "3a575963b67144f157069e45c8b111f5", "913492acad957ccf", "{}"]
    spans = Batch.from_payload({"v": 1, "signal": "spans", "batch_id": None, "rows": [raw], "events": []})
    assert spans.rows == [(*raw, None)]  # the columns added since (service_instance_id): None
    assert dict(zip(RAW.names, spans.rows[0]))["operation_type"] == "set"
