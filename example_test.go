package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// The examples deliver to an httptest server on loopback, which the destination guard
// refuses by default: they pass webhook.AllowPrivateNetworks(), which a production
// application must not do. They wait for deliveries with WithObserver, never with sleeps.

// This is the whole life of a webhook: a merchant's endpoint subscribes, the shop emits
// an event, the dispatcher delivers it signed, and the delivery log shows what happened.
func ExampleNew() {
	ctx := context.Background()
	secret := webhook.NewSecret()

	// The merchant's endpoint: it accepts only requests signed with the secret.
	endpoint := httptest.NewServer(webhook.VerifyHandler(secret,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer endpoint.Close()

	attempts := make(chan webhook.AttemptResult, 1)
	d, err := webhook.New(store.NewMemory(),
		webhook.AllowPrivateNetworks(), // the endpoint is on loopback
		webhook.WithObserver(func(r webhook.AttemptResult) {
			select { // an observer must never block the delivery workers
			case attempts <- r:
			default:
			}
		}),
	)
	if err != nil {
		panic(err)
	}
	defer d.Close(ctx)

	sub, err := d.Subscribe(ctx, webhook.Subscription{
		Name:   "Fulfilment",
		URL:    endpoint.URL,
		Events: []string{"order.*"},
		Secret: secret,
	})
	if err != nil {
		panic(err)
	}

	order := map[string]any{"id": "1001", "total": "59.90", "currency": "EUR"}
	ev, err := d.Emit(ctx, eventtypes.OrderCreated, order) // stored; sent in the background
	if err != nil {
		panic(err)
	}

	<-attempts // the first attempt is recorded
	log, err := d.Deliveries(ctx, webhook.DeliveryQuery{EventID: ev.ID})
	if err != nil {
		panic(err)
	}
	for _, del := range log {
		if del.SubscriptionID == sub.ID {
			fmt.Printf("%s to %s: %s (HTTP %d)\n", del.EventType, sub.Name, del.State, del.Attempts[0].StatusCode)
		}
	}
	// Output:
	// order.created to Fulfilment: succeeded (HTTP 200)
}

func ExampleDispatcher_Subscribe() {
	ctx := context.Background()
	d, err := webhook.New(store.NewMemory())
	if err != nil {
		panic(err)
	}
	defer d.Close(ctx)

	sub, err := d.Subscribe(ctx, webhook.Subscription{
		Name:    "ERP",
		URL:     "https://erp.example.com/webhooks/shop",
		Events:  []string{"order.*", eventtypes.ProductInventoryUpdated},
		Secret:  webhook.NewSecret(), // show it to the merchant once
		Headers: map[string]string{"Authorization": "Bearer erp-token"},
	})
	if err != nil {
		panic(err)
	}
	// Empty fields got their documented meaning.
	fmt.Println(sub.Status, sub.Format, sub.WhileInactive)

	// Bad input is refused with an error that names the field.
	_, err = d.Subscribe(ctx, webhook.Subscription{
		URL:    "https://erp.example.com/webhooks/shop",
		Events: []string{"order.shipped"},
	})
	var verr *webhook.ValidationError
	if errors.As(err, &verr) {
		fmt.Printf("invalid %s %q: %s\n", verr.Field, verr.Value, verr.Reason)
	}
	// Output:
	// active json discard
	// invalid Events "order.shipped": is not an event type of the catalog
}

// Emit takes the caller's event ID with WithEventID: derive it from what happened, and
// a retried Emit (after a timeout, say) stores nothing twice.
func ExampleDispatcher_Emit() {
	ctx := context.Background()
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer endpoint.Close()

	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks())
	if err != nil {
		panic(err)
	}
	defer d.Close(ctx)
	_, err = d.Subscribe(ctx, webhook.Subscription{URL: endpoint.URL, Events: []string{"order.*"}})
	if err != nil {
		panic(err)
	}

	order := map[string]any{"id": "1001", "status": "paid"}
	for range 2 { // the same call, twice
		ev, err := d.Emit(ctx, eventtypes.OrderCreated, order, webhook.WithEventID("order-1001-created"))
		if err != nil {
			panic(err)
		}
		fmt.Println(ev.ID, ev.Type)
	}

	log, err := d.Deliveries(ctx, webhook.DeliveryQuery{EventID: "order-1001-created"})
	if err != nil {
		panic(err)
	}
	fmt.Println("deliveries:", len(log))
	// Output:
	// order-1001-created order.created
	// order-1001-created order.created
	// deliveries: 1
}

// Test sends sample events at once and reports like an admin page's "Send test" button.
func ExampleDispatcher_Test() {
	ctx := context.Background()
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer endpoint.Close()

	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks())
	if err != nil {
		panic(err)
	}
	defer d.Close(ctx)
	sub, err := d.Subscribe(ctx, webhook.Subscription{
		URL:    endpoint.URL,
		Events: []string{eventtypes.OrderCreated, eventtypes.OrderCancelled},
		Secret: webhook.NewSecret(),
	})
	if err != nil {
		panic(err)
	}

	report, err := d.Test(ctx, sub.ID) // every type the subscription wants
	if err != nil {
		panic(err)
	}
	fmt.Printf("tests run: %d, succeeded: %d\n", report.TestsRun, report.TestsSucceeded)

	report, err = d.Test(ctx, sub.ID, eventtypes.OrderCancelled) // or the types named
	if err != nil {
		panic(err)
	}
	fmt.Printf("tests run: %d, succeeded: %d\n", report.TestsRun, report.TestsSucceeded)
	// Output:
	// tests run: 2, succeeded: 2
	// tests run: 1, succeeded: 1
}

