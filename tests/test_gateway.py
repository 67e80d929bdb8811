"""The OTLP gateway, driven by OpenTelemetry's own OTLP/HTTP exporters (protobuf) and by hand-made
OTLP/JSON: the rows equal what was done, whatever the temporality, sender restarts included."""

from __future__ import annotations

import gzip
import json
import logging
import time
import urllib.error
import urllib.request

import psycopg
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import sql_rows
from otel_supabase_exporter import Settings, instrument_cache
from otel_supabase_exporter.errors import ConfigurationError
from otel_supabase_exporter.gateway import Gateway

CUMULATIVE = {Counter: AggregationTemporality.CUMULATIVE, Histogram: AggregationTemporality.CUMULATIVE,
              ObservableCounter: AggregationTemporality.CUMULATIVE}
DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}


@pytest.fixture
def gateway(pg_dsn, schema, tmp_path):
    gw = Gateway(Settings(dsn=pg_dsn, schema=schema, spool_dir=str(tmp_path / "spool")), port=0).start()
    yield gw
    gw.stop()


def _minutes(dsn: str, schema: str, cache: str) -> dict[str, int]:
    row = sql_rows(dsn, f'SELECT coalesce(sum(hits), 0), coalesce(sum(misses), 0), coalesce(sum(sets), 0),'
                        f' coalesce(sum(evictions), 0), coalesce(sum(latency_count), 0)'
                        f' FROM "{schema}".cache_metrics_1min WHERE cache_name = %s', (cache,))[0]
    return dict(zip(("hits", "misses", "sets", "evictions", "latency_count"), map(int, row)))


def _sender(gw: Gateway, service: str, temporality: dict, **resource):
    """Providers of one sending process; ``push(gateway=gw)`` collects its metrics now (no timing in the
    test) and sends them with OpenTelemetry's OTLP/HTTP metric exporter."""
    res = Resource.create({"service.name": service, **resource})
    tracer_provider = TracerProvider(resource=res)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{gw.url}/v1/traces")))
    reader = InMemoryMetricReader(preferred_temporality=temporality)
    meter_provider = MeterProvider(resource=res, metric_readers=[reader])

    def push(to: Gateway = gw) -> None:
        data = reader.get_metrics_data()
        if data is not None:
            exporter = OTLPMetricExporter(endpoint=f"{to.url}/v1/metrics", preferred_temporality=temporality)
            assert exporter.export(data).name == "SUCCESS"

    return tracer_provider, meter_provider, push


@pytest.mark.parametrize("temporality", [DELTA, CUMULATIVE], ids=["delta", "cumulative"])
def test_python_otlp_exporters_land_exactly(gateway, pg_dsn, schema, temporality):
    tracer_provider, meter_provider, push = _sender(gateway, "py-otlp", temporality)
    cache = instrument_cache({}, name="users", implementation="new", tracer_provider=tracer_provider,
                             meter_provider=meter_provider)
    done = {"hits": 0, "misses": 0, "sets": 0}
    for round_ in range(3):
        for i in range(300):
            cache[i % 40] = i
            done["sets"] += 1
            done["hits" if cache.get((i * 7 + round_) % 60) is not None else "misses"] += 1
        push()
        push()  # an export with nothing new: a cumulative sender repeats its totals, nothing is added
    tracer_provider.shutdown()
    assert _minutes(pg_dsn, schema, "users") == {**done, "evictions": 0, "latency_count": sum(done.values())}
    raw = dict(sql_rows(pg_dsn, f'SELECT operation_type, count(*) FROM "{schema}".cache_metrics GROUP BY 1'))
    assert raw == {"hit": done["hits"], "miss": done["misses"], "set": done["sets"]}


