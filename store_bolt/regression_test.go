package storebolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

var reviewT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func reviewOpen(t *testing.T, opts ...Option) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "webhooks.db"), append([]Option{WithNoSync(true)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func reviewSub(id string, events ...string) store.Subscription {
	return store.Subscription{ID: id, URL: "https://hooks.example.com/" + id, Events: events, Status: store.StatusActive}
}

// One pruning round removes every event past the retention that never had a delivery,
// not just PruneBatch of them: otherwise an application emitting more than that per
// interval of types nobody subscribes to would grow the file without bound.
func TestRetentionKeepsUpWithBareEvents(t *testing.T) {
	ctx := context.Background()
	// The loop itself never ticks here: the test calls one pruning round by hand.
	s := reviewOpen(t, WithRetention(time.Hour, 0), WithPruneInterval(time.Hour))
	old := time.Now().Add(-2 * time.Hour)
	const n = PruneBatch + PruneBatch/2
	for i := range n {
		_, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "order.created", OccurredAt: old}, old)
		require.NoError(t, err)
	}

	s.pruneOnce() // one round of the retention

	left := 0
	for i := range n {
		if _, err := s.Event(ctx, fmt.Sprintf("evt_%d", i)); err == nil {
			left++
		}
	}
	assert.Zero(t, left, "events past the retention are all removed in one round, not PruneBatch per interval")
}

// RecordAttempt answers with the delivery as stored after the action (deactivate, delete)
// moved it, as the memory store does.
func TestRecordAttemptReturnsDeliveryAfterAction(t *testing.T) {
	ctx := context.Background()
	for _, action := range []store.Action{store.ActionDeactivate, store.ActionDelete} {
		t.Run(fmt.Sprint(action), func(t *testing.T) {
			for name, st := range map[string]store.Store{"memory": store.NewMemory(), "bolt": reviewOpen(t)} {
				require.NoError(t, st.CreateSubscription(ctx, reviewSub("sub_1", "order.created")))
				ins, err := st.InsertEvent(ctx, store.Event{ID: "evt_1", Type: "order.created", OccurredAt: reviewT0}, reviewT0)
				require.NoError(t, err)
				id := ins.Deliveries[0]
				_, _, err = st.ClaimDue(ctx, store.ClaimRequest{Now: reviewT0, Limit: 10, LeaseUntil: reviewT0.Add(time.Minute)})
				require.NoError(t, err)
				got, err := st.RecordAttempt(ctx, store.AttemptRecord{
					DeliveryID: id, State: store.DeliveryPending, NextAttemptAt: reviewT0.Add(time.Minute),
					Action: action, Reason: "410 Gone",
					Attempt: store.Attempt{Number: 1, SentAt: reviewT0, StatusCode: 410, Outcome: store.OutcomeRetry},
				})
				require.NoError(t, err)
				stored, err := st.Delivery(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, stored.State, got.State, "%s: RecordAttempt returns the delivery as stored", name)
				assert.True(t, stored.NextAttemptAt.Equal(got.NextAttemptAt), "%s: next attempt %s, stored %s", name, got.NextAttemptAt, stored.NextAttemptAt)
			}
		})
	}
}

// Deliveries due at the same time are claimed in creation order, as by the memory store,
// though IDs made in the same millisecond sort at random.
func TestClaimDueTiesInCreationOrder(t *testing.T) {
	ctx := context.Background()
	s := reviewOpen(t)
	for i := range 8 {
		require.NoError(t, s.CreateSubscription(ctx, reviewSub(fmt.Sprintf("sub_%d", i), "order.created")))
	}
	var want []string
	for i := range 4 {
		ins, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "order.created", OccurredAt: reviewT0}, reviewT0)
		require.NoError(t, err)
		want = append(want, ins.Deliveries...)
	}
	var got []string
	for range want {
		cs, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: reviewT0, Limit: 1, LeaseUntil: reviewT0.Add(time.Minute)})
		require.NoError(t, err)
		require.Len(t, cs, 1)
		got = append(got, cs[0].Delivery.ID)
	}
	assert.Equal(t, want, got, "equal due times are claimed first come, first served, as by the memory store")
}
