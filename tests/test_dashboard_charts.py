"""The dashboard's charts in headless Chromium, against numbers written for the purpose and read back
with SQL: the legend under the mouse shows the database's values, dragging zooms the charts and the
table, a missing stretch of minutes stays a gap (no line pixels in it), a legend click hides a line,
an observation the auditor opens during the test appears as a band, the page passes axe-core, fits a
390-px phone, lets screenshot tools reach network idle, and says what to do when something is missing."""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import TIMEZONE, axe_source  # noqa: E402
from conftest import new_schema_name, sql_rows, wait_for_minute_room  # noqa: E402
from faults import own_server  # noqa: E402
from otel_supabase_exporter import Settings, migrate  # noqa: E402
from otel_supabase_exporter.histogram import ExpHistogram  # noqa: E402
from otel_supabase_exporter.rows import MinuteRow  # noqa: E402
from otel_supabase_exporter.show import _http  # noqa: E402
from otel_supabase_exporter.show.dashboard import Dashboard  # noqa: E402
from test_dashboard_api import served, write  # noqa: E402

pytest_plugins = ["browser_support"]
UTC = timezone.utc
MINUTES = 90
GAP = range(50, 60)  # minutes of "alpha" never written
LEGACY_RGB, NEW_RGB = (0x35, 0x58, 0xA8), (0xD9, 0x48, 0x0F)  # charts.js IMPLEMENTATION_COLORS


def _rows(first: datetime) -> list[MinuteRow]:
    """checkout: legacy and new, every minute different, with latency and size; alpha: a quiet cache
    (alphabetically first, not the busiest) without latency or size, and a gap."""
    rows = []
    for m in range(MINUTES):
        t = first + timedelta(minutes=m)
        for impl, base, offset, errors in (("legacy", 70, -72, 0), ("new", 55, -62, 2)):
            hits = base + (m * 7) % 25
            hist = ExpHistogram(3, offset + m % 5, (10, 100, 10 + m % 7))
            rows.append(MinuteRow(t, "checkout", impl, "svc", hits=hits, misses=100 - hits, sets=20,
                                  errors=errors + m % 3, latency_count=hist.total, latency_sum_ms=hist.total * 2.0,
                                  min_response_time_ms=0.1, max_response_time_ms=50.0, cache_size=1000 + m,
                                  histogram=hist))
        if m not in GAP:
            rows.append(MinuteRow(t, "alpha", "legacy", "svc", hits=8 + m % 3, misses=2, sets=1, latency_count=0))
    return rows


@pytest.fixture(scope="module")
def board(pg_dsn):
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=MINUTES + 2)
    with served(pg_dsn, _rows(first)) as dashboard:
        yield dashboard, first


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-loaded]")
    page.wait_for_function("() => window.dashboard.charts.size > 0")


def _chart(page, panel: str) -> str:
    """A JS expression for the uPlot instance of a panel."""
    return f"window.dashboard.charts.get({panel!r}).u"


def _x(page, panel: str, t: datetime) -> tuple[float, float]:
    """The viewport position of time t in the middle of a panel's plot."""
    page.locator(f"#chart-{panel}").scroll_into_view_if_needed()
    return tuple(page.evaluate(f"""t => {{ const u = {_chart(page, panel)}; const r = u.over.getBoundingClientRect();
        return [r.left + u.valToPos(t, "x"), r.top + r.height / 2]; }}""", t.timestamp()))


def _legend(page, panel: str) -> dict[str, str]:
    return dict(page.evaluate(f"""() => Array.from({_chart(page, panel)}.root.querySelectorAll(".u-series"))
        .map(tr => [tr.querySelector(".u-label").textContent, tr.querySelector(".u-value").textContent])"""))


def _pixels(page, panel: str, rgb: tuple[int, int, int], between: tuple[datetime, datetime] | None = None) -> int:
    """How many canvas pixels of a panel have the colour rgb (within a small tolerance), in a time span."""
    span = [between[0].timestamp(), between[1].timestamp()] if between else None
    return page.evaluate(f"""([rgb, span]) => {{
        const u = {_chart(page, panel)}, c = u.ctx.canvas;
        const x0 = span ? Math.ceil(u.valToPos(span[0], "x", true)) : 0;
        const x1 = span ? Math.floor(u.valToPos(span[1], "x", true)) : c.width;
        const d = u.ctx.getImageData(x0, 0, Math.max(1, x1 - x0), c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {{
            if (Math.abs(d[i] - rgb[0]) < 24 && Math.abs(d[i + 1] - rgb[1]) < 24 && Math.abs(d[i + 2] - rgb[2]) < 24) n++;
        }}
        return n; }}""", [list(rgb), span])


