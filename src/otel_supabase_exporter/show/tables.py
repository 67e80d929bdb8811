"""Fixed-width text tables for the CLI (and the demo), and the columns each command prints."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

__all__ = ["BASELINE_COLUMNS", "COMPARISON_COLUMNS", "OBSERVATION_COLUMNS", "SUMMARY_COLUMNS", "format_table"]

SUMMARY_COLUMNS = (
    ("cache_name", "cache"), ("implementation_type", "impl"), ("total_operations", "ops"),
    ("throughput_per_minute", "ops/min"), ("hits", "hits"),
    ("misses", "misses"), ("sets", "sets"), ("evictions", "evict"), ("errors", "errors"),
    ("hit_rate", "hit %"), ("error_rate", "err %"), ("p50_response_time_ms", "p50 ms"),
    ("p95_response_time_ms", "p95 ms"), ("p99_response_time_ms", "p99 ms"), ("cache_size", "size"),
)


BASELINE_COLUMNS = (
    ("cache_name", "cache"), ("implementation_type", "impl"), ("sample_count", "minutes"),
    ("hit_rate", "hit %"), ("hit_rate_stddev", "±"), ("p50_response_time_ms", "p50 ms"),
    ("p95_response_time_ms", "p95 ms"), ("p95_response_time_stddev", "±"), ("p99_response_time_ms", "p99 ms"),
    ("error_rate", "err %"), ("throughput_per_minute", "ops/min"), ("throughput_stddev", "±"),
    ("seasonal_hours", "hours of week"), ("window_end", "until"),
)
OBSERVATION_COLUMNS = (
    ("id", "id"), ("severity", "severity"), ("category", "category"), ("cache_name", "cache"),
    ("implementation_type", "impl"), ("rule", "rule"), ("first_seen_at", "since"), ("duration", "for"),
    ("acknowledged_by", "ack by"), ("message", "message"),
)
COMPARISON_COLUMNS = (
    ("cache_name", "cache"), ("reference_implementation", "reference"), ("implementation_type", "impl"),
    ("reference_hit_rate", "ref hit %"), ("hit_rate", "hit %"), ("hit_rate_diff", "Δ pts"),
    ("reference_p95_ms", "ref p95"), ("p95_ms", "p95"), ("p95_diff_pct", "Δ %"),
    ("reference_error_rate", "ref err %"), ("error_rate", "err %"), ("error_rate_diff", "Δ pts"),
    ("reference_throughput", "ref ops/min"), ("throughput", "ops/min"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, datetime):
        return f"{value.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
    if isinstance(value, timedelta):
        return str(value - timedelta(microseconds=value.microseconds))
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]] = SUMMARY_COLUMNS) -> str:
    """A fixed-width text table; one header line, one line per row."""
    cells = [[title for _, title in columns]] + [[_cell(r.get(key)) for key, _ in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    out = []
    for n, line in enumerate(cells):
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
