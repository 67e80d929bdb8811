"""Least privilege and row-level security, proven by connecting as each role: the writer can run
the whole export pipeline and nothing else, the reader can read and acknowledge and nothing else,
and Supabase's public roles see nothing even when granted the tables."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import conninfo

from conftest import sql_rows
from otel_supabase_exporter import Settings
from otel_supabase_exporter.show.cli import main
from otel_supabase_exporter.judge.health import exposure
from otel_supabase_exporter.histogram import ExpHistogram
from otel_supabase_exporter.rows import MinuteRow
from otel_supabase_exporter.store.writer import PostgresWriter

UTC = timezone.utc


def _as(dsn: str, role: str) -> str:
    return conninfo.make_conninfo(dsn, user=role)


def _minute(t: datetime) -> MinuteRow:
    hist = ExpHistogram(3, -72, (1, 2, 1))
    return MinuteRow(t, "c", "new", "svc", hits=3, misses=1, latency_count=4, latency_sum_ms=8.0,
                     min_response_time_ms=0.1, max_response_time_ms=9.0, histogram=hist)


def _denied(dsn: str, statement: str, params: tuple = ()) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            conn.execute(statement, params)
    return str(caught.value)


@pytest.fixture
def roles(pg_dsn, schema):
    """The schema's writer and reader roles (from `roles --apply`) and a login role for each."""
    writer, reader = f"{schema}_writer", f"{schema}_reader"
    assert main(["--dsn", pg_dsn, "--schema", schema, "roles", "--apply"]) == 0
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {schema}_app LOGIN IN ROLE {writer}")
        conn.execute(f"CREATE ROLE {schema}_board LOGIN IN ROLE {reader}")
    yield _as(pg_dsn, f"{schema}_app"), _as(pg_dsn, f"{schema}_board")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        for role in (f"{schema}_app", f"{schema}_board", writer, reader):
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_roles_prints_its_sql_and_applying_twice_is_harmless(pg_dsn, schema, roles, capsys):
    assert main(["--dsn", pg_dsn, "--schema", schema, "roles"]) == 0
    out = capsys.readouterr().out
    assert f'CREATE POLICY otel_writer ON "{schema}"."cache_metrics_1min" FOR ALL TO "{schema}_writer"' in out
    assert f'GRANT EXECUTE ON FUNCTION "{schema}"."acknowledge_observation"(bigint,text) TO "{schema}_reader"' in out
    assert main(["--dsn", pg_dsn, "--schema", schema, "roles", "--apply"]) == 0
    assert main(["--dsn", pg_dsn, "--schema", schema, "roles", "--writer", "x", "--reader", "x"]) == 2


def test_the_writer_runs_the_pipeline_and_nothing_else(pg_dsn, schema, roles):
    writer_dsn, _ = roles
    writer = PostgresWriter(Settings.from_env(dsn=writer_dsn, schema=schema))
    now = datetime.now(UTC)
    future = now + timedelta(days=9)  # a day without a partition: made through the SECURITY DEFINER function
    try:
        cache_rows = [(uuid.uuid4().int, int(t.timestamp() * 1e6), "c", "new", "hit", 0.5, 10, None, "k", None,
                       None, "svc", None, None, "{}", None) for t in (now, future)]
        result = writer.write_spans(cache_rows, [])
        assert result.written == 2, result
        minute = now.replace(second=0, microsecond=0)
        for _ in range(2):  # the second merges into the first: INSERT ... ON CONFLICT DO UPDATE
            assert writer.write_minutes([_minute(minute)], [], uuid.uuid4()).written == 1
    finally:
        writer.close()
    assert sql_rows(pg_dsn, f'SELECT hits FROM "{schema}".cache_metrics_1min') == [(6,)]
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".rollup_queue')[0][0] == 1  # its trigger queued the hour
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{schema}".cache_metrics')[0][0] == 2

    s = schema
    for statement in (f'SELECT * FROM "{s}".cache_auditor_observations', f'DELETE FROM "{s}".cache_metrics',
                      f'UPDATE "{s}".maintenance_settings SET raw_retention = \'1 year\'',
                      f'CREATE TABLE "{s}".intruder (x int)', f'DROP TABLE "{s}".export_batches',
                      f'SELECT * FROM "{s}".maintain()', f'SELECT "{s}".acknowledge_observation(1, \'w\')',
                      f'SELECT "{s}".roles_sql(\'a\', \'b\')', f'TRUNCATE "{s}".cache_metrics_1min'):
        _denied(writer_dsn, statement)


