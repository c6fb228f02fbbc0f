package storebolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// ClaimDue implements store.Store: a seek to the start of the due index.
func (s *Store) ClaimDue(ctx context.Context, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	// TODO(fair claims): quotas and next; interim while the index is built.
	cs, err := s.claimDueOld(ctx, req.Now, req.Limit, req.LeaseUntil)
	if err != nil {
		return nil, time.Time{}, err
	}
	next, _, err := s.NextDue(ctx)
	return cs, next, err
}

func (s *Store) claimDueOld(ctx context.Context, now time.Time, limit int, leaseUntil time.Time) ([]store.Claim, error) {
	if err := store.CheckLease(now, leaseUntil); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Claim
	err := s.update(ctx, func(t *txn) error {
		var err error
		out, err = t.claimDue(now, limit, leaseUntil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (t *txn) claimDue(now time.Time, limit int, leaseUntil time.Time) ([]store.Claim, error) {
	var out []store.Claim
	subs := make(map[string]*subRecord)
	events := make(map[string]*store.Event)
	nowKey := tkey(now)
	for len(out) < limit {
		// Read the due keys first: the loop below moves them.
		var ids []string
		c := t.due.Cursor()
		for k, _ := c.First(); k != nil && len(ids) < limit-len(out); k, _ = c.Next() {
			if bytes.Compare(k[:8], nowKey) > 0 {
				break
			}
			ids = append(ids, string(k[16:])) // due time, sequence, ID
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			r, err := t.delivery(id)
			if err != nil {
				return nil, err
			}
			if r == nil {
				return nil, fmt.Errorf("storebolt: due delivery %q: %w", id, store.ErrNotFound)
			}
			prev := *r
			sub, ok := subs[r.SubscriptionID]
			if !ok {
				if sub, err = t.sub(r.SubscriptionID); err != nil {
					return nil, err
				}
				subs[r.SubscriptionID] = sub
			}
			if sub == nil || sub.Status != store.StatusActive {
				// Cannot happen while the indexes hold; never send for such a delivery.
				state := store.DeliveryCancelled
				if sub != nil {
					state = store.InactiveState(sub.WhileInactive)
				}
				setState(r, state, now)
				if err := t.save(&prev, r); err != nil {
					return nil, err
				}
				continue
			}
			ev, ok := events[r.EventID]
			if !ok {
				if ev, err = t.event(r.EventID); err != nil {
					return nil, err
				}
				if ev == nil {
					return nil, fmt.Errorf("storebolt: delivery %q: %w", id, notFound("event", r.EventID))
				}
				events[r.EventID] = ev
			}
			r.LeasedUntil = leaseUntil
			if err := t.save(&prev, r); err != nil {
				return nil, err
			}
			c := store.Claim{Delivery: r.Delivery.Clone(), Event: *ev, Subscription: sub.Subscription.Clone()}
			c.Event.Data = bytes.Clone(ev.Data)
			out = append(out, c)
		}
	}
	return out, nil
}

// NextDue implements store.Store: the first key of the due index.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due time.Time
	var ok bool
	err := s.view(ctx, func(t *txn) error {
		if k, _ := t.due.Cursor().First(); k != nil {
			due, ok = tdecode(k[:8]), true
		}
		return nil
	})
	return due, ok, err
}

// RecordAttempt implements store.Store. Concurrent calls share a transaction and its
// commit.
func (s *Store) RecordAttempt(ctx context.Context, rec store.AttemptRecord) (store.Delivery, error) {
	var out store.Delivery
	var missing bool
	err := s.batch(ctx, func(t *txn) error {
		out, missing = store.Delivery{}, false
		r, err := t.delivery(rec.DeliveryID)
		if err != nil {
			return err
		}
		if r == nil {
			// Not an error of the transaction: the others in the batch go on.
			missing = true
			return nil
		}
		if err := t.recordAttempt(r, rec); err != nil {
			return err
		}
		// The action (deactivate, delete) may have moved the delivery again: answer
		// with it as stored.
		if r, err = t.delivery(rec.DeliveryID); err != nil || r == nil {
			return err
		}
		out = r.Delivery
		return nil
	})
	switch {
	case err != nil:
		return store.Delivery{}, err
	case missing:
		return store.Delivery{}, notFound("delivery", rec.DeliveryID)
	}
	return out, nil
}

func (t *txn) recordAttempt(r *dlvRecord, rec store.AttemptRecord) error {
	prev := *r
	now := rec.Attempt.SentAt.Add(rec.Attempt.Duration)
	r.Attempts = append(r.Attempts, rec.Attempt)
	r.LeasedUntil = time.Time{}
	r.UpdatedAt = now
	sub, err := t.sub(r.SubscriptionID)
	if err != nil {
		return err
	}
	if r.State == store.DeliveryPending {
		state := rec.State
		switch {
		case sub == nil:
			state = store.DeliveryCancelled
		case state == store.DeliveryPending && sub.Status != store.StatusActive:
			state = store.InactiveState(sub.WhileInactive)
		case state == store.DeliveryPending:
			r.NextAttemptAt = rec.NextAttemptAt
		}
		setState(r, state, now)
	}
	if err := t.save(&prev, r); err != nil {
		return err
	}
	// The delivery counts as succeeded or failed only if this attempt finished it (see
	// the memory store).
	ended := r.State
	if ended == prev.State {
		ended = ""
	}
	if !rec.Attempt.Test {
		if sub != nil {
			if err := observe(t.figures, []byte(sub.ID), rec.Attempt, ended); err != nil {
				return err
			}
		}
		if err := observe(t.meta, keyFigures, rec.Attempt, ended); err != nil {
			return err
		}
	}
	if sub == nil {
		return nil
	}
	switch rec.Action {
	case store.ActionDeactivate:
		if sub.Status == store.StatusInactive {
			return nil
		}
		if err := t.deletePatterns(sub); err != nil {
			return err
		}
		sub.Status = store.StatusInactive
		sub.StatusReason = rec.Reason
		sub.StatusChangedAt = now
		sub.UpdatedAt = now
		if err := t.putPatterns(sub); err != nil {
			return err
		}
		if err := t.putSub(sub); err != nil {
			return err
		}
		return t.statusChanged(sub, now)
	case store.ActionDelete:
		return t.deleteSub(sub, now)
	}
	return nil
}

// observe adds an attempt, and the state it left its delivery in, to the figures kept
// under key in b.
func observe(b *bolt.Bucket, key []byte, a store.Attempt, state store.DeliveryState) error {
	f, err := figuresOf(b, key)
	if err != nil {
		return err
	}
	f.Observe(a, state)
	return putFigures(b, key, f)
}

// Redeliver implements store.Store.
func (s *Store) Redeliver(ctx context.Context, id string, now time.Time) (store.Delivery, error) {
	var out store.Delivery
	err := s.update(ctx, func(t *txn) error {
		r, err := t.delivery(id)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound("delivery", id)
		}
		sub, err := t.sub(r.SubscriptionID)
		if err != nil {
			return err
		}
		if sub == nil {
			return fmt.Errorf("storebolt: delivery %q: subscription %q: %w", id, r.SubscriptionID, store.ErrNotFound)
		}
		if sub.Status != store.StatusActive {
			return fmt.Errorf("storebolt: delivery %q: subscription %q: %w", id, sub.ID, store.ErrInactive)
		}
		if r.LeasedUntil.After(now) {
			return fmt.Errorf("storebolt: delivery %q: %w", id, store.ErrInFlight)
		}
		prev := *r
		r.LeasedUntil = time.Time{}
		r.RoundStart = len(r.Attempts)
		r.NextAttemptAt = now
		r.Test = false
		setState(r, store.DeliveryPending, now)
		if err := t.save(&prev, r); err != nil {
			return err
		}
		out = r.Delivery
		return nil
	})
	if err != nil {
		return store.Delivery{}, err
	}
	return out, nil
}
