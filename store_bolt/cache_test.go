package storebolt

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

func TestDecodeCacheComparesBytes(t *testing.T) {
	var c decodeCache[int]
	_, ok := c.get("k", []byte("a"))
	assert.False(t, ok)
	c.put("k", []byte("a"), 1)
	c.put("k", []byte("b"), 2)
	v, ok := c.get("k", []byte("a"))
	assert.True(t, ok && v == 1, "the version before the last is kept")
	v, ok = c.get("k", []byte("b"))
	assert.True(t, ok && v == 2)
	c.put("k", []byte("c"), 3)
	_, ok = c.get("k", []byte("a"))
	assert.False(t, ok, "two versions at most")
	_, ok = c.get("k", []byte("x"))
	assert.False(t, ok, "bytes that were never cached are decoded")
	var none *decodeCache[int]
	none.put("k", []byte("a"), 1)
	_, ok = none.get("k", []byte("a"))
	assert.False(t, ok, "a nil cache caches nothing")
}

// TestCachedValuesStayUnchanged: what a caller does with the subscriptions and figures it
// got does not reach the cache, and a change stored by any path is read back.
func TestCachedValuesStayUnchanged(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "webhooks.db"), WithNoSync(true))
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	sub := reviewSub("sub_1", "order.created")
	sub.Headers = map[string]string{"Authorization": "Bearer x"}
	require.NoError(t, s.CreateSubscription(ctx, sub))
	got, err := s.Subscription(ctx, "sub_1")
	require.NoError(t, err)
	got.Events[0] = "changed"
	got.Headers["X"] = "changed"
	list, err := s.Subscriptions(ctx, store.SubscriptionFilter{})
	require.NoError(t, err)
	list[0].Events[0] = "changed too"
	again, err := s.Subscription(ctx, "sub_1")
	require.NoError(t, err)
	assert.Equal(t, []string{"order.created"}, again.Events)
	assert.NotContains(t, again.Headers, "X")

	_, err = s.UpdateSubscription(ctx, "sub_1", leaseT0, func(sub *store.Subscription) error {
		sub.Name = "renamed"
		return nil
	})
	require.NoError(t, err)
	again, err = s.Subscription(ctx, "sub_1")
	require.NoError(t, err)
	assert.Equal(t, "renamed", again.Name)

	ins, err := s.InsertEvent(ctx, store.Event{ID: "evt_1", Type: "order.created", OccurredAt: leaseT0, Data: []byte(`{}`)}, leaseT0)
	require.NoError(t, err)
	for i := range 3 {
		_, err = s.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: ins.Deliveries[0], State: store.DeliveryPending, NextAttemptAt: leaseT0,
			Attempt: store.Attempt{Number: i + 1, SentAt: leaseT0, Duration: time.Millisecond, Outcome: store.OutcomeRetry, StatusCode: 500, ErrorKind: store.ErrorServer}})
		require.NoError(t, err)
	}
	st, err := s.Stats(ctx, "", leaseT0)
	require.NoError(t, err)
	assert.Equal(t, int64(3), st.Subscriptions["sub_1"].Attempts)
	assert.Equal(t, int64(3), st.Overall.Attempts)
	assert.Equal(t, int64(3), st.Subscriptions["sub_1"].ErrorsByKind[store.ErrorServer])
}
