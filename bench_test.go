package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// The benchmarks of issues 2 and 6. BENCHMARKS.md has the figures and how to reproduce
// them; examples/bench measures the same paths at scale, side by side with plain net/http.
//
//	go test -run='^$' -bench=. -benchmem
//	go test -run='^$' -bench=BenchmarkDeliveryEndToEnd -cpuprofile=cpu.out

// benchOrder is the data of every benchmark event: a small order, as an application
// would pass it (a value json.Marshal encodes).
var benchOrder = map[string]any{
	"id": "ord_12345", "number": 1001, "total": "129.90", "currency": "EUR",
	"customer": map[string]any{"id": "cus_77", "email": "ann@example.com"},
	"lines":    []map[string]any{{"sku": "TSHIRT-M", "qty": 2, "price": "29.95"}, {"sku": "MUG", "qty": 1, "price": "70.00"}},
}

// instantOK is a RoundTripper that answers 200 at once, without a network: the workers
// run their whole path (sign, send, read, record) except the socket.
type instantOK struct{}

func (instantOK) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader("")), Request: r, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// benchSubscribe creates n active subscriptions to every event, all at url.
func benchSubscribe(b *testing.B, d *webhook.Dispatcher, n int, url string) {
	b.Helper()
	for i := range n {
		_, err := d.Subscribe(context.Background(), webhook.Subscription{
			Name: fmt.Sprintf("bench %d", i), URL: url, Events: []string{"*"}, Secret: webhook.NewSecret(),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// parked is a RoundTripper that never answers: the one request it gets waits until the
// dispatcher is closed, so its only worker stays busy and nothing else is sent.
type parked struct{}

func (parked) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// BenchmarkEmit measures Emit on the memory store with 1 and 10 matching subscriptions.
// "delivering": the dispatcher's 32 workers deliver every event meanwhile to an endpoint
// that answers 200 at once without a network, so ns/op is what an event costs the
// process (Emit plus its deliveries, spread over the cores). "queued": the only worker is
// stuck on an endpoint that never answers, so the deliveries pile up in the store and
// ns/op is Emit alone.
func BenchmarkEmit(b *testing.B) {
	for _, subs := range []int{1, 10} {
		for _, mode := range []string{"delivering", "queued"} {
			b.Run(fmt.Sprintf("subs=%d/%s", subs, mode), func(b *testing.B) {
				ctx := context.Background()
				opts := []webhook.Option{webhook.WithHTTPClient(&http.Client{Transport: instantOK{}})}
				if mode == "queued" {
					opts = []webhook.Option{webhook.WithHTTPClient(&http.Client{Transport: parked{}}), webhook.WithWorkers(1)}
				}
				d, err := webhook.New(store.NewMemory(), opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer func() {
					// Give up on the parked attempt at once.
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					_ = d.Close(cctx)
				}()
				benchSubscribe(b, d, subs, "https://hooks.example.com/in")
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := d.Emit(ctx, eventtypes.OrderCreated, benchOrder); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDeliveryEndToEnd emits b.N events to one subscription whose endpoint is an
// httptest server on loopback answering 200, and waits until all of them are delivered:
// Emit, the store, the scheduler, signing, HTTP over a real socket, and recording. It
// reports deliveries/s; ns/op is the wall time per delivery.
func BenchmarkDeliveryEndToEnd(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	// The observer counts successes and closes done at the want-th.
	var delivered, want atomic.Int64
	want.Store(-1)
	done := make(chan struct{})
	observer := func(r webhook.AttemptResult) {
		if r.State != webhook.DeliverySucceeded {
			return
		}
		if delivered.Add(1) == want.Load() {
			close(done)
		}
	}
	ctx := context.Background()
	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks(), webhook.WithObserver(observer))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(ctx)
	benchSubscribe(b, d, 1, srv.URL+"/hooks")

	b.ReportAllocs()
	b.ResetTimer()
	want.Store(int64(b.N))
	start := time.Now()
	for range b.N {
		if _, err := d.Emit(ctx, eventtypes.OrderCreated, benchOrder); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute + time.Duration(b.N)*time.Millisecond):
		b.Fatalf("only %d of %d deliveries succeeded", delivered.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}
