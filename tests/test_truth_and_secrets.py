"""Surfaces that tell the truth and keep secrets: passwords masked by structure (a property test over
random passwords and both DSN forms, malformed ones too), one spool directory per destination however
the DSN is spelled, and a doctor that never says "all checks passed" while data waits in the spool."""

from __future__ import annotations

import string

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st

from otel_supabase_exporter.redact import MASK, error_line, mask_dsn, mask_secrets
from otel_supabase_exporter.settings import Settings
from otel_supabase_exporter.show.cli import main
from otel_supabase_exporter.store.spool import Spool, directory_for

# passwords as people choose them: one character, common words, symbols (no whitespace: a URI
# cannot hold one unencoded, and key=value needs quotes for it — both covered below)
PASSWORDS = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "!#$%^*()-_+[]{};,.<>~|", min_size=1, max_size=24),
    st.sampled_from(["a", "e", "o", "postgres", "password", "admin", "failed", "connection", "5432", "@", ":",
                     "p@ss", "Hunter2Secret"]),
)
TEMPLATES = [
    "{dsn}",
    'missing "=" after "{dsn}" in connection info string',
    "connection failed: {dsn} (password authentication failed for user admin)",
    "invalid URI query parameter in {dsn}, password authentication failed",
]


def _forms(password: str) -> list[tuple[str, str]]:
    """(DSN, the same DSN with the password masked) in every form a user may type."""
    quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    return [
        (f"postgresql://admin:{password}@db.example.com:5432/postgres",
         f"postgresql://admin:{MASK}@db.example.com:5432/postgres"),
        (f"postgress://admin:{password}@db.example.com/postgres",  # mistyped scheme
         f"postgress://admin:{MASK}@db.example.com/postgres"),
        (f"host=db.example.com user=admin password={password} dbname=postgres",
         f"host=db.example.com user=admin password={MASK} dbname=postgres"),
        (f"host=db.example.com user=admin password='{quoted} with space' dbname=postgres",
         f"host=db.example.com user=admin password={MASK} dbname=postgres"),
        (f"host=db.example.com password {password}", None),  # malformed: no "=": nothing is a password
        (f"postgresql://db.example.com/postgres?user=admin&password={password.replace('&', '')}&sslmode=require",
         f"postgresql://db.example.com/postgres?user=admin&password={MASK}&sslmode=require"),
    ]


@given(password=PASSWORDS, template=st.sampled_from(TEMPLATES))
@example(password="a", template=TEMPLATES[2])
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_password_never_appears_and_the_rest_of_the_message_is_unchanged(password, template):
    for dsn, masked in _forms(password):
        if masked is None:
            assert mask_secrets(template.format(dsn=dsn)) == template.format(dsn=dsn)
            continue
        message = template.format(dsn=dsn)
        assert mask_secrets(message) == template.format(dsn=masked)
        assert mask_dsn(dsn) == masked


def _error_lines(password: str) -> list[str]:
    """What the package says about real psycopg errors for DSNs holding ``password``: a mistyped
    scheme, a bad option, a closed port (this machine: no name to resolve)."""
    lines = []
    for dsn in (f"postgress://admin:{password}@127.0.0.1:9/postgres",
                f"host=127.0.0.1 user=admin password={password} port=notaport",
                f"postgresql://admin:{password}@127.0.0.1:9/postgres"):
        try:
            psycopg.connect(dsn, connect_timeout=1)
        except psycopg.Error as exc:
            lines.append(error_line(exc, dsn))
    return lines


@given(password=PASSWORDS.filter(lambda p: not set(p) & set("@/?#&[]%")))
@hsettings(max_examples=40, deadline=None)
def test_what_psycopg_says_about_a_dsn_does_not_depend_on_its_password(password):
    """The error lines for a DSN are the same whatever its password: it is masked where the DSN
    holds it, and nothing else of the message changes."""
    assert _error_lines(password) == _error_lines("Control7") and len(_error_lines("Control7")) == 3


def test_the_cli_does_not_echo_a_mistyped_dsn(capsys):
    assert main(["--dsn", "postgress://admin:Hunter2Secret@db.example.com/postgres", "summary"]) == 2
    out = capsys.readouterr()
    assert "Hunter2Secret" not in out.out + out.err and "admin:****@db.example.com" in out.err


def test_a_one_letter_password_does_not_garble_the_message():
    exc = psycopg.OperationalError('connection failed: password authentication failed for user "admin"')
    assert error_line(exc, "postgresql://admin:a@db.example.com/postgres") == str(exc)


