-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- Daily partitions of cache_metrics, made by the owner on behalf of whoever writes.

-- Refuses a caller of a SECURITY DEFINER function of this schema unless it is the schema's owner
-- (or a superuser) or a member of the package's role of that kind: the role the otel_writer /
-- otel_reader policies name (`otel-supabase-exporter roles --apply` makes them). Grants made later,
-- such as Supabase's guide to exposing a schema (GRANT ALL ON ALL ROUTINES ... TO anon), cannot
-- open these functions. Inside a SECURITY DEFINER function current_user is the owner, so the
-- caller is the role of SET ROLE (how PostgREST becomes anon or authenticated), else the session's user.
CREATE OR REPLACE FUNCTION assert_caller(p_kind text, p_what text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path FROM CURRENT
AS $$
DECLARE
    caller text := CASE WHEN current_setting('role') IN ('none', '') THEN session_user::text
                        ELSE current_setting('role') END;
BEGIN
    IF pg_has_role(caller, (SELECT nspowner FROM pg_namespace WHERE nspname = current_schema()), 'MEMBER')
       OR EXISTS (SELECT 1 FROM pg_policies, unnest(roles) AS r
                  WHERE schemaname = current_schema() AND policyname = 'otel_' || p_kind
                    AND r <> 'public' AND pg_has_role(caller, r::text, 'MEMBER')) THEN
        RETURN;
    END IF;
    RAISE EXCEPTION '%: role % is neither the owner of schema % nor a member of its % role',
        p_what, caller, current_schema(), p_kind USING ERRCODE = 'insufficient_privilege';
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
    PERFORM assert_caller('writer', 'ensure_cache_metrics_partitions');
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
