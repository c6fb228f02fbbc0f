package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

func testDeliveries(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Queries", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.*"))
		f.create(newSub("sub_2", "order.created"))
		d1a := f.emitFor("evt_1", "order.created", t0, "sub_1")
		d1b := otherOf(f.deliveries(store.DeliveryQuery{EventID: "evt_1"}), d1a)
		d2a := f.emitOne("evt_2", "order.updated", at(time.Second))
		d3a := f.emitFor("evt_3", "order.created", at(2*time.Second), "sub_1")
		d3b := otherOf(f.deliveries(store.DeliveryQuery{EventID: "evt_3"}), d3a)
		f.deliver(d2a, at(3*time.Second))

		all := f.deliveries(store.DeliveryQuery{})
		require.Len(t, all, 5)
		assert.ElementsMatch(t, []string{d3a, d3b}, all[0:2], "newest first")
		assert.Equal(t, d2a, all[2])
		assert.ElementsMatch(t, []string{d1a, d1b}, all[3:5])

		tests := []struct {
			name string
			q    store.DeliveryQuery
			want []string
		}{
			{"subscription", store.DeliveryQuery{SubscriptionID: "sub_1"}, []string{d3a, d2a, d1a}},
			{"subscription 2", store.DeliveryQuery{SubscriptionID: "sub_2"}, []string{d3b, d1b}},
			{"event and subscription", store.DeliveryQuery{EventID: "evt_1", SubscriptionID: "sub_2"}, []string{d1b}},
			{"event", store.DeliveryQuery{EventID: "evt_2"}, []string{d2a}},
			{"state", store.DeliveryQuery{State: store.DeliverySucceeded}, []string{d2a}},
			{"state and subscription", store.DeliveryQuery{State: store.DeliveryPending, SubscriptionID: "sub_2"}, []string{d3b, d1b}},
			{"limit", store.DeliveryQuery{SubscriptionID: "sub_1", Limit: 2}, []string{d3a, d2a}},
			{"before", store.DeliveryQuery{SubscriptionID: "sub_1", Before: d3a}, []string{d2a, d1a}},
			{"before last", store.DeliveryQuery{SubscriptionID: "sub_1", Before: d1a}, []string{}},
			{"unknown subscription", store.DeliveryQuery{SubscriptionID: "sub_none"}, []string{}},
			{"unknown event", store.DeliveryQuery{EventID: "evt_none"}, []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				assert.Equal(t, tt.want, f.deliveries(tt.q))
			})
		}

		ds, err := f.s.Deliveries(f.ctx, store.DeliveryQuery{EventID: "evt_2"})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Equal(t, store.DeliverySucceeded, ds[0].State)
		assert.Len(t, ds[0].Attempts, 1, "the log carries the attempts")
		assert.Equal(t, "sub_1", ds[0].SubscriptionID)
		assert.Equal(t, "order.updated", ds[0].EventType)
	})

	t.Run("Paging", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(newSub("sub_2", "order.*"))
		for i := range 12 {
			typ := "order.created"
			if i%3 == 0 {
				typ = "order.updated"
			}
			f.emit(fmt.Sprintf("evt_%02d", i), typ, at(time.Duration(i)*time.Second))
		}
		for _, q := range []store.DeliveryQuery{{}, {SubscriptionID: "sub_1"}, {SubscriptionID: "sub_2"}, {State: store.DeliveryPending}} {
			want := f.deliveries(store.DeliveryQuery{SubscriptionID: q.SubscriptionID, State: q.State, Limit: 1000})
			require.NotEmpty(t, want)
			for _, size := range []int{1, 2, 5, 7} {
				var got []string
				q := q
				q.Limit = size
				for page := 0; ; page++ {
					require.Less(t, page, 100, "paging does not end")
					ids := f.deliveries(q)
					assert.LessOrEqual(t, len(ids), size)
					if len(ids) == 0 {
						break
					}
					got = append(got, ids...)
					q.Before = ids[len(ids)-1]
				}
				assert.Equal(t, want, got, "pages of %d of %+v cover everything once, in order", size, q)
			}
		}
	})

	t.Run("DefaultLimit", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		for i := range store.DefaultLimit + 1 {
			f.emit(fmt.Sprintf("evt_%03d", i), "order.created", t0)
		}
		assert.Len(t, f.deliveries(store.DeliveryQuery{}), store.DefaultLimit)
		assert.Len(t, f.deliveries(store.DeliveryQuery{Limit: store.DefaultLimit + 10}), store.DefaultLimit+1)
	})
}

// otherOf returns the one ID of ids that is not id.
func otherOf(ids []string, id string) string {
	for _, x := range ids {
		if x != id {
			return x
		}
	}
	return ""
}

