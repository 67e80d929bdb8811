"""The dashboard's query parameters: one value per name, times, buckets, and the window they name."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from http import HTTPStatus

from ..errors import ApiError

__all__ = ["RANGES", "one", "window"]

# range name -> (length, bucket). Up to 24 h from 1-minute rows; 7 and 30 days from 1-hour rows
# (cache_series reads hour rows for whole-hour buckets starting on the hour).
RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "24h": (timedelta(hours=24), timedelta(minutes=10)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
    "30d": (timedelta(days=30), timedelta(hours=6)),
}
MAX_BUCKETS = 5000
MAX_SPAN = timedelta(days=400)
_DURATION = re.compile(r"^(\d+)\s*([mhd])$")


def one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"parameter {name!r} given more than once")
    return values[0]


def _time(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}: not an ISO 8601 time: {text[:40]!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _bucket(text: str) -> timedelta:
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"bucket: use a whole number of minutes, hours or days, e.g. 5m, "
                                               f"1h, 1d (got {text[:20]!r})")
    n, unit = int(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]


def window(params: dict[str, list[str]], now: datetime | None = None) -> tuple[datetime, datetime, timedelta, str]:
    """(from, to, bucket, label) from ``range=1h|24h|7d|30d`` or ``from``/``to``/``bucket``."""
    now = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start, end, bucket = one(params, "from"), one(params, "to"), one(params, "bucket")
    name = one(params, "range")
    if start is None and end is None and bucket is None:
        name = name or "1h"
        if name not in RANGES:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"range: one of {', '.join(RANGES)} (got {name[:20]!r})")
        length, step = RANGES[name]
        begin = now - length
        if step >= timedelta(hours=1):  # buckets on the hour: read from the 1-hour rows
            begin = begin.replace(minute=0)
        return begin, now, step, name
    if name is not None:
        raise ApiError(HTTPStatus.BAD_REQUEST, "give either range or from/to/bucket, not both")
    begin = _time(start, "from") if start else now - timedelta(hours=1)
    finish = _time(end, "to") if end else now
    if finish <= begin:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"inverted time range: to ({finish.isoformat()}) is not after "
                                               f"from ({begin.isoformat()})")
    if finish - begin > MAX_SPAN:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"time range too large: at most {MAX_SPAN.days} days")
    step = _bucket(bucket) if bucket else max(timedelta(minutes=1), (finish - begin) / 120)
    step = timedelta(minutes=max(1, round(step.total_seconds() / 60)))
    if (finish - begin) / step > MAX_BUCKETS:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"too many buckets: at most {MAX_BUCKETS}; use a larger bucket")
    return begin, finish, step, "custom"
