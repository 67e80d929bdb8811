"""The dashboard's JSON API under /api/, against a real server: every endpoint, its bad parameters,
the acknowledgement's guards, Server-Sent Events fed by NOTIFY, and no secret in any answer."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from conftest import sql_rows
from otel_supabase_exporter import Settings
from otel_supabase_exporter.errors import ConfigurationError
from otel_supabase_exporter.show import _http
from otel_supabase_exporter.show.dashboard import Dashboard
from otel_supabase_exporter.histogram import ExpHistogram
from otel_supabase_exporter.rows import MinuteRow
from otel_supabase_exporter.store.writer import PostgresWriter

UTC = timezone.utc
HOOK = Path(__file__).parent.parent / "hatch_build.py"  # the build hook that fetches the chart library


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def _post(url: str, body: object, headers: dict | None = None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def minute_rows(start: datetime, minutes: int, cache: str = "shop") -> list[MinuteRow]:
    """legacy: 90 % hits, 2 ms; new: 80 % hits, twice as slow, 1 error a minute; 100 lookups, 20 sets a minute."""
    rows = []
    for m in range(minutes):
        t = start + timedelta(minutes=m)
        for impl, hits, offset, errors in (("legacy", 90, -72, 0), ("new", 80, -64, 1)):
            hist = ExpHistogram(3, offset, (10, 100, 10))
            rows.append(MinuteRow(t, cache, impl, "svc", hits=hits, misses=100 - hits, sets=20, errors=errors,
                                  latency_count=hist.total, latency_sum_ms=hist.total * 2.0,
                                  min_response_time_ms=0.1, max_response_time_ms=50.0, cache_size=1000 + m,
                                  histogram=hist))
    return rows


def write(dsn: str, schema: str, rows: list[MinuteRow]) -> None:
    writer = PostgresWriter(Settings.from_env(dsn=dsn, schema=schema))
    try:
        writer.write_minutes(rows, [], uuid.uuid4())
    finally:
        writer.close()


@contextlib.contextmanager
def served(pg_dsn: str, *row_lists: list[MinuteRow]):
    """A schema of its own, migrated, with ``row_lists`` written through the writer, and a dashboard
    on it (a free port); both gone afterwards. Yields the dashboard."""
    from conftest import new_schema_name
    from otel_supabase_exporter import migrate

    schema = new_schema_name()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        migrate(conn, schema)
    for rows in row_lists:
        write(pg_dsn, schema, rows)
    dashboard = Dashboard(Settings.from_env(dsn=pg_dsn, schema=schema), port=0).start()
    try:
        yield dashboard
    finally:
        dashboard.stop()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def seeded(pg_dsn, schema):
    """30 minutes for cache "shop" ending two minutes ago, and one open observation."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=32)
    write(pg_dsn, schema, minute_rows(start, 30))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        (obs_id,) = conn.execute(
            f'INSERT INTO "{schema}".cache_auditor_observations (cache_name, implementation_type, severity,'
            f" category, rule, metric, message, recommendation) VALUES ('shop', 'new', 'warning', 'performance',"
            f" 'regression_latency_p95', 'p95_response_time_ms', 'p95 of shop (new) is 2x legacy', 'profile it')"
            f" RETURNING id").fetchone()
    return start, obs_id


@pytest.fixture
def board(pg_dsn, schema):
    dashboard = Dashboard(Settings.from_env(dsn=pg_dsn, schema=schema), port=0).start()
    yield dashboard
    dashboard.stop()


