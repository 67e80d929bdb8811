"""The writer and reader roles' SQL without a database: what ``<schema>.roles_sql()`` returns after
``migrate``, rendered from the package's own SQL files (``privilege_plan()`` in
``repeatable/90_roles.sql``, the tables and types the versioned files create). ``roles`` prints
this; ``roles --apply`` runs the database's ``roles_sql()``. Identifiers are always quoted."""

from __future__ import annotations

import re

from ..errors import ConfigurationError
from ..settings import validate_identifier
from .migrations import LEDGER_TABLE, load_migrations, load_repeatables

__all__ = ["offline_roles_script", "privilege_plan", "schema_tables"]

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PLAN_ROW = re.compile(r"\('(writer|reader)', '(table|function)', '([^']*)', '([^']*)'\)")
_CREATE_TABLE = re.compile(r"^CREATE TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)", re.MULTILINE)
_DROP_TABLE = re.compile(r"^DROP TABLE (?:IF EXISTS )?([a-z_][a-z0-9_]*)", re.MULTILINE)
_CREATE_TYPE = re.compile(r"^CREATE TYPE ([a-z_][a-z0-9_]*)", re.MULTILINE)
_PARTITION_CHILD = re.compile(r"\bPARTITION OF\b")


def _q(name: str) -> str:
    return '"' + name + '"'


def privilege_plan() -> list[tuple[str, str, str, str]]:
    """(grantee, object type, object name, privileges) as ``privilege_plan()`` defines them."""
    body = next(r.body for r in load_repeatables() if r.name == "roles")
    start = body.index("FUNCTION privilege_plan()")
    end = body.index("$$;", body.index("VALUES", start))
    return _PLAN_ROW.findall(body[start:end])


def schema_tables() -> tuple[list[str], set[str]]:
    """The schema's tables (partitioned parents, not their partitions) after ``migrate``, sorted,
    and the package's own types."""
    tables, types = {LEDGER_TABLE}, set()
    for m in load_migrations():
        for statement in _CREATE_TABLE.finditer(m.body):
            line_end = m.body.find(";", statement.end())
            if not _PARTITION_CHILD.search(m.body[statement.end():line_end]):
                tables.add(statement.group(1))
        tables -= set(_DROP_TABLE.findall(m.body))
        types |= set(_CREATE_TYPE.findall(m.body))
    return sorted(tables), types


def _signature(schema: str, object_name: str, types: set[str]) -> str:
    name, _, args = object_name.partition("(")
    parts = []
    for arg in filter(None, (a.strip() for a in args.rstrip(")").split(","))):
        base = arg[:-2] if arg.endswith("[]") else arg
        parts.append(f"{_q(schema)}.{_q(base)}{arg[len(base):]}" if base in types else arg)
    return f"{_q(schema)}.{_q(name)}({','.join(parts)})"


def offline_roles_script(schema: str, writer: str, reader: str) -> str:
    """The SQL creating the writer and reader roles, their grants and row-level security policies,
    statement for statement what ``roles_sql(writer, reader)`` returns on a migrated schema."""
    validate_identifier(schema, "schema name")
    if not (_ROLE.match(writer) and _ROLE.match(reader)) or writer == reader:
        raise ConfigurationError("role names must be two different plain identifiers (a-z, 0-9, _)")
    plan = privilege_plan()
    tables, types = schema_tables()
    sch = _q(schema)
    out = [f"DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
           f"CREATE ROLE {_q(role)} NOLOGIN; END IF; END $do$;" for role in (writer, reader)]
    out.append(f"GRANT USAGE ON SCHEMA {sch} TO {_q(writer)}, {_q(reader)};")
    for grantee, object_type, object_name, privileges in plan:
        role = _q(writer if grantee == "writer" else reader)
        if object_type == "table" and object_name == "*":
            out.append(f"GRANT {privileges} ON ALL TABLES IN SCHEMA {sch} TO {role};")
        elif object_type == "table":
            out.append(f"GRANT {privileges} ON {sch}.{_q(object_name)} TO {role};")
        else:
            out.append(f"GRANT {privileges} ON FUNCTION {_signature(schema, object_name, types)} TO {role};")
    written = {name for grantee, kind, name, _ in plan if grantee == "writer" and kind == "table"}
    for table in tables:
        out.append(f"DROP POLICY IF EXISTS otel_reader ON {sch}.{_q(table)};"
                   f"\nCREATE POLICY otel_reader ON {sch}.{_q(table)} FOR SELECT TO {_q(reader)} USING (true);")
        if table in written:
            out.append(f"DROP POLICY IF EXISTS otel_writer ON {sch}.{_q(table)};"
                       f"\nCREATE POLICY otel_writer ON {sch}.{_q(table)} FOR ALL TO {_q(writer)} USING (true)"
                       " WITH CHECK (true);")
    return "\n".join(out) + "\n"
