"""The migrations as Supabase CLI migrations (``supabase db push`` runs each file once)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..settings import validate_identifier
from .migrations import LEDGER_TABLE, Migration, Repeatable, load_migrations, load_repeatables

__all__ = ["SUPABASE_PREFIX", "export_supabase"]

SUPABASE_PREFIX = "otel_supabase_exporter_"


def _key(schema: str, item: Migration | Repeatable, after: str) -> str:
    """A file's name without its timestamp. A repeatable file's names its checksum and the last
    versioned file, so a changed definition, or a new versioned file (after which every
    definition runs again), makes a new Supabase migration."""
    if isinstance(item, Migration):
        return f"{SUPABASE_PREFIX}{schema}_{item.version}_{item.name}.sql"
    return f"{SUPABASE_PREFIX}{schema}_R_{item.name}_{item.checksum[:12]}_after_{after}.sql"


def _text(schema: str, item: Migration | Repeatable) -> str:
    if isinstance(item, Migration):
        record = (f"INSERT INTO \"{schema}\".{LEDGER_TABLE} (version, name, checksum)"
                  f" VALUES ('{item.version}', '{item.name}', '{item.checksum}') ON CONFLICT (version) DO NOTHING;\n")
        settings = ""
    else:
        record = (f"INSERT INTO \"{schema}\".{LEDGER_TABLE} (version, name, checksum)"
                  f" VALUES ('{item.version}', '{item.name}', '{item.checksum}') ON CONFLICT (version)"
                  " DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now();\n")
        settings = "SET check_function_bodies = off;\n"
    return (
        f"-- otel-supabase-exporter migration {item.filename} for schema {schema} (checksum {item.checksum})\n"
        f'CREATE SCHEMA IF NOT EXISTS "{schema}";\n'
        f'SET search_path TO "{schema}", pg_temp;\n{settings}\n'
        f"{item.body.rstrip()}\n\n"
        f'CREATE TABLE IF NOT EXISTS "{schema}".{LEDGER_TABLE} (version text PRIMARY KEY, name text NOT NULL,'
        f" checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n"
        f"{record}"
        + ("RESET check_function_bodies;\n" if settings else "")
        + "RESET search_path;\n"
    )


def export_supabase(directory: Path, schema: str, now: datetime | None = None) -> list[Path]:
    """Write the migrations as Supabase CLI migrations, ``DIR/supabase/migrations/<timestamp>_<name>.sql``,
    so ``supabase db push`` applies them. Each file sets the schema, runs the migration and records it
    in this package's ledger (so ``migrate`` agrees afterwards). Files already in the directory are
    kept as they are; new ones get timestamps after every file there: the new versioned files, then
    every repeatable file whose current text has no migration yet, then the final grants file
    when anything was written. Returns the files written."""
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
    migrations = load_migrations()
    after = migrations[-1].version
    repeatables = load_repeatables()
    final = [r for r in repeatables if r.final]
    items: list[Migration | Repeatable] = [*migrations, *(r for r in repeatables if not r.final)]
    todo = [item for item in items if _key(schema, item, after) not in present]
    if todo:
        todo += final
    written = []
    for item in todo:
        key = _key(schema, item, after)
        if item in final:  # one per export that wrote anything: named after what it follows
            digest = hashlib.sha256("\n".join(_key(schema, i, after) for i in todo[:-1]).encode()).hexdigest()[:12]
            key = f"{SUPABASE_PREFIX}{schema}_R_{item.name}_{digest}.sql"
        path = target / f"{stamp:%Y%m%d%H%M%S}_{key}"
        path.write_text(_text(schema, item), encoding="utf-8")
        written.append(path)
        stamp += timedelta(seconds=1)
    return written
