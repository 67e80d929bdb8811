-- 005: 1-hour rollups (late minutes included), retention, one maintenance entry
-- point for pg_cron or the CLI, the common reads as views, and NOTIFY on new data.

-- Retention windows and how far ahead raw partitions exist; one row, edit it to change them.
CREATE TABLE maintenance_settings (
    id               boolean  PRIMARY KEY DEFAULT true CHECK (id),
    raw_retention    interval NOT NULL DEFAULT interval '7 days'  CHECK (raw_retention >= interval '1 day'),
    minute_retention interval NOT NULL DEFAULT interval '30 days' CHECK (minute_retention >= interval '2 hours'),
    hour_retention   interval NOT NULL DEFAULT interval '1 year'  CHECK (hour_retention >= interval '1 day'),
    event_retention  interval NOT NULL DEFAULT interval '90 days' CHECK (event_retention >= interval '1 hour'),
    partitions_ahead integer  NOT NULL DEFAULT 2 CHECK (partitions_ahead BETWEEN 1 AND 60),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO maintenance_settings DEFAULT VALUES;

-- Hours whose 1-minute rows changed since they were last rolled up. Every write to
-- cache_metrics_1min queues its hour (a trigger, in the writer's own transaction), so a
-- minute replayed from a spool hours later re-rolls its hour.
CREATE TABLE rollup_queue (
    hour_window         timestamptz NOT NULL,
    cache_name          text        NOT NULL,
    implementation_type text        NOT NULL,
    service_name        text        NOT NULL,
    queued_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hour_window, cache_name, implementation_type, service_name)
);
INSERT INTO rollup_queue (hour_window, cache_name, implementation_type, service_name)
SELECT DISTINCT date_trunc('hour', minute_window, 'UTC'), cache_name, implementation_type, service_name
FROM cache_metrics_1min;

-- The channel every notification of this package goes to; payloads name schema and table.
CREATE FUNCTION notify_channel() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'otel_supabase_exporter' $$;

CREATE FUNCTION cache_metrics_1min_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO rollup_queue (hour_window, cache_name, implementation_type, service_name)
    SELECT DISTINCT date_trunc('hour', n.minute_window, 'UTC'), n.cache_name, n.implementation_type, n.service_name
    FROM changed_rows AS n
    ORDER BY 1, 2, 3, 4  -- one lock order for every writer
    ON CONFLICT DO NOTHING;
    PERFORM pg_notify(notify_channel(), json_build_object(
        'schema', current_schema(), 'table', 'cache_metrics_1min', 'id', n.id, 'minute', n.minute_window,
        'cache_name', n.cache_name, 'implementation_type', n.implementation_type)::text)
    FROM changed_rows AS n;
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger: one for inserts, one for updates (an
-- INSERT ... ON CONFLICT DO UPDATE fires both, each with its own rows).
CREATE TRIGGER cache_metrics_1min_inserted
    AFTER INSERT ON cache_metrics_1min REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cache_metrics_1min_changed();
CREATE TRIGGER cache_metrics_1min_updated
    AFTER UPDATE ON cache_metrics_1min REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cache_metrics_1min_changed();

CREATE FUNCTION cache_auditor_observations_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM pg_notify(notify_channel(), json_build_object(
        'schema', current_schema(), 'table', 'cache_auditor_observations', 'id', NEW.id,
        'status', NEW.status, 'severity', NEW.severity, 'acknowledged', NEW.acknowledged)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER cache_auditor_observations_notify
    AFTER INSERT OR UPDATE ON cache_auditor_observations
    FOR EACH ROW EXECUTE FUNCTION cache_auditor_observations_changed();

-- A faster exact merge: when b fits inside a's buckets at a's scale (the usual case in an
-- aggregate, whose state is the wider histogram), b's buckets are added in place, so a merge
-- costs b's size instead of a's. Same results as before (sql/002), see exp_hist_merge there.
CREATE OR REPLACE FUNCTION exp_hist_merge(a exp_histogram, b exp_histogram, max_buckets integer)
RETURNS exp_histogram
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
DECLARE
    la  integer := coalesce(cardinality(a.counts), 0);
    lb  integer := coalesce(cardinality(b.counts), 0);
    s   integer;
    lo  integer;
    hi  integer;
    res bigint[];
    i   integer;
    j   integer;
    k   integer;
BEGIN
    IF la = 0 AND lb = 0 THEN
        RETURN CASE WHEN a IS NULL THEN b ELSE a END;
    END IF;
    IF la = 0 THEN
        IF lb <= max_buckets THEN
            RETURN b;
        END IF;
        a := b; la := lb; lb := 0;
    ELSIF lb = 0 AND la <= max_buckets THEN
        RETURN a;
    END IF;

    IF lb > 0 AND la <= max_buckets AND b.scale >= a.scale THEN
        k := b.scale - a.scale;
        IF (b.index_offset >> k) >= a.index_offset
           AND ((b.index_offset + lb - 1) >> k) < a.index_offset + la THEN
            res := a.counts;
            FOR i IN 1..lb LOOP
                IF b.counts[i] <> 0 THEN
                    j := ((b.index_offset + i - 1) >> k) - a.index_offset + 1;
                    res[j] := res[j] + b.counts[i];
                END IF;
            END LOOP;
            RETURN ROW(a.scale, a.index_offset, res)::exp_histogram;
        END IF;
    END IF;

    s := CASE WHEN lb = 0 THEN a.scale ELSE least(a.scale, b.scale) END;
    LOOP
        lo := a.index_offset >> (a.scale - s);
        hi := (a.index_offset + la - 1) >> (a.scale - s);
        IF lb > 0 THEN
            lo := least(lo, b.index_offset >> (b.scale - s));
            hi := greatest(hi, (b.index_offset + lb - 1) >> (b.scale - s));
        END IF;
        EXIT WHEN hi - lo + 1 <= max_buckets;
        s := s - 1;
    END LOOP;

    res := array_fill(0::bigint, ARRAY[hi - lo + 1]);
    FOR i IN 1..la LOOP
        IF a.counts[i] <> 0 THEN
            j := ((a.index_offset + i - 1) >> (a.scale - s)) - lo + 1;
            res[j] := res[j] + a.counts[i];
        END IF;
    END LOOP;
    FOR i IN 1..lb LOOP
        IF b.counts[i] <> 0 THEN
            j := ((b.index_offset + i - 1) >> (b.scale - s)) - lo + 1;
            res[j] := res[j] + b.counts[i];
        END IF;
    END LOOP;
    RETURN ROW(s, lo, res)::exp_histogram;
END
$$;

-- The exact merge of many histograms at once, set-based (about twice as fast as folding
-- exp_hist_merge over them): every bucket goes to the smallest scale among them, then the
-- scale is lowered until at most max_buckets buckets are needed. Same result as exp_hist_agg.
CREATE FUNCTION exp_hist_merge_all(hs exp_histogram[], max_buckets integer DEFAULT 320)
RETURNS exp_histogram
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
    WITH h AS (
        SELECT (x).scale AS scale, (x).index_offset AS off, (x).counts AS counts
        FROM unnest(hs) AS x
        WHERE cardinality((x).counts) > 0
    ), s AS (
        SELECT min(scale) AS s FROM h
    ), b AS (
        SELECT (h.off + u.o::integer - 1) >> (h.scale - s.s) AS idx, sum(u.c) AS c
        FROM h, s, unnest(h.counts) WITH ORDINALITY AS u(c, o)
        WHERE u.c <> 0
        GROUP BY 1
    ), k AS (
        SELECT min(k) AS k
        FROM (SELECT min(idx) AS lo, max(idx) AS hi FROM b) AS r, generate_series(0, 62) AS k
        WHERE (r.hi >> k) - (r.lo >> k) + 1 <= max_buckets
    ), f AS (
        SELECT idx >> k.k AS j, sum(c)::bigint AS c FROM b, k GROUP BY 1
    )
    SELECT CASE WHEN EXISTS (SELECT 1 FROM f) THEN
        ROW((SELECT s FROM s) - (SELECT k FROM k), (SELECT min(j) FROM f),
            (SELECT array_agg(coalesce(f.c, 0) ORDER BY g)
             FROM generate_series((SELECT min(j) FROM f), (SELECT max(j) FROM f)) AS g
             LEFT JOIN f ON f.j = g))::exp_histogram
    END
$$;

-- Recomputes the queued hours from their 1-minute rows (replacing, so running it twice
-- changes nothing); returns the hour rows written. Concurrent callers share the queue.
CREATE FUNCTION rollup_hours(p_limit integer DEFAULT 20000)
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
CREATE FUNCTION delete_older_than(p_table text, p_column text, p_cutoff timestamptz, p_batch integer)
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
CREATE FUNCTION apply_retention(p_batch integer DEFAULT 50000)
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

-- Everything periodic, in one call: SELECT * FROM <schema>.maintain();
-- (pg_cron: SELECT cron.schedule('otel-maintain', '* * * * *', 'SELECT <schema>.maintain()');)
-- Runs one at a time per schema; a concurrent call returns at once.
CREATE FUNCTION maintain()
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
    FOR r IN SELECT * FROM apply_retention() LOOP
        step := 'expired: ' || r.relation; affected := r.removed; RETURN NEXT;
    END LOOP;
END
$$;

-- Performance per cache and implementation over the last p_time_window, now reading the
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
        SELECT date_trunc('minute', now() - p_time_window) AS ws, date_trunc('hour', now(), 'UTC') AS now_hour
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

-- The common reads (from the seeds' unified-schema design).
CREATE VIEW recent_events AS
    SELECT id, event_type, "timestamp", source, data, metadata
    FROM monitoring_events
    WHERE "timestamp" > now() - interval '24 hours';

CREATE VIEW error_summary AS
    SELECT cache_name, implementation_type, coalesce(error_type, 'unknown') AS error_type,
           count(*) AS errors, min("timestamp") AS first_seen, max("timestamp") AS last_seen,
           (array_agg(error_message ORDER BY "timestamp" DESC))[1] AS last_message
    FROM cache_metrics
    WHERE operation_type = 'error' AND "timestamp" > now() - interval '7 days'
    GROUP BY cache_name, implementation_type, coalesce(error_type, 'unknown');

CREATE VIEW performance_summary AS
    SELECT * FROM get_cache_performance_summary(NULL, interval '1 hour');

CREATE INDEX monitoring_events_timestamp_idx ON monitoring_events ("timestamp");
CREATE INDEX rollup_queue_series_idx ON rollup_queue (cache_name, implementation_type, service_name, hour_window);
