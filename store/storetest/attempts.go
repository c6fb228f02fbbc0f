package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

func testRecordAttempt(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Retry", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.mustClaim(dlv, t0)
		rec := retry(dlv, t0, at(time.Minute))
		d := f.record(rec)
		assert.Equal(t, store.DeliveryPending, d.State)
		sameTime(t, at(time.Minute), d.NextAttemptAt)
		assert.True(t, d.LeasedUntil.IsZero(), "the lease is cleared")
		require.Len(t, d.Attempts, 1)
		got := d.Attempts[0]
		sameTime(t, t0, got.SentAt)
		got.SentAt = rec.Attempt.SentAt
		assert.Equal(t, rec.Attempt, got, "the attempt is kept as recorded")
		sameTime(t, t0.Add(attemptDuration), d.UpdatedAt, "updated when the attempt ended")

		stored := f.delivery(dlv)
		assert.Equal(t, d.State, stored.State)
		assert.Len(t, stored.Attempts, 1)
		assert.True(t, stored.LeasedUntil.IsZero())

		assert.Empty(t, f.claimIDs(at(time.Minute-time.Nanosecond)), "rescheduled, not due before")
		f.mustClaim(dlv, at(time.Minute))
		d = f.record(retry(dlv, at(time.Minute), at(3*time.Minute)))
		assert.Len(t, d.Attempts, 2, "attempts are appended")
		f.mustClaim(dlv, at(3*time.Minute))
		d = f.record(succeeded(dlv, at(3*time.Minute)))
		assert.Equal(t, store.DeliverySucceeded, d.State)
		assert.True(t, d.NextAttemptAt.IsZero(), "nothing scheduled once finished")
		assert.Len(t, d.Attempts, 3)
		assert.Empty(t, f.claimIDs(at(time.Hour)))
	})

	t.Run("GiveUp", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		d := f.fail(dlv, t0)
		assert.Equal(t, store.DeliveryFailed, d.State)
		assert.True(t, d.NextAttemptAt.IsZero())
		assert.Empty(t, f.claimIDs(at(time.Hour)))
		assert.Equal(t, store.StatusActive, f.sub("sub_1").Status, "giving up leaves the subscription alone")
	})

	for _, policy := range []store.InactivePolicy{store.InactiveHold, store.InactiveDiscard} {
		t.Run("Deactivate/"+string(policy), func(t *testing.T) {
			f := newFixture(t, newStore)
			sub := newSub("sub_1", "order.created")
			sub.WhileInactive = policy
			f.create(sub)
			f.create(newSub("sub_2", "order.updated"))
			gone := f.emitOne("evt_1", "order.created", t0)
			inFlight := f.emitOne("evt_2", "order.created", t0)
			waiting := f.emitOne("evt_3", "order.created", at(time.Second))
			other := f.emitOne("evt_4", "order.updated", at(time.Second))
			require.ElementsMatch(t, []string{gone, inFlight}, f.claimIDs(t0), "setup")

			d := f.record(deactivating(gone, t0, 410))
			assert.Equal(t, store.DeliveryFailed, d.State, "this delivery stops")
			s := f.sub("sub_1")
			assert.Equal(t, store.StatusInactive, s.Status)
			assert.Equal(t, "endpoint answered 410 Gone", s.StatusReason)
			sameTime(t, t0.Add(attemptDuration), s.StatusChangedAt)

			want := store.InactiveState(policy)
			assert.Equal(t, want, f.state(waiting), "waiting deliveries are held or cancelled")
			assert.Equal(t, store.DeliveryPending, f.state(other), "other subscriptions are not touched")

			// The delivery in flight finds the subscription inactive when it comes back.
			d = f.record(retry(inFlight, t0, at(time.Minute)))
			assert.Equal(t, want, d.State)
			assert.True(t, d.NextAttemptAt.IsZero())
			assert.Len(t, d.Attempts, 1)

			assert.Equal(t, []string{other}, f.claimIDs(at(time.Hour)))
			st := f.stats(at(time.Hour))
			if policy == store.InactiveHold {
				assert.Equal(t, int64(2), st.Subscriptions["sub_1"].Held)
			} else {
				assert.Zero(t, st.Subscriptions["sub_1"].Held)
			}
			assert.Zero(t, st.Subscriptions["sub_1"].Pending)

			// A new event for it is held or discarded too.
			ins := f.emit("evt_5", "order.created", at(time.Hour))
			if policy == store.InactiveHold {
				assert.Equal(t, 1, ins.Held)
			} else {
				assert.Zero(t, ins.Held)
			}
		})
	}

	t.Run("Delete", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(holding(newSub("sub_1", "order.created"), store.StatusActive))
		f.create(newSub("sub_2", "order.created"))
		first := f.emitFor("evt_1", "order.created", t0, "sub_1")
		firstOther := f.emitFor("evt_1b", "order.created", t0, "sub_2")
		inFlight := f.emitFor("evt_2", "order.created", t0, "sub_1")
		waiting := f.emitFor("evt_3", "order.created", at(time.Second), "sub_1")
		claimed := f.claimIDs(t0)
		require.Contains(t, claimed, first)
		require.Contains(t, claimed, firstOther)
		require.Contains(t, claimed, inFlight)

		d := f.record(unsubscribing(first, t0))
		assert.Equal(t, store.DeliveryFailed, d.State)
		_, err := f.s.Subscription(f.ctx, "sub_1")
		require.ErrorIs(t, err, store.ErrNotFound, "the subscription is deleted")
		assert.Equal(t, store.DeliveryCancelled, f.state(waiting), "its pending deliveries are cancelled")
		assert.Equal(t, store.DeliverySucceeded, f.record(succeeded(firstOther, t0)).State, "other subscriptions are not touched")

		d = f.record(succeeded(inFlight, t0))
		assert.Equal(t, store.DeliveryCancelled, d.State, "a delivery cancelled in flight stays cancelled")
		assert.Len(t, d.Attempts, 1, "its attempt is in the log all the same")
		assert.Len(t, f.emit("evt_4", "order.created", at(time.Minute)).Deliveries, 1, "no fan-out to it")
		st := f.stats(at(time.Minute))
		assert.NotContains(t, st.Subscriptions, "sub_1")
	})

	t.Run("FinishedStaysFinished", func(t *testing.T) {
		// Two workers hold the same delivery: the first one's lease ran out and a second
		// claim took it. Whichever records last does not undo the other's success.
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.mustClaim(dlv, t0)
		f.mustClaim(dlv, t0.Add(lease))
		assert.Equal(t, store.DeliverySucceeded, f.record(succeeded(dlv, t0.Add(lease))).State)
		d := f.record(retry(dlv, t0, at(time.Hour)))
		assert.Equal(t, store.DeliverySucceeded, d.State)
		assert.True(t, d.NextAttemptAt.IsZero())
		assert.Len(t, d.Attempts, 2, "both attempts are in the log")
		_, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		assert.False(t, ok, "not scheduled again")
		assert.Equal(t, int64(1), f.stats(at(time.Hour)).Overall.DeliveriesSucceeded)
	})

	t.Run("CancelledInFlight", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.mustClaim(dlv, t0)
		require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_1", t0))
		assert.Equal(t, store.DeliveryCancelled, f.state(dlv))
		d := f.record(retry(dlv, t0, at(time.Minute)))
		assert.Equal(t, store.DeliveryCancelled, d.State)
		assert.True(t, d.NextAttemptAt.IsZero())
		assert.Len(t, d.Attempts, 1)
		assert.Empty(t, f.claim(at(time.Hour)))
		_, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("Figures", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(newSub("sub_2", "product.created"))
		a := f.emitOne("evt_a", "order.created", t0)
		b := f.emitOne("evt_b", "order.created", t0)
		c := f.emitOne("evt_c", "product.created", t0)
		f.emitOne("evt_d", "product.created", t0) // stays pending

		f.deliver(a, t0) // succeeded
		f.mustClaim(b, t0)
		f.record(retry(b, t0, at(time.Minute))) // failed, 5xx
		f.mustClaim(b, at(time.Minute))
		f.record(gaveUp(b, at(time.Minute))) // failed, timeout; the delivery failed
		f.deliver(c, at(time.Minute))        // succeeded
		test := succeeded(c, at(time.Minute))
		test.Attempt.Test = true // does not count
		f.record(test)

		st := f.stats(at(2 * time.Minute))
		o := st.Overall
		assert.Equal(t, int64(4), o.Attempts)
		assert.Equal(t, int64(2), o.Succeeded)
		assert.Equal(t, int64(2), o.Failed)
		assert.InDelta(t, 0.5, o.SuccessRate, 1e-9)
		assert.Equal(t, int64(2), o.DeliveriesSucceeded)
		assert.Equal(t, int64(1), o.DeliveriesFailed)
		assert.Equal(t, map[store.ErrorKind]int64{store.ErrorServer: 1, store.ErrorTimeout: 1}, o.ErrorsByKind)
		assert.Equal(t, (3*attemptDuration+5*time.Second)/4, o.MeanResponse)
		assert.Positive(t, o.P50Response)
		assert.GreaterOrEqual(t, o.P99Response, o.P50Response)
		assert.Equal(t, int64(1), o.Pending)

		s1 := st.Subscriptions["sub_1"]
		assert.Equal(t, int64(3), s1.Attempts)
		assert.Equal(t, int64(1), s1.Succeeded)
		assert.InDelta(t, 1.0/3, s1.SuccessRate, 1e-9)
		assert.Equal(t, int64(1), s1.DeliveriesFailed)
		assert.Equal(t, int64(1), s1.ErrorsByKind[store.ErrorTimeout])
		assert.Zero(t, s1.Pending)
		s2 := st.Subscriptions["sub_2"]
		assert.Equal(t, int64(1), s2.Attempts)
		assert.InDelta(t, 1.0, s2.SuccessRate, 1e-9)
		assert.Equal(t, int64(1), s2.Pending)
		assert.Empty(t, s2.ErrorsByKind)
	})
}

