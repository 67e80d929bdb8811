""""Raw rows written by this run" counts this run: configure() gives the resource a
service.instance.id when it has none, every raw row carries it (cache_metrics.service_instance_id,
sql/versioned/013), and the demo counts its own rows by it, not every row of its service name."""

from __future__ import annotations

import re
import threading

from opentelemetry.sdk.resources import Resource

from conftest import providers, sql_rows
from otel_supabase_exporter import Settings, configure, instrument_cache
from otel_supabase_exporter.demo.run import run_demo

SERVICE = "otel-supabase-demo"


def test_the_demo_counts_its_own_rows_not_its_neighbours(pg_dsn, schema):
    """Another process of the same service writes 400 raw rows while the demo runs; the demo's line
    counts only its own."""
    other = configure(pg_dsn, schema=schema, service_name=SERVICE, set_global=False)
    cache = instrument_cache({}, name="neighbour", implementation="dict", **providers(other))

    def neighbour() -> None:
        for i in range(200):
            cache[f"k{i}"] = i
            cache.get(f"k{i}")
        other.shutdown()

    lines: list[str] = []
    thread = threading.Thread(target=neighbour)
    thread.start()
    run_demo(Settings.from_env(dsn=pg_dsn, schema=schema), seconds=2, service_name=SERVICE, out=lines.append,
             history_days=0)  # live rows only: the 1-minute sums below are this run's
    thread.join()
    (line,) = [x for x in lines if x.startswith("raw rows written by this run")]
    instance, printed = re.search(r"service\.instance\.id ([0-9a-f-]{36})\): (\d+);", line).groups()
    rows = dict(sql_rows(pg_dsn, f'SELECT service_instance_id, count(*) FROM "{schema}".cache_metrics'
                                 " WHERE service_name = %s GROUP BY 1", (SERVICE,)))
    assert rows[other.instance_id] == 400
    assert set(rows) == {other.instance_id, instance}
    assert int(printed) == rows[instance] > 0  # this run's rows, the neighbour's 400 left out
    (lookups,), = sql_rows(pg_dsn, f'SELECT sum(hits + misses + errors) FROM "{schema}".cache_metrics_1min'
                                   " WHERE cache_name = 'semantic'")
    assert int(printed) >= lookups  # every get of the run has its raw row (and sets, evictions on top)


def test_raw_rows_carry_the_resources_instance_id(pg_dsn, schema):
    given = configure(pg_dsn, schema=schema, service_name="svc", set_global=False,
                      resource=Resource({"service.instance.id": "pod-7"}))
    made = configure(pg_dsn, schema=schema, service_name="svc", set_global=False)
    for telemetry in (given, made):
        cache = instrument_cache({}, name="ids", implementation="dict", **providers(telemetry))
        cache["a"] = 1
        telemetry.shutdown()
    assert given.instance_id == "pod-7"
    assert re.fullmatch(r"[0-9a-f-]{36}", made.instance_id)
    assert sorted(r for (r,) in sql_rows(pg_dsn, f'SELECT service_instance_id FROM "{schema}".cache_metrics')) \
        == sorted(["pod-7", made.instance_id])
