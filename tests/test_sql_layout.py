"""The SQL layout: versioned files run once and never change; repeatable files hold the one current
definition of every function and view; an upgrade from the 007-era schema ends exactly where a fresh
install does."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import psycopg
import pytest

from conftest import new_schema_name
from otel_supabase_exporter import migrate
from otel_supabase_exporter.show.cli import main
from otel_supabase_exporter.store.migrations import load_migrations, load_repeatables, pending_sql, status

# The checksums existing ledgers hold for the files released before the split: they must never change.
RELEASED = {
    "001": "784e61a0b38848732ac332b6521cbe3fdb86550a21f7d224533edc74822ee7fa",
    "002": "f945dfb9fb07d88cfb650323d1315245073de470410cf99d5598916f3c54935c",
    "003": "774f7882ec1927297bcdba21c0bb9ffce1c9faeb5446ef9e2ce352e3905f9257",
    "004": "fed2504b6c4d74575ab5a9679641c8a9a38270b5f43331c4e148b8a2fc8bd5a4",
    "005": "a3b3020ea278dcca38c745033ac38f12594c7e7e07ea17f01b1e9609d0ccac5a",
    "006": "ba872494a9517117d23ef196758cd6c845e36ecb73a07eb2ad6fc2933cb72503",
    "007": "5e15e503da5c6dbe2a285fdd2a83ef2d84767342688b5237e56ab608c618faf9",
}
# Functions and views whose definition changed since 007 (by name): the upgrade test allows them to
# differ from what 007 left. New ones need no entry.
CHANGED_SINCE_007: set[str] = {
    "privilege_plan",  # issue 19: the gateway's table and function for the writer role
    # issue 16: fixed search_path, caller checks in SECURITY DEFINER functions, the aggregate dropped
    "notify_channel", "hour_of_week", "auditor_message", "auditor_value",
    "ensure_cache_metrics_partitions", "acknowledge_observation", "cache_metrics_1min_changed", "exp_hist_agg",
    "get_cache_performance_summary",  # the window the dashboard reads for the same length
    # issue 17: robust seasonal baselines in the schema's time zone, hysteresis on counts, escalation
    "refresh_baselines", "auditor_findings", "run_auditor",
}

_DEFINITION = re.compile(r"^CREATE OR REPLACE (FUNCTION|VIEW|AGGREGATE) (\w+)\s*\(?", re.MULTILINE)


def test_released_versioned_files_are_byte_identical():
    found = {m.version: hashlib.sha256(m.body.encode()).hexdigest() for m in load_migrations()}
    assert {v: found.get(v) for v in RELEASED} == RELEASED


def test_later_versioned_files_define_no_function_or_view():
    for m in load_migrations():
        if m.version > max(RELEASED):
            assert not re.search(r"CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|VIEW|AGGREGATE|PROCEDURE)", m.body, re.I), \
                f"{m.filename}: functions and views belong in sql/repeatable/"


def _objects(conn: psycopg.Connection, schema: str) -> dict[str, dict]:
    """Every function, aggregate and view of the schema: definition, settings, owner rights, ACL —
    with the schema's name (which also names its roles) replaced, so two schemas compare."""
    out: dict[str, dict] = {}
    for oid, ident, kind, acl, config, secdef in conn.execute(
            "SELECT p.oid, p.oid::regprocedure::text, p.prokind, p.proacl::text, p.proconfig::text, p.prosecdef"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s", (schema,)):
        if kind == "a":
            definition = conn.execute(
                "SELECT aggtransfn::text || '/' || aggtranstype::regtype::text || '/' || coalesce(agginitval, '')"
                " FROM pg_aggregate WHERE aggfnoid = %s", (oid,)).fetchone()[0]
        else:
            definition = conn.execute("SELECT pg_get_functiondef(%s)", (oid,)).fetchone()[0]
        out[f"function {ident}"] = {"definition": definition, "acl": acl, "config": config, "security_definer": secdef}
    for name, definition, options, acl in conn.execute(
            "SELECT c.relname, pg_get_viewdef(c.oid), c.reloptions::text, c.relacl::text FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'v'", (schema,)):
        out[f"view {name}"] = {"definition": definition, "options": options, "acl": acl}
    return {k.replace(schema, "<schema>"): {f: v.replace(schema, "<schema>") if isinstance(v, str) else v
                                             for f, v in d.items()} for k, d in out.items()}


def _with_roles(conn: psycopg.Connection, schema: str) -> None:
    script = conn.execute(f'SELECT "{schema}".roles_sql(%s, %s)', (f"{schema}_writer", f"{schema}_reader")).fetchone()[0]
    with conn.transaction():
        conn.execute(script)


def test_upgrade_from_007_equals_a_fresh_install(pg_dsn):
    fresh, upgraded = new_schema_name(), new_schema_name()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        try:
            migrate(conn, fresh)
            _with_roles(conn, fresh)
            # the schema as 007 left it: the files released then, roles set up there
            released = [m for m in load_migrations() if m.version in RELEASED]
            migrate(conn, upgraded, released, repeatables=[])
            _with_roles(conn, upgraded)
            at_007 = _objects(conn, upgraded)
            assert not status(conn, upgraded).up_to_date
            applied = migrate(conn, upgraded)
            assert applied == [m.filename for m in load_migrations() if m.version not in RELEASED] + \
                [r.filename for r in load_repeatables()]
            after = _objects(conn, upgraded)
            assert after == _objects(conn, fresh)
            # the repeatable files restate what 007 left in place, but for the functions changed since
            kept = {k for k in at_007 if k.split(" ", 1)[1].split("(")[0].split(".")[-1] not in CHANGED_SINCE_007}
            assert {k: after.get(k) for k in kept} == {k: at_007[k] for k in kept}
            assert migrate(conn, upgraded) == [] and status(conn, upgraded).up_to_date
        finally:
            for s in (fresh, upgraded):
                conn.execute(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
                for role in (f"{s}_writer", f"{s}_reader"):
                    conn.execute(f'DROP OWNED BY "{role}"' if conn.execute(
                        "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() else "SELECT 1")
                    conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_every_function_and_view_has_exactly_one_current_definition(pg_dsn, schema):
    defined: dict[str, list[str]] = {}
    for r in load_repeatables():
        for kind, name in _DEFINITION.findall(r.body):
            defined.setdefault(f"{kind.lower()} {name}", []).append(r.filename)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        present = {f"{kind} {name}" for kind, name in conn.execute(
            "SELECT 'function', p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %(s)s UNION SELECT 'view', c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s AND c.relkind = 'v'",
            {"s": schema})}
    # overloads (exp_hist_merge with 2 and 3 arguments) are one name defined twice in the same file
    names = {k.replace("aggregate ", "function "): files for k, files in defined.items()}
    assert present == set(names)
    assert all(len(set(files)) == 1 for files in names.values()), names


def test_a_changed_repeatable_file_is_applied_again_and_shown_first(pg_dsn, schema, capsys):
    repeatables = load_repeatables()
    target = next(r for r in repeatables if r.name == "summaries")
    changed = [dataclasses.replace(r, body=r.body.replace(
        "RETURNS double precision", "RETURNS double precision\nCOST 2", 1)) if r is target else r
        for r in repeatables]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        state = status(conn, schema, repeatables=changed)
        assert [r.filename for r in state.stale] == [target.filename, "repeatable/99_grants.sql"]
        assert migrate(conn, schema, repeatables=changed) == [target.filename, "repeatable/99_grants.sql"]
        cost = conn.execute("SELECT procost FROM pg_proc WHERE oid = %s::regprocedure",
                            (f'"{schema}".calculate_hit_rate(bigint, bigint)',)).fetchone()[0]
        assert cost == 2
        # back to the shipped text: migrate and its dry run see the difference
        assert f"-- otel-supabase-exporter migration {target.filename}" in pending_sql(conn, schema)
    assert main(["--dsn", pg_dsn, "--schema", schema, "migrate", "--dry-run"]) == 0
    assert f"migration {target.filename} for schema {schema}" in capsys.readouterr().out
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert migrate(conn, schema) == [target.filename, "repeatable/99_grants.sql"]
        assert pending_sql(conn, schema) == ""


def test_grants_follow_new_functions_to_the_package_roles(pg_dsn, schema):
    """The final file re-grants privilege_plan() to the roles `roles --apply` set up."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        try:
            _with_roles(conn, schema)
            conn.execute(f'REVOKE ALL ON FUNCTION "{schema}".cache_series(timestamptz, timestamptz, interval, text,'
                         f' text, boolean) FROM "{schema}_reader"')
            conn.execute(f'GRANT EXECUTE ON FUNCTION "{schema}".maintain() TO PUBLIC')
            repeatables = load_repeatables()
            bumped = [dataclasses.replace(r, body=r.body + "\n-- changed\n") if r.final else r for r in repeatables]
            assert migrate(conn, schema, repeatables=bumped) == ["repeatable/99_grants.sql"]
            reader_may, public_may = conn.execute(
                "SELECT has_function_privilege(%s, %s, 'EXECUTE'), has_function_privilege('public', %s, 'EXECUTE')",
                (f"{schema}_reader", f'"{schema}".cache_series(timestamptz, timestamptz, interval, text, text,'
                                     f' boolean)', f'"{schema}".maintain()')).fetchone()
            assert reader_may and not public_may
        finally:
            for role in (f"{schema}_writer", f"{schema}_reader"):
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    conn.execute(f'DROP OWNED BY "{role}"')
                    conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.parametrize("kind", ["versioned", "repeatable"])
def test_sql_files_live_inside_the_package(kind):
    from importlib import resources

    assert (resources.files("otel_supabase_exporter") / "sql" / kind).is_dir()


def test_supabase_export_writes_a_changed_definition_as_a_new_migration(tmp_path, monkeypatch):
    from otel_supabase_exporter.store import supabase_export

    first = supabase_export.export_supabase(tmp_path, "monitoring")
    assert len(first) == len(load_migrations()) + len(load_repeatables())
    assert supabase_export.export_supabase(tmp_path, "monitoring") == []
    shipped = load_repeatables()
    monkeypatch.setattr(supabase_export, "load_repeatables", lambda: [
        dataclasses.replace(r, body=r.body + "\n-- changed\n") if r.name == "views" else r for r in shipped])
    second = supabase_export.export_supabase(tmp_path, "monitoring")
    assert [p.name.split("_", 1)[1].split("_R_")[1].split("_")[0] for p in second] == ["views", "grants"]
    assert all(p.name > q.name for p in second for q in first)  # timestamps after every file there
    assert "-- changed" in second[0].read_text()
