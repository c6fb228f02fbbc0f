package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

func testSubscriptions(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateAndGet", func(t *testing.T) {
		f := newFixture(t, newStore)
		want := newSub("sub_1", "order.created", "order.*")
		want.Format = store.FormatXML
		want.WhileInactive = store.InactiveHold
		want.PreviousSecret = "whsec_old"
		want.PreviousSecretExpiresAt = at(24 * time.Hour)
		f.create(want)
		assert.Equal(t, normSub(want), normSub(f.sub("sub_1")))
	})

	t.Run("EmptyStatusIsActive", func(t *testing.T) {
		f := newFixture(t, newStore)
		s := newSub("sub_1", "order.created")
		s.Status = ""
		f.create(s)
		assert.Equal(t, store.StatusActive, f.sub("sub_1").Status)
		assert.Len(t, f.emit("evt_1", "order.created", t0).Deliveries, 1, "an empty status receives like an active one")
	})

	t.Run("Conflict", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		other := newSub("sub_1", "product.created")
		other.Name = "other"
		err := f.s.CreateSubscription(f.ctx, other)
		require.ErrorIs(t, err, store.ErrConflict)
		assert.Contains(t, err.Error(), "sub_1", "the error names the ID")
		assert.Equal(t, "Hook sub_1", f.sub("sub_1").Name, "the first one stays")
	})

	t.Run("EmptyID", func(t *testing.T) {
		f := newFixture(t, newStore)
		assert.Error(t, f.s.CreateSubscription(f.ctx, newSub("", "order.created")))
	})

	t.Run("NotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		dlv := f.emitOne("evt_1", "order.created", t0)
		checks := map[string]func() error{
			"Subscription": func() error { _, err := f.s.Subscription(f.ctx, "sub_missing"); return err },
			"UpdateSubscription": func() error {
				_, err := f.s.UpdateSubscription(f.ctx, "sub_missing", t0, func(*store.Subscription) error { return nil })
				return err
			},
			"DeleteSubscription": func() error { return f.s.DeleteSubscription(f.ctx, "sub_missing", t0) },
			"Event":              func() error { _, err := f.s.Event(f.ctx, "evt_missing"); return err },
			"Delivery":           func() error { _, err := f.s.Delivery(f.ctx, "dlv_missing"); return err },
			"Redeliver":          func() error { _, err := f.s.Redeliver(f.ctx, "dlv_missing", t0); return err },
			"RecordAttempt": func() error {
				_, err := f.s.RecordAttempt(f.ctx, succeeded("dlv_missing", t0))
				return err
			},
			"DeleteTwice": func() error {
				require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_1", t0))
				return f.s.DeleteSubscription(f.ctx, "sub_1", t0)
			},
		}
		for name, check := range checks {
			t.Run(name, func(t *testing.T) {
				err := check()
				require.ErrorIs(t, err, store.ErrNotFound)
				assert.Regexp(t, `"(sub|evt|dlv)_(missing|1)"`, err.Error(), "the error names the ID")
			})
		}
		assert.Equal(t, store.DeliveryCancelled, f.state(dlv))
	})

	t.Run("Copies", func(t *testing.T) {
		f := newFixture(t, newStore)
		in := newSub("sub_1", "order.created", "order.updated")
		require.NoError(t, f.s.CreateSubscription(f.ctx, in))
		in.Events[0] = "changed"
		in.Headers["Authorization"] = "changed"

		got := f.sub("sub_1")
		assert.Equal(t, []string{"order.created", "order.updated"}, got.Events, "changing the argument changes nothing")
		assert.Equal(t, "Bearer sub_1", got.Headers["Authorization"])
		got.Events[0] = "changed"
		got.Headers["Authorization"] = "changed"

		list, err := f.s.Subscriptions(f.ctx, store.SubscriptionFilter{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		list[0].Events[1] = "changed"

		upd, err := f.s.UpdateSubscription(f.ctx, "sub_1", t0, func(s *store.Subscription) error { return nil })
		require.NoError(t, err)
		upd.Events[0] = "changed"

		again := f.sub("sub_1")
		assert.Equal(t, []string{"order.created", "order.updated"}, again.Events, "changing an answer changes nothing")
		assert.Equal(t, "Bearer sub_1", again.Headers["Authorization"])

		dlv := f.emitOne("evt_1", "order.created", t0)
		ev, err := f.s.Event(f.ctx, "evt_1")
		require.NoError(t, err)
		ev.Data[0] = 'X'
		ev2, err := f.s.Event(f.ctx, "evt_1")
		require.NoError(t, err)
		assert.Equal(t, byte('{'), ev2.Data[0])

		f.mustClaim(dlv, t0)
		d := f.record(retry(dlv, t0, at(time.Minute)))
		d.Attempts[0].StatusCode = 999
		assert.Equal(t, 503, f.delivery(dlv).Attempts[0].StatusCode)
	})

	t.Run("Update", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		calls := 0
		got, err := f.s.UpdateSubscription(f.ctx, "sub_1", at(time.Second), func(s *store.Subscription) error {
			calls++
			s.ID = "sub_other" // ignored: the ID is the key
			s.Name = "Renamed"
			s.Events = []string{"product.created"}
			s.UpdatedAt = at(time.Second)
			return nil
		})
		require.NoError(t, err)
		assert.GreaterOrEqual(t, calls, 1)
		assert.Equal(t, "sub_1", got.ID)
		assert.Equal(t, "Renamed", got.Name)
		stored := f.sub("sub_1")
		assert.Equal(t, normSub(got), normSub(stored))
		sameTime(t, at(time.Second), stored.UpdatedAt)
		_, err = f.s.Subscription(f.ctx, "sub_other")
		assert.ErrorIs(t, err, store.ErrNotFound)

		// The fan-out follows the new event types.
		assert.Empty(t, f.emit("evt_1", "order.created", at(2*time.Second)).Deliveries)
		assert.Len(t, f.emit("evt_2", "product.created", at(2*time.Second)).Deliveries, 1)
	})

	t.Run("UpdateError", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(holding(newSub("sub_1", "order.created"), store.StatusActive))
		dlv := f.emitOne("evt_1", "order.created", t0)
		boom := errors.New("boom")
		_, err := f.s.UpdateSubscription(f.ctx, "sub_1", at(time.Second), func(s *store.Subscription) error {
			s.Name = "Renamed"
			s.Status = store.StatusInactive
			s.Events = []string{"product.created"}
			return boom
		})
		require.ErrorIs(t, err, boom)
		got := f.sub("sub_1")
		assert.Equal(t, "Hook sub_1", got.Name)
		assert.Equal(t, store.StatusActive, got.Status)
		assert.Equal(t, store.DeliveryPending, f.state(dlv), "deliveries are not moved")
		assert.Len(t, f.emit("evt_2", "order.created", at(2*time.Second)).Deliveries, 1, "the fan-out is unchanged")
	})

	t.Run("Delete", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(newSub("sub_1", "order.created"))
		f.create(holding(newSub("sub_2", "order.created"), store.StatusActive))
		ins := f.emit("evt_1", "order.created", t0)
		require.Len(t, ins.Deliveries, 2)
		_, err := f.s.UpdateSubscription(f.ctx, "sub_2", t0, func(s *store.Subscription) error {
			s.Status = store.StatusInactive
			return nil
		})
		require.NoError(t, err)

		require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_1", at(time.Second)))
		require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_2", at(time.Second)))
		for _, id := range []string{"sub_1", "sub_2"} {
			_, err := f.s.Subscription(f.ctx, id)
			assert.ErrorIs(t, err, store.ErrNotFound)
		}
		for _, id := range ins.Deliveries {
			assert.Equal(t, store.DeliveryCancelled, f.state(id), "pending and held deliveries are cancelled")
		}
		list, err := f.s.Subscriptions(f.ctx, store.SubscriptionFilter{})
		require.NoError(t, err)
		assert.Empty(t, list)
		assert.Empty(t, f.claim(at(time.Second)))
		assert.Empty(t, f.emit("evt_2", "order.created", at(2*time.Second)).Deliveries, "no fan-out to a deleted subscription")
		assert.Equal(t, ins.Deliveries, reversed(f.deliveries(store.DeliveryQuery{EventID: "evt_1"})), "the log keeps them")

		// The ID is free again.
		f.create(newSub("sub_1", "product.created"))
		assert.Len(t, f.emit("evt_3", "product.created", at(3*time.Second)).Deliveries, 1)
	})

	t.Run("OldestFirst", func(t *testing.T) {
		f := newFixture(t, newStore)
		// IDs in an order that is neither sorted nor reverse-sorted.
		ids := []string{"sub_m", "sub_a", "sub_z", "sub_b"}
		for _, id := range ids {
			f.create(newSub(id, "order.created"))
		}
		list, err := f.s.Subscriptions(f.ctx, store.SubscriptionFilter{})
		require.NoError(t, err)
		assert.Equal(t, ids, subIDs(list))
	})

	t.Run("Filter", func(t *testing.T) {
		f := newFixture(t, newStore)
		a := newSub("sub_a", "order.created", "order.updated")
		a.Name, a.URL = "Orders ERP", "https://erp.example.com/hooks"
		b := newSub("sub_b", "product.*")
		b.Name, b.URL = "Inventory", "https://stock.example.net/in"
		c := newSub("sub_c", "*")
		c.Name, c.URL, c.Status = "Everything", "https://all.example.org/x", store.StatusInactive
		d := newSub("sub_d", "customer.created", "payment.completed")
		d.Name, d.URL = "Customer CRM", "https://crm.example.com/c"
		for _, s := range []store.Subscription{a, b, c, d} {
			f.create(s)
		}
		tests := []struct {
			name   string
			filter store.SubscriptionFilter
			want   []string
		}{
			{"all", store.SubscriptionFilter{}, []string{"sub_a", "sub_b", "sub_c", "sub_d"}},
			{"resource order", store.SubscriptionFilter{Resource: "order"}, []string{"sub_a", "sub_c"}},
			{"resource product", store.SubscriptionFilter{Resource: "product"}, []string{"sub_b", "sub_c"}},
			{"resource shipping", store.SubscriptionFilter{Resource: "shipping"}, []string{"sub_c"}},
			{"action created", store.SubscriptionFilter{Event: "created"}, []string{"sub_a", "sub_b", "sub_c", "sub_d"}},
			{"action updated", store.SubscriptionFilter{Event: "updated"}, []string{"sub_a", "sub_b", "sub_c"}},
			{"action completed", store.SubscriptionFilter{Event: "completed"}, []string{"sub_b", "sub_c", "sub_d"}},
			{"full name", store.SubscriptionFilter{Event: "order.updated"}, []string{"sub_a", "sub_c"}},
			{"full name wildcard", store.SubscriptionFilter{Event: "product.deleted"}, []string{"sub_b", "sub_c"}},
			{"full name none", store.SubscriptionFilter{Event: "shipping.delivered"}, []string{"sub_c"}},
			{"url", store.SubscriptionFilter{URL: "example.com"}, []string{"sub_a", "sub_d"}},
			{"status inactive", store.SubscriptionFilter{Status: store.StatusInactive}, []string{"sub_c"}},
			{"status active", store.SubscriptionFilter{Status: store.StatusActive}, []string{"sub_a", "sub_b", "sub_d"}},
			{"query name", store.SubscriptionFilter{Query: "crm"}, []string{"sub_d"}},
			{"query url", store.SubscriptionFilter{Query: "STOCK.example"}, []string{"sub_b"}},
			{"query both", store.SubscriptionFilter{Query: "e"}, []string{"sub_a", "sub_b", "sub_c", "sub_d"}},
			{"combined", store.SubscriptionFilter{Resource: "order", Status: store.StatusActive}, []string{"sub_a"}},
			{"none", store.SubscriptionFilter{Query: "nothing like this"}, []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := f.s.Subscriptions(f.ctx, tt.filter)
				require.NoError(t, err)
				assert.Equal(t, tt.want, subIDs(got))
			})
		}
	})
}

func reversed(s []string) []string {
	out := make([]string, 0, len(s))
	for i := len(s) - 1; i >= 0; i-- {
		out = append(out, s[i])
	}
	return out
}