def _series(pg_dsn: str, schema: str, begin: datetime, end: datetime, cache: str = "checkout") -> dict:
    rows = sql_rows(pg_dsn, f'SELECT implementation_type, hit_rate, p50_response_time_ms, p95_response_time_ms,'
                            f' p99_response_time_ms, throughput_per_minute, total_operations'
                            f' FROM "{schema}".cache_series(%s, %s, %s, %s)', (begin, end, end - begin, cache))
    return {r[0]: r[1:] for r in rows}


def test_the_page_starts_on_the_busiest_cache_and_draws_size_only_where_known(board, page):
    dashboard, first = board
    _open(page, dashboard.url)
    assert page.input_value("#cache") == "checkout"  # "alpha" comes first in the list, but is quiet
    panels = page.get_attribute("#charts", "data-panels").split()
    assert panels == ["hit", "ops", "errors", "latency-0", "latency-1", "size"]
    page.select_option("#cache", "alpha")
    page.wait_for_function("() => document.querySelector('#charts').dataset.panels === 'hit ops errors latency-0'")
    assert "size" not in page.get_attribute("#charts", "data-panels")
    # alpha's operations carry no durations: the latency panel says so instead of drawing an empty chart
    assert "No latency measured for legacy" in page.inner_text("#chart-latency-0")
    assert page.locator("#chart-latency-0 canvas").count() == 0


def test_values_under_the_cursor_equal_the_database(board, page, pg_dsn):
    dashboard, first = board
    _open(page, dashboard.url + "#range=1h&cache=checkout")
    minute = first + timedelta(minutes=MINUTES - 20)
    page.mouse.move(*_x(page, "hit", minute + timedelta(seconds=5)))
    expected = _series(pg_dsn, dashboard.schema, minute, minute + timedelta(minutes=1))
    hit = _legend(page, "hit")
    assert hit["time"] == f"{minute.day} {minute:%b %H:%M} UTC"
    for impl in ("legacy", "new"):
        assert hit[impl] == f"{expected[impl][0]:.1f} %"
        assert _legend(page, "ops")[impl] == f"{expected[impl][4]:.0f} ops/min"
    # the difference to the reference at that minute, under the overlaid chart
    assert page.inner_text("#chart-hit .diff") == (f"new − legacy: {expected['new'][0] - expected['legacy'][0]:+.2f} pts"
                                                   f" at {minute.day} {minute:%b %H:%M}")
    # the cursors are in sync: the latency panel of "new" (the second) shows the same minute's percentiles
    latency = _legend(page, "latency-1")
    assert latency["time"] == hit["time"]
    assert [latency[p] for p in ("p50", "p95", "p99")] == [f"{v:.3f} ms" for v in expected["new"][1:4]]
    # and the exact numbers behind the text
    shown = page.evaluate(f"() => {{ const u = {_chart(page, 'latency-1')}; const i = u.cursor.idx;"
                          " return [u.data[0][i], u.data[1][i], u.data[2][i], u.data[3][i]]; }")
    assert shown == [minute.timestamp(), *expected["new"][1:4]]


def test_ticks_are_few_readable_and_carry_units(board, page):
    dashboard, first = board
    _open(page, dashboard.url + "#range=1h&cache=checkout")
    ticks = page.evaluate("() => Array.from(window.dashboard.charts.entries()).map(([id, {u, panel}]) =>"
                          " [id, panel.unit, u.axes[0]._values, u.axes[1]._values])")
    assert len(ticks) == 6
    for panel, unit, xs, ys in ticks:
        assert 4 <= len(ys) <= 6 and all(y.endswith(" " + unit) for y in ys), (panel, ys)
        assert 4 <= len(xs) <= 7 and all(x[:5].replace(":", "").isdigit() for x in xs), (panel, xs)
        assert page.evaluate(f"() => {_chart(page, panel)}.axes[1].font[0]") == "12px system-ui, sans-serif"


