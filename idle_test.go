package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// Idle returns once the attempts due are made and recorded, without waiting for retries
// scheduled later, and without time passing on its own.
func TestIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var observed int
		e := newEnv(t, webhook.WithObserver(func(webhook.AttemptResult) { observed++ }))
		ok := e.subscribe(eventtypes.OrderCreated)
		require.NoError(t, e.d.Idle(e.ctx), "nothing to do: at once")
		assert.Equal(t, e.start, time.Now())

		// 300 ms: long enough for the attempt to move to the slow lane, where it is still
		// in flight.
		e.ep.setResponder(after(300*time.Millisecond, 200))
		ev := e.emit(eventtypes.OrderCreated) // Idle must not answer from a round before it
		require.NoError(t, e.d.Idle(e.ctx))
		assert.Equal(t, 300*time.Millisecond, time.Since(e.start), "it waited for the attempt, no longer")
		assert.Equal(t, webhook.DeliverySucceeded, e.delivery(ev.ID).State, "and it is recorded")
		assert.Equal(t, 1, observed, "and observed")

		require.NoError(t, e.d.Unsubscribe(e.ctx, ok.ID))
		e.subscribe(eventtypes.OrderCreated)
		e.ep.setResponder(status(503, "busy"))
		ev = e.emit(eventtypes.OrderCreated)
		start := time.Now()
		require.NoError(t, e.d.Idle(e.ctx))
		assert.Equal(t, start, time.Now(), "the retry a minute later does not count")
		del := e.delivery(ev.ID)
		assert.Len(t, del.Attempts, 1)
		assert.Equal(t, webhook.DeliveryPending, del.State)
	})
}

// Settled waits for the scheduled retries too: here the whole six-attempt schedule.
func TestSettled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.subscribe(eventtypes.OrderCreated)
		e.ep.setResponder(status(503, "busy"))
		ev := e.emit(eventtypes.OrderCreated)
		require.NoError(t, e.d.Settled(e.ctx))
		assert.Equal(t, 15*time.Minute, time.Since(e.start), "60+120+180+240+300 s")
		del := e.delivery(ev.ID)
		assert.Len(t, del.Attempts, 6)
		assert.Equal(t, webhook.DeliveryFailed, del.State)

		// Held deliveries wait for Activate, not for time: they do not count.
		held, err := e.d.Subscribe(e.ctx, webhook.Subscription{URL: "https://held.example.com/in", Events: []string{"*"},
			Status: webhook.StatusInactive, WhileInactive: webhook.InactiveHold})
		require.NoError(t, err)
		e.emit(eventtypes.CustomerCreated)
		start := time.Now()
		require.NoError(t, e.d.Settled(e.ctx))
		assert.Equal(t, start, time.Now())
		ds, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{SubscriptionID: held.ID})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Equal(t, webhook.DeliveryHeld, ds[0].State)
	})
}

// Idle and Settled give up with ctx, and answer ErrClosed once the dispatcher closes.
func TestIdleEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.subscribe(eventtypes.OrderCreated)
		e.ep.setResponder(hang)
		e.emit(eventtypes.OrderCreated)
		ctx, cancel := context.WithTimeout(e.ctx, time.Second)
		defer cancel()
		assert.ErrorIs(t, e.d.Idle(ctx), context.DeadlineExceeded, "the attempt hangs for the 5 s timeout")
		assert.Equal(t, time.Second, time.Since(e.start))

		settled := make(chan error, 1)
		go func() { settled <- e.d.Settled(e.ctx) }()
		synctest.Wait()
		closeCtx, cancelClose := context.WithTimeout(e.ctx, time.Millisecond)
		defer cancelClose()
		assert.ErrorIs(t, e.d.Close(closeCtx), context.DeadlineExceeded)
		assert.ErrorIs(t, <-settled, webhook.ErrClosed)
		assert.ErrorIs(t, e.d.Idle(e.ctx), webhook.ErrClosed)
		assert.ErrorIs(t, e.d.Settled(e.ctx), webhook.ErrClosed)
	})
}

// With many deliveries and a per-subscription cap, Idle still waits for every one that
// is due: those the cap held back are claimed as the first finish.
func TestIdleWaitsForCappedDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, webhook.WithMaxInFlight(1), webhook.WithWorkers(4))
		e.subscribe(eventtypes.OrderCreated)
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			time.Sleep(100 * time.Millisecond)
			return answer(r, 200, "ok"), nil
		})
		for range 10 {
			e.emit(eventtypes.OrderCreated)
		}
		require.NoError(t, e.d.Idle(e.ctx))
		assert.Equal(t, time.Second, time.Since(e.start), "ten attempts one at a time")
		ds, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{State: webhook.DeliverySucceeded})
		require.NoError(t, err)
		assert.Len(t, ds, 10)
	})
}
