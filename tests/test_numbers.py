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
