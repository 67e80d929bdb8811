-- 004: Supabase Realtime. Where a publication named supabase_realtime exists
-- (every Supabase project), the 1-minute and observation tables join it; on
-- plain PostgreSQL nothing happens. Returns the tables it added.
CREATE FUNCTION sync_realtime_publication()
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

SELECT sync_realtime_publication();
