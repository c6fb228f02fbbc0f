package storebolt

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

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
	if err == nil && out.State == store.DeliveryPending {
		out.LeasedUntil = s.leases.leasedUntil(id)
	}
	return out, err
}

// Deliveries implements store.Store. It walks one log index backwards, chosen by the query:
// the event's (few deliveries), the subscription's with or without the state, the
// workspace's with or without the state, the state's, or the whole log; the time range
// and the cursor bound the walk. A subscription's or an event's deliveries are all in its
// workspace, so a query that names one of another workspace answers at once.
func (s *Store) Deliveries(ctx context.Context, q store.DeliveryQuery) ([]store.Delivery, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	out := []store.Delivery{}
	err := s.view(ctx, func(t *txn) error {
		out = out[:0]
		b, prefix, err := t.plan(q)
		if err != nil || b == nil {
			return err
		}
		// Keys are prefix, tkey(created), seq: walk back from the upper bound.
		upper := prefixEnd(prefix)
		if !q.Until.IsZero() {
			upper = cat(prefix, tkey(q.Until))
		}
		if q.Before != "" {
			r, err := t.delivery(q.Before)
			if err != nil {
				return err
			}
			if r == nil {
				return notFound("delivery", q.Before) // the cursor
			}
			if cur := cat(prefix, logKey(r)); upper == nil || bytes.Compare(cur, upper) < 0 {
				upper = cur
			}
		}
		var lower []byte
		if !q.Since.IsZero() {
			lower = cat(prefix, tkey(q.Since))
		}
		c := b.Cursor()
		k, v := lastBefore(c, upper)
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
			if lower != nil && bytes.Compare(k, lower) < 0 {
				break
			}
			r, err := t.delivery(string(v))
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("storebolt: delivery %q is in the log but missing: %w", v, ErrCorrupt)
			}
			if match(q, r) {
				out = append(out, r.Delivery)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.leases.overlay(out)
	return out, nil
}

// plan picks the log index that serves q and the prefix of q's keys in it; a nil bucket
// means that nothing matches.
func (t *txn) plan(q store.DeliveryQuery) (*bolt.Bucket, []byte, error) {
	var st []byte
	if q.State != "" {
		st = []byte{stateByte(q.State)}
	}
	switch {
	case q.EventID != "":
		if q.Workspace != "" {
			ev, err := t.event(q.EventID)
			if err != nil || ev == nil || ev.Workspace != q.Workspace {
				return nil, nil, err
			}
		}
		return t.logEvent(), pfx(q.EventID), nil
	case q.SubscriptionID != "":
		if q.Workspace != "" {
			ws, ok, err := t.subWorkspace(q.SubscriptionID)
			if err != nil || !ok || ws != q.Workspace {
				return nil, nil, err
			}
		}
		if st != nil {
			return t.logSubState(), cat(pfx(q.SubscriptionID), st), nil
		}
		return t.logSub(), pfx(q.SubscriptionID), nil
	case q.Workspace != "":
		if st != nil {
			return t.logWsState(), cat(pfx(q.Workspace), st), nil
		}
		return t.logWs(), pfx(q.Workspace), nil
	case st != nil:
		return t.logState(), st, nil
	}
	return t.log(), []byte{}, nil
}

// subWorkspace returns the workspace of a subscription's deliveries: the subscription's,
// or for one that was deleted, its last delivery's. ok is false when it has none.
func (t *txn) subWorkspace(id string) (ws string, ok bool, err error) {
	r, err := t.sub(id)
	if err != nil || r != nil {
		return r.wsOrEmpty(), r != nil, err
	}
	prefix := pfx(id)
	k, v := lastBefore(t.logSub().Cursor(), prefixEnd(prefix))
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return "", false, nil
	}
	d, err := t.delivery(string(v))
	if err != nil || d == nil {
		return "", false, err
	}
	return d.Workspace, true, nil
}

func (r *subRecord) wsOrEmpty() string {
	if r == nil {
		return ""
	}
	return r.Workspace
}

// prefixEnd returns the first key after every key that starts with prefix; nil when
// there is none (prefix empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// lastBefore positions c at the last key before upper (nil: the last key).
func lastBefore(c *bolt.Cursor, upper []byte) ([]byte, []byte) {
	if upper == nil {
		return c.Last()
	}
	if k, _ := c.Seek(upper); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// match reports whether the query selects a delivery.
func match(q store.DeliveryQuery, r *dlvRecord) bool {
	return (q.Workspace == "" || r.Workspace == q.Workspace) &&
		(q.SubscriptionID == "" || r.SubscriptionID == q.SubscriptionID) &&
		(q.EventID == "" || r.EventID == q.EventID) &&
		(q.State == "" || r.State == q.State) &&
		(q.Since.IsZero() || !r.CreatedAt.Before(q.Since)) &&
		(q.Until.IsZero() || r.CreatedAt.Before(q.Until))
}

// Stats implements store.Store: the figures RecordAttempt keeps (the workspace's, with one
// named), the queue counters, and the first key of each subscription's pending index, for
// the subscriptions of the workspace found through ws_subs; no log is read.
func (s *Store) Stats(ctx context.Context, workspace string, now time.Time) (store.Stats, error) {
	var st store.Stats
	err := s.view(ctx, func(t *txn) error {
		b, key := t.meta(), keyFigures
		if workspace != "" {
			b, key = t.wsFigures(), pfx(workspace)
		}
		overall, err := t.figuresOf(b, key)
		if err != nil {
			return err
		}
		st = store.Stats{Overall: overall.HealthAt(now), Subscriptions: make(map[string]store.Health)}
		var oldestAll time.Time
		err = t.forEachSub(workspace, func(r *subRecord) error {
			f, err := t.figuresOf(t.figs(), []byte(r.ID))
			if err != nil {
				return err
			}
			h := f.HealthAt(now)
			h.Pending, h.Held = t.countsOf(r.ID)
			prefix := append(pfx(r.ID), openPending)
			if k, _ := t.open().Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) >= len(prefix)+8 {
				created := tdecode(k[len(prefix):])
				h.OldestPendingAge = max(0, now.Sub(created))
				if oldestAll.IsZero() || created.Before(oldestAll) {
					oldestAll = created
				}
			}
			st.Subscriptions[r.ID] = h
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
		c := t.done().Cursor()
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
		_ = t.finCounts().ForEach(func(k, v []byte) error {
			if c := counter(v, 0); c > int64(req.KeepPerSubscription) {
				over = append(over, excess{string(k), c - int64(req.KeepPerSubscription)})
			}
			return nil
		})
		for _, o := range over {
			prefix := pfx(o.sub)
			var ids []string
			c := t.doneSub().Cursor()
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
		c := t.bare().Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], cut) < 0; k, _ = c.Next() {
			if req.Limit > 0 && len(keys) >= req.Limit {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := t.bare().Delete(k); err != nil {
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
	if hasPrefix(t.logEvent(), pfx(id)) {
		return nil
	}
	return t.events().Delete([]byte(id))
}
