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

// instances opens n Stores on one new schema, each with a pool of its own, as n instances
// of an application would, with one subscription, sub_1, to every event.
func instances(t *testing.T, n int) []*storepg.Store {
	t.Helper()
	pool := testPool(t)
	schema := freshSchema(t, pool)
	ctx := context.Background()
	var sts []*storepg.Store
	for range n {
		st, err := storepg.Open(ctx, newPool(t, 4), storepg.WithSchema(schema))
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		sts = append(sts, st)
	}
	require.NoError(t, sts[0].CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}}))
	return sts
}

// TestQuotaAcrossInstances: stores of several instances claim one subscription's
// deliveries at once, each with a quota of 3 in flight; the subscription never has more
// than 3 in flight in all, because each claim sees the others' leases.
func TestQuotaAcrossInstances(t *testing.T) {
	ctx := context.Background()
	sts := instances(t, 3)
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

// TestClaimBacksOffWhenHeld: an instance whose claim finds the only due subscription held
// by another instance's claim comes back empty, with the due time as next, and begins its
// next claim only heldBackoff later (so that it does not spend a transaction on every
// wake-up while the other holds it); a claim that finds nothing due, or gets something,
// does not make the next one wait.
func TestClaimBacksOffWhenHeld(t *testing.T) {
	ctx := context.Background()
	sts := instances(t, 2)
	a, b := sts[0], sts[1]
	claim := func(st *storepg.Store) ([]store.Claim, time.Time) {
		now := time.Now()
		cs, next, err := st.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Hour)})
		require.NoError(t, err)
		return cs, next
	}

	cs, next := claim(b)
	assert.Empty(t, cs)
	assert.True(t, next.IsZero())
	assert.True(t, storepg.HeldAt(b).IsZero(), "nothing due: nothing held")

	now := time.Now()
	for i := range 2 {
		_, err := a.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: eventtypes.OrderCreated, OccurredAt: now, Data: []byte(`{}`)}, now)
		require.NoError(t, err)
	}
	_, ok, err := b.NextDue(ctx) // folds the hints: the head is due, as with a backlog
	require.NoError(t, err)
	require.True(t, ok)
	// a claims one delivery; its transaction, holding the head, is kept open by a quota
	// that waits until b has claimed.
	bDone, aHolds := make(chan struct{}), make(chan struct{})
	var aClaims []store.Claim
	go func() {
		defer close(aHolds)
		now := time.Now()
		cs, _, err := a.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 1, LeaseUntil: now.Add(time.Hour),
			Quota: func(*store.Subscription, int) int {
				select {
				case aHolds <- struct{}{}:
					<-bDone
				default:
				}
				return 1
			}})
		assert.NoError(t, err)
		aClaims = cs
	}()
	<-aHolds
	var once sync.Once
	release := func() { once.Do(func() { close(bDone) }) }
	t.Cleanup(release) // a failed claim(b) must not leave a's transaction, and its connection, open
	cs, next = claim(b)
	release()
	<-aHolds
	assert.Empty(t, cs, "the head is held")
	assert.False(t, next.IsZero())
	assert.False(t, next.After(time.Now()), "next: a delivery is due")
	held := storepg.HeldAt(b)
	require.False(t, held.IsZero(), "b's claim found the head held")
	require.Len(t, aClaims, 1)

	cs, _ = claim(b)
	assert.False(t, time.Now().Before(held.Add(storepg.HeldBackoff)), "b's next claim waited")
	require.Len(t, cs, 1, "the other delivery")
	assert.NotEqual(t, aClaims[0].Delivery.ID, cs[0].Delivery.ID)
	assert.True(t, storepg.HeldAt(b).IsZero(), "b got a delivery: its next claim does not wait")
}

// TestHeldBackoffBounded: a claim waits heldBackoff at most, even if the wall clock went
// back after the held claim (its time then lies ahead), and a claim that waited is made
// as of the end of its wait: what became due meanwhile is claimed.
func TestHeldBackoffBounded(t *testing.T) {
	ctx := context.Background()
	st := instances(t, 1)[0]
	start := time.Now()
	// Due 5 ms after the caller's now: within the wait.
	_, err := st.InsertEvent(ctx, store.Event{ID: "evt_1", Type: eventtypes.OrderCreated, OccurredAt: start, Data: []byte(`{}`)}, start.Add(5*time.Millisecond))
	require.NoError(t, err)
	storepg.SetHeldAt(st, start.Add(time.Hour))
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second) // fails fast if it waits the hour
	defer cancel()
	cs, _, err := st.ClaimDue(cctx, store.ClaimRequest{Now: start, Limit: 10, LeaseUntil: start.Add(time.Minute)})
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second, "waited heldBackoff, not an hour")
	require.Len(t, cs, 1, "claimed as of the end of the wait, when it was due")
	// Stored to the microsecond.
	assert.WithinDuration(t, start.Add(time.Minute+storepg.HeldBackoff), cs[0].Delivery.LeasedUntil, time.Millisecond, "the lease as long as asked, from then")
}
