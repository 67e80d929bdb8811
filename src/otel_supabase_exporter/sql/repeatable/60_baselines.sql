-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- Series per bucket from hour or minute rows, and the baselines computed from them.

-- Hour of the week in UTC, Monday 00:00-00:59 = 0 ... Sunday 23:00-23:59 = 167.
CREATE OR REPLACE FUNCTION hour_of_week(ts timestamptz)
RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
    SELECT ((extract(isodow FROM ts AT TIME ZONE 'UTC')::integer - 1) * 24
            + extract(hour FROM ts AT TIME ZONE 'UTC')::integer)::smallint
$$;

-- Per bucket of p_bucket (buckets start at p_from + k * p_bucket), cache and implementation:
-- counts, rates, throughput and percentiles of the merged histograms, all services together.
-- Reads 1-hour rows when p_bucket is a whole number of hours and p_from is on the hour (UTC),
-- except for hours waiting to be re-rolled, and 1-minute rows otherwise. Buckets without
-- data are absent. p_percentiles false leaves the percentiles NULL (and skips merging histograms).
CREATE OR REPLACE FUNCTION cache_series(
    p_from                timestamptz,
    p_to                  timestamptz,
    p_bucket              interval,
    p_cache_name          text DEFAULT NULL,
    p_implementation_type text DEFAULT NULL,
    p_percentiles         boolean DEFAULT true)
RETURNS TABLE (
    bucket_start          timestamptz,
    cache_name            text,
    implementation_type   text,
    bucket_minutes        double precision,
    total_operations      bigint,
    hits                  bigint,
    misses                bigint,
    sets                  bigint,
    deletes               bigint,
    evictions             bigint,
    errors                bigint,
    latency_count         bigint,
    hit_rate              double precision,
    error_rate            double precision,
    throughput_per_minute double precision,
    avg_response_time_ms  double precision,
    p50_response_time_ms  double precision,
    p95_response_time_ms  double precision,
    p99_response_time_ms  double precision,
    max_response_time_ms  double precision,
    cache_size            bigint)
