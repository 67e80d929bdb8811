-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- The common reads as views.

-- The common reads (from the seeds' unified-schema design).
CREATE OR REPLACE VIEW recent_events AS
    SELECT id, event_type, "timestamp", source, data, metadata
    FROM monitoring_events
    WHERE "timestamp" > now() - interval '24 hours';

CREATE OR REPLACE VIEW error_summary AS
    SELECT cache_name, implementation_type, coalesce(error_type, 'unknown') AS error_type,
           count(*) AS errors, min("timestamp") AS first_seen, max("timestamp") AS last_seen,
           (array_agg(error_message ORDER BY "timestamp" DESC))[1] AS last_message
    FROM cache_metrics
    WHERE operation_type = 'error' AND "timestamp" > now() - interval '7 days'
    GROUP BY cache_name, implementation_type, coalesce(error_type, 'unknown');

CREATE OR REPLACE VIEW performance_summary AS
    SELECT * FROM get_cache_performance_summary(NULL, interval '1 hour');

-- The last hour, one bucket, every cache that runs the reference implementation and another one.
CREATE OR REPLACE VIEW implementation_comparison AS
    SELECT * FROM compare_implementations(date_trunc('minute', now()) - interval '1 hour',
                                          date_trunc('minute', now()), interval '1 hour');

-- What needs attention: open observations, worst first.
CREATE OR REPLACE VIEW open_observations AS
    SELECT id, severity, category, cache_name, implementation_type, rule, metric, observed_value,
           expected_value, deviation_pct, z_score, worst_value, message, recommendation, first_seen_at,
           last_seen_at, last_seen_at - first_seen_at AS duration, acknowledged, acknowledged_by, acknowledged_at
    FROM cache_auditor_observations
    WHERE status = 'open'
    ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, first_seen_at;

-- Views answer with the caller's rights (PostgreSQL 15+), so row-level security applies through
-- them as it does to the tables (CREATE OR REPLACE VIEW resets the option: set it again).
DO $$
DECLARE
    v text;
BEGIN
    IF current_setting('server_version_num')::integer >= 150000 THEN
        FOREACH v IN ARRAY ARRAY['recent_events', 'error_summary', 'performance_summary',
                                 'implementation_comparison', 'open_observations'] LOOP
            EXECUTE format('ALTER VIEW %I.%I SET (security_invoker = true)', current_schema(), v);
        END LOOP;
    END IF;
END
$$;
