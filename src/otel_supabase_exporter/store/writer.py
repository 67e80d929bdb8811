"""Writing rows to PostgreSQL: a connection pool, COPY in one transaction per batch, idempotent merges."""

from __future__ import annotations

import logging
import struct
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator, Sequence

import psycopg
from psycopg import postgres, pq, sql
from psycopg.adapt import Dumper

from ..errors import Unavailable, WriteError
from ..redact import error_line, mask_dsn
from ..rows.schema import EVENT, MINUTE, RAW, CumulativePoint, MinuteRow, TableShape, row_datetime
from ..settings import Settings
from . import migrations
from .connect import connect_bounded
from .connections import ConnectionCache
from .cumulative import combine, delta_rows
from .minute_sql import minute_upsert
from .stream import RowStream, all_rows
from .throttle import Throttle

__all__ = ["PostgresWriter", "Unavailable", "WriteError", "WriteResult"]

_log = logging.getLogger(__name__)
_throttle = Throttle(_log)
_ROW_ERRORS = (psycopg.errors.IntegrityError, psycopg.errors.DataError, TypeError, ValueError, OverflowError)
# Errors that mean what the writer remembers of the schema (partitions, column types) is stale.
_STALE = (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedObject)

PARTITION_DAYS_AHEAD = 2
SPLIT_KIND = "metrics split"  # export_batches.kind of a batch whose parts were merged one by one
_UNIX_DAY = date(1970, 1, 1)


# Binary COPY dumpers for the mapping's plain row values (see mapping's docstring). The
# formats are PostgreSQL's binary wire formats: uuid = 16 bytes big-endian, timestamptz =
# int64 microseconds since 2000-01-01 UTC, jsonb = version byte 1 + JSON text.
_UUID_OID = postgres.types["uuid"].oid
_TIMESTAMPTZ_OID = postgres.types["timestamptz"].oid
_PG_EPOCH_US = 946_684_800_000_000
_pack_int8 = struct.Struct("!q").pack


class _JsonTextBinaryDumper(Dumper):
    format = pq.Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


class _IntUuidBinaryDumper(Dumper):
    format = pq.Format.BINARY
    oid = _UUID_OID

    def dump(self, obj: int) -> bytes:
        return obj.to_bytes(16, "big")


class _MicrosTimestamptzBinaryDumper(Dumper):
    format = pq.Format.BINARY
    oid = _TIMESTAMPTZ_OID

    def dump(self, obj: int) -> bytes:
        return _pack_int8(obj - _PG_EPOCH_US)


_ROW_DUMPERS = (_JsonTextBinaryDumper, _IntUuidBinaryDumper, _MicrosTimestamptzBinaryDumper)


def _python_row(types: Sequence[int], row: tuple) -> tuple:
    """A mapped row as the values psycopg adapts in a plain INSERT."""
    return tuple(
        uuid.UUID(int=v) if t == _UUID_OID and isinstance(v, int)
        else row_datetime(v) if t == _TIMESTAMPTZ_OID and isinstance(v, int)
        else v
        for t, v in zip(types, row)
    )


def _copy(conn: psycopg.Connection, table: sql.Composable, columns: Sequence[str], rows: Iterable[tuple], *,
          types: Sequence[int] | None = None) -> int:
    """COPY rows in; binary (no text round trip on either side) when the column types are given.
    Returns how many rows were sent."""
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    cursor = conn.cursor()
    if types is None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table, cols)
    else:
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, cols)
        for dumper in _ROW_DUMPERS:
            cursor.adapters.register_dumper(None, dumper)
    with cursor.copy(statement) as copy:
        if types is not None:
            copy.set_types(types)
        write = copy.write_row
        n = 0
        for row in rows:
            write(row)
            n += 1
    return n


@dataclass(frozen=True)
class _Target:
    """One of our tables as the writer sends rows to it."""

    name: str
    table: sql.Composable
    columns: tuple[str, ...]
    types: tuple[int, ...]
    may_copy: bool


@dataclass
class WriteResult:
    written: int = 0
    duplicates: int = 0
    rejected: Counter = field(default_factory=Counter)


