-- 001: the tables of the monitoring schema.
--
-- Applied by `otel-supabase-exporter migrate` with search_path set to the
-- configured schema (default "monitoring"), so names are unqualified here.

-- One row per cache operation, written from the cache operation spans.
-- Partitioned by UTC day; partitions are created ahead by
-- ensure_cache_metrics_partitions() (002), called by the writer.
CREATE TABLE cache_metrics (
    id                  uuid             NOT NULL,
    "timestamp"         timestamptz      NOT NULL,
    cache_name          text             NOT NULL,
    implementation_type text             NOT NULL,
    operation_type      text             NOT NULL,
    response_time_ms    double precision,
    cache_size          bigint,
    item_size_bytes     bigint,
    cache_key_hash      text,
    error_type          text,
    error_message       text,
    service_name        text             NOT NULL DEFAULT 'unknown_service',
    trace_id            text,
    span_id             text,
    attributes          jsonb            NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (id, "timestamp"),
    CONSTRAINT cache_metrics_operation_type_check
        CHECK (operation_type IN ('hit', 'miss', 'set', 'delete', 'evict', 'error')),
    CONSTRAINT cache_metrics_response_time_check
        CHECK (response_time_ms IS NULL OR response_time_ms >= 0),
    CONSTRAINT cache_metrics_cache_name_check
        CHECK (char_length(cache_name) BETWEEN 1 AND 200),
    CONSTRAINT cache_metrics_implementation_type_check
        CHECK (char_length(implementation_type) BETWEEN 1 AND 100)
) PARTITION BY RANGE ("timestamp");

CREATE INDEX cache_metrics_series_idx
    ON cache_metrics (cache_name, implementation_type, "timestamp" DESC);
CREATE INDEX cache_metrics_timestamp_brin
    ON cache_metrics USING brin ("timestamp");
CREATE INDEX cache_metrics_errors_idx
    ON cache_metrics ("timestamp" DESC) WHERE operation_type = 'error';

COMMENT ON TABLE cache_metrics IS
    'One row per cache operation (from OpenTelemetry spans). id is derived from trace and span id, so replays are idempotent.';

-- Unified event table: non-cache spans, span events, log records, non-cache metrics.
CREATE TABLE monitoring_events (
    id          uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    event_type  varchar(50)  NOT NULL,
    "timestamp" timestamptz  NOT NULL DEFAULT now(),
    source      varchar(100) NOT NULL DEFAULT 'unknown_service',
    data        jsonb        NOT NULL DEFAULT '{}'::jsonb,
    metadata    jsonb        NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz  NOT NULL DEFAULT now()
);

CREATE INDEX monitoring_events_type_recent_idx
    ON monitoring_events (event_type, "timestamp" DESC);
CREATE INDEX monitoring_events_source_recent_idx
    ON monitoring_events (source, "timestamp" DESC);
CREATE INDEX monitoring_events_recent_idx
    ON monitoring_events ("timestamp" DESC);

COMMENT ON TABLE monitoring_events IS
    'Spans that are not cache operations, span events (exceptions), log records and non-cache metrics.';

-- State of a base-2 exponential histogram (OpenTelemetry data model) of
-- durations in seconds: bucket index i (= index_offset + array position - 1)
-- counts values in (2^(i / 2^scale), 2^((i + 1) / 2^scale)].
CREATE TYPE exp_histogram AS (
    scale        integer,
    index_offset integer,
    counts       bigint[]
);

-- 1-minute aggregates, one row per minute and series, merged by every writer.
CREATE TABLE cache_metrics_1min (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    minute_window        timestamptz      NOT NULL,
    cache_name           text             NOT NULL,
    implementation_type  text             NOT NULL,
    service_name         text             NOT NULL,
    hits                 bigint           NOT NULL DEFAULT 0,
    misses               bigint           NOT NULL DEFAULT 0,
    sets                 bigint           NOT NULL DEFAULT 0,
    deletes              bigint           NOT NULL DEFAULT 0,
    evictions            bigint           NOT NULL DEFAULT 0,
    errors               bigint           NOT NULL DEFAULT 0,
    total_operations     bigint GENERATED ALWAYS AS (hits + misses + sets + deletes + errors) STORED,
    hit_rate             double precision GENERATED ALWAYS AS (
                             CASE WHEN hits + misses > 0
                                  THEN 100.0 * hits / (hits + misses) END) STORED,
    latency_count        bigint           NOT NULL DEFAULT 0,
    latency_sum_ms       double precision NOT NULL DEFAULT 0,
    avg_response_time_ms double precision GENERATED ALWAYS AS (
                             CASE WHEN latency_count > 0
                                  THEN latency_sum_ms / latency_count END) STORED,
    min_response_time_ms double precision,
    max_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    cache_size           bigint,
    latency_zero_count   bigint           NOT NULL DEFAULT 0,
    latency_histogram    exp_histogram,
    updated_at           timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT cache_metrics_1min_series_key
        UNIQUE (minute_window, cache_name, implementation_type, service_name),
    CONSTRAINT cache_metrics_1min_minute_check
        CHECK (extract(second FROM minute_window) = 0)
);

CREATE INDEX cache_metrics_1min_series_idx
    ON cache_metrics_1min (cache_name, implementation_type, minute_window DESC);

