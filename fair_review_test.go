package webhook_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/store"
)

// countingStore counts ClaimDue calls.
type countingStore struct {
	*store.Memory
	claims atomic.Int64
}

func (c *countingStore) ClaimDue(ctx context.Context, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	c.claims.Add(1)
	return c.Memory.ClaimDue(ctx, req)
}

// The smallest rate limit leaves a delivery waiting a day for its token: the scheduler
// sleeps meanwhile (no polling), and Idle counts it as not due. Smaller limits, whose wait
// would overflow a time.Duration, are refused.
func TestSmallestRateLimitDoesNotSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		st := &countingStore{Memory: store.NewMemory()}
		d, err := webhook.New(st, webhook.WithHTTPClient(&http.Client{Transport: h}))
		require.NoError(t, err)
		defer d.Close(context.Background())
		subscribeHost(t, d, "slow.example.com", func(s *webhook.Subscription) { s.RateLimit = 1.0 / 86400 })
		emitN(t, d, 2) // the first uses the one token, the second waits for ages
		time.Sleep(time.Second)
		synctest.Wait()
		before := st.claims.Load()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = d.Idle(ctx)
		assert.NoError(t, err, "Idle: the second delivery waits for a token, nothing is due")
		assert.Less(t, st.claims.Load()-before, int64(10), "claims during one minute of nothing to do")
		_, err = d.Subscribe(context.Background(), webhook.Subscription{URL: "https://x.example.com", Events: []string{"*"}, RateLimit: 1e-12})
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "RateLimit", ve.Field)
	})
}

// After an auto-disable, the merchant fixes things and activates the subscription again
// days later; one failed attempt must not disable it again at once: the period counts
// from the activation.
func TestAutoDisableCountsFromActivation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		var fail atomic.Bool
		fail.Store(true)
		h.route("shop.example.com", func(r *http.Request) (*http.Response, error) {
			if fail.Load() {
				return nil, errRefused
			}
			return answer(r, 200, "ok"), nil
		})
		d := newRouted(t, h, webhook.WithAutoDisable(time.Hour), webhook.WithCircuitBreaker(0, 0))
		sub := subscribeHost(t, d, "shop.example.com", nil)
		for range 20 {
			emitN(t, d, 1)
			time.Sleep(5 * time.Minute)
			synctest.Wait()
		}
		got, err := d.Subscription(context.Background(), sub.ID)
		require.NoError(t, err)
		require.Equal(t, webhook.StatusInactive, got.Status)
		time.Sleep(48 * time.Hour)
		require.NoError(t, d.Activate(context.Background(), sub.ID))
		emitN(t, d, 1) // its first attempt fails (a deploy), the second would succeed
		time.Sleep(time.Second)
		synctest.Wait()
		fail.Store(false)
		time.Sleep(time.Hour)
		synctest.Wait()
		got, err = d.Subscription(context.Background(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, webhook.StatusActive, got.Status, "one failed attempt after activation: %s", got.StatusReason)
	})
}

// A subscription ID may be used again after its subscription was deleted; the second
// deletion by the endpoint is not told.
func TestDeletionOfReusedIDIsToldAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("bye.example.com", status(200, "Please unsubscribe me"))
		var mu sync.Mutex
		var changes []webhook.StatusChange
		d := newRouted(t, h, webhook.WithOnStatusChange(func(c webhook.StatusChange) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, c)
		}))
		for range 2 {
			subscribeHost(t, d, "bye.example.com", func(s *webhook.Subscription) { s.ID = "sub_integration_7" })
			emitN(t, d, 1)
			time.Sleep(time.Minute)
			synctest.Wait()
			_, err := d.Subscription(context.Background(), "sub_integration_7")
			require.ErrorIs(t, err, webhook.ErrNotFound)
		}
		mu.Lock()
		defer mu.Unlock()
		assert.Len(t, changes, 2, "each deletion is told")
	})
}

// Two attempts claimed together while the run is old: the one that succeeds is recorded
// first, yet the failure recorded after it still auto-disables the subscription.
func TestAutoDisableNotAfterASuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		var mode atomic.Int32 // 0 fail all; 1 first succeeds at once, second fails later
		var n atomic.Int32
		h.route("shop.example.com", func(r *http.Request) (*http.Response, error) {
			if mode.Load() == 0 {
				return nil, errRefused
			}
			if n.Add(1) == 1 {
				return answer(r, 200, "ok"), nil
			}
			time.Sleep(time.Second)
			return nil, errRefused
		})
		d := newRouted(t, h, webhook.WithAutoDisable(time.Hour), webhook.WithCircuitBreaker(0, 0))
		sub := subscribeHost(t, d, "shop.example.com", nil)
		emitN(t, d, 1) // fails: the run starts
		time.Sleep(59 * time.Minute)
		synctest.Wait()
		// Its attempts gave up after 15 minutes; nothing was sent since.
		time.Sleep(2 * time.Minute)
		mode.Store(1)
		emitN(t, d, 2)
		time.Sleep(time.Minute)
		synctest.Wait()
		got, err := d.Subscription(context.Background(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, webhook.StatusActive, got.Status, "an attempt just succeeded: %s", got.StatusReason)
	})
}
