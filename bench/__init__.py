"""Benchmarks of otel-supabase-exporter; run ``python -m bench --quick`` (or ``--full``) from the repo root."""
