package storebolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
	"github.com/shophooks/webhook/store/storetest"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "webhooks.db"))
	})
}

// open opens a store that the test closes at its end.
func open(t *testing.T, path string, opts ...storebolt.Option) *storebolt.Store {
	t.Helper()
	s, err := storebolt.Open(path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var (
	ctx = context.Background()
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func sub(id string, events ...string) store.Subscription {
	return store.Subscription{
		ID: id, Name: "Hook " + id, URL: "https://hooks.example.com/" + id, Events: events,
		Secret: "whsec_" + id, Headers: map[string]string{"X-Api-Key": id},
		Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0,
	}
}

func event(id, typ string, at time.Time) store.Event {
	return store.Event{ID: id, Type: typ, OccurredAt: at, Data: []byte(`{"order_id": 12345}`)}
}

func success(id string, sent time.Time) store.AttemptRecord {
	return store.AttemptRecord{DeliveryID: id, State: store.DeliverySucceeded, Attempt: store.Attempt{
		Number: 1, SentAt: sent, Duration: 80 * time.Millisecond, StatusCode: 200, Outcome: store.OutcomeSucceeded,
	}}
}

// snapshot is everything a store answers, to compare before and after a reopen.
type snapshot struct {
	Subs       []store.Subscription
	Deliveries []store.Delivery
	Events     map[string]store.Event
	Stats      store.Stats
	NextDue    time.Time
}

func snap(t *testing.T, s store.Store, now time.Time, events ...string) snapshot {
	t.Helper()
	var sn snapshot
	var err error
	sn.Subs, err = s.Subscriptions(ctx, store.SubscriptionFilter{})
	require.NoError(t, err)
	sn.Deliveries, err = s.Deliveries(ctx, store.DeliveryQuery{Limit: 1000})
	require.NoError(t, err)
	sn.Events = map[string]store.Event{}
	for _, id := range events {
		sn.Events[id], err = s.Event(ctx, id)
		require.NoError(t, err)
	}
	sn.Stats, err = s.Stats(ctx, "", now)
	require.NoError(t, err)
	sn.NextDue, _, err = s.NextDue(ctx)
	require.NoError(t, err)
	return sn
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.db")
	s, err := storebolt.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.CreateSubscription(ctx, sub("sub_1", "order.*")))
	hold := sub("sub_hold", "order.created")
	hold.Status, hold.WhileInactive = store.StatusInactive, store.InactiveHold
	require.NoError(t, s.CreateSubscription(ctx, hold))

	ins1, err := s.InsertEvent(ctx, event("evt_1", "order.created", t0), t0)
	require.NoError(t, err)
	require.Equal(t, 1, ins1.Pending)
	require.Equal(t, 1, ins1.Held)
	_, err = s.InsertEvent(ctx, event("evt_2", "order.updated", t0), t0.Add(time.Second))
	require.NoError(t, err)
	_, err = s.InsertEvent(ctx, event("evt_3", "product.created", t0), t0) // no subscriber
	require.NoError(t, err)
	claims, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: t0.Add(time.Second), Limit: 10, LeaseUntil: t0.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, claims, 2)
	_, err = s.RecordAttempt(ctx, success(claims[0].Delivery.ID, t0.Add(time.Second)))
	require.NoError(t, err)
	retry := success(claims[1].Delivery.ID, t0.Add(time.Second))
	retry.State, retry.NextAttemptAt = store.DeliveryPending, t0.Add(2*time.Minute)
	retry.Attempt.StatusCode, retry.Attempt.Outcome, retry.Attempt.ErrorKind = 503, store.OutcomeRetry, store.ErrorServer
	_, err = s.RecordAttempt(ctx, retry)
	require.NoError(t, err)

	now := t0.Add(time.Minute)
	before := snap(t, s, now, "evt_1", "evt_2", "evt_3")
	require.NoError(t, s.Close())

	s = open(t, path)
	after := snap(t, s, now, "evt_1", "evt_2", "evt_3")
	assert.Equal(t, before, after, "a reopened store answers the same")
	assert.Len(t, after.Deliveries, 3)
	assert.Equal(t, int64(2), after.Stats.Overall.Attempts)
	assert.Equal(t, int64(1), after.Stats.Subscriptions["sub_hold"].Held)
	assert.True(t, after.NextDue.Equal(t0.Add(2*time.Minute)), "the retry keeps its due time: %s", after.NextDue)

	// The queue and the indexes work on.
	cs, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: t0.Add(2 * time.Minute), Limit: 10, LeaseUntil: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, claims[1].Delivery.ID, cs[0].Delivery.ID)
	assert.Equal(t, "X-Api-Key", firstKey(cs[0].Subscription.Headers))
	again, err := s.InsertEvent(ctx, event("evt_1", "order.created", t0), now)
	require.NoError(t, err)
	assert.False(t, again.Created, "event IDs stay taken")
	ins4, err := s.InsertEvent(ctx, event("evt_4", "order.created", now), now)
	require.NoError(t, err)
	assert.Equal(t, 1, ins4.Pending, "the fan-out index survives")
	assert.Equal(t, 1, ins4.Held)
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

func TestLeasesRecoveredAtReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.db")
	s, err := storebolt.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.CreateSubscription(ctx, sub("sub_1", "order.created")))
	var ids []string
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Second)
		ins, err := s.InsertEvent(ctx, event(fmt.Sprintf("evt_%d", i), "order.created", at), at)
		require.NoError(t, err)
		ids = append(ids, ins.Deliveries[0])
	}
	cs, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: t0.Add(time.Second), Limit: 10, LeaseUntil: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, cs, 2, "two in flight when the process stops")
	require.NoError(t, s.Close())

	s = open(t, path)
	for _, id := range ids {
		d, err := s.Delivery(ctx, id)
		require.NoError(t, err)
		assert.True(t, d.LeasedUntil.IsZero(), "no lease survives a reopen")
		assert.Equal(t, store.DeliveryPending, d.State)
	}
	due, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, due.Equal(t0), "due at once, not at the lease end: %s", due)
	cs, _, err = s.ClaimDue(ctx, store.ClaimRequest{Now: t0.Add(2 * time.Second), Limit: 10, LeaseUntil: t0.Add(time.Hour)})
	require.NoError(t, err)
	var got []string
	for _, c := range cs {
		got = append(got, c.Delivery.ID)
	}
	assert.Equal(t, ids, got, "attempted again, in due order, long before the old lease ends")
}

func TestSecondOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.db")
	open(t, path)
	start := time.Now()
	_, err := storebolt.Open(path, storebolt.WithTimeout(100*time.Millisecond))
	require.ErrorIs(t, err, storebolt.ErrLocked)
	assert.Contains(t, err.Error(), path)
	assert.Less(t, time.Since(start), 5*time.Second, "fails fast, does not hang")
}

// TestSecondProcessLocked opens the file from a child process (this test binary, running
// TestHelperOpen) while this process has it open, then again once it is closed.
func TestSecondProcessLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "webhooks.db")
	s, err := storebolt.Open(path)
	require.NoError(t, err)
	child := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOpen$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STOREBOLT_HELPER_OPEN="+path)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	start := time.Now()
	assert.Contains(t, child(), "HELPER: locked", "a second process is refused")
	assert.Less(t, time.Since(start), 30*time.Second)
	require.NoError(t, s.Close())
	assert.Contains(t, child(), "HELPER: opened", "and gets the file once the first one closed it")
}

func TestHelperOpen(t *testing.T) {
	path := os.Getenv("STOREBOLT_HELPER_OPEN")
	if path == "" {
		t.Skip("the child of TestSecondProcessLocked")
	}
	s, err := storebolt.Open(path, storebolt.WithTimeout(200*time.Millisecond))
	switch {
	case errors.Is(err, storebolt.ErrLocked):
		fmt.Println("HELPER: locked:", err)
	case err != nil:
		fmt.Println("HELPER: error:", err)
	default:
		fmt.Println("HELPER: opened")
		_ = s.Close()
	}
}

