"""Base-2 exponential histograms (OpenTelemetry data model): exact merge at a common scale.

Mirrors ``exp_hist_merge`` (sql/repeatable/10_histograms.sql) so a batch can combine its own points
before the database merges them with other processes' rows.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BUCKETS = 320


@dataclass(frozen=True)
class ExpHistogram:
    """Bucket ``index_offset + i`` counts values in (2^(j/2^scale), 2^((j+1)/2^scale)]."""

    scale: int
    index_offset: int
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


def merge(a: ExpHistogram | None, b: ExpHistogram | None, max_buckets: int = MAX_BUCKETS) -> ExpHistogram | None:
    """The exact merge of two histograms, downscaled until it fits ``max_buckets``."""
    if a is None or not a.counts:
        if b is None or not b.counts:
            return a if a is not None else b
        if len(b.counts) <= max_buckets:
            return b
        a, b = b, None
    elif b is None or not b.counts:
        if len(a.counts) <= max_buckets:
            return a
        b = None

    scale = a.scale if b is None else min(a.scale, b.scale)
    while True:
        lo = a.index_offset >> (a.scale - scale)
        hi = (a.index_offset + len(a.counts) - 1) >> (a.scale - scale)
        if b is not None:
            lo = min(lo, b.index_offset >> (b.scale - scale))
            hi = max(hi, (b.index_offset + len(b.counts) - 1) >> (b.scale - scale))
        if hi - lo + 1 <= max_buckets:
            break
        scale -= 1

    out = [0] * (hi - lo + 1)
    for h in (a, b):
        if h is None:
            continue
        shift = h.scale - scale
        for i, count in enumerate(h.counts):
            if count:
                out[((h.index_offset + i) >> shift) - lo] += count
    return ExpHistogram(scale, lo, tuple(out))
