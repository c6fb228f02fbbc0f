package storebolt

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bUsedLinks holds the sign-in links of package portal that were used (see
// Store.UsedLinks). It is not one of allBuckets: a file gets it at its first UseLink, so a
// file that never had a link used (every file of an earlier version) has none, and is
// still format 3; earlier versions of this package ignore it.
//
//	used_links    'n' nonce -> tkey(expires)
//	              'e' tkey(expires) nonce                    (by expiry, for the sweep)
var bUsedLinks = []byte("used_links")

// Key kinds of used_links.
const (
	usedNonce  = 'n'
	usedExpiry = 'e'
)

// Used sign-in links: how long a link's keys outlive the link, and how often a Store
// deletes the keys of expired links.
const (
	// usedLinkGrace keeps a used link's keys an hour past its expiry, so that a clock
	// set back by less than that does not let the link sign in again.
	usedLinkGrace = time.Hour
	// usedLinkSweep is how often a UseLink also deletes the keys of expired links.
	usedLinkSweep = time.Minute
)

// UsedLinks remembers which sign-in links of package portal were used, in the store's
// file, so that a link signs in once even after the application restarts. Give it to the
// portal's Linker:
//
//	links, err := portal.NewLinker("https://shop.example.com/admin/webhooks/", key,
//		portal.WithUsedLinks(st.UsedLinks()))
//
// A used link is kept until an hour after it expires, then deleted at a later UseLink:
// the file holds about the links used in the last portal.MaxLinkTTL (7 days). It is safe
// for concurrent use, and works as long as its Store is open.
type UsedLinks struct {
	s *Store
}

// UsedLinks returns the store's record of used sign-in links, for portal.WithUsedLinks.
func (s *Store) UsedLinks() *UsedLinks { return &UsedLinks{s: s} }

// UseLink records the link with this nonce as used until expires and reports whether it
// was unused before: of any number of calls with one nonce before expires, exactly one
// answers true. It returns once the record is committed and synced to disk (unless
// WithNoSync). The nonce is stored as given: it is no secret, since it signs in nowhere
// without the rest of the link, which only the portal's key signs.
func (u *UsedLinks) UseLink(ctx context.Context, nonce string, expires time.Time) (first bool, err error) {
	s := u.s
	now := time.Now()
	sweep, swept := s.sweepLinksDue(now), 0
	err = s.update(ctx, func(t *txn) error {
		first, swept = false, 0
		b, err := t.tx.CreateBucketIfNotExists(bUsedLinks)
		if err != nil {
			return err
		}
		if sweep {
			if swept, err = sweepLinks(b, now); err != nil {
				return err
			}
		}
		k := append([]byte{usedNonce}, nonce...)
		if b.Get(k) != nil {
			return nil
		}
		exp := tkey(expires)
		if err := b.Put(k, exp); err != nil {
			return err
		}
		first = true
		return b.Put(append(append([]byte{usedExpiry}, exp...), nonce...), empty)
	})
	if err != nil {
		return false, err
	}
	if swept == PruneBatch {
		s.linksSweptAt.Store(0) // more to delete: the next UseLink goes on
	}
	return first, nil
}

// sweepLinksDue reports whether the keys of expired links are due to be deleted, and if
// so, takes the turn to delete them: one call in usedLinkSweep gets true.
func (s *Store) sweepLinksDue(now time.Time) bool {
	last := s.linksSweptAt.Load()
	// A clock stepped back (a negative difference) makes it due, not due for ever.
	if d := now.UnixNano() - last; d >= 0 && d < int64(usedLinkSweep) {
		return false
	}
	return s.linksSweptAt.CompareAndSwap(last, now.UnixNano())
}

// sweepLinks deletes the keys of up to PruneBatch links in b that expired more than
// usedLinkGrace before now, and answers how many it deleted.
func sweepLinks(b *bolt.Bucket, now time.Time) (int, error) {
	end := append([]byte{usedExpiry}, tkey(now.Add(-usedLinkGrace))...)
	var gone [][]byte // collected first: a cursor that deletes may skip the next key
	c := b.Cursor()
	for k, _ := c.Seek([]byte{usedExpiry}); k != nil && len(gone) < PruneBatch && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		gone = append(gone, bytes.Clone(k))
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
		if err := b.Delete(append([]byte{usedNonce}, k[1+8:]...)); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}
