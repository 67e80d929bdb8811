"""The demo on a real server: its history goes through the writer once per minute (a second backfill
adds nothing), the progress bar shows only on a terminal, a short run ends with the auditor's
observations of each injected fault printed, and Ctrl-C during the backfill exits 130."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import sql_rows
from otel_supabase_exporter import Settings
from otel_supabase_exporter.demo.backfill import backfill, demo_profiles
from otel_supabase_exporter.demo.faults import DEFAULT_FAULTS
from otel_supabase_exporter.demo.synthetic import generate

UTC = timezone.utc


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _series(dsn: str, schema: str) -> dict[str, tuple[int, int, int]]:
    return {impl: (int(n), int(hits), int(errors)) for impl, n, hits, errors in sql_rows(
        dsn, f'SELECT implementation_type, count(*), sum(hits), sum(errors) FROM "{schema}".cache_metrics_1min'
             ' GROUP BY 1')}


def test_the_backfill_writes_each_minute_once_through_the_writer(pg_dsn, schema):
    settings = Settings.from_env(dsn=pg_dsn, schema=schema)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(hours=6)
    profiles = demo_profiles("demo-test", DEFAULT_FAULTS, end)
    expected = {p.implementation_type: list(generate(p, start, end, 0)) for p in profiles}
    assert {impl: len(rows) for impl, rows in expected.items()} == {"legacy": 360, "new": 360}

    quiet = io.StringIO()
    first = backfill(settings, profiles, start, end, stream=quiet)
    assert first.written == 720 and first.already_there == 0
    assert quiet.getvalue() == ""  # not a terminal: no progress bar
    stored = _series(pg_dsn, schema)
    assert stored == {impl: (360, sum(r.hits for r in rows), sum(r.errors for r in rows))
                      for impl, rows in expected.items()}
    # the writer's path: every batch is in its ledger of merged batches
    (batches, rows_in_batches), = sql_rows(
        pg_dsn, f"SELECT count(*), sum(row_count) FROM \"{schema}\".export_batches WHERE kind = 'metrics'")
    assert batches >= 2 and rows_in_batches == 720

    again = backfill(settings, profiles, start, end, stream=quiet)
    assert again.written == 0 and again.already_there == 720
    assert _series(pg_dsn, schema) == stored  # nothing doubled

    later = backfill(settings, profiles, start, end + timedelta(minutes=30), stream=quiet)
    assert later.written == 60 and later.already_there == 720
    assert {impl: n for impl, (n, _, _) in _series(pg_dsn, schema).items()} == {"legacy": 390, "new": 390}
    # the injected faults are in the history: "legacy" fails far more often in its last 25 minutes
    (before, during), = sql_rows(
        pg_dsn, f"SELECT sum(errors) FILTER (WHERE minute_window < %(f)s)::float"
                f"       / sum(total_operations) FILTER (WHERE minute_window < %(f)s),"
                f"       sum(errors) FILTER (WHERE minute_window >= %(f)s)::float"
                f"       / sum(total_operations) FILTER (WHERE minute_window >= %(f)s)"
                f' FROM "{schema}".cache_metrics_1min WHERE implementation_type = \'legacy\'',
        {"f": end - timedelta(minutes=25)})
    assert before < 0.01 and during > 0.05


def test_the_progress_bar_draws_on_a_terminal_only(pg_dsn, schema):
    settings = Settings.from_env(dsn=pg_dsn, schema=schema)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    profiles = demo_profiles("demo-test", (), end)
    terminal = _Terminal()
    backfill(settings, profiles, end - timedelta(hours=1), end, stream=terminal)
    drawn = terminal.getvalue()
    assert drawn.startswith("\rhistory [") and "100%" in drawn and "120 / 120 minutes" in drawn
    assert drawn.endswith("\n") and drawn.count("\n") == 1
    pipe = io.StringIO()
    backfill(settings, profiles, end - timedelta(hours=2), end, stream=pipe)
    assert pipe.getvalue() == ""


def _cli(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "otel_supabase_exporter.show.cli", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_a_short_demo_ends_with_the_auditors_observation_of_each_fault(pg_dsn, schema, tmp_path):
    # 8 days: the faults' hours also have a day and a week before them to be compared with
    proc = _cli(["--dsn", pg_dsn, "--schema", schema, "demo", "--history-days", "8", "--seconds", "4"],
                {"OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(tmp_path)})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert "\r" not in out  # stdout is a pipe: no progress bar
    # 8 days of minutes for legacy and new, and the minutes that ended while it ran (a loaded machine)
    written = int(re.search(r"([\d,]+) minute rows written", out).group(1).replace(",", ""))
    assert written % 2 == 0 and 23_040 <= written <= 23_040 + 2 * 5, out

    found = sql_rows(pg_dsn, f'SELECT rule, metric, cache_name, implementation_type, severity, message'
                             f' FROM "{schema}".cache_auditor_observations')
    for fault in DEFAULT_FAULTS:
        mine = [o for o in found if o[2] == "semantic" and o[3] == fault.implementation and o[1] in fault.metrics()]
        assert mine, (fault, found)
        for rule, _, _, impl, severity, message in mine:  # and the demo printed each one
            line = next(line for line in out.splitlines() if rule in line and f" {impl} " in line)
            assert severity in line and message in line
    assert "observations the auditor raised" in out
    # the live run went through the pipeline: raw rows of this service, minutes after the history
    (raw,), = sql_rows(pg_dsn, f"SELECT count(*) FROM \"{schema}\".cache_metrics WHERE service_name = 'otel-supabase-demo'")
    assert raw > 0


def test_ctrl_c_during_the_backfill_exits_130(pg_dsn, schema, tmp_path):
    proc = _cli(["--dsn", pg_dsn, "--schema", schema, "demo", "--history-days", "30"],
                {"OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(tmp_path)})
    lines = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("backfilling") or time.monotonic() > deadline:
            break
    assert lines and lines[-1].startswith("backfilling"), lines
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and err.strip() == "interrupted"
    assert "minute rows written" not in out  # it stopped in the middle
    (n,), = sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics_1min')
    assert n < 2 * 30 * 1440


@pytest.mark.parametrize("days", ["-1", "61", "nan"])
def test_the_history_option_refuses_nonsense(days, capsys):
    from otel_supabase_exporter.show.cli import main

    assert main(["demo", "--history-days", days]) == 2
    assert "--history-days" in capsys.readouterr().err


def test_without_history_the_demo_says_there_is_nothing_to_judge_against(pg_dsn, schema, monkeypatch, tmp_path):
    from otel_supabase_exporter.demo import run_demo

    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SPOOL_DIR", str(tmp_path))
    lines: list[str] = []
    result = run_demo(Settings.from_env(dsn=pg_dsn, schema=schema), seconds=1, out=lines.append, history_days=0)
    assert result.history is None and result.operations > 0
    assert any("no history backfilled" in line for line in lines)
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_baseline_metrics') == [(0,)]
    assert {impl for (impl,) in sql_rows(pg_dsn, f'SELECT DISTINCT implementation_type FROM "{schema}".cache_metrics')} \
        == {"legacy", "new"}


def test_the_screenshot_is_one_command(pg_dsn, schema, tmp_path):
    if not os.path.exists("/usr/bin/chromium"):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing: .ci/run installs the Debian package chromium")
        pytest.skip("Chromium (Debian package chromium) is not installed")
    pytest.importorskip("playwright.sync_api")
    png = tmp_path / "docs" / "dashboard.png"
    proc = _cli(["--dsn", pg_dsn, "--schema", schema, "demo", "--history-days", "1", "--seconds", "2",
                 "--screenshot", str(png), "--settle", "1"], {"OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(tmp_path)})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert f"saved {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_ctrl_c_from_a_terminal_during_the_screenshot_exits_130(pg_dsn, schema, tmp_path):
    """A terminal's Ctrl-C goes to the whole process group, Playwright's driver included: the demo
    still exits 130 with one line, no traceback and no asyncio report of the driver's closed pipe."""
    if not os.path.exists("/usr/bin/chromium"):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing: .ci/run installs the Debian package chromium")
        pytest.skip("Chromium is not installed")
    proc = _cli(["--dsn", pg_dsn, "--schema", schema, "demo", "--history-days", "0", "--seconds", "1",
                 "--screenshot", str(tmp_path / "x.png"), "--settle", "30"],
                {"OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(tmp_path)}, start_new_session=True)
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        if line.startswith("saving a screenshot") or time.monotonic() > deadline:
            break
    time.sleep(3.0)  # the browser is up and settling
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "never retrieved" not in err and err.strip() == "interrupted", err
    assert not (tmp_path / "x.png").exists()
