"""The SQL of a 1-minute merge, derived from the row's one definition (:data:`~..rows.schema.MINUTE`):
the staging table, its columns, and the upsert that merges each staged row into its minute."""

from __future__ import annotations

from functools import lru_cache

from psycopg import sql

from ..rows.schema import ADD, GREATEST, HISTOGRAM, KEEP_GREATEST, KEY, LEAST, MINUTE, MinuteShape

__all__ = ["minute_upsert"]

# How a stored value and a new one (EXCLUDED) combine, by merge rule.
_MERGE = {
    ADD: "{c} = t.{c} + EXCLUDED.{c}",
    LEAST: "{c} = LEAST(t.{c}, EXCLUDED.{c})",
    GREATEST: "{c} = GREATEST(t.{c}, EXCLUDED.{c})",
    KEEP_GREATEST: "{c} = COALESCE(GREATEST(t.{c}, EXCLUDED.{c}), t.{c})",
    HISTOGRAM: "{c} = {s}.exp_hist_merge(t.{c}, EXCLUDED.{c})",
}


@lru_cache(maxsize=64)
def minute_upsert(schema: str, stage_name: str,
                  shape: MinuteShape = MINUTE) -> tuple[sql.Composed, list[str], sql.Composed]:
    """(CREATE TEMP TABLE of the stage, the stage's COPY columns, the INSERT ... ON CONFLICT merge)."""
    s = sql.Identifier(schema)
    stage = sql.Identifier(stage_name)
    staged = list(shape.stage_columns())
    create = sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
        stage, sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in staged))
    targets, sources, updates = [], [], []
    for f in shape.fields:
        column = sql.Identifier(f.column)
        targets.append(column)
        if f.merge == HISTOGRAM:
            scale, offset, counts = (sql.Identifier(f"{f.name}_{part}") for part in ("scale", "offset", "counts"))
            sources.append(sql.SQL("CASE WHEN {counts} IS NULL THEN NULL"
                                   " ELSE ROW({scale}, {offset}, {counts})::{s}.exp_histogram END").format(
                scale=scale, offset=offset, counts=counts, s=s))
        else:
            sources.append(sql.Identifier(f.name))
        if f.merge != KEY:
            updates.append(sql.SQL(_MERGE[f.merge]).format(c=column, s=s))
    keys = sql.SQL(", ").join(sql.Identifier(f.name) for f in shape.key_fields)
    # Sorted keys give every writer the same lock order: no deadlocks between processes.
    upsert = sql.SQL(
        "INSERT INTO {table} AS t ({targets}) SELECT {sources} FROM {stage} ORDER BY {keys}"
        " ON CONFLICT ON CONSTRAINT cache_metrics_1min_series_key DO UPDATE SET {updates}"
    ).format(table=sql.Identifier(schema, shape.table), targets=sql.SQL(", ").join(targets),
             sources=sql.SQL(", ").join(sources), stage=stage, keys=keys, updates=sql.SQL(", ").join(updates))
    return create, [c for c, _ in staged], upsert
