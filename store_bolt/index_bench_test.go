package storebolt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

// The large files of these benchmarks take a minute or two to build, so they are built
// once under the system's temp dir, named after the format, and reused by later runs:
// delete them to rebuild. They are only built with -bench.
func cachedFile(b *testing.B, name string, build func(path string)) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("storebolt-bench-v2-%s.db", name))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".building"
	_ = os.Remove(tmp)
	start := time.Now()
	build(tmp)
	require.NoError(b, os.Rename(tmp, path))
	b.Logf("built %s in %s", path, time.Since(start).Round(time.Second))
	return path
}

// parallel calls fn(i) for i in [0, n) from 64 goroutines.
func parallel(b *testing.B, n int, fn func(i int) error) {
	var wg sync.WaitGroup
	var once sync.Once
	var failed error
	const workers = 64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
					once.Do(func() { failed = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(b, failed)
}

const (
	logWorkspaces = 100
	logEvents     = 500_000 // each to the 2 subscriptions of its workspace: 1,000,000 deliveries
)

var logT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// logFile is a store with 1,000,000 deliveries: 100 workspaces of 2 subscriptions, one
// event a second; in each workspace 90% of the deliveries succeeded, 5% failed, the rest
// pending but for one deleted subscription's, cancelled (about 250).
func logFile(b *testing.B) string {
	return cachedFile(b, "log-1m-mixed", func(path string) {
		s, err := storebolt.Open(path, storebolt.WithNoSync(true))
		require.NoError(b, err)
		defer s.Close()
		ctx := context.Background()
		for w := range logWorkspaces {
			for i := range 2 {
				require.NoError(b, s.CreateSubscription(ctx, store.Subscription{
					ID: fmt.Sprintf("sub_%d_%d", w, i), Workspace: fmt.Sprintf("shop_%d", w),
					URL: "https://example.com/", Events: []string{"order.*"}, Status: store.StatusActive,
				}))
			}
		}
		parallel(b, logEvents, func(i int) error {
			now := logT0.Add(time.Duration(i) * time.Second)
			ins, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Workspace: fmt.Sprintf("shop_%d", i%logWorkspaces), Type: "order.created", OccurredAt: now, Data: benchData}, now)
			if err != nil {
				return err
			}
			for j, id := range ins.Deliveries {
				k := (2*(i/logWorkspaces) + j) % 100 // every workspace has each state
				var rec store.AttemptRecord
				switch {
				case k < 90:
					rec = store.AttemptRecord{State: store.DeliverySucceeded, Attempt: store.Attempt{Number: 1, SentAt: now, Duration: time.Millisecond, StatusCode: 200, Outcome: store.OutcomeSucceeded}}
				case k < 95:
					rec = store.AttemptRecord{State: store.DeliveryFailed, Attempt: store.Attempt{Number: 1, SentAt: now, Duration: time.Millisecond, StatusCode: 410, Outcome: store.OutcomeGaveUp, ErrorKind: store.ErrorClient}}
				default:
					continue // pending, or cancelled below
				}
				rec.DeliveryID = id
				if _, err := s.RecordAttempt(ctx, rec); err != nil {
					return err
				}
			}
			return nil
		})
		// Cancelled: the deliveries of one subscription deleted near the end.
		require.NoError(b, s.DeleteSubscription(ctx, "sub_7_1", logT0.Add(logEvents*time.Second)))
	})
}