// emitFor emits an event and returns its delivery to subscription sub.
func (f *fixture) emitFor(id, typ string, now time.Time, sub string) string {
	f.t.Helper()
	for _, dlv := range f.emit(id, typ, now).Deliveries {
		if f.delivery(dlv).SubscriptionID == sub {
			return dlv
		}
	}
	require.Failf(f.t, "no delivery", "event %s has no delivery to %s", id, sub)
	return ""
}

func testStatusChange(t *testing.T, newStore func(t *testing.T) store.Store) {
	setStatus := func(f *fixture, id string, status store.Status, now time.Time) store.Subscription {
		f.t.Helper()
		s, err := f.s.UpdateSubscription(f.ctx, id, now, func(s *store.Subscription) error {
			s.Status = status
			s.StatusChangedAt = now
			return nil
		})
		require.NoError(f.t, err)
		return s
	}

	t.Run("Hold", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(holding(newSub("sub_1", "order.created"), store.StatusActive))
		a := f.emitOne("evt_a", "order.created", t0)
		b := f.emitOne("evt_b", "order.created", at(time.Second))
		setStatus(f, "sub_1", store.StatusInactive, at(2*time.Second))
		assert.Equal(t, store.DeliveryHeld, f.state(a))
		assert.Equal(t, store.DeliveryHeld, f.state(b))
		assert.True(t, f.delivery(a).NextAttemptAt.IsZero())
		assert.Empty(t, f.claim(at(time.Hour)))
		_, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		assert.False(t, ok)
		c := f.emitOne("evt_c", "order.created", at(time.Minute))
		assert.Equal(t, store.DeliveryHeld, f.state(c))
		st := f.stats(at(time.Hour))
		assert.Equal(t, int64(3), st.Subscriptions["sub_1"].Held)
		assert.Zero(t, st.Subscriptions["sub_1"].Pending)
		assert.Equal(t, int64(3), st.Overall.Held)

		release := at(2 * time.Hour)
		setStatus(f, "sub_1", store.StatusActive, release)
		for _, id := range []string{a, b, c} {
			d := f.delivery(id)
			assert.Equal(t, store.DeliveryPending, d.State)
			sameTime(t, release, d.NextAttemptAt, "released deliveries are due at once")
		}
		due, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		require.True(t, ok)
		sameTime(t, release, due)
		assert.Empty(t, f.claim(release.Add(-time.Second)))
		assert.ElementsMatch(t, []string{a, b, c}, f.claimIDs(release))
		st = f.stats(release)
		assert.Zero(t, st.Subscriptions["sub_1"].Held)
		assert.Equal(t, int64(3), st.Subscriptions["sub_1"].Pending)
	})

	t.Run("Discard", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		a := f.emitOne("evt_a", "order.created", t0)
		s := setStatus(f, "sub_1", store.StatusInactive, at(time.Second))
		assert.Equal(t, store.StatusInactive, s.Status)
		assert.Equal(t, store.DeliveryCancelled, f.state(a))
		assert.Empty(t, f.emit("evt_b", "order.created", at(time.Minute)).Deliveries, "discarded while inactive")
		setStatus(f, "sub_1", store.StatusActive, at(time.Hour))
		assert.Equal(t, store.DeliveryCancelled, f.state(a), "discarded is gone for good")
		assert.Empty(t, f.claim(at(time.Hour)))
		assert.Len(t, f.emit("evt_c", "order.created", at(time.Hour)).Deliveries, 1, "active again")
	})

	t.Run("FinishedUntouched", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(holding(newSub("sub_1", "order.created"), store.StatusActive))
		a := f.emitOne("evt_a", "order.created", t0)
		b := f.emitOne("evt_b", "order.created", t0)
		f.deliver(a, t0)
		f.fail(b, t0)
		setStatus(f, "sub_1", store.StatusInactive, at(time.Second))
		setStatus(f, "sub_1", store.StatusActive, at(2*time.Second))
		assert.Equal(t, store.DeliverySucceeded, f.state(a))
		assert.Equal(t, store.DeliveryFailed, f.state(b))
		assert.Empty(t, f.claim(at(time.Hour)))
	})

	t.Run("OtherFieldsOnly", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		a := f.emitOne("evt_a", "order.created", t0)
		_, err := f.s.UpdateSubscription(f.ctx, "sub_1", at(time.Second), func(s *store.Subscription) error {
			s.URL = "https://new.example.com/"
			return nil
		})
		require.NoError(t, err)
		d := f.delivery(a)
		assert.Equal(t, store.DeliveryPending, d.State)
		sameTime(t, t0, d.NextAttemptAt, "no status change, no move")
		cs := f.claim(t0)
		require.Len(t, cs, 1)
		assert.Equal(t, "https://new.example.com/", cs[0].Subscription.URL, "claims carry the current subscription")
	})
}

