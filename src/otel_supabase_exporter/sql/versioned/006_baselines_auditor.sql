-- 006: time series per bucket, baselines, the auditor and its rules, legacy-vs-new comparison,
-- acknowledgement; maintain() gains the baseline and auditor steps.

-- Settings of the judging half, next to the retention windows (one row; edit it to change them).
ALTER TABLE maintenance_settings
    ADD COLUMN baseline_window          interval NOT NULL DEFAULT interval '14 days'
        CHECK (baseline_window BETWEEN interval '1 hour' AND interval '365 days'),
    ADD COLUMN baseline_min_samples     integer  NOT NULL DEFAULT 720 CHECK (baseline_min_samples >= 10),
    ADD COLUMN seasonal_min_weeks       integer  NOT NULL DEFAULT 2 CHECK (seasonal_min_weeks >= 1),
    ADD COLUMN seasonal_min_samples     integer  NOT NULL DEFAULT 60 CHECK (seasonal_min_samples >= 10),
    ADD COLUMN baseline_refresh         interval NOT NULL DEFAULT interval '1 day'
        CHECK (baseline_refresh >= interval '1 minute'),
    ADD COLUMN baseline_history         interval NOT NULL DEFAULT interval '30 days'
        CHECK (baseline_history >= interval '1 day'),
    ADD COLUMN audit_lag                interval NOT NULL DEFAULT interval '1 minute'
        CHECK (audit_lag BETWEEN interval '0' AND interval '1 hour'),
    ADD COLUMN resolve_after            interval NOT NULL DEFAULT interval '10 minutes'
        CHECK (resolve_after >= interval '1 minute'),
    ADD COLUMN reference_implementation text     NOT NULL DEFAULT 'legacy'
        CHECK (char_length(reference_implementation) BETWEEN 1 AND 100),
    ADD COLUMN observation_retention    interval NOT NULL DEFAULT interval '90 days'
        CHECK (observation_retention >= interval '1 day');

-- Traffic behind a baseline's spreads: the auditor widens a spread when the window it judges
-- holds fewer samples than a typical baseline minute (a rate over few requests is noisier).
ALTER TABLE cache_baseline_metrics
    ADD COLUMN lookups_per_minute         double precision,
    ADD COLUMN latency_samples_per_minute double precision,
    ADD COLUMN operations_per_minute      double precision;

COMMENT ON TABLE cache_baseline_metrics IS
    'Baselines per cache and implementation from a trailing window of 1-minute rows: means and standard deviations of per-minute values (hour_of_week NULL: all hours; 0..167: that UTC hour of the week, Monday 00:00 = 0). One active row per series and hour_of_week; older ones are kept inactive.';

-- Hour of the week in UTC, Monday 00:00-00:59 = 0 ... Sunday 23:00-23:59 = 167.
CREATE FUNCTION hour_of_week(ts timestamptz)
RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ((extract(isodow FROM ts AT TIME ZONE 'UTC')::integer - 1) * 24
            + extract(hour FROM ts AT TIME ZONE 'UTC')::integer)::smallint
$$;