def test_the_reader_reads_and_acknowledges_and_nothing_else(pg_dsn, schema, roles):
    _, reader_dsn = roles
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        (obs,) = conn.execute(f'INSERT INTO "{schema}".cache_auditor_observations (cache_name, implementation_type,'
                              f" severity, category, rule, metric, message) VALUES ('c', 'new', 'warning',"
                              f" 'performance', 'r', 'm', 'slow') RETURNING id").fetchone()
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        writer.write_minutes([_minute(datetime.now(UTC).replace(second=0, microsecond=0))], [], uuid.uuid4())
    finally:
        writer.close()
    s = schema
    with psycopg.connect(reader_dsn, autocommit=True) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{s}".cache_metrics_1min').fetchone()[0] == 1
        assert conn.execute(f'SELECT count(*) FROM "{s}".open_observations').fetchone()[0] == 1
        now = datetime.now(UTC)
        assert len(conn.execute(f'SELECT * FROM "{s}".cache_series(%s, %s, %s)',
                                (now - timedelta(hours=1), now + timedelta(minutes=1), timedelta(hours=1)))
                   .fetchall()) == 1
        conn.execute(f'SELECT * FROM "{s}".get_cache_performance_summary()').fetchall()
        acked = conn.execute(f'SELECT acknowledged_by FROM "{s}".acknowledge_observation(%s, %s)',
                             (obs, "reader")).fetchone()
        assert acked == ("reader",)
    for statement in (f'INSERT INTO "{s}".cache_metrics_1min (minute_window, cache_name, implementation_type,'
                      f" service_name) VALUES (date_trunc('minute', now()), 'x', 'y', 'z')",
                      f'UPDATE "{s}".cache_auditor_observations SET status = \'resolved\'',
                      f'DELETE FROM "{s}".cache_baseline_metrics', f'SELECT * FROM "{s}".maintain()',
                      f'SELECT "{s}".ensure_cache_metrics_partitions(current_date, current_date)',
                      f'SELECT * FROM "{s}".run_auditor()', f'SELECT "{s}".refresh_baselines()'):
        _denied(reader_dsn, statement)


