-- The webhook store: subscriptions, events, the delivery log and its queue, attempts and
-- the running health figures. {{schema}} is the schema the store was opened with.

-- A subscription: the columns the store searches and changes on its own, and the whole
-- subscription as JSON (doc) for the rest. Secrets and headers are in doc.
CREATE TABLE {{schema}}.subscriptions (
    id                text PRIMARY KEY,
    seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- creation order
    workspace         text NOT NULL,
    events            text[] NOT NULL,
    status            text NOT NULL,
    status_reason     text NOT NULL,
    status_changed_at timestamptz,
    while_inactive    text NOT NULL,
    metadata          jsonb,
    updated_at        timestamptz,
    doc               json NOT NULL
);
CREATE UNIQUE INDEX subscriptions_workspace ON {{schema}}.subscriptions (workspace, seq);
CREATE INDEX subscriptions_metadata ON {{schema}}.subscriptions USING gin (metadata jsonb_path_ops);

-- An event, byte for byte. bare: it never had a delivery (retention removes it by age).
CREATE TABLE {{schema}}.events (
    id          text PRIMARY KEY,
    workspace   text NOT NULL,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    bare        boolean NOT NULL,
    data        bytea NOT NULL
);
CREATE INDEX events_bare ON {{schema}}.events (occurred_at) WHERE bare;

-- The delivery log: what never changes once a delivery is made.
CREATE TABLE {{schema}}.deliveries (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- creation order
    id         text NOT NULL UNIQUE,
    workspace  text NOT NULL,
    event_id   text NOT NULL,
    sub_id     text NOT NULL,
    event_type text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX deliveries_sub ON {{schema}}.deliveries (sub_id, seq);
CREATE INDEX deliveries_workspace ON {{schema}}.deliveries (workspace, seq);
CREATE INDEX deliveries_event ON {{schema}}.deliveries (event_id, seq);
CREATE INDEX deliveries_created ON {{schema}}.deliveries (created_at, seq);

-- Where each delivery stands. finished_at is updated_at while the delivery is finished
-- (succeeded, failed, cancelled) and NULL otherwise, so that a retry, which changes only
-- columns no index covers, rewrites the row in place (a HOT update).
CREATE TABLE {{schema}}.delivery_state (
    seq             bigint PRIMARY KEY, -- deliveries.seq
    sub_id          text NOT NULL,
    state           text NOT NULL,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    round_start     integer NOT NULL DEFAULT 0,
    test            boolean NOT NULL DEFAULT false
) WITH (fillfactor = 85);
CREATE INDEX delivery_state_state ON {{schema}}.delivery_state (state, seq);
CREATE INDEX delivery_state_held ON {{schema}}.delivery_state (sub_id, seq) WHERE state = 'held';
CREATE INDEX delivery_state_finished ON {{schema}}.delivery_state (finished_at) WHERE finished_at IS NOT NULL;

-- The queue: one narrow row per pending delivery, deleted when it is finished, held or
-- cancelled. due_at is its next attempt time, or its lease end while an attempt is in
-- flight (leased_until). The table stays as small as the backlog, so the dead rows that a
-- queue leaves behind are vacuumed often and cheaply.
CREATE TABLE {{schema}}.queue (
    seq          bigint PRIMARY KEY, -- deliveries.seq
    sub_id       text NOT NULL,
    due_at       timestamptz NOT NULL,
    leased_until timestamptz,
    created_at   timestamptz NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000,
        autovacuum_vacuum_cost_delay = 0);
CREATE INDEX queue_due ON {{schema}}.queue (sub_id, due_at, seq);
CREATE INDEX queue_leased ON {{schema}}.queue (sub_id, leased_until) WHERE leased_until IS NOT NULL;

-- The attempts of each delivery, in the order they were recorded (n from 1).
CREATE TABLE {{schema}}.attempts (
    delivery_seq    bigint NOT NULL,
    n               integer NOT NULL,
    number          integer NOT NULL,
    sent_at         timestamptz NOT NULL,
    duration        bigint NOT NULL, -- nanoseconds
    status_code     integer NOT NULL,
    response_body   bytea NOT NULL,
    error           bytea NOT NULL,
    error_kind      text NOT NULL,
    outcome         text NOT NULL,
    next_attempt_at timestamptz,
    test            boolean NOT NULL,
    PRIMARY KEY (delivery_seq, n)
);

-- The running health figures: per subscription (scope 's', key the subscription ID), per
-- workspace ('w') and overall ('o', key ''). Workspace and overall totals are spread over
-- shards so that concurrent writers rarely wait for one another; a reader adds them up.
CREATE TABLE {{schema}}.figures (
    scope                char(1) NOT NULL,
    key                  text NOT NULL,
    shard                smallint NOT NULL,
    attempts             bigint NOT NULL DEFAULT 0,
    succeeded            bigint NOT NULL DEFAULT 0,
    failed               bigint NOT NULL DEFAULT 0,
    deliveries_succeeded bigint NOT NULL DEFAULT 0,
    deliveries_failed    bigint NOT NULL DEFAULT 0,
    duration_sum         bigint NOT NULL DEFAULT 0, -- nanoseconds
    errors               jsonb NOT NULL DEFAULT '{}', -- error kind -> count
    buckets              jsonb NOT NULL DEFAULT '{}', -- histogram bucket -> count
    run_count            bigint NOT NULL DEFAULT 0,
    run_since            timestamptz,
    PRIMARY KEY (scope, key, shard)
);

-- add_counts adds the counts of b to those of a, key by key (b is small: a batch's).
CREATE FUNCTION {{schema}}.add_counts(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN b = '{}'::jsonb THEN a ELSE a || (
        SELECT jsonb_object_agg(key, coalesce((a ->> key)::bigint, 0) + value::bigint) FROM jsonb_each_text(b)
    ) END
$$;

-- The queue head of each subscription: no later than the earliest due time of its pending
-- deliveries (NULL: none). Claims walk the heads in due order, so a subscription skipped
-- for its quota costs one row, never a walk over its backlog.
CREATE TABLE {{schema}}.heads (
    sub_id   text PRIMARY KEY,
    next_due timestamptz
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
CREATE INDEX heads_due ON {{schema}}.heads (next_due, sub_id) WHERE next_due IS NOT NULL;

-- Hints that a subscription has deliveries due at some time, written by the transactions
-- that make them due (inserts only, so writers never wait for one another, and a hint
-- becomes visible with the deliveries it announces). Claims fold them into heads.
CREATE TABLE {{schema}}.hints (
    sub_id text NOT NULL,
    due    timestamptz NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
