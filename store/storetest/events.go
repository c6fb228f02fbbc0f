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

func testInsertEvent(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("FanOut", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_exact", "order.created"))
		f.create(newSub("sub_res", "order.*"))
		f.create(newSub("sub_all", "*"))
		f.create(newSub("sub_both", "order.created", "order.*", "*")) // one delivery, not three
		f.create(newSub("sub_other", "product.created", "order.updated", "orders.*"))
		f.create(holding(newSub("sub_hold", "order.created"), store.StatusInactive))
		discard := newSub("sub_discard", "order.*")
		discard.Status = store.StatusInactive
		f.create(discard)

		now := at(42 * time.Second)
		ev := newEvent("evt_1", "order.created", t0)
		ev.Data = []byte(`{"id": "evt_1",   "note": "spaces are kept"}`)
		ins, err := f.s.InsertEvent(f.ctx, ev, now)
		require.NoError(t, err)
		assert.True(t, ins.Created)
		assert.Equal(t, normEvent(ev), normEvent(ins.Event))
		assert.Equal(t, 4, ins.Pending)
		assert.Equal(t, 1, ins.Held)
		require.Len(t, ins.Deliveries, 5)

		stored, err := f.s.Event(f.ctx, "evt_1")
		require.NoError(t, err)
		assert.Equal(t, normEvent(ev), normEvent(stored), "the event is stored byte for byte")

		bySub := map[string]store.Delivery{}
		seen := map[string]bool{}
		for _, id := range ins.Deliveries {
			assert.False(t, seen[id], "delivery IDs are unique")
			seen[id] = true
			d := f.delivery(id)
			assert.Equal(t, id, d.ID)
			assert.Equal(t, "evt_1", d.EventID)
			assert.Equal(t, "order.created", d.EventType)
			assert.Empty(t, d.Attempts)
			assert.False(t, d.Test)
			assert.True(t, d.LeasedUntil.IsZero())
			sameTime(t, now, d.CreatedAt)
			bySub[d.SubscriptionID] = d
		}
		require.Len(t, bySub, 5, "one delivery per subscription")
		for _, sub := range []string{"sub_exact", "sub_res", "sub_all", "sub_both"} {
			d := bySub[sub]
			assert.Equal(t, store.DeliveryPending, d.State, sub)
			sameTime(t, now, d.NextAttemptAt, sub)
		}
		assert.Equal(t, store.DeliveryHeld, bySub["sub_hold"].State)
		assert.True(t, bySub["sub_hold"].NextAttemptAt.IsZero(), "held deliveries are not scheduled")
		assert.NotContains(t, bySub, "sub_other")
		assert.NotContains(t, bySub, "sub_discard")

		// Another resource: only "*".
		var subs []string
		for _, id := range f.emit("evt_2", "product.updated", now).Deliveries {
			subs = append(subs, f.delivery(id).SubscriptionID)
		}
		assert.ElementsMatch(t, []string{"sub_all", "sub_both"}, subs)
		ins3 := f.emit("evt_3", "order.updated", now)
		assert.Len(t, ins3.Deliveries, 4, "exact, order.*, * and both")
	})

	t.Run("NoSubscribers", func(t *testing.T) {
		f := newFixture(t, newStore)
		ins := f.emit("evt_1", "order.created", t0)
		assert.Empty(t, ins.Deliveries)
		assert.Zero(t, ins.Pending)
		_, err := f.s.Event(f.ctx, "evt_1")
		assert.NoError(t, err, "the event is stored all the same")
		_, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("Idempotent", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "*"))
		first := f.emit("evt_1", "order.created", t0)
		again := newEvent("evt_1", "product.deleted", at(time.Second))
		again.Data = []byte(`{"other":true}`)
		ins, err := f.s.InsertEvent(f.ctx, again, at(time.Second))
		require.NoError(t, err)
		assert.False(t, ins.Created)
		assert.Empty(t, ins.Deliveries)
		assert.Zero(t, ins.Pending+ins.Held)
		assert.Equal(t, normEvent(first.Event), normEvent(ins.Event), "the stored event, not the new one")
		assert.Len(t, f.deliveries(store.DeliveryQuery{}), 1, "nothing created")
		assert.Len(t, f.claim(at(time.Second)), 1)
	})

	t.Run("IdempotentConcurrent", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "*"))
		const n = 16
		var wg sync.WaitGroup
		created := make(chan bool, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ins, err := f.s.InsertEvent(f.ctx, newEvent("evt_1", "order.created", t0), at(time.Duration(i)*time.Second))
				assert.NoError(t, err)
				created <- ins.Created
			}()
		}
		wg.Wait()
		close(created)
		count := 0
		for c := range created {
			if c {
				count++
			}
		}
		assert.Equal(t, 1, count, "exactly one insert creates the event")
		assert.Len(t, f.deliveries(store.DeliveryQuery{}), 1)
	})

	t.Run("Concurrent", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.*"))
		f.create(newSub("sub_2", "order.created"))
		const writers, each = 8, 25
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					ins, err := f.s.InsertEvent(f.ctx, newEvent(fmt.Sprintf("evt_%d_%d", w, i), "order.created", t0), t0)
					if assert.NoError(t, err) {
						assert.Len(t, ins.Deliveries, 2)
					}
				}
			}()
		}
		wg.Wait()
		assert.Len(t, f.deliveries(store.DeliveryQuery{Limit: 1000}), 2*writers*each)
		assert.Equal(t, int64(2*writers*each), f.stats(t0).Overall.Pending)
	})

	t.Run("EmptyID", func(t *testing.T) {
		f := newFixture(t, newStore)
		_, err := f.s.InsertEvent(f.ctx, newEvent("", "order.created", t0), t0)
		assert.Error(t, err)
	})
}

