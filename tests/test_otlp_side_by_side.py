"""The same instrumentation to an OTLP backend and to PostgreSQL at once (examples/otlp_side_by_side.py):
a local OTLP/HTTP receiver gets the spans and metrics, the tables get their rows."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT, run_python, sql_rows

trace_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
metrics_pb2 = pytest.importorskip("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")


class _Receiver(BaseHTTPRequestHandler):
    received: dict[str, list[bytes]] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_spans_and_metrics_reach_both_backends(pg_dsn, schema):
    _Receiver.received = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = run_python([str(ROOT / "examples" / "otlp_side_by_side.py")], env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            "OTEL_EXPORTER_SUPABASE_DSN": pg_dsn, "OTEL_EXPORTER_SUPABASE_SCHEMA": schema})
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr

    spans = []
    for body in _Receiver.received.get("/v1/traces", []):
        request = trace_pb2.ExportTraceServiceRequest.FromString(body)
        spans += [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(spans) == ["cache.get", "cache.get", "cache.get", "cache.set"]
    metric_names = set()
    for body in _Receiver.received.get("/v1/metrics", []):
        request = metrics_pb2.ExportMetricsServiceRequest.FromString(body)
        metric_names |= {m.name for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"cache.operations", "cache.operation.duration"} <= metric_names

    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics')[0][0] == 4
    assert sql_rows(pg_dsn, f'SELECT sum(hits), sum(misses), sum(sets) FROM "{schema}".cache_metrics_1min') == \
        [(2, 1, 1)]
