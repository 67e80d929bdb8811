-- 007: least privilege. Row-level security on every table; no function callable by PUBLIC; the
-- two things other roles may do beyond their table privileges — make a raw partition (writer),
-- acknowledge an observation (reader) — through SECURITY DEFINER functions. The roles, their
-- grants and their policies come from `otel-supabase-exporter roles` (docs/security.md); the owner
-- (who migrates and runs maintain()) bypasses RLS as owners do.

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', current_schema(), t.relname);
    END LOOP;
END
$$;

-- Partitions are created by the owner on behalf of whoever writes (the writer role has no DDL
-- right), with row-level security on like every other table.
CREATE OR REPLACE FUNCTION ensure_cache_metrics_partitions(p_from date, p_to date)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    sch     text := current_schema();
    d       date;
    part    text;
    created integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
        RAISE EXCEPTION 'ensure_cache_metrics_partitions: invalid range % .. %', p_from, p_to;
    END IF;
    IF p_to - p_from > 400 THEN
        RAISE EXCEPTION 'ensure_cache_metrics_partitions: refusing to create % daily partitions at once',
            p_to - p_from + 1;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(sch || '.cache_metrics partitions'));
    FOR d IN SELECT generate_series(p_from, p_to, interval '1 day')::date LOOP
        part := 'cache_metrics_p' || to_char(d, 'YYYYMMDD');
        IF to_regclass(format('%I.%I', sch, part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I.%I PARTITION OF %I.cache_metrics FOR VALUES FROM (%L) TO (%L)',
                sch, part, sch,
                (d::timestamp AT TIME ZONE 'UTC'),
                ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', sch, part);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;
-- A new or changed minute queues its hour for the rollup, whoever writes the minute.
ALTER FUNCTION cache_metrics_1min_changed() SECURITY DEFINER;

-- The dashboard's one write, for a role that may not update the table itself.
ALTER FUNCTION acknowledge_observation(bigint, text) SECURITY DEFINER;

-- What a role may do in this schema, by role name: the reader and writer roles get exactly
-- these (see `otel-supabase-exporter roles`), and doctor checks against them.
CREATE FUNCTION privilege_plan()
RETURNS TABLE (grantee text, object_type text, object_name text, privileges text)
LANGUAGE sql IMMUTABLE
AS $$
    VALUES
        ('writer', 'table', 'cache_metrics', 'SELECT, INSERT'),
        ('writer', 'table', 'monitoring_events', 'SELECT, INSERT'),
        ('writer', 'table', 'cache_metrics_1min', 'SELECT, INSERT, UPDATE'),
        ('writer', 'table', 'export_batches', 'SELECT, INSERT'),
        ('writer', 'function', 'ensure_cache_metrics_partitions(date, date)', 'EXECUTE'),
        ('writer', 'function', 'exp_hist_merge(exp_histogram, exp_histogram, integer)', 'EXECUTE'),
        ('writer', 'function', 'exp_hist_merge(exp_histogram, exp_histogram)', 'EXECUTE'),
        ('writer', 'function', 'exp_hist_quantiles(exp_histogram, bigint, double precision[], double precision, double precision)', 'EXECUTE'),
        ('writer', 'function', 'notify_channel()', 'EXECUTE'),
        ('reader', 'table', '*', 'SELECT'),
        ('reader', 'function', 'calculate_hit_rate(bigint, bigint)', 'EXECUTE'),
        ('reader', 'function', 'get_cache_performance_summary(text, interval)', 'EXECUTE'),
        ('reader', 'function', 'cache_series(timestamp with time zone, timestamp with time zone, interval, text, text, boolean)', 'EXECUTE'),
        ('reader', 'function', 'compare_implementations(timestamp with time zone, timestamp with time zone, interval, text, text)', 'EXECUTE'),
        ('reader', 'function', 'acknowledge_observation(bigint, text)', 'EXECUTE'),
        ('reader', 'function', 'exp_hist_merge_all(exp_histogram[], integer)', 'EXECUTE'),
        ('reader', 'function', 'exp_hist_quantiles(exp_histogram, bigint, double precision[], double precision, double precision)', 'EXECUTE'),
        ('reader', 'function', 'hour_of_week(timestamp with time zone)', 'EXECUTE'),
        ('reader', 'function', 'notify_channel()', 'EXECUTE')
$$;

-- Views answer with the caller's rights (PostgreSQL 15+), so row-level security applies through
-- them as it does to the tables.
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

-- The SQL that creates the writer and reader roles (NOLOGIN: grant them to your login roles),
-- grants them privilege_plan() and gives them their row-level security policies. Idempotent;
-- run it again after a migration that adds tables. `otel-supabase-exporter roles` prints it,
-- `roles --apply` runs it (as the owner, with CREATEROLE).
CREATE FUNCTION roles_sql(p_writer text, p_reader text)
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

-- Nothing here is callable by PUBLIC (the default for new functions: every later migration ends
-- with this same statement, and tests/test_security.py checks it).
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %I FROM PUBLIC', current_schema());
END
$$;
