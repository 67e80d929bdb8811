"""The demo: a semantic-cache workload with a "legacy" and a "new" implementation, through the real pipeline."""

from __future__ import annotations

import bisect
import itertools
import random
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from ..instrument import instrument_cache
from ..judge.summary import performance_summary, raw_rows_of
from ..sdk.configure import configure
from ..settings import Settings
from ..show.tables import format_table
from ..store import migrations
from ..store.connect import connect, resolve_dsn

PROMPTS = 2_000


class LegacySemanticCache:
    """FIFO, 300 entries, a slow linear similarity scan, and a flaky backend (0.5 % timeouts)."""

    def __init__(self, rng: random.Random) -> None:
        self._data: OrderedDict[str, str] = OrderedDict()
        self._rng = rng

    def __len__(self) -> int:
        return len(self._data)

    def get(self, prompt: str) -> str | None:
        _busy(40e-6)
        if self._rng.random() < 0.005:
            raise TimeoutError("semantic index did not answer in time")
        return self._data.get(prompt)

    def set(self, prompt: str, answer: str) -> None:
        self._data[prompt] = answer
        while len(self._data) > 300:
            self.popitem()

    def popitem(self) -> tuple[str, str]:
        return self._data.popitem(last=False)


class NewSemanticCache:
    """LRU, 600 entries, an indexed lookup."""

    def __init__(self) -> None:
        self._data: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, prompt: str) -> str | None:
        _busy(8e-6)
        answer = self._data.get(prompt)
        if answer is not None:
            self._data.move_to_end(prompt)
        return answer

    def set(self, prompt: str, answer: str) -> None:
        self._data[prompt] = answer
        self._data.move_to_end(prompt)
        while len(self._data) > 600:
            self.popitem()

    def popitem(self) -> tuple[str, str]:
        return self._data.popitem(last=False)


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _zipf_sampler(rng: random.Random, n: int, s: float = 1.1) -> Callable[[], int]:
    weights = list(itertools.accumulate(1.0 / (k ** s) for k in range(1, n + 1)))
    total = weights[-1]
    return lambda: bisect.bisect_left(weights, rng.random() * total)


def _workload(cache: Any, stop: threading.Event, counter: list[int], seed: int) -> None:
    rng = random.Random(seed)
    next_prompt = _zipf_sampler(rng, PROMPTS)
    while not stop.is_set():
        prompt = f"prompt-{next_prompt()}"
        try:
            answer = cache.get(prompt)
        except TimeoutError:
            answer = None
        if answer is None:
            time.sleep(0.0005)  # the model call a cache miss costs
            cache.set(prompt, f"answer to {prompt}")
        counter[0] += 1


def run_demo(settings: Settings, seconds: float = 20.0, service_name: str = "otel-supabase-demo",
             out: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run the workload for ``seconds``, export it, and return the summary read back from the database."""
    dsn = resolve_dsn(settings)
    with connect(settings) as conn:
        applied = migrations.migrate(conn, settings.schema)
        run_started = conn.execute("SELECT now()").fetchone()[0]
    if applied:
        out(f"applied migrations: {', '.join(applied)}")
    telemetry = configure(dsn, schema=settings.schema, service_name=service_name, export_interval_s=5,
                          set_global=False)
    providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}
    legacy_cls = instrument_cache(name="semantic", implementation="legacy", **providers)(LegacySemanticCache)
    new_cls = instrument_cache(name="semantic", implementation="new", **providers)(NewSemanticCache)
    caches = {"legacy": legacy_cls(random.Random(1)), "new": new_cls()}

    stop = threading.Event()
    counters = {name: [0] for name in caches}
    threads = [threading.Thread(target=_workload, args=(cache, stop, counters[name], seed), daemon=True)
               for seed, (name, cache) in enumerate(caches.items())]
    started = time.monotonic()
    for t in threads:
        t.start()
    out(f"running the semantic-cache workload for {seconds:.0f} s (legacy and new side by side)...")
    while (elapsed := time.monotonic() - started) < seconds:
        time.sleep(min(2.0, seconds - elapsed))
        ops = {name: c[0] for name, c in counters.items()}
        out(f"  {time.monotonic() - started:5.1f} s  legacy {ops['legacy']:>7} ops   new {ops['new']:>7} ops")
    stop.set()
    for t in threads:
        t.join()
    out("flushing spans and metrics to PostgreSQL...")
    telemetry.shutdown()

    with connect(settings) as conn:
        rows = performance_summary(conn, settings.schema)
        raw = raw_rows_of(conn, settings.schema, telemetry.instance_id, run_started)
    out("")
    out("summary read back from get_cache_performance_summary() (last hour):")
    out(format_table(rows))
    out("")
    out(f"raw rows written by this run ({service_name}, service.instance.id {telemetry.instance_id}): {raw}; "
        f"operations performed: {sum(c[0] for c in counters.values())} gets (+ a set per miss, + evictions)")
    return rows