def test_every_read_endpoint_answers_with_the_seeded_numbers(board, seeded):
    start, obs_id = seeded
    status, health, headers = _get(board.url + "api/health")
    assert status == 200 and health["status"] == "ok" and health["schema"] == board.schema
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"

    status, caches, _ = _get(board.url + "api/caches")
    assert caches == {"reference_implementation": "legacy", "busiest": "shop",
                      "caches": [{"cache_name": "shop", "implementations": ["legacy", "new"],
                                  "operations_24h": 30 * (120 + 121)}]}
    assert health["charts"]["name"] == "uPlot" and health["charts"]["present"] is True

    status, series, _ = _get(board.url + "api/series?range=1h&cache=shop")
    assert status == 200 and series["bucket_seconds"] == 60 and series["source"] == "1-minute rows"
    by_impl = {s["implementation_type"]: s["points"] for s in series["series"]}
    assert len(by_impl["legacy"]) == len(by_impl["new"]) == 30
    assert {p["hit_rate"] for p in by_impl["legacy"]} == {90.0} and {p["hit_rate"] for p in by_impl["new"]} == {80.0}
    assert {p["operations"] for p in by_impl["new"]} == {80 + 20 + 20 + 1}
    assert {round(p["p95_ms"] / q["p95_ms"], 9) for p, q in zip(by_impl["new"], by_impl["legacy"])} == {2.0}
    assert by_impl["legacy"][0]["t"] == start.isoformat()
    # the minute the database is in is still being written: the page leaves it out of the lines
    now = datetime.fromisoformat(health["database_time"])
    assert series["complete_before"] == now.replace(second=0, microsecond=0).isoformat()

    # a custom window and bucket: 3 buckets of 10 minutes
    q = f"from={start.isoformat()}&to={(start + timedelta(minutes=30)).isoformat()}&bucket=10m&implementation=new"
    status, custom, _ = _get(board.url + "api/series?" + q.replace("+", "%2B") + "&cache=shop")
    assert status == 200 and [p["operations"] for p in custom["series"][0]["points"]] == [1210] * 3

    status, summary, _ = _get(board.url + "api/summary?range=1h&cache=shop")
    rows = {r["implementation_type"]: r for r in summary["rows"]}
    assert rows["legacy"]["total_operations"] == 30 * 120 and rows["legacy"]["hit_rate"] == 90.0
    assert rows["new"]["error_rate"] == pytest.approx(100 * 30 / (30 * 121))

    status, compare, _ = _get(board.url + "api/compare?range=1h&cache=shop")
    (row,) = compare["rows"]
    assert (row["reference_implementation"], row["implementation_type"]) == ("legacy", "new")
    assert row["hit_rate_diff"] == pytest.approx(-10.0) and row["p95_diff_pct"] == pytest.approx(100.0)

    for rng in ("24h", "7d", "30d"):
        status, body, _ = _get(board.url + f"api/series?range={rng}&cache=shop")
        assert status == 200 and sum(p["operations"] for s in body["series"] for p in s["points"]) == 30 * (120 + 121)

    status, observations, _ = _get(board.url + "api/observations")
    assert [o["id"] for o in observations["observations"]] == [obs_id]
    assert observations["observations"][0]["recommendation"] == "profile it"


