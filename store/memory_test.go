package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
	"github.com/shophooks/webhook/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}

func TestMemoryRetention(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory(store.WithMemoryRetention(0, 10))
	require.NoError(t, m.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://x.example.com", Events: []string{"*"}, Status: store.StatusActive}))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 * store.PruneEvery {
		ins, err := m.InsertEvent(ctx, store.Event{ID: fmt.Sprint("evt_", i), Type: "order.created", OccurredAt: t0, Data: []byte(`{}`)}, t0)
		require.NoError(t, err)
		claims, _, err := m.ClaimDue(ctx, store.ClaimRequest{Now: t0, Limit: 1, LeaseUntil: t0.Add(time.Minute)})
		require.NoError(t, err)
		require.Len(t, claims, 1)
		_, err = m.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: ins.Deliveries[0], State: store.DeliverySucceeded,
			Attempt: store.Attempt{Number: 1, SentAt: t0, Outcome: store.OutcomeSucceeded}})
		require.NoError(t, err)
	}
	all, err := m.Deliveries(ctx, store.DeliveryQuery{Limit: 100000})
	require.NoError(t, err)
	assert.Less(t, len(all), store.PruneEvery, "the store prunes as it goes")
	assert.GreaterOrEqual(t, len(all), 10, "it keeps the newest of each subscription")
	assert.Equal(t, fmt.Sprint("evt_", 3*store.PruneEvery-1), all[0].EventID)
}
