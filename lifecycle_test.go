package webhook_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// Close waits for a Test in flight too: after it returns, nothing writes to the store
// (which the caller may close then) and the observer is not called.
func TestCloseWaitsForTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var afterClose atomic.Int32
		var closed atomic.Bool
		e := newEnv(t, webhook.WithObserver(func(webhook.AttemptResult) {
			if closed.Load() {
				afterClose.Add(1)
			}
		}))
		sub := e.subscribe(eventtypes.OrderCreated)
		release := make(chan struct{})
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			select {
			case <-release:
				return answer(r, 200, "ok"), nil
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		})

		testDone := make(chan struct{})
		go func() {
			defer close(testDone)
			_, _ = e.d.Test(e.ctx, sub.ID, eventtypes.OrderCreated)
		}()
		synctest.Wait()
		require.Len(t, e.ep.requests(), 1, "the test request is in flight")

		closeDone := make(chan struct{})
		go func() {
			defer close(closeDone)
			assert.NoError(t, e.d.Close(context.Background()))
			closed.Store(true)
		}()
		synctest.Wait()

		testRunning := true
		select {
		case <-testDone:
			testRunning = false
		default:
		}
		closeReturned := false
		select {
		case <-closeDone:
			closeReturned = true
		default:
		}
		assert.False(t, closeReturned && testRunning,
			"Close returned while a Test attempt was still in flight")

		close(release)
		synctest.Wait()
		<-closeDone
		<-testDone
		ds, err := e.st.Deliveries(e.ctx, store.DeliveryQuery{SubscriptionID: sub.ID})
		require.NoError(t, err)
		assert.Zero(t, afterClose.Load(), "the observer was called after Close returned")
		assert.Len(t, ds, 1, "the test was recorded before Close returned")
	})
}

// Redeliver of a delivery whose attempt is in flight is refused with ErrInFlight: the
// attempt's record would otherwise overwrite the fresh round. Once the attempt is
// recorded, Redeliver works.
func TestRedeliverWhileAttemptInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		release := make(chan struct{})
		var n atomic.Int32
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			if n.Add(1) == 6 {
				<-release
			}
			return answer(r, 500, "boom"), nil
		})
		e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(15 * time.Minute) // attempts 1..5 done, attempt 6 (at +900 s) in flight
		require.Len(t, e.ep.requests(), 6)
		del := e.delivery(ev.ID)
		require.Len(t, del.Attempts, 5)

		assert.ErrorIs(t, e.d.Redeliver(e.ctx, del.ID), webhook.ErrInFlight)
		close(release)
		e.settle(time.Second)
		require.Equal(t, webhook.DeliveryFailed, e.delivery(ev.ID).State)

		e.ep.setResponder(status(200, ""))
		require.NoError(t, e.d.Redeliver(e.ctx, del.ID))
		e.settle(time.Second)
		assert.Equal(t, webhook.DeliverySucceeded, e.delivery(ev.ID).State)
		assert.Len(t, e.ep.requests(), 7)
	})
}

// Subscribe's errors never show a URL's query or credentials, even for a URL that does
// not parse (net/url quotes the whole URL in its errors).
func TestSubscribeErrorsNeverShowTheQuery(t *testing.T) {
	d, err := webhook.New(store.NewMemory())
	require.NoError(t, err)
	defer d.Close(context.Background())
	for _, u := range []string{
		"https://hooks.example.com:abc/in?token=s3cr3t-token",
		"https://user:s3cr3t-token@hooks example.com/in",
		"https://hooks.example.com/in?token=s3cr3t-token\x7f",
	} {
		_, err := d.Subscribe(context.Background(), webhook.Subscription{
			URL: u, Events: []string{eventtypes.OrderCreated},
		})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "s3cr3t-token", "error for %q", u)
	}
}

// Close(nil) is Close(context.Background()): it waits for the attempt in flight instead
// of panicking.
func TestCloseNilContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.subscribe(eventtypes.OrderCreated)
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			time.Sleep(2 * time.Second) // the bubble's clock: a slow endpoint
			return answer(r, 200, "ok"), nil
		})
		ev := e.emit(eventtypes.OrderCreated)
		synctest.Wait()
		require.Len(t, e.ep.requests(), 1, "an attempt is in flight")

		var nilCtx context.Context // a caller's unset context
		start := time.Now()
		require.NotPanics(t, func() { assert.NoError(t, e.d.Close(nilCtx)) })
		assert.Equal(t, 2*time.Second, time.Since(start), "Close waited for the attempt")
		assert.Equal(t, webhook.DeliverySucceeded, e.delivery(ev.ID).State, "and it was recorded")
	})
}

// A deferred Close is harmless on what a failed New returns, and on a Dispatcher that New
// did not make.
func TestCloseNilDispatcher(t *testing.T) {
	d, err := webhook.New(nil)
	require.Error(t, err)
	require.Nil(t, d)
	require.NotPanics(t, func() { assert.NoError(t, d.Close(context.Background())) })
	var zero webhook.Dispatcher
	require.NotPanics(t, func() { assert.NoError(t, zero.Close(context.Background())) })
}
