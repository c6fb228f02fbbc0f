// Command quickstart shows the whole webhook feature working in a few seconds:
//
//	go run ./examples/quickstart
//
// It opens a bbolt file in a temporary directory (the embedded, durable default), starts
// three local receivers — one healthy that verifies signatures, one that fails twice and
// then answers 200, one that answers 410 Gone — subscribes them, emits order, product and
// customer events, runs a Test, and prints what was delivered, retried and deactivated,
// with the delivery log and the health figures.
//
// Two settings differ from production so that it finishes in seconds on one machine:
// the retry schedule is compressed (0.2 s, 0.4 s, ... instead of 60 s, 120 s, ...), and
// AllowPrivateNetworks lets the dispatcher reach receivers on 127.0.0.1, which the
// destination guard refuses by default.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// receivers are the three local endpoints of the demo.
type receivers struct {
	healthy, flaky, gone *httptest.Server
	verified             atomic.Int64 // requests the healthy receiver verified
	flakyCalls           atomic.Int64
}

func startReceivers(secret string) *receivers {
	r := &receivers{}
	// Healthy: verifies the Standard Webhooks signature, then answers 200.
	r.healthy = httptest.NewServer(webhook.VerifyHandler(secret, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.verified.Add(1)
		_, _ = io.Copy(io.Discard, req.Body)
		w.WriteHeader(http.StatusOK)
	})))
	// Flaky: 503 twice, then 200 for good.
	r.flaky = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.flakyCalls.Add(1) <= 2 {
			http.Error(w, "temporarily overloaded", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	// Gone: the integration was removed; 410 deactivates the subscription.
	r.gone = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "this integration no longer exists", http.StatusGone)
	}))
	return r
}

func (r *receivers) close() { r.healthy.Close(); r.flaky.Close(); r.gone.Close() }

