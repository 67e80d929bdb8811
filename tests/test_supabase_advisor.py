"""Supabase's own advisor on our schema, on a Supabase-like role setup: splinter's lints (the SQL
Supabase's CLI ships, fetched from the npm registry at a pinned version, never copied here) report no
WARN or ERROR on our objects, exposed through the Data API (with the grants of Supabase's "Using
custom schemas" guide) or not; and our own catalog checks for what that splinter build does not
lint yet (SECURITY DEFINER functions executable by anon must check their caller)."""

from __future__ import annotations

import hashlib
import re
import uuid

import psycopg
import pytest

from conftest import TEST_CACHE, missing_dependency, npm_member
from psycopg import conninfo

from otel_supabase_exporter import migrate
from otel_supabase_exporter.judge.health import exposure
from otel_supabase_exporter.show.cli import main

# splinter as embedded in the Supabase CLI's Linux build on npm; the SQL's checksum pins it.
CLI_PACKAGE = "@supabase/cli-linux-x64@3.1.0"
SPLINTER_SHA256 = "3c757bdbd8eec9b46b061356ac64d0cd71bc951f4c9aef1172dcee6f7f525b24"
CACHE = TEST_CACHE
START, LAST = b"set local search_path = '';\n\n(\nwith foreign_keys", b"'rls_policy_always_true' as name"
SUPABASE_ROLES = ("anon", "authenticated", "service_role")


_missing = missing_dependency


@pytest.fixture(scope="session")
def splinter_sql() -> str:
    cached = CACHE / f"splinter-{SPLINTER_SHA256[:12]}.sql"
    if not cached.exists():
        binary = npm_member(CLI_PACKAGE, "package/bin/supabase", timeout=600)
        start = binary.index(START)
        end = binary.index(b"policy_name)", binary.index(LAST, start)) + len(b"policy_name)")
        text = binary[start:end]
        assert hashlib.sha256(text).hexdigest() == SPLINTER_SHA256, "not the pinned splinter"
        cached.write_bytes(text)
    return cached.read_text()


@pytest.fixture
def supabase_like(pg_dsn):
    """A database as Supabase makes one: anon, authenticated, service_role, an authenticator that
    switches to them, a non-superuser owner (with CREATEROLE) that runs migrate and roles --apply,
    an auth schema. Yields (owner DSN, authenticator DSN, schema)."""
    tag = uuid.uuid4().hex[:8]
    owner, db, schema = f"owner_{tag}", f"supa_{tag}", "monitoring"
    made = []
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for role in SUPABASE_ROLES + ("authenticator",):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} NOLOGIN" if role != "authenticator" else
                             "CREATE ROLE authenticator LOGIN NOINHERIT")
                made.append(role)
        conn.execute("GRANT anon, authenticated, service_role TO authenticator")
        conn.execute(f"CREATE ROLE {owner} LOGIN CREATEROLE")
        conn.execute(f"CREATE DATABASE {db} OWNER {owner}")
    owner_dsn = conninfo.make_conninfo(pg_dsn, user=owner, dbname=db)
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA auth")
        conn.execute("CREATE TABLE auth.users (id uuid PRIMARY KEY, email text)")
        conn.execute("CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE SET search_path = ''"
                     " AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$")
        migrate(conn, schema)
    assert main(["--dsn", owner_dsn, "--schema", schema, "roles", "--apply"]) == 0
    yield owner_dsn, conninfo.make_conninfo(pg_dsn, user="authenticator", dbname=db), schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {db} WITH (FORCE)")
        for role in (f"{schema}_writer", f"{schema}_reader", owner):
            conn.execute(f"DROP ROLE IF EXISTS {role}")
        for role in made:
            conn.execute(f"DROP ROLE {role}")


def _expose(owner_dsn: str, schema: str) -> None:
    """What Supabase's "Using custom schemas" guide says to run to expose a schema."""
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        for statement in ("GRANT USAGE ON SCHEMA {s} TO anon, authenticated, service_role",
                          "GRANT ALL ON ALL TABLES IN SCHEMA {s} TO anon, authenticated, service_role",
                          "GRANT ALL ON ALL ROUTINES IN SCHEMA {s} TO anon, authenticated, service_role",
                          "GRANT ALL ON ALL SEQUENCES IN SCHEMA {s} TO anon, authenticated, service_role"):
            conn.execute(statement.format(s=schema))


