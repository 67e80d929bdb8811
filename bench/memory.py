"""Memory: resident set of an instrumented process at a steady 10,000 operations/s, then during a
database outage (spool on), then after it. It must stay flat: bounded, not growing with time."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import psycopg

from otel_supabase_exporter import migrate

from .common import Table
from .servers import StoppableServer
from .workload import start_workload, totals

SAMPLE_S = 5.0


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(dsn: str, mode: str = "quick") -> Table:
    steady, outage, after = {"smoke": (10, 5, 5), "quick": (60, 30, 20), "full": (600, 300, 60)}[mode]
    warmup = min(30.0, steady / 3)
    with tempfile.TemporaryDirectory(prefix="otel-bench-mem-") as tmp:
        server = StoppableServer(Path(tmp))
        try:
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                migrate(conn, "bench_memory")
            total = steady + outage + after
            proc = start_workload(server.dsn, "bench_memory", Path(tmp) / "spool", "--seconds", str(total),
                                  "--rate", "10000", "--name", "memory")
            samples: list[tuple[float, str, float]] = []
            t0 = time.monotonic()
            stopped = restarted = False
            while proc.poll() is None:
                now = time.monotonic() - t0
                if not stopped and now >= steady:
                    server.stop()
                    stopped = True
                if stopped and not restarted and now >= steady + outage:
                    server.start()
                    restarted = True
                phase = "warm-up" if now < warmup else "steady" if now < steady else \
                    "outage" if now < steady + outage else "after"
                try:
                    samples.append((now, phase, _rss_mb(proc.pid)))
                except OSError:
                    break
                time.sleep(SAMPLE_S)
            if not restarted:
                server.start()
            out, err = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(err[-2000:])
            report = json.loads(out.strip().splitlines()[-1])
            # what the workload left in its spool at exit: the next process replays it
            start_workload(server.dsn, "bench_memory", Path(tmp) / "spool", "--replay-only", "1800").communicate(
                timeout=2000)
            raw, _, minute = totals(server.dsn, "bench_memory", "memory")
        finally:
            server.close()

    def peak(phase: str) -> float:
        values = [rss for _, p, rss in samples if p == phase]
        return max(values) if values else float("nan")

    base = next((rss for _, p, rss in samples if p == "steady"), samples[0][2])
    table = Table(f"Memory: RSS of one process at 10,000 ops/s — {steady} s steady, {outage} s outage, "
                  f"{after} s after (sampled every {SAMPLE_S:.0f} s)",
                  ["phase", "peak RSS MB", "growth over steady start MB"])
    for phase in ("warm-up", "steady", "outage", "after"):
        table.add(phase, peak(phase), peak(phase) - base)
    growth = max(peak("steady"), peak("outage"), peak("after")) - base
    stats = report["stats"]["spans"]
    table.notes += [
        "RSS (MB) every sample: " + ", ".join(f"{rss:.0f}" for _, _, rss in samples),
        f"operations {report['ops']:,} ({report['ops'] / (steady + outage + after):,.0f}/s); spooled "
        f"{stats['spooled']:,}, replayed by the process {stats['replayed']:,} (the rest by the next process); "
        f"dropped {sum(stats['dropped'].values()):,}; raw rows {raw:,}, 1-minute total {minute:,} "
        f"({'exact' if raw == minute == report['ops'] else 'NOT exact'})",
        f"flat within 20 MB: {'yes' if growth <= 20 else 'NO'} (largest growth {growth:.1f} MB)",
    ]
    return table
