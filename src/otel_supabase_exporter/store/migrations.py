"""SQL migrations from the package's ``sql/``, applied over a plain connection with a checksum ledger.

Two kinds of files, as Flyway's versioned and repeatable migrations (Promscale's ``incremental/``
and ``idempotent/``):

* ``sql/versioned/NNN_name.sql`` run once each, in order, and never change once released (an
  edited applied file is refused): tables, columns, types, triggers, seed rows, and
  ``DROP FUNCTION``/``DROP VIEW`` where a signature or a view's columns change;
* ``sql/repeatable/NN_name.sql`` hold the one current definition of every function and view
  (``CREATE OR REPLACE``). One is applied again when its checksum changes, and all of them after
  any versioned file ran. Function bodies are not checked at creation (as pg_dump restores), so
  their order does not matter; views come after the functions they call.
* ``sql/repeatable/99_grants.sql`` runs last whenever anything was applied: privileges.

Everything runs in one transaction under an advisory lock, so concurrent callers are safe.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from ..errors import MigrationError
from ..settings import validate_identifier

__all__ = ["LEDGER_TABLE", "Migration", "MigrationError", "MigrationStatus", "Repeatable", "load_migrations",
           "full_script", "load_repeatables", "migrate", "pending_sql", "relation_exists", "roles_script", "status"]

LEDGER_TABLE = "schema_migrations"
_LEDGER_COLUMNS = ("(version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())")
FINAL = "grants"
_VERSIONED = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
_REPEATABLE = re.compile(r"^(\d{2})_([a-z0-9_]+)\.sql$")
_REPEATABLE_PREFIX = "R__"  # ledger versions of repeatable files, as Flyway names them


class _SqlFile:
    body: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the text, as the ledger keeps it."""
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Migration(_SqlFile):
    """A versioned file: applied once."""

    version: str
    name: str
    body: str

    @property
    def filename(self) -> str:
        return f"{self.version}_{self.name}.sql"

    def render(self, schema: str) -> str:
        """The file as it runs against ``schema``: search_path set, then the body."""
        return _header(self.filename, schema) + self.body


@dataclass(frozen=True)
class Repeatable(_SqlFile):
    """A repeatable file: applied again whenever it changes."""

    order: str
    name: str
    body: str

    @property
    def filename(self) -> str:
        return f"repeatable/{self.order}_{self.name}.sql"

    @property
    def version(self) -> str:
        """Its key in the ledger."""
        return _REPEATABLE_PREFIX + self.name

    @property
    def final(self) -> bool:
        return self.name == FINAL

    def render(self, schema: str) -> str:
        return _header(self.filename, schema) + "SET LOCAL check_function_bodies = off;\n\n" + self.body


def _header(filename: str, schema: str) -> str:
    validate_identifier(schema, "schema name")
    return (f"-- otel-supabase-exporter migration {filename} for schema {schema}\n"
            f'CREATE SCHEMA IF NOT EXISTS "{schema}";\n'
            f'SET LOCAL search_path TO "{schema}", pg_temp;\n\n')


def _sql_dir(kind: str) -> Path:
    return Path(str(resources.files("otel_supabase_exporter") / "sql" / kind))


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """All versioned files, ordered by version."""
    directory = directory or _sql_dir("versioned")
    found = [Migration(m.group(1), m.group(2), path.read_text(encoding="utf-8"))
             for path in sorted(directory.iterdir()) if (m := _VERSIONED.match(path.name))]
    if not found:
        raise MigrationError(f"no migration files found in {directory}")
    return found


def load_repeatables(directory: Path | None = None) -> list[Repeatable]:
    """All repeatable files, in the order they run (the final one last)."""
    directory = directory or _sql_dir("repeatable")
    found = [Repeatable(m.group(1), m.group(2), path.read_text(encoding="utf-8"))
             for path in sorted(directory.iterdir()) if (m := _REPEATABLE.match(path.name))]
    return sorted(found, key=lambda r: (r.final, r.order, r.name))


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[str]
    pending: list[Migration]
    edited: list[str]
    unknown: list[str]
    stale: list[Repeatable] = field(default_factory=list)  # repeatable files to (re-)apply

    @property
    def up_to_date(self) -> bool:
        return not self.pending and not self.edited and not self.stale


def relation_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    """Whether ``schema.name`` is a table (or other relation) the connection can see."""
    return conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (sql.Identifier(schema, name).as_string(conn),)
    ).fetchone()[0]


def _ledger(conn: psycopg.Connection, schema: str) -> dict[str, str] | None:
    if not relation_exists(conn, schema, LEDGER_TABLE):
        return None
    rows = conn.execute(
        sql.SQL("SELECT version, checksum FROM {} ORDER BY version").format(sql.Identifier(schema, LEDGER_TABLE))
    ).fetchall()
    return {version: checksum for version, checksum in rows}