def test_the_minute_being_written_is_left_out_of_the_lines_and_marked(board, page):
    dashboard, first = board
    wait_for_minute_room(15)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # the current minute, and a complete one just before it (the fixture's rows may be minutes old by now)
    write(dashboard.settings.dsn, dashboard.schema,
          [MinuteRow(now, "alpha", "legacy", "svc", hits=1, misses=9, latency_count=0),
           MinuteRow(now - timedelta(minutes=3), "alpha", "legacy", "svc", hits=1, misses=1, latency_count=0)])
    _open(page, dashboard.url + "#range=1h&cache=alpha")
    ops = page.get_attribute('#summary tr[data-implementation="legacy"] td[data-metric="operations"]', "data-value")
    last = page.evaluate(f"() => {{ const u = {_chart(page, 'hit')}; const n = u.data[0].length;"
                         " return [u.data[0][n - 1], u.data[1][n - 1], u.data[1][n - 4]]; }")
    assert last[0] == now.timestamp() and last[1] is None and last[2] is not None  # left out of the line...
    begin = datetime.fromisoformat(page.get_attribute("#summary", "data-from"))
    before = _series(dashboard.settings.dsn, dashboard.schema, begin, now, cache="alpha")["legacy"][5]
    assert int(ops) == before + 10  # the table counts the current minute (as the CLI's summary does)
    partial = page.locator("#chart-hit .u-under .partial").bounding_box()  # ...and hatched at the right
    plot = page.locator("#chart-hit .u-over").bounding_box()
    assert partial["x"] + partial["width"] == pytest.approx(plot["x"] + plot["width"], abs=1.5)
    assert partial["width"] == pytest.approx(plot["width"] / 60, abs=1.5)


def test_the_page_recovers_from_a_database_outage_by_itself(page, tmp_path_factory):
    srv = next(gen := own_server(tmp_path_factory, "outage"))
    try:
        schema = new_schema_name()
        with psycopg.connect(srv.dsn, autocommit=True) as conn:
            migrate(conn, schema)
        write(srv.dsn, schema, _rows(datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30))[:60])
        dashboard = Dashboard(Settings.from_env(dsn=srv.dsn, schema=schema), port=0).start()
        try:
            _open(page, dashboard.url)
            page.wait_for_selector("#live.on")
            srv.stop()
            page.wait_for_selector("#live.off", timeout=15_000)  # the event stream says the server lost LISTEN
            page.evaluate("reload()")
            page.wait_for_selector("#error:has-text('database does not answer')", timeout=15_000)
            assert "tries again by itself" in page.inner_text("#error")
            loaded = page.get_attribute("body", "data-loaded")
            srv.start()
            page.wait_for_selector("#error", state="hidden", timeout=30_000)
            page.wait_for_selector("#live.on", timeout=30_000)
            assert page.get_attribute("body", "data-loaded") != loaded
            assert page.locator("#summary tbody tr").count() == 2
        finally:
            dashboard.stop()
    finally:
        gen.close()


def test_dragging_zooms_the_charts_and_the_table(board, page, pg_dsn):
    dashboard, first = board
    _open(page, dashboard.url + "#range=1h&cache=checkout")
    a, b = first + timedelta(minutes=MINUTES - 40), first + timedelta(minutes=MINUTES - 25)
    page.mouse.move(*_x(page, "ops", a + timedelta(seconds=20)))
    page.mouse.down()
    page.mouse.move(*_x(page, "ops", b + timedelta(seconds=20)), steps=8)
    page.mouse.up()
    end = b + timedelta(minutes=1)
    page.wait_for_selector(f"#summary[data-from='{a.isoformat()}'][data-to='{end.isoformat()}']", timeout=10_000)
    assert page.is_visible("#unzoom") and page.get_attribute("#ranges button[data-range='1h']", "aria-pressed") == "false"
    assert page.evaluate(f"() => [{_chart(page, 'hit')}.scales.x.min, {_chart(page, 'hit')}.scales.x.max]") == [
        a.timestamp(), end.timestamp()]
    expected = _series(pg_dsn, dashboard.schema, a, end)
    for impl in ("legacy", "new"):
        cell = page.get_attribute(f'#summary tr[data-implementation="{impl}"] td[data-metric="operations"]', "data-value")
        assert int(cell) == expected[impl][5]
    assert expected["legacy"][5] == sum(120 + m % 3 for m in range(MINUTES - 40, MINUTES - 24))  # the 16 minutes
    assert "from=" in page.url and "range=" not in page.url  # the zoomed range is in the link
    page.click("#unzoom")
    page.wait_for_selector("#ranges button[data-range='1h'][aria-pressed='true']")
    page.wait_for_function(f"() => {_chart(page, 'hit')}.scales.x.max - {_chart(page, 'hit')}.scales.x.min === 3600")


