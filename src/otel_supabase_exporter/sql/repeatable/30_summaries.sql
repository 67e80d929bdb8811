-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- The seeds' helper functions: hit rate, and the performance summary per cache and implementation.

-- Hit rate in percent (0..100); NULL when there were no lookups.
CREATE OR REPLACE FUNCTION calculate_hit_rate(hits bigint, misses bigint)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
    SELECT CASE WHEN coalesce(hits, 0) + coalesce(misses, 0) > 0
                THEN 100.0 * coalesce(hits, 0) / (coalesce(hits, 0) + coalesce(misses, 0)) END
$$;

-- Performance per cache and implementation over the last p_time_window: the minutes
-- [now + 1 minute - p_time_window, now], truncated to the minute, the current one included — the
-- same range the dashboard's table and charts read for the same window. Reads the
-- rolled-up hours for every complete hour that is not waiting to be re-rolled, and 1-minute
-- rows for the rest (both ends of the window, queued hours). Same results, far fewer rows.
CREATE OR REPLACE FUNCTION get_cache_performance_summary(
    p_implementation_type text DEFAULT NULL,
    p_time_window interval DEFAULT interval '1 hour')
RETURNS TABLE (
    cache_name           text,
    implementation_type  text,
    total_operations     bigint,
    hits                 bigint,
    misses               bigint,
    sets                 bigint,
    deletes              bigint,
    evictions            bigint,
    errors               bigint,
    hit_rate             double precision,
    error_rate           double precision,
    avg_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    max_response_time_ms double precision,
    cache_size           bigint,
    first_minute         timestamptz,
    last_minute          timestamptz)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    WITH b0 AS (
        SELECT date_trunc('minute', now()) + interval '1 minute' - p_time_window AS ws,
               date_trunc('hour', now(), 'UTC') AS now_hour
    ), b AS (
        -- [h_lo, h_hi): the complete hours inside the window (empty when there are none)
        SELECT ws, date_trunc('hour', ws + interval '59 minutes', 'UTC') AS h_lo,
               greatest(now_hour, date_trunc('hour', ws + interval '59 minutes', 'UTC')) AS h_hi
        FROM b0
    ), src AS (
        SELECT h.cache_name, h.implementation_type, h.hits, h.misses, h.sets, h.deletes, h.evictions,
               h.errors, h.latency_count, h.latency_sum_ms, h.latency_zero_count, h.min_response_time_ms,
               h.max_response_time_ms, h.latency_histogram, h.cache_size,
               h.hour_window AS w_first, h.hour_window + interval '59 minutes' AS w_last
        FROM cache_metrics_1hour AS h, b
        WHERE h.hour_window >= b.h_lo AND h.hour_window < b.h_hi
          AND (p_implementation_type IS NULL OR h.implementation_type = p_implementation_type)
          AND NOT EXISTS (SELECT 1 FROM rollup_queue AS q
                          WHERE q.hour_window = h.hour_window AND q.cache_name = h.cache_name
                            AND q.implementation_type = h.implementation_type
                            AND q.service_name = h.service_name)
        UNION ALL
        SELECT m.cache_name, m.implementation_type, m.hits, m.misses, m.sets, m.deletes, m.evictions,
               m.errors, m.latency_count, m.latency_sum_ms, m.latency_zero_count, m.min_response_time_ms,
               m.max_response_time_ms, m.latency_histogram, m.cache_size, m.minute_window, m.minute_window
        FROM cache_metrics_1min AS m, b
        WHERE m.minute_window >= b.ws AND m.minute_window < b.h_lo
          AND (p_implementation_type IS NULL OR m.implementation_type = p_implementation_type)
        UNION ALL
        SELECT m.cache_name, m.implementation_type, m.hits, m.misses, m.sets, m.deletes, m.evictions,
               m.errors, m.latency_count, m.latency_sum_ms, m.latency_zero_count, m.min_response_time_ms,
               m.max_response_time_ms, m.latency_histogram, m.cache_size, m.minute_window, m.minute_window
        FROM cache_metrics_1min AS m, b
        WHERE m.minute_window >= b.h_hi
          AND (p_implementation_type IS NULL OR m.implementation_type = p_implementation_type)
        UNION ALL
        SELECT m.cache_name, m.implementation_type, m.hits, m.misses, m.sets, m.deletes, m.evictions,
               m.errors, m.latency_count, m.latency_sum_ms, m.latency_zero_count, m.min_response_time_ms,
               m.max_response_time_ms, m.latency_histogram, m.cache_size, m.minute_window, m.minute_window
        FROM rollup_queue AS q, b, cache_metrics_1min AS m
        WHERE q.hour_window >= b.h_lo AND q.hour_window < b.h_hi
          AND m.cache_name = q.cache_name AND m.implementation_type = q.implementation_type
          AND m.service_name = q.service_name
          AND m.minute_window >= q.hour_window AND m.minute_window < q.hour_window + interval '1 hour'
          AND (p_implementation_type IS NULL OR m.implementation_type = p_implementation_type)
    ), agg AS (
        SELECT s.cache_name AS c_name, s.implementation_type AS c_impl,
               sum(s.hits)::bigint AS s_hits, sum(s.misses)::bigint AS s_misses, sum(s.sets)::bigint AS s_sets,
               sum(s.deletes)::bigint AS s_deletes, sum(s.evictions)::bigint AS s_evictions,
               sum(s.errors)::bigint AS s_errors, sum(s.latency_count)::bigint AS s_lcount,
               sum(s.latency_sum_ms) AS s_lsum, sum(s.latency_zero_count)::bigint AS s_zero,
               min(s.min_response_time_ms) AS s_min, max(s.max_response_time_ms) AS s_max,
               exp_hist_merge_all(array_agg(s.latency_histogram)) AS s_hist,
               (array_agg(s.cache_size ORDER BY s.w_last DESC) FILTER (WHERE s.cache_size IS NOT NULL))[1] AS s_size,
               min(s.w_first) AS s_first, max(s.w_last) AS s_last
        FROM src AS s
        GROUP BY s.cache_name, s.implementation_type
    )
    SELECT a.c_name, a.c_impl,
           a.s_hits + a.s_misses + a.s_sets + a.s_deletes + a.s_errors,
           a.s_hits, a.s_misses, a.s_sets, a.s_deletes, a.s_evictions, a.s_errors,
           calculate_hit_rate(a.s_hits, a.s_misses),
           CASE WHEN a.s_hits + a.s_misses + a.s_sets + a.s_deletes + a.s_errors > 0
                THEN 100.0 * a.s_errors / (a.s_hits + a.s_misses + a.s_sets + a.s_deletes + a.s_errors) END,
           CASE WHEN a.s_lcount > 0 THEN a.s_lsum / a.s_lcount END,
           q.v[1], q.v[2], q.v[3],
           a.s_max, a.s_size, a.s_first, a.s_last
    FROM agg AS a
    CROSS JOIN LATERAL (
        SELECT exp_hist_quantiles(a.s_hist, a.s_zero, ARRAY[0.50, 0.95, 0.99]::double precision[],
                                  a.s_min, a.s_max) AS v) AS q
    ORDER BY a.c_name, a.c_impl
$$;
