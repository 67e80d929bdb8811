"""The benchmarks still run (smallest sizes) and their own assertions hold; figures are in docs/benchmarks.md."""

from __future__ import annotations

from conftest import ROOT, run_python


def test_benchmarks_run_in_smoke_mode(pg_dsn):
    result = run_python(["-m", "bench", "--smoke"], env={"OTEL_SUPABASE_BENCH_DSN": pg_dsn, "PYTHONPATH": str(ROOT)},
                        timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for title in ("### Hot path", "### Ingest", "### Metric export", "### Query speed", "### Auditor costs"):
        assert title in out
    ingest = next(line for line in out.splitlines() if line.startswith("| SupabaseSpanExporter"))
    assert int(ingest.split("|")[2].strip().replace(",", "")) > 0
    merged = [line for line in out.splitlines() if "processes' worth" in line]
    assert merged and all(line.rstrip(" |").endswith("yes") for line in merged)