MAX_IDLE_CONNECTIONS = 4
MAX_CONNECTION_AGE_S = 600.0


class PostgresWriter:
    """Writes batches for every exporter of one (DSN, schema), over a :class:`ConnectionCache`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connections = ConnectionCache(self._connect, MAX_IDLE_CONNECTIONS, MAX_CONNECTION_AGE_S)
        self._migrated = False
        self._known_days: set[date] = set()
        self._targets: dict[str, _Target] = {}

    def __repr__(self) -> str:
        return f"PostgresWriter(dsn={mask_dsn(self.settings.dsn)!r}, schema={self.settings.schema!r})"

    # -- connections

    def _connect(self) -> psycopg.Connection:
        try:
            conn = connect_bounded(self.settings)
        except Exception as exc:
            raise Unavailable(self.describe(exc)) from exc
        if self.settings.should_auto_migrate and not self._migrated:
            try:
                applied = migrations.migrate(conn, self.settings.schema)
            except Exception as exc:
                conn.close()
                raise WriteError(self.describe(exc)) from exc
            self._migrated = True
            if applied:
                _log.info("applied migrations to schema %s: %s", self.settings.schema, ", ".join(applied))
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """An autocommit connection; errors come out as :class:`WriteError` (:class:`Unavailable`
        when none could be made). A connection that saw an error is not reused."""
        conn = self._connections.take()
        try:
            yield conn
        except WriteError as exc:
            self._connections.discard(conn)
            self._forget_if_stale(exc.__cause__)
            raise
        except Exception as exc:
            self._connections.discard(conn)
            self._forget_if_stale(exc)
            raise WriteError(self.describe(exc)) from exc
        self._connections.give_back(conn)

    def describe(self, exc: BaseException) -> str:
        """A one-line account of an error, with the DSN password removed."""
        hint = ""
        if isinstance(exc, (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction,
                            psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedObject)):
            hint = " (the schema is not migrated: run `otel-supabase-exporter migrate`, then `doctor`)"
        elif isinstance(exc, psycopg.errors.InsufficientPrivilege):
            hint = " (the role lacks a privilege on the monitoring schema; `doctor` shows which)"
        return f"{type(exc).__name__}: {error_line(exc, self.settings.dsn)}{hint}"

    def _forget_if_stale(self, exc: BaseException | None) -> None:
        """The schema was dropped or replaced (e.g. re-migrated): ask again what it holds."""
        if isinstance(exc, _STALE):
            self._known_days.clear()
            self._targets.clear()
            self._migrated = False

    def close(self) -> None:
        self._connections.close()

    def after_fork(self) -> None:
        """In a forked child: the parent's connections are its own (never used nor closed here)."""
        self._connections.after_fork()

    def _timeout(self, conn: psycopg.Connection) -> None:
        """Bound every statement of the current transaction, lock waits included (transaction-local,
        so it works through transaction-mode poolers, which refuse startup options)."""
        ms = str(int(self.settings.timeout_s * 1000))
        conn.execute("SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                     (ms, ms))

    def _table(self, name: str) -> sql.Composed:
        return sql.Identifier(self.settings.schema, name)

    # -- partitions

    def _ensure_partitions(self, conn: psycopg.Connection, rows: Sequence[tuple] = ()) -> bool:
        """Partitions for the days of ``rows`` and for today and the next days; True if any was missing."""
        ts_index = RAW.index("timestamp")
        today = datetime.now(timezone.utc).date()
        days = set()
        for d in {r[ts_index] // 86_400_000_000 for r in rows if type(r[ts_index]) is int}:
            try:
                days.add(_UNIX_DAY + timedelta(days=d))
            except OverflowError:  # the rows were screened; this is a guard, the row fails alone later
                pass
        days.update(today + timedelta(days=i) for i in range(PARTITION_DAYS_AHEAD + 1))
        missing = sorted(days - self._known_days)
        if not missing:
            return False
        with conn.transaction():
            self._timeout(conn)
            for day in missing:
                conn.execute(
                    sql.SQL("SELECT {}(%s, %s)").format(self._table("ensure_cache_metrics_partitions")), (day, day)
                )
        self._known_days.update(missing)
        return True

    # -- COPY with an idempotent fallback

    def _target(self, conn: psycopg.Connection, shape: TableShape) -> _Target:
        """How rows of ``shape`` go to their table: its column types, and whether this role may
        COPY into it (row-level security does not apply to it: it owns the table, or bypasses RLS).
        Asked once per writer and table."""
        found = self._targets.get(shape.table)
        if found is None:
            table = self._table(shape.table)
            regclass = table.as_string(conn)
            oids = dict(conn.execute(
                "SELECT attname, atttypid::int FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (regclass,)).fetchall())
            may_copy = conn.execute(
                "SELECT NOT c.relrowsecurity OR r.rolsuper OR r.rolbypassrls"
                "       OR pg_has_role(current_user, c.relowner, 'USAGE')"
                " FROM pg_class c, pg_roles r WHERE c.oid = %s::regclass AND r.rolname = current_user",
                (regclass,)).fetchone()[0]
            found = self._targets[shape.table] = _Target(
                shape.table, table, shape.names, tuple(oids[c] for c in shape.names), may_copy)
        return found

    def _store(self, conn: psycopg.Connection, target: _Target, rows: Sequence[tuple] | RowStream,
               result: WriteResult, *, prepare: Callable[[psycopg.Connection, Sequence[tuple]], bool] | None = None
               ) -> None:
        """Insert rows, keeping the ones already stored (same id) and setting invalid ones aside.

        ``prepare`` runs when the fast path fails; if it returns True (it fixed
        something, e.g. created a missing partition) the fast path runs again.
        """
        source = rows.stream() if isinstance(rows, RowStream) else rows
        try:
            with conn.transaction():  # savepoint: the fast path is a plain COPY
                if target.may_copy:
                    result.written += _copy(conn, target.table, target.columns, source, types=target.types)
                else:  # row-level security applies to this role, and COPY FROM refuses such tables
                    result.written += self._via_stage(conn, target, source, conflicts=False)
            return
        except psycopg.errors.UniqueViolation:
            unique_violation = True  # a retry or replay: some ids are stored already
        except psycopg.errors.CheckViolation:  # "no partition for row": a partition may be gone
            unique_violation = False
            self._known_days.clear()
        except _ROW_ERRORS:
            unique_violation = False
        rows = all_rows(rows)
        if prepare is not None and prepare(conn, rows):
            self._store(conn, target, rows, result)
            return
        if not unique_violation:
            self._store_each(conn, target, rows, result)
            return
        try:
            with conn.transaction():
                inserted = self._via_stage(conn, target, rows, conflicts=True)
            result.written += inserted
            result.duplicates += len(rows) - inserted
        except _ROW_ERRORS:
            self._store_each(conn, target, rows, result)

    def _via_stage(self, conn: psycopg.Connection, target: _Target, rows: Iterable[tuple], *,
                   conflicts: bool) -> int:
        """COPY into a temporary table, then INSERT ... SELECT (ON CONFLICT DO NOTHING with
        ``conflicts``); returns the rows inserted."""
        stage = sql.Identifier(f"_otel_stage_{target.name}")
        cols = sql.SQL(", ").join(map(sql.Identifier, target.columns))
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(stage, target.table))
        _copy(conn, stage, target.columns, rows, types=target.types)
        inserted = conn.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}{}").format(
                target.table, cols, cols, stage, sql.SQL(" ON CONFLICT DO NOTHING" if conflicts else ""))
        ).rowcount
        conn.execute(sql.SQL("DROP TABLE {}").format(stage))
        return inserted

    def _store_each(self, conn: psycopg.Connection, target: _Target, rows: Sequence[tuple],
                    result: WriteResult) -> None:
        cols = sql.SQL(", ").join(map(sql.Identifier, target.columns))
        marks = sql.SQL(", ").join(sql.Placeholder() * len(target.columns))
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
            target.table, cols, marks)
        for row in rows:
            try:
                with conn.transaction():
                    inserted = conn.execute(statement, _python_row(target.types, row)).rowcount
                result.written += inserted
                result.duplicates += 1 - inserted
            except _ROW_ERRORS as exc:
                detail = exc.diag.message_primary if isinstance(exc, psycopg.Error) else str(exc)
                reason = f"{type(exc).__name__}: {(detail or '')[:200]}"
                result.rejected[reason] += 1
                _throttle.warn(target.name, "row set aside from %s: %s", target.table.as_string(conn), reason)

    def _parent_was_split(self, conn: psycopg.Connection, parent_id: uuid.UUID) -> bool:
        """Record that ``parent_id`` was split (its parts merge on their own) unless it was merged
        whole; True when its parts are to be merged. The insert waits for a whole merge of the
        parent still in flight on the server, so the answer is final."""
        batches = self._table("export_batches")
        conn.execute(sql.SQL("INSERT INTO {} (batch_id, kind, row_count) VALUES (%s, %s, 0)"
                             " ON CONFLICT DO NOTHING").format(batches), (parent_id, SPLIT_KIND))
        found = conn.execute(sql.SQL("SELECT kind FROM {} WHERE batch_id = %s").format(batches),
                             (parent_id,)).fetchone()
        return found is not None and found[0] == SPLIT_KIND

    # -- batches

    def write_spans(self, cache_rows: Iterable[tuple] | RowStream, event_rows: Sequence[tuple]) -> WriteResult:
        """Raw cache rows and events of one span batch, in one transaction. Event rows are read
        after the cache rows (a :class:`RowStream`, or any iterator, completes them)."""
        if not isinstance(cache_rows, (list, tuple, RowStream)):
            cache_rows = RowStream(cache_rows)  # kept as made, for the fallbacks
        result = WriteResult()
        with self.connection() as conn:
            self._ensure_partitions(conn)
            with conn.transaction():
                self._timeout(conn)
                self._store(conn, self._target(conn, RAW), cache_rows, result, prepare=self._ensure_partitions)
                if event_rows:
                    self._store(conn, self._target(conn, EVENT), event_rows, result)
        return result

    def write_events(self, event_rows: Sequence[tuple]) -> WriteResult:
        """``monitoring_events`` rows (logs), in one transaction."""
        result = WriteResult()
        if event_rows:
            with self.connection() as conn, conn.transaction():
                self._timeout(conn)
                self._store(conn, self._target(conn, EVENT), event_rows, result)
        return result

    def write_minutes(self, rows: Sequence[MinuteRow], event_rows: Sequence[tuple], batch_id: uuid.UUID, *,
                      parent_id: uuid.UUID | None = None, cumulative: Sequence[CumulativePoint] = ()) -> WriteResult:
        """Merge 1-minute rows into ``cache_metrics_1min`` once per ``batch_id`` (a split batch's part not
        at all if its parent was merged whole), with the deltas of ``cumulative`` points."""
        result = WriteResult()
        if not rows and not event_rows and not cumulative:
            return result
        with self.connection() as conn, conn.transaction():
            self._timeout(conn)
            if parent_id is not None and not self._parent_was_split(conn, parent_id):
                result.duplicates = len(rows) + len(event_rows) + len(cumulative)
                return result
            fresh = conn.execute(
                sql.SQL("INSERT INTO {} (batch_id, kind, row_count) VALUES (%s, 'metrics', %s)"
                        " ON CONFLICT DO NOTHING RETURNING batch_id").format(self._table("export_batches")),
                (batch_id, len(rows)),
            ).fetchone()
            if fresh is None:
                result.duplicates = len(rows) + len(event_rows) + len(cumulative)
                return result
            rows = combine(rows, delta_rows(conn, self.settings.schema, cumulative)) if cumulative else rows
            if rows:
                create, columns, upsert = minute_upsert(self.settings.schema, "_otel_stage_1min")
                stage = sql.Identifier("_otel_stage_1min")
                conn.execute(create)
                _copy(conn, stage, columns, [MINUTE.stage_tuple(r) for r in rows])
                result.written += conn.execute(upsert).rowcount
            self._store(conn, self._target(conn, EVENT), event_rows, result)
        return result
