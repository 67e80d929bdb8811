-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- Series per bucket from hour or minute rows, and the baselines computed from them.

-- Hour of the week in time zone tz, Monday 00:00-00:59 = 0 ... Sunday 23:00-23:59 = 167 (local
-- time: across a daylight-saving switch the same local hour keeps its number).
CREATE OR REPLACE FUNCTION hour_of_week(ts timestamptz, tz text)
RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
    SELECT ((extract(isodow FROM ts AT TIME ZONE tz)::integer - 1) * 24
            + extract(hour FROM ts AT TIME ZONE tz)::integer)::smallint
$$;

-- The same in the auditor's time zone (maintenance_settings.time_zone).
CREATE OR REPLACE FUNCTION hour_of_week(ts timestamptz)
RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
    SELECT hour_of_week(ts, (SELECT time_zone FROM maintenance_settings))
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
-- baseline_refresh before p_at, at most baseline_batch of them, the stalest first; with p_force,
-- every series with data in the window. Statistics are of per-minute values (all services of a
-- minute together) in [p_at - baseline_window, p_at): the median and the interquartile range /
-- 1.349 as the spread (a standard deviation where the data are normal, and unmoved by a minority
-- of bad minutes). Minutes inside a warning or critical observation of the series (from its window's
-- start to its resolution), except capacity ones, are left out of the metric it was about: an
-- incident does not become the baseline it is judged against. Throughput is the median of minutes
-- with traffic times the share of the span's minutes that had traffic. A series gets a baseline
-- once it has baseline_min_samples minutes with traffic. An hour of the week (in time_zone) gets
-- its own once it has traffic in seasonal_full_weeks distinct weeks; before, it pools the same
-- hour of every weekday (or weekend day); either needs seasonal_min_weeks weeks and
-- seasonal_min_samples minutes. The new rows replace the series' active ones, which are kept
-- inactive. Returns the baselines written.
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

    WITH recent AS (
        SELECT DISTINCT m.cache_name, m.implementation_type
        FROM cache_metrics_1min AS m
        WHERE m.minute_window < p_at
          AND m.minute_window >= CASE WHEN p_force THEN v_from ELSE p_at - interval '1 hour' END
    ), due AS MATERIALIZED (
        SELECT r.cache_name, r.implementation_type
        FROM recent AS r
        LEFT JOIN cache_baseline_metrics AS b
          ON b.is_active AND b.hour_of_week IS NULL
         AND b.cache_name = r.cache_name AND b.implementation_type = r.implementation_type
        WHERE p_force OR b.window_end IS NULL OR b.window_end <= p_at - cfg.baseline_refresh
        ORDER BY b.window_end NULLS FIRST, r.cache_name, r.implementation_type
        LIMIT CASE WHEN p_force THEN NULL ELSE cfg.baseline_batch END
    ), bad AS (
        -- minutes inside observations, per metric family (capacity findings are the new normal)
        SELECT o.cache_name, o.implementation_type, g.minute,
               bool_or(o.metric = 'hit_rate') AS hr, bool_or(o.metric = 'error_rate') AS er,
               bool_or(o.metric LIKE 'p%_response_time_ms') AS lat, bool_or(o.metric = 'throughput_per_minute') AS tp
        FROM cache_auditor_observations AS o
        JOIN due AS d ON d.cache_name = o.cache_name AND d.implementation_type = o.implementation_type
        LEFT JOIN auditor_rules AS r ON r.rule = o.rule
        CROSS JOIN LATERAL generate_series(
            greatest(date_trunc('minute', o.first_seen_at) - coalesce(r.window_length, interval '1 hour'), v_from),
            least(coalesce(o.resolved_at, v_end), v_end) - interval '1 minute', interval '1 minute') AS g(minute)
        WHERE o.severity IN ('warning', 'critical') AND o.category <> 'capacity'
          AND o.first_seen_at < v_end AND coalesce(o.resolved_at, v_end) > v_from
        GROUP BY 1, 2, 3
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
        -- hour_of_week(minute, time_zone) written out: a function with a fixed search_path is
        -- never inlined, and its calls were most of the refresh's time
        SELECT pm.cache_name, pm.implementation_type, pm.minute_window, pm.lookups, pm.ops, pm.lc,
               ((extract(isodow FROM pm.minute_window AT TIME ZONE cfg.time_zone)::integer - 1) * 24
                + extract(hour FROM pm.minute_window AT TIME ZONE cfg.time_zone)::integer)::smallint AS how,
               date_trunc('week', pm.minute_window AT TIME ZONE cfg.time_zone) AS week,
               CASE WHEN pm.lookups > 0 AND bad.hr IS NOT TRUE THEN 100.0 * pm.hits / pm.lookups END AS hr,
               CASE WHEN pm.ops > 0 AND bad.er IS NOT TRUE THEN 100.0 * pm.errs / pm.ops END AS er,
               CASE WHEN pm.ops > 0 AND bad.tp IS NOT TRUE THEN pm.ops END AS tp,
               CASE WHEN pm.lc > 0 AND bad.lat IS NOT TRUE THEN pm.lsum / pm.lc END AS avg_ms,
               CASE WHEN pm.lc > 0 AND bad.lat IS NOT TRUE THEN pm.q[1] END AS p50,
               CASE WHEN pm.lc > 0 AND bad.lat IS NOT TRUE THEN pm.q[2] END AS p95,
               CASE WHEN pm.lc > 0 AND bad.lat IS NOT TRUE THEN pm.q[3] END AS p99
        FROM pm
        LEFT JOIN bad ON bad.cache_name = pm.cache_name AND bad.implementation_type = pm.implementation_type
                     AND bad.minute = pm.minute_window
    ), l AS MATERIALIZED (
        -- each minute in three pools: all hours (kind 0, key -1), its hour of the week (1), its hour of the
        -- day among days of its kind, weekdays or weekends (2: key = hour + 24 on a weekend)
        SELECT x.*, k.kind, k.key
        FROM x CROSS JOIN LATERAL (VALUES (0, (-1)::smallint), (1, x.how),
                                          (2, (x.how % 24 + CASE WHEN x.how >= 120 THEN 24 ELSE 0 END)::smallint))
                                  AS k(kind, key)
        -- (an hour's own pool only where the window can hold seasonal_full_weeks of it)
        WHERE k.kind <> 1 OR cfg.baseline_window >= cfg.seasonal_full_weeks * interval '7 days' - interval '1 hour'
    ), q AS (
        SELECT l.cache_name, l.implementation_type, l.kind, l.key,
               count(*) FILTER (WHERE l.ops > 0) AS samples,
               count(DISTINCT l.week) FILTER (WHERE l.ops > 0) AS weeks,
               sum(l.lookups) / nullif(count(*) FILTER (WHERE l.lookups > 0), 0) AS lookups_pm,
               sum(l.lc) / nullif(count(*) FILTER (WHERE l.lc > 0), 0) AS samples_pm,
               sum(l.ops) / nullif(count(*) FILTER (WHERE l.ops > 0), 0) AS ops_pm,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY l.hr) AS hr,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY l.er) AS er,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY l.tp) AS tp,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY l.avg_ms) AS avg_ms,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY l.p50) AS p50,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY l.p95) AS p95,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY l.p99) AS p99
        FROM l
        GROUP BY 1, 2, 3, 4
    ), stats AS (
        -- the median, and the interquartile range / 1.349 as the spread
        SELECT q.cache_name, q.implementation_type, q.kind, q.key, q.samples, q.weeks, q.lookups_pm,
               q.samples_pm, q.ops_pm,
               q.hr[2] AS hr, q.er[2] AS er, q.tp[2] AS tp, q.avg_ms[2] AS avg_ms, q.p50[2] AS p50,
               q.p95[2] AS p95, q.p99[2] AS p99,
               (q.hr[3] - q.hr[1]) / 1.349 AS hr_sd, (q.er[3] - q.er[1]) / 1.349 AS er_sd,
               (q.tp[3] - q.tp[1]) / 1.349 AS tp_sd, (q.avg_ms[3] - q.avg_ms[1]) / 1.349 AS avg_sd,
               (q.p50[3] - q.p50[1]) / 1.349 AS p50_sd, (q.p95[3] - q.p95[1]) / 1.349 AS p95_sd,
               (q.p99[3] - q.p99[1]) / 1.349 AS p99_sd
        FROM q
    ), span AS (
        SELECT x.cache_name, x.implementation_type, min(x.minute_window) AS first_minute FROM x GROUP BY 1, 2
    ), hours AS (
        -- minutes of each series' span per hour of the week (throughput counts minutes without traffic)
        SELECT s.cache_name, s.implementation_type, hour_of_week(h.h, cfg.time_zone) AS how,
               sum(extract(epoch FROM h.h + interval '1 hour' - greatest(h.h, s.first_minute)) / 60.0) AS minutes
        FROM span AS s,
             generate_series(date_trunc('hour', s.first_minute, 'UTC'), v_end - interval '1 hour',
                             interval '1 hour') AS h(h)
        GROUP BY 1, 2, 3
    ), span_minutes AS (
        SELECT h.cache_name, h.implementation_type, k.kind, k.key, sum(h.minutes) AS minutes
        FROM hours AS h
        CROSS JOIN LATERAL (VALUES (0, (-1)::smallint), (1, h.how),
                                   (2, (h.how % 24 + CASE WHEN h.how >= 120 THEN 24 ELSE 0 END)::smallint)) AS k(kind, key)
        GROUP BY 1, 2, 3, 4
    ), pools AS (
        SELECT stats.*, sm.minutes
        FROM stats
        JOIN span_minutes AS sm
          ON sm.cache_name = stats.cache_name AND sm.implementation_type = stats.implementation_type
         AND sm.kind = stats.kind AND sm.key = stats.key
        WHERE sm.minutes > 0
    ), e AS (
        -- the overall row, and per hour of the week its own pool or the pool of its hour of the day
        SELECT p.*, NULL::smallint AS how FROM pools AS p
        WHERE p.kind = 0 AND p.samples >= cfg.baseline_min_samples
        UNION ALL
        SELECT c.*, h.how
        FROM (SELECT DISTINCT hs.cache_name, hs.implementation_type, hs.how FROM hours AS hs) AS h
        LEFT JOIN pools AS own
          ON own.cache_name = h.cache_name AND own.implementation_type = h.implementation_type
         AND own.kind = 1 AND own.key = h.how
        JOIN pools AS c
          ON c.cache_name = h.cache_name AND c.implementation_type = h.implementation_type
         AND ((own.weeks >= cfg.seasonal_full_weeks AND c.kind = 1 AND c.key = h.how)
              OR (coalesce(own.weeks, 0) < cfg.seasonal_full_weeks AND c.kind = 2
                  AND c.key = h.how % 24 + CASE WHEN h.how >= 120 THEN 24 ELSE 0 END))
        WHERE c.weeks >= cfg.seasonal_min_weeks AND c.samples >= cfg.seasonal_min_samples
          AND EXISTS (SELECT 1 FROM pools AS o
                      WHERE o.kind = 0 AND o.cache_name = h.cache_name
                        AND o.implementation_type = h.implementation_type AND o.samples >= cfg.baseline_min_samples)
    )
    SELECT array_agg(ROW(
               NULL, e.cache_name, e.implementation_type, e.how, v_from, v_end, e.samples,
               e.hr, e.hr_sd, e.avg_ms, e.avg_sd, e.p50, e.p50_sd, e.p95, e.p95_sd, e.p99, e.p99_sd,
               e.er, e.er_sd,
               coalesce(e.tp, 0) * least(1.0, e.samples / e.minutes), e.tp_sd,
               true, now(),
               e.lookups_pm, e.samples_pm, e.ops_pm
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