// BenchmarkDeliveries measures a page of 100 of each kind of DeliveryQuery in a store of
// 1,000,000 deliveries (the first run builds it, see cachedFile): each is served by an
// index and costs about the same whatever the query leaves out.
func BenchmarkDeliveries(b *testing.B) {
	path := logFile(b)
	s, err := storebolt.Open(path)
	require.NoError(b, err)
	defer s.Close()
	ctx := context.Background()
	mid := logT0.Add(logEvents / 2 * time.Second)
	first, err := s.Deliveries(ctx, store.DeliveryQuery{Until: mid, Limit: 1})
	require.NoError(b, err)
	require.Len(b, first, 1)
	cursor := first[0].ID
	queries := []struct {
		name string
		q    store.DeliveryQuery
	}{
		{"all", store.DeliveryQuery{}},
		{"workspace", store.DeliveryQuery{Workspace: "shop_42"}},
		{"subscription", store.DeliveryQuery{SubscriptionID: "sub_42_1"}},
		{"event", store.DeliveryQuery{EventID: "evt_250042"}},
		{"state=pending", store.DeliveryQuery{State: store.DeliveryPending}},
		{"state=cancelled", store.DeliveryQuery{State: store.DeliveryCancelled}},
		{"workspace+state=failed", store.DeliveryQuery{Workspace: "shop_42", State: store.DeliveryFailed}},
		{"subscription+state=pending", store.DeliveryQuery{SubscriptionID: "sub_42_1", State: store.DeliveryPending}},
		{"workspace+subscription", store.DeliveryQuery{Workspace: "shop_42", SubscriptionID: "sub_42_0"}},
		{"workspace+other's-subscription", store.DeliveryQuery{Workspace: "shop_42", SubscriptionID: "sub_43_0"}},
		{"since+until", store.DeliveryQuery{Since: mid.Add(-time.Hour), Until: mid}},
		{"workspace+since+until", store.DeliveryQuery{Workspace: "shop_42", Since: mid.Add(-24 * time.Hour), Until: mid}},
		{"state=failed+since", store.DeliveryQuery{State: store.DeliveryFailed, Since: mid}},
		{"before(mid)", store.DeliveryQuery{Before: cursor}},
		{"workspace+state+before(mid)", store.DeliveryQuery{Workspace: "shop_42", State: store.DeliverySucceeded, Before: cursor}},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				ds, err := s.Deliveries(ctx, q.q)
				if err != nil {
					b.Fatal(err)
				}
				n = len(ds)
			}
			b.ReportMetric(float64(n), "rows")
		})
	}
}

// BenchmarkWorkspaceListing lists one workspace's subscriptions, its deliveries, and its
// Stats, in stores of 10 and of 10,000 workspaces of 3 subscriptions (each with 2
// deliveries): the cost must not grow with the other workspaces.
func BenchmarkWorkspaceListing(b *testing.B) {
	for _, workspaces := range []int{10, 10_000} {
		path := cachedFile(b, fmt.Sprintf("ws-%d", workspaces), func(path string) {
			s, err := storebolt.Open(path, storebolt.WithNoSync(true))
			require.NoError(b, err)
			defer s.Close()
			ctx := context.Background()
			parallel(b, workspaces, func(w int) error {
				ws := fmt.Sprintf("shop_%d", w)
				for i := range 3 {
					if err := s.CreateSubscription(ctx, store.Subscription{
						ID: fmt.Sprintf("sub_%d_%d", w, i), Workspace: ws, URL: "https://example.com/",
						Events: []string{"order.*"}, Status: store.StatusActive,
					}); err != nil {
						return err
					}
				}
				for i := range 2 {
					now := logT0.Add(time.Duration(i) * time.Second)
					if _, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d_%d", w, i), Workspace: ws, Type: "order.created", OccurredAt: now, Data: benchData}, now); err != nil {
						return err
					}
				}
				return nil
			})
		})
		s, err := storebolt.Open(path)
		require.NoError(b, err)
		ctx := context.Background()
		ws := fmt.Sprintf("shop_%d", workspaces/2)
		b.Run(fmt.Sprintf("workspaces=%d/subscriptions", workspaces), func(b *testing.B) {
			for b.Loop() {
				subs, err := s.Subscriptions(ctx, store.SubscriptionFilter{Workspace: ws})
				if err != nil || len(subs) != 3 {
					b.Fatal(err, len(subs))
				}
			}
		})
		b.Run(fmt.Sprintf("workspaces=%d/deliveries", workspaces), func(b *testing.B) {
			for b.Loop() {
				ds, err := s.Deliveries(ctx, store.DeliveryQuery{Workspace: ws})
				if err != nil || len(ds) != 6 {
					b.Fatal(err, len(ds))
				}
			}
		})
		b.Run(fmt.Sprintf("workspaces=%d/stats", workspaces), func(b *testing.B) {
			for b.Loop() {
				st, err := s.Stats(ctx, ws, logT0)
				if err != nil || len(st.Subscriptions) != 3 {
					b.Fatal(err, len(st.Subscriptions))
				}
			}
		})
		require.NoError(b, s.Close())
	}
}

