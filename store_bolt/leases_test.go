package storebolt

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

var leaseT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// leaseFixture is a store with one subscription and n deliveries due at leaseT0.
func leaseFixture(t *testing.T, path string, n int) (*Store, []string) {
	t.Helper()
	s, err := Open(path, WithNoSync(true))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	require.NoError(t, s.CreateSubscription(ctx, reviewSub("sub_1", "order.created")))
	var ids []string
	for i := range n {
		ins, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "order.created", OccurredAt: leaseT0, Data: []byte(`{}`)}, leaseT0)
		require.NoError(t, err)
		ids = append(ids, ins.Deliveries...)
	}
	return s, ids
}

func claimIDs(t *testing.T, s *Store, req store.ClaimRequest) []string {
	t.Helper()
	cs, _, err := s.ClaimDue(context.Background(), req)
	require.NoError(t, err)
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.Delivery.ID)
	}
	return ids
}

// TestClaimWritesNothing: a claim commits nothing and leaves the file as it was; the
// lease is in memory, where Delivery and Deliveries see it.
func TestClaimWritesNothing(t *testing.T) {
	s, ids := leaseFixture(t, filepath.Join(t.TempDir(), "webhooks.db"), 2)
	ctx := context.Background()
	commits := s.commit.commits.Load()
	lease := leaseT0.Add(time.Minute)
	assert.Equal(t, ids, claimIDs(t, s, store.ClaimRequest{Now: leaseT0, Limit: 10, LeaseUntil: lease}))
	assert.Equal(t, commits, s.commit.commits.Load(), "a claim commits nothing")
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		x := newTxn(tx)
		for _, id := range ids {
			r, err := x.delivery(id)
			require.NoError(t, err)
			assert.True(t, r.LeasedUntil.IsZero(), "no lease in the file")
		}
		return nil
	}))
	d, err := s.Delivery(ctx, ids[0])
	require.NoError(t, err)
	assert.True(t, lease.Equal(d.LeasedUntil), "Delivery shows the lease")
	ds, err := s.Deliveries(ctx, store.DeliveryQuery{})
	require.NoError(t, err)
	for _, d := range ds {
		assert.True(t, lease.Equal(d.LeasedUntil), "Deliveries shows the lease")
	}

	_, err = s.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: ids[0], State: store.DeliverySucceeded,
		Attempt: store.Attempt{Number: 1, SentAt: leaseT0, Outcome: store.OutcomeSucceeded, StatusCode: 200}})
	require.NoError(t, err)
	s.leases.mu.Lock()
	assert.Nil(t, s.leases.get(ids[0]), "the record cleared the lease")
	assert.NotNil(t, s.leases.get(ids[1]))
	s.leases.mu.Unlock()
}

// TestLeaseReopen: a lease does not survive the process: after a reopen the delivery is
// due at once (at least once), and the quota sees nothing in flight.
func TestLeaseReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.db")
	s, ids := leaseFixture(t, path, 3)
	far := leaseT0.Add(24 * time.Hour)
	require.Len(t, claimIDs(t, s, store.ClaimRequest{Now: leaseT0, Limit: 2, LeaseUntil: far}), 2)
	require.NoError(t, s.Close())

	s, err := Open(path, WithNoSync(true))
	require.NoError(t, err)
	defer s.Close()
	var inFlight []int
	got := claimIDs(t, s, store.ClaimRequest{Now: leaseT0.Add(time.Second), Limit: 10, LeaseUntil: far,
		Quota: func(_ *store.Subscription, n int) int { inFlight = append(inFlight, n); return 10 }})
	assert.Equal(t, ids, got, "every delivery is due again, long before the old lease ends")
	assert.Equal(t, []int{0}, inFlight)
}

// TestQuotaSeesMemoryLeases: the in-flight count that Quota gets comes from the lease
// table: leases taken, leases recorded, leases run out.
func TestQuotaSeesMemoryLeases(t *testing.T) {
	s, ids := leaseFixture(t, filepath.Join(t.TempDir(), "webhooks.db"), 5)
	ctx := context.Background()
	var seen []int
	capTwo := func(_ *store.Subscription, n int) int { seen = append(seen, n); return 2 - n }
	claim := func(now time.Time) []string {
		seen = nil
		return claimIDs(t, s, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Minute), Quota: capTwo})
	}
	assert.Equal(t, ids[:2], claim(leaseT0))
	assert.Empty(t, claim(leaseT0.Add(time.Second)))
	assert.Equal(t, []int{2}, seen)

	_, err := s.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: ids[0], State: store.DeliverySucceeded,
		Attempt: store.Attempt{Number: 1, SentAt: leaseT0, Outcome: store.OutcomeSucceeded, StatusCode: 200}})
	require.NoError(t, err)
	assert.Equal(t, ids[2:3], claim(leaseT0.Add(2*time.Second)))
	assert.Equal(t, []int{1}, seen)

	// ids[1]'s lease ends at leaseT0+1m, ids[2]'s at +2s+1m: at +1m the first has run
	// out, is no longer in flight, and is due again (at its lease end, after ids[3]).
	got := claim(leaseT0.Add(time.Minute))
	assert.Equal(t, []int{1}, seen)
	assert.Equal(t, ids[3:4], got, "due at its lease end, ids[1] comes after ids[3]")
	// At +63s ids[2]'s lease has run out too; ids[3]'s (until +2m) has not.
	now := leaseT0.Add(time.Minute + 3*time.Second)
	assert.Equal(t, []string{ids[4], ids[1], ids[2]}, claimIDs(t, s, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Hour)}),
		"due first, then the expired leases by their ends")
}

