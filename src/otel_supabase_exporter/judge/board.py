"""The dashboard's reads (and its one write, acknowledging): each takes a ``dict_row`` cursor in
the transaction the dashboard opened (read-only except for acknowledging)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from ..settings import validate_identifier

__all__ = ["CHANNEL", "Span", "acknowledge", "cache_activity", "cache_list", "comparison", "database_time", "expected_rows",
           "is_known", "listen", "observation_bands", "observation_list", "series_rows"]

# The channel every NOTIFY of the schema goes to (``notify_channel()`` in SQL).
CHANNEL = "otel_supabase_exporter"

Cursor = psycopg.Cursor[dict[str, Any]]


def _fn(schema: str, name: str) -> sql.Identifier:
    validate_identifier(schema, "schema name")
    return sql.Identifier(schema, name)


def database_time(cur: Cursor) -> datetime:
    cur.execute("SELECT now() AS now")
    return cur.fetchone()["now"]


def is_known(cur: Cursor, schema: str, cache: str, implementation: str | None) -> bool:
    """Whether the cache (with that implementation, if given) has 1-minute or 1-hour rows."""
    cur.execute(sql.SQL(
        "SELECT EXISTS (SELECT 1 FROM {m} WHERE cache_name = %(c)s"
        "               AND (%(i)s::text IS NULL OR implementation_type = %(i)s))"
        " OR EXISTS (SELECT 1 FROM {h} WHERE cache_name = %(c)s"
        "            AND (%(i)s::text IS NULL OR implementation_type = %(i)s)) AS known").format(
        m=_fn(schema, "cache_metrics_1min"), h=_fn(schema, "cache_metrics_1hour")), {"c": cache, "i": implementation})
    return bool(cur.fetchone()["known"])


def cache_list(cur: Cursor, schema: str) -> tuple[list[dict[str, Any]], str]:
    """(cache_name, implementation_type) seen recently, and the reference implementation."""
    cur.execute(sql.SQL(
        "SELECT cache_name, implementation_type FROM {h} WHERE hour_window > now() - interval '31 days'"
        " UNION SELECT cache_name, implementation_type FROM {q}"
        " UNION SELECT cache_name, implementation_type FROM {m} WHERE minute_window > now() - interval '2 hours'"
        " ORDER BY 1, 2").format(h=_fn(schema, "cache_metrics_1hour"), q=_fn(schema, "rollup_queue"),
                                 m=_fn(schema, "cache_metrics_1min")))
    rows = cur.fetchall()
    cur.execute(sql.SQL("SELECT reference_implementation FROM {}").format(_fn(schema, "maintenance_settings")))
    return rows, cur.fetchone()["reference_implementation"]


def cache_activity(cur: Cursor, schema: str) -> dict[str, int]:
    """Operations per cache over the last 24 hours (1-minute rows), busiest first."""
    cur.execute(sql.SQL(
        "SELECT cache_name, sum(hits + misses + sets + deletes + errors)::bigint AS operations FROM {m}"
        " WHERE minute_window > now() - interval '24 hours' GROUP BY 1 ORDER BY 2 DESC, 1").format(
        m=_fn(schema, "cache_metrics_1min")))
    return {r["cache_name"]: r["operations"] for r in cur.fetchall()}


@dataclass(frozen=True)
class Span:
    """A time range [begin, end) read in buckets of ``step`` (one bucket when ``step`` is None)."""

    begin: datetime
    end: datetime
    step: timedelta | None = None

    @property
    def bucket(self) -> timedelta:
        return self.step if self.step is not None else self.end - self.begin


def series_rows(cur: Cursor, schema: str, span: Span, *, cache: str | None = None,
                implementation: str | None = None) -> list[dict[str, Any]]:
    """``cache_series``: one row per series and bucket of the span."""
    cur.execute(sql.SQL("SELECT * FROM {}(%s, %s, %s, %s, %s)").format(_fn(schema, "cache_series")),
                (span.begin, span.end, span.bucket, cache, implementation))
    return cur.fetchall()


def comparison(cur: Cursor, schema: str, span: Span, *, cache: str | None = None) -> list[dict[str, Any]]:
    """``compare_implementations`` per bucket of the span."""
    cur.execute(sql.SQL("SELECT * FROM {}(%s, %s, %s, %s)").format(_fn(schema, "compare_implementations")),
                (span.begin, span.end, span.bucket, cache))
    return cur.fetchall()


def observation_list(cur: Cursor, schema: str, *, status: str, cache: str | None, limit: int
                     ) -> list[dict[str, Any]]:
    """Observations (``status`` open or all), open ones first, worst first, newest first."""
    cur.execute(sql.SQL(
        "SELECT id, severity, category, cache_name, implementation_type, rule, metric, observed_value,"
        " expected_value, deviation_pct, z_score, worst_value, message, recommendation, status,"
        " first_seen_at, last_seen_at, resolved_at, acknowledged, acknowledged_by, acknowledged_at"
        " FROM {} WHERE (%(s)s = 'all' OR status = 'open') AND (%(c)s::text IS NULL OR cache_name = %(c)s)"
        " ORDER BY status = 'open' DESC,"
        "          CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, first_seen_at DESC"
        " LIMIT %(n)s").format(_fn(schema, "cache_auditor_observations")), {"s": status, "c": cache, "n": limit})
    return cur.fetchall()


def observation_bands(cur: Cursor, schema: str, span: "Span", *, cache: str | None) -> list[dict[str, Any]]:
    """Observations that were open at some time in the span: each with the time it opened (``start``),
    the time it was resolved, or the database's now if it is still open (``end``), and the start of the
    window the auditor judged when it opened it (``window_start``: the rule's window before the last
    complete minute ``audit_lag`` before ``start``, as ``run_auditor`` judges; NULL for an unknown rule)."""
    cur.execute(sql.SQL(
        "SELECT o.id, o.severity, o.category, o.cache_name, o.implementation_type, o.rule, o.metric, o.message,"
        " o.status, o.acknowledged, o.first_seen_at AS start, coalesce(o.resolved_at, now()) AS end,"
        " date_trunc('minute', o.first_seen_at - s.audit_lag) - r.window_length AS window_start"
        " FROM {o} AS o LEFT JOIN {r} AS r ON r.rule = o.rule CROSS JOIN {s} AS s"
        " WHERE o.first_seen_at < %(to)s AND coalesce(o.resolved_at, now()) >= %(from)s"
        " AND (%(c)s::text IS NULL OR o.cache_name = %(c)s) ORDER BY o.first_seen_at, o.id LIMIT 500").format(
        o=_fn(schema, "cache_auditor_observations"), r=_fn(schema, "auditor_rules"),
        s=_fn(schema, "maintenance_settings")), {"from": span.begin, "to": span.end, "c": cache})
    return cur.fetchall()


def expected_rows(cur: Cursor, schema: str, span: "Span", *, cache: str) -> list[dict[str, Any]]:
    """What the auditor expects of each bucket of the span, per implementation of ``cache``: the
    active baseline it would judge the bucket against (the bucket's hour of the week at its middle,
    else the overall one, as ``run_auditor`` chooses). Today's baselines drawn over the whole span:
    where the span is older than the baseline window they are what is expected now, not then."""
    cur.execute(sql.SQL(
        "SELECT g.t AS bucket_start, b.implementation_type, b.hour_of_week, b.hit_rate, b.error_rate,"
        " b.throughput_per_minute, b.p50_response_time_ms, b.p95_response_time_ms, b.p99_response_time_ms"
        " FROM generate_series(%(from)s::timestamptz, %(to)s::timestamptz - %(step)s::interval,"
        " %(step)s::interval) AS g(t)"
        " CROSS JOIN LATERAL ("
        "  SELECT DISTINCT ON (bl.implementation_type) bl.* FROM {b} AS bl"
        "  WHERE bl.is_active AND bl.cache_name = %(c)s"
        "  AND (bl.hour_of_week IS NULL OR bl.hour_of_week = {how}(g.t + %(step)s::interval / 2))"
        "  ORDER BY bl.implementation_type, bl.hour_of_week NULLS LAST) AS b"
        " ORDER BY 1, 2").format(b=_fn(schema, "cache_baseline_metrics"), how=_fn(schema, "hour_of_week")),
        {"from": span.begin, "to": span.end, "step": span.bucket, "c": cache})
    return cur.fetchall()


def acknowledge(cur: Cursor, schema: str, observation_id: int, by: str) -> dict[str, Any]:
    """``acknowledge_observation``: the observation acknowledged by ``by`` (NoDataFound if there is none)."""
    cur.execute(sql.SQL("SELECT * FROM {}(%s, %s)").format(_fn(schema, "acknowledge_observation")),
                (observation_id, by))
    return cur.fetchone()


def listen(conn: psycopg.Connection) -> None:
    """Subscribe ``conn`` (autocommit) to the schema's notifications."""
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