@pytest.fixture
def supabase_roles(pg_dsn):
    """anon, authenticated and service_role as Supabase has them (made here when missing)."""
    made = []
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for role in ("anon", "authenticated", "service_role"):
            if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)", (role,)).fetchone()[0]:
                conn.execute(f"CREATE ROLE {role} LOGIN")
                made.append(role)
    yield
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for role in made:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_anon_sees_nothing_and_writes_nothing_even_with_the_tables_granted(pg_dsn, schema, supabase_roles):
    s = schema
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        writer.write_minutes([_minute(datetime.now(UTC).replace(second=0, microsecond=0))], [], uuid.uuid4())
    finally:
        writer.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{s}".cache_auditor_observations (cache_name, implementation_type, severity,'
                     f" category, rule, metric, message) VALUES ('c', 'new', 'warning', 'performance', 'r', 'm', 'x')")
        checks = {c.name: c for c in exposure(conn, s)}
        assert checks["row-level security"].ok is True and checks["public access"].ok is True
        # what exposing a schema through Supabase's Data API grants (its default privileges for public):
        conn.execute(f'GRANT USAGE ON SCHEMA "{s}" TO anon, authenticated')
        conn.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA "{s}" TO anon, authenticated')
        checks = {c.name: c for c in exposure(conn, s)}
        # ALL includes TRUNCATE, which row-level security does not stop: doctor fails on it
        assert checks["public access"].ok is False and "TRUNCATE" in checks["public access"].detail
        conn.execute(f'REVOKE TRUNCATE, TRIGGER ON ALL TABLES IN SCHEMA "{s}" FROM anon, authenticated')
        checks = {c.name: c for c in exposure(conn, s)}
        assert checks["public access"].ok is None and "anon" in checks["public access"].detail

    anon = _as(pg_dsn, "anon")
    with psycopg.connect(anon, autocommit=True) as conn:
        for table in ("cache_metrics_1min", "cache_auditor_observations", "cache_metrics", "maintenance_settings"):
            assert conn.execute(f'SELECT count(*) FROM "{s}".{table}').fetchone()[0] == 0, table
        assert conn.execute(f'SELECT count(*) FROM "{s}".open_observations').fetchone()[0] == 0
        assert conn.execute(f'UPDATE "{s}".cache_auditor_observations SET acknowledged = true').rowcount == 0
        assert conn.execute(f'DELETE FROM "{s}".cache_metrics_1min').rowcount == 0
        # refused: by row-level security, or before it by the trigger's functions anon may not call
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'INSERT INTO "{s}".cache_metrics_1min (minute_window, cache_name, implementation_type,'
                         f" service_name) VALUES (date_trunc('minute', now()), 'x', 'y', 'z')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(f'INSERT INTO "{s}".export_batches (batch_id, kind, row_count)'
                         f" VALUES (gen_random_uuid(), 'metrics', 0)")
    _denied(anon, f'SELECT "{s}".acknowledge_observation(1, \'anon\')')
    assert sql_rows(pg_dsn, f'SELECT count(*) FROM "{s}".cache_metrics_1min')[0][0] == 1

    # a policy that opens rows to anon, or a table without RLS, fails the doctor
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE POLICY oops ON "{s}".cache_metrics_1min FOR SELECT TO anon USING (true)')
        conn.execute(f'ALTER TABLE "{s}".export_batches DISABLE ROW LEVEL SECURITY')
        checks = {c.name: c for c in exposure(conn, s)}
    assert checks["public access"].ok is False and "cache_metrics_1min (anon)" in checks["public access"].detail
    assert checks["row-level security"].ok is False and "export_batches" in checks["row-level security"].detail


def test_every_table_and_new_partition_has_row_level_security(pg_dsn, schema):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SELECT "{schema}".ensure_cache_metrics_partitions(current_date + 20, current_date + 21)')
        off = conn.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity",
                           (schema,)).fetchall()
        public_fns = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND has_function_privilege('public', p.oid, 'EXECUTE')", (schema,)).fetchall()
    assert off == [] and public_fns == []


# --- secrets, hostile input, keys, attributes, transport, Supabase CLI ---------------------------

def test_a_failing_connection_never_shows_its_password(caplog, capsys, tmp_path, monkeypatch):
    import logging

    from otel_supabase_exporter import configure, instrument_cache
    from otel_supabase_exporter.store.writer import Unavailable

    secret = "Pa55-w0rd-that-must-not-leak"
    with socket_port() as port:
        dsn = f"postgresql://monitor:{secret}@127.0.0.1:{port}/postgres?connect_timeout=1"
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("OTEL_EXPORTER_SUPABASE_TIMEOUT", "1")
    caplog.set_level(logging.DEBUG)
    writer = PostgresWriter(Settings.from_env(dsn=dsn, schema="monitoring"))
    with pytest.raises(Unavailable) as caught:
        writer.write_minutes([_minute(datetime.now(UTC).replace(second=0, microsecond=0))], [], uuid.uuid4())
    telemetry = configure(dsn, schema="monitoring", service_name="leak-test", set_global=False)
    cache = instrument_cache({}, name="c", implementation="new", tracer_provider=telemetry.tracer_provider,
                             meter_provider=telemetry.meter_provider)
    cache["k"] = "v"
    cache.get("k")
    telemetry.shutdown()
    assert main(["--dsn", dsn, "doctor"]) == 1
    shown = [str(caught.value), repr(writer), repr(telemetry), repr(Settings.from_env(dsn=dsn)),
             capsys.readouterr().out, caplog.text, *(str(r.args) for r in caplog.records)]
    assert all(secret not in text for text in shown)
    assert "127.0.0.1" in str(caught.value) and "Unavailable" in repr(type(caught.value))
    assert telemetry.stats()["spans"]["spooled"] >= 1  # nothing lost either


