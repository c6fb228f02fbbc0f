package storebolt

import (
	"context"
	"time"

	"github.com/shophooks/webhook/store"
)

// pruneLoop applies the retention every pruneInterval until Close.
func (s *Store) pruneLoop() {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.pruneInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.pruneOnce()
		}
	}
}

// pruneOnce prunes what the retention selects now, PruneBatch deliveries per transaction,
// so that writers never wait long behind it.
func (s *Store) pruneOnce() {
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		req := store.PruneRequest{KeepPerSubscription: s.cfg.keep, Limit: PruneBatch}
		if s.cfg.maxAge > 0 {
			req.Before = time.Now().Add(-s.cfg.maxAge)
		}
		n, bare, err := s.prune(context.Background(), req)
		if err != nil {
			s.cfg.logger.Error("storebolt: pruning the delivery log failed", "err", err)
			return
		}
		if n < PruneBatch && bare < PruneBatch {
			return
		}
	}
}
