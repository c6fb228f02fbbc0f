package webhook_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// script answers requests in order: each step waits (on the bubble's clock) and answers.
type script struct {
	mu    sync.Mutex
	steps []func(r *http.Request) (*http.Response, error)
}

func (s *script) next(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	step := s.steps[0]
	s.steps = s.steps[1:]
	s.mu.Unlock()
	return step(r)
}

func after(d time.Duration, code int) func(r *http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		time.Sleep(d) // the endpoint's response time, on the bubble's fake clock
		return answer(r, code, ""), nil
	}
}

func TestStatsAfterScriptedOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var results []webhook.AttemptResult
		var mu sync.Mutex
		e := newEnv(t, webhook.WithObserver(func(r webhook.AttemptResult) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}))
		s := &script{steps: []func(*http.Request) (*http.Response, error){
			after(100*time.Millisecond, 200), // ev1
			after(300*time.Millisecond, 500), // ev2, attempt 1
			after(100*time.Millisecond, 200), // ev2, attempt 2
			hang,                             // ev3, attempt 1: timeout
			func(*http.Request) (*http.Response, error) { return nil, errors.New("connection reset by peer") },
			after(100*time.Millisecond, 200), // ev3, attempt 3
		}}
		e.ep.setResponder(s.next)
		sub := e.subscribe("order.*")
		held, err := e.d.Subscribe(e.ctx, webhook.Subscription{URL: "https://b.example.com/", Events: []string{"product.*"},
			Status: webhook.StatusInactive, WhileInactive: webhook.InactiveHold})
		require.NoError(t, err)

		e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)
		e.emit(eventtypes.OrderUpdated)
		e.settle(time.Second)
		e.settle(time.Minute)
		e.emit(eventtypes.OrderCancelled)
		e.settle(10 * time.Second)
		e.settle(time.Minute)
		e.settle(2 * time.Minute)
		e.emit(eventtypes.ProductCreated) // held for the inactive subscription
		e.settle(time.Minute)

		st, err := e.d.Stats(e.ctx)
		require.NoError(t, err)
		h := st.Subscriptions[sub.ID]
		assert.EqualValues(t, 6, h.Attempts)
		assert.EqualValues(t, 3, h.Succeeded)
		assert.EqualValues(t, 3, h.Failed)
		assert.InDelta(t, 0.5, h.SuccessRate, 1e-9)
		assert.EqualValues(t, 3, h.DeliveriesSucceeded)
		assert.EqualValues(t, 0, h.DeliveriesFailed)
		assert.Equal(t, map[webhook.ErrorKind]int64{webhook.ErrorServer: 1, webhook.ErrorTimeout: 1, webhook.ErrorConnection: 1}, h.ErrorsByKind)
		// Durations: 100ms, 300ms, 100ms, 5s, 0, 100ms.
		assert.Equal(t, 5600*time.Millisecond/6, h.MeanResponse)
		assert.GreaterOrEqual(t, h.P50Response, 100*time.Millisecond)
		assert.Less(t, h.P50Response, 111*time.Millisecond)
		assert.GreaterOrEqual(t, h.P99Response, 5*time.Second)
		assert.Less(t, h.P99Response, 5500*time.Millisecond)
		assert.Zero(t, h.Pending)

		hh := st.Subscriptions[held.ID]
		assert.EqualValues(t, 1, hh.Held)
		assert.Zero(t, hh.Attempts)

		assert.EqualValues(t, 6, st.Overall.Attempts)
		assert.EqualValues(t, 1, st.Overall.Held)
		assert.Equal(t, h.ErrorsByKind, st.Overall.ErrorsByKind)

		mu.Lock()
		defer mu.Unlock()
		require.Len(t, results, 6, "the observer saw every attempt")
		assert.Equal(t, webhook.OutcomeRetry, results[1].Attempt.Outcome)
		assert.Equal(t, webhook.DeliveryPending, results[1].State)
		assert.Equal(t, results[1].Attempt.SentAt.Add(time.Minute), results[1].NextAttemptAt)
	})
}

func TestDeliveriesPaging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub := e.subscribe("*")
		var emitted []string
		for range 25 {
			emitted = append(emitted, e.emit(eventtypes.CustomerUpdated).ID)
		}
		e.settle(time.Second)
		var seen []string
		before := ""
		for {
			page, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{SubscriptionID: sub.ID, Limit: 10, Before: before})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			assert.LessOrEqual(t, len(page), 10)
			for _, d := range page {
				seen = append(seen, d.EventID)
			}
			before = page[len(page)-1].ID
		}
		require.Len(t, seen, 25)
		for i := range seen { // newest first
			assert.Equal(t, emitted[len(emitted)-1-i], seen[i])
		}
		ok, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{State: webhook.DeliverySucceeded, Limit: 1000})
		require.NoError(t, err)
		assert.Len(t, ok, 25)
	})
}

// An endpoint that failed for a while and recovered: the totals still show the outage,
// the last hour shows the recovery.
func TestStatsWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub := e.subscribe(eventtypes.OrderCreated)
		e.ep.setResponder(status(503, "down"))
		e.emit(eventtypes.OrderCreated)
		e.settle(20 * time.Minute) // all six attempts, 15 minutes of schedule
		e.ep.setResponder(status(200, "ok"))
		e.settle(2 * time.Hour)
		e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)

		st, err := e.d.Stats(e.ctx)
		require.NoError(t, err)
		h := st.Subscriptions[sub.ID]
		assert.Equal(t, int64(7), h.Attempts)
		assert.InDelta(t, 1.0/7, h.SuccessRate, 1e-9)
		assert.Equal(t, int64(1), h.LastHour.Attempts)
		assert.Equal(t, 1.0, h.LastHour.SuccessRate)
		assert.Empty(t, h.LastHour.ErrorsByKind)
		assert.Equal(t, int64(7), h.LastDay.Attempts)
		assert.Equal(t, map[webhook.ErrorKind]int64{webhook.ErrorServer: 6}, h.LastDay.ErrorsByKind)
		assert.Equal(t, int64(7), st.Overall.LastDay.Attempts)
		assert.False(t, h.LastHour.Since.After(time.Now().Add(-time.Hour)), "the hour covers at least an hour")
	})
}
