"""The OTLP gateway's ingest rate against the in-process exporters', same spans and points, same run:
spans/s through one gateway (OpenTelemetry's OTLP/HTTP exporter → HTTP → decode → the same mapping and
writer) and metric points/s (1,000 series a request)."""

from __future__ import annotations

import gc
import http.client
import socket
import subprocess
import sys
import time

import psycopg
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics import Counter, Histogram
from opentelemetry.sdk.resources import Resource
from psycopg import sql

from otel_supabase_exporter import SupabaseMetricExporter, SupabaseSpanExporter, instrument_cache

from .common import Table
from .ingest import _fresh_schema, finished_spans

DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}


def _metrics(series: int, rounds: int) -> list:
    """``rounds`` collections of ``series`` cache series (operations and durations), delta."""
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    provider = MeterProvider(resource=Resource.create({"service.name": "bench-gw"}), metric_readers=[reader])
    caches = [instrument_cache({}, name=f"c{i}", implementation="new", meter_provider=provider, spans=False)
              for i in range(series)]
    out = []
    for _ in range(rounds):
        for c in caches:
            c["k"] = 1
            c.get("k")
            c.get("nope")
        out.append(reader.get_metrics_data())
    return out


def _gateway(dsn: str, schema: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "otel_supabase_exporter", "--dsn", dsn, "--schema", schema,
                             "gateway", "--port", str(port), "--max-body-mib", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the gateway did not start")


def _post_all(url: str, path: str, bodies: list[bytes]) -> None:
    """POST pre-encoded OTLP bodies on one keep-alive connection (the client's encoding not timed)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    for body in bodies:
        conn.request("POST", path, body, {"Content-Type": "application/x-protobuf"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    conn.close()


def _count(dsn: str, schema: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}.cache_metrics").format(sql.Identifier(schema))
                            ).fetchone()[0]


def run(dsn: str, mode: str = "quick") -> Table:
    n = {"smoke": 4_096, "quick": 40_960, "full": 163_840}[mode]
    batch = 4_096
    series, rounds = {"smoke": (100, 2), "quick": (1_000, 5), "full": (1_000, 20)}[mode]
    spans = finished_spans(n)
    collections = _metrics(series, rounds)
    points = sum(len(m.data.data_points) for c in collections for rm in c.resource_metrics
                 for sm in rm.scope_metrics for m in sm.metrics)
    gc.collect()
    gc.freeze()
    span_bodies = [encode_spans(spans[i:i + batch]).SerializeToString() for i in range(0, n, batch)]
    metric_bodies = [encode_metrics(c).SerializeToString() for c in collections]
    for name in ("bench_inproc", "bench_gateway", "bench_gateway_sdk"):
        _fresh_schema(dsn, name)
    results = {}
    exporter = SupabaseSpanExporter(dsn, schema="bench_inproc")
    metric_exporter = SupabaseMetricExporter(dsn, schema="bench_inproc")
    t = time.perf_counter()
    for i in range(0, n, batch):
        exporter.export(spans[i:i + batch])
    results["in-process span exporter"] = (n / (time.perf_counter() - t), "spans")
    t = time.perf_counter()
    for c in collections:
        metric_exporter.export(c)
    results["in-process metric exporter"] = (points / (time.perf_counter() - t), "points")
    exporter.shutdown()
    metric_exporter.shutdown()
    proc, url = _gateway(dsn, "bench_gateway")
    try:
        t = time.perf_counter()
        _post_all(url, "/v1/traces", span_bodies)
        results["one gateway, protobuf bodies"] = (n / (time.perf_counter() - t), "spans")
        t = time.perf_counter()
        _post_all(url, "/v1/metrics", metric_bodies)
        results["one gateway, protobuf bodies (metrics)"] = (points / (time.perf_counter() - t), "points")
    finally:
        proc.terminate()
        proc.wait(30)
    proc, url = _gateway(dsn, "bench_gateway_sdk")
    try:
        otlp = OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=60)
        t = time.perf_counter()
        for i in range(0, n, batch):
            assert otlp.export(spans[i:i + batch]).name == "SUCCESS"
        results["one gateway, sent by OpenTelemetry's OTLP exporter (its encoding included)"] = (
            n / (time.perf_counter() - t), "spans")
        otlp_metrics = OTLPMetricExporter(endpoint=f"{url}/v1/metrics", timeout=60)
        t = time.perf_counter()
        for c in collections:
            assert otlp_metrics.export(c).name == "SUCCESS"
        results["one gateway, sent by OpenTelemetry's OTLP exporter (metrics)"] = (
            points / (time.perf_counter() - t), "points")
    finally:
        proc.terminate()
        proc.wait(30)
    gc.unfreeze()
    assert _count(dsn, "bench_gateway") == _count(dsn, "bench_gateway_sdk") == _count(dsn, "bench_inproc") == n
    table = Table(f"Gateway ingest: {n:,} cache spans (batches of {batch:,}), {points:,} metric points "
                  f"({series:,} series a request); one gateway process, the database on the same machine",
                  ["path", "items/s", "items", "vs in-process"])
    base = {"spans": results["in-process span exporter"][0], "points": results["in-process metric exporter"][0]}
    for name, (rate, unit) in results.items():
        table.add(name, f"{rate:,.0f}", unit, f"{rate / base[unit]:.2f}×")
    return table
