package storebolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// TestIndexesStayConsistent runs random sequences of every operation that moves a
// delivery (fan-out, claims with quotas, attempts of every outcome and action, status
// changes, deletes, redeliveries, pruning, reopening) and checks after each step that
// every index, due_subs and the counters say exactly what the records say.
func TestIndexesStayConsistent(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			path := filepath.Join(t.TempDir(), "webhooks.db")
			s, err := Open(path, WithNoSync(true))
			require.NoError(t, err)
			defer func() { _ = s.Close() }()
			ctx := context.Background()
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var subs []string
			var claimed []string
			events := 0
			for step := range 400 {
				now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				ws := fmt.Sprintf("shop_%d", rng.IntN(3))
				var err error
				switch op := rng.IntN(20); {
				case op < 2 || len(subs) == 0:
					id := fmt.Sprintf("sub_%d", step)
					status, policy := store.StatusActive, store.InactiveDiscard
					if rng.IntN(4) == 0 {
						status = store.StatusInactive
					}
					if rng.IntN(2) == 0 {
						policy = store.InactiveHold
					}
					patterns := [][]string{{"order.*"}, {"order.created"}, {"*"}, {"product.created", "order.updated"}}[rng.IntN(4)]
					err = s.CreateSubscription(ctx, store.Subscription{ID: id, Workspace: ws, URL: "https://example.com/", Events: patterns, Status: status, WhileInactive: policy})
					subs = append(subs, id)
				case op < 8:
					events++
					typ := []string{"order.created", "order.updated", "product.created"}[rng.IntN(3)]
					_, err = s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", events), Workspace: ws, Type: typ, OccurredAt: now, Data: []byte(`{}`)}, now)
				case op < 11:
					var cs []store.Claim
					cs, _, err = s.ClaimDue(ctx, store.ClaimRequest{
						Now: now, Limit: 1 + rng.IntN(6), LeaseUntil: now.Add(time.Duration(1+rng.IntN(10)) * time.Second),
						Quota: func(sub *store.Subscription, inFlight int) int { return 2 - inFlight + rng.IntN(2) },
					})
					for _, c := range cs {
						claimed = append(claimed, c.Delivery.ID)
					}
				case op < 15 && len(claimed) > 0:
					i := rng.IntN(len(claimed))
					id := claimed[i]
					claimed = append(claimed[:i], claimed[i+1:]...)
					rec := store.AttemptRecord{DeliveryID: id, Attempt: store.Attempt{Number: 1, SentAt: now, Duration: time.Millisecond}}
					switch rng.IntN(5) {
					case 0:
						rec.State, rec.Attempt.Outcome = store.DeliverySucceeded, store.OutcomeSucceeded
					case 1:
						rec.State, rec.NextAttemptAt, rec.Attempt.Outcome = store.DeliveryPending, now.Add(time.Duration(rng.IntN(5))*time.Second), store.OutcomeRetry
					case 2:
						rec.State, rec.Attempt.Outcome = store.DeliveryFailed, store.OutcomeGaveUp
					case 3:
						rec.State, rec.Action, rec.Attempt.Outcome = store.DeliveryFailed, store.ActionDeactivate, store.OutcomeDeactivated
					case 4:
						rec.State, rec.Action, rec.Attempt.Outcome = store.DeliveryFailed, store.ActionDelete, store.OutcomeUnsubscribed
					}
					_, err = s.RecordAttempt(ctx, rec)
					if err != nil && errorsIsNotFound(err) {
						err = nil // pruned meanwhile
					}
				case op < 16:
					id := subs[rng.IntN(len(subs))]
					_, err = s.UpdateSubscription(ctx, id, now, func(sub *store.Subscription) error {
						if sub.Status == store.StatusActive {
							sub.Status = store.StatusInactive
						} else {
							sub.Status = store.StatusActive
						}
						return nil
					})
				case op < 17:
					err = s.DeleteSubscription(ctx, subs[rng.IntN(len(subs))], now)
				case op < 18:
					var ds []store.Delivery
					if ds, err = s.Deliveries(ctx, store.DeliveryQuery{State: store.DeliveryFailed, Limit: 1}); err == nil && len(ds) == 1 {
						_, err = s.Redeliver(ctx, ds[0].ID, now)
					}
				case op < 19:
					_, err = s.Prune(ctx, store.PruneRequest{Before: now.Add(-5 * time.Second), KeepPerSubscription: 3, Limit: rng.IntN(5)})
				default:
					require.NoError(t, s.Close())
					s, err = Open(path, WithNoSync(true))
					claimed = nil // leases are reset
				}
				if err != nil && !errorsIsNotFound(err) && !errorsIsInactive(err) {
					require.NoError(t, err, "step %d", step)
				}
				verifyIndexes(t, s, step)
			}
		})
	}
}

func errorsIsNotFound(err error) bool { return err != nil && errors.Is(err, store.ErrNotFound) }
func errorsIsInactive(err error) bool {
	return err != nil && (errors.Is(err, store.ErrInactive) || errors.Is(err, store.ErrInFlight))
}

