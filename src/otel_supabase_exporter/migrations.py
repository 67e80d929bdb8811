"""Versioned SQL migrations from ``sql/``, applied over a plain connection with a checksum ledger."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from .config import validate_identifier

LEDGER_TABLE = "schema_migrations"
_FILE = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """Migrations cannot be applied as they are (e.g. an applied file was edited)."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    body: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.version}_{self.name}.sql"

    def render(self, schema: str) -> str:
        """The file as it runs against ``schema``: search_path set, then the body."""
        validate_identifier(schema, "schema name")
        return (
            f"-- otel-supabase-exporter migration {self.filename} for schema {schema}\n"
            f'CREATE SCHEMA IF NOT EXISTS "{schema}";\n'
            f'SET LOCAL search_path TO "{schema}", pg_temp;\n\n{self.body}'
        )


def _sql_dir() -> Path:
    packaged = resources.files("otel_supabase_exporter") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    # Source checkout / editable install: sql/ sits at the repository root.
    return Path(__file__).resolve().parents[2] / "sql"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """All migration files, ordered by version."""
    directory = directory or _sql_dir()
    found: list[Migration] = []
    for path in sorted(directory.iterdir()):
        match = _FILE.match(path.name)
        if match:
            found.append(Migration(match.group(1), match.group(2), path.read_text(encoding="utf-8")))
    if not found:
        raise MigrationError(f"no migration files found in {directory}")
    return found


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[str]
    pending: list[Migration]
    edited: list[str]
    unknown: list[str]

    @property
    def up_to_date(self) -> bool:
        return not self.pending and not self.edited


def relation_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    """Whether ``schema.name`` is a table (or other relation) the connection can see."""
    return conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (sql.Identifier(schema, name).as_string(conn),)
    ).fetchone()[0]


def _ledger(conn: psycopg.Connection, schema: str) -> dict[str, str] | None:
    if not relation_exists(conn, schema, LEDGER_TABLE):
        return None
    rows = conn.execute(
        sql.SQL("SELECT version, checksum FROM {} ORDER BY version").format(
            sql.Identifier(schema, LEDGER_TABLE)
        )
    ).fetchall()
    return {version: checksum for version, checksum in rows}


def status(conn: psycopg.Connection, schema: str, migrations: list[Migration] | None = None) -> MigrationStatus:
    """Compare the ledger in the database with the migration files."""
    validate_identifier(schema, "schema name")
    migrations = migrations if migrations is not None else load_migrations()
    ledger = _ledger(conn, schema) or {}
    known = {m.version for m in migrations}
    return MigrationStatus(
        applied=sorted(ledger),
        pending=[m for m in migrations if m.version not in ledger],
        edited=[m.filename for m in migrations if m.version in ledger and ledger[m.version] != m.checksum],
        unknown=sorted(v for v in ledger if v not in known),
    )


def migrate(conn: psycopg.Connection, schema: str, migrations: list[Migration] | None = None) -> list[str]:
    """Apply pending migrations in one transaction; return the files applied.

    Serialised by an advisory lock, so concurrent callers are safe: the later
    ones wait and then find nothing to do. Refuses if an applied file changed.
    """
    validate_identifier(schema, "schema name")
    migrations = migrations if migrations is not None else load_migrations()
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"otel_supabase_exporter.migrate.{schema}",))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version text PRIMARY KEY, name text NOT NULL,"
                " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(sql.Identifier(schema, LEDGER_TABLE))
        )
        state = status(conn, schema, migrations)
        if state.edited:
            raise MigrationError(
                "migration file(s) changed after being applied to schema "
                f"{schema!r}: {', '.join(state.edited)}. Applied migrations are immutable: "
                "restore the original file and add a new numbered migration instead."
            )
        conn.execute(sql.SQL("SET LOCAL search_path TO {}, pg_temp").format(sql.Identifier(schema)))
        for m in state.pending:
            try:
                conn.execute(m.body)
            except psycopg.Error as exc:
                raise MigrationError(f"migration {m.filename} failed: {exc}") from exc
            conn.execute(
                sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s)").format(
                    sql.Identifier(schema, LEDGER_TABLE)
                ),
                (m.version, m.name, m.checksum),
            )
            applied.append(m.filename)
        conn.execute("SET LOCAL search_path TO DEFAULT")
    return applied


def pending_sql(conn: psycopg.Connection | None, schema: str) -> str:
    """The SQL ``migrate`` would run (all files when there is no connection or no ledger)."""
    migrations = load_migrations()
    todo = status(conn, schema, migrations).pending if conn is not None else migrations
    return "\n".join(f"BEGIN;\n{m.render(schema)}\nCOMMIT;\n" for m in todo)


def roles_script(conn: psycopg.Connection, schema: str, writer: str, reader: str) -> str:
    """The SQL that creates the schema's writer and reader roles, their grants and policies
    (``<schema>.roles_sql``, sql/007); running it is the caller's choice."""
    validate_identifier(schema, "schema name")
    return conn.execute(sql.SQL("SELECT {}(%s, %s)").format(sql.Identifier(schema, "roles_sql")),
                        (writer, reader)).fetchone()[0]


SUPABASE_PREFIX = "otel_supabase_exporter_"


def export_supabase(directory: Path, schema: str, now: datetime | None = None) -> list[Path]:
    """Write the migrations as Supabase CLI migrations, ``DIR/supabase/migrations/<timestamp>_<name>.sql``,
    so ``supabase db push`` applies them. Each file sets the schema, runs the migration and records it
    in this package's ledger (so ``migrate`` agrees afterwards). Files already in the directory are
    kept as they are; new ones get timestamps after every file there. Returns the files written."""
    validate_identifier(schema, "schema name")
    target = Path(directory) / "supabase" / "migrations"
    target.mkdir(parents=True, exist_ok=True)
    existing = sorted(p.name for p in target.glob("*.sql"))
    present = {name.split("_", 1)[1] for name in existing if "_" in name}
    stamp = (now or datetime.now(timezone.utc)).replace(microsecond=0, tzinfo=None)
    if existing:
        last = existing[-1].split("_", 1)[0]
        if last.isdigit() and len(last) == 14:
            stamp = max(stamp, datetime.strptime(last, "%Y%m%d%H%M%S") + timedelta(seconds=1))
    written = []
    for m in load_migrations():
        name = f"{SUPABASE_PREFIX}{schema}_{m.version}_{m.name}.sql"
        if name in present:
            continue
        path = target / f"{stamp:%Y%m%d%H%M%S}_{name}"
        path.write_text(
            f"-- otel-supabase-exporter migration {m.filename} for schema {schema} (checksum {m.checksum})\n"
            f'CREATE SCHEMA IF NOT EXISTS "{schema}";\n'
            f'SET search_path TO "{schema}", pg_temp;\n\n'
            f"{m.body.rstrip()}\n\n"
            f'CREATE TABLE IF NOT EXISTS "{schema}".{LEDGER_TABLE} (version text PRIMARY KEY, name text NOT NULL,'
            f" checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n"
            f'INSERT INTO "{schema}".{LEDGER_TABLE} (version, name, checksum)'
            f" VALUES ('{m.version}', '{m.name}', '{m.checksum}') ON CONFLICT (version) DO NOTHING;\n"
            f"RESET search_path;\n",
            encoding="utf-8")
        written.append(path)
        stamp += timedelta(seconds=1)
    return written