@pytest.mark.parametrize("path, status, fragment", [
    ("api/series?range=1h&cache=nope", 404, "unknown cache 'nope'"),
    ("api/series?cache=shop&implementation=other", 404, "with implementation 'other'"),
    ("api/summary?cache=nope", 404, "unknown cache"),
    ("api/compare?cache=nope", 404, "unknown cache"),
    ("api/series?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "inverted time range"),
    ("api/series?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=1d", 400, "time range too large"),
    ("api/series?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&bucket=1m", 400, "too many buckets"),
    ("api/series?bucket=5s", 400, "bucket:"),
    ("api/series?bucket=0m", 400, "bucket:"),
    ("api/series?from=yesterday", 400, "not an ISO 8601 time"),
    ("api/series?range=2y", 400, "range: one of 1h, 24h, 7d, 30d"),
    ("api/series?range=1h&from=2026-01-01T00:00:00Z", 400, "either range or from/to/bucket"),
    ("api/series?cache=a&cache=b", 400, "more than once"),
    ("api/observations?status=closed", 400, "status: open or all"),
    ("api/observations?limit=0", 400, "limit"),
    ("api/observations?limit=ten", 400, "limit"),
    ("api/nothing", 404, "no such page"),
    ("api/series?cache=x%27%3B%20DROP%20TABLE%20cache_metrics%3B--", 404, "unknown cache \"x'; DROP TABLE"),
    ("api/observations/1/ack", 405, "POST"),
    ("api/bands?range=1y", 400, "range: one of"),
])
def test_bad_parameters_get_clear_4xx_errors(board, seeded, path, status, fragment):
    got, body, _ = _get(board.url + path)
    assert got == status and body["status"] == status
    assert fragment in body["error"]


def test_acknowledging_from_the_api_and_its_guards(board, seeded, pg_dsn, schema):
    _, obs_id = seeded
    ack = board.url + f"api/observations/{obs_id}/ack"
    assert _post(board.url + "api/observations", {})[0] == 405
    assert _post(board.url + "api/observations/999999/ack", {"by": "alice"}) == \
        (404, {"error": "no observation with id 999999", "status": 404})
    assert _post(ack, {"by": "   "})[0] == 400
    assert _post(ack, ["alice"])[0] == 400
    assert _post(ack, None, raw=b"{not json")[0] == 400
    assert _post(ack, None, raw=b"x" * 5000)[0] == 413
    assert _post(ack, None, raw=b"by=alice", headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 415
    assert _post(ack, {"by": "alice"}, headers={"Origin": "http://evil.example"})[0] == 403
    assert sql_rows(pg_dsn, f'SELECT acknowledged FROM "{schema}".cache_auditor_observations')[0][0] is False

    status, body = _post(ack, {"by": "alice"}, headers={"Origin": board.url.rstrip("/")})
    assert status == 200 and body["observation"]["acknowledged_by"] == "alice"
    assert sql_rows(pg_dsn, f'SELECT acknowledged, acknowledged_by FROM "{schema}".cache_auditor_observations') == \
        [(True, "alice")]


def test_a_token_guards_acknowledging_and_is_required_off_loopback(pg_dsn, schema, seeded):
    settings = Settings.from_env(dsn=pg_dsn, schema=schema)
    with pytest.raises(ConfigurationError, match="not loopback: set a token"):
        Dashboard(settings, host="0.0.0.0", port=0)
    board = Dashboard(settings, host="0.0.0.0", port=0, token="t0ken-value").start()
    try:
        port = board.url.rsplit(":", 1)[1].rstrip("/")
        ack = f"http://127.0.0.1:{port}/api/observations/{seeded[1]}/ack"
        assert _post(ack, {"by": "mallory"})[0] == 401
        assert _post(ack, {"by": "mallory"}, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert _post(ack, {"by": "carol"}, headers={"Authorization": "Bearer t0ken-value"})[0] == 200
        status, body, _ = _get(f"http://127.0.0.1:{port}/api/health")
        assert status == 200 and "t0ken" not in json.dumps(body)
    finally:
        board.stop()
    assert "t0ken" not in repr(board)


def test_events_stream_pushes_new_minutes_and_observations(board, seeded, pg_dsn, schema):
    start, obs_id = seeded
    events: list[tuple[str, dict]] = []
    got_minute = threading.Event()

    def read() -> None:
        with urllib.request.urlopen(board.url + "api/events", timeout=20) as stream:
            event = None
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.append((event, json.loads(line[6:])))
                    if event == "observation":
                        got_minute.set()
                        return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for _ in range(50):
        if events:
            break
        threading.Event().wait(0.1)
    assert events[0] == ("status", {"live": True})
    write(pg_dsn, schema, minute_rows(start + timedelta(minutes=30), 1))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SELECT "{schema}".acknowledge_observation(%s, %s)', (obs_id, "dave"))
    assert got_minute.wait(10), events
    minute = [data for event, data in events if event == "minute"]
    # the seed's notifications may still be on their way: many rows, few events
    assert minute and all(m["caches"] == ["shop"] for m in minute) and sum(m["rows"] for m in minute) >= 2
    assert len(minute) <= 2 and max(m["latest"] for m in minute) == (start + timedelta(minutes=30)).isoformat()
    changes = [c for event, data in events if event == "observation" for c in data["changes"]]
    assert changes[-1] == {"id": obs_id, "status": "open", "severity": "warning", "acknowledged": True}


def test_database_down_is_a_503_without_the_password(schema):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dsn = f"postgresql://monitor:S3cretPassw0rd@127.0.0.1:{port}/postgres?connect_timeout=2"
    board = Dashboard(Settings.from_env(dsn=dsn, schema=schema), port=0).start()
    try:
        status, body, _ = _get(board.url + "api/caches")
        assert status == 503 and body["error"].startswith("database unavailable")
        assert "S3cretPassw0rd" not in json.dumps(body)
        assert "S3cretPassw0rd" not in repr(board)
    finally:
        board.stop()


def test_static_assets_ship_in_the_package(board):
    pages = [("", "text/html"), ("static/style.css", "text/css")] + [
        (f"static/{name}.js", "text/javascript") for name in ("app", "charts", "format", "observations")]
    for path, kind in pages:
        with urllib.request.urlopen(board.url + path, timeout=5) as response:
            body = response.read().decode()
            assert response.headers["Content-Type"].startswith(kind)
            assert "http://" not in body and "https://" not in body
    # the chart library the build fetched (hatch_build.py), served from the package
    manifest = json.loads((Path(_http.__file__).parent / "static" / "vendor" / "vendor.json").read_text())
    for path, kind in (("static/vendor/uPlot.iife.min.js", "text/javascript"), ("static/vendor/uPlot.min.css",
                                                                                 "text/css")):
        with urllib.request.urlopen(board.url + path, timeout=5) as response:
            assert response.headers["Content-Type"].startswith(kind)
            body = response.read()
        assert len(body) > 1000
    assert body.decode().startswith(".uplot") and f'UPLOT_VERSION = "{manifest["version"]}"' in HOOK.read_text()


def test_bands_are_the_observations_open_in_the_range(board, seeded, pg_dsn, schema):
    start, obs_id = seeded
    status, body, _ = _get(board.url + "api/bands?range=1h&cache=shop")
    (band,) = body["bands"]
    assert status == 200 and band["id"] == obs_id and band["status"] == "open" and band["metric"] == "p95_response_time_ms"
    start_at, window_start = datetime.fromisoformat(band["start"]), datetime.fromisoformat(band["window_start"])
    assert start_at <= datetime.fromisoformat(band["end"])
    # the rule's 15 minutes before the last complete minute, 1 minute (audit_lag) before it opened
    assert window_start == start_at.replace(second=0, microsecond=0) - timedelta(minutes=1 + 15)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # resolved before the range: no longer a band
        conn.execute(f'UPDATE "{schema}".cache_auditor_observations SET status = \'resolved\','
                     " first_seen_at = now() - interval '3 hours', resolved_at = now() - interval '2 hours'")
    assert _get(board.url + "api/bands?range=1h&cache=shop")[1]["bands"] == []
    (band,) = _get(board.url + "api/bands?range=24h&cache=shop")[1]["bands"]
    assert band["status"] == "resolved" and band["end"] < body["to"]
    assert _get(board.url + "api/bands?range=24h&cache=other")[1]["bands"] == []


def test_without_the_built_chart_library_the_page_says_what_to_run(board, monkeypatch, tmp_path):
    static = Path(_http.__file__).parent / "static"
    for name in ("index.html", "app.js", "style.css"):
        (tmp_path / name).write_bytes((static / name).read_bytes())
    monkeypatch.setattr(_http, "STATIC", tmp_path)  # a source tree nobody built: no vendor/
    status, body, headers = _get(board.url + "static/vendor/uPlot.iife.min.js")
    assert status == 404 and "pip install -e ." in body["error"] and headers["Content-Type"] == "application/json"
    status, health, _ = _get(board.url + "api/health")
    assert health["charts"]["present"] is False and "pip install -e ." in health["charts"]["fix"]


def _serve(args: list[str], env: dict[str, str], until: str, timeout: float = 90) -> tuple[subprocess.Popen, str]:
    """Start the CLI, wait for a line containing ``until``; returns the process and what it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "otel_supabase_exporter", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            out.append(line)
            if until in line:
                break
    finally:
        timer.cancel()
    return proc, "".join(out)


def test_cli_dashboard_and_demo_with_the_dashboard(pg_dsn, schema, seeded):
    env = {"OTEL_EXPORTER_SUPABASE_DSN": pg_dsn, "OTEL_EXPORTER_SUPABASE_SCHEMA": schema}
    proc, out = _serve(["dashboard", "--port", "0"], env, "dashboard: ")
    try:
        url = out.split("dashboard: ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert _get(url + "api/caches")[1]["caches"][0]["cache_name"] == "shop"
    finally:
        proc.terminate()
        proc.wait(10)

    refused = subprocess.run([sys.executable, "-m", "otel_supabase_exporter", "dashboard", "--host", "0.0.0.0"],
                             env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "not loopback: set a token" in refused.stderr

    proc, out = _serve(["demo", "--dashboard", "--port", "0", "--seconds", "3"], env, "the workload is done")
    try:
        assert "the workload is done" in out, out
        url = out.split("dashboard: ", 1)[1].split()[0]
        status, series, _ = _get(url + "api/series?range=1h&cache=semantic")
        assert status == 200 and {s["implementation_type"] for s in series["series"]} == {"legacy", "new"}
    finally:
        proc.terminate()
        proc.wait(10)
