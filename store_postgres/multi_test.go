package storepg_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// tracked is a Store that remembers the claims its dispatcher has not recorded yet: the
// attempts in flight when the dispatcher is stopped.
type tracked struct {
	*storepg.Store
	mu   sync.Mutex
	open map[string]store.Claim
}

func (t *tracked) ClaimDue(ctx context.Context, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	cs, next, err := t.Store.ClaimDue(ctx, req)
	t.mu.Lock()
	for _, c := range cs {
		t.open[c.Delivery.ID] = c
	}
	t.mu.Unlock()
	return cs, next, err
}

func (t *tracked) RecordAttempt(ctx context.Context, rec store.AttemptRecord) (store.Delivery, error) {
	d, err := t.Store.RecordAttempt(ctx, rec)
	if err == nil {
		t.mu.Lock()
		delete(t.open, rec.DeliveryID)
		t.mu.Unlock()
	}
	return d, err
}

// receivers are local endpoints that count what they receive, per endpoint and event.
type receivers struct {
	srvs     []*httptest.Server
	mu       sync.Mutex
	got      map[[2]string]int // endpoint, webhook-id -> requests
	total    atomic.Int64
	progress chan struct{}
}

func newReceivers(t *testing.T, n int) *receivers {
	r := &receivers{got: make(map[[2]string]int), progress: make(chan struct{}, 1)}
	for i := range n {
		name := fmt.Sprint(i)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			_, _ = io.Copy(io.Discard, req.Body)
			r.mu.Lock()
			r.got[[2]string{name, req.Header.Get("webhook-id")}]++
			r.mu.Unlock()
			r.total.Add(1)
			select {
			case r.progress <- struct{}{}:
			default:
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		r.srvs = append(r.srvs, srv)
	}
	return r
}

// count is how many requests endpoint i received for event id.
func (r *receivers) count(i int, id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[[2]string{fmt.Sprint(i), id}]
}

// instance is one application instance: its own pool, store and dispatcher.
type instance struct {
	pool *pgxpool.Pool
	st   *tracked
	d    *webhook.Dispatcher
}

func newInstance(t *testing.T, schema string) *instance {
	t.Helper()
	pool := newPool(t, 8)
	st, err := storepg.Open(context.Background(), pool, storepg.WithSchema(schema))
	require.NoError(t, err)
	tr := &tracked{Store: st, open: make(map[string]store.Claim)}
	d, err := webhook.New(tr, webhook.AllowPrivateNetworks(), webhook.WithWorkers(16), webhook.WithMaxInFlight(16))
	require.NoError(t, err)
	in := &instance{pool: pool, st: tr, d: d}
	t.Cleanup(in.stop)
	return in
}

// stop closes the dispatcher (cutting attempts in flight short when ctx has ended), the
// store and the pool.
func (in *instance) stopWith(ctx context.Context) {
	_ = in.d.Close(ctx)
	_ = in.st.Close()
	in.pool.Close()
}

func (in *instance) stop() { in.stopWith(context.Background()) }

// TestMultiInstance runs three dispatchers, each with its own pool, on one schema: they
// emit 20,000 events between them to 5 subscriptions (one event type each), and one of
// them is stopped mid-run with attempts in flight, as a crashing instance would be. Every
// acknowledged event reaches its endpoint; an endpoint gets an event twice only if the
// stopped instance had that delivery in flight.
func TestMultiInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 deliveries")
	}
	const events, emitters = 20000, 12
	schema := freshSchema(t, testPool(t))
	rc := newReceivers(t, 5)
	ins := []*instance{newInstance(t, schema), newInstance(t, schema), newInstance(t, schema)}
	types := []string{eventtypes.OrderCreated, eventtypes.OrderUpdated, eventtypes.OrderFulfilled,
		eventtypes.ProductCreated, eventtypes.CustomerCreated}
	ctx := context.Background()
	for i, typ := range types {
		_, err := ins[i%3].d.Subscribe(ctx, webhook.Subscription{URL: rc.srvs[i].URL, Events: []string{typ}})
		require.NoError(t, err)
	}

	var (
		mu     sync.Mutex
		acked  = make(map[string]int, events) // event ID -> endpoint
		next   atomic.Int64
		killed atomic.Bool
		wg     sync.WaitGroup
	)
	for e := range emitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= events {
					return
				}
				in := ins[e%3]
				if e%3 == 2 && killed.Load() {
					in = ins[e%2]
				}
				ev, err := in.d.Emit(ctx, types[n%5], map[string]any{"n": n})
				if err != nil {
					// Only the stopped instance may refuse (its dispatcher or its store
					// was closed); the event is emitted elsewhere.
					if !errors.Is(err, webhook.ErrClosed) && !assert.ErrorIs(t, err, storepg.ErrClosed) {
						return
					}
					ev, err = ins[0].d.Emit(ctx, types[n%5], map[string]any{"n": n})
					if !assert.NoError(t, err) {
						return
					}
				}
				mu.Lock()
				acked[ev.ID] = n % 5
				mu.Unlock()
			}
		}()
	}

	// Stop the third instance once a third of the deliveries have arrived, without
	// letting its attempts in flight finish.
	waitFor(t, rc, 60*time.Second, func() bool { return rc.total.Load() >= events/3 })
	dead, cancel := context.WithCancel(ctx)
	cancel()
	killed.Store(true)
	ins[2].stopWith(dead)
	ins[2].st.mu.Lock()
	inFlight := ins[2].st.open
	ins[2].st.mu.Unlock()
	t.Logf("stopped an instance with %d attempts in flight after %d deliveries", len(inFlight), rc.total.Load())
	// Its leases would run out in a few minutes: move them to now, as time would.
	expireLeases(t, ins[0].pool, schema, inFlight)
	wg.Wait()

	mu.Lock()
	require.Len(t, acked, events, "every emit was acknowledged")
	mu.Unlock()
	missing := func() int {
		n := 0
		for id, sub := range acked {
			if rc.count(sub, id) == 0 {
				n++
			}
		}
		return n
	}
	waitFor(t, rc, 120*time.Second, func() bool { return missing() == 0 })

	inFlightEvents := make(map[[2]string]bool)
	for _, c := range inFlight {
		inFlightEvents[[2]string{c.Subscription.URL, c.Event.ID}] = true
	}
	dups := 0
	for id, sub := range acked {
		if n := rc.count(sub, id); n > 1 {
			dups++
			assert.True(t, inFlightEvents[[2]string{rc.srvs[sub].URL, id}],
				"event %s reached endpoint %d %d times, and was not in flight at the stopped instance", id, sub, n)
		}
	}
	t.Logf("%d deliveries, %d duplicates (all in flight at the stopped instance)", rc.total.Load(), dups)
	assert.LessOrEqual(t, dups, len(inFlight))
}