class socket_port:
    """A local TCP port nobody listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc) -> None:
        return None


HOSTILE = ["x'; DROP TABLE cache_metrics; --", '"quoted" \\ back\\slash', "$$; SELECT pg_sleep(5); $$",
           "nul\x00byte", "ünïcødé ✓ 🚀 ∑", "%s %(x)s {} {0}", "-- comment", "a" * 90]


def test_hostile_names_keys_and_values_are_stored_verbatim_with_no_other_effect(pg_dsn, schema):
    from otel_supabase_exporter import configure, instrument_cache

    telemetry = configure(pg_dsn, schema=schema, service_name="hostile", set_global=False)
    providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}
    for i, name in enumerate(HOSTILE):
        cache = instrument_cache({}, name=name, implementation=HOSTILE[-1 - i], **providers)
        cache[name] = name            # the key and the value are hostile too
        assert cache.get(name) == name
        cache.get("missing " + name)
    telemetry.shutdown()
    stored = {(r[0], r[1]) for r in sql_rows(
        pg_dsn, f'SELECT DISTINCT cache_name, implementation_type FROM "{schema}".cache_metrics_1min')}
    expected = {(n.replace("\x00", "\ufffd"), HOSTILE[-1 - i].replace("\x00", "\ufffd")) for i, n in enumerate(HOSTILE)}
    assert stored == expected  # verbatim, NUL replaced by U+FFFD as documented
    raw = sql_rows(pg_dsn, f'SELECT cache_name, operation_type, cache_key_hash, attributes::text'
                           f' FROM "{schema}".cache_metrics')
    assert len(raw) == 3 * len(HOSTILE)
    assert {r[0] for r in raw} == {n for n, _ in expected}
    # keys are a keyed hash, never the key itself
    assert all(r[2] and len(r[2]) == 16 for r in raw if r[1] in ("hit", "miss", "set"))
    assert not any(n in r[3] for r in raw for n in HOSTILE[:3])
    # and nothing else happened: every table is still there, nothing new appeared
    tables = {r[0] for r in sql_rows(pg_dsn, "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
    assert {"cache_metrics_1min", "export_batches", "monitoring_events"} <= tables
    assert not any("intruder" in t for t in tables)


def test_span_attributes_are_filtered_before_export(pg_dsn, schema):
    from otel_supabase_exporter import configure
    from otel_supabase_exporter.rows import AttributeFilter, set_attribute_filter

    def export(name: str) -> dict:
        telemetry = configure(pg_dsn, schema=schema, service_name="attrs", set_global=False)
        with telemetry.tracer_provider.get_tracer("t").start_as_current_span(name) as span:
            span.set_attributes({"user.password": "hunter2", "http.route": "/users", "auth.Token": "abc",
                                 "db.statement": "SELECT 1"})
        telemetry.shutdown()
        return sql_rows(pg_dsn, f'SELECT data->\'attributes\' FROM "{schema}".monitoring_events'
                                f" WHERE data->>'name' = %s", (name,))[0][0]

    try:
        assert export("default") == {"http.route": "/users", "db.statement": "SELECT 1",
                                     "otel.filtered_attributes": 2}
        set_attribute_filter(AttributeFilter(allow=["http.*"], deny=[]))
        assert export("allow") == {"http.route": "/users", "otel.filtered_attributes": 3}
        set_attribute_filter(AttributeFilter(allow=[], deny=["db.*"]))
        assert export("deny")["user.password"] == "hunter2"  # the user replaced the default list
    finally:
        set_attribute_filter(None)


@pytest.mark.parametrize("dsn, env, tls", [
    ("postgresql://u:p@db.abcdefgh.supabase.co:5432/postgres", {}, True),
    ("postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:6543/postgres", {}, True),
    ("host=10.0.0.5,localhost dbname=x", {}, True),
    ("postgresql://u:p@db.example.com/postgres?sslmode=verify-full", {}, False),
    ("postgresql://u:p@db.example.com/postgres?sslmode=disable", {}, False),
    ("postgresql://u:p@db.example.com/postgres", {"PGSSLMODE": "prefer"}, False),
    ("postgresql://u:p@localhost:5432/postgres", {}, False),
    ("postgresql://u:p@127.0.0.1/postgres", {}, False),
    ("postgresql://u:p@[::1]/postgres", {}, False),
    ("host=/var/run/postgresql dbname=x", {}, False),
])
def test_remote_hosts_require_tls_unless_the_dsn_says_otherwise(dsn, env, tls, monkeypatch):
    from otel_supabase_exporter.store.connect import connection_kwargs

    monkeypatch.delenv("PGSSLMODE", raising=False)
    monkeypatch.delenv("PGHOST", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert (connection_kwargs(Settings.from_env(dsn=dsn)).get("sslmode") == "require") is tls


def test_sql_export_for_the_supabase_cli_applies_and_agrees_with_migrate(pg_dsn, fresh_schema, tmp_path, capsys):
    from otel_supabase_exporter import migrate
    from otel_supabase_exporter.store.migrations import load_migrations, load_repeatables

    assert main(["--dsn", pg_dsn, "--schema", fresh_schema, "sql", "export", "--supabase", str(tmp_path)]) == 0
    files = sorted((tmp_path / "supabase" / "migrations").iterdir())
    assert len(files) == len(load_migrations()) + len(load_repeatables())
    prefix = r"^\d{14}_otel_supabase_exporter_" + fresh_schema
    assert all(re_match(prefix + r"_\d{3}_[a-z0-9_]+\.sql$", f.name) for f in files[:len(load_migrations())])
    assert all(re_match(prefix + r"_R_[a-z0-9_]+_[0-9a-f]{12}(_after_\d{3})?\.sql$", f.name)
               for f in files[len(load_migrations()):])
    assert f"{len(files)} migration(s) written" in capsys.readouterr().out
    # applied the way `supabase db push` does: each file once, in name order, in its own transaction
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for f in files:
            with conn.transaction():
                conn.execute(f.read_text())
        assert migrate(conn, fresh_schema) == []  # the package's ledger agrees: nothing left to apply
        assert conn.execute("SHOW search_path").fetchone()[0] == '"$user", public'
    # exporting again writes nothing new
    assert main(["--dsn", pg_dsn, "--schema", fresh_schema, "sql", "export", "--supabase", str(tmp_path)]) == 0
    assert sorted((tmp_path / "supabase" / "migrations").iterdir()) == files


def re_match(pattern: str, text: str) -> bool:
    import re

    return re.match(pattern, text) is not None


def test_the_dashboard_runs_as_the_reader_role(pg_dsn, schema, roles):
    import json as _json
    import urllib.request

    from otel_supabase_exporter.show.dashboard import Dashboard

    _, reader_dsn = roles
    writer = PostgresWriter(Settings.from_env(dsn=pg_dsn, schema=schema))
    try:
        writer.write_minutes([_minute(datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2))],
                             [], uuid.uuid4())
    finally:
        writer.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        (obs,) = conn.execute(f'INSERT INTO "{schema}".cache_auditor_observations (cache_name, implementation_type,'
                              f" severity, category, rule, metric, message) VALUES ('c', 'new', 'warning',"
                              f" 'performance', 'r', 'm', 'slow') RETURNING id").fetchone()
    board = Dashboard(Settings.from_env(dsn=reader_dsn, schema=schema), port=0).start()
    try:
        for path in ("api/caches", "api/series?cache=c&range=1h", "api/summary?cache=c", "api/compare?cache=c",
                     "api/observations"):
            with urllib.request.urlopen(board.url + path, timeout=10) as response:
                assert response.status == 200, path
        request = urllib.request.Request(board.url + f"api/observations/{obs}/ack", method="POST",
                                         data=_json.dumps({"by": "board"}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert _json.loads(response.read())["observation"]["acknowledged_by"] == "board"
    finally:
        board.stop()
