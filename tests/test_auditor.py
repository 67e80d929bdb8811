"""Baselines, the auditor, acknowledgements and legacy-vs-new comparison, on a real server:
hand-made series with statistics recomputed here, and three weeks of synthetic history with
labelled faults (bench/auditor.py)."""

from __future__ import annotations

import json
import statistics
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from bench import auditor as scenarios
from conftest import new_schema_name, sql_rows
from otel_supabase_exporter import Settings
from otel_supabase_exporter.show.cli import main
from otel_supabase_exporter.histogram import ExpHistogram
from otel_supabase_exporter.judge.maintenance import maintain, update_settings
from otel_supabase_exporter.rows import MinuteRow
from otel_supabase_exporter.demo.synthetic import Profile, generate, write_history
from otel_supabase_exporter.store.writer import PostgresWriter

UTC = timezone.utc
STEADY = dict(night_ratio=1.0, weekend_ratio=1.0, hit_rate_swing=0.0, load_latency=0.0)


def _writer(dsn: str, schema: str) -> PostgresWriter:
    return PostgresWriter(Settings.from_env(dsn=dsn, schema=schema))


def _write(dsn: str, schema: str, rows: list[MinuteRow]) -> None:
    writer = _writer(dsn, schema)
    try:
        writer.write_minutes(rows, [], uuid.uuid4())
    finally:
        writer.close()


