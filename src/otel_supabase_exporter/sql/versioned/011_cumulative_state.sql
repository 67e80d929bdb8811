-- 011: the last cumulative value of every series a cumulative-temporality sender reports through
-- the gateway, so each new point counts only what happened since (exactly, whichever gateway gets
-- it, across gateway restarts). One row per sender and series.
CREATE TABLE cumulative_state (
    series        text        PRIMARY KEY,
    start_time_ns bigint      NOT NULL,
    time_ns       bigint      NOT NULL,
    value         double precision NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cumulative_state_updated_idx ON cumulative_state (updated_at);
ALTER TABLE cumulative_state ENABLE ROW LEVEL SECURITY;
