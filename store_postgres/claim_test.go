package storepg_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// TestQuotaAcrossInstances: stores of several instances claim one subscription's
// deliveries at once, each with a quota of 3 in flight; the subscription never has more
// than 3 in flight in all, because each claim sees the others' leases.
func TestQuotaAcrossInstances(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	ctx := context.Background()
	var sts []*storepg.Store
	for range 3 {
		st, err := storepg.Open(ctx, newPool(t, 4), storepg.WithSchema(schema))
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		sts = append(sts, st)
	}
	require.NoError(t, sts[0].CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}}))
	now := time.Now()
	for i := range 40 {
		_, err := sts[i%3].InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%02d", i), Type: eventtypes.OrderCreated, OccurredAt: now, Data: []byte(`{}`)}, now)
		require.NoError(t, err)
	}
	const limit = 3
	quota := func(_ *store.Subscription, inFlight int) int { return limit - inFlight }
	total := 0
	for round := 0; total < 40; round++ {
		require.Less(t, round, 40, "claims do not run out")
		// The instances claim at once, again and again; nothing is recorded meanwhile,
		// so every claim of the round counts as in flight.
		var (
			mu      sync.Mutex
			claimed []store.Claim
			wg      sync.WaitGroup
		)
		for _, st := range sts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					now := time.Now()
					cs, _, err := st.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Hour), Quota: quota})
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					claimed = append(claimed, cs...)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		require.NotEmpty(t, claimed)
		require.LessOrEqual(t, len(claimed), limit, "in flight at once, over all instances, in round %d", round)
		for _, c := range claimed {
			now := time.Now()
			_, err := sts[0].RecordAttempt(ctx, store.AttemptRecord{DeliveryID: c.Delivery.ID, State: store.DeliverySucceeded,
				Attempt: store.Attempt{Number: 1, SentAt: now, StatusCode: 200, Outcome: store.OutcomeSucceeded}})
			require.NoError(t, err)
		}
		total += len(claimed)
	}
	assert.Equal(t, 40, total, "every delivery claimed once")
}
