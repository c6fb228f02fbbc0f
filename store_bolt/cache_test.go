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

// The header cached at insert is what decoding the stored event gives: a claim reads the
// same event whether it was cached or not.
func TestEventHeaderAtInsertAsDecoded(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	for _, ev := range []store.Event{
		{ID: "evt_1", Type: "order.created", OccurredAt: time.Now()}, // monotonic reading, local zone
		{ID: "evt_2", Workspace: "ws", Type: "order.paid", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6, berlin)},
		{ID: "evt_3", Type: "order.created", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: "evt_4", Type: "order.created"},
	} {
		raw, err := encodeEvent(ev)
		require.NoError(t, err)
		decoded, err := decodeEventShared(raw, nil, ev.ID)
		require.NoError(t, err)
		h, ok := headerOf(ev)
		require.True(t, ok)
		cached := store.Event{ID: h.ID, Workspace: h.Workspace, Type: h.Type, OccurredAt: h.OccurredAt, Data: decoded.Data}
		assert.Equal(t, decoded, cached, ev.ID)
	}
	_, ok := headerOf(store.Event{ID: "evt_\xff", Type: "order.created"})
	assert.False(t, ok, "a string that JSON would change is not cached")
}

// TestSweepLinksAfterClockStepBack: a wall clock stepped back makes the sweep of expired
// sign-in links due, rather than not due until the clock passes its old reading again.
func TestSweepLinksAfterClockStepBack(t *testing.T) {
	s := &Store{}
	now := time.Now()
	assert.True(t, s.sweepLinksDue(now))
	assert.False(t, s.sweepLinksDue(now.Add(time.Second)), "one sweep a minute")
	assert.True(t, s.sweepLinksDue(now.Add(2*time.Minute)))
	assert.True(t, s.sweepLinksDue(now.Add(-24*time.Hour)), "stepped back a day")
}
