"""Synthetic 1-minute history: weeks of cache traffic with daily and weekly seasonality, noise,
and injected faults, written through the exporter's own writer.

Used to prove the auditor (bench/auditor.py, tests/test_auditor.py) and to fill a database with
something to look at. Latencies are log-normal; counts are Poisson and binomial draws; the
latency histograms are at scale 3 (buckets 9 % wide).
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Iterable, Iterator, Literal
from zoneinfo import ZoneInfo

from ..histogram import ExpHistogram
from ..rows.schema import MinuteRow

__all__ = ["Fault", "Profile", "generate", "write_history"]

SCALE = 3
_W = math.log(2) / 2 ** SCALE  # width of a bucket in log space
_STEPS = 32                    # sub-bucket positions of the median with a precomputed table

FaultKind = Literal["hit_rate", "latency", "errors", "traffic"]


@dataclass(frozen=True)
class Fault:
    """A change of one series between ``start`` and ``end``.

    ``hit_rate``: the hit rate becomes ``value`` (a fraction); ``errors``: the error rate becomes
    ``value``; ``latency`` and ``traffic``: latencies or operations are multiplied by ``value``.
    With ``ramp``, the change grows linearly from nothing at ``start`` to ``value`` at ``end`` and
    stays after ``end``; without, it holds from ``start`` until ``end`` only.
    """

    kind: FaultKind
    start: datetime
    end: datetime
    value: float
    ramp: bool = False

    def weight(self, t: datetime) -> float:
        """How much of the change applies at ``t`` (0 to 1)."""
        if t < self.start:
            return 0.0
        if self.ramp:
            return min(1.0, (t - self.start) / (self.end - self.start))
        return 1.0 if t < self.end else 0.0


@dataclass(frozen=True)
class Profile:
    """What one series (cache, implementation) looks like when nothing is wrong."""

    cache_name: str
    implementation_type: str = "legacy"
    service_name: str = "synthetic"
    peak_ops_per_minute: float = 1200.0
    night_ratio: float = 0.15      # traffic at the quietest hour, as a share of the busiest
    weekend_ratio: float = 0.7
    peak_hour_utc: float = 15.0
    lookup_share: float = 0.8      # share of operations that are gets
    hit_rate: float = 0.85
    hit_rate_swing: float = 0.03   # the hit rate is this much higher at the quietest hour
    median_ms: float = 2.0
    sigma: float = 0.4             # spread of the log of the latency
    load_latency: float = 0.15     # latency is this much higher at the busiest hour
    error_rate: float = 0.0005
    cache_size: int = 50_000
    dispersion: float = 0.0        # coefficient of variation of a minute's traffic beyond Poisson (gamma-mixed)
    drift: float = 0.0             # scale of the slow, mean-reverting hourly wander of hit rate and latency
    local_zone: str | None = None  # the daily wave and weekends follow this zone's clock (peak_hour_utc is local then)
    faults: tuple[Fault, ...] = field(default=())


def _load(p: Profile, t: datetime) -> float:
    """Traffic at ``t`` as a share of the peak: a daily wave, lower at weekends."""
    if p.local_zone:
        t = t.astimezone(ZoneInfo(p.local_zone))
    hour = t.hour + t.minute / 60
    wave = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - p.peak_hour_utc + 12) / 24)
    share = p.night_ratio + (1 - p.night_ratio) * wave
    return share * (p.weekend_ratio if t.weekday() >= 5 else 1.0)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n < 40:
        return sum(rng.random() < p for _ in range(n))
    return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))


@lru_cache(maxsize=16)
def _bucket_table(sigma: float) -> tuple[int, tuple[tuple[float, ...], ...]]:
    """Probabilities of the buckets around the median's, for each sub-bucket position of the median."""
    k = int(math.ceil(4.5 * sigma / _W)) + 1

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / (sigma * math.sqrt(2)))

    rows = []
    for step in range(_STEPS):
        frac = step / _STEPS
        rows.append(tuple(cdf((j + 1 - frac) * _W) - cdf((j - frac) * _W) for j in range(-k, k + 1)))
    return k, tuple(rows)


