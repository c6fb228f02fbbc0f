package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
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

// hostRouter is an http.RoundTripper that sends each request to the responder of its host
// and keeps, per host, the requests and the most attempts it ever had in flight at once.
type hostRouter struct {
	mu       sync.Mutex
	routes   map[string]func(*http.Request) (*http.Response, error)
	got      map[string][]time.Time
	inFlight map[string]int
	maxSeen  map[string]int
}

func newHostRouter() *hostRouter {
	return &hostRouter{
		routes: map[string]func(*http.Request) (*http.Response, error){}, got: map[string][]time.Time{},
		inFlight: map[string]int{}, maxSeen: map[string]int{},
	}
}

func (h *hostRouter) route(host string, fn func(*http.Request) (*http.Response, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes[host] = fn
}

func (h *hostRouter) RoundTrip(r *http.Request) (*http.Response, error) {
	host := r.URL.Hostname()
	h.mu.Lock()
	h.got[host] = append(h.got[host], time.Now())
	h.inFlight[host]++
	h.maxSeen[host] = max(h.maxSeen[host], h.inFlight[host])
	fn := h.routes[host]
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inFlight[host]--
		h.mu.Unlock()
	}()
	if r.Body != nil {
		r.Body.Close()
	}
	if fn == nil {
		return answer(r, 200, "ok"), nil
	}
	return fn(r)
}

func (h *hostRouter) times(host string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.got[host]...)
}

func (h *hostRouter) max(host string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxSeen[host]
}

func newRouted(t *testing.T, h *hostRouter, opts ...webhook.Option) *webhook.Dispatcher {
	t.Helper()
	d, err := webhook.New(newMemory(), append([]webhook.Option{webhook.WithHTTPClient(&http.Client{Transport: h})}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close(context.Background())) })
	return d
}

func subscribeHost(t *testing.T, d *webhook.Dispatcher, host string, mod func(*webhook.Subscription)) webhook.Subscription {
	t.Helper()
	s := webhook.Subscription{Name: host, URL: "https://" + host + "/in", Events: []string{"order.*"}}
	if mod != nil {
		mod(&s)
	}
	sub, err := d.Subscribe(context.Background(), s)
	require.NoError(t, err)
	return sub
}

func emitN(t *testing.T, d *webhook.Dispatcher, n int, opts ...webhook.EmitOption) {
	t.Helper()
	for range n {
		_, err := d.Emit(context.Background(), "order.created", map[string]any{"id": "ord_1"}, opts...)
		require.NoError(t, err)
	}
}

// sleepy answers 200 after d: a slow but healthy endpoint.
func sleepy(d time.Duration) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		select {
		case <-time.After(d):
			return answer(r, 200, "ok"), nil
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}

func TestConcurrencyLimitPerSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("slow.example.com", sleepy(2*time.Second))
		h.route("capped.example.com", sleepy(2*time.Second))
		d := newRouted(t, h)
		subscribeHost(t, d, "slow.example.com", nil)
		subscribeHost(t, d, "capped.example.com", func(s *webhook.Subscription) { s.MaxInFlight = 2 })
		subscribeHost(t, d, "fast.example.com", nil)
		start := time.Now()
		emitN(t, d, 40)
		synctest.Wait()
		assert.Len(t, h.times("fast.example.com"), 40, "the fast endpoint got everything at once")
		for _, at := range h.times("fast.example.com") {
			assert.Equal(t, start, at, "no fast delivery waited behind the slow endpoints")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Len(t, h.times("slow.example.com"), 40)
		assert.Len(t, h.times("capped.example.com"), 40)
		assert.Equal(t, webhook.DefaultMaxInFlight, h.max("slow.example.com"), "the default cap, reached and never exceeded")
		assert.Equal(t, 2, h.max("capped.example.com"), "the subscription's own cap")
	})
}

func TestWithMaxInFlightDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("slow.example.com", sleepy(time.Second))
		d := newRouted(t, h, webhook.WithMaxInFlight(1))
		subscribeHost(t, d, "slow.example.com", nil)
		emitN(t, d, 5)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Len(t, h.times("slow.example.com"), 5)
		assert.Equal(t, 1, h.max("slow.example.com"))
	})
	_, err := webhook.New(newMemory(), webhook.WithMaxInFlight(-1))
	var ve *webhook.ValidationError
	require.ErrorAs(t, err, &ve)
}