LANGUAGE plpgsql STABLE
SET search_path FROM CURRENT
AS $$
DECLARE
    use_hours boolean;
    h_hi      timestamptz;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_bucket IS NULL THEN
        RAISE EXCEPTION 'cache_series: p_from, p_to and p_bucket are required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_to <= p_from THEN
        RAISE EXCEPTION 'cache_series: p_to (%) must be after p_from (%)', p_to, p_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_bucket < interval '1 minute' OR extract(epoch FROM p_bucket) <> floor(extract(epoch FROM p_bucket) / 60) * 60
       OR extract(month FROM p_bucket) <> 0 OR extract(year FROM p_bucket) <> 0 THEN
        RAISE EXCEPTION 'cache_series: p_bucket must be a whole number of minutes (days at most as units), got %', p_bucket
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF extract(epoch FROM p_to - p_from) / extract(epoch FROM p_bucket) > 100000 THEN
        RAISE EXCEPTION 'cache_series: more than 100000 buckets; use a larger p_bucket'
            USING ERRCODE = 'program_limit_exceeded';
    END IF;

    use_hours := extract(epoch FROM p_bucket)::bigint % 3600 = 0 AND p_from = date_trunc('hour', p_from, 'UTC');
    h_hi := CASE WHEN use_hours THEN greatest(p_from, date_trunc('hour', p_to, 'UTC')) ELSE p_from END;

    RETURN QUERY
    WITH src AS (
        SELECT h.hour_window AS w, h.cache_name AS c, h.implementation_type AS i, h.hits, h.misses, h.sets,
               h.deletes, h.evictions, h.errors, h.latency_count, h.latency_sum_ms, h.latency_zero_count,
               h.min_response_time_ms, h.max_response_time_ms, h.latency_histogram, h.cache_size,
               h.p50_response_time_ms, h.p95_response_time_ms, h.p99_response_time_ms
        FROM cache_metrics_1hour AS h
        WHERE use_hours AND h.hour_window >= p_from AND h.hour_window < h_hi
          AND (p_cache_name IS NULL OR h.cache_name = p_cache_name)
          AND (p_implementation_type IS NULL OR h.implementation_type = p_implementation_type)
          AND NOT EXISTS (SELECT 1 FROM rollup_queue AS q
                          WHERE q.hour_window = h.hour_window AND q.cache_name = h.cache_name
                            AND q.implementation_type = h.implementation_type AND q.service_name = h.service_name)
        UNION ALL
        SELECT m.minute_window, m.cache_name, m.implementation_type, m.hits, m.misses, m.sets, m.deletes,
               m.evictions, m.errors, m.latency_count, m.latency_sum_ms, m.latency_zero_count,
               m.min_response_time_ms, m.max_response_time_ms, m.latency_histogram, m.cache_size,
               m.p50_response_time_ms, m.p95_response_time_ms, m.p99_response_time_ms
        FROM cache_metrics_1min AS m
        WHERE m.minute_window >= h_hi AND m.minute_window < p_to
          AND (p_cache_name IS NULL OR m.cache_name = p_cache_name)
          AND (p_implementation_type IS NULL OR m.implementation_type = p_implementation_type)
        UNION ALL
        SELECT m.minute_window, m.cache_name, m.implementation_type, m.hits, m.misses, m.sets, m.deletes,
               m.evictions, m.errors, m.latency_count, m.latency_sum_ms, m.latency_zero_count,
               m.min_response_time_ms, m.max_response_time_ms, m.latency_histogram, m.cache_size,
               m.p50_response_time_ms, m.p95_response_time_ms, m.p99_response_time_ms
        FROM rollup_queue AS q
        JOIN cache_metrics_1min AS m
          ON m.cache_name = q.cache_name AND m.implementation_type = q.implementation_type
         AND m.service_name = q.service_name
         AND m.minute_window >= q.hour_window AND m.minute_window < q.hour_window + interval '1 hour'
        WHERE use_hours AND q.hour_window >= p_from AND q.hour_window < h_hi
          AND (p_cache_name IS NULL OR q.cache_name = p_cache_name)
          AND (p_implementation_type IS NULL OR q.implementation_type = p_implementation_type)
    ), agg AS (
        SELECT date_bin(p_bucket, s.w, p_from) AS b, s.c, s.i,
               sum(s.hits)::bigint AS a_hits, sum(s.misses)::bigint AS a_misses, sum(s.sets)::bigint AS a_sets,
               sum(s.deletes)::bigint AS a_deletes, sum(s.evictions)::bigint AS a_evictions,
               sum(s.errors)::bigint AS a_errors, sum(s.latency_count)::bigint AS a_lcount,
               sum(s.latency_sum_ms) AS a_lsum, max(s.max_response_time_ms) AS a_max,
               -- one source row (the usual case for one service): its stored percentiles are the answer
               CASE WHEN NOT p_percentiles THEN NULL::double precision[]
                    WHEN count(*) = 1
                    THEN ARRAY[min(s.p50_response_time_ms), min(s.p95_response_time_ms), min(s.p99_response_time_ms)]
                    ELSE exp_hist_quantiles(exp_hist_merge_all(array_agg(s.latency_histogram) FILTER (WHERE p_percentiles)),
                                            sum(s.latency_zero_count)::bigint, ARRAY[0.50, 0.95, 0.99]::double precision[],
                                            min(s.min_response_time_ms), max(s.max_response_time_ms))
               END AS q,
               -- the size at the bucket's last reading (the largest, if several services report one)
               (array_agg(s.cache_size ORDER BY s.w DESC, s.cache_size DESC)
                    FILTER (WHERE s.cache_size IS NOT NULL))[1] AS a_size
        FROM src AS s
        GROUP BY 1, 2, 3
    )
    SELECT a.b, a.c, a.i,
           (extract(epoch FROM least(a.b + p_bucket, p_to) - a.b) / 60)::double precision,
           a.a_hits + a.a_misses + a.a_sets + a.a_deletes + a.a_errors,
           a.a_hits, a.a_misses, a.a_sets, a.a_deletes, a.a_evictions, a.a_errors, a.a_lcount,
           calculate_hit_rate(a.a_hits, a.a_misses),
           CASE WHEN a.a_hits + a.a_misses + a.a_sets + a.a_deletes + a.a_errors > 0
                THEN 100.0::double precision * a.a_errors / (a.a_hits + a.a_misses + a.a_sets + a.a_deletes + a.a_errors) END,
           (a.a_hits + a.a_misses + a.a_sets + a.a_deletes + a.a_errors)
               / (extract(epoch FROM least(a.b + p_bucket, p_to) - a.b) / 60)::double precision,
           CASE WHEN a.a_lcount > 0 THEN a.a_lsum / a.a_lcount END,
           a.q[1], a.q[2], a.q[3], a.a_max, a.a_size
    FROM agg AS a
    ORDER BY a.b, a.c, a.i;
