package storebolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// TestGather: after a commit of n calls the committer waits for the callers it released,
// until n calls more than were queued are queued, half of the commit's time at most, and
// never longer than maxGather.
func TestGather(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &committer{busy: true} // no goroutine commits: the test looks at gather alone
		c.enqueue(call{})           // came while the commit ran
		start := time.Now()
		go func() {
			time.Sleep(100 * time.Microsecond)
			c.enqueue(call{})
			time.Sleep(100 * time.Microsecond)
			c.enqueue(call{})
		}()
		c.gather(2, time.Hour)
		assert.Equal(t, 200*time.Microsecond, time.Since(start), "until both released callers came back")

		start = time.Now()
		c.gather(0, time.Hour)
		assert.Zero(t, time.Since(start), "none released: nothing to wait for")

		start = time.Now()
		c.gather(2, 400*time.Microsecond)
		assert.Equal(t, 200*time.Microsecond, time.Since(start), "half of the commit's time")

		start = time.Now()
		c.gather(2, time.Hour)
		assert.Equal(t, maxGather, time.Since(start), "maxGather at most")

		c.enqueue(call{}) // a late caller after the wait: nothing is signalled, nothing blocks
		assert.Len(t, c.queue, 4)
	})
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
