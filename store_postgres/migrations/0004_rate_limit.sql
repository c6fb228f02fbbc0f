-- A subscription's RateLimit holds across every instance sharing the schema: its queue
-- head keeps the token bucket, rate_tokens requests left at rate_at (NULL: never used,
-- full). A claim reads it with the head it locks, and sets it when it resets the head.
ALTER TABLE {{schema}}.heads ADD COLUMN rate_tokens double precision, ADD COLUMN rate_at timestamptz;