func run(out io.Writer) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "webhook-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "webhooks.db")
	st, err := storebolt.Open(path)
	if err != nil {
		return err
	}
	defer st.Close()

	// A compressed schedule: the real one waits 60, 120, 180, 240 and 300 seconds.
	policy := webhook.DefaultRetryPolicy()
	policy.NewBackOff = func() webhook.BackOff {
		return webhook.Schedule(200*time.Millisecond, 400*time.Millisecond, 600*time.Millisecond, 800*time.Millisecond, time.Second)
	}
	policy.Timeout = 2 * time.Second

	attempts := make(chan webhook.AttemptResult, 100)
	d, err := webhook.New(st,
		webhook.WithRetryPolicy(policy),
		webhook.AllowPrivateNetworks(), // the receivers are on 127.0.0.1
		webhook.WithObserver(func(r webhook.AttemptResult) { attempts <- r }),
	)
	if err != nil {
		return err
	}
	defer d.Close(ctx)

	secret := webhook.NewSecret()
	rc := startReceivers(secret)
	defer rc.close()

	fmt.Fprintln(out, "shophooks/webhook quickstart")
	fmt.Fprintf(out, "store:  bbolt file %s\n", path)
	fmt.Fprintln(out, "policy: 6 attempts, retries after 0.2s 0.4s 0.6s 0.8s 1s (compressed; the default waits 60s 120s 180s 240s 300s)")
	fmt.Fprintln(out)

	names := map[string]string{}
	subscribe := func(name, url string, events ...string) (webhook.Subscription, error) {
		sub, err := d.Subscribe(ctx, webhook.Subscription{Name: name, URL: url, Events: events, Secret: secret})
		if err == nil {
			names[sub.ID] = name
			fmt.Fprintf(out, "subscribed %-8s %s  events %s\n", name, url, strings.Join(events, ", "))
		}
		return sub, err
	}
	healthy, err := subscribe("healthy", rc.healthy.URL, "order.*", "product.*", "customer.*")
	if err != nil {
		return err
	}
	if _, err := subscribe("flaky", rc.flaky.URL, eventtypes.OrderCreated); err != nil {
		return err
	}
	gone, err := subscribe("gone", rc.gone.URL, "order.*", "customer.created")
	if err != nil {
		return err
	}
	fmt.Fprintln(out)

	// "Send Test" before relying on the webhook.
	report, err := d.Test(ctx, healthy.ID, eventtypes.OrderCreated, eventtypes.ProductUpdated)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "test of %q: %d run, %d succeeded, %d failed\n\n", names[healthy.ID], report.TestsRun, report.TestsSucceeded, report.TestsFailed)

	// The application's order, product and customer code emits events.
	emits := []struct {
		typ  string
		data any
	}{
		{eventtypes.OrderCreated, map[string]any{"id": "ord_1001", "total": "59.90", "currency": "EUR"}},
		{eventtypes.ProductUpdated, map[string]any{"id": "prod_2001", "title": "Linen shirt", "price": "39.00"}},
		{eventtypes.CustomerCreated, map[string]any{"id": "cus_501", "email": "ada@example.com"}},
	}
	for _, e := range emits {
		ev, err := d.Emit(ctx, e.typ, e.data)
		if err != nil {
			return err
		}
		ds, err := d.Deliveries(ctx, webhook.DeliveryQuery{EventID: ev.ID})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "emitted %-16s %s -> %s\n", ev.Type, ev.ID, plural(len(ds), "delivery", "deliveries"))
	}
	fmt.Fprintln(out)

	// Wait until nothing is pending any more: every delivery succeeded, failed or was
	// cancelled (the 410 deactivates "gone", which discards its other deliveries).
	// Settled waits on the dispatcher's own events, retries included; nothing polls.
	fmt.Fprintln(out, "attempts as they happen:")
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	settled := make(chan error, 1)
	go func() { settled <- d.Settled(waitCtx) }()
	for done := false; !done; {
		select {
		case r := <-attempts:
			printAttempt(out, names, r)
		case err := <-settled:
			if err != nil {
				return fmt.Errorf("waiting for the deliveries to settle: %w", err)
			}
			done = true
		}
	}
	for len(attempts) > 0 {
		printAttempt(out, names, <-attempts)
	}
	fmt.Fprintln(out)

	fmt.Fprintln(out, "delivery log (newest first, tests included):")
	log, err := d.Deliveries(ctx, webhook.DeliveryQuery{Limit: 20})
	if err != nil {
		return err
	}
	for _, del := range log {
		var codes []string
		for _, a := range del.Attempts {
			codes = append(codes, attemptSummary(a))
		}
		kind := ""
		switch {
		case del.Test:
			kind = " (test)"
		case del.State == webhook.DeliveryCancelled && len(del.Attempts) == 0:
			kind = "never sent: its subscription was deactivated first"
		}
		fmt.Fprintf(out, "  %-8s %-16s %-9s %s%s\n", names[del.SubscriptionID], del.EventType, del.State, strings.Join(codes, ", "), kind)
	}
	fmt.Fprintln(out)

	sub, err := d.Subscription(ctx, gone.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "subscription %q is now %s: %s\n", names[gone.ID], sub.Status, sub.StatusReason)
	fmt.Fprintf(out, "the healthy receiver verified %d signed requests\n\n", rc.verified.Load())

	stats, err := d.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "health:")
	ids := make([]string, 0, len(stats.Subscriptions))
	for id := range stats.Subscriptions {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return names[ids[i]] < names[ids[j]] })
	printHealth(out, "overall", stats.Overall)
	for _, id := range ids {
		printHealth(out, names[id], stats.Subscriptions[id])
	}
	return nil
}

func printAttempt(out io.Writer, names map[string]string, r webhook.AttemptResult) {
	if r.Attempt.Test {
		return
	}
	line := fmt.Sprintf("  %-8s %-16s attempt %d: %s -> %s", names[r.SubscriptionID], r.EventType, r.Attempt.Number, attemptSummary(r.Attempt), r.Attempt.Outcome)
	if r.Attempt.Outcome == webhook.OutcomeRetry {
		line += fmt.Sprintf(", next in %s", r.NextAttemptAt.Sub(r.Attempt.SentAt).Round(time.Millisecond))
	}
	fmt.Fprintln(out, line)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func attemptSummary(a webhook.Attempt) string {
	if a.StatusCode == 0 {
		return "error: " + a.Error
	}
	return fmt.Sprintf("%d", a.StatusCode)
}

func printHealth(out io.Writer, name string, h webhook.Health) {
	var kinds []string
	for k, n := range h.ErrorsByKind {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(out, "  %-8s attempts %d, success rate %3.0f%%, delivered %d, failed %d, mean %s, p95 %s, errors [%s], pending %d\n",
		name, h.Attempts, 100*h.SuccessRate, h.DeliveriesSucceeded, h.DeliveriesFailed,
		h.MeanResponse.Round(10*time.Microsecond), h.P95Response.Round(10*time.Microsecond), strings.Join(kinds, " "), h.Pending)
}
