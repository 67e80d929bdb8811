"""The spool on its own: durable records, torn tails, SIGKILL at any moment, bounds and drops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from otel_supabase_exporter.store.spool import Spool


def _replay_all(spool: Spool) -> list[dict]:
    got: list[dict] = []
    spool.replay(lambda payload, items, tag: got.append(payload) or True)
    return got


def test_records_replay_oldest_first_and_are_deleted_once_delivered(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000_000)
    for i in range(5):
        assert spool.append({"n": i, "rows": [[i, "x" * 10]]}, items=1)
    assert [p["n"] for p in _replay_all(spool)] == [0, 1, 2, 3, 4]
    assert _replay_all(spool) == [] and spool.state().segments == 0


def test_a_refused_batch_stops_the_replay_and_everything_stays(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000_000)
    for i in range(3):
        spool.append({"n": i}, items=1)
    seen = []
    spool.replay(lambda payload, items, tag: seen.append(payload["n"]) or payload["n"] < 1)
    assert seen == [0, 1]
    assert [p["n"] for p in _replay_all(spool)] == [0, 1, 2]  # replays are idempotent downstream


def test_a_torn_last_record_is_skipped_and_counted_and_the_rest_replays(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000_000)
    for i in range(4):
        spool.append({"n": i, "pad": os.urandom(100).hex()}, items=2)  # ~230-byte records
    spool.seal()
    (segment,) = list(tmp_path.iterdir())
    data = segment.read_bytes()
    for cut in (len(data) - 1, len(data) - 60, len(data) - 120):  # inside the last record's payload or header
        segment.write_bytes(data[:cut])
        torn = []
        got = []
        Spool(tmp_path, max_bytes=10_000_000).replay(lambda p, n, t: got.append(p["n"]) or False,
                                                     on_torn=torn.append)
        assert got == [0]  # refused: the segment stays for the next cut
        got.clear()
        spool2 = Spool(tmp_path, max_bytes=10_000_000)
        spool2.replay(lambda p, n, t: got.append(p["n"]) or True, on_torn=torn.append)
        assert got == [0, 1, 2] and torn == [1]
        segment.write_bytes(data)  # restore for the next cut (the replay deleted it)


def test_overflow_drops_the_oldest_whole_segments_and_counts_them(tmp_path, monkeypatch):
    from otel_supabase_exporter.store import spool as spool_module

    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 2_000)
    dropped: list[tuple[str, int]] = []
    spool = Spool(tmp_path, max_bytes=6_000, on_drop=lambda reason, items, tag: dropped.append((reason, items)))
    for i in range(40):
        assert spool.append({"n": i, "pad": os.urandom(300).hex()}, items=3)  # incompressible
    assert spool.bytes() <= 6_000
    kept = [p["n"] for p in _replay_all(spool)]
    assert kept == list(range(40 - len(kept), 40))  # the newest survive, in order
    assert sum(items for _, items in dropped) == 3 * (40 - len(kept))
    assert {reason for reason, _ in dropped} == {"spool full"}


def test_a_segment_being_written_by_a_live_process_is_not_replayed_by_another(tmp_path):
    writer = Spool(tmp_path, max_bytes=10_000_000)
    writer.append({"n": 1}, items=1)  # the writer holds its open segment's lock
    assert _replay_all(Spool(tmp_path, max_bytes=10_000_000)) == []
    writer.seal()
    assert [p["n"] for p in _replay_all(Spool(tmp_path, max_bytes=10_000_000))] == [1]


WRITER = """
import sys
from otel_supabase_exporter.store.spool import Spool
spool = Spool(sys.argv[1], max_bytes=10**9)
i = 0
while True:
    spool.append({"n": i, "pad": "w" * (i % 5000)}, items=1)
    i += 1
