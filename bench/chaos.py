"""The chaos suite's faults, longer and repeated (``python -m bench --chaos``): forked workers,
lost COMMIT replies, a link that goes silent again and again, SIGKILLs during an outage, a full
disk. Each row: operations performed (counted in memory-mapped files, which survive SIGKILL),
what reached the database, what the exporters counted as lost, and the verdict."""

from __future__ import annotations

import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from otel_supabase_exporter import migrate

from .common import Table
from .servers import StoppableServer, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chaos.harness import app_env, drain, finish, performed, start_app, stored  # noqa: E402
from chaos.net import DeadableLink  # noqa: E402
from chaos.proxy import Proxy  # noqa: E402

SIZES = {"smoke": 0.3, "quick": 1.0, "full": 3.0}


class _Case:
    """One case: a fresh schema, a spool and a truth directory."""

    def __init__(self, server: StoppableServer, tmp: Path, name: str) -> None:
        self.server, self.name = server, name
        self.dir = tmp / name
        self.spool, self.truth = self.dir / "spool", self.dir / "truth"
        self.schema = f"chaos_{name}"
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            migrate(conn, self.schema)
        self.socket = f"{server.socket_dir}/.s.PGSQL.{server.port}"
        self.started = time.monotonic()

    def app(self, dsn: str, *args: str):
        return start_app(app_env(dsn, self.schema, self.spool), "--truth", str(self.truth), *args)

    def row(self, table: Table, lost: int = 0, exact_expected: bool = True) -> None:
        ops = performed(self.truth)
        raw, distinct, minute = stored(self.server.dsn, self.schema)
        if exact_expected:
            ok = raw == distinct == minute == ops
        else:  # a full disk: what is not stored is counted
            ok = raw == distinct and raw + lost == ops
        table.add(self.name, f"{time.monotonic() - self.started:.0f}", ops, raw, minute, lost,
                  "exact" if ok and not lost else ("all counted" if ok else "NO"))


def _lost(report: dict) -> int:
    return sum(report["stats"]["spans"]["dropped"].values())


def run(dsn: str, mode: str) -> Table:
    k = SIZES.get(mode, 1.0)
    table = Table("Chaos (longer runs of tests/chaos)", ["case", "s", "performed", "raw rows", "1-min ops",
                                                         "lost (counted)", "verdict"])
    with tempfile.TemporaryDirectory(prefix="otel-chaos-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        (tmp / "pg").mkdir()
        server = StoppableServer(tmp / "pg")
        try:
            _fork(server, tmp, k, table)
            _lost_commits(server, tmp, k, table)
            _silent_link(server, tmp, k, table)
            _sigkill_outage(server, tmp, k, table)
        finally:
            server.close()
    table.notes.append("performed = raw rows = 1-minute operations is 'exact'; 'all counted': what is not "
                       "stored is in the exporters' dropped counters, to the item.")
    return table


def _fork(server: StoppableServer, tmp: Path, k: float, table: Table) -> None:
    case = _Case(server, tmp, "fork8")
    finish(case.app(server.dsn, "--fork", "8", "--seconds", str(10 * k), "--rate", "200"), timeout=300)
    case.row(table)


def _lost_commits(server: StoppableServer, tmp: Path, k: float, table: Table) -> None:
    case = _Case(server, tmp, "lost_commits")
    proxy = Proxy(("127.0.0.1", 0), case.socket)
    dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
    try:
        procs = [case.app(dsn, "--seconds", str(30 * k)) for _ in range(2)]
        stop = time.monotonic() + 30 * k
        while time.monotonic() < stop:
            time.sleep(0.3)
            proxy.lost_commits += 1
        for proc in procs:
            finish(proc, timeout=300)
        proxy.lost_commits = 0
        drain(dsn, case.schema, case.spool)
    finally:
        proxy.close()
    case.row(table)


def _silent_link(server: StoppableServer, tmp: Path, k: float, table: Table) -> None:
    case = _Case(server, tmp, "silent_link")
    link = DeadableLink(case.socket)
    try:
        proc = case.app(link.dsn, "--seconds", str(40 * k))
        stop = time.monotonic() + 40 * k
        while time.monotonic() < stop - 2:
            time.sleep(2)
            link.cut()
            time.sleep(3)
            link.mend()
        finish(proc, timeout=300)
        drain(link.dsn, case.schema, case.spool)
    finally:
        link.close()
    case.row(table)


def _sigkill_outage(server: StoppableServer, tmp: Path, k: float, table: Table) -> None:
    """The database down (nothing listens), processes SIGKILLed at random moments; then it is
    back and a new process drains. The spool holds everything but each victim's last second."""
    case = _Case(server, tmp, "sigkill_outage")
    port = free_port()
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    rng = random.Random(15)
    for _ in range(max(2, int(4 * k))):
        procs = [case.app(dsn, "--seconds", "60", "--rate", "300") for _ in range(3)]
        time.sleep(rng.uniform(3, 6))
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
    proxy = Proxy(("127.0.0.1", port), case.socket)
    try:
        drain(dsn, case.schema, case.spool, seconds=120)
    finally:
        proxy.close()
    ops = performed(case.truth)
    raw, distinct, minute = stored(server.dsn, case.schema)
    table.add(case.name, f"{time.monotonic() - case.started:.0f}", ops, raw, minute, "in memory at SIGKILL",
              "no duplicate" if raw == distinct and raw <= ops and minute <= ops else "NO")
