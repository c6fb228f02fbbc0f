package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

func testClaimDue(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Order", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		// Inserted out of due order.
		late := f.emitOne("evt_late", "order.created", at(3*time.Second))
		early := f.emitOne("evt_early", "order.created", at(time.Second))
		middle := f.emitOne("evt_middle", "order.created", at(2*time.Second))

		assert.Empty(t, f.claimIDs(t0), "nothing is due yet")
		assert.Equal(t, []string{early, middle}, f.claimIDs(at(2*time.Second)), "due ones only, earliest first")
		assert.Equal(t, []string{late}, f.claimIDs(at(10*time.Second)))
	})

	t.Run("RetryOrder", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		first := f.emitOne("evt_1", "order.created", t0)
		f.mustClaim(first, t0)
		f.record(retry(first, t0, at(time.Minute)))
		second := f.emitOne("evt_2", "order.created", at(30*time.Second))
		assert.Equal(t, []string{second, first}, f.claimIDs(at(2*time.Minute)), "by due time, not by age")
	})

	t.Run("Limit", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		var ids []string
		for i := range 5 {
			ids = append(ids, f.emitOne(fmt.Sprintf("evt_%d", i), "order.created", at(time.Duration(i)*time.Second)))
		}
		now := at(time.Minute)
		cs, err := claimDue(f.ctx, f.s, now, 2, now.Add(lease))
		require.NoError(t, err)
		require.Len(t, cs, 2)
		assert.Equal(t, ids[:2], []string{cs[0].Delivery.ID, cs[1].Delivery.ID})
		cs, err = claimDue(f.ctx, f.s, now, 2, now.Add(lease))
		require.NoError(t, err)
		require.Len(t, cs, 2)
		assert.Equal(t, ids[2:4], []string{cs[0].Delivery.ID, cs[1].Delivery.ID})
		assert.Equal(t, ids[4:], f.claimIDs(now))
	})

	t.Run("Claim", func(t *testing.T) {
		f := newFixture(t, newStore)
		sub := f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		now := at(time.Second)
		cs, err := claimDue(f.ctx, f.s, now, 10, now.Add(lease))
		require.NoError(t, err)
		require.Len(t, cs, 1)
		c := cs[0]
		assert.Equal(t, dlv, c.Delivery.ID)
		assert.Equal(t, store.DeliveryPending, c.Delivery.State)
		sameTime(t, now.Add(lease), c.Delivery.LeasedUntil)
		assert.Equal(t, normEvent(newEvent("evt_1", "order.created", t0)), normEvent(c.Event))
		assert.Equal(t, normSub(sub), normSub(c.Subscription), "the claim carries what it takes to send")
		sameTime(t, now.Add(lease), f.delivery(dlv).LeasedUntil, "the lease is stored")
	})

	t.Run("Lease", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		f.mustClaim(dlv, t0)
		assert.Empty(t, f.claimIDs(t0), "not claimed twice")
		assert.Empty(t, f.claimIDs(t0.Add(lease-time.Nanosecond)), "not before the lease runs out")
		due, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		require.True(t, ok)
		sameTime(t, t0.Add(lease), due, "a leased delivery is due at its lease end")
		assert.Equal(t, []string{dlv}, f.claimIDs(t0.Add(lease)), "claimable again once the lease has run out")
		assert.Empty(t, f.claimIDs(t0.Add(lease)), "and leased again")
	})

	t.Run("LeaseMustEndAfterNow", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.emitOne("evt_1", "order.created", t0)
		_, err := claimDue(f.ctx, f.s, t0, 10, t0)
		assert.Error(t, err)
		assert.Len(t, f.claim(t0), 1, "nothing was leased")
	})

	t.Run("NextDue", func(t *testing.T) {
		f := newFixture(t, newStore)
		_, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		assert.False(t, ok, "empty store")

		f.create(newSub("sub_1", "order.created"))
		a := f.emitOne("evt_a", "order.created", at(20*time.Second))
		b := f.emitOne("evt_b", "order.created", at(10*time.Second))
		due, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		require.True(t, ok)
		sameTime(t, at(10*time.Second), due)

		f.mustClaim(b, at(10*time.Second)) // leased until 10s+lease
		due, _, err = f.s.NextDue(f.ctx)
		require.NoError(t, err)
		sameTime(t, at(20*time.Second), due)

		f.record(retry(b, at(10*time.Second), at(15*time.Second)))
		due, _, err = f.s.NextDue(f.ctx)
		require.NoError(t, err)
		sameTime(t, at(15*time.Second), due)

		f.deliver(b, at(15*time.Second))
		f.deliver(a, at(20*time.Second))
		_, ok, err = f.s.NextDue(f.ctx)
		require.NoError(t, err)
		assert.False(t, ok, "nothing pending")
	})

	t.Run("InactiveNeverClaimed", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(holding(newSub("sub_hold", "order.created"), store.StatusInactive))
		f.create(holding(newSub("sub_1", "order.created"), store.StatusActive))
		ins := f.emit("evt_1", "order.created", t0)
		require.Len(t, ins.Deliveries, 2)
		_, err := f.s.UpdateSubscription(f.ctx, "sub_1", t0, func(s *store.Subscription) error {
			s.Status = store.StatusInactive
			return nil
		})
		require.NoError(t, err)
		assert.Empty(t, f.claim(at(time.Hour)))
		_, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("NoDoubleClaim", func(t *testing.T) {
		f := newFixture(t, newStore)
		for i := range 5 {
			f.create(newSub(fmt.Sprintf("sub_%d", i), "order.created"))
		}
		// 100 events x 5 subscriptions = 500 deliveries, inserted concurrently.
		var wg sync.WaitGroup
		for w := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					_, err := f.s.InsertEvent(f.ctx, newEvent(fmt.Sprintf("evt_%d_%d", w, i), "order.created", t0), at(time.Duration(i)*time.Millisecond))
					assert.NoError(t, err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int64(500), f.stats(t0).Overall.Pending)

		now := at(time.Second)
		var mu sync.Mutex
		claimed := map[string]int{}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := 0; ; round++ {
					if !assert.Less(t, round, 500, "claims do not run out") {
						return
					}
					cs, err := claimDue(f.ctx, f.s, now, 7, now.Add(lease))
					if !assert.NoError(t, err) || len(cs) == 0 {
						return
					}
					mu.Lock()
					for _, c := range cs {
						claimed[c.Delivery.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		assert.Len(t, claimed, 500, "every delivery claimed")
		for id, n := range claimed {
			if n != 1 {
				assert.Failf(t, "double claim", "delivery %s claimed %d times", id, n)
			}
		}
	})

	t.Run("ClaimAndRecordConcurrently", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		const n = 200
		for i := range n {
			f.emit(fmt.Sprintf("evt_%d", i), "order.created", t0)
		}
		now := at(time.Second)
		var wg sync.WaitGroup
		var mu sync.Mutex
		done := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := 0; ; round++ {
					if !assert.Less(t, round, 500, "claims do not run out") {
						return
					}
					cs, err := claimDue(f.ctx, f.s, now, 3, now.Add(lease))
					if !assert.NoError(t, err) || len(cs) == 0 {
						return
					}
					for _, c := range cs {
						d, err := f.s.RecordAttempt(f.ctx, succeeded(c.Delivery.ID, now))
						if assert.NoError(t, err) {
							assert.Equal(t, store.DeliverySucceeded, d.State)
						}
					}
					mu.Lock()
					done += len(cs)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, n, done)
		st := f.stats(now)
		assert.Equal(t, int64(n), st.Overall.Attempts)
		assert.Equal(t, int64(n), st.Overall.DeliveriesSucceeded)
		assert.Zero(t, st.Overall.Pending)
	})
}

// claimDue is a claim without quotas: what the stores did before fair claims, used by the
// cases that test leases and order rather than quotas.
func claimDue(ctx context.Context, s store.Store, now time.Time, limit int, leaseUntil time.Time) ([]store.Claim, error) {
	cs, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: limit, LeaseUntil: leaseUntil})
	return cs, err
}