"""


def test_sigkill_at_random_moments_never_corrupts_what_was_written(tmp_path):
    for round_ in range(6):
        directory = tmp_path / f"r{round_}"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(directory)])
        for _ in range(400):  # the interpreter's start is not the moment under test
            if directory.is_dir() and any(directory.glob("*.spool")):
                break
            time.sleep(0.025)
        time.sleep(0.1 + 0.17 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        torn: list[int] = []
        got = []
        Spool(directory, max_bytes=10**9).replay(lambda p, n, t: got.append(p["n"]) or True, on_torn=torn.append)
        assert got == list(range(len(got))) and len(got) > 0  # a gapless prefix of what was appended
        assert len(torn) <= 1


def test_without_file_locks_the_spool_is_off_and_said_so(tmp_path, monkeypatch, caplog):
    # A platform without fcntl (Windows) cannot be made real here: the module attribute is patched.
    import pytest

    from otel_supabase_exporter import Settings
    from otel_supabase_exporter.store import spool as spool_module
    from otel_supabase_exporter.store.delivery import Delivery
    from otel_supabase_exporter.store.spool import SpoolUnavailable
    from otel_supabase_exporter.store.writer import PostgresWriter

    monkeypatch.setattr(spool_module, "fcntl", None)
    with pytest.raises(SpoolUnavailable):
        Spool(tmp_path, max_bytes=1000)
    settings = Settings(dsn="postgresql://nobody@127.0.0.1:1/x", spool_dir=str(tmp_path))
    delivery = Delivery(settings, PostgresWriter(settings))
    try:
        assert delivery.spool is None and "spool is off" in caplog.text
    finally:
        delivery.close(timeout_s=1)


def test_replay_resynchronises_past_a_damaged_record_and_counts_it(tmp_path):
    spool = Spool(tmp_path, max_bytes=10**9)
    for i in range(5):
        spool.append({"n": i, "pad": "x" * 300}, items=1)
    spool.close()
    (segment,) = tmp_path.glob("*.spool")
    data = bytearray(segment.read_bytes())
    third = len(data) // 2  # somewhere inside the third record's payload
    data[third:third + 8] = b"\xff" * 8
    segment.write_bytes(bytes(data))
    torn: list[int] = []
    got: list[int] = []
    Spool(tmp_path, max_bytes=10**9).replay(lambda p, n, t: got.append(p["n"]) or True, on_torn=torn.append)
    assert got == [0, 1, 3, 4] and torn == [1]


def test_a_short_write_is_cut_back_counted_and_the_next_record_goes_to_a_new_segment(tmp_path, monkeypatch):
    # A short write needs a disk that fills at the right byte: tests/chaos has the real full disk;
    # here os.write is made to write half, to check the bookkeeping byte for byte.
    from otel_supabase_exporter.store import spool as spool_module

    dropped: list[tuple[str, int]] = []
    spool = Spool(tmp_path, max_bytes=10**9, on_drop=lambda reason, n, tag: dropped.append((reason, n)))
    assert spool.append({"n": 0}, items=1)
    real_write = os.write
    monkeypatch.setattr(spool_module.os, "write", lambda fd, b: real_write(fd, b[: len(b) // 2]))
    assert not spool.append({"n": 1, "pad": "y" * 100}, items=7)
    monkeypatch.setattr(spool_module.os, "write", real_write)
    assert spool.append({"n": 2}, items=1)
    spool.close()
    assert len(list(tmp_path.glob("*.spool"))) == 2 and dropped and dropped[0][1] == 7
    got: list[int] = []
    torn: list[int] = []
    Spool(tmp_path, max_bytes=10**9).replay(lambda p, n, t: got.append(p["n"]) or True, on_torn=torn.append)
    assert sorted(got) == [0, 2] and torn == []


def test_the_byte_bound_is_never_exceeded(tmp_path):
    spool = Spool(tmp_path, max_bytes=3_000)
    for i in range(200):
        spool.append({"n": i, "pad": os.urandom(200).hex()}, items=1)
        assert spool.bytes() <= 3_000
    spool.close()
