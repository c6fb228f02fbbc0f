package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

func attemptAt(t time.Time, ok bool, d time.Duration) store.Attempt {
	a := store.Attempt{SentAt: t, Duration: d, Outcome: store.OutcomeSucceeded}
	if !ok {
		a.Outcome, a.ErrorKind = store.OutcomeRetry, store.ErrorServer
	}
	return a
}

// The windows count what was sent in the last hour and day; the totals count everything.
func TestHealthWindows(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var f store.Figures
	// Two days ago: a long outage.
	for i := range 10 {
		f.Observe(attemptAt(t0.Add(-48*time.Hour+time.Duration(i)*time.Minute), false, time.Second), store.DeliveryPending)
	}
	// Five hours ago: slow successes.
	f.Observe(attemptAt(t0.Add(-5*time.Hour), true, 800*time.Millisecond), store.DeliverySucceeded)
	f.Observe(attemptAt(t0.Add(-5*time.Hour+time.Minute), true, 400*time.Millisecond), store.DeliverySucceeded)
	// In the last hour: one failure, then fast successes.
	f.Observe(attemptAt(t0.Add(-50*time.Minute), false, 2*time.Second), store.DeliveryFailed)
	f.Observe(attemptAt(t0.Add(-10*time.Minute), true, 10*time.Millisecond), store.DeliverySucceeded)
	f.Observe(attemptAt(t0.Add(-1*time.Second), true, 30*time.Millisecond), store.DeliverySucceeded)

	h := f.HealthAt(t0)
	assert.Equal(t, int64(15), h.Attempts)
	assert.Equal(t, int64(4), h.Succeeded)

	hour := h.LastHour
	assert.Equal(t, t0.Add(-time.Hour), hour.Since)
	assert.Equal(t, int64(3), hour.Attempts)
	assert.Equal(t, int64(2), hour.Succeeded)
	assert.Equal(t, int64(1), hour.Failed)
	assert.InDelta(t, 2.0/3, hour.SuccessRate, 1e-9)
	assert.Equal(t, (2000+10+30)*time.Millisecond/3, hour.MeanResponse)
	assert.Equal(t, 2*time.Second, hour.MaxResponse)
	assert.Equal(t, int64(2), hour.DeliveriesSucceeded)
	assert.Equal(t, int64(1), hour.DeliveriesFailed)
	assert.Equal(t, map[store.ErrorKind]int64{store.ErrorServer: 1}, hour.ErrorsByKind)

	day := h.LastDay
	assert.Equal(t, t0.Add(-24*time.Hour), day.Since)
	assert.Equal(t, int64(5), day.Attempts)
	assert.Equal(t, int64(4), day.Succeeded)
	assert.Equal(t, int64(1), day.Failed)
	assert.InDelta(t, 0.8, day.SuccessRate, 1e-9)
	assert.Equal(t, map[store.ErrorKind]int64{store.ErrorServer: 1}, day.ErrorsByKind)
	assert.Equal(t, int64(1), day.DeliveriesFailed)
	assert.Equal(t, 2*time.Second, day.MaxResponse)
	assert.Equal(t, (800+400+2000+10+30)*time.Millisecond/5, day.MeanResponse)

	// At 12:12 the hour begins at 11:10 (11:12 rounded down to five minutes), so the
	// failure sent at 11:10 is still in it; at 12:15 it has left; an hour later nothing
	// is left.
	assert.Equal(t, t0.Add(-50*time.Minute), f.HealthAt(t0.Add(12*time.Minute)).LastHour.Since)
	assert.Equal(t, int64(3), f.HealthAt(t0.Add(12*time.Minute)).LastHour.Attempts)
	assert.Equal(t, int64(2), f.HealthAt(t0.Add(15*time.Minute)).LastHour.Attempts)
	later := f.HealthAt(t0.Add(time.Hour + 5*time.Minute))
	assert.Zero(t, later.LastHour.Attempts)
	assert.Zero(t, later.LastHour.SuccessRate)
	assert.Zero(t, later.LastHour.MeanResponse)
	assert.Equal(t, int64(5), later.LastDay.Attempts)
	assert.Zero(t, f.HealthAt(t0.Add(25*time.Hour)).LastDay.Attempts)
	assert.Equal(t, int64(15), f.HealthAt(t0.Add(25*time.Hour)).Attempts, "totals never expire")
}

