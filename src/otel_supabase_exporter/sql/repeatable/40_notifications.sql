-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- Live updates: the supabase_realtime publication, and NOTIFY on new minutes and observations
-- (a changed minute also queues its hour for the rollup).

-- Supabase Realtime. Where a publication named supabase_realtime exists
-- (every Supabase project), the 1-minute and observation tables join it; on
-- plain PostgreSQL nothing happens. Returns the tables it added.
CREATE OR REPLACE FUNCTION sync_realtime_publication()
RETURNS text[]
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    sch   text := current_schema();
    tbl   text;
    added text[] := '{}';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
        RETURN added;
    END IF;
    IF (SELECT puballtables FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
        RETURN added;
    END IF;
    FOREACH tbl IN ARRAY ARRAY['cache_metrics_1min', 'cache_auditor_observations'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_publication_tables
                       WHERE pubname = 'supabase_realtime' AND schemaname = sch AND tablename = tbl) THEN
            BEGIN
                EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE %I.%I', sch, tbl);
                added := added || tbl;
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'could not add %.% to publication supabase_realtime: permission denied', sch, tbl;
            END;
        END IF;
    END LOOP;
    RETURN added;
END
$$;

-- The channel every notification of this package goes to; payloads name schema and table.
CREATE OR REPLACE FUNCTION notify_channel() RETURNS text LANGUAGE sql IMMUTABLE SET search_path FROM CURRENT AS $$ SELECT 'otel_supabase_exporter' $$;

CREATE OR REPLACE FUNCTION cache_metrics_1min_changed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM assert_caller('writer', 'cache_metrics_1min_changed');
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

CREATE OR REPLACE FUNCTION cache_auditor_observations_changed()
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
