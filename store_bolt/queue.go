package storebolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// ClaimDue implements store.Store. It walks the subscriptions with a pending delivery by
// their first due time (due_subs, see dueWalk) and, for each one its quota lets in, the
// subscription's queue from its start: a subscription skipped by its quota costs a seek
// and a look at its leases, never a walk over its backlog. It reads the file and writes
// nothing: the leases it takes are kept in memory (see leaseTable). Only when it finds
// due deliveries of a deleted or inactive subscription does it write, to settle them.
func (s *Store) ClaimDue(ctx context.Context, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	if err := store.CheckLease(req.Now, req.LeaseUntil); err != nil {
		return nil, time.Time{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	cl := &claimer{
		req: req, nowKey: tkey(req.Now), events: make(map[string]*store.Event),
	}
	s.leases.mu.Lock()
	err := wrap(s.run(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			t := s.txn(tx)
			t.leaseTab = s.leases
			cl.t = t
			return cl.claim()
		})
	}))
	if err == nil {
		for _, l := range cl.leases {
			s.leases.put(l)
		}
	}
	s.leases.mu.Unlock()
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(cl.settle) > 0 {
		if err := s.settle(ctx, cl.settle, req.Now); err != nil {
			return nil, time.Time{}, err
		}
	}
	return cl.out, cl.next, nil
}

// claimer is the state of one ClaimDue.
type claimer struct {
	t      *txn
	req    store.ClaimRequest
	nowKey []byte
	out    []store.Claim
	leases []*lease // out's, for the table
	next   time.Time
	events map[string]*store.Event
	settle []string // deleted or inactive subscriptions with due deliveries
}

func (cl *claimer) claim() error {
	w := cl.t.dueWalk()
	for {
		d, ok := w.next()
		if !ok {
			return nil
		}
		due := bytes.Compare(d.key[:8], cl.nowKey) <= 0
		done, err := cl.visit(d.sub, tdecode(d.key[:8]), due && len(cl.out) < cl.req.Limit)
		if err != nil || done {
			return err
		}
	}
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
		cl.settle = append(cl.settle, subID)
		w := t.queueWalk(subID)
		for e, ok := w.next(); ok; e, ok = w.next() {
			if bytes.Compare(e.key[:8], cl.nowKey) > 0 {
				cl.later(tdecode(e.key[:8]))
				break
			}
		}
		return false, nil
	}
	quota := cl.req.Limit
	if cl.req.Quota != nil {
		quota = cl.req.Quota(&sub.Subscription, t.leaseTab.inFlight(subID, cl.req.Now))
	}
	if quota <= 0 {
		return false, nil // its deliveries do not count
	}
	if !claim {
		cl.later(first)
		return true, nil
	}
	// The subscription's first n entries to claim, and the one after.
	n := min(quota, cl.req.Limit-len(cl.out))
	var take []qentry
	var left []byte
	w := t.queueWalk(subID)
	for e, ok := w.next(); ok; e, ok = w.next() {
		if len(take) == n || bytes.Compare(e.key[:8], cl.nowKey) > 0 {
			left = e.key[:8]
			break
		}
		take = append(take, e)
	}
	f, err := t.figures(t.figs(), []byte(subID), false)
	if err != nil {
		return false, err
	}
	for _, e := range take {
		if err := cl.lease(e, sub, f.Run); err != nil {
			return false, err
		}
	}
	if left != nil && quota > len(take) {
		// Left because it was not due yet or the limit was reached.
		cl.later(tdecode(left))
	}
	return false, nil
}

// lease claims one delivery (a lease that ran out is taken again): the claim to hand out
// and the lease for the table.
func (cl *claimer) lease(e qentry, sub *subRecord, run store.FailureRun) error {
	t, id := cl.t, e.id
	raw := t.dlvs().Get([]byte(id))
	if raw == nil && e.lease == nil {
		return fmt.Errorf("storebolt: queued delivery %q: %w", id, store.ErrNotFound)
	}
	if e.lease != nil && !bytes.Equal(raw, e.lease.raw) {
		// Recorded (or gone) since it was claimed, and its lease not cleared yet: the
		// file says what is due.
		return nil
	}
	r, err := decodeDelivery(id, raw)
	if err != nil {
		return err
	}
	ev, ok := cl.events[r.EventID]
	if !ok {
		if ev, err = t.eventShared(r.EventID); err != nil { // Data is cloned below
			return err
		}
		if ev == nil {
			return fmt.Errorf("storebolt: delivery %q: %w", id, notFound("event", r.EventID))
		}
		cl.events[r.EventID] = ev
	}
	l := &lease{id: id, sub: r.SubscriptionID, until: cl.req.LeaseUntil, rec: r, raw: bytes.Clone(raw)}
	copy(l.key[:8], tkey(l.until))
	copy(l.key[8:], u64(r.Seq))
	cl.leases = append(cl.leases, l)
	c := store.Claim{Delivery: r.Delivery.Clone(), Event: *ev, Subscription: sub.Subscription.Clone(), Failures: run}
	c.Delivery.LeasedUntil = l.until
	c.Event.Data = bytes.Clone(ev.Data)
	cl.out = append(cl.out, c)
	return nil
}