// TestRecordAfterCancel: RecordAttempt uses the record decoded at the claim only while
// the file holds it unchanged: a delivery cancelled in flight stays cancelled.
func TestRecordAfterCancel(t *testing.T) {
	s, ids := leaseFixture(t, filepath.Join(t.TempDir(), "webhooks.db"), 1)
	ctx := context.Background()
	require.Equal(t, ids, claimIDs(t, s, store.ClaimRequest{Now: leaseT0, Limit: 10, LeaseUntil: leaseT0.Add(time.Minute)}))
	require.NoError(t, s.DeleteSubscription(ctx, "sub_1", leaseT0))
	d, err := s.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: ids[0], State: store.DeliverySucceeded,
		Attempt: store.Attempt{Number: 1, SentAt: leaseT0, Outcome: store.OutcomeSucceeded, StatusCode: 200}})
	require.NoError(t, err)
	assert.Equal(t, store.DeliveryCancelled, d.State)
	assert.Len(t, d.Attempts, 1)
	verifyIndexes(t, s, 0)
}

// TestConcurrentClaimsNeverShareALease: claims and records running at once never hand
// out a delivery whose attempt is not recorded yet.
func TestConcurrentClaimsNeverShareALease(t *testing.T) {
	s, ids := leaseFixture(t, filepath.Join(t.TempDir(), "webhooks.db"), 60)
	ctx := context.Background()
	var mu sync.Mutex
	held := make(map[string]int)   // delivery -> attempts it had when claimed
	claims := make(map[string]int) // delivery -> times claimed
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 60 {
				now := leaseT0.Add(time.Duration(round) * time.Millisecond)
				cs, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 3, LeaseUntil: now.Add(time.Hour)})
				if err != nil {
					errs <- err
					return
				}
				for _, c := range cs {
					n := len(c.Delivery.Attempts)
					mu.Lock()
					if m, ok := held[c.Delivery.ID]; ok && m == n {
						mu.Unlock()
						errs <- fmt.Errorf("worker %d: %s claimed while in flight", w, c.Delivery.ID)
						return
					}
					held[c.Delivery.ID] = n
					claims[c.Delivery.ID]++
					mu.Unlock()
					rec := store.AttemptRecord{DeliveryID: c.Delivery.ID, State: store.DeliveryPending, NextAttemptAt: leaseT0,
						Attempt: store.Attempt{Number: n + 1, SentAt: now, Outcome: store.OutcomeRetry, StatusCode: 500}}
					if n >= 2 {
						rec.State, rec.NextAttemptAt, rec.Attempt.Outcome = store.DeliverySucceeded, time.Time{}, store.OutcomeSucceeded
					}
					if _, err := s.RecordAttempt(ctx, rec); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	verifyIndexes(t, s, 0)
	for _, id := range ids {
		d, err := s.Delivery(ctx, id)
		require.NoError(t, err)
		assert.Len(t, d.Attempts, claims[id], "%s: one attempt per claim", id)
		assert.LessOrEqual(t, len(d.Attempts), 3)
	}
}

// TestRecordKeepsANewerLease: between an attempt's commit and the clearing of its lease,
// a Redeliver can make the delivery due again and a claim lease it anew; the record then
// clears only its own lease, so the delivery is not handed out a second time while the
// new attempt is in flight.
func TestRecordKeepsANewerLease(t *testing.T) {
	s, ids := leaseFixture(t, filepath.Join(t.TempDir(), "webhooks.db"), 1)
	ctx := context.Background()
	req := store.ClaimRequest{Now: leaseT0, Limit: 10, LeaseUntil: leaseT0.Add(time.Minute)}
	require.Equal(t, ids, claimIDs(t, s, req))
	s.recorded = func(id string) {
		s.recorded = nil
		_, err := s.Redeliver(ctx, id, leaseT0)
		require.NoError(t, err)
		require.Equal(t, ids, claimIDs(t, s, req), "due again after Redeliver, and claimed")
	}
	_, err := s.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: ids[0], State: store.DeliverySucceeded,
		Attempt: store.Attempt{Number: 1, SentAt: leaseT0, Outcome: store.OutcomeSucceeded, StatusCode: 200}})
	require.NoError(t, err)
	assert.Empty(t, claimIDs(t, s, req), "leased by the second claim until its attempt is recorded")
	assert.Equal(t, leaseT0.Add(time.Minute), s.leases.leasedUntil(ids[0]))
}
