package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// inWS is newSub in workspace ws.
func inWS(ws string, s store.Subscription) store.Subscription {
	s.Workspace = ws
	return s
}

// emitIn inserts a new event of type typ in workspace ws at now and returns the answer.
func (f *fixture) emitIn(ws, id, typ string, now time.Time) store.Inserted {
	f.t.Helper()
	ev := newEvent(id, typ, now)
	ev.Workspace = ws
	ins, err := f.s.InsertEvent(f.ctx, ev, now)
	require.NoError(f.t, err)
	require.True(f.t, ins.Created, "event %s not created", id)
	return ins
}

// subsOf answers the IDs of the subscriptions of the deliveries ids.
func (f *fixture) subsOf(ids []string) []string {
	f.t.Helper()
	out := []string{}
	for _, id := range ids {
		out = append(out, f.delivery(id).SubscriptionID)
	}
	return out
}

func (f *fixture) statsIn(ws string, now time.Time) store.Stats {
	f.t.Helper()
	st, err := f.s.Stats(f.ctx, ws, now)
	require.NoError(f.t, err)
	return st
}

// allDeliveries answers every delivery of the store, newest first.
func (f *fixture) allDeliveries() []store.Delivery {
	f.t.Helper()
	ds, err := f.s.Deliveries(f.ctx, store.DeliveryQuery{Limit: 100000})
	require.NoError(f.t, err)
	return ds
}