func testRecordTest(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("InLog", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(newSub("sub_2", "*"))
		ev := newEvent("evt_test", "order.created", t0)
		a := succeeded("", at(time.Second)).Attempt
		a.Test = true
		d := store.Delivery{
			ID: "dlv_test", EventID: ev.ID, SubscriptionID: "sub_1", EventType: ev.Type,
			State: store.DeliverySucceeded, Attempts: []store.Attempt{a},
			CreatedAt: at(time.Second), UpdatedAt: at(2 * time.Second),
		}
		require.NoError(t, f.s.RecordTest(f.ctx, ev, d))

		got := f.delivery("dlv_test")
		assert.True(t, got.Test)
		assert.Equal(t, store.DeliverySucceeded, got.State)
		assert.Equal(t, "sub_1", got.SubscriptionID)
		require.Len(t, got.Attempts, 1)
		assert.Equal(t, 200, got.Attempts[0].StatusCode)
		assert.Equal(t, []string{"dlv_test"}, f.deliveries(store.DeliveryQuery{SubscriptionID: "sub_1"}))
		assert.Equal(t, []string{"dlv_test"}, f.deliveries(store.DeliveryQuery{EventID: "evt_test"}), "no fan-out")
		assert.Empty(t, f.deliveries(store.DeliveryQuery{SubscriptionID: "sub_2"}))
		_, err := f.s.Event(f.ctx, "evt_test")
		assert.NoError(t, err, "the event is stored")
		assert.Empty(t, f.claim(at(10*time.Minute)), "nothing to send")
		_, ok, err := f.s.NextDue(f.ctx)
		require.NoError(t, err)
		assert.False(t, ok)

		st := f.stats(at(time.Second))
		assert.Zero(t, st.Overall.Attempts, "tests are not in the figures")
		assert.Zero(t, st.Subscriptions["sub_1"].Attempts)

		require.ErrorIs(t, f.s.RecordTest(f.ctx, ev, d), store.ErrConflict, "a delivery ID is used once")
	})

	t.Run("Defaults", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		ev := newEvent("evt_test", "order.created", t0)
		d := store.Delivery{SubscriptionID: "sub_1", EventType: ev.Type, State: store.DeliveryFailed, CreatedAt: t0, UpdatedAt: t0}
		require.NoError(t, f.s.RecordTest(f.ctx, ev, d))
		ds, err := f.s.Deliveries(f.ctx, store.DeliveryQuery{})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.NotEmpty(t, ds[0].ID, "an ID is assigned")
		assert.Equal(t, "evt_test", ds[0].EventID)
		assert.True(t, ds[0].Test)
	})

	t.Run("ExistingEvent", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		ev := newEvent("evt_1", "order.created", t0)
		ev.Data = []byte(`{"replaced":true}`)
		d := store.Delivery{ID: "dlv_test", SubscriptionID: "sub_1", EventType: ev.Type, State: store.DeliverySucceeded, CreatedAt: t0, UpdatedAt: t0}
		require.NoError(t, f.s.RecordTest(f.ctx, ev, d))
		stored, err := f.s.Event(f.ctx, "evt_1")
		require.NoError(t, err)
		assert.NotContains(t, string(stored.Data), "replaced", "an existing event is kept")
		assert.Equal(t, []string{"dlv_test", dlv}, f.deliveries(store.DeliveryQuery{EventID: "evt_1"}))
	})

	t.Run("Unfinished", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		ev := newEvent("evt_test", "order.created", t0)
		d := store.Delivery{ID: "dlv_test", SubscriptionID: "sub_1", EventType: ev.Type, State: store.DeliveryPending, NextAttemptAt: t0}
		assert.Error(t, f.s.RecordTest(f.ctx, ev, d), "a test delivery must be finished")
		assert.Empty(t, f.claim(at(time.Second)))
	})
}