func testStats(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Empty", func(t *testing.T) {
		f := newFixture(t, newStore)
		st := f.stats(t0)
		assert.Zero(t, st.Overall.Attempts)
		assert.Zero(t, st.Overall.SuccessRate)
		assert.Zero(t, st.Overall.Pending)
		assert.Zero(t, st.Overall.OldestPendingAge)
		assert.Empty(t, st.Subscriptions)
	})

	t.Run("Queue", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(holding(newSub("sub_2", "order.created"), store.StatusInactive))
		f.create(newSub("sub_3", "product.created"))
		a := f.emitFor("evt_a", "order.created", t0, "sub_1")
		b := f.emitFor("evt_b", "order.created", at(time.Minute), "sub_1")
		c := f.emitOne("evt_c", "product.created", at(2*time.Minute))

		st := f.stats(at(5 * time.Minute))
		require.Contains(t, st.Subscriptions, "sub_1")
		require.Contains(t, st.Subscriptions, "sub_2")
		require.Contains(t, st.Subscriptions, "sub_3")
		assert.Equal(t, int64(2), st.Subscriptions["sub_1"].Pending)
		assert.Equal(t, int64(2), st.Subscriptions["sub_2"].Held)
		assert.Zero(t, st.Subscriptions["sub_2"].Pending)
		assert.Zero(t, st.Subscriptions["sub_2"].OldestPendingAge, "held is not pending")
		assert.Equal(t, int64(1), st.Subscriptions["sub_3"].Pending)
		assert.Equal(t, int64(3), st.Overall.Pending)
		assert.Equal(t, int64(2), st.Overall.Held)
		assert.Equal(t, 5*time.Minute, st.Overall.OldestPendingAge)
		assert.Equal(t, 5*time.Minute, st.Subscriptions["sub_1"].OldestPendingAge)
		assert.Equal(t, 3*time.Minute, st.Subscriptions["sub_3"].OldestPendingAge)
		assert.Zero(t, st.Subscriptions["sub_3"].Attempts, "no attempts yet")

		f.mustClaim(a, at(5*time.Minute))
		st = f.stats(at(6 * time.Minute))
		assert.Equal(t, 6*time.Minute, st.Overall.OldestPendingAge, "in flight is still pending")
		assert.Equal(t, int64(3), st.Overall.Pending)

		f.record(succeeded(a, at(6*time.Minute)))
		st = f.stats(at(6 * time.Minute))
		assert.Equal(t, 5*time.Minute, st.Overall.OldestPendingAge)
		assert.Equal(t, int64(1), st.Subscriptions["sub_1"].Pending)

		f.deliver(b, at(7*time.Minute))
		f.deliver(c, at(7*time.Minute))
		st = f.stats(at(8 * time.Minute))
		assert.Zero(t, st.Overall.Pending)
		assert.Zero(t, st.Overall.OldestPendingAge)
		assert.Equal(t, int64(3), st.Overall.Attempts)
		assert.Equal(t, int64(2), st.Overall.Held)
	})
}

