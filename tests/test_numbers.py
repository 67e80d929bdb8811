"""Numbers with one definition: the CLI summary, the dashboard's table and its charts count the same
operations over the same range (the current minute and hour included, for 7 days too), and
throughput is the operations divided by the range's minutes (Prometheus' rate() convention)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from otel_supabase_exporter import Settings
from otel_supabase_exporter.judge.maintenance import maintain
from otel_supabase_exporter.judge.summary import performance_summary
from otel_supabase_exporter.show.dashboard import Dashboard
from test_dashboard_api import minute_rows, write

UTC = timezone.utc


def _totals(rows: list[dict]) -> dict[tuple[str, str], int]:
    return {(r["cache_name"], r["implementation_type"]): r["total_operations"] for r in rows}


@pytest.fixture
def history(pg_dsn, schema):
    """Every minute of the last 150 minutes, the current one included, rolled up where complete."""
    if datetime.now(UTC).second > 50:  # all reads below happen within the same minute
        time.sleep(61 - datetime.now(UTC).second)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write(pg_dsn, schema, minute_rows(now - timedelta(minutes=149), 150))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        maintain(conn, schema)
    return now


@pytest.mark.parametrize(("range_", "minutes"), [("1h", 60), ("7d", 150)])
def test_cli_summary_dashboard_table_and_charts_agree(pg_dsn, schema, history, range_, minutes):
    board = Dashboard(Settings.from_env(dsn=pg_dsn, schema=schema), port=0).start()
    try:
        table = board.api_summary({"range": [range_]})
        charts = board.api_series({"range": [range_]})
    finally:
        board.stop()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        cli = performance_summary(conn, schema, window=timedelta(hours=1) if range_ == "1h" else timedelta(days=7))
    per_minute = 100 + 20 + 0  # minute_rows: 100 lookups and 20 sets a minute (+ errors for "new")
    assert _totals(cli) == _totals(table["rows"])
    chart_totals = {(s["cache_name"], s["implementation_type"]): sum(p["operations"] for p in s["points"])
                    for s in charts["series"]}
    assert chart_totals == _totals(table["rows"])
    assert _totals(table["rows"])[("shop", "legacy")] == per_minute * minutes  # the current minute/hour counted
    range_minutes = (table["to"] - table["from"]).total_seconds() / 60
    for r in table["rows"]:
        assert r["throughput_per_minute"] == pytest.approx(r["total_operations"] / range_minutes)


def _cli_summary(capsys, dsn: str, schema: str, window: str) -> dict[tuple[str, str], tuple[int, float]]:
    """(ops, ops/min) per cache and implementation, read off the printed table of `summary`."""
    from otel_supabase_exporter.show.cli import main

    capsys.readouterr()
    assert main(["summary", "--dsn", dsn, "--schema", schema, "--window", window]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:4] == ["cache", "impl", "ops", "ops/min"]
    return {(cells[0], cells[1]): (int(cells[2]), float(cells[3])) for cells in map(str.split, lines[2:])}


def _http_json(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


@pytest.mark.parametrize(("range_", "range_minutes"), [("1h", 60), ("24h", 1440)])
def test_cli_ops_per_minute_matches_the_dashboards_json_and_charts(pg_dsn, schema, history, capsys, range_,
                                                                   range_minutes):
    """The CLI's ops/min column, the dashboard's table (/api/summary) and its charts (/api/series),
    read over HTTP from a real server, give the same operations and the same ops/min."""
    board = Dashboard(Settings.from_env(dsn=pg_dsn, schema=schema), port=0).start()
    try:
        table = _http_json(board.url + f"api/summary?range={range_}")
        charts = _http_json(board.url + f"api/series?range={range_}")
    finally:
        board.stop()
    cli = _cli_summary(capsys, pg_dsn, schema, range_)
    assert set(cli) == {("shop", "legacy"), ("shop", "new")}
    bucket_minutes = charts["bucket_seconds"] / 60
    assert range_minutes % bucket_minutes == 0  # whole buckets: each point's rate is over its whole bucket
    for row in table["rows"]:
        key = (row["cache_name"], row["implementation_type"])
        ops, ops_per_minute = cli[key]
        assert ops == row["total_operations"] == min(150, range_minutes) * (120 if key[1] == "legacy" else 121)
        assert ops_per_minute == pytest.approx(ops / range_minutes, abs=0.05)  # printed to one decimal
        assert row["throughput_per_minute"] == pytest.approx(ops / range_minutes)
        points = next(s["points"] for s in charts["series"]
                      if (s["cache_name"], s["implementation_type"]) == key)
        assert sum(p["operations"] for p in points) == ops
        chart_rate = sum(p["ops_per_minute"] * bucket_minutes for p in points) / range_minutes
        assert chart_rate == pytest.approx(row["throughput_per_minute"])
