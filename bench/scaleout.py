"""Scale-out: N processes (1, 2, 4, 8) running the workload flat out against one server, directly
and through pgbouncer in transaction mode: operations/s, raw rows/s, and whether sums stay exact."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from otel_supabase_exporter import migrate

from .common import Table
from .servers import PgBouncer, Unavailable
from .workload import start_workload, totals


def _one(dsn: str, admin_dsn: str, processes: int, seconds: float, spool: Path) -> tuple[float, float, str]:
    schema = f"bench_scale_{processes}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        migrate(conn, schema)
    t0 = time.perf_counter()
    procs = [start_workload(dsn, schema, spool / f"p{i}", "--seconds", str(seconds), "--rate", "0")
             for i in range(processes)]
    ops = 0
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 300)
        if proc.returncode != 0:
            raise RuntimeError(err[-2000:])
        ops += json.loads(out.strip().splitlines()[-1])["ops"]
    wall = time.perf_counter() - t0
    raw, distinct, minute = totals(admin_dsn, schema)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    exact = "yes" if raw == distinct == minute == ops else f"NO (ops {ops}, raw {raw}, 1-min {minute})"
    return ops / seconds, raw / wall, exact


def run(dsn: str, mode: str = "quick") -> Table:
    seconds = {"smoke": 2, "quick": 5, "full": 20}[mode]
    counts = (1, 2) if mode == "smoke" else (1, 2, 4, 8)
    table = Table(f"Scale-out: N processes, each running the workload flat out for {seconds} s (spans always on)",
                  ["path", "processes", "operations/s", "raw rows/s stored", "sums exact"])
    params = conninfo.conninfo_to_dict(dsn)
    bouncer = None
    try:
        bouncer = PgBouncer(str(params.get("host", "/tmp")), int(params.get("port") or 5432),
                            str(params.get("dbname") or "postgres"))
    except Unavailable as exc:
        table.notes.append(f"pgbouncer rows missing: {exc}")
    try:
        with tempfile.TemporaryDirectory(prefix="otel-bench-spool-") as spool:
            for label, target in (("direct", dsn), ("pgbouncer (transaction mode)", bouncer.dsn if bouncer else None)):
                if target is None:
                    continue
                for n in counts:
                    ops_s, rows_s, exact = _one(target, dsn, n, seconds, Path(spool) / label[:6] / str(n))
                    table.add(label, n, ops_s, rows_s, exact)
    finally:
        if bouncer is not None:
            bouncer.close()
    table.notes.append("raw rows/s: rows stored / wall time from the first start to the last exit "
                       "(start-up and the final flush included).")
    return table
