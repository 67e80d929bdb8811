-- 014: the auditor's settings for robust, seasonal judging in the users' time.
--   time_zone            hours of the week are counted in this zone (DST-aware), default UTC
--   seasonal_full_weeks  an hour-of-week baseline stands alone once its hour has data in this many
--                        weeks; before, it pools that hour of every day of the same kind (weekday
--                        or weekend): a 14-day window gives each Monday 10:00 two samples of an
--                        hour, and one incident in one of them would be half of its baseline
--   baseline_batch       series whose baselines one ordinary refresh recomputes at most (the
--                        stalest first), so a daily refresh of many series is spread over runs
--   escalate_after       an observation opens as info and takes its finding's severity once the
--                        finding has lasted this long (a critical one at once, except capacity)
ALTER TABLE maintenance_settings
    ADD COLUMN time_zone           text     NOT NULL DEFAULT 'UTC'
        CHECK ((timestamptz '2000-01-01 00:00+00' AT TIME ZONE time_zone) IS NOT NULL),
    ADD COLUMN seasonal_full_weeks integer  NOT NULL DEFAULT 3 CHECK (seasonal_full_weeks >= 1),
    ADD COLUMN baseline_batch      integer  NOT NULL DEFAULT 1 CHECK (baseline_batch >= 1),
    ADD COLUMN escalate_after      interval NOT NULL DEFAULT interval '10 minutes'
        CHECK (escalate_after BETWEEN interval '0' AND interval '1 day');

COMMENT ON TABLE cache_baseline_metrics IS
    'Baselines per cache and implementation from a trailing window of 1-minute rows: medians and MAD-based spreads (1.4826 x MAD) of per-minute values, minutes inside warning or critical observations left out (hour_of_week NULL: all hours; 0..167: that hour of the week in maintenance_settings.time_zone, Monday 00:00 = 0). One active row per series and hour_of_week; older ones are kept inactive.';
