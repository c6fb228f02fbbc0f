package storepg

import (
	"context"

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