// A receiver wraps its handler in VerifyHandler: the handler sees only requests signed
// with the secret, and its body reads the verified bytes.
func ExampleVerifyHandler() {
	secret := webhook.NewSecret()
	received := make(chan string, 1)
	receiver := webhook.VerifyHandler(secret, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		received <- fmt.Sprintf("%s %s", ev.Type, ev.Data)
	}))
	endpoint := httptest.NewServer(receiver)
	defer endpoint.Close()

	// An unsigned (or forged) request is refused.
	resp, err := http.Post(endpoint.URL, "application/json", strings.NewReader(`{"type":"order.created"}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	// The dispatcher's requests are signed and get through.
	ctx := context.Background()
	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks())
	if err != nil {
		panic(err)
	}
	defer d.Close(ctx)
	_, err = d.Subscribe(ctx, webhook.Subscription{URL: endpoint.URL, Events: []string{"*"}, Secret: secret})
	if err != nil {
		panic(err)
	}
	_, err = d.Emit(ctx, eventtypes.CustomerCreated, map[string]any{"id": "42"})
	if err != nil {
		panic(err)
	}
	fmt.Println(<-received)
	// Output:
	// 401
	// customer.created {"id":"42"}
}

// Verify is the building block of VerifyHandler, for receivers that read the body
// themselves: pass it the exact bytes received.
func ExampleVerify() {
	secret := webhook.NewSecret()
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}

	// A request as the dispatcher signs it.
	body := []byte(`{"id":"evt_1","type":"order.created","data":{"id":"1001"}}`)
	req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
	err := webhook.StandardSigner{}.Sign(req.Header, webhook.SignInput{ID: "evt_1", Body: body, Secrets: []string{secret}})
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	handler(w, req)
	fmt.Println(w.Code)

	// The same headers with a tampered body.
	tampered := bytes.Replace(body, []byte("1001"), []byte("9999"), 1)
	err = webhook.Verify(secret, req.Header, tampered)
	fmt.Println(errors.Is(err, webhook.ErrSignatureMismatch))
	// Output:
	// 204
	// true
}

func ExampleNewSecret() {
	secret := webhook.NewSecret() // store it with the subscription; show it to the merchant once
	fmt.Println(strings.HasPrefix(secret, webhook.SecretPrefix), secret[:len(webhook.SecretPrefix)])
	// Output: true whsec_
}

// The default schedule: six attempts, each retry a minute later than the one before.
func ExampleDefaultRetryPolicy() {
	p := webhook.DefaultRetryPolicy()
	for n := 1; ; n++ {
		wait, ok := p.Delay(n)
		if !ok {
			fmt.Printf("after attempt %d: give up\n", n)
			break
		}
		fmt.Printf("after attempt %d: retry in %v\n", n, wait)
	}
	fmt.Println("timeout per attempt:", p.Timeout)
	// Output:
	// after attempt 1: retry in 1m0s
	// after attempt 2: retry in 2m0s
	// after attempt 3: retry in 3m0s
	// after attempt 4: retry in 4m0s
	// after attempt 5: retry in 5m0s
	// after attempt 6: give up
	// timeout per attempt: 5s
}

// An exponential schedule with jitter, passed to New with WithRetryPolicy. The waits
// are random within ±50% of 30s, 1m, 2m, ... up to 10m.
func ExampleExponentialRetryPolicy() {
	p := webhook.ExponentialRetryPolicy(30*time.Second, 10*time.Minute, 8)
	p.Timeout = 10 * time.Second // change what you need

	base := 30 * time.Second
	for n := 1; n < p.MaxAttempts; n++ {
		wait, _ := p.Delay(n)
		within := wait >= base/2 && wait <= base*3/2
		fmt.Printf("after attempt %d: about %v (%t)\n", n, base, within)
		base = min(2*base, 10*time.Minute)
	}

	d, err := webhook.New(store.NewMemory(), webhook.WithRetryPolicy(p))
	if err != nil {
		panic(err)
	}
	defer d.Close(context.Background())
	// Output:
	// after attempt 1: about 30s (true)
	// after attempt 2: about 1m0s (true)
	// after attempt 3: about 2m0s (true)
	// after attempt 4: about 4m0s (true)
	// after attempt 5: about 8m0s (true)
	// after attempt 6: about 10m0s (true)
	// after attempt 7: about 10m0s (true)
}

// Deliveries is the "Recent deliveries" page of a subscription: newest first, each with
// its attempts. Page through a long log with Limit and Before.
func ExampleDispatcher_Deliveries() {
	ctx := context.Background()
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "thanks")
	}))
	defer endpoint.Close()

	attempts := make(chan webhook.AttemptResult, 2)
	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks(),
		webhook.WithObserver(func(r webhook.AttemptResult) {
			select {
			case attempts <- r:
			default:
			}
		}))
	if err != nil {
		panic(err)
	}
	defer d.Close(ctx)
	sub, err := d.Subscribe(ctx, webhook.Subscription{URL: endpoint.URL, Events: []string{"order.*"}})
	if err != nil {
		panic(err)
	}
	for _, typ := range []string{eventtypes.OrderCreated, eventtypes.OrderFulfilled} {
		if _, err := d.Emit(ctx, typ, map[string]any{"id": "1001"}); err != nil {
			panic(err)
		}
	}
	<-attempts
	<-attempts

	q := webhook.DeliveryQuery{SubscriptionID: sub.ID, Limit: 1}
	for {
		page, err := d.Deliveries(ctx, q)
		if err != nil {
			panic(err)
		}
		if len(page) == 0 {
			break
		}
		for _, del := range page {
			last := del.Attempts[len(del.Attempts)-1]
			fmt.Printf("%s: %s after %d attempt(s), last answered %d %q\n",
				del.EventType, del.State, len(del.Attempts), last.StatusCode, last.ResponseBody)
		}
		q.Before = page[len(page)-1].ID
	}
	// Output:
	// order.fulfilled: succeeded after 1 attempt(s), last answered 200 "thanks"
	// order.created: succeeded after 1 attempt(s), last answered 200 "thanks"
}

// Stats are the health figures of a merchant's webhooks page, and what an application
// exports as metrics.
func ExampleDispatcher_Stats() {
	ctx := context.Background()
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		}
	}))
	defer endpoint.Close()

	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks())
	if err != nil {
		panic(err)
	}
	defer d.Close(ctx)
	up, err := d.Subscribe(ctx, webhook.Subscription{URL: endpoint.URL + "/up", Events: []string{"*"}})
	if err != nil {
		panic(err)
	}
	down, err := d.Subscribe(ctx, webhook.Subscription{URL: endpoint.URL + "/down", Events: []string{"*"}})
	if err != nil {
		panic(err)
	}
	if _, err := d.Emit(ctx, eventtypes.PaymentCompleted, map[string]any{"id": "pay_7"}); err != nil {
		panic(err)
	}
	// Wait until the attempts due are made: one succeeds, the other is retried in a minute.
	if err := d.Idle(ctx); err != nil {
		panic(err)
	}

	st, err := d.Stats(ctx)
	if err != nil {
		panic(err)
	}
	all := st.Overall
	fmt.Printf("attempts %d, succeeded %d, success rate %.2f\n", all.Attempts, all.Succeeded, all.SuccessRate)
	fmt.Printf("errors by kind %v, pending %d\n", all.ErrorsByKind, all.Pending)
	fmt.Printf("up %.2f, down %.2f\n", st.Subscriptions[up.ID].SuccessRate, st.Subscriptions[down.ID].SuccessRate)
	// Output:
	// attempts 2, succeeded 1, success rate 0.50
	// errors by kind map[5xx:1], pending 1
	// up 1.00, down 0.00
}
