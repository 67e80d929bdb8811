"""Running the chaos application and counting what it did and what reached the database; used by
the chaos tests and by ``python -m bench --chaos``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.workload import run_workload as workload
from bench.workload import totals

from .truth import total

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def app_env(dsn: str, schema: str, spool: Path, **extra: str) -> dict[str, str]:
    """The application's environment. CHAOS_PACKAGE_PATH (e.g. ``/work/main/src:``) goes first on
    its PYTHONPATH: the suite's applications then run another version of the package, to see
    which cases that version fails."""
    return {**os.environ, "OTEL_EXPORTER_SUPABASE_DSN": dsn, "OTEL_EXPORTER_SUPABASE_SCHEMA": schema,
            "OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(spool), "OTEL_EXPORTER_SUPABASE_TIMEOUT": "2",
            "PYTHONPATH": os.environ.get("CHAOS_PACKAGE_PATH", "") + str(ROOT), **extra}


def start_app(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "app.py"), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def run_app(env: dict[str, str], *args: str, timeout: float = 120) -> dict:
    return finish(start_app(env, *args), timeout)


def stored(dsn: str, schema: str) -> tuple[int, int, int]:
    """(raw operation rows, their distinct ids, 1-minute total operations)."""
    return totals(dsn, schema)


def performed(truth_dir: Path) -> int:
    return total(truth_dir)


def drain(dsn: str, schema: str, spool: Path, seconds: float = 60) -> dict:
    """A new process on the same spool, until it replayed what the others left (bench/workload.py)."""
    return workload(dsn, schema, spool, "--replay-only", str(seconds))