// BenchmarkClaimSkipped measures ClaimDue of 10 (one from each of 10 subscriptions) while
// another subscription, due first, is at its quota with a backlog of 0 to 100,000
// deliveries: skipping it must cost the same whatever its backlog.
func BenchmarkClaimSkipped(b *testing.B) {
	for _, backlog := range []int{0, 1000, 100_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			s, err := storebolt.Open(filepath.Join(b.TempDir(), "claim.db"), storebolt.WithNoSync(true))
			require.NoError(b, err)
			defer s.Close()
			ctx := context.Background()
			require.NoError(b, s.CreateSubscription(ctx, store.Subscription{ID: "hot", Workspace: "big", URL: "https://example.com/", Events: []string{"*"}, Status: store.StatusActive}))
			parallel(b, backlog, func(i int) error {
				_, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_hot_%d", i), Workspace: "big", Type: "order.created", OccurredAt: logT0, Data: benchData}, logT0)
				return err
			})
			for i := range 10 {
				require.NoError(b, s.CreateSubscription(ctx, store.Subscription{ID: fmt.Sprintf("sub_%d", i), Workspace: fmt.Sprintf("shop_%d", i), URL: "https://example.com/", Events: []string{"*"}, Status: store.StatusActive}))
			}
			events := 0
			refill := func() { // 200 more due deliveries for each of the 10
				parallel(b, 2000, func(i int) error {
					ev := store.Event{ID: fmt.Sprintf("evt_%d_%d", i%10, events+i), Workspace: fmt.Sprintf("shop_%d", i%10), Type: "order.created", OccurredAt: logT0, Data: benchData}
					_, err := s.InsertEvent(ctx, ev, logT0.Add(time.Second))
					return err
				})
				events += 2000
			}
			quota := func(sub *store.Subscription, _ int) int {
				if sub.ID == "hot" {
					return 0
				}
				return 1
			}
			now := logT0.Add(time.Minute)
			refill()
			b.ResetTimer()
			for range b.N {
				cs, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Minute), Quota: quota})
				if err != nil {
					b.Fatal(err)
				}
				if len(cs) < 10 {
					b.StopTimer()
					refill()
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkReopen1M measures a restart with 1,000,000 pending deliveries: Open and the first
// ClaimDue of 100, with bbolt's free list written at commits (the default) or rebuilt at
// Open (WithNoFreelistSync), with and without the page check (WithCheck).
func BenchmarkReopen1M(b *testing.B) {
	const pending = 1_000_000
	src := cachedFile(b, "pending-1m", func(path string) {
		s, err := storebolt.Open(path, storebolt.WithNoSync(true))
		require.NoError(b, err)
		defer s.Close()
		ctx := context.Background()
		require.NoError(b, s.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}, Status: store.StatusActive}))
		parallel(b, pending, func(i int) error {
			at := logT0.Add(time.Duration(i) * time.Millisecond)
			_, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "order.created", OccurredAt: at, Data: benchData}, at)
			return err
		})
	})
	ctx := context.Background()
	now := logT0.Add(time.Hour)
	for _, v := range []struct {
		name string
		opts []storebolt.Option
	}{
		{"freelist-sync/check", nil},
		{"freelist-sync/no-check", []storebolt.Option{storebolt.WithCheck(false)}},
		{"no-freelist-sync/check", []storebolt.Option{storebolt.WithNoFreelistSync(true)}},
		{"no-freelist-sync/no-check", []storebolt.Option{storebolt.WithNoFreelistSync(true), storebolt.WithCheck(false)}},
	} {
		b.Run(v.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "reopen.db")
			copyFile(b, src, path)
			reopen := func() {
				s, err := storebolt.Open(path, v.opts...)
				if err != nil {
					b.Fatal(err)
				}
				cs, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 100, LeaseUntil: now.Add(time.Minute)})
				if err != nil || len(cs) != 100 {
					b.Fatal(err, len(cs))
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			reopen() // leaves the file as this mode writes it
			for b.Loop() {
				reopen()
			}
			if fi, err := os.Stat(path); err == nil {
				b.ReportMetric(float64(fi.Size())/(1<<20), "file-MB")
			}
		})
	}
}

// BenchmarkBoltTxCheck1M measures bbolt's own consistency check (Tx.Check, in a read
// transaction) on the file of BenchmarkReopen1M, for comparison with Open's page check.
// It is not what Open uses: Tx.Check reads pages in a goroutine of its own, where a wild
// page ID in a damaged file is a fatal fault.
func BenchmarkBoltTxCheck1M(b *testing.B) {
	src := filepath.Join(os.TempDir(), "storebolt-bench-v2-pending-1m.db")
	if _, err := os.Stat(src); err != nil {
		b.Skip("run BenchmarkReopen1M first: it builds the file")
	}
	path := filepath.Join(b.TempDir(), "check.db")
	copyFile(b, src, path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(b, err)
	defer db.Close()
	for b.Loop() {
		require.NoError(b, db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		}))
	}
}

func copyFile(b *testing.B, from, to string) {
	data, err := os.ReadFile(from)
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(to, data, 0o600))
}
