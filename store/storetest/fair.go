package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// quotaCalls records what a Quota was asked: per subscription, the inFlight of each call.
type quotaCalls struct {
	mu    sync.Mutex
	calls map[string][]int
}

// reset forgets the calls so far: call it before the claim whose calls count.
func (q *quotaCalls) reset() {
	q.mu.Lock()
	q.calls = nil
	q.mu.Unlock()
}

func (q *quotaCalls) add(sub string, inFlight int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.calls == nil {
		q.calls = make(map[string][]int)
	}
	q.calls[sub] = append(q.calls[sub], inFlight)
}

// inFlight answers the inFlight the quota was given for sub since the last reset; -1 when
// it was not asked. A store may ask more than once per claim: every
// answer must agree.
func (q *quotaCalls) inFlight(t *testing.T, sub string) int {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	calls := q.calls[sub]
	if len(calls) == 0 {
		return -1
	}
	for _, n := range calls[1:] {
		assert.Equal(t, calls[0], n, "inFlight of %s changed within one claim", sub)
	}
	return calls[0]
}

// capped is a Quota that lets caps[sub] (def when absent) deliveries of a subscription be
// in flight at once, as the dispatcher's MaxInFlight does, recording its calls in log.
func capped(caps map[string]int, def int, log *quotaCalls) func(*store.Subscription, int) int {
	return func(sub *store.Subscription, inFlight int) int {
		if log != nil {
			log.add(sub.ID, inFlight)
		}
		limit, ok := caps[sub.ID]
		if !ok {
			limit = def
		}
		return limit - inFlight
	}
}

// fixed is a Quota that grants q[sub] (def when absent) whatever is in flight.
func fixed(q map[string]int, def int) func(*store.Subscription, int) int {
	return func(sub *store.Subscription, _ int) int {
		if n, ok := q[sub.ID]; ok {
			return n
		}
		return def
	}
}

// claimQ claims at now with a quota, leased until now+lease, and answers the delivery IDs
// in claim order and next.
func (f *fixture) claimQ(now time.Time, limit int, quota func(*store.Subscription, int) int) ([]string, time.Time) {
	f.t.Helper()
	cs, next, err := f.s.ClaimDue(f.ctx, store.ClaimRequest{Now: now, Limit: limit, LeaseUntil: now.Add(lease), Quota: quota})
	require.NoError(f.t, err)
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.Delivery.ID)
	}
	return ids, next
}

// claims is claimQ answering the claims themselves.
func (f *fixture) claims(now time.Time, limit int, quota func(*store.Subscription, int) int) []store.Claim {
	f.t.Helper()
	cs, _, err := f.s.ClaimDue(f.ctx, store.ClaimRequest{Now: now, Limit: limit, LeaseUntil: now.Add(lease), Quota: quota})
	require.NoError(f.t, err)
	return cs
}

// series emits n events of type typ, the i-th at start+i*step, and answers the delivery to
// sub of each.
func (f *fixture) series(prefix, typ, sub string, n int, start time.Time, step time.Duration) []string {
	f.t.Helper()
	var ids []string
	for i := range n {
		ids = append(ids, f.emitFor(fmt.Sprintf("%s_%02d", prefix, i), typ, start.Add(time.Duration(i)*step), sub))
	}
	return ids
}

// noNext asserts that next is zero.
func noNext(t *testing.T, next time.Time, msgAndArgs ...any) {
	t.Helper()
	assert.True(t, next.IsZero(), append([]any{"next should be zero, is " + next.String()}, msgAndArgs...)...)
}

