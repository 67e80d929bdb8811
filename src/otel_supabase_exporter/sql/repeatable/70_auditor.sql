-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- The auditor: findings against the rules, their messages, observations (opened, kept, resolved),
-- acknowledgements, and legacy-vs-new comparisons.

-- One row per enabled rule and series (or series pair) that breaks its rule in the window
-- ending at p_end: what a run of the auditor would open or update.
CREATE OR REPLACE FUNCTION auditor_findings(p_end timestamptz)
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
               bool_or(metric IN ('p50_response_time_ms', 'p95_response_time_ms', 'p99_response_time_ms')) AS percentiles,
               bool_or(metric = 'throughput_per_minute' AND direction = 'up') AS growth,
               -- the hour of the week a window is judged against: at its middle (once per window, not per row)
               hour_of_week(p_end - window_length / 2) AS how
        FROM r GROUP BY 1
    ), typical AS (
        -- for growth rules, the window's typical minute (median of minutes with traffic, times the
        -- share of minutes that had any), as the baselines measure it: a spike of a few minutes
        -- inside an hour is no growth
        SELECT w.window_length, pm.cache_name, pm.implementation_type,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY pm.ops) * count(*)
                   / (extract(epoch FROM w.window_length) / 60) AS throughput
        FROM w
        CROSS JOIN LATERAL (
            SELECT c.cache_name, c.implementation_type, c.minute_window, sum(c.total_operations) AS ops
            FROM cache_metrics_1min AS c
            WHERE c.minute_window >= p_end - w.window_length AND c.minute_window < p_end
            GROUP BY 1, 2, 3
        ) AS pm
        WHERE w.growth AND pm.ops > 0
        GROUP BY 1, 2, 3
    ), st AS (
        SELECT w.window_length, s.*
        FROM w CROSS JOIN LATERAL cache_series(p_end - w.window_length, p_end, w.window_length,
                                               NULL, NULL, w.percentiles) AS s
    ), series AS (
        -- every series with data in the window or with a baseline (a silent series can be judged too)
        SELECT w.window_length, w.how, b.cache_name, b.implementation_type
        FROM w, cache_baseline_metrics AS b
        WHERE b.is_active AND b.hour_of_week IS NULL
        UNION
        SELECT st.window_length, w.how, st.cache_name, st.implementation_type
        FROM st JOIN w ON w.window_length = st.window_length
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
              AND (bl.hour_of_week IS NULL OR bl.hour_of_week = se.how)
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
                    ELSE CASE WHEN r.direction = 'up' THEN coalesce(ty.throughput, 0) ELSE sb.throughput_per_minute END
               END AS obs,
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
        LEFT JOIN typical AS ty ON ty.window_length = r.window_length AND ty.cache_name = sb.cache_name
                               AND ty.implementation_type = sb.implementation_type
    ), m2 AS (
        -- the spread of the window's value: the baseline's per-minute spread, widened when the
        -- window holds fewer requests than a typical baseline minute, and never below 1 % of the mean
        -- (10 % for a latency percentile: read from histogram buckets up to 9 % wide, over a few
        -- hundred requests, it moves that much by itself, and a robust spread of bucketed values
        -- can be as small as a bucket)
        SELECT m.*,
               CASE WHEN m.b_id IS NOT NULL THEN
                   greatest(m.sd * sqrt(greatest(1.0, coalesce(m.per_minute, 0) / greatest(m.traffic, 1))),
                            CASE WHEN m.metric LIKE 'p%_response_time_ms' THEN 0.10 ELSE 0.01 END * abs(m.expct),
                            1e-9) END AS sd_eff
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
    -- hysteresis: an open observation stays open down to 80 % of every condition that opened it,
    -- thresholds, z and counts alike (no flapping at the edge)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN EXISTS (SELECT 1 FROM cache_auditor_observations AS o
                                 WHERE o.status = 'open' AND o.cache_name = j.cache_name
                                   AND o.implementation_type = j.implementation_type AND o.rule = j.rule
                                   AND o.metric = j.metric)
                    THEN 0.8 ELSE 1.0 END AS k
    ) AS h
    WHERE j.obs IS NOT NULL
      AND j.traffic >= j.min_traffic * h.k
      AND j.errs >= j.min_count * h.k
      AND (j.compare_to = 'threshold' OR j.expct IS NOT NULL)
      AND j.badness >= j.warning_threshold * h.k
      -- no spread to test against (a reference latency rule without baselines): the threshold decides
      AND (j.min_z IS NULL OR (j.z IS NULL AND j.compare_to = 'reference') OR j.z >= j.min_z * h.k);
