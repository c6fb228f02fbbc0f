-- Claims stamp a subscription's queue head with their transaction (version), so that a
-- claim whose snapshot predates another's commit skips the head rather than count that
-- claim's leases as not in flight. Every subscription now has a head from its creation to
-- its deletion: the ones created before get theirs here.
ALTER TABLE {{schema}}.heads ADD COLUMN version xid8;
INSERT INTO {{schema}}.heads (sub_id) SELECT id FROM {{schema}}.subscriptions ON CONFLICT (sub_id) DO NOTHING;