// TestInFlightCap: a subscription may not ask for more attempts in flight than the cap,
// and one stored with more (before the cap, or by another dispatcher) is held to it.
func TestInFlightCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("greedy.example.com", sleepy(time.Second))
		st := newMemory()
		wide, err := webhook.New(st, webhook.WithHTTPClient(&http.Client{Transport: h}), webhook.WithInFlightCap(50))
		require.NoError(t, err)
		greedy := subscribeHost(t, wide, "greedy.example.com", func(s *webhook.Subscription) { s.MaxInFlight = 50 })
		require.NoError(t, wide.Close(context.Background()))

		d, err := webhook.New(st, webhook.WithHTTPClient(&http.Client{Transport: h}), webhook.WithWorkers(64))
		require.NoError(t, err)
		defer d.Close(context.Background())
		_, err = d.Subscribe(context.Background(), webhook.Subscription{URL: "https://more.example.com/in", Events: []string{"order.*"}, MaxInFlight: webhook.DefaultInFlightCap + 1})
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "MaxInFlight", ve.Field)

		// The one stored with 50 stays editable as long as its MaxInFlight is left alone.
		renamed := greedy
		renamed.Name = "greedy, renamed"
		_, err = d.UpdateSubscription(context.Background(), renamed)
		require.NoError(t, err)
		_, err = d.ModifySubscription(context.Background(), greedy.ID, func(s *webhook.Subscription) error { s.Name = "again"; return nil })
		require.NoError(t, err)
		_, err = d.ModifySubscription(context.Background(), greedy.ID, func(s *webhook.Subscription) error { s.MaxInFlight = 40; return nil })
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "MaxInFlight", ve.Field)
		assert.Equal(t, 1, strings.Count(err.Error(), "webhook:"), "one prefix: %s", err)

		emitN(t, d, 100)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Len(t, h.times("greedy.example.com"), 100)
		assert.Equal(t, webhook.DefaultInFlightCap, h.max("greedy.example.com"), "the stored 50, held to the cap")
	})
	for _, tc := range []struct {
		name string
		opts []webhook.Option
	}{
		{"negative", []webhook.Option{webhook.WithInFlightCap(-1)}},
		{"below the default MaxInFlight", []webhook.Option{webhook.WithMaxInFlight(8), webhook.WithInFlightCap(4)}},
	} {
		_, err := webhook.New(newMemory(), tc.opts...)
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve, tc.name)
		assert.Equal(t, "inFlightCap", ve.Field, tc.name)
	}
	d, err := webhook.New(newMemory(), webhook.WithMaxInFlight(64))
	require.NoError(t, err, "the cap rises to a higher default")
	_, err = d.Subscribe(context.Background(), webhook.Subscription{URL: "https://a.example.com/in", Events: []string{"order.*"}, MaxInFlight: 64})
	require.NoError(t, err)
	require.NoError(t, d.Close(context.Background()))
}

// TestWorkspaceInFlight: a merchant with many hanging endpoints gets no more than its
// workspace's share of the dispatcher's room for attempts, and another merchant's
// delivery goes out the moment it is emitted. With one worker (and a slow lane of 16),
// the default share is 4.
func TestWorkspaceInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("hang.example.com", hang)
		h.route("ok.example.com", sleepy(0))
		d := newRouted(t, h, webhook.WithWorkers(1))
		for range 10 {
			subscribeHost(t, d, "hang.example.com", func(s *webhook.Subscription) { s.Workspace = "shop_dead" })
		}
		subscribeHost(t, d, "ok.example.com", func(s *webhook.Subscription) { s.Workspace = "shop_ok" })
		emitN(t, d, 5, webhook.InWorkspace("shop_dead")) // 50 deliveries that hang
		time.Sleep(time.Second)
		synctest.Wait()
		emitted := time.Now()
		emitN(t, d, 1, webhook.InWorkspace("shop_ok"))
		synctest.Wait()
		require.Len(t, h.times("ok.example.com"), 1)
		assert.Equal(t, emitted, h.times("ok.example.com")[0], "the other merchant waited")
		assert.Equal(t, 4, h.max("hang.example.com"), "the hanging merchant's share, reached and never exceeded")
	})
	// One claim for several workers grants each of the workspace's subscriptions from the
	// same room: it may go over the cap by up to its size (the workers), no further.
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("hang.example.com", hang)
		d := newRouted(t, h, webhook.WithWorkers(8), webhook.WithWorkspaceInFlight(3))
		for range 20 {
			subscribeHost(t, d, "hang.example.com", func(s *webhook.Subscription) { s.Workspace = "shop_dead" })
		}
		emitN(t, d, 5, webhook.InWorkspace("shop_dead")) // 100 deliveries, 80 could be in flight
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.LessOrEqual(t, h.max("hang.example.com"), 3+8)
		assert.GreaterOrEqual(t, h.max("hang.example.com"), 3)
	})
	// The default workspace, the application's own, is not capped.
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("hang.example.com", hang)
		d := newRouted(t, h, webhook.WithWorkers(8), webhook.WithWorkspaceInFlight(3))
		for range 10 {
			subscribeHost(t, d, "hang.example.com", nil)
		}
		emitN(t, d, 5)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 40, h.max("hang.example.com"), "every subscription's MaxInFlight")
	})
	_, err := webhook.New(newMemory(), webhook.WithWorkspaceInFlight(-1))
	var ve *webhook.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "workspaceInFlight", ve.Field)
}

