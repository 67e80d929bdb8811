"""Fixtures of the chaos suite: a PostgreSQL server of its own and a fresh schema per test (the
helpers that run the application are in :mod:`.harness`)."""

from __future__ import annotations

import psycopg
import pytest

from faults import migrated_schema, own_server



@pytest.fixture(scope="session")
def chaos_server(tmp_path_factory):
    yield from own_server(tmp_path_factory, "chaospg")


@pytest.fixture
def chaos_schema(chaos_server):
    name = migrated_schema(chaos_server.dsn)
    yield name
    with psycopg.connect(chaos_server.dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
