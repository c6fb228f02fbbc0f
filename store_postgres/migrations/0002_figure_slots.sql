-- The recent health figures: the attempts of the last day in time slots, per
-- subscription ('s'), workspace ('w') and overall ('o'), as store.Figures keeps them in
-- memory (width 'r': RecentSlot, for the last hour; 'd': DaySlot, for the last day).
-- Workspace and overall slots are spread over shards like the figures; a reader adds
-- them up. Slots older than a day are removed by RecordAttempt now and then.
CREATE TABLE {{schema}}.figure_slots (
    scope                char(1) NOT NULL,
    key                  text NOT NULL,
    width                char(1) NOT NULL,
    start                timestamptz NOT NULL,
    shard                smallint NOT NULL,
    attempts             bigint NOT NULL,
    succeeded            bigint NOT NULL,
    deliveries_succeeded bigint NOT NULL,
    deliveries_failed    bigint NOT NULL,
    errors               jsonb NOT NULL,
    duration_sum         bigint NOT NULL,
    max_duration         bigint NOT NULL,
    PRIMARY KEY (scope, key, width, start, shard)
);
CREATE INDEX figure_slots_start ON {{schema}}.figure_slots (start);
