package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/shophooks/webhook/store"
)

// testStatsWindows checks that Stats reports the last hour and the last day as of its
// now argument (store.Figures.HealthAt(now)), not of the wall clock: the suite's times
// are years away from it.
func testStatsWindows(t *testing.T, newStore func(t *testing.T) store.Store) {
	f := newFixture(t, newStore)
	f.create(newSub("sub_1", "order.created"))
	f.fail(f.emitOne("evt_a", "order.created", t0), t0)
	f.deliver(f.emitOne("evt_b", "order.created", at(2*time.Hour)), at(2*time.Hour))

	now := at(2*time.Hour + time.Minute)
	st := f.stats(now)
	for name, h := range map[string]store.Health{"overall": st.Overall, "sub_1": st.Subscriptions["sub_1"]} {
		assert.Equal(t, int64(2), h.Attempts, name)
		assert.Equal(t, int64(1), h.LastHour.Attempts, name)
		assert.Equal(t, 1.0, h.LastHour.SuccessRate, name)
		assert.Equal(t, attemptDuration, h.LastHour.MeanResponse, name)
		assert.Equal(t, now.Add(-time.Hour).Truncate(store.RecentSlot), h.LastHour.Since, name)
		assert.Equal(t, int64(2), h.LastDay.Attempts, name)
		assert.Equal(t, 0.5, h.LastDay.SuccessRate, name)
		assert.Equal(t, int64(1), h.LastDay.DeliveriesFailed, name)
	}
	later := f.stats(at(27 * time.Hour)).Subscriptions["sub_1"]
	assert.Zero(t, later.LastDay.Attempts, "a day later the window is empty")
	assert.Equal(t, int64(2), later.Attempts, "the totals stay")
}