def test_one_spool_directory_per_destination_however_the_dsn_is_spelled(tmp_path, pg_dsn):
    spool = str(tmp_path / "spool")
    spellings = ["postgresql://admin:x@DB.example.com/admin", "postgresql://admin@db.example.com:5432/admin",
                 "host=db.example.com user=admin password=y", "host=db.example.com port=5432 dbname=admin user=admin"]
    env = {"OTEL_EXPORTER_SUPABASE_SPOOL_DIR": spool}
    dirs = {directory_for(Settings.from_env({**env, "OTEL_EXPORTER_SUPABASE_DSN": d})) for d in spellings}
    assert len(dirs) == 1
    assert directory_for(Settings.from_env({**env, "OTEL_EXPORTER_SUPABASE_DSN": "host=db.example.com user=other"})) \
        not in dirs
    # the embedded server: its own socket DSN (what the demo passes) is the same destination as no DSN
    from otel_supabase_exporter.store.embedded import embedded_dsn

    data = tmp_path / "pgdata"
    env_embedded = {**env, "OTEL_EXPORTER_SUPABASE_EMBEDDED_DIR": str(data)}
    socket_dsn = embedded_dsn(data)
    assert directory_for(Settings.from_env({**env_embedded, "OTEL_EXPORTER_SUPABASE_DSN": socket_dsn})) == \
        directory_for(Settings.from_env(env_embedded))


def test_doctor_does_not_pass_while_data_waits_in_the_spool(pg_dsn, schema, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SPOOL_DIR", str(tmp_path))
    directory = directory_for(Settings.from_env(dsn=pg_dsn, schema=schema))
    spool = Spool(directory, 10_000_000)
    for i in range(3):
        assert spool.append({"n": i}, items=1000)
    spool.close()
    code = main(["--dsn", pg_dsn, "--schema", schema, "doctor"])
    out = capsys.readouterr().out
    assert code == 1
    assert "all checks passed" not in out
    assert "[FAIL] spool: 3000 item(s) in 3 batch(es)" in out and "NOT in the database" in out
    assert "replays them oldest first" in out


@pytest.mark.parametrize("password", ["a", "o", "Hunter2Secret"])
def test_doctor_on_a_closed_port_keeps_the_password_and_the_message(password, capsys):
    assert main(["--dsn", f"postgresql://admin:{password}@127.0.0.1:9/postgres", "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"admin:{MASK}@127.0.0.1:9/postgres" in out
    if len(password) > 1:
        assert password not in out
    assert "connection" in out and "****" not in out.split("[FAIL] connection:")[1]


def _secret_parts(password: str) -> list[str]:
    import re as _re
    return [password] + [p for p in _re.split(r"[@%]", password) if len(p) >= 4]


@pytest.mark.parametrize("password", ["50%offSALE", "Tr0ub@dor99", "100%Sure", "a@b%zzTail"])
@pytest.mark.parametrize("command", [["summary"], ["doctor"], ["migrate", "--dry-run"]])
def test_a_password_libpq_would_misread_is_never_echoed(password, command, capsys, caplog):
    """libpq quotes a bad percent-encoded token, and takes an unencoded '@' for the end of the
    password (its tail becomes the host it names): the DSN is refused before libpq sees it."""
    rc = main(["--dsn", f"postgresql://app:{password}@127.0.0.1:9/db", *command])
    out = capsys.readouterr()
    text = out.out + out.err + caplog.text
    assert rc in (1, 2)
    assert not [p for p in _secret_parts(password) if p in text], text
    assert "%40" in text or "%25" in text  # and it says what to write instead


def test_the_library_logs_no_part_of_a_password_libpq_would_misread(caplog, tmp_path, monkeypatch):
    from otel_supabase_exporter import configure, instrument_cache

    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SPOOL_DIR", str(tmp_path))
    password = "Tr0ub@dor99%zz"
    telemetry = configure(f"postgresql://app:{password}@127.0.0.1:9/db", schema="s", service_name="svc",
                          set_global=False)
    cache = instrument_cache({}, name="c", tracer_provider=telemetry.tracer_provider,
                             meter_provider=telemetry.meter_provider)
    cache["k"] = 1
    telemetry.shutdown()
    assert "%40" in caplog.text or "%25" in caplog.text  # the refusal was logged, in words of its own
    assert not [p for p in _secret_parts(password) if p in caplog.text], caplog.text
