"""Helpers of the fault-injection tests: the servers and workload of ``bench``, with a skip rule."""

from __future__ import annotations

import os

import pytest

from bench import servers
from bench.servers import StoppableServer
from bench.workload import run_workload as workload
from bench.workload import start_workload, totals

__all__ = ["PgBouncer", "StoppableServer", "migrated_schema", "own_server", "start_workload", "totals", "workload"]

CI = os.environ.get("CI", "").lower() == "true"


def own_server(tmp_path_factory, name: str):
    """A fixture's body: a :class:`StoppableServer` of its own, closed afterwards."""
    srv = StoppableServer(tmp_path_factory.mktemp(name))
    try:
        yield srv
    finally:
        srv.close()


def migrated_schema(dsn: str) -> str:
    """A new schema, migrated, on the server of ``dsn``."""
    import psycopg

    from conftest import new_schema_name
    from otel_supabase_exporter import migrate

    name = new_schema_name()
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, name)
    return name


def PgBouncer(socket_dir: str, port: int, **options) -> servers.PgBouncer:  # noqa: N802 - stands in for the class
    """A pgbouncer in transaction mode; skipped when not installed, except in CI where it must be."""
    try:
        return servers.PgBouncer(socket_dir, port, **options)
    except servers.Unavailable as exc:
        if CI:
            pytest.fail(f"{exc}; .ci/run installs it")
        pytest.skip(str(exc))
