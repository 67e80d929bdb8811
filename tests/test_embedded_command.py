"""The embedded server stops when its last user exits, even after users that died without saying so
(SIGKILL) or were stopped with SIGTERM; ``embedded status|stop|reset`` show and manage it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from otel_supabase_exporter.show.cli import main
from otel_supabase_exporter.store.embedded import embedded_status

JOIN = ("import sys, time; from otel_supabase_exporter.store.embedded import embedded_dsn;"
        " print(embedded_dsn(sys.argv[1]), flush=True); time.sleep(float(sys.argv[2]))")


def _join(data: Path, seconds: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", JOIN, str(data), str(seconds)], stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def _stopped(data: Path, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not embedded_status(data).running:
            return True
        time.sleep(0.2)
    return False


def test_the_last_living_user_stops_the_server_after_one_was_killed(tmp_path):
    data = tmp_path / "pgdata"
    killed, dsn = _join(data, 120)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    assert embedded_status(data).running  # nobody stopped it: its user died
    last, _ = _join(data, 0.1)
    assert last.wait(60) == 0
    assert _stopped(data), "the server outlived its last user"


def test_sigterm_on_a_command_stops_the_server_it_started(tmp_path):
    data = tmp_path / "pgdata"
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR": str(data)}
    env.pop("OTEL_EXPORTER_SUPABASE_DSN", None)
    cli = [sys.executable, "-m", "otel_supabase_exporter.show.cli"]
    assert subprocess.run([*cli, "migrate"], env=env, capture_output=True, timeout=120).returncode == 0
    assert _stopped(data)  # migrate was its only user
    proc = subprocess.Popen([sys.executable, "-m", "otel_supabase_exporter.show.cli", "dashboard", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "dashboard:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        assert embedded_status(data).running
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _stopped(data)


def test_embedded_status_stop_and_reset(tmp_path, monkeypatch, capsys):
    data = tmp_path / "pgdata"
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR", str(data))
    assert main(["embedded", "status"]) == 0
    assert "(not created yet)" in capsys.readouterr().out
    holder, dsn = _join(data, 120)
    try:
        assert main(["embedded", "status"]) == 0
        out = capsys.readouterr().out
        assert f"data directory: {data}" in out and "server: running" in out and "MiB" in out
        assert f"dsn: {dsn}" in out and "psql " in out
        assert main(["embedded", "stop"]) == 0 and "stopped" in capsys.readouterr().out
        assert not embedded_status(data).running
        assert main(["embedded", "reset"]) == 2 and data.exists()
        assert main(["embedded", "reset", "--yes"]) == 0 and not data.exists()
    finally:
        holder.kill()
        holder.wait(10)
