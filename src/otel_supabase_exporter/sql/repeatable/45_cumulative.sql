-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- Cumulative points → deltas, against the state of each series (sql/versioned/011).

-- For each point (p: a JSON array of {i, k: series, s: start ns, t: time ns, v: value}), the delta
-- since the series' previous point and where that delta's window starts. A point no newer than the
-- stored one (a retry, a duplicate, one overtaken by a later point) adds 0; a new start time or a
-- smaller value is a reset: the delta is the new value. A series seen for the first time counts
-- from its start if that start is at most 5 minutes before the point (a sender that just started),
-- and otherwise starts the count at 0 (its earlier history is unknown, as the OpenTelemetry
-- Collector's cumulativetodelta processor does). Rows are locked in series order, so concurrent
-- callers (two gateways) serialise per series and never deadlock; the caller's transaction keeps
-- the state and the minute rows it derives together.
CREATE OR REPLACE FUNCTION cumulative_deltas(p jsonb)
RETURNS TABLE (idx integer, delta double precision, window_start_ns bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    r     record;
    prev  cumulative_state%ROWTYPE;
    fresh boolean;
BEGIN
    FOR r IN
        SELECT (e->>'i')::integer AS i, e->>'k' AS k, (e->>'s')::bigint AS s, (e->>'t')::bigint AS t,
               (e->>'v')::double precision AS v
        FROM jsonb_array_elements(p) AS e
        ORDER BY e->>'k', (e->>'t')::bigint
    LOOP
        INSERT INTO cumulative_state (series, start_time_ns, time_ns, value)
        VALUES (r.k, r.s, r.t, r.v)
        ON CONFLICT (series) DO NOTHING;
        GET DIAGNOSTICS fresh = ROW_COUNT;
        idx := r.i;
        IF fresh THEN
            delta := CASE WHEN r.t - r.s <= 300000000000 THEN r.v ELSE 0 END;
            window_start_ns := r.s;
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT * INTO prev FROM cumulative_state WHERE series = r.k FOR UPDATE;
        IF r.t <= prev.time_ns AND r.s <= prev.start_time_ns THEN
            delta := 0;  -- a retry, a duplicate, or overtaken by a later point
            window_start_ns := r.t;
        ELSIF r.s > prev.start_time_ns OR r.v < prev.value THEN
            delta := r.v;  -- the sender restarted
            window_start_ns := r.s;
        ELSE
            delta := r.v - prev.value;
            window_start_ns := prev.time_ns;
        END IF;
        IF r.t > prev.time_ns OR r.s > prev.start_time_ns THEN
            UPDATE cumulative_state SET start_time_ns = r.s, time_ns = r.t, value = r.v, updated_at = now()
            WHERE series = r.k;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