// settle moves the due deliveries of deleted or inactive subscriptions that are not in
// flight to the state the subscription's status gives them. The subscriptions are looked
// at again: one may have been activated since the claim saw it.
func (s *Store) settle(ctx context.Context, subs []string, now time.Time) error {
	nowKey := tkey(now)
	return s.exclusive(ctx, func(t *txn) error {
		for _, subID := range subs {
			sub, err := t.sub(subID)
			if err != nil {
				return err
			}
			if sub != nil && sub.Status == store.StatusActive {
				continue
			}
			state := store.DeliveryCancelled
			if sub != nil {
				state = store.InactiveState(sub.WhileInactive)
			}
			// Due ones only: a delivery still leased is due at its lease end.
			var ids []string
			w := t.queueWalk(subID)
			for e, ok := w.next(); ok && bytes.Compare(e.key[:8], nowKey) <= 0; e, ok = w.next() {
				ids = append(ids, e.id)
				if e.lease != nil {
					t.dropLease(e.id)
				}
			}
			for _, id := range ids {
				if err := t.update(id, func(r *dlvRecord) { setState(r, state, now) }); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// NextDue implements store.Store: the first subscription of dueWalk.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due time.Time
	var ok bool
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	err := s.view(ctx, func(t *txn) error {
		t.leaseTab = s.leases
		if d, found := t.dueWalk().next(); found {
			due, ok = tdecode(d.key[:8]), true
		}
		return nil
	})
	return due, ok, err
}

// RecordAttempt implements store.Store. Concurrent calls share a transaction and its
// commit; the lease the delivery was claimed under is cleared once it has committed. A record with an action
// (deactivate, delete) changes what other deliveries' leases mean, and commits alone
// (see exclusive).
func (s *Store) RecordAttempt(ctx context.Context, rec store.AttemptRecord) (store.Delivery, error) {
	id := rec.DeliveryID
	s.leases.mu.Lock()
	l := s.leases.get(id)
	s.leases.mu.Unlock()
	var out store.Delivery
	var missing bool
	record := func(t *txn) error {
		out, missing = store.Delivery{}, false
		raw := t.dlvs().Get([]byte(id))
		if raw == nil {
			// Not an error of the transaction: the others in the batch go on.
			missing = true
			return nil
		}
		var r *dlvRecord
		if l != nil && bytes.Equal(raw, l.raw) {
			r = l.rec.clone() // as claimed, and still as stored
		} else {
			var err error
			if r, err = decodeDelivery(id, raw); err != nil {
				return err
			}
		}
		if rec.Action != store.ActionNone {
			t.dropLease(id)
		}
		if err := t.recordAttempt(r, rec); err != nil {
			return err
		}
		// The action (deactivate, delete) may have moved the delivery again: answer
		// with it as stored. Without one, r is as stored.
		if rec.Action != store.ActionNone {
			var err error
			if r, err = t.delivery(id); err != nil || r == nil {
				return err
			}
		}
		out = r.Delivery.Clone()
		return nil
	}
	var err error
	if rec.Action == store.ActionNone {
		if err = s.batch(ctx, record, false); err == nil {
			if s.recorded != nil {
				s.recorded(id)
			}
			// Only the lease this attempt was made under: once the record has committed,
			// a Redeliver may have made the delivery due again and a claim leased it anew.
			s.leases.mu.Lock()
			s.leases.dropIf(id, l)
			s.leases.mu.Unlock()
		}
	} else {
		err = s.exclusive(ctx, record)
	}
	switch {
	case err != nil:
		return store.Delivery{}, err
	case missing:
		return store.Delivery{}, notFound("delivery", id)
	}
	return out, nil
}

func (t *txn) recordAttempt(r *dlvRecord, rec store.AttemptRecord) error {
	prev := *r
	now := rec.Attempt.SentAt.Add(rec.Attempt.Duration)
	r.Attempts = append(r.Attempts, rec.Attempt)
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
			if err := t.observe(t.figs(), []byte(sub.ID), rec.Attempt, ended); err != nil {
				return err
			}
		}
		if err := t.observe(t.meta(), keyFigures, rec.Attempt, ended); err != nil {
			return err
		}
		if r.Workspace != "" { // the default workspace's are the overall ones
			if err := t.observe(t.wsFigures(), pfx(r.Workspace), rec.Attempt, ended); err != nil {
				return err
			}
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
	err := s.exclusive(ctx, func(t *txn) error {
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
		if l := t.leaseOf(id); l != nil {
			if r.State == store.DeliveryPending && l.until.After(now) {
				return fmt.Errorf("storebolt: delivery %q: %w", id, store.ErrInFlight)
			}
			t.dropLease(id) // run out, or its attempt recorded: the fresh round starts now
		}
		prev := *r
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
