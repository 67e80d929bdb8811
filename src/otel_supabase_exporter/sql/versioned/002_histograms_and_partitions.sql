-- 002: exponential-histogram merge and quantiles, percentile maintenance on
-- the aggregate tables, and daily partitions of cache_metrics.

-- Merge two exponential histograms exactly: both are brought to the smaller
-- scale (bucket i at scale s is bucket i >> k at scale s - k), then further
-- down, one scale at a time, until at most max_buckets buckets are needed.
CREATE FUNCTION exp_hist_merge(a exp_histogram, b exp_histogram, max_buckets integer)
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
-- 20 octaves, i.e. <= 2.2 % relative error), used by the aggregate below.
CREATE FUNCTION exp_hist_merge(a exp_histogram, b exp_histogram)
RETURNS exp_histogram
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$ SELECT exp_hist_merge(a, b, 320) $$;

CREATE AGGREGATE exp_hist_agg(exp_histogram) (
    SFUNC = exp_hist_merge,
    STYPE = exp_histogram,
    COMBINEFUNC = exp_hist_merge,
    PARALLEL = SAFE
);

-- Quantiles (in milliseconds) of a histogram of seconds. The estimate for a
-- bucket (lo, hi] is 2*lo*hi/(lo+hi), whose relative error is at most
-- (base-1)/(base+1); estimates are clamped to the observed [min, max].
CREATE FUNCTION exp_hist_quantiles(
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
CREATE FUNCTION cache_aggregate_before_write()
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

CREATE TRIGGER cache_metrics_1min_percentiles
    BEFORE INSERT OR UPDATE ON cache_metrics_1min
    FOR EACH ROW EXECUTE FUNCTION cache_aggregate_before_write();

CREATE TRIGGER cache_metrics_1hour_percentiles
    BEFORE INSERT OR UPDATE ON cache_metrics_1hour
    FOR EACH ROW EXECUTE FUNCTION cache_aggregate_before_write();

-- Creates the daily (UTC) partitions of cache_metrics for p_from..p_to that
-- do not exist yet; returns how many it created. Safe to call concurrently.
CREATE FUNCTION ensure_cache_metrics_partitions(p_from date, p_to date)
RETURNS integer
LANGUAGE plpgsql
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
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;
