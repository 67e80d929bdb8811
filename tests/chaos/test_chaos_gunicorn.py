"""A real gunicorn worker pool (PyPI), with and without --preload, serving requests that read an
instrumented cache: the master's and every worker's operations are stored exactly once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.servers import free_port

from .harness import HERE, app_env, performed, stored

REQUESTS = 600


@pytest.mark.parametrize("preload", [True, False], ids=["preload", "no-preload"])
def test_gunicorn_workers_count_exactly_once(chaos_server, chaos_schema, tmp_path, preload):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    assert gunicorn.exists() or shutil.which("gunicorn"), "gunicorn is a test dependency (pyproject.toml)"
    port = free_port()
    env = app_env(chaos_server.dsn, chaos_schema, tmp_path / "spool", CHAOS_TRUTH=str(tmp_path / "truth"))
    env["PYTHONPATH"] = f"{HERE}:{env['PYTHONPATH']}"
    args = [str(gunicorn), "-w", "3", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "20",
            *(["--preload"] if preload else []), "wsgi_app:application"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(200):
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        def burst(n: int) -> set[bytes]:
            with ThreadPoolExecutor(6) as pool:
                return set(pool.map(lambda i: urllib.request.urlopen(url + "x" * (i % 7), timeout=10).read(),
                                    range(n)))

        # without --preload each worker imports the app itself: on a busy machine the first one can
        # serve everything for a while; wait (bounded) until another has booted and answers too
        warm, deadline = burst(12), time.monotonic() + 60
        while len(warm) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            warm |= burst(12)
        pids = burst(REQUESTS) | warm
        assert len(pids) >= 2  # several workers served
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    ops = performed(tmp_path / "truth")
    assert ops >= REQUESTS + 1 + 50
    assert stored(chaos_server.dsn, chaos_schema) == (ops, ops, ops)