func TestFormat(t *testing.T) {
	dir := t.TempDir()
	refused := func(t *testing.T, path, mention string) {
		t.Helper()
		before, err := os.ReadFile(path)
		require.NoError(t, err)
		_, err = storebolt.Open(path)
		require.ErrorIs(t, err, storebolt.ErrFormat)
		assert.Contains(t, err.Error(), mention)
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(before, after), "the file is left as it was")
	}

	t.Run("Garbage", func(t *testing.T) {
		for i, content := range [][]byte{
			[]byte("not a database"),
			bytes.Repeat([]byte("webhook "), 4096),
			append([]byte("SQLite format 3\x00"), make([]byte, 16384)...),
		} {
			path := filepath.Join(dir, fmt.Sprintf("garbage%d", i))
			require.NoError(t, os.WriteFile(path, content, 0o600))
			refused(t, path, path)
		}
	})

	t.Run("OtherBolt", func(t *testing.T) {
		path := filepath.Join(dir, "other.db")
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("config"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		}))
		require.NoError(t, db.Close())
		refused(t, path, "another application")
	})

	t.Run("OtherVersion", func(t *testing.T) {
		path := filepath.Join(dir, "v4.db")
		s, err := storebolt.Open(path)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte{0, 0, 0, 0, 0, 0, 0, 4})
		}))
		require.NoError(t, db.Close())
		refused(t, path, "version 4")
	})

	t.Run("EmptyFile", func(t *testing.T) {
		path := filepath.Join(dir, "empty.db")
		require.NoError(t, os.WriteFile(path, nil, 0o600))
		s := open(t, path)
		require.NoError(t, s.CreateSubscription(ctx, sub("sub_1", "*")))
	})

	t.Run("NewFile", func(t *testing.T) {
		path := filepath.Join(dir, "sub", "new.db")
		_, err := storebolt.Open(path)
		require.Error(t, err, "a missing directory is an error")
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		open(t, path)
	})
}

func TestClosed(t *testing.T) {
	s, err := storebolt.Open(filepath.Join(t.TempDir(), "webhooks.db"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close is harmless")
	_, err = s.InsertEvent(ctx, event("evt_1", "order.created", t0), t0)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "storebolt: "), err.Error())
	_, err = s.Subscriptions(ctx, store.SubscriptionFilter{})
	require.Error(t, err)
}

func TestErrorsNameTheID(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "webhooks.db"))
	_, err := s.Subscription(ctx, "sub_1")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Equal(t, `storebolt: subscription "sub_1": not found`, err.Error())
	_, err = s.RecordAttempt(ctx, success("dlv_1", t0))
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Equal(t, `storebolt: delivery "dlv_1": not found`, err.Error())
	require.NoError(t, s.CreateSubscription(ctx, sub("sub_1", "*")))
	err = s.CreateSubscription(ctx, sub("sub_1", "*"))
	require.ErrorIs(t, err, store.ErrConflict)
	assert.Equal(t, `storebolt: subscription "sub_1": already exists`, err.Error())
}

// TestSharedCommitIsolation runs failing and succeeding writes at once: a write that
// fails leaves the others of its shared transaction committed.
func TestSharedCommitIsolation(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "webhooks.db"))
	require.NoError(t, s.CreateSubscription(ctx, sub("sub_1", "*")))
	var wg sync.WaitGroup
	const n = 64
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			ins, err := s.InsertEvent(ctx, event(fmt.Sprintf("evt_%d", i), "order.created", t0), t0)
			assert.NoError(t, err)
			assert.Len(t, ins.Deliveries, 1)
		}()
		go func() {
			defer wg.Done()
			_, err := s.RecordAttempt(ctx, success(fmt.Sprintf("dlv_missing_%d", i), t0))
			assert.ErrorIs(t, err, store.ErrNotFound)
		}()
	}
	wg.Wait()
	ds, err := s.Deliveries(ctx, store.DeliveryQuery{Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, ds, n)
	st, err := s.Stats(ctx, "", t0)
	require.NoError(t, err)
	assert.Equal(t, int64(n), st.Overall.Pending)
	assert.Zero(t, st.Overall.Attempts)
}