END
$$;

-- A plain-language sentence for an observation, e.g. "p95 latency of users (new) is 9.10 ms over
-- the last 5 min, expected 2.30 ms (+296 %, z = 41.2)."
CREATE OR REPLACE FUNCTION auditor_message(
    p_metric text, p_cache text, p_impl text, p_observed double precision, p_expected double precision,
    p_deviation double precision, p_z double precision, p_window interval, p_reference text,
    p_limit double precision)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path FROM CURRENT
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
CREATE OR REPLACE FUNCTION auditor_value(p_metric text, p_value double precision)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path FROM CURRENT
AS $$
    SELECT CASE WHEN p_value IS NULL THEN 'unknown'
                WHEN p_metric IN ('hit_rate', 'error_rate') THEN to_char(p_value, 'FM9990.0') || ' %'
                WHEN p_metric = 'throughput_per_minute' THEN to_char(p_value, 'FM9999999990') || ' ops/min'
                ELSE to_char(p_value, 'FM9999990.00') || ' ms' END
$$;

-- Judges the window ending at the last complete minute before p_at - audit_lag: opens an
-- observation per new finding, updates the open one of an ongoing finding (last seen, current and
-- worst values), and resolves open observations whose finding has been absent for resolve_after
-- (or the rule's window, if longer) while the series had traffic enough to judge it (at least the
-- rule's min_traffic operations in the last resolve_after minutes, after the last window that held it,
-- and for an error-rate limit errors whose upper bound stays under it; a day without that resolves it too),
-- so a quiet night does not close and reopen an ongoing finding. An observation opens as
-- info and takes its finding's severity once the finding has lasted escalate_after (as an alert
-- rule's "for"); a critical finding is critical at once, except a capacity one, which must last
-- half its rule's window (a spike of minutes is no capacity problem). Severity only ever rises;
-- details.escalated_at is when it became a warning or worse; an acknowledged one that turns
-- critical is unacknowledged. A window already judged is skipped, so running it twice changes nothing.
CREATE OR REPLACE FUNCTION run_auditor(p_at timestamptz DEFAULT now())
RETURNS TABLE (action text, observations integer)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    cfg      maintenance_settings;
    v_end    timestamptz;
    last_end timestamptz;
    f        record;
    o        cache_auditor_observations;
    lasted   interval;
    sev      text;
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

    FOR f IN SELECT fi.*, r.window_length FROM auditor_findings(v_end) AS fi JOIN auditor_rules AS r ON r.rule = fi.rule
             ORDER BY 1, 2, 3 LOOP
        SELECT * INTO o FROM cache_auditor_observations AS x
        WHERE x.status = 'open' AND x.cache_name = f.cache_name AND x.implementation_type = f.implementation_type
          AND x.rule = f.rule AND x.metric = f.metric
        FOR UPDATE;
        lasted := CASE WHEN o.id IS NULL THEN interval '0' ELSE p_at - o.first_seen_at END;
        sev := CASE WHEN f.severity = 'critical'
                         AND (f.category <> 'capacity' OR lasted >= greatest(cfg.escalate_after, f.window_length / 2))
                    THEN 'critical'
                    WHEN lasted >= cfg.escalate_after THEN 'warning'
                    ELSE 'info' END;
        IF o.id IS NOT NULL THEN
            sev := CASE WHEN 'critical' IN (sev, o.severity) THEN 'critical'
                        WHEN 'warning' IN (sev, o.severity) THEN 'warning' ELSE 'info' END;
            UPDATE cache_auditor_observations AS x SET
                last_seen_at   = greatest(x.last_seen_at, p_at),
                observed_value = f.observed_value,
                expected_value = f.expected_value,
                deviation_pct  = f.deviation_pct,
                z_score        = f.z_score,
                worst_value    = CASE WHEN f.direction = 'up' THEN greatest(x.worst_value, f.observed_value)
                                      ELSE least(x.worst_value, f.observed_value) END,
                severity       = sev,
                acknowledged   = x.acknowledged AND NOT (sev = 'critical' AND x.severity <> 'critical'),
                message        = auditor_message(f.metric, f.cache_name, f.implementation_type, f.observed_value,
                                                 f.expected_value, f.deviation_pct, f.z_score,
                                                 v_end - f.window_start, f.reference, f.limit_value),
                details        = x.details || jsonb_build_object('window_start', f.window_start, 'window_end', v_end,
                                                                 'traffic', f.traffic, 'evaluations',
                                                                 coalesce((x.details ->> 'evaluations')::integer, 1) + 1)
                                 || CASE WHEN x.severity = 'info' AND sev <> 'info'
                                         THEN jsonb_build_object('escalated_at', p_at) ELSE '{}'::jsonb END,
                updated_at     = now()
            WHERE x.id = o.id;
            updated := updated + 1;
        ELSE
            INSERT INTO cache_auditor_observations (
                cache_name, implementation_type, severity, category, rule, metric, observed_value,
                expected_value, deviation_pct, z_score, worst_value, message, recommendation,
                first_seen_at, last_seen_at, details)
            VALUES (f.cache_name, f.implementation_type, sev, f.category, f.rule, f.metric,
                    f.observed_value, f.expected_value, f.deviation_pct, f.z_score, f.observed_value,
                    auditor_message(f.metric, f.cache_name, f.implementation_type, f.observed_value,
                                    f.expected_value, f.deviation_pct, f.z_score, v_end - f.window_start,
                                    f.reference, f.limit_value),
                    f.recommendation, p_at, p_at,
                    jsonb_strip_nulls(jsonb_build_object(
                        'window_start', f.window_start, 'window_end', v_end, 'traffic', f.traffic,
                        'reference_implementation', f.reference, 'baseline_id', f.baseline_id, 'evaluations', 1,
                        'escalated_at', CASE WHEN sev <> 'info' THEN p_at END)));
            opened := opened + 1;
        END IF;
    END LOOP;

    UPDATE cache_auditor_observations AS x
    SET status = 'resolved', resolved_at = p_at, updated_at = now()
    FROM auditor_rules AS r
    WHERE x.status = 'open' AND r.rule = x.rule
      AND x.last_seen_at <= p_at - greatest(cfg.resolve_after, r.window_length)
      AND (x.last_seen_at <= p_at - interval '1 day'
           OR r.metric = 'throughput_per_minute'
           OR EXISTS (
               SELECT 1
               FROM (SELECT sum(m.total_operations) AS ops, sum(m.errors) AS errs FROM cache_metrics_1min AS m
                     WHERE m.cache_name = x.cache_name AND m.implementation_type = x.implementation_type
                       -- the minutes of the absence it resolves on, after the last window that held it
                       AND m.minute_window >= greatest(coalesce((x.details ->> 'window_end')::timestamptz, x.last_seen_at),
                                                       v_end - greatest(cfg.resolve_after, r.window_length))
                       AND m.minute_window < v_end) AS q
               WHERE q.ops >= r.min_traffic
                 -- an error-rate limit: errors were few because the rate is low, not because traffic
                 -- was: even their upper bound (Poisson, about 97.5 %) stays under the limit
                 AND (r.compare_to <> 'threshold' OR r.metric <> 'error_rate'
                      OR q.errs + 2 * sqrt(q.errs) + 2 < r.warning_threshold / 100.0 * q.ops)));
    GET DIAGNOSTICS resolved = ROW_COUNT;

    action := 'opened'; observations := opened; RETURN NEXT;
    action := 'updated'; observations := updated; RETURN NEXT;
    action := 'resolved'; observations := resolved; RETURN NEXT;
END
$$;

-- Acknowledges an observation (the dashboard's one write): who and when are kept. Acknowledging
-- again keeps the first acknowledgement. Raises no_data_found for an unknown id.
CREATE OR REPLACE FUNCTION acknowledge_observation(p_id bigint, p_by text)
RETURNS cache_auditor_observations
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    who text := btrim(coalesce(p_by, ''));
    result cache_auditor_observations;
BEGIN
    PERFORM assert_caller('reader', 'acknowledge_observation');
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
CREATE OR REPLACE FUNCTION compare_implementations(
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
