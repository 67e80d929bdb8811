-- 003: helper functions for people and dashboards.

-- Hit rate in percent (0..100); NULL when there were no lookups.
CREATE FUNCTION calculate_hit_rate(hits bigint, misses bigint)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
    SELECT CASE WHEN coalesce(hits, 0) + coalesce(misses, 0) > 0
                THEN 100.0 * coalesce(hits, 0) / (coalesce(hits, 0) + coalesce(misses, 0)) END
$$;

-- Performance per cache and implementation over the last p_time_window of
-- 1-minute rows (all services merged). Percentiles come from the merged
-- histograms, not from averaging per-minute percentiles.
-- p_implementation_type NULL means every implementation.
CREATE FUNCTION get_cache_performance_summary(
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
    WITH agg AS (
        SELECT m.cache_name AS c_name,
               m.implementation_type AS c_impl,
               sum(m.hits)::bigint AS s_hits,
               sum(m.misses)::bigint AS s_misses,
               sum(m.sets)::bigint AS s_sets,
               sum(m.deletes)::bigint AS s_deletes,
               sum(m.evictions)::bigint AS s_evictions,
               sum(m.errors)::bigint AS s_errors,
               sum(m.latency_count)::bigint AS s_lcount,
               sum(m.latency_sum_ms) AS s_lsum,
               sum(m.latency_zero_count)::bigint AS s_zero,
               min(m.min_response_time_ms) AS s_min,
               max(m.max_response_time_ms) AS s_max,
               exp_hist_agg(m.latency_histogram) AS s_hist,
               (array_agg(m.cache_size ORDER BY m.minute_window DESC)
                    FILTER (WHERE m.cache_size IS NOT NULL))[1] AS s_size,
               min(m.minute_window) AS s_first,
               max(m.minute_window) AS s_last
        FROM cache_metrics_1min AS m
        WHERE m.minute_window >= date_trunc('minute', now() - p_time_window)
          AND (p_implementation_type IS NULL OR m.implementation_type = p_implementation_type)
        GROUP BY m.cache_name, m.implementation_type
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