def test_a_gap_stays_a_gap(board, page):
    dashboard, first = board
    _open(page, dashboard.url + "#range=1h&cache=alpha")
    values = dict(page.evaluate(f"() => {_chart(page, 'hit')}.data[0].map((t, i) => [t, {_chart(page, 'hit')}.data[1][i]])"))
    for m in range(MINUTES - 55, MINUTES):
        t = (first + timedelta(minutes=m)).timestamp()
        assert (values[t] is None) == (m in GAP), m
    gap = (first + timedelta(minutes=GAP.start + 1), first + timedelta(minutes=GAP.stop - 1))
    before = (first + timedelta(minutes=GAP.start - 8), first + timedelta(minutes=GAP.start - 2))
    assert _pixels(page, "hit", LEGACY_RGB, before) > 20  # the line is there before the gap...
    assert _pixels(page, "hit", LEGACY_RGB, gap) == 0  # ...and nothing joins across it


def test_a_legend_click_hides_a_line_and_it_stays_hidden(board, page):
    dashboard, first = board
    _open(page, dashboard.url + "#range=1h&cache=checkout")
    assert _pixels(page, "hit", NEW_RGB) > 100 and _pixels(page, "hit", LEGACY_RGB) > 100
    page.locator("#chart-hit .u-series", has_text="new").locator(".u-label").click()
    assert page.evaluate(f"() => {_chart(page, 'hit')}.series.map(s => s.show)") == [True, True, False]
    assert _pixels(page, "hit", NEW_RGB) == 0 and _pixels(page, "hit", LEGACY_RGB) > 100
    assert _pixels(page, "ops", NEW_RGB) > 100  # only that chart's line
    page.evaluate("reload()")  # what a live update does
    page.wait_for_function("() => Number(document.body.dataset.loaded) > Date.now() - 2000")
    assert page.evaluate(f"() => {_chart(page, 'hit')}.series[2].show") is False
    page.locator("#chart-hit .u-series", has_text="new").locator(".u-label").click()
    assert _pixels(page, "hit", NEW_RGB) > 100


def test_utc_and_local_time_are_switched_and_named(board, page):
    dashboard, first = board
    _open(page, dashboard.url + "#range=1h&cache=checkout")
    assert page.inner_text("#zone-name") == "times in UTC"
    assert page.evaluate(f"() => {_chart(page, 'hit')}.axes[0].label") == "time (UTC)"
    minute = first + timedelta(minutes=MINUTES - 10)
    page.mouse.move(*_x(page, "hit", minute))
    assert _legend(page, "hit")["time"].endswith(f"{minute:%H:%M} UTC")
    page.click("#zone button[data-zone='local']")
    page.wait_for_selector("#zone button[data-zone='local'][aria-pressed='true']")
    assert page.inner_text("#zone-name") == f"times in {TIMEZONE} (UTC+03:30)"
    # the axis label is drawn on the canvas: read it from the chart, redrawn once the page has reloaded
    page.wait_for_function(f"() => {_chart(page, 'hit')}.axes[0].label === 'time ({TIMEZONE})'", timeout=10_000)
    page.mouse.move(*_x(page, "hit", minute))
    local = minute + timedelta(hours=3, minutes=30)
    assert _legend(page, "hit")["time"] == f"{local.day} {local:%b %H:%M} {TIMEZONE}"
    assert "tz=local" in page.url
    page.goto(dashboard.url + "#range=24h&cache=checkout")  # an edited link: the page follows it
    page.wait_for_selector("#ranges button[data-range='24h'][aria-pressed='true']")
    page.wait_for_selector("#zone button[data-zone='utc'][aria-pressed='true']")
    page.wait_for_function(f"() => {_chart(page, 'hit')}.scales.x.max - {_chart(page, 'hit')}.scales.x.min === 86400")