// verifyIndexes rebuilds every index and counter from the records and compares.
func verifyIndexes(t *testing.T, s *Store, step int) {
	t.Helper()
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		tt := newTxn(tx)
		want := make([]map[string]string, nIndexes)
		for i := range want {
			want[i] = make(map[string]string)
		}
		type counts struct{ pending, held, fin int64 }
		wantCounts := make(map[string]*counts)
		firstQueue := make(map[string][]byte)
		err := tt.dlvs().ForEach(func(k, v []byte) error {
			rp, err := decodeDelivery(string(k), v)
			require.NoError(t, err)
			r := *rp
			keys := keysOf(&r)
			for i, key := range keys {
				if key == nil {
					continue
				}
				val := ""
				if valueIndexes[i] {
					val = r.ID
				}
				want[i][string(key)] = val
			}
			c := wantCounts[r.SubscriptionID]
			if c == nil {
				c = &counts{}
				wantCounts[r.SubscriptionID] = c
			}
			switch {
			case r.State == store.DeliveryPending:
				c.pending++
				require.True(t, r.LeasedUntil.IsZero(), "step %d: a lease in the file", step)
			case r.State == store.DeliveryHeld:
				c.held++
			default:
				c.fin++
			}
			if q := keys[ixQueue]; q != nil {
				if f := firstQueue[r.SubscriptionID]; f == nil || bytes.Compare(q, f) < 0 {
					firstQueue[r.SubscriptionID] = q
				}
			}
			return nil
		})
		require.NoError(t, err)
		for i := range nIndexes {
			got := make(map[string]string)
			require.NoError(t, tt.indexBucket(i).ForEach(func(k, v []byte) error {
				got[string(k)] = string(v)
				return nil
			}))
			require.Equal(t, want[i], got, "step %d: index %d", step, i)
		}
		wantDue := make(map[string]bool)
		for sub, q := range firstQueue {
			wantDue[string(dueSubKey(sub, q))] = true
		}
		gotDue := make(map[string]bool)
		require.NoError(t, tt.dueSubs().ForEach(func(k, _ []byte) error {
			gotDue[string(k)] = true
			return nil
		}))
		require.Equal(t, wantDue, gotDue, "step %d: due_subs", step)
		for sub, c := range wantCounts {
			if tt.subs().Get([]byte(sub)) != nil {
				p, h := tt.countsOf(sub)
				require.Equal(t, [2]int64{c.pending, c.held}, [2]int64{p, h}, "step %d: counts of %s", step, sub)
				require.LessOrEqual(t, len(tt.counts().Get([]byte(sub))), 16, "step %d: counts of %s", step, sub)
			}
			require.Equal(t, c.fin, counter(tt.finCounts().Get([]byte(sub)), 0), "step %d: finished of %s", step, sub)
		}
		return nil
	}))
}

// TestIndexesConsistentAfterSharedCommits: inserts and attempt records from many
// goroutines share commits, each of which moves several deliveries of a subscription and
// writes its counters and due_subs key once; afterwards every index, due_subs and the
// counters say what the records say.
func TestIndexesConsistentAfterSharedCommits(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "webhooks.db"), WithNoSync(true))
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		require.NoError(t, s.CreateSubscription(ctx, store.Subscription{ID: fmt.Sprintf("sub_%d", i), URL: "https://example.com/", Events: []string{"*"}, Status: store.StatusActive}))
	}
	const goroutines, each = 16, 20
	run := func(fn func(g, i int) error) {
		errs := make(chan error, goroutines)
		for g := range goroutines {
			go func() {
				for i := range each {
					if err := fn(g, i); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range goroutines {
			require.NoError(t, <-errs)
		}
	}
	before := s.commit.commits.Load()
	run(func(g, i int) error {
		_, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d_%d", g, i), Type: "order.created", OccurredAt: now, Data: []byte(`{}`)}, now)
		return err
	})
	verifyIndexes(t, s, 0)
	claims, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 3 * goroutines * each, LeaseUntil: now.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, claims, 3*goroutines*each)
	run(func(g, i int) error {
		c := claims[g*each+i] // 320 of the 960, spread over the subscriptions
		rec := store.AttemptRecord{DeliveryID: c.Delivery.ID, Attempt: store.Attempt{Number: 1, SentAt: now, Duration: time.Millisecond}}
		switch i % 3 {
		case 0:
			rec.State, rec.Attempt.Outcome = store.DeliverySucceeded, store.OutcomeSucceeded
		case 1:
			rec.State, rec.NextAttemptAt, rec.Attempt.Outcome = store.DeliveryPending, now.Add(time.Duration(g)*time.Second), store.OutcomeRetry
		case 2:
			rec.State, rec.Attempt.Outcome = store.DeliveryFailed, store.OutcomeGaveUp
		}
		_, err := s.RecordAttempt(ctx, rec)
		return err
	})
	verifyIndexes(t, s, 1)
	calls := int64(2 * goroutines * each)
	require.Less(t, s.commit.commits.Load()-before, calls, "no commit was shared: the test tests nothing")
}
