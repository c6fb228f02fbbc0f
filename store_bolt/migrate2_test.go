package storebolt

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// TestFormat2File opens testdata/v2.db, written by the format-2 code with
// testdata/makev2: subscriptions in the default workspace and in "shop", deliveries in
// every state, and two left in flight with their leases in the file. It opens as format 3:
// the leases are gone and those deliveries due at once, the default workspace's keys are
// gone from log_ws, log_ws_state and ws_figures, every index agrees with the records,
// and the store works on.
func TestFormat2File(t *testing.T) {
	orig, err := os.ReadFile("testdata/v2.db")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "v2.db")
	require.NoError(t, os.WriteFile(path, orig, 0o600))
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return leaseT0.Add(d) }

	s, err := Open(path)
	require.NoError(t, err)
	defer s.Close()
	verifyIndexes(t, s, 0)
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		x := newTxn(tx)
		assert.Equal(t, int64(3), counter(x.meta().Get(keyVersion), 0))
		assert.Nil(t, tx.Bucket(bLeasesV2))
		for _, b := range []*bolt.Bucket{x.logWs(), x.logWsState()} {
			k, _ := b.Cursor().First()
			require.NotNil(t, k, "shop's keys stay")
			assert.False(t, bytes.HasPrefix(k, pfx("")), "the default workspace's keys are gone")
		}
		assert.Nil(t, x.wsFigures().Get(pfx("")))
		assert.NotNil(t, x.wsFigures().Get(pfx("shop")))
		return x.counts().ForEach(func(k, v []byte) error {
			assert.Len(t, v, 16, "%s: pending and held", k)
			return nil
		})
	}))

	count := func(q store.DeliveryQuery) int {
		ds, err := s.Deliveries(ctx, q)
		require.NoError(t, err)
		for _, d := range ds {
			assert.True(t, d.LeasedUntil.IsZero())
		}
		return len(ds)
	}
	assert.Equal(t, 6, count(store.DeliveryQuery{}))
	assert.Equal(t, 2, count(store.DeliveryQuery{Workspace: "shop"}))
	assert.Equal(t, 1, count(store.DeliveryQuery{Workspace: "shop", State: store.DeliveryPending}))
	assert.Equal(t, 3, count(store.DeliveryQuery{State: store.DeliveryPending}))
	assert.Equal(t, 1, count(store.DeliveryQuery{State: store.DeliveryHeld}))

	all, err := s.Stats(ctx, "", at(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(3), all.Overall.Attempts)
	assert.Equal(t, int64(3), all.Overall.Pending)
	shop, err := s.Stats(ctx, "shop", at(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(1), shop.Overall.Attempts)
	assert.Equal(t, int64(1), shop.Overall.Pending)

	// The two left in flight are due at once (created at 3 s and 4 s), before the retry.
	due, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, due.Equal(at(3*time.Second)), "due %s", due)
	cs, next, err := s.ClaimDue(ctx, store.ClaimRequest{Now: at(30 * time.Second), Limit: 10, LeaseUntil: at(time.Hour)})
	require.NoError(t, err)
	var events []string
	for _, c := range cs {
		events = append(events, c.Event.ID)
	}
	assert.Equal(t, []string{"evt_4", "evt_5"}, events)
	assert.True(t, next.Equal(at(time.Minute)), "next %s", next)
	for _, c := range cs {
		_, err := s.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: c.Delivery.ID, State: store.DeliverySucceeded,
			Attempt: store.Attempt{Number: 2, SentAt: at(31 * time.Second), Outcome: store.OutcomeSucceeded, StatusCode: 200}})
		require.NoError(t, err)
	}
	verifyIndexes(t, s, 1)
	shop, err = s.Stats(ctx, "shop", at(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(2), shop.Overall.Attempts)
}