def test_micrometer_and_dotnet_counters_with_a_sender_restart(gateway, pg_dsn, schema):
    """Cumulative counters named as Micrometer and .NET name them; the sender restarts (new start time,
    counts from zero) halfway: every increment counts once."""
    expected = {"hits": 0, "misses": 0, "sets": 0, "evictions": 0}
    for life in range(2):
        _, meter_provider, push = _sender(gateway, "jvm-and-dotnet", CUMULATIVE, **{"service.instance.id": f"i{life}"})
        meter = meter_provider.get_meter("io.micrometer")
        gets, puts = meter.create_counter("cache.gets"), meter.create_counter("cache.puts")
        requests, evictions = meter.create_counter("cache.requests"), meter.create_counter("cache.evictions")
        for step in range(4):
            gets.add(3, {"cache": "orders", "result": "hit"})
            gets.add(1, {"cache": "orders", "result": "miss"})
            puts.add(2, {"cache": "orders"})
            requests.add(5, {"cache.name": "orders", "cache.request.type": "hit"})
            evictions.add(1, {"cache.name": "orders"})
            expected["hits"] += 8
            expected["misses"] += 1
            expected["sets"] += 2
            expected["evictions"] += 1
            push()
            if step == 1:
                push()  # a repeated export (same totals, later time): adds nothing
        meter_provider.shutdown()
    assert _minutes(pg_dsn, schema, "orders") == {**expected, "latency_count": 0}


def test_a_retried_request_counts_once_and_state_survives_a_gateway_restart(pg_dsn, schema, tmp_path):
    settings = Settings(dsn=pg_dsn, schema=schema, spool_dir=str(tmp_path / "spool"))
    gw = Gateway(settings, port=0).start()
    try:
        reader = InMemoryMetricReader(preferred_temporality=DELTA)
        provider = MeterProvider(resource=Resource.create({"service.name": "restarts"}), metric_readers=[reader])
        provider.get_meter("m").create_counter("cache.gets").add(4, {"cache": "retried", "result": "hit"})
        data = reader.get_metrics_data()
        for _ in range(3):  # the same delta request three times, as a sender retrying a lost reply does
            assert OTLPMetricExporter(endpoint=f"{gw.url}/v1/metrics").export(data).name == "SUCCESS"
        _, cumulative_provider, push = _sender(gw, "restarts", CUMULATIVE)
        misses = cumulative_provider.get_meter("m").create_counter("cache.gets")
        misses.add(2, {"cache": "retried", "result": "miss"})
        push()
        gw.stop()
        gw = Gateway(settings, port=0).start()  # another gateway process: the cumulative state is in the database
        misses.add(3, {"cache": "retried", "result": "miss"})
        push(gw)
        push(gw)
    finally:
        gw.stop()
    assert _minutes(pg_dsn, schema, "retried") == {"hits": 4, "misses": 5, "sets": 0, "evictions": 0,
                                                  "latency_count": 0}


def _post(url: str, body: bytes, content_type: str, **headers: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type, **headers}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _sentry_style_request(hits: int, misses: int, puts: int) -> dict:
    spans = []
    for i in range(hits + misses + puts):
        name = "cache.put" if i >= hits + misses else "cache.get"
        attrs = [{"key": "cache.key", "value": {"arrayValue": {"values": [{"stringValue": f"k{i % 5}"}]}}},
                 {"key": "network.peer.address", "value": {"stringValue": "redis"}}]
        if name == "cache.get":
            attrs.append({"key": "cache.hit", "value": {"boolValue": i < hits}})
        spans.append({"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": name, "kind": 3,
                      "startTimeUnixNano": str(time.time_ns() - 2_000_000), "endTimeUnixNano": str(time.time_ns()),
                      "attributes": attrs})
    spans.append({"traceId": "", "spanId": "", "name": "no ids"})
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                             "value": {"stringValue": "node-app"}}]},
                               "scopeSpans": [{"scope": {"name": "sentry"}, "spans": spans}]}]}


def test_otlp_json_gzip_sentry_style_spans_and_partial_success(gateway, pg_dsn, schema):
    body = gzip.compress(json.dumps(_sentry_style_request(hits=6, misses=3, puts=2)).encode())
    status, headers, reply = _post(f"{gateway.url}/v1/traces", body, "application/json", **{"Content-Encoding": "gzip"})
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(reply) == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": "1 invalid ids"}}
    rows = dict(sql_rows(pg_dsn, f'SELECT operation_type, count(*) FROM "{schema}".cache_metrics'
                                 " WHERE service_name = 'node-app' AND cache_key_hash IS NOT NULL GROUP BY 1"))
    assert rows == {"hit": 6, "miss": 3, "set": 2}
    keys = sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics WHERE attributes::text LIKE %s',
                    ("%k1%",))[0][0]
    assert keys == 0  # raw keys are hashed, never stored


