-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- Maintenance: hourly rollups, retention, expiry of old judgements, and maintain(), the one
-- entry point for pg_cron or `otel-supabase-exporter maintain`.

-- Recomputes the queued hours from their 1-minute rows (replacing, so running it twice
-- changes nothing); returns the hour rows written. Concurrent callers share the queue.
CREATE OR REPLACE FUNCTION rollup_hours(p_limit integer DEFAULT 20000)
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    written integer;
BEGIN
    WITH picked AS (
        SELECT hour_window, cache_name, implementation_type, service_name
        FROM rollup_queue
        ORDER BY 1, 2, 3, 4
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        DELETE FROM rollup_queue AS q USING picked AS p
        WHERE q.hour_window = p.hour_window AND q.cache_name = p.cache_name
          AND q.implementation_type = p.implementation_type AND q.service_name = p.service_name
        RETURNING q.hour_window, q.cache_name, q.implementation_type, q.service_name
    ), merged AS (
        SELECT c.hour_window, c.cache_name, c.implementation_type, c.service_name,
               sum(m.hits)::bigint AS hits, sum(m.misses)::bigint AS misses, sum(m.sets)::bigint AS sets,
               sum(m.deletes)::bigint AS deletes, sum(m.evictions)::bigint AS evictions,
               sum(m.errors)::bigint AS errors, sum(m.latency_count)::bigint AS latency_count,
               sum(m.latency_sum_ms) AS latency_sum_ms, min(m.min_response_time_ms) AS min_ms,
               max(m.max_response_time_ms) AS max_ms, sum(m.latency_zero_count)::bigint AS zero_count,
               exp_hist_merge_all(array_agg(m.latency_histogram)) AS histogram,
               (array_agg(m.cache_size ORDER BY m.minute_window DESC)
                    FILTER (WHERE m.cache_size IS NOT NULL))[1] AS cache_size
        FROM claimed AS c
        JOIN cache_metrics_1min AS m
          ON m.cache_name = c.cache_name AND m.implementation_type = c.implementation_type
         AND m.service_name = c.service_name
         AND m.minute_window >= c.hour_window AND m.minute_window < c.hour_window + interval '1 hour'
        GROUP BY c.hour_window, c.cache_name, c.implementation_type, c.service_name
    )
    INSERT INTO cache_metrics_1hour AS t (
        hour_window, cache_name, implementation_type, service_name, hits, misses, sets, deletes, evictions,
        errors, latency_count, latency_sum_ms, min_response_time_ms, max_response_time_ms, latency_zero_count,
        latency_histogram, cache_size)
    SELECT hour_window, cache_name, implementation_type, service_name, hits, misses, sets, deletes, evictions,
           errors, latency_count, latency_sum_ms, min_ms, max_ms, zero_count, histogram, cache_size
    FROM merged
    ORDER BY hour_window, cache_name, implementation_type, service_name
    ON CONFLICT ON CONSTRAINT cache_metrics_1hour_series_key DO UPDATE SET
        hits = EXCLUDED.hits, misses = EXCLUDED.misses, sets = EXCLUDED.sets, deletes = EXCLUDED.deletes,
        evictions = EXCLUDED.evictions, errors = EXCLUDED.errors, latency_count = EXCLUDED.latency_count,
        latency_sum_ms = EXCLUDED.latency_sum_ms, min_response_time_ms = EXCLUDED.min_response_time_ms,
        max_response_time_ms = EXCLUDED.max_response_time_ms, latency_zero_count = EXCLUDED.latency_zero_count,
        latency_histogram = EXCLUDED.latency_histogram, cache_size = EXCLUDED.cache_size;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- Deletes the rows of one of this schema's tables whose p_column is before p_cutoff, p_batch
-- rows per statement (short statements: writers are not held up); returns how many.
CREATE OR REPLACE FUNCTION delete_older_than(p_table text, p_column text, p_cutoff timestamptz, p_batch integer)
RETURNS bigint
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    n     bigint;
    total bigint := 0;
BEGIN
    LOOP
        EXECUTE format('DELETE FROM %1$I.%2$I WHERE id IN (SELECT id FROM %1$I.%2$I WHERE %3$I < $1 LIMIT $2)',
                       current_schema(), p_table, p_column)
            USING p_cutoff, p_batch;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        EXIT WHEN n < p_batch;
    END LOOP;
    RETURN total;
END
$$;

