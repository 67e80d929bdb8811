-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- What the package's writer and reader roles may do, and the SQL that creates them.

-- What a role may do in this schema, by role name: the reader and writer roles get exactly
-- these (see `otel-supabase-exporter roles`), and doctor checks against them.
CREATE OR REPLACE FUNCTION privilege_plan()
RETURNS TABLE (grantee text, object_type text, object_name text, privileges text)
LANGUAGE sql IMMUTABLE
SET search_path FROM CURRENT
AS $$
    VALUES
        ('writer', 'table', 'cache_metrics', 'SELECT, INSERT'),
        ('writer', 'table', 'monitoring_events', 'SELECT, INSERT'),
        ('writer', 'table', 'cache_metrics_1min', 'SELECT, INSERT, UPDATE'),
        ('writer', 'table', 'export_batches', 'SELECT, INSERT'),
        ('writer', 'table', 'cumulative_state', 'SELECT, INSERT, UPDATE'),
        ('writer', 'function', 'ensure_cache_metrics_partitions(date, date)', 'EXECUTE'),
        ('writer', 'function', 'exp_hist_merge(exp_histogram, exp_histogram, integer)', 'EXECUTE'),
        ('writer', 'function', 'exp_hist_merge(exp_histogram, exp_histogram)', 'EXECUTE'),
        ('writer', 'function', 'exp_hist_quantiles(exp_histogram, bigint, double precision[], double precision, double precision)', 'EXECUTE'),
        ('writer', 'function', 'notify_channel()', 'EXECUTE'),
        ('writer', 'function', 'cumulative_deltas(jsonb)', 'EXECUTE'),
        ('reader', 'table', '*', 'SELECT'),
        ('reader', 'function', 'calculate_hit_rate(bigint, bigint)', 'EXECUTE'),
        ('reader', 'function', 'get_cache_performance_summary(text, interval)', 'EXECUTE'),
        ('reader', 'function', 'cache_series(timestamp with time zone, timestamp with time zone, interval, text, text, boolean)', 'EXECUTE'),
        ('reader', 'function', 'compare_implementations(timestamp with time zone, timestamp with time zone, interval, text, text)', 'EXECUTE'),
        ('reader', 'function', 'acknowledge_observation(bigint, text)', 'EXECUTE'),
        ('reader', 'function', 'exp_hist_merge_all(exp_histogram[], integer)', 'EXECUTE'),
        ('reader', 'function', 'exp_hist_quantiles(exp_histogram, bigint, double precision[], double precision, double precision)', 'EXECUTE'),
        ('reader', 'function', 'hour_of_week(timestamp with time zone)', 'EXECUTE'),
        ('reader', 'function', 'hour_of_week(timestamp with time zone, text)', 'EXECUTE'),
        ('reader', 'function', 'notify_channel()', 'EXECUTE')
$$;

-- The SQL that creates the writer and reader roles (NOLOGIN: grant them to your login roles),
-- grants them privilege_plan() and gives them their row-level security policies. Idempotent;
-- run it again after a migration that adds tables. `otel-supabase-exporter roles` prints it,
-- `roles --apply` runs it (as the owner, with CREATEROLE).
CREATE OR REPLACE FUNCTION roles_sql(p_writer text, p_reader text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path FROM CURRENT
AS $$
DECLARE
    sch   text := current_schema();
    out   text[] := ARRAY[]::text[];
    r     record;
    t     record;
    role  text;
    fn    regprocedure;
BEGIN
    IF p_writer !~ '^[a-z_][a-z0-9_]{0,62}$' OR p_reader !~ '^[a-z_][a-z0-9_]{0,62}$' OR p_writer = p_reader THEN
        RAISE EXCEPTION 'roles_sql: role names must be two different plain identifiers (a-z, 0-9, _)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH role IN ARRAY ARRAY[p_writer, p_reader] LOOP
        out := out || format('DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %L) THEN '
                             'CREATE ROLE %I NOLOGIN; END IF; END $do$;', role, role);
    END LOOP;
    out := out || format('GRANT USAGE ON SCHEMA %I TO %I, %I;', sch, p_writer, p_reader);
    FOR r IN SELECT * FROM privilege_plan() LOOP
        role := CASE r.grantee WHEN 'writer' THEN p_writer ELSE p_reader END;
        IF r.object_type = 'table' AND r.object_name = '*' THEN
            out := out || format('GRANT %s ON ALL TABLES IN SCHEMA %I TO %I;', r.privileges, sch, role);
        ELSIF r.object_type = 'table' THEN
            out := out || format('GRANT %s ON %I.%I TO %I;', r.privileges, sch, r.object_name, role);
        ELSE
            -- the signature with every name qualified, so the script runs under any search_path
            fn := to_regprocedure(format('%I.%s', sch, r.object_name));
            IF fn IS NULL THEN
                RAISE EXCEPTION 'roles_sql: no function %.%', sch, r.object_name;
            END IF;
            PERFORM set_config('search_path', 'pg_catalog', true);
            out := out || format('GRANT %s ON FUNCTION %s TO %I;', r.privileges, fn::text, role);
            PERFORM set_config('search_path', quote_ident(sch), true);
        END IF;
    END LOOP;
    FOR t IN
        SELECT c.relname
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = sch AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY 1
    LOOP
        out := out || format('DROP POLICY IF EXISTS otel_reader ON %I.%I;', sch, t.relname)
                   || format('CREATE POLICY otel_reader ON %I.%I FOR SELECT TO %I USING (true);',
                             sch, t.relname, p_reader);
        IF EXISTS (SELECT 1 FROM privilege_plan() AS p
                   WHERE p.grantee = 'writer' AND p.object_type = 'table' AND p.object_name = t.relname) THEN
            out := out || format('DROP POLICY IF EXISTS otel_writer ON %I.%I;', sch, t.relname)
                       || format('CREATE POLICY otel_writer ON %I.%I FOR ALL TO %I USING (true) WITH CHECK (true);',
                                 sch, t.relname, p_writer);
        END IF;
    END LOOP;
    RETURN array_to_string(out, E'\n') || E'\n';
END
$$;
