package storebolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shophooks/webhook/store"
)

// CreateSubscription implements store.Store.
func (s *Store) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	if sub.ID == "" {
		return errors.New("storebolt: subscription has no ID")
	}
	return s.update(ctx, func(t *txn) error {
		if t.subs().Get([]byte(sub.ID)) != nil {
			return fmt.Errorf("storebolt: subscription %q: %w", sub.ID, store.ErrConflict)
		}
		r := &subRecord{Subscription: sub.Clone()}
		if r.Status == "" {
			r.Status = store.StatusActive
		}
		seq, err := t.subsSeq().NextSequence()
		if err != nil {
			return err
		}
		r.Seq = seq
		if err := t.subsSeq().Put(u64(seq), []byte(sub.ID)); err != nil {
			return err
		}
		if err := t.wsSubs().Put(cat(pfx(r.Workspace), u64(seq)), []byte(sub.ID)); err != nil {
			return err
		}
		if err := t.putPatterns(r); err != nil {
			return err
		}
		return t.putSub(r)
	})
}

// Subscription implements store.Store.
func (s *Store) Subscription(ctx context.Context, id string) (store.Subscription, error) {
	var out store.Subscription
	err := s.view(ctx, func(t *txn) error {
		r, err := t.sub(id)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound("subscription", id)
		}
		out = r.Subscription.Clone() // r is shared with the decode cache
		return nil
	})
	return out, err
}

// UpdateSubscription implements store.Store.
func (s *Store) UpdateSubscription(ctx context.Context, id string, now time.Time, fn func(*store.Subscription) error) (store.Subscription, error) {
	var out store.Subscription
	var fnErr error
	err := s.exclusive(ctx, func(t *txn) error {
		fnErr = nil
		r, err := t.sub(id)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound("subscription", id)
		}
		next := r.Subscription.Clone()
		if err := fn(&next); err != nil {
			fnErr = err
			return err
		}
		next.ID = id
		next.Workspace = r.Workspace // the indexes file it there for good
		if err := t.deletePatterns(r); err != nil {
			return err
		}
		old := r.Status
		r.Subscription = next
		if err := t.putPatterns(r); err != nil {
			return err
		}
		if err := t.putSub(r); err != nil {
			return err
		}
		if old != r.Status {
			if err := t.statusChanged(r, now); err != nil {
				return err
			}
		}
		out = r.Subscription.Clone()
		return nil
	})
	if fnErr != nil {
		return store.Subscription{}, fnErr // the caller's own error, as it was
	}
	if err != nil {
		return store.Subscription{}, err
	}
	return out, nil
}

// statusChanged moves the open deliveries of r after its status changed: held ones are
// released when it is active, pending ones that are not in flight are held or cancelled
// when it is inactive. Deliveries in flight are settled by RecordAttempt.
func (t *txn) statusChanged(r *subRecord, now time.Time) error {
	if r.Status == store.StatusActive {
		for _, id := range t.openIDs(r.ID, openHeld) {
			if err := t.update(id, func(d *dlvRecord) {
				d.NextAttemptAt = now
				setState(d, store.DeliveryPending, now)
			}); err != nil {
				return err
			}
		}
		return nil
	}
	state := store.InactiveState(r.WhileInactive)
	for _, id := range t.openIDs(r.ID, openPending) {
		if t.leaseOf(id) != nil {
			continue // settled by its RecordAttempt, or by a claim once its lease runs out
		}
		if err := t.update(id, func(d *dlvRecord) { setState(d, state, now) }); err != nil {
			return err
		}
	}
	return nil
}

// openIDs lists a subscription's pending or held deliveries, oldest first.
func (t *txn) openIDs(sub string, state byte) []string {
	prefix := append(pfx(sub), state)
	var ids []string
	c := t.open().Cursor()
	for k, _ := c.Seek(prefix); k != nil && len(k) >= len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix)+8:]))
	}
	return ids
}

// DeleteSubscription implements store.Store.
func (s *Store) DeleteSubscription(ctx context.Context, id string, now time.Time) error {
	return s.exclusive(ctx, func(t *txn) error {
		r, err := t.sub(id)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound("subscription", id)
		}
		return t.deleteSub(r, now)
	})
}

// deleteSub removes a subscription and cancels its open deliveries. Its log and the count
// of its finished deliveries stay, for the log and for pruning.
func (t *txn) deleteSub(r *subRecord, now time.Time) error {
	ids := append(t.openIDs(r.ID, openPending), t.openIDs(r.ID, openHeld)...)
	for _, id := range ids {
		if t.leaseOf(id) != nil {
			t.dropLease(id) // cancelled: its attempt's record keeps that state
		}
		if err := t.update(id, func(d *dlvRecord) { setState(d, store.DeliveryCancelled, now) }); err != nil {
			return err
		}
	}
	key := []byte(r.ID)
	for _, err := range []error{
		t.deletePatterns(r),
		t.subsSeq().Delete(u64(r.Seq)),
		t.wsSubs().Delete(cat(pfx(r.Workspace), u64(r.Seq))),
		t.deleteSubRecord(r.ID),
		t.forgetCounts(r.ID),
		t.forgetFigures(t.figs(), key),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Subscriptions implements store.Store. With f.Workspace set it walks that workspace's
// part of ws_subs only; the other fields are checked on the subscriptions found.
func (s *Store) Subscriptions(ctx context.Context, f store.SubscriptionFilter) ([]store.Subscription, error) {
	out := []store.Subscription{}
	err := s.view(ctx, func(t *txn) error {
		out = out[:0]
		return t.forEachSub(f.Workspace, func(r *subRecord) error {
			if f.Match(r.Subscription) {
				out = append(out, r.Subscription.Clone()) // r is shared with the decode cache
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// forEachSub calls fn with each subscription of a workspace (every workspace's when
// workspace is empty), oldest first.
func (t *txn) forEachSub(workspace string, fn func(r *subRecord) error) error {
	b, prefix := t.subsSeq(), []byte(nil)
	if workspace != "" {
		b, prefix = t.wsSubs(), pfx(workspace)
	}
	c := b.Cursor()
	for k, id := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, id = c.Next() {
		r, err := t.sub(string(id))
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("storebolt: subscription %q is listed but missing: %w", id, ErrCorrupt)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