-- Deletes what is older than the retention windows; raw rows go a whole daily partition at
-- a time (a partition is dropped once its last instant is outside the window, so nothing
-- inside the window is ever removed). One row per table: what was removed.
CREATE OR REPLACE FUNCTION apply_retention(p_batch integer DEFAULT 50000)
RETURNS TABLE (relation text, removed bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    cfg   maintenance_settings;
    sch   text := current_schema();
    part  record;
    n     bigint;
    total bigint := 0;
    saved text := current_setting('lock_timeout');
BEGIN
    SELECT * INTO cfg FROM maintenance_settings;

    FOR part IN
        SELECT c.relname, to_date(substr(c.relname, length('cache_metrics_p') + 1), 'YYYYMMDD') AS day
        FROM pg_inherits AS i
        JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = format('%I.cache_metrics', sch)::regclass
          AND c.relname ~ '^cache_metrics_p[0-9]{8}$'
        ORDER BY 2
    LOOP
        EXIT WHEN ((part.day + 1)::timestamp AT TIME ZONE 'UTC') > now() - cfg.raw_retention;
        BEGIN
            -- dropping a partition locks its parent: wait briefly, else leave it to the next run
            PERFORM set_config('lock_timeout', '2s', true);
            EXECUTE format('DROP TABLE %I.%I', sch, part.relname);
            total := total + 1;
        EXCEPTION WHEN lock_not_available THEN
            EXIT;
        END;
    END LOOP;
    PERFORM set_config('lock_timeout', saved, true);
    relation := 'cache_metrics (daily partitions dropped)'; removed := total; RETURN NEXT;

    relation := 'cache_metrics_1min';
    removed := delete_older_than('cache_metrics_1min', 'minute_window', now() - cfg.minute_retention, p_batch);
    RETURN NEXT;
    relation := 'cache_metrics_1hour';
    removed := delete_older_than('cache_metrics_1hour', 'hour_window', now() - cfg.hour_retention, p_batch);
    RETURN NEXT;
    relation := 'monitoring_events';
    removed := delete_older_than('monitoring_events', 'timestamp', now() - cfg.event_retention, p_batch);
    RETURN NEXT;

    -- A batch id must outlive any replay of its batch; one older than the minutes it merged
    -- into is no longer needed.
    DELETE FROM export_batches WHERE applied_at < now() - cfg.minute_retention;
    GET DIAGNOSTICS n = ROW_COUNT;
    relation := 'export_batches'; removed := n; RETURN NEXT;
END
$$;

-- Retention of the judging half: inactive baselines after baseline_history, resolved
-- observations after observation_retention. One row per table: what was removed.
CREATE OR REPLACE FUNCTION expire_judgements()
RETURNS TABLE (relation text, removed bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    cfg maintenance_settings;
BEGIN
    SELECT * INTO cfg FROM maintenance_settings;
    DELETE FROM cache_baseline_metrics WHERE NOT is_active AND window_end < now() - cfg.baseline_history;
    GET DIAGNOSTICS removed = ROW_COUNT;
    relation := 'cache_baseline_metrics (inactive)'; RETURN NEXT;
    DELETE FROM cache_auditor_observations
    WHERE status = 'resolved' AND resolved_at < now() - cfg.observation_retention;
    GET DIAGNOSTICS removed = ROW_COUNT;
    relation := 'cache_auditor_observations (resolved)'; RETURN NEXT;
END
$$;

-- Everything periodic, in one call: SELECT * FROM <schema>.maintain();
-- (pg_cron: SELECT cron.schedule('otel-maintain', '* * * * *', 'SELECT <schema>.maintain()');)
-- Runs one at a time per schema; a concurrent call returns at once.
CREATE OR REPLACE FUNCTION maintain()
RETURNS TABLE (step text, affected bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    cfg   maintenance_settings;
    today date := (now() AT TIME ZONE 'UTC')::date;
    r     record;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext(current_schema() || '.maintain')) THEN
        step := 'skipped: another maintain() is running'; affected := 0; RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO cfg FROM maintenance_settings;
    step := 'partitions created'; affected := ensure_cache_metrics_partitions(today, today + cfg.partitions_ahead);
    RETURN NEXT;
    step := 'hour rows rolled up'; affected := rollup_hours(); RETURN NEXT;
    FOR r IN SELECT * FROM apply_retention() UNION ALL SELECT * FROM expire_judgements() LOOP
        step := 'expired: ' || r.relation; affected := r.removed; RETURN NEXT;
    END LOOP;
    step := 'baselines computed'; affected := refresh_baselines(now()); RETURN NEXT;
    FOR r IN SELECT * FROM run_auditor(now()) LOOP
        step := 'observations ' || r.action; affected := r.observations; RETURN NEXT;
    END LOOP;
END
$$;