def status(conn: psycopg.Connection, schema: str, migrations: list[Migration] | None = None,
           repeatables: list[Repeatable] | None = None) -> MigrationStatus:
    """Compare the ledger in the database with the migration files."""
    validate_identifier(schema, "schema name")
    migrations = migrations if migrations is not None else load_migrations()
    repeatables = repeatables if repeatables is not None else load_repeatables()
    ledger = _ledger(conn, schema) or {}
    known = {m.version for m in migrations} | {r.version for r in repeatables}
    pending = [m for m in migrations if m.version not in ledger]
    return MigrationStatus(
        applied=sorted(v for v in ledger if not v.startswith(_REPEATABLE_PREFIX)),
        pending=pending,
        edited=[m.filename for m in migrations if m.version in ledger and ledger[m.version] != m.checksum],
        unknown=sorted(v for v in ledger if v not in known),
        stale=_to_apply(repeatables, ledger, bool(pending)),
    )


def _to_apply(repeatables: list[Repeatable], ledger: dict[str, str], versioned_ran: bool) -> list[Repeatable]:
    """The repeatable files a migrate runs: the changed ones (all after a versioned file ran), then
    the final one if anything runs at all."""
    todo = [r for r in repeatables if not r.final and (versioned_ran or ledger.get(r.version) != r.checksum)]
    return todo + [r for r in repeatables if r.final and (todo or versioned_ran or ledger.get(r.version) != r.checksum)]


def migrate(conn: psycopg.Connection, schema: str, migrations: list[Migration] | None = None,
            repeatables: list[Repeatable] | None = None) -> list[str]:
    """Apply pending versioned files, then changed repeatable ones, in one transaction; return the
    files applied (``repeatables=[]`` applies versioned files only).

    Serialised by an advisory lock, so concurrent callers are safe: the later ones wait and
    then find nothing to do. Refuses if an applied versioned file changed.
    """
    validate_identifier(schema, "schema name")
    migrations = migrations if migrations is not None else load_migrations()
    repeatables = repeatables if repeatables is not None else load_repeatables()
    ledger_table = sql.Identifier(schema, LEDGER_TABLE)
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"otel_supabase_exporter.migrate.{schema}",))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} " + _LEDGER_COLUMNS).format(ledger_table))
        state = status(conn, schema, migrations, repeatables)
        if state.edited:
            raise MigrationError(
                "migration file(s) changed after being applied to schema "
                f"{schema!r}: {', '.join(state.edited)}. Applied migrations are immutable: "
                "restore the original file and add a new numbered migration instead."
            )
        conn.execute(sql.SQL("SET LOCAL search_path TO {}, pg_temp").format(sql.Identifier(schema)))
        for m in state.pending:
            _run(conn, m.filename, m.body)
            conn.execute(sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s)").format(ledger_table),
                         (m.version, m.name, m.checksum))
            applied.append(m.filename)
        if state.stale:
            conn.execute("SET LOCAL check_function_bodies = off")
        for r in state.stale:
            _run(conn, r.filename, r.body)
            conn.execute(sql.SQL(
                "INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s) ON CONFLICT (version)"
                " DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, applied_at = now()").format(
                ledger_table), (r.version, r.name, r.checksum))
            applied.append(r.filename)
        conn.execute("SET LOCAL search_path TO DEFAULT")
        conn.execute("SET LOCAL check_function_bodies TO DEFAULT")
    return applied


def _run(conn: psycopg.Connection, filename: str, body: str) -> None:
    try:
        conn.execute(body)
    except psycopg.Error as exc:
        raise MigrationError(f"migration {filename} failed: {exc}") from exc


def pending_sql(conn: psycopg.Connection | None, schema: str) -> str:
    """The SQL ``migrate`` would run (every file when there is no connection or no ledger)."""
    migrations, repeatables = load_migrations(), load_repeatables()
    if conn is not None:
        state = status(conn, schema, migrations, repeatables)
        todo: list[Migration | Repeatable] = [*state.pending, *state.stale]
    else:
        todo = [*migrations, *repeatables]
    return "\n".join(f"BEGIN;\n{m.render(schema)}\nCOMMIT;\n" for m in todo)


def full_script(schema: str) -> str:
    """Every migration for ``schema`` as one script, no database needed: for an empty schema, with
    the ledger rows ``migrate`` writes, so a later ``migrate`` finds nothing to do."""
    validate_identifier(schema, "schema name")
    ledger = f'"{schema}".{LEDGER_TABLE}'
    out = [f'CREATE SCHEMA IF NOT EXISTS "{schema}";\nCREATE TABLE IF NOT EXISTS {ledger} {_LEDGER_COLUMNS};\n']
    for m in [*load_migrations(), *load_repeatables()]:
        conflict = " ON CONFLICT (version) DO UPDATE SET checksum = EXCLUDED.checksum" if isinstance(m, Repeatable) else ""
        out.append(f"BEGIN;\n{m.render(schema)}\n"
                   f"INSERT INTO {ledger} (version, name, checksum) VALUES ('{m.version}', '{m.name}', '{m.checksum}')"
                   f"{conflict};\nCOMMIT;\n")
    return "\n".join(out)


def roles_script(conn: psycopg.Connection, schema: str, writer: str, reader: str) -> str:
    """The SQL that creates the schema's writer and reader roles, their grants and policies
    (``<schema>.roles_sql``); running it is the caller's choice."""
    validate_identifier(schema, "schema name")
    return conn.execute(sql.SQL("SELECT {}(%s, %s)").format(sql.Identifier(schema, "roles_sql")),
                        (writer, reader)).fetchone()[0]
