package webhook_test

import (
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/store"
)

func store0() *store.Memory { return store.NewMemory() }

func TestDefaultRetryPolicyDelays(t *testing.T) {
	p := webhook.DefaultRetryPolicy()
	assert.Equal(t, 6, p.MaxAttempts)
	assert.Equal(t, 5*time.Second, p.Timeout)
	assert.ElementsMatch(t, []int{400, 401, 403, 404, 405, 406, 410, 411}, p.DeactivateOn)
	for n, want := range []time.Duration{60, 120, 180, 240, 300} {
		got, ok := p.Delay(n + 1)
		assert.True(t, ok)
		assert.Equal(t, want*time.Second, got, "after attempt %d", n+1)
	}
	_, ok := p.Delay(6)
	assert.False(t, ok, "no seventh attempt")
	assert.NoError(t, p.Validate())
}

func TestExponentialRetryPolicy(t *testing.T) {
	p := webhook.ExponentialRetryPolicy(time.Second, 10*time.Second, 8)
	assert.NoError(t, p.Validate())
	for n := 1; n < 8; n++ {
		got, ok := p.Delay(n)
		assert.True(t, ok)
		assert.Greater(t, got, time.Duration(0))
		assert.LessOrEqual(t, got, 15*time.Second)
	}
	_, ok := p.Delay(8)
	assert.False(t, ok)
}

func TestScheduleStopsEarly(t *testing.T) {
	p := webhook.DefaultRetryPolicy()
	p.NewBackOff = func() backoff.BackOff { return webhook.Schedule(time.Second) }
	_, ok := p.Delay(1)
	assert.True(t, ok)
	_, ok = p.Delay(2)
	assert.False(t, ok, "the schedule ran out before MaxAttempts")
}
