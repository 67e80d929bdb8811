"""Sick disks under the spool during an outage: a full disk, the directory deleted, the directory
read-only while replaying. Every item ends stored, or dropped and counted to the item."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from bench.servers import free_port

from .harness import app_env, drain, finish, performed, start_app, stored
from .proxy import Proxy


def _mount(*args: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("mounting a small file system needs root")
        pytest.skip("mounting a small file system needs root")
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _down_dsn() -> tuple[str, int]:
    """A DSN where nothing listens yet (the database is down), and its port."""
    port = free_port()
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", port


def _database_back(server, schema: str, port: int, spool, *, seconds: float = 60) -> None:
    """The database answers on ``port`` again; a new process drains the spool."""
    proxy = Proxy(("127.0.0.1", port), f"{server.socket_dir}/.s.PGSQL.{server.port}")
    try:
        drain(f"postgresql://postgres@127.0.0.1:{port}/postgres", schema, spool, seconds)
    finally:
        proxy.close()


def _assert_stored_or_counted(server, schema: str, truth, report: dict) -> None:
    """Every operation performed has its raw row, or is counted among the dropped spans."""
    raw, distinct, _ = stored(server.dsn, schema)
    assert raw == distinct and raw > 0
    assert raw + _lost(report, "spans") == performed(truth)


def _lost(report: dict, signal: str) -> int:
    """Items lost, by the exporters' own count: every one is in ``dropped`` with its reason
    (``failed`` counts those of them an export could not keep at all)."""
    return sum(report["stats"][signal]["dropped"].values())


def test_a_full_disk_loses_only_what_it_counts(chaos_server, chaos_schema, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    _mount("-t", "tmpfs", "-o", "size=96k", "tmpfs", str(spool))
    try:
        dsn, port = _down_dsn()
        report = finish(start_app(app_env(dsn, chaos_schema, spool), "--truth", str(tmp_path / "truth"),
                                  "--seconds", "6", "--rate", "600"))
        assert any("not writable" in r or "full" in r for r in report["stats"]["spans"]["dropped"])
        _database_back(chaos_server, chaos_schema, port, spool)
    finally:
        subprocess.run(["umount", "-l", str(spool)], capture_output=True)
    _assert_stored_or_counted(chaos_server, chaos_schema, tmp_path / "truth", report)


def test_the_spool_directory_deleted_mid_outage(chaos_server, chaos_schema, tmp_path):
    spool = tmp_path / "spool"
    dsn, port = _down_dsn()
    proc = start_app(app_env(dsn, chaos_schema, spool), "--truth", str(tmp_path / "truth"), "--seconds", "5")
    time.sleep(3)
    shutil.rmtree(spool)
    report = finish(proc)
    assert "spool segment deleted" in report["stats"]["spans"]["dropped"]
    _database_back(chaos_server, chaos_schema, port, spool)
    _assert_stored_or_counted(chaos_server, chaos_schema, tmp_path / "truth", report)


def test_a_read_only_spool_still_replays_every_segment_once(chaos_server, chaos_schema, tmp_path):
    spool = tmp_path / "spool"
    dsn, port = _down_dsn()
    for i in range(2):  # two processes: two segments
        finish(start_app(app_env(dsn, chaos_schema, spool), "--truth", str(tmp_path / "truth"), "--seconds", "2"))
    segments = list(spool.rglob("*.spool"))
    assert len(segments) >= 2
    _mount("--bind", str(spool), str(spool))
    try:
        _mount("-o", "remount,bind,ro", str(spool))
        _database_back(chaos_server, chaos_schema, port, spool, seconds=6)  # it cannot delete them: it gives up
    finally:
        subprocess.run(["umount", "-l", str(spool)], capture_output=True)
    ops = performed(tmp_path / "truth")
    assert stored(chaos_server.dsn, chaos_schema) == (ops, ops, ops)