-- Per bucket of p_bucket (buckets start at p_from + k * p_bucket), cache and implementation:
-- counts, rates, throughput and percentiles of the merged histograms, all services together.
-- Reads 1-hour rows when p_bucket is a whole number of hours and p_from is on the hour (UTC),
-- except for hours waiting to be re-rolled, and 1-minute rows otherwise. Buckets without
-- data are absent. p_percentiles false leaves the percentiles NULL (and skips merging histograms).
CREATE FUNCTION cache_series(
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
CREATE FUNCTION refresh_baselines(p_at timestamptz DEFAULT now(), p_force boolean DEFAULT false)
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

-- The auditor's rules; edit, disable or add rows (a rule is one metric judged one way).
--   compare_to 'baseline':  the window against the series' active baseline (its hour of the week
--                           when there is one); thresholds are deviations, and a statistical test
--                           (z-score against the baseline's spread) must agree when min_z is set.
--   compare_to 'threshold': the window's value against the thresholds themselves.
--   compare_to 'reference': an implementation against the reference implementation
--                           (maintenance_settings.reference_implementation) of the same cache, same window.
-- direction: which way is bad. relative: thresholds in % of the expected value, else in the metric's units.
-- min_traffic: requests behind the metric in the window (lookups for hit_rate, operations for
-- error_rate, timed operations for latencies, operations - observed or expected - for throughput),
-- for both sides of a reference rule. min_count: errors behind an error_rate.
CREATE TABLE auditor_rules (
    rule               text             PRIMARY KEY CHECK (rule ~ '^[a-z][a-z0-9_]{0,62}$'),
    category           text             NOT NULL CHECK (category IN ('performance', 'reliability', 'capacity', 'anomaly')),
    metric             text             NOT NULL CHECK (metric IN ('hit_rate', 'error_rate', 'p50_response_time_ms',
                                                                   'p95_response_time_ms', 'p99_response_time_ms',
                                                                   'throughput_per_minute')),
    compare_to         text             NOT NULL CHECK (compare_to IN ('baseline', 'threshold', 'reference')),
    direction          text             NOT NULL CHECK (direction IN ('up', 'down')),
    relative           boolean          NOT NULL,
    window_length      interval         NOT NULL DEFAULT interval '5 minutes'
        CHECK (window_length BETWEEN interval '1 minute' AND interval '1 day'),
    warning_threshold  double precision NOT NULL CHECK (warning_threshold > 0),
    critical_threshold double precision NOT NULL,
    min_z              double precision CHECK (min_z > 0),
    min_traffic        bigint           NOT NULL DEFAULT 100 CHECK (min_traffic >= 1),
    min_count          bigint           NOT NULL DEFAULT 0 CHECK (min_count >= 0),
    enabled            boolean          NOT NULL DEFAULT true,
    description        text             NOT NULL,
    recommendation     text             NOT NULL,
    CHECK (critical_threshold >= warning_threshold),
    CHECK (compare_to <> 'threshold' OR NOT relative)
);

INSERT INTO auditor_rules (rule, category, metric, compare_to, direction, relative, window_length,
                           warning_threshold, critical_threshold, min_z, min_traffic, min_count,
                           description, recommendation) VALUES
('hit_rate_drop', 'performance', 'hit_rate', 'baseline', 'down', true, '5 minutes', 10, 25, 3, 100, 0,
 'Hit rate below its baseline by more than the threshold (% of the baseline).',
 'Look for what changed for this cache: a deploy that changes keys or TTLs, a flush, or an eviction wave (evictions and cache size in the same minutes).'),
('latency_p95_increase', 'performance', 'p95_response_time_ms', 'baseline', 'up', true, '5 minutes', 25, 100, 3, 100, 0,
 'p95 latency above its baseline by more than the threshold (% of the baseline).',
 'Check the cache backend (CPU, network, slow commands, large values) and whether misses now fall through to a slow source.'),
('error_rate_high', 'reliability', 'error_rate', 'threshold', 'up', false, '5 minutes', 1, 5, NULL, 100, 10,
 'More than the threshold percent of operations failed.',
 'Read the error types in error_summary for this cache; check connectivity, timeouts and the backend''s health.'),
('throughput_growth', 'capacity', 'throughput_per_minute', 'baseline', 'up', true, '1 hour', 50, 100, 3, 600, 0,
 'Operations per minute above the baseline (the same hour of the week when known) by more than the threshold, over an hour.',
 'Traffic is outgrowing what this cache was sized for: check memory headroom, evictions and the backend''s limits before they bite.'),
('throughput_drop', 'anomaly', 'throughput_per_minute', 'baseline', 'down', true, '15 minutes', 50, 90, 4, 300, 0,
 'Operations per minute far below the baseline for this hour of the week.',
 'Check that the service is running and still uses this cache (a bypass, a failed deploy, or an exporter that stopped sending: run `otel-supabase-exporter doctor`).'),
('regression_hit_rate', 'performance', 'hit_rate', 'reference', 'down', true, '15 minutes', 10, 25, 3, 200, 0,
 'Hit rate of this implementation below the reference implementation''s, same cache and window.',
 'Compare key construction, TTLs and size limits of this implementation with the reference one before rolling it out further.'),
('regression_latency_p95', 'performance', 'p95_response_time_ms', 'reference', 'up', true, '15 minutes', 25, 100, 3, 200, 0,
 'p95 latency of this implementation above the reference implementation''s, same cache and window.',
 'Profile this implementation against the reference one (serialisation, round trips, lock contention) before rolling it out further.'),
('regression_error_rate', 'reliability', 'error_rate', 'reference', 'up', false, '15 minutes', 1, 5, 3, 200, 10,
 'Error rate of this implementation above the reference implementation''s by more than the threshold (percentage points).',
 'Read this implementation''s error types in error_summary; consider routing traffic back to the reference implementation.');

-- Serialises auditor runs and remembers the last window judged, so a second run for the same
-- minute changes nothing.
CREATE TABLE auditor_state (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_window_end timestamptz
);
INSERT INTO auditor_state DEFAULT VALUES;

-- One row per enabled rule and series (or series pair) that breaks its rule in the window
-- ending at p_end: what a run of the auditor would open or update.
CREATE FUNCTION auditor_findings(p_end timestamptz)
RETURNS TABLE (
    cache_name          text,
    implementation_type text,
    rule                text,
    category            text,
    metric              text,
    severity            text,
    observed_value      double precision,
    expected_value      double precision,
    deviation_pct       double precision,
    z_score             double precision,
    traffic             bigint,
    window_start        timestamptz,
    direction           text,
    reference           text,
    baseline_id         bigint,
    limit_value         double precision,
    recommendation      text)
LANGUAGE plpgsql STABLE
SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH cfg AS (
        SELECT * FROM maintenance_settings
    ), r AS (
        SELECT * FROM auditor_rules WHERE enabled
    ), w AS (
        SELECT window_length,
               bool_or(metric IN ('p50_response_time_ms', 'p95_response_time_ms', 'p99_response_time_ms')) AS percentiles
        FROM r GROUP BY 1
    ), st AS (
        SELECT w.window_length, s.*
        FROM w CROSS JOIN LATERAL cache_series(p_end - w.window_length, p_end, w.window_length,
                                               NULL, NULL, w.percentiles) AS s
    ), series AS (
        -- every series with data in the window or with a baseline (a silent series can be judged too)
        SELECT w.window_length, b.cache_name, b.implementation_type
        FROM w, cache_baseline_metrics AS b
        WHERE b.is_active AND b.hour_of_week IS NULL
        UNION
        SELECT st.window_length, st.cache_name, st.implementation_type FROM st
    ), sb AS (
        SELECT se.window_length, se.cache_name, se.implementation_type,
               st.total_operations, st.hits + st.misses AS lookups, st.errors, st.latency_count,
               st.hit_rate, st.error_rate, st.p50_response_time_ms, st.p95_response_time_ms, st.p99_response_time_ms,
               coalesce(st.throughput_per_minute, 0) AS throughput_per_minute, b.*
        FROM series AS se
        LEFT JOIN st ON st.window_length = se.window_length AND st.cache_name = se.cache_name
                    AND st.implementation_type = se.implementation_type
        LEFT JOIN LATERAL (
            SELECT bl.id AS b_id, bl.hit_rate AS b_hit_rate, bl.hit_rate_stddev AS b_hit_rate_sd,
                   bl.error_rate AS b_error_rate, bl.error_rate_stddev AS b_error_rate_sd,
                   bl.p50_response_time_ms AS b_p50, bl.p50_response_time_stddev AS b_p50_sd,
                   bl.p95_response_time_ms AS b_p95, bl.p95_response_time_stddev AS b_p95_sd,
                   bl.p99_response_time_ms AS b_p99, bl.p99_response_time_stddev AS b_p99_sd,
                   bl.throughput_per_minute AS b_tp, bl.throughput_stddev AS b_tp_sd,
                   bl.lookups_per_minute AS b_lookups, bl.latency_samples_per_minute AS b_samples,
                   bl.operations_per_minute AS b_ops
            FROM cache_baseline_metrics AS bl
            WHERE bl.is_active AND bl.cache_name = se.cache_name AND bl.implementation_type = se.implementation_type
              AND (bl.hour_of_week IS NULL OR bl.hour_of_week = hour_of_week(p_end - se.window_length / 2))
            ORDER BY bl.hour_of_week NULLS LAST
            LIMIT 1
        ) AS b ON true
    ), m AS (
        -- each rule's metric, the traffic behind it, and the baseline's mean and spread for it
        SELECT r.*, sb.cache_name, sb.implementation_type, sb.b_id,
               CASE r.metric WHEN 'hit_rate' THEN sb.hit_rate WHEN 'error_rate' THEN sb.error_rate
                    WHEN 'p50_response_time_ms' THEN sb.p50_response_time_ms
                    WHEN 'p95_response_time_ms' THEN sb.p95_response_time_ms
                    WHEN 'p99_response_time_ms' THEN sb.p99_response_time_ms
                    ELSE sb.throughput_per_minute END AS obs,
               CASE r.metric WHEN 'hit_rate' THEN sb.b_hit_rate WHEN 'error_rate' THEN sb.b_error_rate
                    WHEN 'p50_response_time_ms' THEN sb.b_p50 WHEN 'p95_response_time_ms' THEN sb.b_p95
                    WHEN 'p99_response_time_ms' THEN sb.b_p99 ELSE sb.b_tp END AS expct,
               CASE r.metric WHEN 'hit_rate' THEN sb.b_hit_rate_sd WHEN 'error_rate' THEN sb.b_error_rate_sd
                    WHEN 'p50_response_time_ms' THEN sb.b_p50_sd WHEN 'p95_response_time_ms' THEN sb.b_p95_sd
                    WHEN 'p99_response_time_ms' THEN sb.b_p99_sd ELSE sb.b_tp_sd END AS sd,
               CASE r.metric WHEN 'hit_rate' THEN sb.b_lookups WHEN 'error_rate' THEN sb.b_ops
                    WHEN 'throughput_per_minute' THEN NULL ELSE sb.b_samples END AS per_minute,
               CASE r.metric WHEN 'hit_rate' THEN coalesce(sb.lookups, 0)
                    WHEN 'error_rate' THEN coalesce(sb.total_operations, 0)
                    WHEN 'throughput_per_minute'
                        THEN greatest(coalesce(sb.total_operations, 0),
                                      round(coalesce(sb.b_tp, 0) * extract(epoch FROM r.window_length) / 60))::bigint
                    ELSE coalesce(sb.latency_count, 0) END AS traffic,
               coalesce(sb.errors, 0) AS errs
        FROM r JOIN sb ON sb.window_length = r.window_length
    ), m2 AS (
        -- the spread of the window's value: the baseline's per-minute spread, widened when the
        -- window holds fewer requests than a typical baseline minute, and never below 1 % of the mean
        SELECT m.*,
               CASE WHEN m.b_id IS NOT NULL THEN
                   greatest(m.sd * sqrt(greatest(1.0, coalesce(m.per_minute, 0) / greatest(m.traffic, 1))),
                            0.01 * abs(m.expct), 1e-9) END AS sd_eff
        FROM m
    ), judged AS (
        SELECT m2.cache_name, m2.implementation_type, m2.rule, m2.category, m2.metric, m2.obs,
               m2.expct,
               m2.traffic, m2.errs, m2.b_id, m2.direction, m2.relative, m2.compare_to, m2.warning_threshold,
               m2.critical_threshold, m2.min_z, m2.min_traffic, m2.min_count, m2.recommendation,
               NULL::text AS reference,
               (CASE WHEN m2.direction = 'up' THEN 1 ELSE -1 END) * (m2.obs - m2.expct) / m2.sd_eff AS z,
               CASE WHEN m2.compare_to = 'threshold' THEN m2.obs
                    WHEN m2.relative THEN (CASE WHEN m2.direction = 'up' THEN 1 ELSE -1 END)
                                          * 100.0 * (m2.obs - m2.expct) / nullif(abs(m2.expct), 0)
                    ELSE (CASE WHEN m2.direction = 'up' THEN 1 ELSE -1 END) * (m2.obs - m2.expct) END AS badness
        FROM m2
        WHERE m2.compare_to IN ('baseline', 'threshold')
        UNION ALL
        -- reference rules: each implementation against the reference one of the same cache
        SELECT c.cache_name, c.implementation_type, c.rule, c.category, c.metric, c.obs, ref.obs,
               least(c.traffic, ref.traffic), c.errs, c.b_id, c.direction, c.relative, c.compare_to,
               c.warning_threshold, c.critical_threshold, c.min_z, c.min_traffic, c.min_count,
               c.recommendation, ref.implementation_type,
               -- spread of the difference: from both baselines, else (rates) from the sample sizes
               (CASE WHEN c.direction = 'up' THEN 1 ELSE -1 END) * (c.obs - ref.obs)
                   / nullif(coalesce(sqrt(c.sd_eff ^ 2 + ref.sd_eff ^ 2),
                                       CASE WHEN c.metric IN ('hit_rate', 'error_rate') THEN
                                           100.0 * sqrt((c.obs / 100.0) * (1 - c.obs / 100.0) / greatest(c.traffic, 1)
                                                        + (ref.obs / 100.0) * (1 - ref.obs / 100.0) / greatest(ref.traffic, 1))
                                       END), 0),
               CASE WHEN c.relative THEN (CASE WHEN c.direction = 'up' THEN 1 ELSE -1 END)
                                         * 100.0 * (c.obs - ref.obs) / nullif(abs(ref.obs), 0)
                    ELSE (CASE WHEN c.direction = 'up' THEN 1 ELSE -1 END) * (c.obs - ref.obs) END
        FROM m2 AS c
        JOIN cfg ON true
        JOIN m2 AS ref ON ref.rule = c.rule AND ref.cache_name = c.cache_name
                      AND ref.implementation_type = cfg.reference_implementation
        WHERE c.compare_to = 'reference' AND c.implementation_type <> cfg.reference_implementation
          AND ref.traffic >= ref.min_traffic
    )
    SELECT j.cache_name, j.implementation_type, j.rule, j.category, j.metric,
           CASE WHEN j.badness >= j.critical_threshold THEN 'critical' ELSE 'warning' END,
           j.obs, j.expct,
           CASE WHEN j.expct <> 0 THEN 100.0 * (j.obs - j.expct) / abs(j.expct) END,
           (CASE WHEN j.direction = 'up' THEN 1 ELSE -1 END) * j.z,
           j.traffic, p_end - r.window_length, j.direction, j.reference, j.b_id,
           CASE WHEN j.compare_to = 'threshold' THEN j.warning_threshold END, j.recommendation
    FROM judged AS j
    JOIN r ON r.rule = j.rule
    -- hysteresis: an open observation stays open down to 80 % of the thresholds (no flapping at the edge)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN EXISTS (SELECT 1 FROM cache_auditor_observations AS o
                                 WHERE o.status = 'open' AND o.cache_name = j.cache_name
                                   AND o.implementation_type = j.implementation_type AND o.rule = j.rule
                                   AND o.metric = j.metric)
                    THEN 0.8 ELSE 1.0 END AS k
    ) AS h
    WHERE j.obs IS NOT NULL
      AND j.traffic >= j.min_traffic
      AND j.errs >= j.min_count
      AND (j.compare_to = 'threshold' OR j.expct IS NOT NULL)
      AND j.badness >= j.warning_threshold * h.k
      -- no spread to test against (a reference latency rule without baselines): the threshold decides
      AND (j.min_z IS NULL OR (j.z IS NULL AND j.compare_to = 'reference') OR j.z >= j.min_z * h.k);
