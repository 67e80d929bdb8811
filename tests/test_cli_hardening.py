"""The command line never answers a user's mistake with a traceback: one line, exit 2; nonsense
arguments are refused; Ctrl-C exits 130; options go before or after the command's name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from otel_supabase_exporter import __version__
from otel_supabase_exporter.show.cli import main

CLOSED = "postgresql://admin:s3cret@127.0.0.1:9/postgres"
COMMANDS = ["migrate", "doctor", "maintain", "baseline", "observations", "ack", "compare", "roles", "summary",
            "sql", "dashboard", "demo", "nosuch", ""]
OPTIONS = ["--dry-run", "--window-minutes", "--every", "--raw-retention", "--baseline-window", "--recompute",
           "--cache", "--implementation", "--all", "--limit", "--by", "--window", "--reference", "--writer",
           "--reader", "--apply", "--supabase", "--port", "--host", "--token", "--seconds", "--schema", "--dsn",
           "-v", "--help", "export"]
VALUES = st.one_of(
    st.sampled_from(["0", "-1", "0s", "0m", "-1h", "1h", "99999", "99999999999999999999", "nan", "inf", "1e308d",
                     "information_schema", "pg_catalog", "x y", "", "'; DROP TABLE x; --", "7d", "1", "/dev/null",
                     "/nonexistent/dir", "::1", "no.such.host.invalid"]),
    st.text(max_size=12),
)


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def quiet_env(monkeypatch, tmp_path):
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_TIMEOUT", "1")
    monkeypatch.chdir(tmp_path)


@given(command=st.sampled_from([c for c in COMMANDS if c not in ("dashboard", "demo")]),
       args=st.lists(st.one_of(st.sampled_from(OPTIONS), VALUES), max_size=5))
@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_argument_list_gives_a_traceback(command, args, quiet_env, capsys):
    argv = ["--dsn", CLOSED] + ([command] if command else []) + args
    if command == "sql" and args[:1] != ["export"]:
        argv = ["--dsn", CLOSED, "sql", "export", *args]
    try:
        code = main(argv)
    except BaseException as exc:  # noqa: BLE001 - the property is that nothing escapes
        pytest.fail(f"{argv!r} raised {type(exc).__name__}: {exc}")
    out = capsys.readouterr()
    assert code in (0, 1, 2), argv
    assert "Traceback" not in out.err + out.out and "s3cret" not in out.err + out.out, argv


@pytest.mark.parametrize("argv", [
    ["maintain", "--every", "0s"], ["summary", "--window", "0m"], ["summary", "--window=-1h"],
    ["demo", "--seconds", "-5"], ["doctor", "--window-minutes", "-5"], ["ack", "99999999999999999999"],
    ["ack", "0"], ["dashboard", "--port", "99999"], ["observations", "--limit", "0"],
])
def test_nonsense_is_refused_in_one_line(argv, capsys):
    code, out, err = _run(["--dsn", CLOSED, *argv], capsys)
    assert code == 2 and "Traceback" not in err
    assert "invalid" in err.splitlines()[-1]


def test_system_schemas_are_refused(pg_dsn, capsys):
    for schema in ("information_schema", "pg_catalog", "pg_toast"):
        code, _, err = _run(["--dsn", pg_dsn, "--schema", schema, "migrate"], capsys)
        assert code == 2 and "system schema" in err


def test_global_options_after_the_command_and_version(pg_dsn, schema, capsys):
    code, out, _ = _run(["doctor", "--dsn", pg_dsn, "--schema", schema, "--window-minutes", "5"], capsys)
    assert f"schema {schema!r}" in out and "connection" not in out
    with pytest.raises(SystemExit):  # argparse itself, as --help does
        from otel_supabase_exporter.show.cli import build_parser
        build_parser().parse_args(["--version"])
    code, out, _ = _run(["--version"], capsys)
    assert code == 0 and __version__ in out


def test_migrate_dry_run_does_not_hide_a_connection_error(capsys):
    code, out, err = _run(["--dsn", CLOSED, "migrate", "--dry-run"], capsys)
    assert code == 2 and "pending" not in out and "CREATE" not in out and "127.0.0.1" in err


def test_servers_and_files_fail_in_one_line(pg_dsn, schema, tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = _run(["--dsn", pg_dsn, "--schema", schema, "dashboard", "--port", str(port)], capsys)
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    code, _, err = _run(["--dsn", pg_dsn, "--schema", schema, "dashboard", "--host", "no.such.host.invalid",
                         "--token", "t"], capsys)
    assert code == 2 and err.startswith("error:")
    a_file = tmp_path / "f"
    a_file.write_text("")
    code, _, err = _run(["sql", "export", "--supabase", str(a_file)], capsys)
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1


def _cli(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "otel_supabase_exporter.show.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_ctrl_c_during_the_demo_exits_130(pg_dsn, schema, tmp_path):
    env = {**os.environ, "OTEL_EXPORTER_SUPABASE_SPOOL_DIR": str(tmp_path)}
    proc = _cli(["--dsn", pg_dsn, "--schema", schema, "demo", "--seconds", "60"], env=env)
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err


def test_a_closed_pipe_is_not_a_traceback(pg_dsn, schema):
    proc = subprocess.run(f"{sys.executable} -m otel_supabase_exporter.show.cli --dsn '{pg_dsn}' --schema {schema}"
                          " doctor | head -c 1", shell=True, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_an_unknown_implementation_is_named_as_such(pg_dsn, schema, capsys):
    code, out, err = _run(["--dsn", pg_dsn, "--schema", schema, "summary", "--implementation", "nosuch"], capsys)
    assert code == 2 and "no implementation 'nosuch'" in err and "doctor" not in out + err