func testFairClaims(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CapAcrossClaims", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		d := f.series("evt", "order.created", "sub_1", 5, t0, time.Millisecond)
		var log quotaCalls
		q := capped(nil, 2, &log)
		claim := func(now time.Time) []string {
			t.Helper()
			log.reset()
			got, _ := f.claimQ(now, 10, q)
			return got
		}
		now := at(time.Second)

		got := claim(now)
		assert.Equal(t, d[0:2], got, "two in flight at most")
		assert.Equal(t, 0, log.inFlight(t, "sub_1"))

		got = claim(now)
		assert.Empty(t, got, "the cap holds across claims")
		assert.Equal(t, 2, log.inFlight(t, "sub_1"), "unexpired leases are in flight")

		f.deliver(d[0], now)
		now2 := at(2 * time.Second)
		got = claim(now2)
		assert.Equal(t, d[2:3], got, "a recorded attempt is no longer in flight")
		assert.Equal(t, 1, log.inFlight(t, "sub_1"))
		got = claim(now2)
		assert.Empty(t, got)
		assert.Equal(t, 2, log.inFlight(t, "sub_1"))

		// d[1]'s lease ends at now+lease: from then it is due again, at its lease end,
		// and no longer in flight. d[3] was due earlier, so it goes first.
		got = claim(now.Add(lease))
		assert.Equal(t, 1, log.inFlight(t, "sub_1"), "an expired lease is not in flight")
		assert.Equal(t, d[3:4], got, "earliest due first: d[3] before d[1]'s lease end")
		got = claim(now.Add(lease))
		assert.Empty(t, got)

		got = claim(now2.Add(lease))
		assert.Equal(t, 1, log.inFlight(t, "sub_1"), "d[3] is in flight")
		assert.Equal(t, d[4:5], got)

		f.deliver(d[3], now2.Add(lease))
		f.deliver(d[4], now2.Add(lease))
		got = claim(now2.Add(lease))
		assert.Equal(t, 0, log.inFlight(t, "sub_1"))
		assert.Equal(t, []string{d[1], d[2]}, got, "expired leases, due at their lease ends, in that order")
	})

	t.Run("LeaseEndIsNotInFlight", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		d := f.emitOne("evt_1", "order.created", t0)
		var log quotaCalls
		q := capped(nil, 1, &log)
		got, _ := f.claimQ(t0, 10, q)
		require.Equal(t, []string{d}, got)
		got, _ = f.claimQ(t0.Add(lease-time.Nanosecond), 10, q)
		assert.Empty(t, got)
		log.reset()
		got, _ = f.claimQ(t0.Add(lease), 10, q)
		assert.Equal(t, 0, log.inFlight(t, "sub_1"), "a lease that ends at now is over")
		assert.Equal(t, []string{d}, got)
	})

	t.Run("SkippedSubscription", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_slow", "order.created"))
		f.create(newSub("sub_fast", "product.created"))
		slow := f.series("evt_slow", "order.created", "sub_slow", 20, t0, time.Millisecond)
		fast := f.series("evt_fast", "product.created", "sub_fast", 3, at(time.Minute), time.Second)
		now := at(2 * time.Minute)
		q := fixed(map[string]int{"sub_slow": 0}, 10)

		got, next := f.claimQ(now, 3, q)
		assert.Equal(t, fast, got, "the skipped subscription's earlier deliveries do not block the others")
		noNext(t, next, "nothing was left but the skipped subscription's")

		got, next = f.claimQ(now, 3, q)
		assert.Empty(t, got)
		sameTime(t, now.Add(lease), next, "the fast subscription's leases")

		got, _ = f.claimQ(now, 3, fixed(map[string]int{"sub_slow": -1}, 10))
		assert.Empty(t, got, "a negative quota skips too")

		got, _ = f.claimQ(now, 3, nil)
		assert.Equal(t, slow[0:3], got, "a nil Quota grants the subscription Limit")
	})

	t.Run("Order", func(t *testing.T) {
		setup := func(t *testing.T) (*fixture, map[string]string) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_a", "order.created"))
			f.create(newSub("sub_b", "product.created"))
			f.create(newSub("sub_c", "customer.created"))
			d := map[string]string{}
			// Inserted out of due order.
			d["b4"] = f.emitOne("evt_b4", "product.created", at(4*time.Second))
			d["a3"] = f.emitOne("evt_a3", "order.created", at(3*time.Second))
			d["b2"] = f.emitOne("evt_b2", "product.created", at(2*time.Second))
			d["c0"] = f.emitOne("evt_c0", "customer.created", at(500*time.Millisecond))
			d["a1"] = f.emitOne("evt_a1", "order.created", at(time.Second))
			return f, d
		}
		now := at(10 * time.Second)

		t.Run("All", func(t *testing.T) {
			f, d := setup(t)
			got, next := f.claimQ(now, 10, fixed(nil, 10))
			assert.Equal(t, []string{d["c0"], d["a1"], d["a3"], d["b2"], d["b4"]}, got,
				"subscriptions in the order of their earliest due delivery, earliest first within each")
			noNext(t, next)
		})
		t.Run("Limit", func(t *testing.T) {
			f, d := setup(t)
			got, next := f.claimQ(now, 3, fixed(nil, 10))
			assert.Equal(t, []string{d["c0"], d["a1"], d["a3"]}, got, "subscription by subscription up to Limit")
			sameTime(t, at(2*time.Second), next, "sub_b's earliest, left because the limit was reached")
			got, next = f.claimQ(now, 3, fixed(nil, 10))
			assert.Equal(t, []string{d["b2"], d["b4"]}, got)
			sameTime(t, now.Add(lease), next, "the first claim's leases")
		})
		t.Run("QuotaOne", func(t *testing.T) {
			f, d := setup(t)
			got, next := f.claimQ(now, 10, fixed(nil, 1))
			assert.Equal(t, []string{d["c0"], d["a1"], d["b2"]}, got, "one of each, the earliest")
			noNext(t, next, "a3 and b4 were left by quotas that ran out")
			got, _ = f.claimQ(now, 10, fixed(nil, 1))
			assert.Equal(t, []string{d["a3"], d["b4"]}, got)
		})
		t.Run("NilQuota", func(t *testing.T) {
			f, d := setup(t)
			got, next := f.claimQ(now, 4, nil)
			assert.Equal(t, []string{d["c0"], d["a1"], d["a3"], d["b2"]}, got)
			sameTime(t, at(4*time.Second), next, "b4, left because the limit was reached")
		})
	})

	t.Run("RetryOrderWithinSubscription", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		first := f.emitOne("evt_1", "order.created", t0)
		f.mustClaim(first, t0)
		f.record(retry(first, t0, at(time.Minute)))
		second := f.emitOne("evt_2", "order.created", at(30*time.Second))
		got, next := f.claimQ(at(2*time.Minute), 10, fixed(nil, 1))
		assert.Equal(t, []string{second}, got, "earliest due first, not oldest")
		noNext(t, next)
		got, _ = f.claimQ(at(2*time.Minute), 10, fixed(nil, 1))
		assert.Equal(t, []string{first}, got)
	})

	t.Run("Next", func(t *testing.T) {
		t.Run("Empty", func(t *testing.T) {
			f := newFixture(t, newStore)
			got, next := f.claimQ(t0, 10, fixed(nil, 10))
			assert.Empty(t, got)
			noNext(t, next)
		})
		t.Run("NotYetDue", func(t *testing.T) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_1", "order.created"))
			f.create(newSub("sub_2", "product.created"))
			d := f.emitOne("evt_1", "order.created", t0)
			f.emitOne("evt_2", "order.created", at(20*time.Second))
			f.emitOne("evt_3", "product.created", at(10*time.Second))
			got, next := f.claimQ(t0, 10, fixed(nil, 10))
			assert.Equal(t, []string{d}, got)
			sameTime(t, at(10*time.Second), next, "the earliest not yet due, of any subscription")
		})
		t.Run("AllClaimed", func(t *testing.T) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_1", "order.created"))
			f.series("evt", "order.created", "sub_1", 3, t0, time.Second)
			got, next := f.claimQ(at(time.Minute), 10, fixed(nil, 10))
			assert.Len(t, got, 3)
			noNext(t, next, "the leases just taken do not count")
		})
		t.Run("Lease", func(t *testing.T) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_1", "order.created"))
			f.emitOne("evt_1", "order.created", t0)
			got, _ := f.claimQ(t0, 10, nil)
			require.Len(t, got, 1)
			got, next := f.claimQ(at(time.Second), 10, nil)
			assert.Empty(t, got)
			sameTime(t, t0.Add(lease), next, "a leased delivery counts at its lease end")
		})
		t.Run("LimitReached", func(t *testing.T) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_1", "order.created"))
			d := f.series("evt", "order.created", "sub_1", 3, t0, time.Second)
			got, next := f.claimQ(at(5*time.Second), 2, fixed(nil, 10))
			assert.Equal(t, d[:2], got)
			sameTime(t, at(2*time.Second), next, "due already: left because the limit was reached")
		})
		t.Run("LimitReachedOtherSubscription", func(t *testing.T) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_1", "order.created"))
			f.create(newSub("sub_2", "product.created"))
			d := f.series("evt_1", "order.created", "sub_1", 2, t0, 0)
			f.series("evt_2", "product.created", "sub_2", 1, at(time.Second), 0)
			got, next := f.claimQ(at(5*time.Second), 2, fixed(nil, 10))
			assert.Equal(t, d, got)
			sameTime(t, at(time.Second), next)
		})
		t.Run("SkippedDoNotCount", func(t *testing.T) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_skip", "order.created"))
			f.create(newSub("sub_ok", "product.created"))
			f.emitOne("evt_1", "order.created", t0)
			f.emitOne("evt_2", "order.created", at(10*time.Second))
			f.emitOne("evt_3", "product.created", at(20*time.Second))
			got, next := f.claimQ(at(5*time.Second), 10, fixed(map[string]int{"sub_skip": 0}, 10))
			assert.Empty(t, got)
			sameTime(t, at(20*time.Second), next, "neither the skipped subscription's due nor its later deliveries count")
		})
		t.Run("SkippedLeaseDoesNotCount", func(t *testing.T) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_1", "order.created"))
			f.series("evt", "order.created", "sub_1", 2, t0, 0)
			var log quotaCalls
			got, _ := f.claimQ(t0, 10, capped(nil, 1, &log))
			require.Len(t, got, 1)
			log.reset()
			got, next := f.claimQ(at(time.Second), 10, capped(nil, 1, &log))
			assert.Empty(t, got)
			assert.Equal(t, 1, log.inFlight(t, "sub_1"))
			noNext(t, next, "the subscription is at its cap: neither its lease nor its due delivery counts")
		})
		t.Run("ExhaustedDoNotCount", func(t *testing.T) {
			f := newFixture(t, newStore)
			f.create(newSub("sub_1", "order.created"))
			f.create(newSub("sub_2", "product.created"))
			d := f.series("evt_1", "order.created", "sub_1", 3, t0, time.Second)
			f.emitOne("evt_2", "product.created", at(time.Hour))
			got, next := f.claimQ(at(5*time.Second), 10, fixed(map[string]int{"sub_1": 1}, 10))
			assert.Equal(t, d[:1], got)
			sameTime(t, at(time.Hour), next, "sub_1's quota ran out: its due deliveries do not count")
		})
	})

	t.Run("QuotaSeesTheSubscription", func(t *testing.T) {
		f := newFixture(t, newStore)
		s := inWS("A", newSub("sub_1", "order.created"))
		s.MaxInFlight, s.RateLimit, s.Timeout = 3, 2.5, 7*time.Second
		f.create(s)
		f.emitIn("A", "evt_1", "order.created", t0)
		var seen []store.Subscription
		var mu sync.Mutex
		cs := f.claims(t0, 10, func(sub *store.Subscription, inFlight int) int {
			mu.Lock()
			seen = append(seen, *sub)
			mu.Unlock()
			return sub.MaxInFlight - inFlight
		})
		require.Len(t, cs, 1)
		require.NotEmpty(t, seen)
		for _, got := range seen {
			assert.Equal(t, "sub_1", got.ID)
			assert.Equal(t, "A", got.Workspace)
			assert.Equal(t, 3, got.MaxInFlight)
			assert.InDelta(t, 2.5, got.RateLimit, 0)
			assert.Equal(t, 7*time.Second, got.Timeout)
		}
	})

	t.Run("Failures", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(newSub("sub_2", "product.created"))
		run := func(sub string, now time.Time) store.FailureRun {
			t.Helper()
			return f.stats(now).Subscriptions[sub].Failing
		}
		claimRun := func(id string, now time.Time) store.FailureRun {
			t.Helper()
			for _, c := range f.claims(now, 100, nil) {
				if c.Delivery.ID == id {
					return c.Failures
				}
			}
			require.Failf(t, "not claimed", "delivery %s not claimed at %s", id, now)
			return store.FailureRun{}
		}
		zero := func(r store.FailureRun, msg string) {
			t.Helper()
			assert.Zero(t, r.Count, msg)
			assert.True(t, r.Since.IsZero(), msg)
		}
		is := func(count int64, since time.Time, r store.FailureRun, msg string) {
			t.Helper()
			assert.Equal(t, count, r.Count, msg)
			sameTime(t, since, r.Since, msg)
		}

		ok := f.emitOne("evt_0", "order.created", t0)
		zero(claimRun(ok, t0), "no attempt yet")
		f.deliver(ok, t0)
		zero(run("sub_1", t0), "a success")

		d := f.emitOne("evt_1", "order.created", at(time.Minute))
		other := f.emitOne("evt_2", "product.created", at(time.Minute))
		f.mustClaim(d, at(time.Minute))
		f.record(retry(d, at(time.Minute), at(2*time.Minute)))
		is(1, at(time.Minute), run("sub_1", at(2*time.Minute)), "one failure")
		is(1, at(time.Minute), claimRun(d, at(2*time.Minute)), "the claim carries the run")
		f.record(retry(d, at(2*time.Minute), at(3*time.Minute)))

		// A failed test attempt is not part of the run.
		test := gaveUp(ok, at(150*time.Second))
		test.Attempt.Test = true
		f.record(test)

		is(2, at(time.Minute), run("sub_1", at(3*time.Minute)), "since the first failure of the run")
		is(2, at(time.Minute), claimRun(d, at(3*time.Minute)), "tests not counted")
		f.deliver(other, at(3*time.Minute))
		zero(run("sub_2", at(3*time.Minute)), "another subscription's run is its own")

		f.deliver(d, at(4*time.Minute))
		zero(run("sub_1", at(4*time.Minute)), "a success ends the run")
		d2 := f.emitOne("evt_3", "order.created", at(5*time.Minute))
		zero(claimRun(d2, at(5*time.Minute)), "a success ends the run")
		f.fail(d2, at(6*time.Minute))
		d3 := f.emitOne("evt_4", "order.created", at(7*time.Minute))
		is(1, at(6*time.Minute), claimRun(d3, at(7*time.Minute)), "a new run")
		is(1, at(6*time.Minute), run("sub_1", at(7*time.Minute)), "a new run")
	})

	t.Run("InactiveAndDeletedNeverClaimed", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(holding(newSub("sub_hold", "order.created"), store.StatusActive))
		f.create(newSub("sub_gone", "product.created"))
		f.create(newSub("sub_ok", "customer.created"))
		held := f.series("evt_h", "order.created", "sub_hold", 2, t0, 0)
		gone := f.series("evt_g", "product.created", "sub_gone", 2, t0, 0)
		ok := f.series("evt_o", "customer.created", "sub_ok", 2, at(time.Second), 0)
		q := capped(nil, 1, nil)
		got, _ := f.claimQ(at(time.Second), 10, q)
		require.ElementsMatch(t, []string{held[0], gone[0], ok[0]}, got, "setup")

		_, err := f.s.UpdateSubscription(f.ctx, "sub_hold", at(2*time.Second), func(s *store.Subscription) error {
			s.Status = store.StatusInactive
			return nil
		})
		require.NoError(t, err)
		require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_gone", at(2*time.Second)))

		// The leases run out while sub_hold is inactive and sub_gone is deleted.
		end := at(time.Second).Add(lease)
		got, _ = f.claimQ(end, 10, fixed(nil, 10))
		assert.Equal(t, []string{ok[1], ok[0]}, got, "only the active subscription's, ok[0] due at its lease end")
		got, _ = f.claimQ(end.Add(time.Minute), 10, nil)
		assert.Empty(t, got)

		_, err = f.s.UpdateSubscription(f.ctx, "sub_hold", end.Add(time.Minute), func(s *store.Subscription) error {
			s.Status = store.StatusActive
			return nil
		})
		require.NoError(t, err)
		got, _ = f.claimQ(end.Add(time.Minute), 10, fixed(nil, 10))
		assert.ElementsMatch(t, held, got, "both are sent once the subscription is active again")
	})
}
