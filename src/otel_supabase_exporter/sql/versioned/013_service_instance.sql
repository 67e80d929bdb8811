-- 013: the resource's service.instance.id on every raw row, so a run's rows are told from another
-- run's of the same service (the demo's "raw rows written by this run"). configure() sets one (a
-- random UUID) when the resource has none; NULL for rows from senders without one and for rows
-- written before this migration.
ALTER TABLE cache_metrics ADD COLUMN service_instance_id text;