// The slots stay bounded however long the figures run, and an attempt recorded out of
// order lands in the slot of its send time.
func TestHealthWindowsBounded(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var f store.Figures
	for i := range 3 * 24 * 60 { // one attempt a minute for three days
		f.Observe(attemptAt(t0.Add(time.Duration(i)*time.Minute), i%2 == 0, time.Millisecond), store.DeliveryPending)
		require.LessOrEqual(t, len(f.Recent), store.RecentSlots)
		require.LessOrEqual(t, len(f.Daily), store.DaySlots)
	}
	end := t0.Add(3 * 24 * time.Hour)
	h := f.HealthAt(end)
	assert.Equal(t, int64(60), h.LastHour.Attempts)
	assert.Equal(t, int64(24*60), h.LastDay.Attempts)
	assert.Equal(t, 0.5, h.LastDay.SuccessRate)

	// Sent 20 minutes ago, recorded now (a long attempt, a slow store).
	f.Observe(attemptAt(end.Add(-20*time.Minute), false, time.Minute), store.DeliveryFailed)
	h = f.HealthAt(end)
	assert.Equal(t, int64(61), h.LastHour.Attempts)
	assert.Equal(t, time.Minute, h.LastHour.MaxResponse)
	// Sent two days ago, recorded now: in the totals only.
	f.Observe(attemptAt(end.Add(-48*time.Hour), false, time.Hour), store.DeliveryFailed)
	h = f.HealthAt(end)
	assert.Equal(t, int64(24*60+1), h.LastDay.Attempts)
	assert.Equal(t, int64(3*24*60+2), h.Attempts)
	for i := 1; i < len(f.Recent); i++ {
		assert.True(t, f.Recent[i-1].Start.Before(f.Recent[i].Start), "slots stay in order")
	}
}

// Merge adds windows slot by slot; the slots survive a JSON round trip (how the bbolt
// store keeps figures).
func TestHealthWindowsMergeAndJSON(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var a, b store.Figures
	a.Observe(attemptAt(t0.Add(-time.Minute), true, 10*time.Millisecond), store.DeliverySucceeded)
	b.Observe(attemptAt(t0.Add(-2*time.Minute), false, 30*time.Millisecond), store.DeliveryPending)
	b.Observe(attemptAt(t0.Add(-3*time.Hour), true, 50*time.Millisecond), store.DeliverySucceeded)
	a.Merge(b)
	h := a.HealthAt(t0)
	assert.Equal(t, int64(2), h.LastHour.Attempts)
	assert.Equal(t, 0.5, h.LastHour.SuccessRate)
	assert.Equal(t, 20*time.Millisecond, h.LastHour.MeanResponse)
	assert.Equal(t, int64(3), h.LastDay.Attempts)

	raw, err := json.Marshal(a)
	require.NoError(t, err)
	var back store.Figures
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, a, back)
	assert.Equal(t, h, back.HealthAt(t0))
}

// BenchmarkFiguresJSONRoundTrip is what a store that keeps figures as JSON (bbolt) pays per
// recorded attempt and figures record: decode, Observe, encode. "totals" is the figures
// without their windows, for comparison.
func BenchmarkFiguresJSONRoundTrip(b *testing.B) {
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var full store.Figures
	for i := range 24 * 60 { // an attempt a minute for a day: every slot is in use
		a := attemptAt(t0.Add(time.Duration(i)*time.Minute), i%7 != 0, time.Duration(i%50+1)*time.Millisecond)
		full.Observe(a, store.DeliverySucceeded)
	}
	totals := full
	totals.Recent, totals.Daily = nil, nil
	for _, bc := range []struct {
		name string
		f    store.Figures
	}{{"totals", totals}, {"windows", full}} {
		raw, err := json.Marshal(bc.f)
		require.NoError(b, err)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportMetric(float64(len(raw)), "bytes")
			a := attemptAt(t0.Add(24*time.Hour-time.Minute), true, time.Millisecond)
			for b.Loop() {
				var f store.Figures
				if err := json.Unmarshal(raw, &f); err != nil {
					b.Fatal(err)
				}
				f.Observe(a, store.DeliverySucceeded)
				if _, err := json.Marshal(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
