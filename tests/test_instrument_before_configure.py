"""A cache instrumented before ``configure()``: spans and metrics start together at configure(), and a
one-time warning says how many earlier operations were counted by neither. In a child process,
because OpenTelemetry's global providers are set once per process."""

from __future__ import annotations

import textwrap

from conftest import run_python, sql_rows

SCRIPT = textwrap.dedent("""
    import logging, sys
    from otel_supabase_exporter import configure, instrument_cache

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    cache = instrument_cache({}, name="early", implementation="dict")
    for i in range(300):          # before configure(): no provider to send spans to
        cache.get(f"k{i % 50}")
        cache[f"k{i % 50}"] = i
    telemetry = configure(sys.argv[1], schema=sys.argv[2], service_name="early-bird")
    for i in range(200):          # after: spans and metrics
        cache.get(f"k{i % 80}")
        cache[f"k{i % 80}"] = i
    telemetry.shutdown()
""")


def test_raw_rows_and_minute_rows_agree_when_instrumented_before_configure(pg_dsn, schema, tmp_path):
    script = tmp_path / "early.py"
    script.write_text(SCRIPT)
    proc = run_python([str(script), pg_dsn, schema], {"OTEL_EXPORTER_SUPABASE_AUTO_MIGRATE": "false"})
    assert proc.returncode == 0, proc.stderr
    raw = dict(sql_rows(pg_dsn, f'SELECT operation_type, count(*) FROM "{schema}".cache_metrics'
                                f" WHERE cache_name = 'early' GROUP BY 1"))
    (hits, misses, sets), = sql_rows(pg_dsn, f'SELECT sum(hits), sum(misses), sum(sets)'
                                              f' FROM "{schema}".cache_metrics_1min WHERE cache_name = %s',
                                     ("early",))
    assert hits + misses == 200 and sets == 200  # what happened after configure(), nothing from before
    assert raw == {"hit": hits, "miss": misses, "set": sets}
    warnings = [line for line in proc.stderr.splitlines() if "before configure()" in line]
    assert len(warnings) == 1, proc.stderr  # said once, with the count
    assert "600 cache operation(s)" in warnings[0]


AGAIN = textwrap.dedent("""
    import logging, sys
    from otel_supabase_exporter import configure, instrument_cache

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    first = configure(sys.argv[1], schema=sys.argv[2], service_name="first")
    cache = instrument_cache({}, name="again", implementation="dict")
    cache["a"] = 1
    first.shutdown()
    second = configure(sys.argv[1], schema=sys.argv[2], service_name="second")
    cache["b"] = 2                # recorded to the first, shut-down providers: lost, but said
    second.shutdown()
""")


def test_a_second_global_configure_says_its_providers_are_not_the_globals(pg_dsn, schema, tmp_path):
    script = tmp_path / "again.py"
    script.write_text(AGAIN)
    proc = run_python([str(script), pg_dsn, schema], {})
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "configure() was called before" in line]
    assert len(said) == 1 and "set_global=False" in said[0], proc.stderr
    assert "Overriding of current" not in proc.stderr  # ours, in place of OpenTelemetry's bare refusal
    assert sql_rows(pg_dsn, f'SELECT service_name, count(*) FROM "{schema}".cache_metrics GROUP BY 1') \
        == [("first", 1)]
