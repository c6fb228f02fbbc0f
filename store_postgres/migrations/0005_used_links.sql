-- The sign-in links of package portal that were used (see Store.UsedLinks), so that a
-- link signs in once across every instance sharing the schema and across restarts: the
-- nonce the link carries, as given (it is no secret: it signs in nowhere without the rest
-- of the link), and when the link expires. Rows are deleted a while after that.
CREATE TABLE {{schema}}.used_links (
    nonce      text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX used_links_expires ON {{schema}}.used_links (expires_at);
