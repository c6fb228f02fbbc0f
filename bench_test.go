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

// benchOrder is the data of every benchmark event: an order as an application passes it
// to Emit, a typed struct whose JSON is about 1 KB (the order of examples/bench).
var benchOrder = func() benchOrderT {
	addr := benchAddress{Name: "Ann Example", Line1: "Kastanienallee 12", City: "Berlin", PostalCode: "10435", Country: "DE"}
	o := benchOrderT{
		ID: "ord_9Q4K7M2N5P", Number: 100_245, Status: "open", FinancialStatus: "paid", Currency: "EUR",
		CreatedAt: time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC),
		Customer: benchCustomer{ID: "cus_4F7K2M", Email: "ann.example@example.com", FirstName: "Ann", LastName: "Example",
			Phone: "+49 30 1234567"},
		BillingAddress: addr, ShippingAddress: addr, DiscountCodes: []string{"SPRING10"},
		Subtotal: "149.80", Shipping: "4.90", Tax: "24.70", Total: "154.70", Tags: []string{"web"},
	}
	for i, l := range []benchLine{
		{SKU: "TSHIRT-ORG-M", Name: "Organic T-shirt, M, navy", Quantity: 2, UnitPrice: "29.95"},
		{SKU: "MUG-STONE-350", Name: "Stoneware mug 350 ml", Quantity: 1, UnitPrice: "18.00"},
		{SKU: "TOTE-CANVAS", Name: "Canvas tote bag", Quantity: 1, UnitPrice: "34.40"},
	} {
		l.ID, l.Total, l.TaxRate = fmt.Sprintf("li_%08d", 7_310_000+i), l.UnitPrice, "0.19"
		o.Lines = append(o.Lines, l)
	}
	return o
}()

type benchOrderT struct {
	ID              string        `json:"id"`
	Number          int           `json:"number"`
	Status          string        `json:"status"`
	FinancialStatus string        `json:"financial_status"`
	Currency        string        `json:"currency"`
	CreatedAt       time.Time     `json:"created_at"`
	Customer        benchCustomer `json:"customer"`
	BillingAddress  benchAddress  `json:"billing_address"`
	ShippingAddress benchAddress  `json:"shipping_address"`
	Lines           []benchLine   `json:"lines"`
	DiscountCodes   []string      `json:"discount_codes"`
	Subtotal        string        `json:"subtotal"`
	Shipping        string        `json:"shipping"`
	Tax             string        `json:"tax"`
	Total           string        `json:"total"`
	Tags            []string      `json:"tags"`
}

type benchCustomer struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Phone     string `json:"phone"`
}

type benchAddress struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

type benchLine struct {
	ID        string `json:"id"`
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unit_price"`
	Total     string `json:"total"`
	TaxRate   string `json:"tax_rate"`
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

// BenchmarkEmit measures what an event costs on the memory store with 1 and 10 matching
// subscriptions, from Emit to the end of its work. "delivering": the dispatcher's 32
// workers (as many in flight per subscription) deliver every event to an endpoint that answers 200 at once without a network,
// and the benchmark waits until every delivery has succeeded, so ns/op is the wall time
// per event of Emit and all its deliveries (sign, request, record), spread over the cores.
// "queued": the only worker is stuck on an endpoint that never answers, so the deliveries
// pile up in the store and ns/op is Emit alone, which is all the work there is.
func BenchmarkEmit(b *testing.B) {
	for _, subs := range []int{1, 10} {
		for _, mode := range []string{"delivering", "queued"} {
			b.Run(fmt.Sprintf("subs=%d/%s", subs, mode), func(b *testing.B) {
				ctx := context.Background()
				var delivered, want atomic.Int64
				want.Store(-1)
				done := make(chan struct{})
				opts := []webhook.Option{webhook.WithHTTPClient(&http.Client{Transport: instantOK{}}),
					webhook.WithMaxInFlight(webhook.DefaultWorkers),
					webhook.WithObserver(func(r webhook.AttemptResult) {
						if r.State == webhook.DeliverySucceeded && delivered.Add(1) == want.Load() {
							close(done)
						}
					})}
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
				want.Store(int64(b.N * subs))
				for range b.N {
					if _, err := d.Emit(ctx, eventtypes.OrderCreated, benchOrder); err != nil {
						b.Fatal(err)
					}
				}
				if mode == "delivering" {
					select {
					case <-done:
					case <-time.After(time.Minute + time.Duration(b.N*subs)*time.Millisecond):
						b.Fatalf("only %d of %d deliveries succeeded", delivered.Load(), b.N*subs)
					}
				}
				b.StopTimer()
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
	// As many attempts in flight to the one subscription as there are workers, as in
	// examples/bench (the default per subscription is 4).
	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks(), webhook.WithObserver(observer),
		webhook.WithMaxInFlight(webhook.DefaultWorkers))
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
