"""Fault injection against real servers. Every case ends with
operations performed = raw rows stored = 1-minute totals (no loss, no double count)."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time

import psycopg
import pytest

from faults import PgBouncer, migrated_schema, own_server, start_workload, totals, workload


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from own_server(tmp_path_factory, "faultpg")


@pytest.fixture
def fault_schema(server):
    return migrated_schema(server.dsn)


def _assert_exact(dsn: str, schema: str, ops: int) -> None:
    raw, distinct, minute = totals(dsn, schema)
    assert (raw, distinct, minute) == (ops, ops, ops)


def test_database_stopped_for_30_seconds_mid_workload(server, fault_schema, tmp_path):
    proc = start_workload(server.dsn, fault_schema, tmp_path / "spool", "--seconds", "45", "--rate", "200")
    time.sleep(6)
    server.stop()
    try:
        time.sleep(31)
    finally:
        server.start()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    spans = report["stats"]["spans"]
    assert spans["spooled"] > 0 and spans["dropped"] == {}
    # what the first process spooled after its last replay attempt is replayed by the next one
    workload(server.dsn, fault_schema, tmp_path / "spool", "--replay-only", "60")
    raw, distinct, minute = totals(server.dsn, fault_schema, name="faults")
    assert (raw, distinct, minute) == (report["ops"],) * 3


def test_sigkill_mid_replay_then_a_new_process_on_the_same_spool(server, fault_schema, tmp_path):
    spool = tmp_path / "spool"
    server.stop()
    try:
        report = workload(server.dsn, fault_schema, spool, "--seconds", "4", "--rate", "3000")
    finally:
        server.start()
    assert report["stats"]["spans"]["spooled"] == report["stats"]["spans"]["received"] > 0
    assert report["shutdown_s"] < 10  # database down: shutdown spools what it holds, within its timeout
    for _ in range(3):  # killed while replaying, at random moments
        proc = start_workload(server.dsn, fault_schema, spool, "--replay-only", "60")
        time.sleep(random.uniform(0.5, 2.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    final = workload(server.dsn, fault_schema, spool, "--replay-only", "60")
    assert final["stats"]["spool"]["segments"] == 0
    assert totals(server.dsn, fault_schema, "faults") == (report["ops"],) * 3


def test_database_restarted_while_copies_are_in_flight(server, fault_schema, tmp_path):
    proc = start_workload(server.dsn, fault_schema, tmp_path / "spool", "--seconds", "12", "--rate", "1500",
                          "--threads", "2")
    stop = threading.Event()

    def restarts():
        while not stop.wait(random.uniform(1.5, 3.0)):
            server.restart(mode="immediate")  # kills in-flight transactions, COPYs included

    thread = threading.Thread(target=restarts)
    thread.start()
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        stop.set()
        thread.join()
    assert proc.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    workload(server.dsn, fault_schema, tmp_path / "spool", "--replay-only", "60")
    assert totals(server.dsn, fault_schema, "faults") == (report["ops"],) * 3


# pgbouncer's own default refuses a startup ``options`` (the writer's statement bounds): then the
# writer connects without them; a pgbouncer told to ignore it takes them and applies nothing
@pytest.mark.parametrize("ignored", ["extra_float_digits", "extra_float_digits,options"])
def test_through_pgbouncer_in_transaction_mode(server, fault_schema, tmp_path, ignored):
    bouncer = PgBouncer(server.socket_dir, server.port, ignored=ignored)
    try:
        report = workload(bouncer.dsn, fault_schema, tmp_path / "spool", "--seconds", "4", "--rate", "1000",
                          "--threads", "2")
    finally:
        bouncer.close()
    assert report["stats"]["spans"]["spooled"] == 0
    _assert_exact(server.dsn, fault_schema, report["ops"])


def test_four_processes_with_three_threads_each_give_exact_sums(server, fault_schema, tmp_path):
    procs = [start_workload(server.dsn, fault_schema, tmp_path / f"spool{i}", "--seconds", "5", "--rate", "300",
                            "--threads", "3") for i in range(4)]
    ops = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        ops += json.loads(out.strip().splitlines()[-1])["ops"]
    _assert_exact(server.dsn, fault_schema, ops)
    with psycopg.connect(server.dsn, autocommit=True) as conn:  # one row per minute and series: merged
        dup = conn.execute(f'SELECT count(*) FROM (SELECT 1 FROM "{fault_schema}".cache_metrics_1min'
                           " GROUP BY minute_window, cache_name, implementation_type, service_name"
                           " HAVING count(*) > 1) d").fetchone()[0]
    assert dup == 0


def test_a_slow_database_does_not_slow_the_application(server, fault_schema, tmp_path):
    args = ("--seconds", "6", "--rate", "400", "--work-us", "200")
    baseline = workload(server.dsn, fault_schema, tmp_path / "spool0", *args, "--no-telemetry")
    healthy = workload(server.dsn, fault_schema, tmp_path / "spool1", *args)
    # a session holds every table of the schema locked: statements wait until they time out
    with psycopg.connect(server.dsn) as blocker:
        blocker.execute(f'LOCK TABLE "{fault_schema}".cache_metrics, "{fault_schema}".cache_metrics_1min,'
                        f' "{fault_schema}".monitoring_events IN ACCESS EXCLUSIVE MODE')
        slow = workload(server.dsn, fault_schema, tmp_path / "spool2", *args)
        blocker.rollback()
    print("per-operation latency µs (p50/p99/max): no monitoring", baseline["latency_us"],
          "healthy db", healthy["latency_us"], "locked db", slow["latency_us"])
    assert slow["stats"]["spans"]["spooled"] > 0  # the database really did not answer
    # against the same workload with monitoring on and the database healthy: what the database's
    # state changes (monitoring's own cost per operation is bench/hotpath's, not this test's)
    assert slow["latency_us"]["p50"] < max(healthy["latency_us"]["p50"], baseline["latency_us"]["p50"]) * 1.5 + 50
    assert slow["latency_us"]["p99"] < max(healthy["latency_us"]["p99"], baseline["latency_us"]["p99"]) * 3 + 500
    assert slow["shutdown_s"] < 15  # shutdown with the database stuck: bounded, what it held is spooled
