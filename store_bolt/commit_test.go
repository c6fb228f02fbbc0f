package storebolt

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// TestGather: after a commit that released emitters (quick calls) and workers, the
// committer waits for as many quick calls more than were queued, half of the commit's
// time at most, never longer than maxGather, and not once a full transaction is queued;
// records do not end that wait. After a commit of records alone, or of emits alone, it
// waits for as many calls of any kind.
func TestGather(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &committer{busy: true} // no goroutine commits: the test looks at gather alone
		quick := call{quick: true}
		c.enqueue(quick) // came while the commit ran
		start := time.Now()
		go func() {
			time.Sleep(100 * time.Microsecond)
			c.enqueue(quick)
			c.enqueue(call{}) // a record: does not count
			time.Sleep(100 * time.Microsecond)
			c.enqueue(quick)
		}()
		c.gather(5, 2, time.Hour) // 5 calls committed, 2 of them emitters'
		assert.Equal(t, 200*time.Microsecond, time.Since(start), "until both released emitters came back")

		start = time.Now()
		c.gather(0, 0, time.Hour)
		assert.Zero(t, time.Since(start), "none released: nothing to wait for")

		start = time.Now()
		go func() {
			for range 5 {
				c.enqueue(call{}) // records arrive, however many: still waiting
			}
		}()
		c.gather(5, 2, 400*time.Microsecond)
		assert.Equal(t, 200*time.Microsecond, time.Since(start), "half of the commit's time")

		start = time.Now()
		c.gather(5, 2, time.Hour)
		assert.Equal(t, maxGather, time.Since(start), "maxGather at most")

		start = time.Now()
		go func() {
			for range 3 {
				time.Sleep(100 * time.Microsecond)
				c.enqueue(call{})
			}
		}()
		c.gather(3, 0, time.Hour) // records alone: wait for as many calls
		assert.Equal(t, 300*time.Microsecond, time.Since(start), "until three more calls came")

		start = time.Now()
		go func() {
			time.Sleep(100 * time.Microsecond)
			c.enqueue(call{})
		}()
		c.gather(1, 1, time.Hour) // one emit alone: its worker's record is company enough
		assert.Equal(t, 100*time.Microsecond, time.Since(start), "until the record came")

		start = time.Now()
		more := maxBatch - len(c.queue)
		go func() {
			for range more {
				c.enqueue(call{}) // records, but a full transaction's worth
			}
		}()
		c.gather(5, 2, time.Hour)
		assert.Zero(t, time.Since(start), "a full transaction is queued: no use waiting")

		c.enqueue(quick) // a late caller after the wait: nothing is signalled, nothing blocks
		assert.Len(t, c.queue, maxBatch+1)
		assert.Equal(t, 4, c.quick)
	})
}

// TestQuickCount: the committer's count of queued quick calls follows what it takes.
func TestQuickCount(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "webhooks.db"))
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.CreateSubscription(ctx, reviewSub("sub_1", "order.created")))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "order.created", OccurredAt: time.Now(), Data: []byte(`{}`)}, time.Now())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	s.commit.mu.Lock()
	defer s.commit.mu.Unlock()
	assert.Zero(t, s.commit.quick, "every quick call taken")
	assert.Empty(t, s.commit.queue)
}

// TestCloseWaitsForTheCommitter: after its last commit the committer may still wait for
// callers to come back (gather); Close returns only once it has ended.
func TestCloseWaitsForTheCommitter(t *testing.T) {
	for i := range 20 {
		s, err := Open(filepath.Join(t.TempDir(), "webhooks.db"))
		require.NoError(t, err)
		ctx := context.Background()
		require.NoError(t, s.CreateSubscription(ctx, reviewSub("sub_1", "order.created")))
		_, err = s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "order.created", OccurredAt: time.Now(), Data: []byte(`{}`)}, time.Now())
		require.NoError(t, err)
		require.NoError(t, s.Close())
		s.commit.mu.Lock()
		busy := s.commit.busy
		s.commit.mu.Unlock()
		require.False(t, busy, "the committer still runs after Close (round %d)", i)
	}
}