END
$$;

-- A plain-language sentence for an observation, e.g. "p95 latency of users (new) is 9.10 ms over
-- the last 5 min, expected 2.30 ms (+296 %, z = 41.2)."
CREATE FUNCTION auditor_message(
    p_metric text, p_cache text, p_impl text, p_observed double precision, p_expected double precision,
    p_deviation double precision, p_z double precision, p_window interval, p_reference text,
    p_limit double precision)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    what   text := CASE p_metric WHEN 'hit_rate' THEN 'Hit rate' WHEN 'error_rate' THEN 'Error rate'
                         WHEN 'p50_response_time_ms' THEN 'p50 latency' WHEN 'p95_response_time_ms' THEN 'p95 latency'
                         WHEN 'p99_response_time_ms' THEN 'p99 latency' ELSE 'Throughput' END;
    win    text := CASE WHEN extract(epoch FROM p_window) >= 3600
                        THEN round(extract(epoch FROM p_window) / 3600) || ' h'
                        ELSE round(extract(epoch FROM p_window) / 60) || ' min' END;
    detail text := concat_ws(', ',
                             CASE WHEN p_deviation IS NOT NULL THEN to_char(p_deviation, 'FMSG9999999990') || ' %' END,
                             CASE WHEN p_z IS NOT NULL THEN 'z = ' || to_char(p_z, 'FMSG999990.0') END);