func testPrune(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("ByAge", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(holding(newSub("sub_h", "order.updated"), store.StatusInactive))
		old := f.emitOne("evt_old", "order.created", t0)
		oldFailed := f.emitOne("evt_old_failed", "order.created", t0)
		recent := f.emitOne("evt_recent", "order.created", t0)
		pending := f.emitOne("evt_pending", "order.created", t0)
		held := f.emitOne("evt_held", "order.updated", t0)
		f.deliver(old, at(time.Minute))
		f.fail(oldFailed, at(2*time.Minute))
		f.mustClaim(recent, at(3*time.Minute))
		f.record(retry(recent, at(3*time.Minute), at(4*time.Minute)))
		f.deliver(recent, at(10*time.Minute))
		before := f.stats(at(time.Hour))

		n, err := f.s.Prune(f.ctx, store.PruneRequest{Before: at(5 * time.Minute)})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		for _, id := range []string{old, oldFailed} {
			_, err := f.s.Delivery(f.ctx, id)
			assert.ErrorIs(t, err, store.ErrNotFound, "pruned")
		}
		for _, id := range []string{"evt_old", "evt_old_failed"} {
			_, err := f.s.Event(f.ctx, id)
			assert.ErrorIs(t, err, store.ErrNotFound, "an event goes with its last delivery")
		}
		assert.ElementsMatch(t, []string{recent, pending, held}, f.deliveries(store.DeliveryQuery{}))
		assert.Equal(t, []string{pending, recent}, f.deliveries(store.DeliveryQuery{SubscriptionID: "sub_1"}))
		assert.Empty(t, f.deliveries(store.DeliveryQuery{EventID: "evt_old"}))

		n, err = f.s.Prune(f.ctx, store.PruneRequest{Before: at(1000 * time.Hour)})
		require.NoError(t, err)
		assert.Equal(t, 1, n, "recent goes when it is old enough")
		assert.ElementsMatch(t, []string{pending, held}, f.deliveries(store.DeliveryQuery{}), "pending and held stay")
		for _, id := range []string{"evt_pending", "evt_held"} {
			_, err := f.s.Event(f.ctx, id)
			assert.NoError(t, err, "events of open deliveries stay")
		}
		f.mustClaim(pending, at(time.Hour))

		after := f.stats(at(time.Hour))
		assert.Equal(t, before.Overall.Attempts, after.Overall.Attempts, "the figures do not come from the log")
		assert.Equal(t, before.Subscriptions["sub_1"].DeliveriesSucceeded, after.Subscriptions["sub_1"].DeliveriesSucceeded)
		assert.Equal(t, int64(1), after.Overall.Held)
	})

	t.Run("SharedEvent", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(newSub("sub_2", "order.created"))
		a := f.emitFor("evt_1", "order.created", t0, "sub_1")
		f.deliver(a, t0)
		n, err := f.s.Prune(f.ctx, store.PruneRequest{Before: at(time.Hour)})
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		_, err = f.s.Event(f.ctx, "evt_1")
		assert.NoError(t, err, "the other delivery still refers to it")
		assert.Len(t, f.claim(t0), 1, "and can be sent")
	})

	t.Run("KeepPerSubscription", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_a", "order.created"))
		f.create(newSub("sub_b", "product.created"))
		f.create(newSub("sub_c", "customer.created"))
		var as, cs []string
		for i := range 5 {
			id := f.emitOne(fmt.Sprintf("evt_a%d", i), "order.created", at(time.Duration(i)*time.Second))
			f.deliver(id, at(time.Duration(i)*time.Second))
			as = append(as, id)
		}
		pendingA := f.emitOne("evt_a_pending", "order.created", at(time.Minute))
		for i := range 2 {
			f.deliver(f.emitOne(fmt.Sprintf("evt_b%d", i), "product.created", t0), t0)
		}
		for i := range 3 {
			cs = append(cs, f.emitOne(fmt.Sprintf("evt_c%d", i), "customer.created", at(time.Duration(i)*time.Second)))
		}
		f.deliver(cs[0], t0)
		require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_c", at(time.Minute))) // cancels cs[1:]

		n, err := f.s.Prune(f.ctx, store.PruneRequest{KeepPerSubscription: 3})
		require.NoError(t, err)
		assert.Equal(t, 2, n, "the two oldest of sub_a")
		assert.Equal(t, []string{pendingA, as[4], as[3], as[2]}, f.deliveries(store.DeliveryQuery{SubscriptionID: "sub_a"}))
		assert.Len(t, f.deliveries(store.DeliveryQuery{SubscriptionID: "sub_b"}), 2)
		assert.Len(t, f.deliveries(store.DeliveryQuery{SubscriptionID: "sub_c"}), 3)

		n, err = f.s.Prune(f.ctx, store.PruneRequest{KeepPerSubscription: 1})
		require.NoError(t, err)
		assert.Equal(t, 2+1+2, n, "deleted subscriptions' logs are capped too")
		assert.Equal(t, []string{pendingA, as[4]}, f.deliveries(store.DeliveryQuery{SubscriptionID: "sub_a"}))
		assert.Equal(t, []string{cs[2]}, f.deliveries(store.DeliveryQuery{SubscriptionID: "sub_c"}))
		_, err = f.s.Event(f.ctx, "evt_a0")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("Limit", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		for i := range 5 {
			f.deliver(f.emitOne(fmt.Sprintf("evt_%d", i), "order.created", t0), t0)
		}
		var got []int
		for range 4 {
			n, err := f.s.Prune(f.ctx, store.PruneRequest{Before: at(time.Hour), Limit: 2})
			require.NoError(t, err)
			got = append(got, n)
		}
		assert.Equal(t, []int{2, 2, 1, 0}, got)
		assert.Empty(t, f.deliveries(store.DeliveryQuery{}))

		for i := range 4 {
			f.deliver(f.emitOne(fmt.Sprintf("evt_k%d", i), "order.created", t0), t0)
		}
		n, err := f.s.Prune(f.ctx, store.PruneRequest{KeepPerSubscription: 1, Limit: 2})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Len(t, f.deliveries(store.DeliveryQuery{}), 2)
	})

	t.Run("NeverOpen", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(holding(newSub("sub_2", "order.created"), store.StatusInactive))
		ins := f.emit("evt_1", "order.created", t0)
		n, err := f.s.Prune(f.ctx, store.PruneRequest{Before: at(1000 * time.Hour), KeepPerSubscription: 1})
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.ElementsMatch(t, ins.Deliveries, f.deliveries(store.DeliveryQuery{}))
		_, err = f.s.Event(f.ctx, "evt_1")
		assert.NoError(t, err)
	})

	t.Run("EventsWithoutDeliveries", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.emit("evt_old", "order.created", t0)
		f.emit("evt_new", "order.created", at(2*time.Hour))

		n, err := f.s.Prune(f.ctx, store.PruneRequest{KeepPerSubscription: 1})
		require.NoError(t, err)
		assert.Zero(t, n)
		_, err = f.s.Event(f.ctx, "evt_old")
		assert.NoError(t, err, "without a cut-off, an event that never had a delivery stays")

		n, err = f.s.Prune(f.ctx, store.PruneRequest{Before: at(time.Hour)})
		require.NoError(t, err)
		assert.Zero(t, n)
		_, err = f.s.Event(f.ctx, "evt_old")
		assert.ErrorIs(t, err, store.ErrNotFound, "removed once older than the cut-off")
		_, err = f.s.Event(f.ctx, "evt_new")
		assert.NoError(t, err, "newer ones stay")
	})
}
