-- Runs last, after every migrate that applied anything (a versioned file, or a changed file
-- here): nothing in the schema is callable by PUBLIC (the default for a new function), and the
-- package's writer and reader roles — the roles the policies of `otel-supabase-exporter roles`
-- name — get exactly privilege_plan() again, on new objects too.
DO $$
DECLARE
    writer text;
    reader text;
BEGIN
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %I FROM PUBLIC', current_schema());
    SELECT min(r::text) INTO writer FROM pg_policies, unnest(roles) AS r
    WHERE schemaname = current_schema() AND policyname = 'otel_writer';
    SELECT min(r::text) INTO reader FROM pg_policies, unnest(roles) AS r
    WHERE schemaname = current_schema() AND policyname = 'otel_reader';
    IF writer IS NOT NULL AND reader IS NOT NULL AND writer <> reader THEN
        EXECUTE roles_sql(writer, reader);
    END IF;
END
$$;