// TestRaisingMaxInFlightWakes: deliveries waiting for a subscription's MaxInFlight go out
// the moment it is raised, by UpdateSubscription or ModifySubscription (the API's PATCH).
func TestRaisingMaxInFlightWakes(t *testing.T) {
	for _, modify := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			h := newHostRouter()
			h.route("slow.example.com", sleepy(20*time.Second))
			d := newRouted(t, h, webhook.WithWorkers(4))
			sub := subscribeHost(t, d, "slow.example.com", func(s *webhook.Subscription) { s.MaxInFlight = 1 })
			emitN(t, d, 4)
			time.Sleep(time.Second)
			synctest.Wait()
			require.Len(t, h.times("slow.example.com"), 1)
			var err error
			if modify {
				_, err = d.ModifySubscription(context.Background(), sub.ID, func(s *webhook.Subscription) error { s.MaxInFlight = 4; return nil })
			} else {
				sub.MaxInFlight = 4
				_, err = d.UpdateSubscription(context.Background(), sub)
			}
			require.NoError(t, err)
			synctest.Wait()
			assert.Len(t, h.times("slow.example.com"), 4, "modify=%v: sent at once after the raise", modify)
			time.Sleep(30 * time.Second)
		})
	}
}

// TestHangingEndpointDelaysNoOne is the scenario of a merchant whose server hangs: one of
// five subscriptions never answers (each attempt times out after 5 s) while 50 events a
// second are emitted for 20 s. The healthy four get every event the moment it is emitted.
func TestHangingEndpointDelaysNoOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("hang.example.com", hang)
		d := newRouted(t, h)
		healthy := []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com"}
		subscribeHost(t, d, "hang.example.com", nil)
		for _, host := range healthy {
			subscribeHost(t, d, host, nil)
		}
		var emitted []time.Time
		for range 20 * 50 {
			emitted = append(emitted, time.Now())
			emitN(t, d, 1)
			time.Sleep(20 * time.Millisecond)
		}
		synctest.Wait()
		for _, host := range healthy {
			got := h.times(host)
			require.Len(t, got, len(emitted), host)
			for i := range got {
				require.Equal(t, emitted[i], got[i], "%s: event %d waited", host, i)
			}
		}
		assert.LessOrEqual(t, h.max("hang.example.com"), webhook.DefaultMaxInFlight)
	})
}