// waitFor waits until cond holds, checking whenever a receiver gets something, and fails
// the test after timeout.
func waitFor(t *testing.T, rc *receivers, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond) // in case the last request came before the check
	defer tick.Stop()
	for !cond() {
		select {
		case <-rc.progress:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("not done after %s (%d requests received)", timeout, rc.total.Load())
		}
	}
}

// expireLeases ends the leases of the claims now and tells the schedulers, as the
// passing of time would.
func expireLeases(t *testing.T, pool *pgxpool.Pool, schema string, claims map[string]store.Claim) {
	t.Helper()
	var ids []string
	for id := range claims {
		ids = append(ids, id)
	}
	s := pgx.Identifier{schema}.Sanitize()
	_, err := pool.Exec(context.Background(), `
WITH x AS (
    UPDATE `+s+`.queue x SET due_at = now(), leased_until = now()
    FROM `+s+`.deliveries d
    WHERE d.seq = x.seq AND d.id = ANY($1) AND x.leased_until IS NOT NULL
    RETURNING x.sub_id
)
INSERT INTO `+s+`.hints (sub_id, due) SELECT DISTINCT sub_id, now() FROM x`, ids)
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), `SELECT pg_notify($1, 'test')`, "webhook_wake:"+schema)
	require.NoError(t, err)
}
