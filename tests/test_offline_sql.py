"""`roles` and `sql print` need no database: what they print is what the database's own functions
return (roles_sql) or what migrate does (sql print), and it runs."""

from __future__ import annotations

import psycopg

from conftest import sql_rows
from otel_supabase_exporter.show.cli import main
from otel_supabase_exporter.store import migrations

NOWHERE = "postgresql://someone:Sup3rSecret@127.0.0.1:1/nothing"  # nothing listens on port 1


def _printed(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_roles_prints_without_a_database_what_roles_sql_returns(pg_dsn, schema, capsys):
    offline = _printed(capsys, ["roles", "--dsn", NOWHERE, "--schema", schema])
    assert offline.startswith(f"-- roles for schema {schema}")
    script = offline.split("\n", 1)[1]
    (online,), = sql_rows(pg_dsn, f'SELECT "{schema}".roles_sql(%s, %s)', (f"{schema}_writer", f"{schema}_reader"))
    assert script.replace('"', "") == online  # statement for statement; only the quoting differs
    writer, reader = f"{schema}_w2", f"{schema}_r2"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # and it runs
        conn.execute(_printed(capsys, ["roles", "--dsn", NOWHERE, "--schema", schema, "--writer", writer,
                                       "--reader", reader]))
    grants = sql_rows(pg_dsn, "SELECT privilege_type FROM information_schema.role_table_grants"
                              " WHERE grantee = %s AND table_schema = %s AND table_name = 'cache_metrics_1min'"
                              " ORDER BY 1", (writer, schema))
    assert [g for (g,) in grants] == ["INSERT", "SELECT", "UPDATE"]


def test_sql_print_without_a_database_is_what_migrate_does(pg_dsn, fresh_schema, capsys):
    script = _printed(capsys, ["sql", "print", "--dsn", NOWHERE, "--schema", fresh_schema])
    assert "Sup3rSecret" not in script
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(script)
        state = migrations.status(conn, fresh_schema, migrations.load_migrations(), migrations.load_repeatables())
        assert state.up_to_date and not state.edited
        assert migrations.migrate(conn, fresh_schema) == []  # nothing left to apply
    (tables,), = sql_rows(pg_dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (fresh_schema,))
    assert tables >= 13


def test_roles_apply_still_needs_the_database(capsys):
    assert main(["roles", "--apply", "--dsn", NOWHERE]) == 2
    assert "Sup3rSecret" not in capsys.readouterr().err
