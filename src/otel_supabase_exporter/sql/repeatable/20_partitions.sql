-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- Daily partitions of cache_metrics, made by the owner on behalf of whoever writes.

-- Partitions are created by the owner on behalf of whoever writes (the writer role has no DDL
-- right), with row-level security on like every other table.
CREATE OR REPLACE FUNCTION ensure_cache_metrics_partitions(p_from date, p_to date)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    sch     text := current_schema();
    d       date;
    part    text;
    created integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
        RAISE EXCEPTION 'ensure_cache_metrics_partitions: invalid range % .. %', p_from, p_to;
    END IF;
    IF p_to - p_from > 400 THEN
        RAISE EXCEPTION 'ensure_cache_metrics_partitions: refusing to create % daily partitions at once',
            p_to - p_from + 1;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(sch || '.cache_metrics partitions'));
    FOR d IN SELECT generate_series(p_from, p_to, interval '1 day')::date LOOP
        part := 'cache_metrics_p' || to_char(d, 'YYYYMMDD');
        IF to_regclass(format('%I.%I', sch, part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I.%I PARTITION OF %I.cache_metrics FOR VALUES FROM (%L) TO (%L)',
                sch, part, sch,
                (d::timestamp AT TIME ZONE 'UTC'),
                ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', sch, part);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;