def _lints(dsn: str, splinter: str, exposed: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        # PostgREST's setting names the exposed schemas; several lints look only there
        conn.execute("SELECT set_config('pgrst.db_schemas', %s, true)", (exposed,))
        cur = conn.execute(splinter)  # "set local search_path = ''", then the lints
        while cur.description is None and cur.nextset():
            pass
        names = [d.name for d in cur.description]
        return [(r["name"], r["level"], r["detail"]) for r in (dict(zip(names, row)) for row in cur.fetchall())]


def _ours(lints: list[tuple[str, str, str]], schema: str) -> list[tuple[str, str, str]]:
    return [lint for lint in lints if lint[1] in ("WARN", "ERROR") and re.search(rf"\b{schema}\.", lint[2])]


def test_splinter_finds_nothing_on_our_schema_exposed_or_not(supabase_like, splinter_sql):
    owner_dsn, _, schema = supabase_like
    assert _ours(_lints(owner_dsn, splinter_sql, "public"), schema) == []
    _expose(owner_dsn, schema)
    lints = _lints(owner_dsn, splinter_sql, f"public, {schema}")
    assert _ours(lints, schema) == []
    # the lints did run over the exposed schema: the INFO ones see our tables
    assert any(schema in detail for _, _, detail in lints)


def test_a_function_without_fixed_search_path_is_what_splinter_flags(supabase_like, splinter_sql):
    """The lint is live on this setup: a function of ours without SET search_path is reported."""
    owner_dsn, _, schema = supabase_like
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE FUNCTION {schema}.loose() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    assert [n for n, _, d in _ours(_lints(owner_dsn, splinter_sql, "public"), schema)] == \
        ["function_search_path_mutable"]


def test_ours_every_security_definer_function_checks_its_caller(supabase_like):
    """Our catalog check (not splinter's: the registry's splinter predates its lints 0028/0029):
    every function has a fixed search_path, every SECURITY DEFINER one calls assert_caller; and
    with the guide's grants anon and authenticated can call none of them into doing anything."""
    owner_dsn, authenticator_dsn, schema = supabase_like
    _expose(owner_dsn, schema)
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        functions = conn.execute(
            "SELECT p.oid::regprocedure::text, p.prokind, p.prosecdef, p.prosrc, p.proconfig::text,"
            " has_function_privilege('anon', p.oid, 'EXECUTE')"
            " FROM pg_proc p WHERE p.pronamespace = %s::regnamespace", (schema,)).fetchall()
        conn.execute(f"INSERT INTO {schema}.cache_auditor_observations (cache_name, implementation_type, severity,"
                     " category, rule, metric, message) VALUES ('c', 'new', 'warning', 'performance', 'r', 'm', 'x')")
        checks = {c.name: c for c in exposure(conn, schema)}
    assert functions and all(kind in ("f", "p") for _, kind, *_ in functions), "no aggregate (no search_path)"
    assert [name for name, _, _, _, config, _ in functions if "search_path=" not in (config or "")] == []
    definers = {name: src for name, _, secdef, src, _, _ in functions if secdef}
    assert set(definers) == {f"{schema}.ensure_cache_metrics_partitions(date,date)",
                             f"{schema}.acknowledge_observation(bigint,text)",
                             f"{schema}.cache_metrics_1min_changed()"}
    assert all("assert_caller(" in src for src in definers.values())
    assert all(anon for *_, anon in functions), "the guide's grants reach every function"
    # doctor fails on these grants for what else they open (tests/test_doctor_exposure.py), not for these
    assert "SECURITY DEFINER" not in checks["public access"].detail

    for role in ("anon", "authenticated"):
        with psycopg.connect(authenticator_dsn, autocommit=True) as conn:
            conn.execute(f"SET ROLE {role}")
            for call in ("acknowledge_observation(1, 'x')", "ensure_cache_metrics_partitions(current_date + 30,"
                                                           " current_date + 31)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="neither the owner"):
                    conn.execute(f"SELECT {schema}.{call}")
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}.cache_auditor_observations WHERE acknowledged"
                            ).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = %s::regnamespace"
                            " AND relname LIKE 'cache_metrics_p%%'", (schema,)).fetchone()[0] <= 3


def test_doctor_fails_when_anon_can_run_a_definer_function_that_does_not_check(supabase_like):
    owner_dsn, _, schema = supabase_like
    _expose(owner_dsn, schema)
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE FUNCTION {schema}.open_door() RETURNS void LANGUAGE sql SECURITY DEFINER"
                     f" SET search_path = '' AS 'DELETE FROM {schema}.cache_metrics_1min'")
        conn.execute(f"GRANT EXECUTE ON FUNCTION {schema}.open_door() TO anon")
        check = {c.name: c for c in exposure(conn, schema)}["public access"]
    assert check.ok is False and "open_door()" in check.detail
