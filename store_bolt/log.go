package storebolt

import (
	"bytes"
	"context"
	"math"
	"time"

	"github.com/shophooks/webhook/store"
)

// Delivery implements store.Store.
func (s *Store) Delivery(ctx context.Context, id string) (store.Delivery, error) {
	var out store.Delivery
	err := s.view(ctx, func(t *txn) error {
		r, err := t.delivery(id)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound("delivery", id)
		}
		out = r.Delivery
		return nil
	})
	return out, err
}

// Deliveries implements store.Store. A query by event or subscription walks that one's log
// index backwards; a query by state alone walks the whole log until it has Limit answers.
func (s *Store) Deliveries(ctx context.Context, q store.DeliveryQuery) ([]store.Delivery, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	out := []store.Delivery{}
	err := s.view(ctx, func(t *txn) error {
		out = out[:0]
		b, prefix := t.log, []byte(nil)
		switch {
		case q.EventID != "":
			b, prefix = t.logEvent, pfx(q.EventID)
		case q.SubscriptionID != "":
			b, prefix = t.logSub, pfx(q.SubscriptionID)
		}
		before := uint64(math.MaxUint64)
		if q.Before != "" {
			r, err := t.delivery(q.Before)
			if err != nil {
				return err
			}
			if r == nil {
				return notFound("delivery", q.Before) // the cursor
			}
			before = r.Seq
		}
		c := b.Cursor()
		var k, v []byte
		if k, _ = c.Seek(cat(prefix, u64(before))); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
			r, err := t.delivery(string(v))
			if err != nil {
				return err
			}
			if r == nil || (q.SubscriptionID != "" && r.SubscriptionID != q.SubscriptionID) ||
				(q.EventID != "" && r.EventID != q.EventID) || (q.State != "" && r.State != q.State) {
				continue
			}
			out = append(out, r.Delivery)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Stats implements store.Store: the figures RecordAttempt keeps, the queue counters, and
// the first key of each subscription's pending index; no log is read.
func (s *Store) Stats(ctx context.Context, workspace string, now time.Time) (store.Stats, error) {
	var st store.Stats
	err := s.view(ctx, func(t *txn) error {
		overall, err := figuresOf(t.meta, keyFigures)
		if err != nil {
			return err
		}
		st = store.Stats{Overall: overall.HealthAt(now), Subscriptions: make(map[string]store.Health)}
		var oldestAll time.Time
		err = t.subsSeq.ForEach(func(_, idb []byte) error {
			id := string(idb)
			f, err := figuresOf(t.figures, idb)
			if err != nil {
				return err
			}
			h := f.HealthAt(now)
			h.Pending, h.Held = t.countsOf(id)
			prefix := append(pfx(id), openPending)
			if k, _ := t.open.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) >= len(prefix)+8 {
				created := tdecode(k[len(prefix):])
				h.OldestPendingAge = max(0, now.Sub(created))
				if oldestAll.IsZero() || created.Before(oldestAll) {
					oldestAll = created
				}
			}
			st.Subscriptions[id] = h
			st.Overall.Pending += h.Pending
			st.Overall.Held += h.Held
			return nil
		})
		if err != nil {
			return err
		}
		if !oldestAll.IsZero() {
			st.Overall.OldestPendingAge = max(0, now.Sub(oldestAll))
		}
		return nil
	})
	return st, err
}

// Prune implements store.Store: the age rule walks the finished-by-age index from its
// start, the cap walks the oldest finished deliveries of the subscriptions that have too
// many; neither reads what it keeps.
func (s *Store) Prune(ctx context.Context, req store.PruneRequest) (int, error) {
	n, _, err := s.prune(ctx, req)
	return n, err
}

// prune is Prune in one transaction; it also says how many events that never had a
// delivery it removed, so that retention can tell whether more are left.
func (s *Store) prune(ctx context.Context, req store.PruneRequest) (deliveries, bare int, err error) {
	err = s.update(ctx, func(t *txn) error {
		var err error
		deliveries, bare, err = t.prune(req)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return deliveries, bare, nil
}

func (t *txn) prune(req store.PruneRequest) (int, int, error) {
	n := 0
	left := func() int {
		if req.Limit <= 0 {
			return math.MaxInt
		}
		return req.Limit - n
	}
	touched := make(map[string]bool) // events that lost a delivery
	remove := func(id string) error {
		r, err := t.delivery(id)
		if err != nil || r == nil || !r.State.Final() {
			return err
		}
		if err := t.save(r, nil); err != nil {
			return err
		}
		touched[r.EventID] = true
		n++
		return nil
	}

	if !req.Before.IsZero() {
		cut := tkey(req.Before)
		var ids []string
		c := t.done.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], cut) < 0 && len(ids) < left(); k, _ = c.Next() {
			ids = append(ids, string(k[8:]))
		}
		for _, id := range ids {
			if err := remove(id); err != nil {
				return n, 0, err
			}
		}
	}

	if req.KeepPerSubscription > 0 && left() > 0 {
		type excess struct {
			sub   string
			count int64
		}
		var over []excess
		_ = t.finCounts.ForEach(func(k, v []byte) error {
			if c := counter(v, 0); c > int64(req.KeepPerSubscription) {
				over = append(over, excess{string(k), c - int64(req.KeepPerSubscription)})
			}
			return nil
		})
		for _, o := range over {
			prefix := pfx(o.sub)
			var ids []string
			c := t.doneSub.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && int64(len(ids)) < o.count && len(ids) < left(); k, v = c.Next() {
				ids = append(ids, string(v))
			}
			for _, id := range ids {
				if err := remove(id); err != nil {
					return n, 0, err
				}
			}
		}
	}

	for ev := range touched {
		if err := t.dropEventIfBare(ev); err != nil {
			return n, 0, err
		}
	}

	if !req.Before.IsZero() {
		// Events that never had a delivery, once they occurred before the cut-off.
		cut := tkey(req.Before)
		var keys [][]byte
		c := t.bare.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], cut) < 0; k, _ = c.Next() {
			if req.Limit > 0 && len(keys) >= req.Limit {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := t.bare.Delete(k); err != nil {
				return n, 0, err
			}
			if err := t.dropEventIfBare(string(k[8:])); err != nil {
				return n, 0, err
			}
		}
		return n, len(keys), nil
	}
	return n, 0, nil
}

// dropEventIfBare removes an event that no delivery refers to.
func (t *txn) dropEventIfBare(id string) error {
	if hasPrefix(t.logEvent, pfx(id)) {
		return nil
	}
	return t.events.Delete([]byte(id))
}
