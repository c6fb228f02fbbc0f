package storebolt

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
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
