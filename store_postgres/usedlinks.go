package storepg

import (
	"context"
	"time"
)

// Used sign-in links: how long a link's row outlives the link, and how often a Store
// deletes the rows of expired links.
const (
	// usedLinkGrace keeps a used link's row an hour past its expiry, so that instances
	// whose clocks disagree by less than that all refuse the link until their own clock
	// says it has expired.
	usedLinkGrace = time.Hour
	// usedLinkSweep is how often a Store deletes rows of expired links, at a UseLink.
	usedLinkSweep = time.Minute
)

var (
	// qUseLink records a link as used; it affects no row if the link was used already.
	qUseLink = query(`
INSERT INTO {{schema}}.used_links (nonce, expires_at) VALUES ($1, $2)
ON CONFLICT (nonce) DO NOTHING`)
	// qSweepLinks deletes up to $2 rows of links that expired before $1, skipping rows
	// another instance is deleting.
	qSweepLinks = query(`
DELETE FROM {{schema}}.used_links WHERE nonce IN (
    SELECT nonce FROM {{schema}}.used_links WHERE expires_at < $1 ORDER BY expires_at LIMIT $2
    FOR UPDATE SKIP LOCKED)`)
)

// UsedLinks remembers which sign-in links of package portal were used, in the store's
// schema, so that a link signs in once across every instance that shares the schema and
// across restarts. Give it to the portal's Linker in every instance, with the same key:
//
//	links, err := portal.NewLinker("https://shop.example.com/admin/webhooks/", key,
//		portal.WithUsedLinks(st.UsedLinks()))
//
// A used link's row is kept until an hour after the link expires (so that instances whose
// clocks disagree by less than that agree it was used), then deleted at a later UseLink
// of any instance: the table holds about the links used in the last portal.MaxLinkTTL
// (7 days), whether or not the store has WithRetention. It is safe for concurrent use,
// and works as long as its Store is open.
type UsedLinks struct {
	s *Store
}

// UsedLinks returns the store's record of used sign-in links, for portal.WithUsedLinks.
func (s *Store) UsedLinks() *UsedLinks { return &UsedLinks{s: s} }

// UseLink records the link with this nonce as used until expires and reports whether it
// was unused before: of any number of calls with one nonce before expires, from any
// instance sharing the schema, exactly one answers true. The nonce is stored as given:
// it is no secret, since it signs in nowhere without the rest of the link, which only
// the portal's key signs. An error (the database unreachable, ctx done) says nothing
// about whether the link was recorded: a retry may then find it used.
func (u *UsedLinks) UseLink(ctx context.Context, nonce string, expires time.Time) (first bool, err error) {
	s := u.s
	if now := time.Now(); s.sweepLinksDue(now) {
		n, err := s.sweepLinks(ctx, now)
		if err != nil && ctx.Err() == nil {
			s.cfg.logger.Error("storepg: deleting the rows of expired sign-in links failed", "err", err)
		}
		if n == PruneBatch {
			s.linksSweptAt.Store(0) // more to delete: the next UseLink goes on
		}
	}
	tag, err := s.pool.Exec(ctx, s.sql(qUseLink), nonce, expires)
	if err != nil {
		return false, wrap(err)
	}
	return tag.RowsAffected() == 1, nil
}

// sweepLinksDue reports whether the rows of expired links are due to be deleted, and if
// so, takes the turn to delete them: one call in usedLinkSweep gets true.
func (s *Store) sweepLinksDue(now time.Time) bool {
	last := s.linksSweptAt.Load()
	// A clock stepped back (a negative difference) makes it due, not due for ever.
	if d := now.UnixNano() - last; d >= 0 && d < int64(usedLinkSweep) {
		return false
	}
	return s.linksSweptAt.CompareAndSwap(last, now.UnixNano())
}

// sweepLinks deletes up to PruneBatch rows of links that expired more than usedLinkGrace
// before now, and answers how many it deleted.
func (s *Store) sweepLinks(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, s.sql(qSweepLinks), now.Add(-usedLinkGrace), PruneBatch)
	if err != nil {
		return 0, wrap(err)
	}
	return int(tag.RowsAffected()), nil
}
