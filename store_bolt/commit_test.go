package storebolt

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestGather: after a commit the committer waits for the callers it released, until as
// many calls are queued as it committed, a quarter of the commit's time at most, and
// never longer than maxGather.
func TestGather(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &committer{busy: true} // no goroutine commits: the test looks at gather alone
		c.enqueue(call{})
		start := time.Now()
		go func() {
			time.Sleep(100 * time.Microsecond)
			c.enqueue(call{})
		}()
		c.gather(2, time.Hour)
		assert.Equal(t, 100*time.Microsecond, time.Since(start), "until the second call came")

		start = time.Now()
		c.gather(2, time.Hour)
		assert.Zero(t, time.Since(start), "enough calls are queued already")

		start = time.Now()
		c.gather(3, 400*time.Microsecond)
		assert.Equal(t, 100*time.Microsecond, time.Since(start), "a quarter of the commit's time")

		start = time.Now()
		c.gather(3, time.Hour)
		assert.Equal(t, maxGather, time.Since(start), "maxGather at most")

		c.enqueue(call{}) // a late caller after the wait: nothing is signalled, nothing blocks
		assert.Len(t, c.queue, 3)
	})
}
