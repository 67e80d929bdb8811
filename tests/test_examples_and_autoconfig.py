"""Examples run, and OpenTelemetry autoconfiguration swaps backends with no code change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run_python, sql_rows


def _instrument_cmd() -> str:
    path = Path(sys.executable).parent / "opentelemetry-instrument"
    return str(path) if path.exists() else shutil.which("opentelemetry-instrument")


def _autoconfig_env(pg_dsn: str, schema: str, backend: str) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": backend,
        "OTEL_METRICS_EXPORTER": backend,
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "autoconfig-test",
        "OTEL_EXPORTER_SUPABASE_DSN": pg_dsn,
        "OTEL_EXPORTER_SUPABASE_SCHEMA": schema,
        "OTEL_EXPORTER_SUPABASE_AUTO_MIGRATE": "true",
    }


def test_autoconfiguration_with_supabase_writes_rows(pg_dsn, fresh_schema):
    env = {**os.environ, **_autoconfig_env(pg_dsn, fresh_schema, "supabase")}
    proc = subprocess.run([_instrument_cmd(), sys.executable, "examples/autoconfig_app.py"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    raw = dict(sql_rows(pg_dsn, f'SELECT operation_type, count(*) FROM "{fresh_schema}".cache_metrics GROUP BY 1'))
    assert raw == {"set": 50, "hit": 50, "miss": 50}
    (agg,) = sql_rows(pg_dsn, f'SELECT sum(hits), sum(misses), sum(sets), min(service_name), max(cache_size)'
                              f' FROM "{fresh_schema}".cache_metrics_1min')
    assert agg == (50, 50, 50, "autoconfig-test", 50)


def test_autoconfiguration_with_console_touches_no_database(pg_dsn, fresh_schema):
    env = {**os.environ, **_autoconfig_env(pg_dsn, fresh_schema, "console")}
    proc = subprocess.run([_instrument_cmd(), sys.executable, "examples/autoconfig_app.py"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"name": "cache.get"' in proc.stdout and '"cache.operations"' in proc.stdout
    assert sql_rows(pg_dsn, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (fresh_schema,))[0][0] == 0


def test_semantic_cache_example_exports_both_implementations(pg_dsn, fresh_schema):
    proc = run_python(["examples/semantic_cache.py"], {
        "OTEL_EXPORTER_SUPABASE_DSN": pg_dsn, "OTEL_EXPORTER_SUPABASE_SCHEMA": fresh_schema,
        "OTEL_EXPORTER_SUPABASE_AUTO_MIGRATE": "true"})
    assert proc.returncode == 0, proc.stderr
    rows = sql_rows(pg_dsn, f'SELECT implementation_type, sum(hits + misses), sum(sets)'
                            f' FROM "{fresh_schema}".cache_metrics_1min GROUP BY 1 ORDER BY 1')
    assert [(impl, lookups) for impl, lookups, _ in rows] == [("legacy", 5000), ("new", 5000)]
    legacy_sets, new_sets = rows[0][2], rows[1][2]
    assert legacy_sets > new_sets  # the smaller legacy cache misses more
