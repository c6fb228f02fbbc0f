package storebolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// ClaimDue implements store.Store. It walks due_subs (each subscription with a pending
// delivery, by its first due time) and, for each subscription its quota lets in, the
// subscription's queue from its start: a subscription skipped by its quota costs a seek
// and the walk over its expired leases, never a walk over its backlog.
func (s *Store) ClaimDue(ctx context.Context, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	if err := store.CheckLease(req.Now, req.LeaseUntil); err != nil {
		return nil, time.Time{}, err
	}
	var out []store.Claim
	var next time.Time
	// A claim shares its transaction and commit with the inserts and attempt records
	// that queue meanwhile (see committer): the claim of a round and the records of the
	// previous one cost one fsync. It may run more than once, as Quota allows.
	err := s.batch(ctx, func(t *txn) error {
		var err error
		out, next, err = t.claimDue(req)
		return err
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return out, next, nil
}

// claimer is the state of one ClaimDue.
type claimer struct {
	t       *txn
	req     store.ClaimRequest
	nowKey  []byte
	out     []store.Claim
	next    time.Time
	visited map[string]bool
	events  map[string]*store.Event
}

func (t *txn) claimDue(req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	cl := &claimer{
		t: t, req: req, nowKey: tkey(req.Now),
		visited: make(map[string]bool), events: make(map[string]*store.Event),
	}
	c := t.dueSubs.Cursor()
	for k, _ := c.First(); k != nil; {
		key := bytes.Clone(k)
		subID := string(key[16:])
		if cl.visited[subID] {
			k, _ = c.Next()
			continue
		}
		cl.visited[subID] = true
		due := bytes.Compare(key[:8], cl.nowKey) <= 0
		done, err := cl.visit(subID, tdecode(key[:8]), due && len(cl.out) < req.Limit)
		if err != nil {
			return nil, time.Time{}, err
		}
		if done {
			break
		}
		// The visit moved keys: find our place again. Keys before it are visited or new
		// places of visited subscriptions.
		k, _ = c.Seek(key)
		if k != nil && bytes.Equal(k, key) {
			k, _ = c.Next()
		}
	}
	return cl.out, cl.next, nil
}

// later takes note of a time for next.
func (cl *claimer) later(t time.Time) {
	if cl.next.IsZero() || t.Before(cl.next) {
		cl.next = t
	}
}

// visit handles one subscription whose first due time is first: with claim set, it claims
// what its quota allows; without, it only asks whether the subscription counts for next.
// done means no later subscription can matter.
func (cl *claimer) visit(subID string, first time.Time, claim bool) (done bool, err error) {
	t := cl.t
	sub, err := t.sub(subID)
	if err != nil {
		return false, err
	}
	if sub == nil || sub.Status != store.StatusActive {
		// Only deliveries in flight when the subscription was deactivated or deleted stay
		// pending; settle them once their lease runs out, never send them again.
		if !claim {
			cl.later(first)
			return true, nil
		}
		return false, cl.settle(subID, sub)
	}
	quota := cl.req.Limit
	if cl.req.Quota != nil {
		quota = cl.req.Quota(&sub.Subscription, t.inFlight(subID, cl.req.Now))
	}
	if quota <= 0 {
		return false, nil // its deliveries do not count
	}
	if !claim {
		cl.later(first)
		return true, nil
	}
	// The subscription's first n+1 queue keys: the ones to claim, and the one after.
	n := min(quota, cl.req.Limit-len(cl.out))
	prefix := pfx(subID)
	var ids []string
	var left []byte
	c := t.queue.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(ids) == n || bytes.Compare(k[len(prefix):len(prefix)+8], cl.nowKey) > 0 {
			left = bytes.Clone(k[len(prefix) : len(prefix)+8])
			break
		}
		ids = append(ids, string(k[len(prefix)+16:]))
	}
	f, err := t.figures(t.figs, []byte(subID), false)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if err := cl.lease(id, sub, f.Run); err != nil {
			return false, err
		}
	}
	if left != nil && quota > len(ids) {
		// Left because it was not due yet or the limit was reached.
		cl.later(tdecode(left))
	}
	return false, nil
}

// lease claims one delivery.
func (cl *claimer) lease(id string, sub *subRecord, run store.FailureRun) error {
	t := cl.t
	r, err := t.delivery(id)
	if err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("storebolt: queued delivery %q: %w", id, store.ErrNotFound)
	}
	ev, ok := cl.events[r.EventID]
	if !ok {
		if ev, err = t.event(r.EventID); err != nil {
			return err
		}
		if ev == nil {
			return fmt.Errorf("storebolt: delivery %q: %w", id, notFound("event", r.EventID))
		}
		cl.events[r.EventID] = ev
	}
	prev := *r
	r.LeasedUntil = cl.req.LeaseUntil
	if err := t.save(&prev, r); err != nil {
		return err
	}
	c := store.Claim{Delivery: r.Delivery.Clone(), Event: *ev, Subscription: sub.Subscription.Clone(), Failures: run}
	c.Event.Data = bytes.Clone(ev.Data)
	cl.out = append(cl.out, c)
	return nil
}

// settle moves the due deliveries of a deleted or inactive subscription to the state its
// status gives them.
func (cl *claimer) settle(subID string, sub *subRecord) error {
	state := store.DeliveryCancelled
	if sub != nil {
		state = store.InactiveState(sub.WhileInactive)
	}
	prefix := pfx(subID)
	var ids []string
	c := cl.t.queue.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if bytes.Compare(k[len(prefix):len(prefix)+8], cl.nowKey) > 0 {
			cl.later(tdecode(k[len(prefix) : len(prefix)+8]))
			break
		}
		ids = append(ids, string(k[len(prefix)+16:]))
	}
	for _, id := range ids {
		if err := cl.t.update(id, func(r *dlvRecord) { setState(r, state, cl.req.Now) }); err != nil {
			return err
		}
	}
	return nil
}

// NextDue implements store.Store: the first key of due_subs.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due time.Time
	var ok bool
	err := s.view(ctx, func(t *txn) error {
		if k, _ := t.dueSubs.Cursor().First(); k != nil {
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
		// with it as stored. Without one, r is as stored.
		if rec.Action != store.ActionNone {
			if r, err = t.delivery(rec.DeliveryID); err != nil || r == nil {
				return err
			}
		}
		out = r.Delivery.Clone()
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
			if err := t.observe(t.figs, []byte(sub.ID), rec.Attempt, ended); err != nil {
				return err
			}
		}
		if err := t.observe(t.meta, keyFigures, rec.Attempt, ended); err != nil {
			return err
		}
		if err := t.observe(t.wsFigures, pfx(r.Workspace), rec.Attempt, ended); err != nil {
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
func (t *txn) observe(b *bolt.Bucket, key []byte, a store.Attempt, state store.DeliveryState) error {
	f, err := t.figures(b, key, true)
	if err != nil {
		return err
	}
	f.Observe(a, state)
	return nil
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