def test_unrecognised_metrics_become_events_never_dropped(gateway, pg_dsn, schema):
    _, meter_provider, push = _sender(gateway, "other", DELTA)
    meter_provider.get_meter("http").create_counter("http.server.requests").add(7, {"route": "/"})
    push()
    data = sql_rows(pg_dsn, f'SELECT data FROM "{schema}".monitoring_events WHERE event_type = %s', ("metric",))
    assert any(d["name"] == "http.server.requests" and d["points"][0]["value"] == 7 for (d,) in data)


def test_bad_requests_limits_and_tokens(pg_dsn, schema, tmp_path):
    settings = Settings(dsn=pg_dsn, schema=schema, spool_dir=str(tmp_path / "spool"))
    with pytest.raises(ConfigurationError, match="token"):
        Gateway(settings, host="0.0.0.0", port=0)
    gw = Gateway(settings, port=0, token="s3cret", max_body=1024).start()
    try:
        url = f"{gw.url}/v1/traces"
        proto = ExportTraceServiceRequest().SerializeToString()
        assert _post(url, proto, "application/x-protobuf")[0] == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert _post(url, proto, "application/x-protobuf", **auth)[0] == 200
        assert _post(url, b"not protobuf \xff\xff", "application/x-protobuf", **auth)[0] == 400
        assert _post(url, b"{", "application/json", **auth)[0] == 400
        assert _post(url, b"x" * 2048, "application/json", **auth)[0] == 413
        bomb = gzip.compress(b"{" + b" " * 100_000 + b"}")
        assert _post(url, bomb, "application/json", **auth, **{"Content-Encoding": "gzip"})[0] == 413
        assert _post(f"{gw.url}/v1/other", proto, "application/x-protobuf", **auth)[0] == 404
    finally:
        gw.stop()


def test_nothing_to_keep_it_in_means_503_with_retry_after(pg_dsn, schema):
    """The database refuses and there is no spool: the sender is told to retry, not that it worked."""
    settings = Settings(dsn="postgresql://nobody@127.0.0.1:1/none", schema=schema, spool_max_bytes=0, timeout_s=1)
    gw = Gateway(settings, port=0).start()
    try:
        request = json_format.ParseDict(_sentry_style_request(1, 0, 0), ExportTraceServiceRequest(),
                                        ignore_unknown_fields=True)
        status, headers, _ = _post(f"{gw.url}/v1/traces", request.SerializeToString(), "application/x-protobuf")
    finally:
        gw.stop()
    assert status == 503 and headers["Retry-After"].isdigit()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{schema}".cache_metrics').fetchone()[0] == 0


def test_log_records_become_events(gateway, pg_dsn, schema):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    provider = LoggerProvider(resource=Resource.create({"service.name": "logger"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{gateway.url}/v1/logs")))
    log = logging.getLogger("gateway-test")
    log.addHandler(LoggingHandler(logger_provider=provider))
    log.warning("cache %s is cold", "users")
    provider.shutdown()
    rows = sql_rows(pg_dsn, f'SELECT source, data FROM "{schema}".monitoring_events WHERE event_type = %s', ("log",))
    assert [(s, d["body"], d["severity"]) for s, d in rows] == [("logger", "cache users is cold", "WARN")]


def test_busy_gateway_answers_429_with_retry_after(gateway):
    proto = ExportTraceServiceRequest().SerializeToString()
    taken = [gateway._slots.acquire(blocking=False) for _ in range(64)]  # every slot in use
    try:
        status, headers, _ = _post(f"{gateway.url}/v1/traces", proto, "application/x-protobuf")
    finally:
        for ok in taken:
            if ok:
                gateway._slots.release()
    assert status == 429 and headers["Retry-After"].isdigit()
    assert _post(f"{gateway.url}/v1/traces", proto, "application/x-protobuf")[0] == 200
