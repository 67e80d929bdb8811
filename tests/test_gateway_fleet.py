"""The gateway with clients and servers nobody here wrote: OpenTelemetry JS (npm, fetched at pinned
versions at test time) sending a Node service's cache telemetry, and two gateways behind nginx
(round robin) with one killed mid-run — counts exact, nothing lost or doubled."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from conftest import ROOT, sql_rows
from otel_supabase_exporter import Settings, instrument_cache
from otel_supabase_exporter.gateway import Gateway

CI = os.environ.get("CI", "").lower() == "true"
NODE_PACKAGES = {  # OpenTelemetry JS 2.1 (the last line that runs on Node 18/20)
    "@opentelemetry/api": "1.9.0", "@opentelemetry/sdk-node": "0.205.0",
    "@opentelemetry/exporter-trace-otlp-http": "0.205.0", "@opentelemetry/exporter-metrics-otlp-http": "0.205.0",
    "@opentelemetry/sdk-metrics": "2.1.0", "@opentelemetry/resources": "2.1.0",
    "@opentelemetry/sdk-trace-base": "2.1.0",
}


def _need(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        if CI:
            pytest.fail(f"{binary} is missing: .ci/run installs the Debian package {package}")
        pytest.skip(f"{binary} (Debian package {package}) is not installed")
    return found


@pytest.fixture(scope="session")
def node_app() -> Path:
    """tests/node/cache_app.js with OpenTelemetry JS installed beside it, in a cache outside the repo."""
    _need("node", "nodejs")
    npm = _need("npm", "npm")
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "otel-supabase-exporter-tests"
    where = home / f"node-{hashlib.sha256(json.dumps(NODE_PACKAGES, sort_keys=True).encode()).hexdigest()[:12]}"
    if not (where / "node_modules" / "@opentelemetry" / "sdk-node").is_dir():
        where.mkdir(parents=True, exist_ok=True)
        (where / "package.json").write_text(json.dumps({"name": "gateway-test", "private": True,
                                                        "dependencies": NODE_PACKAGES}))
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--silent"], cwd=where,
                       check=True, timeout=300)
    shutil.copy(ROOT / "tests" / "node" / "cache_app.js", where / "cache_app.js")
    return where / "cache_app.js"


def test_a_node_service_lands_in_the_same_tables_exactly(pg_dsn, schema, tmp_path, node_app):
    gw = Gateway(Settings(dsn=pg_dsn, schema=schema, spool_dir=str(tmp_path / "spool")), port=0).start()
    try:
        run = subprocess.run(["node", str(node_app), gw.url, "1500"], capture_output=True, text=True, timeout=120,
                             cwd=node_app.parent)
        assert run.returncode == 0, run.stderr[-2000:]
        done = json.loads(run.stdout)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            raw = dict(sql_rows(pg_dsn, f'SELECT operation_type, count(*) FROM "{schema}".cache_metrics'
                                        " WHERE service_name = 'node-shop' GROUP BY 1"))
            if sum(raw.values()) >= sum(done.values()):
                break
            time.sleep(0.2)
    finally:
        gw.stop()
    assert raw == {"hit": done["hits"], "miss": done["misses"], "set": done["sets"]}
    minutes = sql_rows(pg_dsn, f'SELECT sum(hits), sum(misses), sum(sets) FROM "{schema}".cache_metrics_1min'
                               " WHERE cache_name = 'carts' AND service_name = 'node-shop'")[0]
    assert tuple(map(int, minutes)) == (done["hits"], done["misses"], done["sets"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(proc: subprocess.Popen, port: int, what: str) -> subprocess.Popen:
    """``proc`` once it accepts connections on ``port``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{what} did not start on port {port}")


def _gateway_process(dsn: str, schema: str, port: int, spool: Path) -> subprocess.Popen:
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(spool)}
    proc = subprocess.Popen([sys.executable, "-m", "otel_supabase_exporter", "--dsn", dsn, "--schema", schema,
                             "gateway", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return _listening(proc, port, "the gateway")


def _nginx(tmp: Path, port: int, upstreams: list[int]) -> subprocess.Popen:
    binary = _need("nginx", "nginx-light")
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstreams)
    (tmp / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  client_max_body_size 16m;
  upstream gateways {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://gateways; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
""")
    proc = subprocess.Popen([binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _listening(proc, port, "nginx")


def test_two_gateways_behind_nginx_one_killed_nothing_lost_or_doubled(pg_dsn, schema, tmp_path):
    ports = [_free_port(), _free_port()]
    spools = [tmp_path / "spool-a", tmp_path / "spool-b"]
    gateways = [_gateway_process(pg_dsn, schema, p, s) for p, s in zip(ports, spools)]
    front = _free_port()
    proxy = _nginx(tmp_path, front, ports)
    try:
        res = Resource.create({"service.name": "fleet"})
        tracer_provider = TracerProvider(resource=res)
        tracer_provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"http://127.0.0.1:{front}/v1/traces"), schedule_delay_millis=100,
            max_export_batch_size=256, max_queue_size=100_000))
        meter_provider = MeterProvider(resource=res, metric_readers=[PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"http://127.0.0.1:{front}/v1/metrics"), export_interval_millis=300)])
        cache = instrument_cache({}, name="fleet", implementation="new", tracer_provider=tracer_provider,
                                 meter_provider=meter_provider)
        operations = 0
        started = time.monotonic()
        killed = restarted = False
        while time.monotonic() - started < 8:
            for i in range(200):
                cache[i % 30] = i
                cache.get(i % 45)
                operations += 2
            time.sleep(0.02)
            if not killed and time.monotonic() - started > 2.5:
                gateways[0].send_signal(signal.SIGKILL)  # mid-run, requests in flight
                gateways[0].wait()
                killed = True
            if killed and not restarted and time.monotonic() - started > 5:
                gateways[0] = _gateway_process(pg_dsn, schema, ports[0], spools[0])  # replays its spool
                restarted = True
        assert tracer_provider.force_flush(30_000)
        tracer_provider.shutdown()
        meter_provider.shutdown()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            raw = sql_rows(pg_dsn, f'SELECT count(*), count(DISTINCT id) FROM "{schema}".cache_metrics')[0]
            minutes = sql_rows(pg_dsn, f'SELECT coalesce(sum(total_operations), 0) FROM "{schema}".cache_metrics_1min'
                                       " WHERE cache_name = 'fleet'")[0][0]
            if raw[0] >= operations and minutes >= operations:
                break
            time.sleep(0.3)
    finally:
        proxy.send_signal(signal.SIGQUIT)
        proxy.wait(10)
        for g in gateways:
            g.send_signal(signal.SIGINT)
            try:
                g.wait(15)
            except subprocess.TimeoutExpired:
                g.kill()
    assert raw == (operations, operations)
    assert int(minutes) == operations