func testWorkspaces(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("FanOut", func(t *testing.T) {
		f := newFixture(t, newStore)
		// Identical subscriptions in A, B and the default workspace.
		f.create(inWS("A", newSub("sub_a", "order.created")))
		f.create(inWS("B", newSub("sub_b", "order.created")))
		f.create(newSub("sub_d", "order.created"))
		f.create(inWS("A", holding(newSub("sub_a_hold", "order.*"), store.StatusInactive)))
		f.create(inWS("B", holding(newSub("sub_b_hold", "order.*"), store.StatusInactive)))
		f.create(inWS("B", newSub("sub_b_all", "*")))

		insA := f.emitIn("A", "evt_a", "order.created", t0)
		assert.Equal(t, "A", insA.Event.Workspace)
		assert.Equal(t, 1, insA.Pending)
		assert.Equal(t, 1, insA.Held)
		assert.ElementsMatch(t, []string{"sub_a", "sub_a_hold"}, f.subsOf(insA.Deliveries), "only A's subscriptions")
		for _, id := range insA.Deliveries {
			assert.Equal(t, "A", f.delivery(id).Workspace, "a delivery is in its event's workspace")
		}

		insB := f.emitIn("B", "evt_b", "order.created", t0)
		assert.ElementsMatch(t, []string{"sub_b", "sub_b_hold", "sub_b_all"}, f.subsOf(insB.Deliveries), "only B's subscriptions")
		for _, id := range insB.Deliveries {
			assert.Equal(t, "B", f.delivery(id).Workspace)
		}

		insD := f.emitIn("", "evt_d", "order.created", t0)
		assert.Equal(t, []string{"sub_d"}, f.subsOf(insD.Deliveries), "the default workspace is a workspace of its own")
		assert.Equal(t, "", f.delivery(insD.Deliveries[0]).Workspace)

		assert.Empty(t, f.emitIn("C", "evt_c", "order.created", t0).Deliveries, "a workspace without subscriptions")

		for id, ws := range map[string]string{"evt_a": "A", "evt_b": "B", "evt_d": "", "evt_c": "C"} {
			ev, err := f.s.Event(f.ctx, id)
			require.NoError(t, err)
			assert.Equal(t, ws, ev.Workspace, "event %s keeps its workspace", id)
		}

		// The same ID in another workspace is the existing event: the caller sees its
		// workspace and can refuse it.
		again := newEvent("evt_a", "order.created", t0)
		again.Workspace = "B"
		ins, err := f.s.InsertEvent(f.ctx, again, at(time.Second))
		require.NoError(t, err)
		assert.False(t, ins.Created)
		assert.Equal(t, "A", ins.Event.Workspace)
		assert.Empty(t, ins.Deliveries)

		// Claims carry the workspace on all three parts.
		cs := f.claim(at(time.Second))
		require.Len(t, cs, 4, "sub_a, sub_b, sub_b_all, sub_d")
		for _, c := range cs {
			assert.Equal(t, c.Event.Workspace, c.Delivery.Workspace)
			assert.Equal(t, c.Subscription.Workspace, c.Delivery.Workspace)
		}
	})

	t.Run("Subscriptions", func(t *testing.T) {
		f := newFixture(t, newStore)
		erp := map[string]string{"integration": "erp", "env": "prod"}
		mk := func(ws, id string, events []string, name, url string, status store.Status, md map[string]string) {
			s := inWS(ws, newSub(id, events...))
			s.Name, s.URL, s.Status, s.Metadata = name, url, status, md
			f.create(s)
		}
		// Interleaved over the workspaces, so that "oldest first" is tested in each.
		mk("A", "sub_a_orders", []string{"order.*"}, "Orders ERP", "https://erp.example.com/a", store.StatusActive, erp)
		mk("B", "sub_b_orders", []string{"order.*"}, "Orders ERP", "https://erp.example.com/b", store.StatusActive, map[string]string{"integration": "erp", "env": "staging"})
		mk("", "sub_d_orders", []string{"order.*"}, "Orders ERP", "https://erp.example.com/d", store.StatusActive, erp)
		mk("A", "sub_a_stock", []string{"product.created"}, "Stock", "https://stock.example.net/a", store.StatusInactive, map[string]string{"integration": "stock"})
		mk("B", "sub_b_stock", []string{"product.created"}, "Stock", "https://stock.example.net/b", store.StatusInactive, nil)
		mk("A", "sub_a_all", []string{"*"}, "Everything", "https://all.example.org/a", store.StatusActive, map[string]string{"integration": "erp", "env": "dev"})

		got := f.sub("sub_a_orders")
		assert.Equal(t, "A", got.Workspace)
		assert.Equal(t, erp, got.Metadata, "metadata stored as given")

		tests := []struct {
			name   string
			filter store.SubscriptionFilter
			want   []string
		}{
			{"every workspace", store.SubscriptionFilter{}, []string{"sub_a_orders", "sub_b_orders", "sub_d_orders", "sub_a_stock", "sub_b_stock", "sub_a_all"}},
			{"A", store.SubscriptionFilter{Workspace: "A"}, []string{"sub_a_orders", "sub_a_stock", "sub_a_all"}},
			{"B", store.SubscriptionFilter{Workspace: "B"}, []string{"sub_b_orders", "sub_b_stock"}},
			{"unknown workspace", store.SubscriptionFilter{Workspace: "C"}, []string{}},
			{"A resource", store.SubscriptionFilter{Workspace: "A", Resource: "order"}, []string{"sub_a_orders", "sub_a_all"}},
			{"B resource", store.SubscriptionFilter{Workspace: "B", Resource: "order"}, []string{"sub_b_orders"}},
			{"A event", store.SubscriptionFilter{Workspace: "A", Event: "product.created"}, []string{"sub_a_stock", "sub_a_all"}},
			{"A action", store.SubscriptionFilter{Workspace: "A", Event: "updated"}, []string{"sub_a_orders", "sub_a_all"}},
			{"A url", store.SubscriptionFilter{Workspace: "A", URL: "example.com"}, []string{"sub_a_orders"}},
			{"B url", store.SubscriptionFilter{Workspace: "B", URL: "erp.example"}, []string{"sub_b_orders"}},
			{"A status", store.SubscriptionFilter{Workspace: "A", Status: store.StatusInactive}, []string{"sub_a_stock"}},
			{"B status", store.SubscriptionFilter{Workspace: "B", Status: store.StatusActive}, []string{"sub_b_orders"}},
			{"A query", store.SubscriptionFilter{Workspace: "A", Query: "STOCK"}, []string{"sub_a_stock"}},
			{"metadata one pair", store.SubscriptionFilter{Metadata: map[string]string{"integration": "erp"}}, []string{"sub_a_orders", "sub_b_orders", "sub_d_orders", "sub_a_all"}},
			{"metadata two pairs", store.SubscriptionFilter{Metadata: map[string]string{"integration": "erp", "env": "prod"}}, []string{"sub_a_orders", "sub_d_orders"}},
			{"metadata and workspace", store.SubscriptionFilter{Workspace: "A", Metadata: map[string]string{"integration": "erp"}}, []string{"sub_a_orders", "sub_a_all"}},
			{"metadata all pairs must match", store.SubscriptionFilter{Workspace: "A", Metadata: map[string]string{"integration": "erp", "env": "staging"}}, []string{}},
			{"metadata other value", store.SubscriptionFilter{Metadata: map[string]string{"integration": "ERP"}}, []string{}},
			{"metadata missing key", store.SubscriptionFilter{Metadata: map[string]string{"owner": ""}}, []string{}},
			{"metadata and other fields", store.SubscriptionFilter{Workspace: "B", Metadata: map[string]string{"integration": "erp"}, Resource: "order", Status: store.StatusActive, Query: "erp"}, []string{"sub_b_orders"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := f.s.Subscriptions(f.ctx, tt.filter)
				require.NoError(t, err)
				assert.Equal(t, tt.want, subIDs(got))
				for _, s := range got {
					if tt.filter.Workspace != "" {
						assert.Equal(t, tt.filter.Workspace, s.Workspace)
					}
				}
			})
		}

		// Metadata changes with an update, and the filter follows.
		_, err := f.s.UpdateSubscription(f.ctx, "sub_a_orders", at(time.Second), func(s *store.Subscription) error {
			s.Metadata = map[string]string{"integration": "crm"}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"integration": "crm"}, f.sub("sub_a_orders").Metadata)
		list, err := f.s.Subscriptions(f.ctx, store.SubscriptionFilter{Workspace: "A", Metadata: map[string]string{"integration": "erp"}})
		require.NoError(t, err)
		assert.Equal(t, []string{"sub_a_all"}, subIDs(list))
		list, err = f.s.Subscriptions(f.ctx, store.SubscriptionFilter{Metadata: map[string]string{"integration": "crm"}})
		require.NoError(t, err)
		assert.Equal(t, []string{"sub_a_orders"}, subIDs(list))

		// An answer's metadata is a copy.
		got = f.sub("sub_a_all")
		got.Metadata["env"] = "changed"
		assert.Equal(t, "dev", f.sub("sub_a_all").Metadata["env"])
	})

	t.Run("WorkspaceIsFixed", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(inWS("A", newSub("sub_1", "order.created")))
		_, err := f.s.UpdateSubscription(f.ctx, "sub_1", at(time.Second), func(s *store.Subscription) error {
			s.Workspace = "B"
			s.Name = "Renamed"
			return nil
		})
		// A store may refuse the move or ignore it; it never moves the subscription.
		if err == nil {
			assert.Equal(t, "Renamed", f.sub("sub_1").Name)
		}
		assert.Equal(t, "A", f.sub("sub_1").Workspace)
		list, err := f.s.Subscriptions(f.ctx, store.SubscriptionFilter{Workspace: "B"})
		require.NoError(t, err)
		assert.Empty(t, list)
		assert.Empty(t, f.emitIn("B", "evt_b", "order.created", at(2*time.Second)).Deliveries)
		assert.Len(t, f.emitIn("A", "evt_a", "order.created", at(2*time.Second)).Deliveries, 1)
	})

	t.Run("Deliveries", func(t *testing.T) {
		f := newFixture(t, newStore)
		// Identical subscriptions in A and B, and one in the default workspace.
		f.create(inWS("A", newSub("sub_a1", "order.*")))
		f.create(inWS("A", newSub("sub_a2", "order.created")))
		f.create(inWS("B", newSub("sub_b1", "order.*")))
		f.create(inWS("B", newSub("sub_b2", "order.created")))
		f.create(newSub("sub_d1", "order.*"))
		typ := []string{"order.created", "order.updated"}
		for i := range 12 {
			now := at(time.Duration(i) * time.Second)
			f.emitIn("A", fmt.Sprintf("evt_a%02d", i), typ[i%2], now)
			f.emitIn("B", fmt.Sprintf("evt_b%02d", i), typ[i%2], now)
			if i%3 == 0 {
				f.emitIn("", fmt.Sprintf("evt_d%02d", i), typ[i%2], now)
			}
		}
		// Some of each workspace finished, some not.
		for i, d := range f.allDeliveries() {
			switch i % 4 {
			case 0:
				f.deliver(d.ID, at(time.Minute))
			case 1:
				f.fail(d.ID, at(time.Minute))
			}
		}
		all := f.allDeliveries()
		require.Len(t, all, 18+18+4)
		var aEvent, bEvent, bDelivery string
		for _, d := range all {
			ev, err := f.s.Event(f.ctx, d.EventID)
			require.NoError(t, err)
			assert.Equal(t, ev.Workspace, d.Workspace, "delivery %s is in its event's workspace", d.ID)
			switch d.Workspace {
			case "A":
				aEvent = d.EventID
			case "B":
				bEvent, bDelivery = d.EventID, d.ID
			}
		}

		// want is the answer computed from the whole log.
		want := func(q store.DeliveryQuery) []string {
			out := []string{}
			for _, d := range all {
				if (q.Workspace == "" || d.Workspace == q.Workspace) &&
					(q.SubscriptionID == "" || d.SubscriptionID == q.SubscriptionID) &&
					(q.EventID == "" || d.EventID == q.EventID) &&
					(q.State == "" || d.State == q.State) &&
					(q.Since.IsZero() || !d.CreatedAt.Before(q.Since)) &&
					(q.Until.IsZero() || d.CreatedAt.Before(q.Until)) {
					out = append(out, d.ID)
				}
			}
			return out
		}
		queries := []struct {
			name string
			q    store.DeliveryQuery
		}{
			{"A", store.DeliveryQuery{Workspace: "A"}},
			{"B", store.DeliveryQuery{Workspace: "B"}},
			{"unknown workspace", store.DeliveryQuery{Workspace: "C"}},
			{"A subscription", store.DeliveryQuery{Workspace: "A", SubscriptionID: "sub_a2"}},
			{"A with B's subscription", store.DeliveryQuery{Workspace: "A", SubscriptionID: "sub_b1"}},
			{"A event", store.DeliveryQuery{Workspace: "A", EventID: aEvent}},
			{"A with B's event", store.DeliveryQuery{Workspace: "A", EventID: bEvent}},
			{"A state", store.DeliveryQuery{Workspace: "A", State: store.DeliverySucceeded}},
			{"B state", store.DeliveryQuery{Workspace: "B", State: store.DeliveryPending}},
			{"A subscription and state", store.DeliveryQuery{Workspace: "A", SubscriptionID: "sub_a1", State: store.DeliveryFailed}},
			{"A since", store.DeliveryQuery{Workspace: "A", Since: at(5 * time.Second)}},
			{"A until", store.DeliveryQuery{Workspace: "A", Until: at(5 * time.Second)}},
			{"A since and until", store.DeliveryQuery{Workspace: "A", Since: at(3 * time.Second), Until: at(7 * time.Second)}},
			{"A since, until and state", store.DeliveryQuery{Workspace: "A", Since: at(3 * time.Second), Until: at(9 * time.Second), State: store.DeliveryPending}},
			{"A subscription since", store.DeliveryQuery{Workspace: "A", SubscriptionID: "sub_a1", Since: at(6 * time.Second)}},
			{"since", store.DeliveryQuery{Since: at(9 * time.Second)}},
			{"until", store.DeliveryQuery{Until: at(2 * time.Second)}},
			{"empty range", store.DeliveryQuery{Since: at(3 * time.Second), Until: at(3 * time.Second)}},
			{"state", store.DeliveryQuery{State: store.DeliveryFailed}},
		}
		for _, tt := range queries {
			t.Run(tt.name, func(t *testing.T) {
				tt.q.Limit = 1000
				assert.Equal(t, want(tt.q), f.deliveries(tt.q))
				// And page by page, with a cursor.
				for _, size := range []int{1, 4, 7} {
					q := tt.q
					q.Limit = size
					var got []string
					for page := 0; ; page++ {
						require.Less(t, page, 200, "paging does not end")
						ids := f.deliveries(q)
						assert.LessOrEqual(t, len(ids), size)
						if len(ids) == 0 {
							break
						}
						got = append(got, ids...)
						q.Before = ids[len(ids)-1]
					}
					assert.Equal(t, want(tt.q), nonNil(got), "pages of %d", size)
				}
			})
		}

		// A cursor from another workspace never lets B's rows into A's answer.
		ds, err := f.s.Deliveries(f.ctx, store.DeliveryQuery{Workspace: "A", Before: bDelivery, Limit: 1000})
		if err == nil {
			for _, d := range ds {
				assert.Equal(t, "A", d.Workspace)
			}
		}
	})

	t.Run("Stats", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(inWS("A", newSub("sub_a1", "order.created")))
		f.create(inWS("A", holding(newSub("sub_a2", "order.created"), store.StatusActive)))
		f.create(inWS("B", newSub("sub_b1", "order.created")))
		f.create(inWS("B", holding(newSub("sub_b2", "order.created"), store.StatusInactive)))
		f.create(newSub("sub_d1", "order.created"))

		f.emitIn("B", "evt_b0", "order.created", t0) // B's oldest pending, older than A's
		insA := f.emitIn("A", "evt_a1", "order.created", at(time.Minute))
		a1, a2 := insA.Deliveries[0], insA.Deliveries[1]
		if f.delivery(a1).SubscriptionID != "sub_a1" {
			a1, a2 = a2, a1
		}
		f.emitIn("A", "evt_a2", "order.created", at(2*time.Minute))
		insB := f.emitIn("B", "evt_b1", "order.created", at(3*time.Minute))
		f.emitIn("", "evt_d1", "order.created", at(4*time.Minute))

		f.deliver(a1, at(5*time.Minute))
		f.fail(a2, at(5*time.Minute))
		var b1 string
		for _, id := range insB.Deliveries {
			if f.delivery(id).SubscriptionID == "sub_b1" {
				b1 = id
			}
		}
		f.mustClaim(b1, at(5*time.Minute))
		f.record(retry(b1, at(5*time.Minute), at(6*time.Minute)))

		now := at(10 * time.Minute)
		st := f.statsIn("A", now)
		assert.ElementsMatch(t, []string{"sub_a1", "sub_a2"}, keys(st.Subscriptions), "only A's subscriptions")
		assert.Equal(t, int64(2), st.Overall.Attempts)
		assert.Equal(t, int64(1), st.Overall.Succeeded)
		assert.Equal(t, int64(1), st.Overall.DeliveriesFailed)
		assert.Equal(t, map[store.ErrorKind]int64{store.ErrorTimeout: 1}, st.Overall.ErrorsByKind, "B's 5xx is not A's")
		assert.Equal(t, int64(2), st.Overall.Pending, "evt_a2 to sub_a1 and sub_a2")
		assert.Zero(t, st.Overall.Held)
		assert.Equal(t, 8*time.Minute, st.Overall.OldestPendingAge, "A's oldest, not B's")
		assert.Equal(t, int64(1), st.Subscriptions["sub_a1"].Attempts)
		assert.Equal(t, 8*time.Minute, st.Subscriptions["sub_a1"].OldestPendingAge)

		stB := f.statsIn("B", now)
		assert.ElementsMatch(t, []string{"sub_b1", "sub_b2"}, keys(stB.Subscriptions))
		assert.Equal(t, int64(1), stB.Overall.Attempts)
		assert.Equal(t, map[store.ErrorKind]int64{store.ErrorServer: 1}, stB.Overall.ErrorsByKind)
		assert.Equal(t, int64(2), stB.Overall.Pending, "evt_b0 and evt_b1 to sub_b1")
		assert.Equal(t, int64(2), stB.Overall.Held)
		assert.Equal(t, 10*time.Minute, stB.Overall.OldestPendingAge)

		stAll := f.statsIn("", now)
		assert.Len(t, stAll.Subscriptions, 5, "every workspace")
		assert.Equal(t, int64(3), stAll.Overall.Attempts)
		assert.Equal(t, int64(5), stAll.Overall.Pending)
		assert.Equal(t, int64(2), stAll.Overall.Held)
		assert.Equal(t, 10*time.Minute, stAll.Overall.OldestPendingAge)

		stC := f.statsIn("C", now)
		assert.Empty(t, stC.Subscriptions)
		assert.Zero(t, stC.Overall.Attempts)
		assert.Zero(t, stC.Overall.Pending)
		assert.Zero(t, stC.Overall.OldestPendingAge)

		// A's figures keep its deleted subscription's attempts; B's are untouched.
		require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_a2", now))
		st = f.statsIn("A", now)
		assert.Equal(t, []string{"sub_a1"}, keys(st.Subscriptions))
		assert.Equal(t, int64(2), st.Overall.Attempts, "running totals, deleted subscriptions included")
		assert.Equal(t, int64(1), st.Overall.DeliveriesFailed)
		assert.Equal(t, int64(1), st.Overall.Pending, "sub_a2's pending delivery was cancelled")
		assert.Equal(t, stB, f.statsIn("B", now))
	})

	t.Run("Delete", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(inWS("A", holding(newSub("sub_a", "order.created"), store.StatusActive)))
		f.create(inWS("B", holding(newSub("sub_b", "order.created"), store.StatusActive)))
		a := f.emitIn("A", "evt_a", "order.created", t0).Deliveries[0]
		b := f.emitIn("B", "evt_b", "order.created", t0).Deliveries[0]
		bDone := f.emitIn("B", "evt_b_done", "order.created", t0).Deliveries[0]
		f.deliver(bDone, t0)
		beforeB := f.statsIn("B", at(time.Minute))

		require.NoError(t, f.s.DeleteSubscription(f.ctx, "sub_a", at(time.Second)))
		assert.Equal(t, store.DeliveryCancelled, f.state(a))
		assert.Equal(t, store.DeliveryPending, f.state(b), "B's delivery is not touched")
		assert.Equal(t, store.DeliverySucceeded, f.state(bDone))
		assert.Equal(t, store.StatusActive, f.sub("sub_b").Status)
		assert.Equal(t, beforeB, f.statsIn("B", at(time.Minute)))
		list, err := f.s.Subscriptions(f.ctx, store.SubscriptionFilter{Workspace: "B"})
		require.NoError(t, err)
		assert.Equal(t, []string{"sub_b"}, subIDs(list))
		assert.Equal(t, []string{bDone, b}, f.deliveries(store.DeliveryQuery{Workspace: "B"}))
		assert.Equal(t, []string{b}, f.claimIDs(at(time.Minute)))
		assert.Len(t, f.emitIn("B", "evt_b2", "order.created", at(2*time.Minute)).Deliveries, 1)
		assert.Empty(t, f.emitIn("A", "evt_a2", "order.created", at(2*time.Minute)).Deliveries)

		// Deactivating B's subscription holds B's deliveries only.
		f.create(inWS("A", holding(newSub("sub_a_new", "order.created"), store.StatusActive)))
		a2 := f.emitIn("A", "evt_a3", "order.created", at(3*time.Minute)).Deliveries[0]
		_, err = f.s.UpdateSubscription(f.ctx, "sub_b", at(4*time.Minute), func(s *store.Subscription) error {
			s.Status = store.StatusInactive
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryPending, f.state(a2))
		assert.Equal(t, []string{a2}, f.claimIDs(at(5*time.Minute)))
	})

	t.Run("RecordTest", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(inWS("A", newSub("sub_a", "order.created")))
		f.create(inWS("B", newSub("sub_b", "order.created")))
		ev := newEvent("evt_test", "order.created", t0)
		ev.Workspace = "A"
		d := store.Delivery{
			ID: "dlv_test", Workspace: "A", SubscriptionID: "sub_a", EventType: ev.Type,
			State: store.DeliverySucceeded, CreatedAt: t0, UpdatedAt: t0,
		}
		require.NoError(t, f.s.RecordTest(f.ctx, ev, d))
		assert.Equal(t, "A", f.delivery("dlv_test").Workspace)
		stored, err := f.s.Event(f.ctx, "evt_test")
		require.NoError(t, err)
		assert.Equal(t, "A", stored.Workspace)
		assert.Equal(t, []string{"dlv_test"}, f.deliveries(store.DeliveryQuery{Workspace: "A"}))
		assert.Empty(t, f.deliveries(store.DeliveryQuery{Workspace: "B"}))
		assert.Empty(t, f.deliveries(store.DeliveryQuery{Workspace: "B", EventID: "evt_test"}))
		assert.Equal(t, []string{"dlv_test"}, f.deliveries(store.DeliveryQuery{Workspace: "A", State: store.DeliverySucceeded}))
	})

	t.Run("Redeliver", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.create(inWS("A", newSub("sub_a", "order.created")))
		f.create(inWS("B", newSub("sub_b", "order.created")))
		a := f.emitIn("A", "evt_a", "order.created", t0).Deliveries[0]
		f.fail(a, t0)
		d, err := f.s.Redeliver(f.ctx, a, at(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, "A", d.Workspace)
		assert.Equal(t, []string{a}, f.deliveries(store.DeliveryQuery{Workspace: "A", State: store.DeliveryPending}))
		assert.Empty(t, f.deliveries(store.DeliveryQuery{Workspace: "B", State: store.DeliveryPending}))
		assert.Equal(t, int64(1), f.statsIn("A", at(time.Minute)).Overall.Pending)
		assert.Zero(t, f.statsIn("B", at(time.Minute)).Overall.Pending)
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