BEGIN
    RETURN format('%s of %s (%s) is %s over the last %s, %s%s.', what, p_cache, p_impl,
                  auditor_value(p_metric, p_observed), win,
                  CASE WHEN p_limit IS NOT NULL
                       THEN 'above the ' || auditor_value(p_metric, p_limit) || ' limit'
                            || CASE WHEN p_expected IS NOT NULL
                                    THEN ' (usually ' || auditor_value(p_metric, p_expected) || ')' ELSE '' END
                       WHEN p_reference IS NOT NULL THEN p_reference || ' has ' || auditor_value(p_metric, p_expected)
                       ELSE 'expected ' || auditor_value(p_metric, p_expected) END,
                  CASE WHEN p_limit IS NULL AND detail <> '' THEN ' (' || detail || ')' ELSE '' END);
END
$$;

-- A metric's value with its unit, for messages.
CREATE FUNCTION auditor_value(p_metric text, p_value double precision)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN p_value IS NULL THEN 'unknown'
                WHEN p_metric IN ('hit_rate', 'error_rate') THEN to_char(p_value, 'FM9990.0') || ' %'
                WHEN p_metric = 'throughput_per_minute' THEN to_char(p_value, 'FM9999999990') || ' ops/min'
                ELSE to_char(p_value, 'FM9999990.00') || ' ms' END