def test_an_observation_band_appears_when_the_auditor_opens_one(board, page, pg_dsn):
    dashboard, first = board
    _open(page, dashboard.url + "#range=1h&cache=alpha")
    assert page.locator("#chart-errors .band").count() == 0
    # an error burst in the last complete minutes, then the auditor, as `maintain` runs it
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write(pg_dsn, dashboard.schema, [MinuteRow(now - timedelta(minutes=m), "alpha", "legacy", "svc", hits=50,
                                               misses=10, errors=40, latency_count=0) for m in range(2, 8)])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        opened = dict(conn.execute(f'SELECT * FROM "{dashboard.schema}".run_auditor(now())').fetchall())["opened"]
        (obs_id,) = conn.execute(f'SELECT id FROM "{dashboard.schema}".cache_auditor_observations'
                                 " WHERE cache_name = 'alpha' AND rule = 'error_rate_high'").fetchone()
    assert opened >= 1
    band = page.wait_for_selector(f"#chart-errors .u-under .band[data-observation-id='{obs_id}']", timeout=10_000)
    assert "critical" in band.get_attribute("class")
    box, plot = band.bounding_box(), page.locator("#chart-errors .u-over").bounding_box()
    assert box["width"] >= 2 and box["x"] + box["width"] <= plot["x"] + plot["width"] + 1
    assert page.locator("#chart-hit .band").count() == 0  # an error finding marks the error chart
    judged = page.locator("#chart-errors .u-under .band-window").bounding_box()  # the 5 minutes judged, before it
    assert judged["x"] + judged["width"] == pytest.approx(box["x"], abs=1.5) and judged["width"] > box["width"]
    page.click(f"#chart-errors .band-links a[data-observation-id='{obs_id}']")
    assert page.evaluate("document.activeElement.id") == f"obs-{obs_id}"


def test_no_serious_accessibility_violation(board, page):
    dashboard, first = board
    source = axe_source()
    for width, url in ((1400, "#range=1h&cache=checkout"), (390, "#range=1h&cache=alpha")):
        page.set_viewport_size({"width": width, "height": 1000})
        _open(page, dashboard.url + url)
        page.evaluate(source)  # through the debugging protocol, not a <script>: the page's CSP stays as it is
        result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                               ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, (width, bad)


def test_a_phone_shows_everything_without_sideways_scrolling(board, page):
    dashboard, first = board
    page.set_viewport_size({"width": 390, "height": 900})
    _open(page, dashboard.url + "#range=1h&cache=checkout")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for selector in ("#summary", "#compare", "#chart-hit", "#observations-section"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    cell = page.locator('#summary tr[data-implementation="new"] td[data-metric="p95_ms"]')
    assert page.evaluate("td => getComputedStyle(td, '::before').content", cell.element_handle()) == '"p95 ms"'


def test_screenshot_tools_reach_network_idle_with_live_off(board, page):
    dashboard, first = board
    started = time.monotonic()
    page.goto(dashboard.url + "?live=0#range=1h&cache=checkout", wait_until="networkidle", timeout=15_000)
    assert time.monotonic() - started < 10
    page.wait_for_selector("body[data-loaded]")
    assert page.inner_text("#live") == "not live (?live=0)"
    assert page.evaluate("performance.getEntriesByType('resource').some(e => e.name.includes('/api/events'))") is False


def test_a_database_outage_says_what_to_do_and_names_no_schema(schema, page):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = Dashboard(Settings.from_env(dsn=f"postgresql://u:p@127.0.0.1:{port}/db?connect_timeout=1", schema=schema),
                     port=0).start()
    try:
        page.goto(dead.url)
        page.wait_for_selector("#error:not([hidden])")
        text = page.inner_text("#error")
        assert "database does not answer" in text and "tries again by itself" in text and "doctor" in text
        footer = page.inner_text("#footer")
        assert "schema ;" not in footer and "not reachable" in footer
    finally:
        dead.stop()


def test_without_the_built_chart_library_the_page_says_what_to_run(board, page, monkeypatch, tmp_path):
    dashboard, first = board
    static = Path(_http.__file__).parent / "static"
    shutil.copytree(static, tmp_path / "static", ignore=shutil.ignore_patterns("vendor"))
    monkeypatch.setattr(_http, "STATIC", tmp_path / "static")
    page.goto(dashboard.url + "#range=1h&cache=checkout")
    page.wait_for_selector("body[data-loaded]")
    assert "pip install -e ." in page.inner_text("#no-charts")
    assert page.locator("#charts canvas").count() == 0
    assert page.locator("#summary tbody tr").count() == 2  # the tables still work
