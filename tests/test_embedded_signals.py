"""The embedded server stops when its last user exits, SIGTERM included, for a library process (an
application that called configure() without a DSN), not only for the CLI: SIGTERM runs the exit
handlers (chained to the application's own handler when it has one), and a user killed with
SIGKILL is swept from the users' list when another user exits, so that exit stops the server.
A server another living process uses is never stopped. Each test has its own data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from otel_supabase_exporter.store.embedded import embedded_status, stop_embedded

LIBRARY = """
import signal, sys, time
from otel_supabase_exporter import configure, instrument_cache

seen = []
if sys.argv[1] == "own-handler":  # the application's handler, installed before configure()
    signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
telemetry = configure(service_name="library")
cache = instrument_cache({}, name="library", implementation="dict")
cache["a"] = 1
cache.get("a")
telemetry.force_flush()
print("ready", flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline and not seen:
    time.sleep(0.05)
print("the application's handler ran" if seen else "timed out", flush=True)
telemetry.shutdown()
"""


@pytest.fixture
def data(tmp_path):
    """A data directory of the test's own; its server is stopped afterwards if a test failed to."""
    path = tmp_path / "pgdata"
    yield path
    stop_embedded(path)


def _library(data: Path, mode: str = "plain") -> subprocess.Popen:
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR": str(data)}
    env.pop("OTEL_EXPORTER_SUPABASE_DSN", None)
    proc = subprocess.Popen([sys.executable, "-c", LIBRARY, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    line = proc.stdout.readline().strip()
    assert line == "ready", (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


def _stopped_within(data: Path, timeout: float) -> float | None:
    """Seconds until the server is down, or None if it still runs after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not embedded_status(data).running:
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def _answers(data: Path) -> bool:
    status = embedded_status(data)
    if not status.running:
        return False
    with psycopg.connect(status.dsn, connect_timeout=5) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def test_sigterm_on_a_library_process_stops_the_server_right_after(data):
    proc = _library(data)
    assert embedded_status(data).running and embedded_status(data).users == [proc.pid]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143  # SystemExit(128 + 15): the exit handlers ran
    took = _stopped_within(data, 5)
    assert took is not None, "the server outlived its last user"
    assert embedded_status(data).users == []


def test_sigterm_goes_to_the_applications_own_handler_first(data):
    proc = _library(data, "own-handler")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0  # the application decided: it finished and exited normally
    assert proc.stdout.read().strip() == "the application's handler ran"
    assert _stopped_within(data, 5) is not None


def test_a_server_another_living_process_uses_is_not_stopped(data):
    first, second = _library(data), _library(data)
    assert sorted(embedded_status(data).users) == sorted([first.pid, second.pid])
    second.send_signal(signal.SIGTERM)
    assert second.wait(60) == 143
    time.sleep(1)
    assert _answers(data) and embedded_status(data).users == [first.pid]
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 143
    assert _stopped_within(data, 5) is not None


def test_after_a_sigkill_the_next_user_to_exit_stops_the_server(data):
    """SIGKILL runs nothing: the killed process stays listed and the server runs on, until another
    user exits (its exit sweeps the dead one away, then it is the last) or starts."""
    survivor, killed = _library(data), _library(data)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    time.sleep(1)
    assert _answers(data)  # nobody said the killed one left
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(60) == 143
    assert _stopped_within(data, 5) is not None
