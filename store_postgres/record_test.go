package storepg_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// TestRecordTogether: records that share a transaction (one statement for the records
// of a batch) have the effect of the same records made one after the other: a record
// that deactivates the subscription holds the retry recorded after it, a delivery
// recorded twice keeps both attempts, an unknown delivery fails alone, and the figures
// count every attempt.
func TestRecordTogether(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, testPool(t))
	for _, id := range []string{"sub_a", "sub_b"} {
		require.NoError(t, st.CreateSubscription(ctx, store.Subscription{ID: id, Workspace: id, URL: "https://example.com/",
			Events: []string{"*"}, Status: store.StatusActive, WhileInactive: store.InactiveHold}))
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ids := map[string][]string{}
	for i := range 5 {
		for _, ws := range []string{"sub_a", "sub_b"} {
			ins, err := st.InsertEvent(ctx, store.Event{ID: store.NewID("evt"), Workspace: ws, Type: eventtypes.OrderCreated,
				OccurredAt: now, Data: []byte(`{"n":` + string(rune('0'+i)) + `}`)}, now)
			require.NoError(t, err)
			require.Len(t, ins.Deliveries, 1)
			ids[ws] = append(ids[ws], ins.Deliveries[0])
		}
	}
	cs, _, err := st.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 100, LeaseUntil: now.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, cs, 10)

	at := func(n int) time.Time { return now.Add(time.Duration(n) * time.Second) }
	ok := func(id string, n int) store.AttemptRecord {
		return store.AttemptRecord{DeliveryID: id, State: store.DeliverySucceeded, Attempt: store.Attempt{
			Number: n, SentAt: at(n), Duration: time.Millisecond, StatusCode: 204, Outcome: store.OutcomeSucceeded}}
	}
	retry := func(id string, n int) store.AttemptRecord {
		return store.AttemptRecord{DeliveryID: id, State: store.DeliveryPending, NextAttemptAt: at(60), Attempt: store.Attempt{
			Number: n, SentAt: at(n), Duration: time.Millisecond, StatusCode: 503, Error: "503", ErrorKind: store.ErrorServer,
			Outcome: store.OutcomeRetry, NextAttemptAt: at(60)}}
	}
	gone := store.AttemptRecord{DeliveryID: ids["sub_a"][1], State: store.DeliveryFailed, Action: store.ActionDeactivate,
		Reason: "410", Attempt: store.Attempt{Number: 1, SentAt: at(1), Duration: time.Millisecond, StatusCode: 410,
			ErrorKind: store.ErrorClient, Outcome: store.OutcomeDeactivated}}
	recs := []store.AttemptRecord{
		ok(ids["sub_a"][0], 1),
		gone,                      // deactivates sub_a ...
		retry(ids["sub_a"][2], 1), // ... so this retry is held
		ok(ids["sub_b"][0], 1),    // another subscription: unaffected
		retry(ids["sub_b"][1], 1), // a retry of an active subscription stays pending
		{DeliveryID: "dlv_missing", State: store.DeliverySucceeded, Attempt: store.Attempt{Number: 1, SentAt: at(1), Outcome: store.OutcomeSucceeded}},
		retry(ids["sub_b"][2], 1),
		ok(ids["sub_b"][2], 2), // the same delivery again: it sees the retry before it
	}
	ds, errs, err := storepg.RecordTogether(ctx, st, recs)
	require.NoError(t, err)
	want := []store.DeliveryState{store.DeliverySucceeded, store.DeliveryFailed, store.DeliveryHeld,
		store.DeliverySucceeded, store.DeliveryPending, "", store.DeliveryPending, store.DeliverySucceeded}
	for i, w := range want {
		if w == "" {
			assert.ErrorIs(t, errs[i], store.ErrNotFound, "record %d", i)
			continue
		}
		require.NoError(t, errs[i], "record %d", i)
		assert.Equal(t, w, ds[i].State, "record %d", i)
		assert.Len(t, ds[i].Attempts, recs[i].Attempt.Number, "record %d", i)
	}
	last, err := st.Delivery(ctx, ids["sub_b"][2])
	require.NoError(t, err)
	assert.Equal(t, store.DeliverySucceeded, last.State)
	require.Len(t, last.Attempts, 2)
	assert.Equal(t, store.OutcomeRetry, last.Attempts[0].Outcome)
	assert.Equal(t, store.OutcomeSucceeded, last.Attempts[1].Outcome)

	sub, err := st.Subscription(ctx, "sub_a")
	require.NoError(t, err)
	assert.Equal(t, store.StatusInactive, sub.Status)

	stats, err := st.Stats(ctx, "sub_b", now)
	require.NoError(t, err)
	figs := stats.Subscriptions["sub_b"]
	assert.Equal(t, int64(4), figs.Attempts)
	assert.Equal(t, int64(2), figs.Succeeded)
	assert.Equal(t, int64(2), figs.DeliveriesSucceeded)
	assert.Equal(t, int64(3), figs.Pending) // [1] retried, [3] and [4] leased
	stats, err = st.Stats(ctx, "", now)
	require.NoError(t, err)
	assert.Equal(t, int64(7), stats.Overall.Attempts)
}
