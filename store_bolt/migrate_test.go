package storebolt_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// TestFormat1File opens testdata/v1.db, written by the format-1 code (before workspaces)
// with testdata/makev1: three subscriptions, five events and a test event, seven
// deliveries in every state, one of them left in flight. Everything reads back, in the
// default workspace, and the store works on.
func TestFormat1File(t *testing.T) {
	orig, err := os.ReadFile("testdata/v1.db")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "v1.db")
	require.NoError(t, os.WriteFile(path, orig, 0o600))
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	s := open(t, path)
	subs, err := s.Subscriptions(ctx, store.SubscriptionFilter{})
	require.NoError(t, err)
	var ids []string
	for _, sb := range subs {
		ids = append(ids, sb.ID)
		assert.Empty(t, sb.Workspace)
		assert.Equal(t, "whsec_"+sb.ID, sb.Secret)
	}
	assert.Equal(t, []string{"sub_a", "sub_b", "sub_c"}, ids, "in creation order")
	b, err := s.Subscription(ctx, "sub_b")
	require.NoError(t, err)
	assert.Equal(t, store.StatusInactive, b.Status)
	assert.Equal(t, store.InactiveHold, b.WhileInactive)

	for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5", "evt_test"} {
		ev, err := s.Event(ctx, id)
		require.NoError(t, err, id)
		assert.Empty(t, ev.Workspace)
	}
	ev, err := s.Event(ctx, "evt_2")
	require.NoError(t, err)
	assert.Equal(t, "order.updated", ev.Type)
	assert.JSONEq(t, `{"id":"evt_2"}`, string(ev.Data))

	all, err := s.Deliveries(ctx, store.DeliveryQuery{})
	require.NoError(t, err)
	require.Len(t, all, 7)
	type row struct {
		Event, Sub string
		State      store.DeliveryState
		Attempts   int
	}
	var rows []row
	for _, d := range all {
		assert.Empty(t, d.Workspace)
		assert.True(t, d.LeasedUntil.IsZero(), "the lease left in the file is recovered")
		rows = append(rows, row{d.EventID, d.SubscriptionID, d.State, len(d.Attempts)})
	}
	assert.ElementsMatch(t, []row{
		{"evt_1", "sub_a", store.DeliverySucceeded, 1},
		{"evt_1", "sub_b", store.DeliveryHeld, 0},
		{"evt_2", "sub_a", store.DeliveryPending, 1},
		{"evt_3", "sub_c", store.DeliveryFailed, 1},
		{"evt_5", "sub_a", store.DeliveryPending, 0},
		{"evt_5", "sub_b", store.DeliveryHeld, 0},
		{"evt_test", "sub_c", store.DeliverySucceeded, 1},
	}, rows)
	assert.Equal(t, "dlv_test", all[0].ID, "newest first: the test delivery was made last")
	for _, d := range all {
		if d.EventID == "evt_2" {
			require.Len(t, d.Attempts, 1)
			assert.Equal(t, 50*time.Millisecond, d.Attempts[0].Duration, "format 1 kept durations in nanoseconds")
			assert.Equal(t, 500, d.Attempts[0].StatusCode)
			assert.True(t, d.NextAttemptAt.Equal(at(time.Minute)))
		}
	}

	// Every index was rebuilt: queries by each field, by workspace, paged.
	count := func(q store.DeliveryQuery) int {
		ds, err := s.Deliveries(ctx, q)
		require.NoError(t, err)
		return len(ds)
	}
	assert.Equal(t, 3, count(store.DeliveryQuery{SubscriptionID: "sub_a"}))
	assert.Equal(t, 2, count(store.DeliveryQuery{SubscriptionID: "sub_a", State: store.DeliveryPending}))
	assert.Equal(t, 2, count(store.DeliveryQuery{EventID: "evt_1"}))
	assert.Equal(t, 2, count(store.DeliveryQuery{State: store.DeliveryHeld}))
	assert.Equal(t, 4, count(store.DeliveryQuery{Since: at(2 * time.Second), Until: at(time.Minute)}))
	assert.Equal(t, 3, count(store.DeliveryQuery{Until: at(2 * time.Second)}))
	assert.Equal(t, 6, count(store.DeliveryQuery{Before: "dlv_test"}))
	assert.Zero(t, count(store.DeliveryQuery{Workspace: "shop_1"}))

	st, err := s.Stats(ctx, "", at(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(3), st.Overall.Attempts, "the test attempt does not count")
	assert.Equal(t, int64(1), st.Overall.Succeeded)
	assert.Equal(t, int64(1), st.Overall.DeliveriesSucceeded)
	assert.Equal(t, int64(1), st.Overall.DeliveriesFailed)
	assert.Equal(t, 50*time.Millisecond, st.Overall.MeanResponse)
	assert.Equal(t, int64(2), st.Overall.Pending)
	assert.Equal(t, int64(2), st.Overall.Held)
	assert.Equal(t, int64(2), st.Subscriptions["sub_a"].Pending)
	assert.Equal(t, int64(2), st.Subscriptions["sub_b"].Held)
	assert.Equal(t, int64(1), st.Subscriptions["sub_c"].Attempts)
	assert.Equal(t, time.Minute-time.Second, st.Subscriptions["sub_a"].OldestPendingAge)

	// The queue: the recovered delivery first (due at 20 s), then the retry (1 min).
	due, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, due.Equal(at(20*time.Second)), "due %s", due)
	cs, next, err := s.ClaimDue(ctx, store.ClaimRequest{Now: at(30 * time.Second), Limit: 10, LeaseUntil: at(time.Hour)})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, "evt_5", cs[0].Event.ID)
	assert.Equal(t, "sub_a", cs[0].Subscription.ID)
	assert.True(t, next.Equal(at(time.Minute)), "next %s", next)

	// Fan-out goes on in the default workspace, and only there.
	ins, err := s.InsertEvent(ctx, event("evt_6", "order.created", at(time.Minute)), at(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, ins.Pending)
	assert.Equal(t, 1, ins.Held)
	other := event("evt_7", "order.created", at(time.Minute))
	other.Workspace = "shop_1"
	ins, err = s.InsertEvent(ctx, other, at(time.Minute))
	require.NoError(t, err)
	assert.Empty(t, ins.Deliveries)
	_, err = s.RecordAttempt(ctx, success(cs[0].Delivery.ID, at(31*time.Second)))
	require.NoError(t, err)
	st, err = s.Stats(ctx, "", at(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(4), st.Overall.Attempts)
	assert.Equal(t, int64(2), st.Overall.DeliveriesSucceeded)

	// The file is format 3 now, and reopens as such.
	require.NoError(t, s.Close())
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.Equal(t, uint64(3), binary.BigEndian.Uint64(tx.Bucket([]byte("meta")).Get([]byte("version"))))
		assert.Nil(t, tx.Bucket([]byte("due")), "format 1's due index is gone")
		assert.Nil(t, tx.Bucket([]byte("leases")), "and its leases")
		return nil
	}))
	require.NoError(t, db.Close())
	s = open(t, path)
	all, err = s.Deliveries(ctx, store.DeliveryQuery{})
	require.NoError(t, err)
	assert.Len(t, all, 9)
}
