"""doctor's exposure check covers what anon and authenticated can run, not only what rows they see:
on a Supabase-like setup (tests/test_supabase_advisor.py), the "Using custom schemas" guide's grants
(ALL ON ALL TABLES / ALL ROUTINES) let anon run our VOLATILE functions and TRUNCATE our tables, which
row-level security does not stop; doctor fails, names them, and passes again once revoked."""

from __future__ import annotations

import re

import psycopg

from otel_supabase_exporter.judge.health import exposure
from test_supabase_advisor import _expose, supabase_like  # noqa: F401  (the fixture)


def _public_access(owner_dsn: str, schema: str):
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        return {c.name: c for c in exposure(conn, schema)}["public access"]


def _observations(owner_dsn: str, schema: str) -> int:
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {schema}.cache_auditor_observations").fetchone()[0]


def test_doctor_fails_when_the_guides_grants_let_anon_write(supabase_like):  # noqa: F811
    owner_dsn, authenticator_dsn, schema = supabase_like
    assert _public_access(owner_dsn, schema).ok is not False  # not exposed: nothing to say
    _expose(owner_dsn, schema)
    check = _public_access(owner_dsn, schema)
    assert check.ok is False
    assert f"{schema}.maintain() (anon, authenticated)" in check.detail  # a VOLATILE function
    assert f"{schema}.apply_retention(integer)" in check.detail
    assert "cache_metrics (anon, authenticated)" in check.detail  # TRUNCATE
    assert f"{schema}.cache_series(" not in check.detail  # STABLE: reads only
    assert "acknowledge_observation" not in check.detail  # refuses them (assert_caller)
    assert "SECURITY DEFINER" not in check.detail

    # what it warns about is real: anon empties a table past row-level security
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {schema}.cache_auditor_observations (cache_name, implementation_type, severity,"
                     " category, rule, metric, message) VALUES ('c', 'new', 'warning', 'performance', 'r', 'm', 'x')")
    with psycopg.connect(authenticator_dsn, autocommit=True) as conn:
        conn.execute("SET ROLE anon")
        assert conn.execute(f"SELECT count(*) FROM {schema}.cache_auditor_observations").fetchone()[0] == 0  # RLS
        conn.execute(f"TRUNCATE {schema}.cache_auditor_observations")
    assert _observations(owner_dsn, schema) == 0

    # the fix the check prints, then reads granted back: doctor no longer fails
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(f"REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA {schema} FROM PUBLIC, anon, authenticated")
        conn.execute(f"REVOKE TRUNCATE, TRIGGER ON ALL TABLES IN SCHEMA {schema} FROM anon, authenticated")
        conn.execute(f"GRANT EXECUTE ON FUNCTION {schema}.get_cache_performance_summary(text, interval) TO anon")
    check = _public_access(owner_dsn, schema)
    assert check.ok is None, check.detail  # exposed, said, but nothing they can write


def test_doctor_fails_for_an_ordinary_writing_function_granted_to_authenticated(supabase_like):  # noqa: F811
    owner_dsn, _, schema = supabase_like
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO authenticated")
        conn.execute(f"CREATE FUNCTION {schema}.forget() RETURNS void LANGUAGE sql SET search_path = ''"
                     f" AS 'DELETE FROM {schema}.cache_metrics_1min'")
        conn.execute(f"GRANT EXECUTE ON FUNCTION {schema}.forget() TO authenticated")
    check = _public_access(owner_dsn, schema)
    # a new function is executable by PUBLIC until revoked: anon too
    assert check.ok is False and f"{schema}.forget() (anon, authenticated)" in check.detail
    # the fix doctor prints, run as printed, takes it back (a new function's PUBLIC grant included)
    fix = re.search(r"\((REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA \S+ FROM [^;]+);", check.detail).group(1)
    assert "PUBLIC" in fix
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(fix)
    assert "forget()" not in (_public_access(owner_dsn, schema).detail or "")
