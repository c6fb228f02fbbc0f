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

// TestMemoryAppendDue checks that AppendDue keeps what dst holds, appends the claims after
// it, counts only its own claims against the limit, and shares the event's bytes with
// the store (InsertEvent keeps them) while Event answers a copy.
func TestMemoryAppendDue(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	var _ store.CheapClaimer = m
	require.NoError(t, m.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://x.example.com", Events: []string{"*"}}))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	data := []byte(`{"n":1}`)
	for i := range 3 {
		_, err := m.InsertEvent(ctx, store.Event{ID: fmt.Sprint("evt_", i), Type: "order.created", OccurredAt: t0, Data: data}, t0)
		require.NoError(t, err)
	}
	dst := make([]store.Claim, 1, 8)
	dst[0].Delivery.ID = "kept"
	got, _, err := m.AppendDue(ctx, dst, store.ClaimRequest{Now: t0, Limit: 2, LeaseUntil: t0.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, got, 3, "the one kept and two claims")
	assert.Equal(t, "kept", got[0].Delivery.ID)
	assert.Equal(t, "evt_0", got[1].Event.ID)
	assert.Equal(t, "evt_1", got[2].Event.ID)
	assert.Same(t, &data[0], &got[1].Event.Data[0], "the claim shares the inserted bytes")

	ev, err := m.Event(ctx, "evt_2")
	require.NoError(t, err)
	assert.NotSame(t, &data[0], &ev.Data[0], "Event answers a copy")

	got, _, err = m.AppendDue(ctx, got[:0], store.ClaimRequest{Now: t0, Limit: 5, LeaseUntil: t0.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "evt_2", got[0].Event.ID)
}