func TestRetryAfter(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header func(now time.Time) string
		want   time.Duration // wait before attempt 2
	}{
		{"429 seconds later than the schedule", 429, func(time.Time) string { return "600" }, 600 * time.Second},
		{"503 seconds", 503, func(time.Time) string { return "90" }, 90 * time.Second},
		{"sooner than the schedule keeps the schedule", 429, func(time.Time) string { return "5" }, 60 * time.Second},
		{"capped at one hour", 429, func(time.Time) string { return "86400" }, time.Hour},
		{"HTTP date", 503, func(now time.Time) string { return now.Add(10 * time.Minute).UTC().Format(http.TimeFormat) }, 10 * time.Minute},
		{"ignored on 500", 500, func(time.Time) string { return "600" }, 60 * time.Second},
		{"garbage ignored", 429, func(time.Time) string { return "soon" }, 60 * time.Second},
		{"spaces around the number", 429, func(time.Time) string { return " 600 " }, 600 * time.Second},
		{"too many digits is capped, not ignored", 503, func(time.Time) string { return "99999999999999999999" }, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
					resp := answer(r, tc.status, "slow down")
					resp.Header.Set("Retry-After", tc.header(time.Now()))
					return resp, nil
				})
				e.subscribe("order.created")
				ev := e.emit("order.created")
				e.settle(6 * time.Hour)
				got := e.offsets()
				require.GreaterOrEqual(t, len(got), 2)
				assert.Equal(t, tc.want, got[1]-got[0])
				del := e.delivery(ev.ID)
				assert.Len(t, del.Attempts, 6, "Retry-After attempts still count toward the six")
				assert.Equal(t, webhook.DeliveryFailed, del.State)
			})
		})
	}
}

func TestCircuitBreakerOpensProbesAndCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		var healthy atomic.Bool
		h.route("down.example.com", func(r *http.Request) (*http.Response, error) {
			if healthy.Load() {
				return answer(r, 200, "ok"), nil
			}
			return answer(r, 500, "down"), nil
		})
		d := newRouted(t, h, webhook.WithCircuitBreaker(3, time.Minute))
		sub := subscribeHost(t, d, "down.example.com", func(s *webhook.Subscription) { s.MaxInFlight = 1 })
		emitN(t, d, 10)
		synctest.Wait()
		assert.Len(t, h.times("down.example.com"), 3, "three failures open the breaker")

		time.Sleep(59 * time.Second)
		synctest.Wait()
		assert.Len(t, h.times("down.example.com"), 3, "nothing is sent while the breaker is open")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Len(t, h.times("down.example.com"), 4, "one probe after a minute")

		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got := h.times("down.example.com")
		assert.Len(t, got, 4+10, "one probe a minute, no more")
		for i := 4; i < len(got); i++ {
			assert.Equal(t, time.Minute, got[i].Sub(got[i-1]), "probe %d", i)
		}
		ds, err := d.Deliveries(context.Background(), webhook.DeliveryQuery{SubscriptionID: sub.ID})
		require.NoError(t, err)
		for _, del := range ds {
			assert.LessOrEqual(t, len(del.Attempts), 4, "waiting behind the breaker uses up no attempts")
		}

		tried := map[string]bool{}
		for _, del := range ds {
			tried[del.ID] = len(del.Attempts) > 0
		}
		healthy.Store(true)
		time.Sleep(time.Minute)
		synctest.Wait()
		probe := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()
		ds, err = d.Deliveries(context.Background(), webhook.DeliveryQuery{SubscriptionID: sub.ID})
		require.NoError(t, err)
		for _, del := range ds {
			if tried[del.ID] {
				continue // its retry keeps its schedule
			}
			assert.Equal(t, webhook.DeliverySucceeded, del.State, "a successful probe closes the breaker and the backlog flows")
			last := del.Attempts[len(del.Attempts)-1]
			assert.False(t, last.SentAt.After(probe), "delivered at once after the probe")
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		ds, err = d.Deliveries(context.Background(), webhook.DeliveryQuery{SubscriptionID: sub.ID})
		require.NoError(t, err)
		for _, del := range ds {
			assert.Equal(t, webhook.DeliverySucceeded, del.State)
		}
		st, err := d.Stats(context.Background())
		require.NoError(t, err)
		assert.Zero(t, st.Subscriptions[sub.ID].Failing.Count)
	})
}

