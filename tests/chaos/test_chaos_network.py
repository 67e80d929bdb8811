"""A dead network (packets dropped, no RST): every export and shutdown() end within their bound,
what could not be sent waits in the spool, counted, and nothing is lost or doubled."""

from __future__ import annotations

import time

from .harness import app_env, drain, finish, performed, start_app, stored
from .net import DeadableLink


def _socket_path(server) -> str:
    return f"{server.socket_dir}/.s.PGSQL.{server.port}"


def test_a_link_that_goes_silent_mid_workload_and_at_shutdown(chaos_server, chaos_schema, tmp_path):
    link = DeadableLink(_socket_path(chaos_server))
    try:
        spool = tmp_path / "spool"
        env = app_env(link.dsn, chaos_schema, spool)
        proc = start_app(env, "--truth", str(tmp_path / "truth"), "--seconds", "9", "--rate", "400")
        time.sleep(3)
        link.cut()  # mid-workload, with connections open and idle or in use; never mended while it runs
        report = finish(proc, timeout=90)
        assert report["shutdown_s"] < 12  # bounded, although the network never answers again
        spans, metrics = report["stats"]["spans"], report["stats"]["metrics"]
        assert spans["spooled"] > 0 and metrics["spooled"] > 0
        for signal in (spans, metrics):
            assert signal["failed"] == 0 and signal["dropped"] == {}
        link.mend()
        drain(link.dsn, chaos_schema, spool)
    finally:
        link.close()
    ops = performed(tmp_path / "truth")
    assert stored(chaos_server.dsn, chaos_schema) == (ops, ops, ops)
