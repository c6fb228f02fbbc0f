package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

// The sections on the durable store, storebolt. Each file lives in its own temporary
// directory under dir, removed at the end.

type boltEmitResult struct {
	events, emitters int
	store, naive     float64 // events/s
}

// runBoltEmit measures Emit on a storebolt file, every call committed and fsynced before
// it returns, from emitters goroutines, while the dispatcher delivers to the receiver in
// the background (its records share the commits); against the naive baseline, one bbolt
// Update (one fsync) per event from as many goroutines.
func runBoltEmit(rcv *receiver, dir string, emitters, events, workers int) (boltEmitResult, error) {
	res := boltEmitResult{events: events, emitters: emitters}
	tmp, err := os.MkdirTemp(dir, "bench-bolt-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)

	st, err := storebolt.Open(filepath.Join(tmp, "emit.db"))
	if err != nil {
		return res, err
	}
	defer st.Close()
	ctx := context.Background()
	d, err := webhook.New(st, webhook.AllowPrivateNetworks(), webhook.WithWorkers(workers))
	if err != nil {
		return res, err
	}
	defer d.Close(ctx)
	if err := subscribe(ctx, d, 1, rcv.URL); err != nil {
		return res, err
	}
	if res.store, err = concurrently(events, emitters, func(int64) error {
		_, err := d.Emit(ctx, eventtypes.OrderCreated, order)
		return err
	}); err != nil {
		return res, fmt.Errorf("storebolt: %w", err)
	}

	db, err := bolt.Open(filepath.Join(tmp, "naive.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return res, err
	}
	defer db.Close()
	buckets := [][]byte{[]byte("events"), []byte("deliveries")}
	if err := createBuckets(db, buckets); err != nil {
		return res, err
	}
	if res.naive, err = concurrently(events, emitters, func(int64) error {
		return naiveInsert(db, buckets)
	}); err != nil {
		return res, fmt.Errorf("naive bbolt: %w", err)
	}
	return res, nil
}

// naiveInsert stores one event and its delivery, JSON-encoded, in one bbolt Update.
func naiveInsert(db *bolt.DB, buckets [][]byte) error {
	now := time.Now().Round(0).UTC()
	data, err := json.Marshal(order)
	if err != nil {
		return err
	}
	ev := store.Event{ID: store.NewID("evt"), Type: eventtypes.OrderCreated, OccurredAt: now, Data: data}
	dl := store.Delivery{ID: store.NewID("dlv"), EventID: ev.ID, SubscriptionID: "sub_1", EventType: ev.Type,
		State: store.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	evJSON, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	dlJSON, err := json.Marshal(dl)
	if err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(buckets[0]).Put([]byte(ev.ID), evJSON); err != nil {
			return err
		}
		return tx.Bucket(buckets[1]).Put([]byte(dl.ID), dlJSON)
	})
}

// concurrently calls fn n times from workers goroutines and returns the calls per second.
func concurrently(n, workers int, fn func(i int64) error) (float64, error) {
	var (
		next     atomic.Int64
		firstErr atomic.Pointer[error]
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if err := fn(i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		return 0, *err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

type boltIdleResult struct {
	idleFigures
	deliveries int
	fillRate   float64       // InsertEvent/s while filling, without fsync
	fileSize   int64         // bytes
	reopen     time.Duration // storebolt.Open of the filled file
	nextDue    time.Duration // the first NextDue after the reopen
}

// runBoltIdle fills a storebolt file with future deliveries (without fsync: the fill is not
// what is measured), closes it, and measures the reopen, then a dispatcher on it as
// runIdle does.
func runBoltIdle(rcv *receiver, dir string, future int, idle time.Duration, workers int) (boltIdleResult, error) {
	res := boltIdleResult{deliveries: future}
	tmp, err := os.MkdirTemp(dir, "bench-bolt-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "future.db")
	ctx := context.Background()

	res.baseline()
	st, err := storebolt.Open(path, storebolt.WithNoSync(true))
	if err != nil {
		return res, err
	}
	if err := st.CreateSubscription(ctx, idleSubscription(rcv.URL)); err != nil {
		st.Close()
		return res, err
	}
	res.fillRate, err = fillFuture(st, future, 64)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	if fi, err := os.Stat(path); err == nil {
		res.fileSize = fi.Size()
	}

	start := time.Now()
	st, err = storebolt.Open(path)
	if err != nil {
		return res, err
	}
	defer st.Close()
	res.reopen = time.Since(start)
	start = time.Now()
	if _, ok, err := st.NextDue(ctx); err != nil || !ok {
		return res, fmt.Errorf("next due after reopen: ok %v, err %v", ok, err)
	}
	res.nextDue = time.Since(start)
	err = measureIdle(&res.idleFigures, rcv, st, idle, workers)
	return res, err
}

// boltAlone measures what bbolt itself does with the writes of an Emit: events times in
// all, one of emitters goroutines encodes the order to JSON, makes an event ID and puts
// the JSON under it, through DB.Batch with MaxBatchSize set to the number of goroutines
// (so that a commit starts as soon as every goroutine has its next write queued) and
// MaxBatchDelay 1 ms, every commit fsynced, in a new file with storebolt's free-list
// settings. With indexes > 0 each event also puts its ID as a key in that many other
// buckets, as indexes do. It returns events/s: about the most an Emit that stores its
// event durably in bbolt before it returns can do, with these goroutines on this disk.
func boltAlone(dir string, events, emitters, indexes int) (float64, error) {
	tmp, err := os.MkdirTemp(dir, "bench-bbolt-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	db, err := bolt.Open(filepath.Join(tmp, "alone.db"), 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.MaxBatchSize, db.MaxBatchDelay = emitters, time.Millisecond
	buckets := make([][]byte, indexes+1)
	for i := range buckets {
		buckets[i] = fmt.Appendf(nil, "b%d", i)
	}
	if err := createBuckets(db, buckets); err != nil {
		return 0, err
	}
	return concurrently(events, emitters, func(int64) error {
		data, err := json.Marshal(order)
		if err != nil {
			return err
		}
		id := []byte(store.NewID("evt"))
		return db.Batch(func(tx *bolt.Tx) error {
			if err := tx.Bucket(buckets[0]).Put(id, data); err != nil {
				return err
			}
			for _, b := range buckets[1:] {
				if err := tx.Bucket(b).Put(id, empty); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

var empty = []byte{}

// createBuckets creates buckets in db, in one transaction.
func createBuckets(db *bolt.DB, buckets [][]byte) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
}
