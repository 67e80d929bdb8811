"""The dashboard in headless Chromium (Debian's, driven by Playwright): the charts (uPlot) hold the
database's values (read from the uPlot instances and the legend under the cursor, compared with SQL),
a minute written during the test appears without a reload, acknowledging through the form changes
the database, and an empty database says what to do. Each test saves a screenshot under its tmp
dir. The browser runs in Asia/Tehran (UTC+03:30), so UTC and local time differ visibly.
tests/test_dashboard_charts.py has the interactions (cursor, zoom, gaps, toggles, bands, axe)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import POINTS_JS  # noqa: E402
from conftest import new_schema_name, sql_rows
from otel_supabase_exporter import Settings, migrate
from otel_supabase_exporter.show.dashboard import Dashboard
from otel_supabase_exporter.rows import MinuteRow
from otel_supabase_exporter.demo.synthetic import Fault, Profile, generate
from otel_supabase_exporter.store.writer import PostgresWriter

UTC = timezone.utc
pytest_plugins = ["browser_support"]  # the browser and page fixtures


def _write(dsn: str, schema: str, rows: list[MinuteRow]) -> None:
    writer = PostgresWriter(Settings.from_env(dsn=dsn, schema=schema))
    try:
        for i in range(0, len(rows), 10_000):
            writer.write_minutes(rows[i:i + 10_000], [], uuid.uuid4())
    finally:
        writer.close()


@pytest.fixture(scope="module")
def seeded(pg_dsn):
    """Two days of "checkout" (legacy and new, new slower for the last 3 hours), the auditor run over them."""
    schema = new_schema_name()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        migrate(conn, schema)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(days=2)
    profiles = [Profile("checkout", "legacy"),
                Profile("checkout", "new", faults=(Fault("latency", end - timedelta(hours=3), end, 1.8),)),
                Profile("search", "legacy", peak_ops_per_minute=300)]
    rows = [r for p in profiles for r in generate(p, start, end, seed=7)]
    _write(pg_dsn, schema, rows)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".maintenance_settings SET baseline_min_samples = 600')
        conn.execute(f'SELECT "{schema}".rollup_hours(100000)')
        conn.execute(f'SELECT "{schema}".refresh_baselines(%s)', (end - timedelta(hours=4),))
        conn.execute(f'SELECT * FROM "{schema}".run_auditor(%s)', (end,))
    board = Dashboard(Settings.from_env(dsn=pg_dsn, schema=schema), port=0).start()
    yield board, rows, end
    board.stop()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _points(page, implementation: str, metric: str) -> dict[str, float]:
    """The non-null values of one line of the charts, by bucket start (ISO, as the API writes it)."""
    return {datetime.fromtimestamp(t, UTC).isoformat(): v for t, v in page.evaluate(POINTS_JS, [implementation, metric])}


def test_charts_and_tables_show_the_seeded_values(seeded, page):
    board, rows, end = seeded
    page.goto(board.url + "#range=1h&cache=checkout")
    page.wait_for_selector("body[data-loaded]")
    window_from = datetime.fromisoformat(page.get_attribute("#summary", "data-from"))
    window_to = datetime.fromisoformat(page.get_attribute("#summary", "data-to"))
    for impl in ("legacy", "new"):
        mine = [r for r in rows if r.cache_name == "checkout" and r.implementation_type == impl
                and window_from <= r.minute_window < window_to]
        assert len(mine) >= 50
        expected_hit = {r.minute_window.isoformat(): 100.0 * r.hits / (r.hits + r.misses) for r in mine}
        assert _points(page, impl, "hit_rate") == pytest.approx(expected_hit, rel=1e-12)
        ops = {r.minute_window.isoformat(): float(r.hits + r.misses + r.sets + r.deletes + r.errors) for r in mine}
        assert _points(page, impl, "ops_per_minute") == ops
        assert len(_points(page, impl, "p95_ms")) == len(mine)
        cells = page.eval_on_selector_all(
            f'#summary tr[data-implementation="{impl}"] td[data-value]',
            "nodes => Object.fromEntries(nodes.map(n => [n.dataset.metric, Number(n.dataset.value)]))")
        assert cells["operations"] == sum(ops.values())
        hits, lookups = sum(r.hits for r in mine), sum(r.hits + r.misses for r in mine)
        assert cells["hit_rate"] == pytest.approx(100.0 * hits / lookups, rel=1e-12)
        shown = page.inner_text(f'#summary tr[data-implementation="{impl}"] td[data-metric="hit_rate"]')
        assert shown == f"{100.0 * hits / lookups:.1f}"
    # the slower new implementation, side by side with legacy
    p95_diff = float(page.get_attribute('#compare tr[data-implementation="new"] td[data-metric="p95_diff_pct"]',
                                        "data-value"))
    assert 50 < p95_diff < 110
    assert page.is_hidden("#empty")
    # the auditor's findings, with message and recommendation
    items = page.locator("#observations li")
    assert items.count() >= 1
    texts = page.inner_text("#observations")
    assert "checkout (new)" in texts and "p95 latency of checkout (new)" in texts


def test_a_new_minute_appears_without_reload(seeded, page, pg_dsn):
    board, rows, end = seeded
    page.goto(board.url + "#range=1h&cache=checkout")
    page.wait_for_selector("body[data-loaded]")
    page.evaluate("window.__not_reloaded = true")
    minute = end + timedelta(minutes=2)
    assert minute.isoformat() not in _points(page, "legacy", "hit_rate")
    written = time.monotonic()
    _write(pg_dsn, board.schema, [MinuteRow(minute, "checkout", "legacy", "browser-test", hits=77, misses=23,
                                            sets=5, latency_count=0)])
    while minute.isoformat() not in _points(page, "legacy", "hit_rate") and time.monotonic() - written < 10:
        time.sleep(0.05)
    shown_after = time.monotonic() - written
    print(f"a written minute was on the page {shown_after:.2f} s after its commit")
    assert shown_after < 5
    assert _points(page, "legacy", "hit_rate")[minute.isoformat()] == 77.0
    assert page.evaluate("window.__not_reloaded") is True
    assert page.inner_text("#live") == "live"


def test_acknowledging_on_the_page_changes_the_database(seeded, page, pg_dsn):
    board, rows, end = seeded
    page.goto(board.url + "#range=24h&cache=checkout")
    page.wait_for_selector("#observations li[data-acknowledged='false'] button.ack-button")
    item = page.locator("#observations li[data-acknowledged='false']").first
    obs_id = int(item.get_attribute("data-id"))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    item.locator("button.ack-button").click()  # no name yet: the form says so, nothing is sent
    assert "enter who acknowledges" in item.locator(".ack-message").inner_text()
    item.locator("input[name=by]").fill("alice")
    item.locator("button.ack-button").click()
    page.wait_for_selector(f"#observations li[data-id='{obs_id}'][data-acknowledged='true']", timeout=10_000)
    assert "acknowledged by alice" in page.inner_text(f"#observations li[data-id='{obs_id}']")
    assert dialogs == []  # a form on the page, never the browser's prompt()
    assert sql_rows(pg_dsn, f'SELECT acknowledged, acknowledged_by FROM "{board.schema}".cache_auditor_observations'
                            f" WHERE id = %s", (obs_id,)) == [(True, "alice")]


def test_ranges_read_hour_rows_for_days(seeded, page):
    board, rows, end = seeded
    page.goto(board.url + "#range=7d&cache=checkout")
    page.wait_for_selector("body[data-loaded]")
    assert "60 min buckets from 1-hour rows" in page.inner_text("#range-label")
    hourly = _points(page, "legacy", "ops_per_minute")
    assert 46 <= len(hourly) <= 49  # two days of hours (the hour still being written left out)
    page.click("#ranges button[data-range='30d']")
    page.wait_for_selector("#range-label:has-text('360 min buckets from 1-hour rows')")
    assert 7 <= len(_points(page, "legacy", "ops_per_minute")) <= 10


def test_an_empty_database_says_what_to_do(pg_dsn, schema, page):
    board = Dashboard(Settings.from_env(dsn=pg_dsn, schema=schema), port=0).start()
    try:
        page.goto(board.url)
        page.wait_for_selector("#empty:not([hidden])")
        text = page.inner_text("#empty")
        assert "No data yet" in text and "otel-supabase-exporter doctor" in text
        assert page.is_hidden("#overview")
        assert page.inner_text("#footer").startswith(f"Data from PostgreSQL schema {schema};")
    finally:
        board.stop()
