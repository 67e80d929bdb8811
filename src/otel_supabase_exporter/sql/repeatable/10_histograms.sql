-- Current definition (re-applied whenever this file changes; see sql/README.md).
-- Exponential histograms: exact merges at a common scale, the aggregate, quantiles, and the
-- trigger that derives percentiles for 1-minute and 1-hour rows.

-- The exact merge of two histograms, downscaled until it fits max_buckets. When b fits inside
-- a's buckets at a's scale (the usual case in an aggregate, whose state is the wider histogram),
-- b's buckets are added in place, so a merge costs b's size instead of a's.
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

-- Two-argument form with the default bound of 320 buckets (scale >= 4 across
-- 20 octaves, i.e. <= 2.2 % relative error), used by the merges of two histograms.
CREATE OR REPLACE FUNCTION exp_hist_merge(a exp_histogram, b exp_histogram)
RETURNS exp_histogram
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$ SELECT exp_hist_merge(a, b, 320) $$;

-- The exact merge of many histograms at once, set-based (about twice as fast as folding
-- exp_hist_merge over them): every bucket goes to the smallest scale among them, then the
-- scale is lowered until at most max_buckets buckets are needed. Same result as folding exp_hist_merge over them
-- (there is no aggregate: an aggregate cannot have a fixed search_path, which Supabase's advisor flags).
CREATE OR REPLACE FUNCTION exp_hist_merge_all(hs exp_histogram[], max_buckets integer DEFAULT 320)
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

-- Quantiles (in milliseconds) of a histogram of seconds. The estimate for a
-- bucket (lo, hi] is 2*lo*hi/(lo+hi), whose relative error is at most
-- (base-1)/(base+1); estimates are clamped to the observed [min, max].
CREATE OR REPLACE FUNCTION exp_hist_quantiles(
    h exp_histogram, zero_count bigint, qs double precision[],
    min_ms double precision, max_ms double precision)
RETURNS double precision[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
DECLARE
    zc     bigint := coalesce(zero_count, 0);
    n      integer := coalesce(cardinality(h.counts), 0);
    total  bigint;
    cum    bigint;
    result double precision[] := '{}';
    q      double precision;
    rnk    bigint;
    i      integer;
    lo     double precision;
    hi     double precision;
    est    double precision;
BEGIN
    total := zc + coalesce((SELECT sum(c) FROM unnest(h.counts) AS c), 0);
    IF total = 0 THEN
        RETURN array_fill(NULL::double precision, ARRAY[cardinality(qs)]);
    END IF;
    FOREACH q IN ARRAY qs LOOP
        -- the epsilon keeps 0.95 * 100 from rounding up to rank 96
        rnk := greatest(1, ceil(q * total - 1e-9)::bigint);
        IF rnk <= zc THEN
            est := 0;
        ELSE
            cum := zc;
            est := NULL;
            FOR i IN 1..n LOOP
                cum := cum + h.counts[i];
                IF cum >= rnk THEN
                    lo := power(2.0::double precision, (h.index_offset + i - 1) * power(2.0::double precision, -h.scale));
                    hi := power(2.0::double precision, (h.index_offset + i) * power(2.0::double precision, -h.scale));
                    est := 2.0 * lo * hi / (lo + hi) * 1000.0;
                    EXIT;
                END IF;
            END LOOP;
        END IF;
        IF est IS NULL THEN
            est := max_ms;
        END IF;
        IF max_ms IS NOT NULL AND est > max_ms THEN est := max_ms; END IF;
        IF min_ms IS NOT NULL AND est < min_ms THEN est := min_ms; END IF;
        result := result || est;
    END LOOP;
    RETURN result;
END
$$;

-- Keeps p50/p95/p99 equal to what the stored histogram says, whoever writes.
CREATE OR REPLACE FUNCTION cache_aggregate_before_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    q double precision[];
BEGIN
    q := exp_hist_quantiles(NEW.latency_histogram, NEW.latency_zero_count,
                            ARRAY[0.50, 0.95, 0.99]::double precision[],
                            NEW.min_response_time_ms, NEW.max_response_time_ms);
    NEW.p50_response_time_ms := q[1];
    NEW.p95_response_time_ms := q[2];
    NEW.p99_response_time_ms := q[3];
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
