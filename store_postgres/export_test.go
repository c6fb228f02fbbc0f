package storepg

import (
	"context"
	"time"

	"github.com/shophooks/webhook/store"
)

// RecordTogether records recs in one transaction, as concurrent RecordAttempt calls that
// share one are, and answers each one's delivery or error.
func RecordTogether(ctx context.Context, s *Store, recs []store.AttemptRecord) ([]store.Delivery, []error, error) {
	res, err := s.recordTx(ctx, recs)
	if err != nil {
		return nil, nil, err
	}
	ds, errs := make([]store.Delivery, len(res)), make([]error, len(res))
	for i, r := range res {
		ds[i], errs[i] = r.d, r.err
	}
	return ds, errs, nil
}

// HeldBackoff is heldBackoff.
const HeldBackoff = heldBackoff

// HeldAt is when s's last claim found every due head held by other claims, or zero.
func HeldAt(s *Store) time.Time {
	if at := s.heldAt.Load(); at != 0 {
		return time.Unix(0, at)
	}
	return time.Time{}
}

// SetHeldAt sets when s's last claim found every due head held, as a clock that later
// stepped back would show it.
func SetHeldAt(s *Store, at time.Time) { s.heldAt.Store(at.UnixNano()) }

// SweepLinks deletes the rows of links that expired well before now, as a UseLink does
// from time to time, and answers how many.
func SweepLinks(ctx context.Context, s *Store, now time.Time) (int, error) {
	return s.sweepLinks(ctx, now)
}

// UsedLinkGrace is usedLinkGrace.
const UsedLinkGrace = usedLinkGrace