COMMENT ON TABLE cache_metrics_1min IS
    '1-minute aggregates per (minute, cache, implementation, service); counts add and histograms merge across processes.';

-- 1-hour rollups of cache_metrics_1min (filled by maintenance).
CREATE TABLE cache_metrics_1hour (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hour_window          timestamptz      NOT NULL,
    cache_name           text             NOT NULL,
    implementation_type  text             NOT NULL,
    service_name         text             NOT NULL,
    hits                 bigint           NOT NULL DEFAULT 0,
    misses               bigint           NOT NULL DEFAULT 0,
    sets                 bigint           NOT NULL DEFAULT 0,
    deletes              bigint           NOT NULL DEFAULT 0,
    evictions            bigint           NOT NULL DEFAULT 0,
    errors               bigint           NOT NULL DEFAULT 0,
    total_operations     bigint GENERATED ALWAYS AS (hits + misses + sets + deletes + errors) STORED,
    hit_rate             double precision GENERATED ALWAYS AS (
                             CASE WHEN hits + misses > 0
                                  THEN 100.0 * hits / (hits + misses) END) STORED,
    latency_count        bigint           NOT NULL DEFAULT 0,
    latency_sum_ms       double precision NOT NULL DEFAULT 0,
    avg_response_time_ms double precision GENERATED ALWAYS AS (
                             CASE WHEN latency_count > 0
                                  THEN latency_sum_ms / latency_count END) STORED,
    min_response_time_ms double precision,
    max_response_time_ms double precision,
    p50_response_time_ms double precision,
    p95_response_time_ms double precision,
    p99_response_time_ms double precision,
    cache_size           bigint,
    latency_zero_count   bigint           NOT NULL DEFAULT 0,
    latency_histogram    exp_histogram,
    updated_at           timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT cache_metrics_1hour_series_key
        UNIQUE (hour_window, cache_name, implementation_type, service_name),
    CONSTRAINT cache_metrics_1hour_hour_check
        CHECK (extract(minute FROM hour_window) = 0 AND extract(second FROM hour_window) = 0)
);

CREATE INDEX cache_metrics_1hour_series_idx
    ON cache_metrics_1hour (cache_name, implementation_type, hour_window DESC);

-- Baselines per cache and implementation (computed by maintenance).
CREATE TABLE cache_baseline_metrics (
    id                         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cache_name                 text             NOT NULL,
    implementation_type        text             NOT NULL,
    hour_of_week               smallint CHECK (hour_of_week BETWEEN 0 AND 167),
    window_start               timestamptz      NOT NULL,
    window_end                 timestamptz      NOT NULL,
    sample_count               bigint           NOT NULL,
    hit_rate                   double precision,
    hit_rate_stddev            double precision,
    avg_response_time_ms       double precision,
    response_time_stddev       double precision,
    p50_response_time_ms       double precision,
    p50_response_time_stddev   double precision,
    p95_response_time_ms       double precision,
    p95_response_time_stddev   double precision,
    p99_response_time_ms       double precision,
    p99_response_time_stddev   double precision,
    error_rate                 double precision,
    error_rate_stddev          double precision,
    throughput_per_minute      double precision,
    throughput_stddev          double precision,
    is_active                  boolean          NOT NULL DEFAULT true,
    created_at                 timestamptz      NOT NULL DEFAULT now(),
    CHECK (window_end > window_start)
);

CREATE UNIQUE INDEX cache_baseline_metrics_one_active_idx
    ON cache_baseline_metrics (cache_name, implementation_type, coalesce(hour_of_week, -1))
    WHERE is_active;

-- Observations of the auditor (written by maintenance, acknowledged by people).
CREATE TABLE cache_auditor_observations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cache_name          text             NOT NULL,
    implementation_type text             NOT NULL,
    severity            text             NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    category            text             NOT NULL CHECK (category IN ('performance', 'reliability', 'capacity', 'anomaly')),
    rule                text             NOT NULL,
    metric              text             NOT NULL,
    observed_value      double precision,
    expected_value      double precision,
    deviation_pct       double precision,
    z_score             double precision,
    worst_value         double precision,
    message             text             NOT NULL,
    recommendation      text,
    status              text             NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    first_seen_at       timestamptz      NOT NULL DEFAULT now(),
    last_seen_at        timestamptz      NOT NULL DEFAULT now(),
    resolved_at         timestamptz,
    acknowledged        boolean          NOT NULL DEFAULT false,
    acknowledged_by     text,
    acknowledged_at     timestamptz,
    details             jsonb            NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz      NOT NULL DEFAULT now(),
    updated_at          timestamptz      NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX cache_auditor_observations_one_open_idx
    ON cache_auditor_observations (cache_name, implementation_type, rule, metric)
    WHERE status = 'open';
CREATE INDEX cache_auditor_observations_unacknowledged_idx
    ON cache_auditor_observations (created_at DESC) WHERE NOT acknowledged;
CREATE INDEX cache_auditor_observations_series_idx
    ON cache_auditor_observations (cache_name, implementation_type, created_at DESC);

-- Ids of applied metric export batches: a batch merged into cache_metrics_1min
-- records its id in the same transaction, so a retried or replayed batch is
-- recognised and not counted twice.
CREATE TABLE export_batches (
    batch_id   uuid        PRIMARY KEY,
    kind       text        NOT NULL,
    row_count  integer     NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
