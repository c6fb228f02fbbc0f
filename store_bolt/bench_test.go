package storebolt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

var benchData = json.RawMessage(`{"id":12345,"total":"99.90","currency":"EUR","lines":[{"sku":"A-1","qty":2}]}`)

// BenchmarkInsertEvent measures committed (fsynced) events per second with one active
// subscription, for 1, 16 and 64 concurrent emitters: the store (group commit, all
// indexes) against a naive baseline that runs one bbolt Update per event (event and
// delivery put, no index), and the same baseline with bbolt's own DB.Batch (1 ms delay).
// store-no-freelist-sync is the store without writing bbolt's free list at commits.
func BenchmarkInsertEvent(b *testing.B) {
	for _, emitters := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("store/emitters=%d", emitters), func(b *testing.B) { benchInsert(b, emitters) })
		b.Run(fmt.Sprintf("store-no-freelist-sync/emitters=%d", emitters), func(b *testing.B) {
			benchInsert(b, emitters, storebolt.WithNoFreelistSync(true))
		})
		b.Run(fmt.Sprintf("naive/emitters=%d", emitters), func(b *testing.B) {
			db := naiveDB(b)
			runEmitters(b, emitters, func(i int64) error { return db.Update(naivePut(i)) })
		})
		b.Run(fmt.Sprintf("naive-batch/emitters=%d", emitters), func(b *testing.B) {
			db := naiveDB(b)
			db.MaxBatchDelay = time.Millisecond
			runEmitters(b, emitters, func(i int64) error { return db.Batch(naivePut(i)) })
		})
	}
}

// benchInsert is BenchmarkInsertEvent on the store opened with opts.
func benchInsert(b *testing.B, emitters int, opts ...storebolt.Option) {
	s, err := storebolt.Open(filepath.Join(b.TempDir(), "bench.db"), opts...)
	require.NoError(b, err)
	defer s.Close()
	ctx := context.Background()
	sub := store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"order.*"}, Status: store.StatusActive}
	require.NoError(b, s.CreateSubscription(ctx, sub))
	runEmitters(b, emitters, func(i int64) error {
		now := time.Now()
		ins, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "order.created", OccurredAt: now, Data: benchData}, now)
		if err == nil && len(ins.Deliveries) != 1 {
			err = fmt.Errorf("%d deliveries", len(ins.Deliveries))
		}
		return err
	})
}

// naiveDB is a bbolt file with an events and a deliveries bucket, default options.
func naiveDB(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "naive.db"), 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	require.NoError(b, db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"events", "deliveries"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	}))
	return db
}

// naivePut stores event i and its one delivery as JSON, without any index.
func naivePut(i int64) func(*bolt.Tx) error {
	now := time.Now()
	id := fmt.Sprintf("evt_%d", i)
	ev, _ := json.Marshal(store.Event{ID: id, Type: "order.created", OccurredAt: now, Data: benchData})
	d := store.Delivery{ID: store.NewID("dlv"), EventID: id, SubscriptionID: "sub_1", EventType: "order.created", State: store.DeliveryPending, NextAttemptAt: now, CreatedAt: now}
	dv, _ := json.Marshal(d)
	return func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("events")).Put([]byte(id), ev); err != nil {
			return err
		}
		return tx.Bucket([]byte("deliveries")).Put([]byte(d.ID), dv)
	}
}

// runEmitters calls emit b.N times in all, from n goroutines, and reports events/s.
func runEmitters(b *testing.B, n int, emit func(i int64) error) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := emit(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// BenchmarkReopen measures a restart with 100,000 pending deliveries: Open (free-list
// rebuild, lease recovery) and the first ClaimDue of 100.
func BenchmarkReopen(b *testing.B) {
	const pending = 100_000
	path := filepath.Join(b.TempDir(), "reopen.db")
	ctx := context.Background()
	s, err := storebolt.Open(path, storebolt.WithNoSync(true))
	require.NoError(b, err)
	require.NoError(b, s.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}}))
	t0 := time.Now()
	var wg sync.WaitGroup
	const writers = 64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < pending; i += writers {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				if _, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "order.created", OccurredAt: at, Data: benchData}, at); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st, err := s.Stats(ctx, "", t0)
	require.NoError(b, err)
	require.Equal(b, int64(pending), st.Overall.Pending)
	require.NoError(b, s.Close())

	now := t0.Add(time.Hour)
	for b.Loop() {
		s, err := storebolt.Open(path)
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
	if fi, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MB")
	}
}