def _call(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        return conn.execute(query, params).fetchall()


def _audit(dsn: str, schema: str, at: datetime) -> dict[str, int]:
    return dict(_call(dsn, f'SELECT * FROM "{schema}".run_auditor(%s)', (at,)))


def _observations(dsn: str, schema: str) -> list[dict]:
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(f'SELECT * FROM "{schema}".cache_auditor_observations ORDER BY id').fetchall()


def _minute(t: datetime, cache: str, impl: str = "legacy", hits: int = 0, misses: int = 0, errors: int = 0,
            sets: int = 200, hist: ExpHistogram | None = None) -> MinuteRow:
    hist = hist or ExpHistogram(3, -72, (1,) * 4)
    return MinuteRow(t, cache, impl, "svc", hits=hits, misses=misses, sets=sets, errors=errors,
                     latency_count=hist.total, latency_sum_ms=hist.total * 2.0, min_response_time_ms=0.5,
                     max_response_time_ms=40.0, histogram=hist)


@pytest.fixture
def steady_day(pg_dsn, schema):
    """One day of steady traffic for cache "orders" (legacy); returns its end (a whole hour)."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    writer = _writer(pg_dsn, schema)
    try:
        write_history(writer, [Profile("orders", **STEADY)], end - timedelta(days=1), end, seed=3)
    finally:
        writer.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        update_settings(conn, schema, baseline_min_samples=600)
    return end


# --- baselines ---------------------------------------------------------------------------------

def _robust(values: list[float]) -> tuple[float, float]:
    """Median and interquartile range / 1.349 (quartiles interpolated as percentile_cont does)."""
    q1, mid, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return mid, (q3 - q1) / 1.349


def test_baseline_statistics_equal_a_computation_from_the_minutes(pg_dsn, schema):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=2)
    rows = [r for r in generate(Profile("stats", night_ratio=0.3), start, end, seed=5)
            if r.minute_window.minute % 7 != 3]  # some minutes without traffic: throughput counts them as 0
    # a second service writes some of the same minutes: a baseline minute is all services together
    rows += [MinuteRow(r.minute_window, "stats", "legacy", "other", hits=5, misses=1, errors=1, latency_count=7,
                       latency_sum_ms=7.0, min_response_time_ms=0.2, max_response_time_ms=9.0,
                       histogram=ExpHistogram(3, -80, (2, 3, 2)))
             for r in rows[::50]]
    _write(pg_dsn, schema, rows)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        update_settings(conn, schema, baseline_min_samples=100, seasonal_min_weeks=1, seasonal_min_samples=30,
                        seasonal_full_weeks=1)
    at = end + timedelta(minutes=30)
    assert _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s)', (at,))[0][0] > 1

    per_minute = {}
    for (t, hits, misses, errors, ops, count, p95) in sql_rows(
            pg_dsn, f'SELECT minute_window, sum(hits), sum(misses), sum(errors), sum(total_operations),'
                    f' sum(latency_count), CASE WHEN count(*) = 1 THEN min(p95_response_time_ms) ELSE'
                    f' ("{schema}".exp_hist_quantiles("{schema}".exp_hist_merge_all(array_agg(latency_histogram)),'
                    f' sum(latency_zero_count)::bigint, ARRAY[0.95], min(min_response_time_ms),'
                    f' max(max_response_time_ms)))[1] END'
                    f' FROM "{schema}".cache_metrics_1min GROUP BY 1'):
        per_minute[t] = (int(hits), int(misses), int(errors), int(ops), int(count), p95)
    minutes_in_span = (end - min(per_minute)).total_seconds() / 60

    def expect(selected: dict, span_minutes: float) -> dict[str, float]:
        hr = _robust([100.0 * h / (h + m) for h, m, _, _, _, _ in selected.values() if h + m])
        er = _robust([100.0 * e / o for _, _, e, o, _, _ in selected.values() if o])
        p95 = _robust([p for _, _, _, _, c, p in selected.values() if c])
        ops = _robust([o for _, _, _, o, _, _ in selected.values() if o])
        samples = sum(1 for _, _, _, o, _, _ in selected.values() if o)
        return {"hit_rate": hr[0], "hit_rate_stddev": hr[1], "error_rate": er[0], "error_rate_stddev": er[1],
                "p95_response_time_ms": p95[0], "p95_response_time_stddev": p95[1],
                "throughput_per_minute": ops[0] * min(1.0, samples / span_minutes), "throughput_stddev": ops[1],
                "sample_count": samples}

    columns = ("hit_rate", "hit_rate_stddev", "error_rate", "error_rate_stddev", "p95_response_time_ms",
               "p95_response_time_stddev", "throughput_per_minute", "throughput_stddev", "sample_count")

    def baselines() -> list[tuple]:
        return sql_rows(pg_dsn, f'SELECT hour_of_week, {", ".join(columns)} FROM "{schema}".cache_baseline_metrics'
                                f' WHERE is_active ORDER BY hour_of_week NULLS FIRST')

    got = baselines()
    overall = dict(zip(columns, got[0][1:]))
    assert got[0][0] is None
    for name, value in expect(per_minute, minutes_in_span).items():
        assert overall[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name

    # an hour of the week (Monday 00:00 UTC = 0) with data in enough weeks (seasonal_full_weeks = 1
    # here): only that hour's minutes, one occurrence in two days
    assert len(got) == 1 + 48
    how, *values = got[5]
    chosen = {t: v for t, v in per_minute.items() if t.weekday() * 24 + t.hour == how}
    assert len({t.date() for t in chosen}) == 1 and len(chosen) > 30
    for name, value in expect(chosen, 60).items():
        assert dict(zip(columns, values))[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name

    # with fewer weeks than seasonal_full_weeks, an hour of the week pools that hour of every day of
    # its kind (weekdays, or Saturday and Sunday)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        update_settings(conn, schema, seasonal_full_weeks=2)
    _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s, true)', (at,))
    for how, *values in baselines()[1:]:
        weekend = how >= 120
        pool = {t: v for t, v in per_minute.items() if t.hour == how % 24 and (t.weekday() >= 5) == weekend}
        hours = len({(t.date(), t.hour) for t in pool})
        for name, value in expect(pool, 60 * hours).items():
            assert dict(zip(columns, values))[name] == pytest.approx(value, rel=1e-9, abs=1e-9), (how, name)


def test_hours_of_the_week_follow_the_schema_time_zone_across_daylight_saving(pg_dsn, schema):
    """Traffic at 09:00 in New York only, on days before and after the switch of 1 November 2026
    (13:00 UTC before, 14:00 after): in that zone every baseline is of a 09:00 hour; in UTC, of two."""
    days = [datetime(2026, 10, 29, 13, tzinfo=UTC), datetime(2026, 10, 30, 13, tzinfo=UTC),
            datetime(2026, 11, 2, 14, tzinfo=UTC), datetime(2026, 11, 3, 14, tzinfo=UTC)]
    _write(pg_dsn, schema, [_minute(d + timedelta(minutes=m), "tz", hits=90, misses=10) for d in days for m in range(60)])
    hours = {}
    for zone in ("America/New_York", "UTC"):
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            update_settings(conn, schema, time_zone=zone, baseline_min_samples=100, seasonal_min_weeks=1,
                            seasonal_min_samples=30)
        _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s, true)', (datetime(2026, 11, 4, tzinfo=UTC),))
        hours[zone] = {h % 24 for (h,) in sql_rows(
            pg_dsn, f'SELECT hour_of_week FROM "{schema}".cache_baseline_metrics'
                    f" WHERE is_active AND cache_name = 'tz' AND hour_of_week IS NOT NULL")}
        assert _call(pg_dsn, f'SELECT "{schema}".hour_of_week(%s)', (days[2],))[0][0] == (9 if zone != "UTC" else 14)
    assert hours == {"America/New_York": {9}, "UTC": {13, 14}}
    with psycopg.connect(pg_dsn, autocommit=True) as conn, pytest.raises(psycopg.errors.InvalidParameterValue):
        update_settings(conn, schema, time_zone="Mars/Olympus_Mons")


def test_one_active_baseline_per_series_and_the_previous_ones_kept(pg_dsn, schema, steady_day):
    at = steady_day + timedelta(minutes=10)
    assert _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s)', (at,))[0][0] == 1  # one week: no seasonal rows
    assert _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s)', (at,))[0][0] == 0  # not due yet
    assert _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s, true)', (at,))[0][0] == 1  # forced
    rows = sql_rows(pg_dsn, f'SELECT is_active, sample_count, window_end FROM "{schema}".cache_baseline_metrics'
                            f' ORDER BY id')
    assert [r[0] for r in rows] == [False, True]
    assert rows[1][1] == 1440 and rows[1][2] == steady_day
    with pytest.raises(psycopg.errors.UniqueViolation):
        _call(pg_dsn, f'INSERT INTO "{schema}".cache_baseline_metrics (cache_name, implementation_type,'
                      f" window_start, window_end, sample_count) VALUES ('orders', 'legacy', now() - interval '1 day',"
                      f" now(), 1)")


def test_no_baseline_before_enough_samples(pg_dsn, schema, steady_day):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        update_settings(conn, schema, baseline_min_samples=2000)
    assert _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s)', (steady_day,))[0][0] == 0
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_baseline_metrics')[0][0] == 0


# --- the auditor on hand-made windows --------------------------------------------------------------

def test_a_few_requests_at_night_page_nobody_but_a_real_drop_does_once(pg_dsn, schema, steady_day):
    t0 = steady_day
    _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s)', (t0,))
    # 3 lookups, all misses, in the window: below min_traffic
    _write(pg_dsn, schema, [_minute(t0 + timedelta(minutes=i), "orders", misses=1, sets=0) for i in range(3)])
    assert _audit(pg_dsn, schema, t0 + timedelta(minutes=6))["opened"] == 0
    # the hit rate collapses with full traffic: one critical observation, updated while it lasts
    bad = [_minute(t0 + timedelta(minutes=m), "orders", hits=300, misses=700) for m in range(6, 16)]
    _write(pg_dsn, schema, bad)
    assert _audit(pg_dsn, schema, t0 + timedelta(minutes=12)) == {"opened": 1, "updated": 0, "resolved": 0}
    assert _audit(pg_dsn, schema, t0 + timedelta(minutes=13)) == {"opened": 0, "updated": 1, "resolved": 0}
    # the same minute again: nothing changes
    before = _observations(pg_dsn, schema)
    assert _audit(pg_dsn, schema, t0 + timedelta(minutes=13, seconds=30)) == {"skipped: window already judged": 0}
    assert _observations(pg_dsn, schema) == before
    (obs,) = before
    assert (obs["severity"], obs["category"], obs["rule"], obs["metric"], obs["status"]) == \
        ("critical", "performance", "hit_rate_drop", "hit_rate", "open")
    assert obs["observed_value"] == pytest.approx(30.0)
    assert 84 < obs["expected_value"] < 86 and obs["deviation_pct"] < -60 and obs["z_score"] < -10
    assert obs["details"]["evaluations"] == 2 and obs["worst_value"] == pytest.approx(30.0)
    assert obs["message"].startswith("Hit rate of orders (legacy) is 30.0 % over the last 5 min, expected 8")
    assert obs["recommendation"]
    # back to normal: resolved once the finding has been absent for resolve_after (10 min)
    good = [_minute(t0 + timedelta(minutes=m), "orders", hits=850, misses=150) for m in range(16, 40)]
    _write(pg_dsn, schema, good)
    for m in range(17, 40):
        _audit(pg_dsn, schema, t0 + timedelta(minutes=m))
        if _observations(pg_dsn, schema)[0]["status"] == "resolved":
            break
    (obs,) = _observations(pg_dsn, schema)
    assert obs["status"] == "resolved" and obs["resolved_at"] - obs["last_seen_at"] >= timedelta(minutes=10)
    assert obs["resolved_at"] - (t0 + timedelta(minutes=16)) <= timedelta(minutes=20)


def test_error_rate_threshold_and_latency_rules(pg_dsn, schema, steady_day):
    t0 = steady_day
    _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s)', (t0,))
    slow = ExpHistogram(3, -40, (100,) * 6)  # ~ 40 ms, far above the ~2 ms baseline
    _write(pg_dsn, schema, [_minute(t0 + timedelta(minutes=m), "orders", hits=800, misses=150, errors=30, hist=slow)
                            for m in range(0, 17)])
    _audit(pg_dsn, schema, t0 + timedelta(minutes=6))
    found = {o["rule"]: o for o in _observations(pg_dsn, schema)}
    assert set(found) == {"error_rate_high", "latency_p95_increase"}
    # a warning-sized finding opens as info (it may be a blip) and is a warning once it lasted 10 min
    assert (found["error_rate_high"]["category"], found["error_rate_high"]["severity"]) == ("reliability", "info")
    assert "escalated_at" not in found["error_rate_high"]["details"]
    _audit(pg_dsn, schema, t0 + timedelta(minutes=11))
    assert {o["rule"]: o["severity"] for o in _observations(pg_dsn, schema)}["error_rate_high"] == "info"
    _audit(pg_dsn, schema, t0 + timedelta(minutes=16))
    found = {o["rule"]: o for o in _observations(pg_dsn, schema)}
    assert found["error_rate_high"]["severity"] == "warning"
    assert found["error_rate_high"]["details"]["escalated_at"].startswith(str((t0 + timedelta(minutes=16)).date()))
    assert found["error_rate_high"]["observed_value"] == pytest.approx(100 * 30 / (800 + 150 + 200 + 30))
    assert "above the 1.0 % limit" in found["error_rate_high"]["message"]
    assert (found["latency_p95_increase"]["category"], found["latency_p95_increase"]["severity"]) == \
        ("performance", "critical")


def test_acknowledge_keeps_who_and_when_and_a_worse_finding_asks_again(pg_dsn, schema, steady_day, capsys):
    t0 = steady_day
    _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s)', (t0,))
    _write(pg_dsn, schema, [_minute(t0 + timedelta(minutes=m), "orders", hits=750, misses=250) for m in range(0, 17)])
    for m in (6, 11, 16):  # a warning once it lasted escalate_after (10 min)
        _audit(pg_dsn, schema, t0 + timedelta(minutes=m))
    (obs,) = _observations(pg_dsn, schema)
    assert obs["severity"] == "warning"

    assert main(["--dsn", pg_dsn, "--schema", schema, "ack", str(obs["id"]), "--by", "alice"]) == 0
    assert f"#{obs['id']} acknowledged by alice" in capsys.readouterr().out
    _call(pg_dsn, f'SELECT "{schema}".acknowledge_observation(%s, %s)', (obs["id"], "bob"))
    (acked,) = _observations(pg_dsn, schema)
    assert (acked["acknowledged"], acked["acknowledged_by"]) == (True, "alice")
    assert acked["acknowledged_at"] is not None
    assert main(["--dsn", pg_dsn, "--schema", schema, "-v", "observations"]) == 0
    listed = capsys.readouterr().out
    assert f"{obs['id']}" in listed and "warning" in listed and "alice" in listed and "hit_rate_drop" in listed
    assert f"#{obs['id']} recommendation: " in listed
    assert main(["--dsn", pg_dsn, "--schema", schema, "ack", "999999"]) == 1
    assert "no observation with id 999999" in capsys.readouterr().err
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        _call(pg_dsn, f'SELECT "{schema}".acknowledge_observation(%s, %s)', (obs["id"], "  "))

    # it gets worse: critical, and no longer acknowledged
    _write(pg_dsn, schema, [_minute(t0 + timedelta(minutes=m), "orders", hits=200, misses=800) for m in range(17, 23)])
    _audit(pg_dsn, schema, t0 + timedelta(minutes=23))
    (worse,) = _observations(pg_dsn, schema)
    assert (worse["id"], worse["severity"], worse["acknowledged"]) == (obs["id"], "critical", False)


def test_auditor_observations_are_notified(pg_dsn, schema, steady_day):
    t0 = steady_day
    _call(pg_dsn, f'SELECT "{schema}".refresh_baselines(%s)', (t0,))
    _write(pg_dsn, schema, [_minute(t0 + timedelta(minutes=m), "orders", hits=100, misses=900) for m in range(0, 6)])
    with psycopg.connect(pg_dsn, autocommit=True) as listener:
        listener.execute("LISTEN otel_supabase_exporter")
        _audit(pg_dsn, schema, t0 + timedelta(minutes=6))
        got = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
    (obs,) = _observations(pg_dsn, schema)
    assert got == [{"schema": schema, "table": "cache_auditor_observations", "id": obs["id"], "status": "open",
                    "severity": "critical", "acknowledged": False}]


def test_regression_of_new_against_legacy_and_the_comparison(pg_dsn, schema, capsys):
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    fast, slow = ExpHistogram(3, -72, (50, 100, 50)), ExpHistogram(3, -64, (50, 100, 50))  # 2^(8/8) = 2x slower
    rows = []
    for m in range(20):
        t = t0 + timedelta(minutes=m)
        rows += [_minute(t, "pay", "legacy", hits=90, misses=10, errors=0, hist=fast),
                 _minute(t, "pay", "new", hits=80, misses=20, errors=2, hist=slow)]
    _write(pg_dsn, schema, rows)
    _audit(pg_dsn, schema, t0 + timedelta(minutes=16))
    _audit(pg_dsn, schema, t0 + timedelta(minutes=21))  # lasted 5 min: a warning-sized finding is still info
    assert {o["rule"]: o["severity"] for o in _observations(pg_dsn, schema)}["regression_hit_rate"] == "info"
    _audit(pg_dsn, schema, t0 + timedelta(minutes=27))  # and 11 min
    found = {o["rule"]: o for o in _observations(pg_dsn, schema)}
    assert set(found) == {"regression_latency_p95", "regression_hit_rate"}  # no baselines yet: only the comparison
    lat = found["regression_latency_p95"]
    assert (lat["implementation_type"], lat["category"], lat["severity"]) == ("new", "performance", "critical")
    assert lat["observed_value"] == pytest.approx(2 * lat["expected_value"], rel=1e-6)
    assert lat["details"]["reference_implementation"] == "legacy"
    assert "legacy has" in lat["message"]
    assert found["regression_hit_rate"]["severity"] == "warning"  # 80 vs 90 %: -11 %

    (cmp,) = _call(pg_dsn, f'SELECT hit_rate, reference_hit_rate, hit_rate_diff, p95_diff_pct, error_rate_diff,'
                           f' implementation_type, reference_implementation'
                           f' FROM "{schema}".compare_implementations(%s, %s, %s)',
                   (t0, t0 + timedelta(minutes=20), timedelta(minutes=20)))
    assert cmp[:3] == pytest.approx((80.0, 90.0, -10.0))
    assert cmp[3] == pytest.approx(100.0)
    assert cmp[4] == pytest.approx(100 * 2 / (80 + 20 + 200 + 2))
    assert cmp[5:] == ("new", "legacy")
    assert len(sql_rows(pg_dsn, f'SELECT * FROM "{schema}".implementation_comparison')) == 1

    assert main(["--dsn", pg_dsn, "--schema", schema, "compare", "--window", "1h"]) == 0
    out = capsys.readouterr().out
    assert "pay" in out and "legacy" in out and "-10.0" in out


def test_old_inactive_baselines_and_old_resolved_observations_expire(pg_dsn, schema):
    now = datetime.now(UTC)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for days, active in ((31, False), (29, False), (40, True)):
            conn.execute(f'INSERT INTO "{schema}".cache_baseline_metrics (cache_name, implementation_type,'
                         f" window_start, window_end, sample_count, is_active) VALUES (%s, 'x', %s, %s, 1, %s)",
                         (f"b{days}", now - timedelta(days=days + 14), now - timedelta(days=days), active))
        for days, status in ((91, "resolved"), (89, "resolved"), (120, "open")):
            conn.execute(f'INSERT INTO "{schema}".cache_auditor_observations (cache_name, implementation_type,'
                         f" severity, category, rule, metric, message, status, resolved_at)"
                         f" VALUES (%s, 'x', 'warning', 'anomaly', 'r', 'm', 'm', %s, %s)",
                         (f"o{days}", status, now - timedelta(days=days) if status == "resolved" else None))
        steps = dict(maintain(conn, schema))
    assert steps["expired: cache_baseline_metrics (inactive)"] == 1
    assert steps["expired: cache_auditor_observations (resolved)"] == 1
    assert {r[0] for r in sql_rows(pg_dsn, f'SELECT cache_name FROM "{schema}".cache_baseline_metrics')} == \
        {"b29", "b40"}
    assert {r[0] for r in sql_rows(pg_dsn, f'SELECT cache_name FROM "{schema}".cache_auditor_observations')} == \
        {"o89", "o120"}


# --- cache_series ------------------------------------------------------------------------------

def test_cache_series_reads_hours_and_minutes_alike_and_rejects_bad_ranges(pg_dsn, schema):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=6)
    writer = _writer(pg_dsn, schema)
    try:
        write_history(writer, [Profile("s", night_ratio=0.2), Profile("s", "new")], start, end, seed=9)
        # the same minutes from a second service: bucket values merge both
        write_history(writer, [Profile("s", service_name="other")], start, end, seed=10)
    finally:
        writer.close()
    q = f'SELECT * FROM "{schema}".cache_series(%s, %s, %s)'
    from_minutes = _call(pg_dsn, q, (start, end, timedelta(hours=1)))  # every hour still queued: minutes
    _call(pg_dsn, f'SELECT "{schema}".rollup_hours()')
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".rollup_queue')[0][0] == 0
    from_hours = _call(pg_dsn, q, (start, end, timedelta(hours=1)))
    assert len(from_hours) == 12
    for a, b in zip(from_minutes, from_hours):
        assert a[:12] == b[:12]  # bucket, series, counts: exact
        assert a[12:] == pytest.approx(b[12:], rel=1e-9)  # rates and percentiles of the same merged histogram

    # minute buckets sum to the hour's counts
    minutes = _call(pg_dsn, f'SELECT sum(total_operations) FROM "{schema}".cache_series(%s, %s, %s, %s, %s)',
                    (start, start + timedelta(hours=1), timedelta(minutes=1), "s", "new"))
    hour = [r for r in from_hours if r[0] == start and r[2] == "new"][0]
    assert minutes[0][0] == hour[4]

    for bad in [(end, start, timedelta(hours=1)), (start, end, timedelta(seconds=30)),
                (start, end, timedelta(0)), (end - timedelta(days=400), end, timedelta(minutes=1))]:
        with pytest.raises((psycopg.errors.InvalidParameterValue, psycopg.errors.ProgramLimitExceeded)):
            _call(pg_dsn, q, bad)


# --- maintain and the CLI ----------------------------------------------------------------------

def test_maintain_computes_baselines_runs_the_auditor_and_twice_changes_nothing(pg_dsn, schema, capsys):
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    writer = _writer(pg_dsn, schema)
    try:
        write_history(writer, [Profile("m", **STEADY)], end - timedelta(hours=13), end, seed=4)
    finally:
        writer.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        first = dict(maintain(conn, schema))
        second = dict(maintain(conn, schema))
    assert first["baselines computed"] == 1 and first["hour rows rolled up"] == 14
    assert "observations opened" in first
    assert second["baselines computed"] == 0 and second["hour rows rolled up"] == 0
    assert second.get("observations opened", 0) == 0 and second.get("observations updated", 0) == 0
    assert all(n == 0 for step, n in second.items() if step.startswith("expired"))

    assert main(["--dsn", pg_dsn, "--schema", schema, "baseline"]) == 0
    out = capsys.readouterr().out
    assert "m " in out and "legacy" in out and "hours of week" in out
    assert main(["--dsn", pg_dsn, "--schema", schema, "baseline", "--recompute"]) == 0
    assert "recomputed 1 baseline(s)" in capsys.readouterr().out
    assert main(["--dsn", pg_dsn, "--schema", schema, "observations"]) == 0
    assert "no open observations" in capsys.readouterr().out


# --- three weeks of history, labelled faults ----------------------------------------------------

@pytest.fixture(scope="module")
def judged_week(pg_dsn):
    schema = new_schema_name()
    judged_from, end, cases = scenarios.build(pg_dsn, schema, seed=1)
    runs = scenarios.replay(pg_dsn, schema, judged_from, end, step=timedelta(minutes=10))
    assert runs == 7 * 24 * 6 + 1
    outcomes = {o.scenario.name: o for o in scenarios.score(pg_dsn, schema, cases)}
    yield schema, outcomes
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_every_labelled_fault_is_caught_with_its_category_in_bounded_time(judged_week):
    _, outcomes = judged_week
    faults = [o for o in outcomes.values() if o.scenario.category]
    assert len(faults) == 10
    for o in faults:
        s = o.scenario
        assert o.detected_after is not None, f"{s.name}: not detected"
        assert s.rule in o.rules, f"{s.name}: caught by {o.rules}, not {s.rule}"
        assert o.detected_after <= s.within, f"{s.name}: after {o.detected_after}"
        assert o.severity in s.severities, f"{s.name}: {o.severity}"
        assert o.false_alarms == 0, f"{s.name}: {o.false_alarms} false alarm(s)"


def test_acute_faults_are_one_observation_each_and_resolve(judged_week):
    _, outcomes = judged_week
    for o in outcomes.values():
        if o.scenario.category and not o.scenario.persists:
            assert o.observations == 1, o.scenario.name
            assert o.resolved_after is not None and o.resolved_after <= timedelta(minutes=40), o.scenario.name


def test_a_clean_week_raises_no_warning_or_critical(judged_week, pg_dsn):
    schema, outcomes = judged_week
    clean = [o for o in outcomes.values() if o.scenario.category is None]
    assert len(clean) == 6
    assert all(o.observations == 0 for o in clean)
    # and the clean series did have baselines, per hour of the week: there was something to compare with
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_baseline_metrics WHERE is_active'
                            f" AND cache_name = 'sessions' AND hour_of_week IS NOT NULL")[0][0] == 2 * 168