def _histogram(rng: random.Random, n: int, mu: float, sigma: float) -> ExpHistogram | None:
    """``n`` log-normal latencies (log of seconds ~ N(mu, sigma)) as bucket counts."""
    if n <= 0:
        return None
    k, table = _bucket_table(sigma)
    u = mu / _W
    i0 = math.floor(u)
    probs = table[min(_STEPS - 1, int((u - i0) * _STEPS))]
    rnd = rng.random
    counts = [int(n * p + rnd()) for p in probs]
    lo = next((i for i, c in enumerate(counts) if c), None)
    if lo is None:
        counts[k] = 1
        lo = k
    hi = max(i for i, c in enumerate(counts) if c)
    return ExpHistogram(SCALE, i0 - k + lo, tuple(counts[lo:hi + 1]))


def generate(profile: Profile, start: datetime, end: datetime, seed: int = 0) -> Iterator[MinuteRow]:
    """One row per minute of ``profile`` in [start, end) (UTC, whole minutes), faults applied."""
    rng = random.Random(f"{seed}:{profile.cache_name}:{profile.implementation_type}")
    t = start.astimezone(timezone.utc).replace(second=0, microsecond=0)
    step = timedelta(minutes=1)
    hit_drift = latency_drift = 0.0
    while t < end:
        load = _load(profile, t)
        if profile.drift and t.minute == 0:
            # an AR(1) walk per hour, correlated over about two days: at drift 1 it wanders with a
            # standard deviation of 1.5 points of hit rate and 5 % of latency
            hit_drift = 0.98 * hit_drift + rng.gauss(0, 0.003 * profile.drift)
            latency_drift = 0.98 * latency_drift + rng.gauss(0, 0.01 * profile.drift)
        hit_rate = profile.hit_rate + profile.hit_rate_swing * (1 - load) + hit_drift
        latency = (1.0 + profile.load_latency * load) * math.exp(latency_drift)
        error_rate = profile.error_rate
        traffic = 1.0
        for f in profile.faults:
            w = f.weight(t)
            if not w:
                continue
            if f.kind == "hit_rate":
                hit_rate += (f.value - hit_rate) * w
            elif f.kind == "errors":
                error_rate += (f.value - error_rate) * w
            elif f.kind == "latency":
                latency *= 1 + (f.value - 1) * w
            else:
                traffic *= 1 + (f.value - 1) * w
        expected = profile.peak_ops_per_minute * load * traffic
        if profile.dispersion:
            shape = 1 / profile.dispersion ** 2
            expected *= rng.gammavariate(shape, 1 / shape)
        requests = _poisson(rng, expected)
        errors = _binomial(rng, requests, error_rate)
        served = requests - errors
        lookups = _binomial(rng, served, profile.lookup_share)
        hits = _binomial(rng, lookups, min(1.0, max(0.0, hit_rate)))
        misses = lookups - hits
        sets = _binomial(rng, misses, 0.9)
        deletes = served - lookups - sets if served - lookups - sets >= 0 else 0
        total = hits + misses + sets + deletes + errors
        mu = math.log(profile.median_ms / 1000 * latency)
        if total:
            mu += rng.gauss(0, 1.25 * profile.sigma / math.sqrt(total))
        hist = _histogram(rng, total, mu, profile.sigma)
        if hist is None:
            t += step
            continue
        count = hist.total
        first = 2 ** (hist.index_offset / 2 ** SCALE) * 1000
        last = 2 ** ((hist.index_offset + len(hist.counts)) / 2 ** SCALE) * 1000
        yield MinuteRow(
            t, profile.cache_name, profile.implementation_type, profile.service_name,
            hits=hits, misses=misses, sets=sets, deletes=deletes, evictions=_binomial(rng, sets, 0.2),
            errors=errors, latency_count=count,
            latency_sum_ms=count * math.exp(mu + profile.sigma ** 2 / 2) * 1000,
            min_response_time_ms=first, max_response_time_ms=last,
            cache_size=int(profile.cache_size * (0.95 + 0.05 * load) * math.sqrt(traffic)),
            histogram=hist,
        )
        t += step


def write_history(writer, profiles: Iterable[Profile], start: datetime, end: datetime, *, seed: int = 0,
                  batch: int = 20_000) -> int:
    """Write the history of every profile with ``writer`` (a PostgresWriter); returns the rows written."""
    written = 0
    rows: list[MinuteRow] = []
    for profile in profiles:
        for row in generate(profile, start, end, seed):
            rows.append(row)
            if len(rows) >= batch:
                written += writer.write_minutes(rows, [], uuid.uuid4()).written
                rows = []
    if rows:
        written += writer.write_minutes(rows, [], uuid.uuid4()).written
    return written
