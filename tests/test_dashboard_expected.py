"""The baseline the auditor judges against, drawn on the dashboard: after 13 hours of history and a
real ``refresh_baselines``, the dotted "expected" lines under the cursor and ``/api/series``'
``expected`` show the active baseline of the bucket's hour of the week (else the overall one), read
back from the baseline table; a cache without baselines draws no expected line."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

pytest.register_assert_rewrite("browser_support")
from conftest import sql_rows  # noqa: E402
from otel_supabase_exporter.judge.auditor import refresh_baselines  # noqa: E402
from otel_supabase_exporter.rows import MinuteRow  # noqa: E402
from test_dashboard_api import served  # noqa: E402

pytest_plugins = ["browser_support"]
UTC = timezone.utc
HOURS = 13


def _rows(first: datetime, minutes: int) -> list[MinuteRow]:
    rows = []
    for m in range(minutes):
        t = first + timedelta(minutes=m)
        for impl, hits in (("legacy", 60 + (m * 7) % 20), ("new", 80 + (m * 3) % 15)):
            rows.append(MinuteRow(t, "shop", impl, "svc", hits=hits, misses=100 - hits, sets=10, errors=m % 2,
                                  latency_count=0))
    return rows


@pytest.fixture(scope="module")
def board(pg_dsn):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    quiet = [MinuteRow(now - timedelta(minutes=m), "quiet", "legacy", "svc", hits=5, misses=1, latency_count=0)
             for m in range(2, 30)]
    with served(pg_dsn, _rows(now - timedelta(hours=HOURS), HOURS * 60 - 2), quiet) as dashboard:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            assert refresh_baselines(conn, dashboard.schema, force=True) > 0
        yield dashboard, now


def _baseline(pg_dsn: str, schema: str, impl: str, minute: datetime) -> tuple:
    """The active baseline of the minute's hour of the week, else the overall one, chosen here in Python."""
    rows = {how: rest for how, *rest in sql_rows(
        pg_dsn, f'SELECT hour_of_week, hit_rate, error_rate, throughput_per_minute FROM "{schema}".cache_baseline_metrics'
                " WHERE is_active AND cache_name = 'shop' AND implementation_type = %s", (impl,))}
    middle = minute + timedelta(seconds=30)
    how = middle.weekday() * 24 + middle.hour
    return tuple(rows[how] if how in rows else rows[None])


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_the_api_gives_each_bucket_its_baseline_and_none_without_one(board, pg_dsn):
    dashboard, now = board
    data = _get(dashboard.url + "api/series?cache=shop&range=1h")
    for series in data["series"]:
        impl = series["implementation_type"]
        assert len(series["expected"]) == 60  # every bucket of the range, data or not
        for point in series["expected"][::7]:
            t = datetime.fromisoformat(point["t"])
            assert (point["hit_rate"], point["error_rate"], point["ops_per_minute"]) \
                == pytest.approx(_baseline(pg_dsn, dashboard.schema, impl, t))
    assert all("expected" not in s for s in _get(dashboard.url + "api/series?cache=quiet&range=1h")["series"])


def test_the_expected_line_under_the_cursor_is_the_baseline(board, page, pg_dsn):
    dashboard, now = board
    page.goto(dashboard.url + "#range=1h&cache=shop")
    page.wait_for_selector("body[data-loaded]")
    page.wait_for_function("() => window.dashboard.charts.size > 0")
    minute = now - timedelta(minutes=15)
    chart = "window.dashboard.charts.get('hit').u"
    page.locator("#chart-hit").scroll_into_view_if_needed()
    x, y = page.evaluate(f"""t => {{ const u = {chart}; const r = u.over.getBoundingClientRect();
        return [r.left + u.valToPos(t, "x"), r.top + r.height / 2]; }}""", (minute + timedelta(seconds=5)).timestamp())
    page.mouse.move(x, y)
    legend = dict(page.evaluate(f"""() => Array.from({chart}.root.querySelectorAll(".u-series"))
        .map(tr => [tr.querySelector(".u-label").textContent, tr.querySelector(".u-value").textContent])"""))
    for impl in ("legacy", "new"):
        assert legend[f"{impl} expected"] == f"{_baseline(pg_dsn, dashboard.schema, impl, minute)[0]:.1f} %"
    # the measured lines and the difference to the reference leave the expected ones out
    assert page.inner_text("#chart-hit .diff").startswith("new − legacy: ")
    assert "expected" not in page.inner_text("#chart-hit .diff")
    page.select_option("#cache", "quiet")
    page.wait_for_function("() => !document.querySelector('#chart-hit .u-legend')"
                           " || !document.querySelector('#chart-hit .u-legend').textContent.includes('expected')")