func TestRetention(t *testing.T) {
	t.Run("MaxAge", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "webhooks.db"),
			storebolt.WithRetention(time.Hour, 0), storebolt.WithPruneInterval(5*time.Millisecond), storebolt.WithNoSync(true))
		require.NoError(t, s.CreateSubscription(ctx, sub("sub_1", "*")))

		// Steady load: events that are delivered at once, stamped two hours ago so that
		// they are past the retention as soon as they are finished; one in ten stays
		// pending.
		old := time.Now().Add(-2 * time.Hour)
		logSize := func() int {
			ds, err := s.Deliveries(ctx, store.DeliveryQuery{Limit: 100000})
			require.NoError(t, err)
			return len(ds)
		}
		const inserted = 1000
		pending, largest := 0, 0
		for i := range inserted {
			ins, err := s.InsertEvent(ctx, event(fmt.Sprintf("evt_%d", i), "order.created", old), old)
			require.NoError(t, err)
			if i%10 == 9 {
				pending++
			} else {
				_, err = s.RecordAttempt(ctx, success(ins.Deliveries[0], old))
				require.NoError(t, err)
			}
			if i%100 == 99 {
				largest = max(largest, logSize())
				time.Sleep(10 * time.Millisecond) // the load is steady, not a burst
			}
		}
		assert.Less(t, largest, inserted/2, "the log is pruned while the load goes on")
		require.Eventually(t, func() bool {
			ds, err := s.Deliveries(ctx, store.DeliveryQuery{Limit: 100000})
			return err == nil && len(ds) == pending
		}, 10*time.Second, 10*time.Millisecond, "the log shrinks to the pending deliveries")
		ds, err := s.Deliveries(ctx, store.DeliveryQuery{Limit: 100000})
		require.NoError(t, err)
		for _, d := range ds {
			assert.Equal(t, store.DeliveryPending, d.State, "pending deliveries are never pruned")
		}
		_, err = s.Event(ctx, "evt_0")
		assert.ErrorIs(t, err, store.ErrNotFound, "events go with their deliveries")
		st, err := s.Stats(ctx, "", time.Now())
		require.NoError(t, err)
		assert.Equal(t, int64(inserted-pending), st.Overall.Attempts, "the figures stay")
		t.Logf("inserted %d, largest log %d, %d pending left", inserted, largest, pending)
	})

	t.Run("KeepPerSubscription", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "webhooks.db"),
			storebolt.WithRetention(0, 5), storebolt.WithPruneInterval(5*time.Millisecond), storebolt.WithNoSync(true))
		require.NoError(t, s.CreateSubscription(ctx, sub("sub_1", "*")))
		var ids []string
		for i := range 40 {
			now := time.Now()
			ins, err := s.InsertEvent(ctx, event(fmt.Sprintf("evt_%d", i), "order.created", now), now)
			require.NoError(t, err)
			_, err = s.RecordAttempt(ctx, success(ins.Deliveries[0], now))
			require.NoError(t, err)
			ids = append(ids, ins.Deliveries[0])
		}
		want := []string{ids[39], ids[38], ids[37], ids[36], ids[35]}
		require.Eventually(t, func() bool {
			ds, err := s.Deliveries(ctx, store.DeliveryQuery{SubscriptionID: "sub_1"})
			if err != nil || len(ds) != len(want) {
				return false
			}
			for i, d := range ds {
				if d.ID != want[i] {
					return false
				}
			}
			return true
		}, 10*time.Second, 10*time.Millisecond, "the newest 5 are kept")
	})

	t.Run("CloseStopsIt", func(t *testing.T) {
		s, err := storebolt.Open(filepath.Join(t.TempDir(), "webhooks.db"),
			storebolt.WithRetention(time.Hour, 0), storebolt.WithPruneInterval(time.Millisecond))
		require.NoError(t, err)
		time.Sleep(10 * time.Millisecond)
		done := make(chan error)
		go func() { done <- s.Close() }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("Close hangs")
		}
	})
}