func TestAutoDisable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("dead.example.com", func(r *http.Request) (*http.Response, error) { return nil, errRefused })
		var changes []webhook.StatusChange
		var mu sync.Mutex
		d := newRouted(t, h, webhook.WithAutoDisable(time.Hour), webhook.WithOnStatusChange(func(c webhook.StatusChange) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, c)
		}))
		sub := subscribeHost(t, d, "dead.example.com", func(s *webhook.Subscription) {
			s.Secret = webhook.NewSecret()
			s.Headers = map[string]string{"Authorization": "Bearer t0ken"}
		})
		start := time.Now()
		// A steady trickle of events, several at a time, so attempts overlap.
		for range 30 {
			emitN(t, d, 3)
			time.Sleep(5 * time.Minute)
			synctest.Wait()
		}
		got, err := d.Subscription(context.Background(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, webhook.StatusInactive, got.Status)
		assert.Contains(t, got.StatusReason, "disabled automatically")
		disabledAt := got.StatusChangedAt
		assert.GreaterOrEqual(t, disabledAt.Sub(start), time.Hour, "not before an hour of failures")
		assert.Less(t, disabledAt.Sub(start), time.Hour+6*time.Minute, "at the first failure after an hour")
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, changes, 1, "the application is told once")
		assert.Equal(t, sub.ID, changes[0].Subscription.ID)
		assert.False(t, changes[0].Deleted)
		assert.Empty(t, changes[0].Subscription.Secret, "the notification carries no secret")
		assert.Empty(t, changes[0].Subscription.Headers["Authorization"])
		for _, at := range h.times("dead.example.com") {
			assert.False(t, at.After(disabledAt), "nothing is sent once it is disabled")
		}
	})
}

func TestStatusChangeNotifications(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		h.route("gone.example.com", status(410, "gone"))
		h.route("bye.example.com", status(200, "Please unsubscribe me"))
		var changes []webhook.StatusChange
		var mu sync.Mutex
		d := newRouted(t, h, webhook.WithOnStatusChange(func(c webhook.StatusChange) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, c)
		}))
		gone := subscribeHost(t, d, "gone.example.com", nil)
		bye := subscribeHost(t, d, "bye.example.com", nil)
		emitN(t, d, 8) // several attempts in flight at once to each
		time.Sleep(time.Hour)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, changes, 2, "one notification per subscription: %+v", changes)
		byID := map[string]webhook.StatusChange{}
		for _, c := range changes {
			byID[c.Subscription.ID] = c
		}
		assert.False(t, byID[gone.ID].Deleted)
		assert.Contains(t, byID[gone.ID].Reason, "410")
		assert.True(t, byID[bye.ID].Deleted)
	})
}

func TestRateLimitWaitsWithoutUsingAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		d := newRouted(t, h)
		sub := subscribeHost(t, d, "limited.example.com", func(s *webhook.Subscription) { s.RateLimit = 2 })
		start := time.Now()
		emitN(t, d, 20)
		time.Sleep(time.Minute)
		synctest.Wait()
		got := h.times("limited.example.com")
		require.Len(t, got, 20)
		for i := range got {
			// A burst of 2, then 2 a second.
			n := 0
			for _, at := range got {
				if !at.Before(got[i]) && at.Before(got[i].Add(time.Second)) {
					n++
				}
			}
			assert.LessOrEqual(t, n, 4, "requests in the second after %s", got[i].Sub(start))
		}
		assert.GreaterOrEqual(t, got[19].Sub(start), 8*time.Second, "20 requests at 2/s take about 9 s")
		assert.LessOrEqual(t, got[19].Sub(start), 10*time.Second)
		ds, err := d.Deliveries(context.Background(), webhook.DeliveryQuery{SubscriptionID: sub.ID})
		require.NoError(t, err)
		for _, del := range ds {
			assert.Len(t, del.Attempts, 1)
			assert.Equal(t, webhook.DeliverySucceeded, del.State)
		}
	})
}

func TestSubscriptionTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(hang)
		sub, err := e.d.Subscribe(e.ctx, webhook.Subscription{URL: "https://hooks.example.com/in", Events: []string{"order.*"}, Timeout: 2 * time.Second})
		require.NoError(t, err)
		ev := e.emit("order.created")
		e.settle(time.Second)
		e.settle(time.Second)
		del := e.delivery(ev.ID)
		require.Len(t, del.Attempts, 1)
		assert.Equal(t, 2*time.Second, del.Attempts[0].Duration)
		assert.Equal(t, webhook.ErrorTimeout, del.Attempts[0].ErrorKind)
		_ = sub
	})
	d, err := webhook.New(newMemory(), webhook.WithMaxTimeout(10*time.Second))
	require.NoError(t, err)
	defer d.Close(context.Background())
	_, err = d.Subscribe(context.Background(), webhook.Subscription{URL: "https://x.example.com", Events: []string{"*"}, Timeout: 11 * time.Second})
	var ve *webhook.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Timeout", ve.Field)
	assert.True(t, strings.Contains(ve.Error(), "10s"))
}