func testRedeliver(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Failed", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.mustClaim(dlv, t0)
		f.record(retry(dlv, t0, at(time.Minute)))
		f.fail(dlv, at(time.Minute))

		now := at(time.Hour)
		d, err := f.s.Redeliver(f.ctx, dlv, now)
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryPending, d.State)
		sameTime(t, now, d.NextAttemptAt)
		assert.Equal(t, 2, d.RoundStart)
		assert.Zero(t, d.AttemptsInRound(), "a fresh round of the schedule")
		assert.Len(t, d.Attempts, 2, "the earlier attempts stay in the log")
		stored := f.delivery(dlv)
		assert.Equal(t, 2, stored.RoundStart)
		assert.Equal(t, store.DeliveryPending, stored.State)
		assert.Empty(t, f.claim(now.Add(-time.Second)))
		f.mustClaim(dlv, now)
		d = f.record(succeeded(dlv, now))
		assert.Equal(t, 1, d.AttemptsInRound())
		assert.Equal(t, store.DeliverySucceeded, d.State)
	})

	t.Run("Succeeded", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.deliver(dlv, t0)
		d, err := f.s.Redeliver(f.ctx, dlv, at(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryPending, d.State)
		assert.Equal(t, int64(1), f.stats(at(time.Minute)).Subscriptions["sub_1"].Pending)
	})

	t.Run("Inactive", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.fail(dlv, t0)
		_, err := f.s.UpdateSubscription(f.ctx, "sub_1", t0, func(s *store.Subscription) error {
			s.Status = store.StatusInactive
			return nil
		})
		require.NoError(t, err)
		_, err = f.s.Redeliver(f.ctx, dlv, at(time.Minute))
		require.ErrorIs(t, err, store.ErrInactive)
		assert.Equal(t, store.DeliveryFailed, f.state(dlv))
	})

	t.Run("InFlight", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.mustClaim(dlv, t0)
		_, err := f.s.Redeliver(f.ctx, dlv, at(time.Second))
		require.ErrorIs(t, err, store.ErrInFlight, "the attempt's record would overwrite the fresh round")
		d := f.delivery(dlv)
		assert.Zero(t, d.RoundStart)

		// Once the lease has run out (the process died), Redeliver takes it back.
		d, err = f.s.Redeliver(f.ctx, dlv, t0.Add(lease+time.Second))
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryPending, d.State)
		assert.True(t, d.LeasedUntil.IsZero())
		f.mustClaim(dlv, t0.Add(lease+time.Second))
	})

	t.Run("SubscriptionGone", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.fail(dlv, t0)
		require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_1", t0))
		_, err := f.s.Redeliver(f.ctx, dlv, at(time.Minute))
		require.ErrorIs(t, err, store.ErrNotFound)
		assert.Equal(t, store.DeliveryFailed, f.state(dlv))
		assert.Empty(t, f.claim(at(time.Hour)))
	})
}