$$;

-- Judges the window ending at the last complete minute before p_at - audit_lag: opens an
-- observation per new finding, updates the open one of an ongoing finding (last seen, current and
-- worst values, severity only ever rising; an acknowledged one that turns critical is
-- unacknowledged), and resolves open observations whose finding has been absent for
-- resolve_after (or the rule's window, if longer). A window already judged is skipped, so running it twice changes nothing.
CREATE FUNCTION run_auditor(p_at timestamptz DEFAULT now())
RETURNS TABLE (action text, observations integer)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    cfg      maintenance_settings;
    v_end    timestamptz;
    last_end timestamptz;
    f        record;
    opened   integer := 0;
    updated  integer := 0;
    resolved integer := 0;
BEGIN
    SELECT * INTO cfg FROM maintenance_settings;
    v_end := date_trunc('minute', p_at - cfg.audit_lag);
    SELECT s.last_window_end INTO last_end FROM auditor_state AS s FOR UPDATE;
    IF last_end IS NOT NULL AND v_end <= last_end THEN
        action := 'skipped: window already judged'; observations := 0; RETURN NEXT;
        RETURN;
    END IF;
    UPDATE auditor_state SET last_window_end = v_end;

    FOR f IN SELECT * FROM auditor_findings(v_end) ORDER BY 1, 2, 3 LOOP
        UPDATE cache_auditor_observations AS o SET
            last_seen_at   = greatest(o.last_seen_at, p_at),
            observed_value = f.observed_value,
            expected_value = f.expected_value,
            deviation_pct  = f.deviation_pct,
            z_score        = f.z_score,
            worst_value    = CASE WHEN f.direction = 'up' THEN greatest(o.worst_value, f.observed_value)
                                  ELSE least(o.worst_value, f.observed_value) END,
            severity       = CASE WHEN f.severity = 'critical' OR o.severity = 'critical' THEN 'critical' ELSE o.severity END,
            acknowledged   = o.acknowledged AND NOT (f.severity = 'critical' AND o.severity <> 'critical'),
            message        = auditor_message(f.metric, f.cache_name, f.implementation_type, f.observed_value,
                                             f.expected_value, f.deviation_pct, f.z_score,
                                             v_end - f.window_start, f.reference, f.limit_value),
            details        = o.details || jsonb_build_object('window_start', f.window_start, 'window_end', v_end,
                                                             'traffic', f.traffic, 'evaluations',
                                                             coalesce((o.details ->> 'evaluations')::integer, 1) + 1),
            updated_at     = now()
        WHERE o.status = 'open' AND o.cache_name = f.cache_name AND o.implementation_type = f.implementation_type
          AND o.rule = f.rule AND o.metric = f.metric;
        IF FOUND THEN
            updated := updated + 1;
        ELSE
            INSERT INTO cache_auditor_observations (
                cache_name, implementation_type, severity, category, rule, metric, observed_value,
                expected_value, deviation_pct, z_score, worst_value, message, recommendation,
                first_seen_at, last_seen_at, details)
            VALUES (f.cache_name, f.implementation_type, f.severity, f.category, f.rule, f.metric,
                    f.observed_value, f.expected_value, f.deviation_pct, f.z_score, f.observed_value,
                    auditor_message(f.metric, f.cache_name, f.implementation_type, f.observed_value,
                                    f.expected_value, f.deviation_pct, f.z_score, v_end - f.window_start,
                                    f.reference, f.limit_value),
                    f.recommendation, p_at, p_at,
                    jsonb_strip_nulls(jsonb_build_object(
                        'window_start', f.window_start, 'window_end', v_end, 'traffic', f.traffic,
                        'reference_implementation', f.reference, 'baseline_id', f.baseline_id, 'evaluations', 1)));
            opened := opened + 1;
        END IF;
    END LOOP;

    UPDATE cache_auditor_observations AS o
    SET status = 'resolved', resolved_at = p_at, updated_at = now()
    WHERE o.status = 'open'
      AND o.last_seen_at <= p_at - greatest(cfg.resolve_after, (SELECT r.window_length FROM auditor_rules AS r
                                                                 WHERE r.rule = o.rule));
    GET DIAGNOSTICS resolved = ROW_COUNT;

    action := 'opened'; observations := opened; RETURN NEXT;
    action := 'updated'; observations := updated; RETURN NEXT;
    action := 'resolved'; observations := resolved; RETURN NEXT;
END
$$;

-- Acknowledges an observation (the dashboard's one write): who and when are kept. Acknowledging
-- again keeps the first acknowledgement. Raises no_data_found for an unknown id.
CREATE FUNCTION acknowledge_observation(p_id bigint, p_by text)
RETURNS cache_auditor_observations
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    who text := btrim(coalesce(p_by, ''));
    result cache_auditor_observations;
BEGIN
    IF who = '' OR char_length(who) > 200 THEN
        RAISE EXCEPTION 'acknowledge_observation: p_by must name who acknowledges (1 to 200 characters)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE cache_auditor_observations AS o
    SET acknowledged = true,
        acknowledged_by = CASE WHEN o.acknowledged THEN o.acknowledged_by ELSE who END,
        acknowledged_at = CASE WHEN o.acknowledged THEN o.acknowledged_at ELSE now() END,
        updated_at = now()
    WHERE o.id = p_id
    RETURNING o.* INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'acknowledge_observation: no observation with id %', p_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN result;
END
$$;

-- Two implementations of the same cache side by side per bucket: each metric for the reference
-- implementation (default: maintenance_settings.reference_implementation) and for every other
-- implementation, and the difference (other - reference; for rates in percentage points, and
-- in % of the reference for latencies and throughput). Buckets where one side has no data are absent.
CREATE FUNCTION compare_implementations(
    p_from       timestamptz,
    p_to         timestamptz,
    p_bucket     interval,
    p_cache_name text DEFAULT NULL,
    p_reference  text DEFAULT NULL)
RETURNS TABLE (
    bucket_start              timestamptz,
    cache_name                text,
    reference_implementation  text,
    implementation_type       text,
    reference_operations      bigint,
    operations                bigint,
    reference_hit_rate        double precision,
    hit_rate                  double precision,
    hit_rate_diff             double precision,
    reference_error_rate      double precision,
    error_rate                double precision,
    error_rate_diff           double precision,
    reference_p50_ms          double precision,
    p50_ms                    double precision,
    p50_diff_pct              double precision,
    reference_p95_ms          double precision,
    p95_ms                    double precision,
    p95_diff_pct              double precision,
    reference_p99_ms          double precision,
    p99_ms                    double precision,
    p99_diff_pct              double precision,
    reference_throughput      double precision,
    throughput                double precision,
    throughput_diff_pct       double precision)
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    WITH ref AS (
        SELECT coalesce(p_reference, (SELECT reference_implementation FROM maintenance_settings)) AS name
    ), s AS (
        SELECT * FROM cache_series(p_from, p_to, p_bucket, p_cache_name, NULL)
    )
    SELECT c.bucket_start, c.cache_name, r.implementation_type, c.implementation_type,
           r.total_operations, c.total_operations,
           r.hit_rate, c.hit_rate, c.hit_rate - r.hit_rate,
           r.error_rate, c.error_rate, c.error_rate - r.error_rate,
           r.p50_response_time_ms, c.p50_response_time_ms,
           100.0 * (c.p50_response_time_ms - r.p50_response_time_ms) / nullif(r.p50_response_time_ms, 0),
           r.p95_response_time_ms, c.p95_response_time_ms,
           100.0 * (c.p95_response_time_ms - r.p95_response_time_ms) / nullif(r.p95_response_time_ms, 0),
           r.p99_response_time_ms, c.p99_response_time_ms,
           100.0 * (c.p99_response_time_ms - r.p99_response_time_ms) / nullif(r.p99_response_time_ms, 0),
           r.throughput_per_minute, c.throughput_per_minute,
           100.0 * (c.throughput_per_minute - r.throughput_per_minute) / nullif(r.throughput_per_minute, 0)
    FROM s AS c
    JOIN ref ON c.implementation_type <> ref.name
    JOIN s AS r ON r.bucket_start = c.bucket_start AND r.cache_name = c.cache_name AND r.implementation_type = ref.name
    ORDER BY c.bucket_start, c.cache_name, c.implementation_type
$$;

-- The last hour, one bucket, every cache that runs the reference implementation and another one.
CREATE VIEW implementation_comparison AS
    SELECT * FROM compare_implementations(date_trunc('minute', now()) - interval '1 hour',
                                          date_trunc('minute', now()), interval '1 hour');

-- What needs attention: open observations, worst first.
CREATE VIEW open_observations AS
    SELECT id, severity, category, cache_name, implementation_type, rule, metric, observed_value,
           expected_value, deviation_pct, z_score, worst_value, message, recommendation, first_seen_at,
           last_seen_at, last_seen_at - first_seen_at AS duration, acknowledged, acknowledged_by, acknowledged_at
    FROM cache_auditor_observations
    WHERE status = 'open'
    ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, first_seen_at;

CREATE INDEX cache_auditor_observations_open_idx ON cache_auditor_observations (last_seen_at) WHERE status = 'open';
CREATE INDEX cache_baseline_metrics_active_idx
    ON cache_baseline_metrics (cache_name, implementation_type, hour_of_week) WHERE is_active;
CREATE INDEX cache_baseline_metrics_inactive_idx ON cache_baseline_metrics (window_end) WHERE NOT is_active;
CREATE INDEX cache_auditor_observations_resolved_idx ON cache_auditor_observations (resolved_at)
    WHERE status = 'resolved';

-- Retention of the judging half: inactive baselines after baseline_history, resolved
-- observations after observation_retention. One row per table: what was removed.
CREATE FUNCTION expire_judgements()
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