func newMemory() *store.Memory { return store.NewMemory() }

// errRefused plays a connection refused.
var errRefused = errors.New("dial tcp: connect: connection refused")

// TestManyHangingEndpointsDelayNoOne: a hundred merchants' servers hang, far more attempts
// than the dispatcher has workers. Attempts that wait past 200 ms move to the slow lane,
// so the healthy merchants' events still go out within that, most of them at once.
func TestManyHangingEndpointsDelayNoOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		d := newRouted(t, h)
		var workspaces []string
		healthy := map[string]string{} // workspace -> host
		for i := range 110 {
			ws := fmt.Sprintf("shop_%03d", i)
			host := ws + ".example.com"
			workspaces = append(workspaces, ws)
			if i%11 == 0 {
				healthy[ws] = host
			} else {
				h.route(host, hang)
			}
			_, err := d.Subscribe(context.Background(), webhook.Subscription{Workspace: ws, URL: "https://" + host + "/in", Events: []string{"order.*"}})
			require.NoError(t, err)
		}
		emitted := map[string][]time.Time{}
		for i := range 20 * 50 {
			ws := workspaces[i%len(workspaces)]
			emitted[ws] = append(emitted[ws], time.Now())
			emitIn(t, d, ws, 1)
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		var lags []time.Duration
		for ws, host := range healthy {
			got := h.times(host)
			require.Len(t, got, len(emitted[ws]), host)
			for i := range got {
				lags = append(lags, got[i].Sub(emitted[ws][i]))
			}
		}
		slices.Sort(lags)
		assert.LessOrEqual(t, lags[len(lags)-1], 200*time.Millisecond, "no healthy delivery waits longer than the slow lane's threshold")
		assert.Zero(t, lags[len(lags)/2], "the median healthy delivery goes out at once")
	})
}

func TestRedeliverRefusesTestDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub := e.subscribe("order.created")
		rep, err := e.d.Test(e.ctx, sub.ID)
		require.NoError(t, err)
		err = e.d.Redeliver(e.ctx, rep.Tests[0].DeliveryID)
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve, "the catalog's sample must not go out as a real event")
		e.settle(time.Minute)
		assert.Len(t, e.ep.requests(), 1, "only the test itself was sent")
	})
}

// Workers claim their next deliveries themselves from the memory store, many at once: the
// rate limit still holds, because a claim and the token it spends are one step. Busy
// neighbours keep every worker finishing attempts and claiming at the same moments, and
// slowClaims lets the others run between a claim and what follows it.
func TestRateLimitHoldsWithConcurrentClaims(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		d, err := webhook.New(slowClaims{newMemory()}, webhook.WithHTTPClient(&http.Client{Transport: h}),
			webhook.WithWorkers(32), webhook.WithMaxInFlight(32))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, d.Close(context.Background())) })
		for i := range 8 {
			host := fmt.Sprintf("busy%d.example.com", i)
			h.route(host, sleepy(100*time.Millisecond))
			subscribeHost(t, d, host, nil)
		}
		subscribeHost(t, d, "limited.example.com", func(s *webhook.Subscription) { s.RateLimit = 1 })
		start := time.Now()
		for range 5 {
			emitN(t, d, 20) // 160 busy deliveries and 20 limited ones a second
			time.Sleep(time.Second)
		}
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		got := h.times("limited.example.com")
		require.Len(t, got, 100)
		for i := 1; i < len(got); i++ {
			// A burst of 1, then 1 a second: never two within a second.
			assert.GreaterOrEqual(t, got[i].Sub(got[i-1]), time.Second-time.Millisecond,
				"requests %d and %d, at %s and %s", i-1, i, got[i-1].Sub(start), got[i].Sub(start))
		}
	})
}

// slowClaims is the memory store that lets other goroutines run after each claim a worker
// makes for itself (a sleep would not do: under synctest, time stands still while a
// goroutine waits for a mutex).
type slowClaims struct{ *store.Memory }

func (s slowClaims) AppendDue(ctx context.Context, dst []store.Claim, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	claims, next, err := s.Memory.AppendDue(ctx, dst, req)
	for range 10 {
		runtime.Gosched()
	}
	return claims, next, err
}