END
$$;

-- Recomputes the baselines of the series that need one: recently active series (a minute in
-- the hour before p_at) without an active baseline, or whose baseline ended more than
-- baseline_refresh before p_at; with p_force, every series with data in the window. Statistics
-- are of per-minute values (all services of a minute together) in [p_at - baseline_window, p_at):
-- rates and percentiles weighted by the minute's traffic, throughput over every minute of the
-- series' span (minutes without traffic count as 0). A series gets a baseline once it has
-- baseline_min_samples minutes with traffic; an hour-of-week baseline once that hour has
-- traffic in seasonal_min_weeks distinct weeks and seasonal_min_samples minutes. The new rows
-- replace the series' active ones, which are kept inactive. Returns the baselines written.
CREATE OR REPLACE FUNCTION refresh_baselines(p_at timestamptz DEFAULT now(), p_force boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    cfg      maintenance_settings;
    v_end    timestamptz := date_trunc('hour', p_at, 'UTC');
    v_from   timestamptz;
    new_rows cache_baseline_metrics[];
    written  integer;
BEGIN
    SELECT * INTO cfg FROM maintenance_settings;
    v_from := v_end - cfg.baseline_window;

    -- a series silent for a whole window keeps no active baseline (nothing left to compare with)
    UPDATE cache_baseline_metrics SET is_active = false WHERE is_active AND window_end < v_from;

    WITH due AS (
        SELECT DISTINCT m.cache_name, m.implementation_type
        FROM cache_metrics_1min AS m
        WHERE m.minute_window < p_at
          AND m.minute_window >= CASE WHEN p_force THEN v_from ELSE p_at - interval '1 hour' END
        EXCEPT
        SELECT b.cache_name, b.implementation_type
        FROM cache_baseline_metrics AS b
        WHERE NOT p_force AND b.is_active AND b.hour_of_week IS NULL AND b.window_end > p_at - cfg.baseline_refresh
    ), pm AS (
        SELECT m.cache_name, m.implementation_type, m.minute_window,
               sum(m.hits + m.misses)::double precision AS lookups, sum(m.hits)::double precision AS hits,
               sum(m.total_operations)::double precision AS ops, sum(m.errors)::double precision AS errs,
               sum(m.latency_count)::double precision AS lc, sum(m.latency_sum_ms) AS lsum,
               CASE WHEN count(*) = 1
                    THEN ARRAY[min(m.p50_response_time_ms), min(m.p95_response_time_ms), min(m.p99_response_time_ms)]
                    ELSE exp_hist_quantiles(exp_hist_merge_all(array_agg(m.latency_histogram)),
                                            sum(m.latency_zero_count)::bigint, ARRAY[0.50, 0.95, 0.99]::double precision[],
                                            min(m.min_response_time_ms), max(m.max_response_time_ms))
               END AS q
        FROM cache_metrics_1min AS m
        JOIN due AS d ON d.cache_name = m.cache_name AND d.implementation_type = m.implementation_type
        WHERE m.minute_window >= v_from AND m.minute_window < v_end
        GROUP BY 1, 2, 3
    ), x AS (
        SELECT pm.cache_name, pm.implementation_type, pm.minute_window, pm.lookups, pm.ops, pm.lc,
               hour_of_week(pm.minute_window) AS how,
               date_trunc('week', pm.minute_window AT TIME ZONE 'UTC') AS week,
               CASE WHEN pm.lookups > 0 THEN 100.0 * pm.hits / pm.lookups END AS hr,
               CASE WHEN pm.ops > 0 THEN 100.0 * pm.errs / pm.ops END AS er,
               CASE WHEN pm.lc > 0 THEN pm.lsum / pm.lc END AS avg_ms,
               CASE WHEN pm.lc > 0 THEN pm.q[1] END AS p50, CASE WHEN pm.lc > 0 THEN pm.q[2] END AS p95,
               CASE WHEN pm.lc > 0 THEN pm.q[3] END AS p99
        FROM pm
    ), span AS (
        SELECT x.cache_name, x.implementation_type, min(x.minute_window) AS first_minute FROM x GROUP BY 1, 2
    ), span_minutes AS (
        -- minutes of each series' span, in all and per hour of the week (for throughput)
        SELECT s.cache_name, s.implementation_type, NULL::smallint AS how,
               extract(epoch FROM v_end - s.first_minute) / 60.0 AS minutes
        FROM span AS s
        UNION ALL
        SELECT s.cache_name, s.implementation_type, hour_of_week(h.h),
               sum(extract(epoch FROM h.h + interval '1 hour' - greatest(h.h, s.first_minute)) / 60.0)
        FROM span AS s,
             generate_series(date_trunc('hour', s.first_minute, 'UTC'), v_end - interval '1 hour',
                             interval '1 hour') AS h(h)
        GROUP BY 1, 2, 3
    ), g AS (
        SELECT x.cache_name, x.implementation_type, x.how, grouping(x.how) = 1 AS overall,
               count(*) FILTER (WHERE x.ops > 0) AS samples,
               count(DISTINCT x.week) FILTER (WHERE x.ops > 0) AS weeks,
               sum(x.lookups) AS w_l, sum(x.lookups * x.hr) AS s_hr, sum(x.lookups * x.hr * x.hr) AS s2_hr,
               count(*) FILTER (WHERE x.lookups > 0) AS n_l,
               sum(x.ops) AS w_o, sum(x.ops * x.er) AS s_er, sum(x.ops * x.er * x.er) AS s2_er,
               sum(x.ops * x.ops) AS s2_ops, count(*) FILTER (WHERE x.ops > 0) AS n_o,
               sum(x.lc) AS w_c, count(*) FILTER (WHERE x.lc > 0) AS n_c,
               sum(x.lc * x.avg_ms) AS s_avg, sum(x.lc * x.avg_ms * x.avg_ms) AS s2_avg,
               sum(x.lc * x.p50) AS s_p50, sum(x.lc * x.p50 * x.p50) AS s2_p50,
               sum(x.lc * x.p95) AS s_p95, sum(x.lc * x.p95 * x.p95) AS s2_p95,
               sum(x.lc * x.p99) AS s_p99, sum(x.lc * x.p99 * x.p99) AS s2_p99
        FROM x
        GROUP BY GROUPING SETS ((x.cache_name, x.implementation_type), (x.cache_name, x.implementation_type, x.how))
    ), e AS (
        SELECT g.*, sm.minutes
        FROM g
        JOIN span_minutes AS sm
          ON sm.cache_name = g.cache_name AND sm.implementation_type = g.implementation_type
         AND sm.how IS NOT DISTINCT FROM g.how
        WHERE sm.minutes > 0
          AND EXISTS (SELECT 1 FROM g AS o
                      WHERE o.overall AND o.cache_name = g.cache_name AND o.implementation_type = g.implementation_type
                        AND o.samples >= cfg.baseline_min_samples)
          AND (g.overall OR (g.weeks >= cfg.seasonal_min_weeks AND g.samples >= cfg.seasonal_min_samples))
    )
    SELECT array_agg(ROW(
               NULL, e.cache_name, e.implementation_type, e.how, v_from, v_end, e.samples,
               e.s_hr / nullif(e.w_l, 0), sqrt(greatest(e.s2_hr / nullif(e.w_l, 0) - (e.s_hr / nullif(e.w_l, 0)) ^ 2, 0)),
               e.s_avg / nullif(e.w_c, 0), sqrt(greatest(e.s2_avg / nullif(e.w_c, 0) - (e.s_avg / nullif(e.w_c, 0)) ^ 2, 0)),
               e.s_p50 / nullif(e.w_c, 0), sqrt(greatest(e.s2_p50 / nullif(e.w_c, 0) - (e.s_p50 / nullif(e.w_c, 0)) ^ 2, 0)),
               e.s_p95 / nullif(e.w_c, 0), sqrt(greatest(e.s2_p95 / nullif(e.w_c, 0) - (e.s_p95 / nullif(e.w_c, 0)) ^ 2, 0)),
               e.s_p99 / nullif(e.w_c, 0), sqrt(greatest(e.s2_p99 / nullif(e.w_c, 0) - (e.s_p99 / nullif(e.w_c, 0)) ^ 2, 0)),
               e.s_er / nullif(e.w_o, 0), sqrt(greatest(e.s2_er / nullif(e.w_o, 0) - (e.s_er / nullif(e.w_o, 0)) ^ 2, 0)),
               e.w_o / e.minutes, sqrt(greatest(e.s2_ops / e.minutes - (e.w_o / e.minutes) ^ 2, 0)),
               true, now(),
               e.w_l / nullif(e.n_l, 0), e.w_c / nullif(e.n_c, 0), e.w_o / nullif(e.n_o, 0)
           )::cache_baseline_metrics ORDER BY e.cache_name, e.implementation_type, e.how NULLS FIRST)
    INTO new_rows
    FROM e;

    IF new_rows IS NULL THEN
        RETURN 0;
    END IF;

    UPDATE cache_baseline_metrics AS b SET is_active = false
    WHERE b.is_active
      AND EXISTS (SELECT 1 FROM unnest(new_rows) AS n
                  WHERE n.hour_of_week IS NULL
                    AND n.cache_name = b.cache_name AND n.implementation_type = b.implementation_type);

    INSERT INTO cache_baseline_metrics (
        cache_name, implementation_type, hour_of_week, window_start, window_end, sample_count,
        hit_rate, hit_rate_stddev, avg_response_time_ms, response_time_stddev,
        p50_response_time_ms, p50_response_time_stddev, p95_response_time_ms, p95_response_time_stddev,
        p99_response_time_ms, p99_response_time_stddev, error_rate, error_rate_stddev,
        throughput_per_minute, throughput_stddev, lookups_per_minute, latency_samples_per_minute,
        operations_per_minute, is_active)
    SELECT n.cache_name, n.implementation_type, n.hour_of_week, n.window_start, n.window_end, n.sample_count,
           n.hit_rate, n.hit_rate_stddev, n.avg_response_time_ms, n.response_time_stddev,
           n.p50_response_time_ms, n.p50_response_time_stddev, n.p95_response_time_ms, n.p95_response_time_stddev,
           n.p99_response_time_ms, n.p99_response_time_stddev, n.error_rate, n.error_rate_stddev,
           n.throughput_per_minute, n.throughput_stddev, n.lookups_per_minute, n.latency_samples_per_minute,
           n.operations_per_minute, true
    FROM unnest(new_rows) AS n;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;
