package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/shophooks/webhook/store"
)

// TestReport is the answer of Test: how many test requests were sent and how each went.
// Its JSON names are camelCase ("startedAt", "testsRun", "durationMs", ...), the shape
// of the established "test a webhook" answer that merchant tools already read; it is the
// one exception to the snake_case rule of the other types.
type TestReport struct {
	StartedAt      time.Time    `json:"startedAt"`
	TestsRun       int          `json:"testsRun"`
	TestsSucceeded int          `json:"testsSucceeded"`
	TestsFailed    int          `json:"testsFailed"`
	Tests          []TestResult `json:"tests"`
}

// TestResult is one test request of a TestReport.
type TestResult struct {
	Type       string `json:"type"`
	EventID    string `json:"eventId"`
	DeliveryID string `json:"deliveryId"`
	Succeeded  bool   `json:"succeeded"`
	StatusCode int    `json:"statusCode"`
	// Duration is how long the request took; in JSON, "durationMs" in milliseconds.
	Duration     time.Duration `json:"-"`
	Error        string        `json:"error,omitempty"`
	ResponseBody string        `json:"responseBody"`
}

// MarshalJSON writes the result with its duration in milliseconds ("durationMs").
func (r TestResult) MarshalJSON() ([]byte, error) {
	type plain TestResult
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"durationMs"`
	}{plain(r), float64(r.Duration) / float64(time.Millisecond)})
}

// Test sends one sample event of each named type (all the types the subscription's
// Events select when none are named) to the subscription, at once, concurrently, each
// signed like a real delivery and bounded by the retry policy's timeout, and reports what
// came back. The samples come from the catalog. A test is never retried and changes no
// subscription, whatever the answer; each appears in the delivery log as a delivery whose
// attempt is marked Test. It works on inactive subscriptions too, so an endpoint can be
// checked before it is activated. ErrNotFound if there is no such subscription; a
// *ValidationError for a type not in the catalog.
func (d *Dispatcher) Test(ctx context.Context, subscriptionID string, eventTypes ...string) (TestReport, error) {
	d.closing.Lock()
	if d.closed.Load() {
		d.closing.Unlock()
		return TestReport{}, ErrClosed
	}
	d.tests.Add(1)
	d.closing.Unlock()
	defer d.tests.Done()
	// Close cuts the test short when its own context ends, as it does real attempts.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(d.sendCtx, cancel)()
	sub, err := d.store.Subscription(ctx, subscriptionID)
	if err != nil {
		return TestReport{}, fmt.Errorf("webhook: test: %w", err)
	}
	if len(eventTypes) == 0 {
		eventTypes = d.cfg.catalog.Expand(sub.Events...)
	}
	samples := make([]Event, len(eventTypes))
	for i, typ := range eventTypes {
		t, ok := d.cfg.catalog.Lookup(typ)
		if !ok {
			return TestReport{}, &ValidationError{Field: "eventTypes", Value: typ, Reason: "is not in the catalog", Err: d.cfg.catalog.Validate(typ)}
		}
		samples[i] = Event{ID: store.NewID("evt"), Workspace: sub.Workspace, Type: t.Name, Data: t.Sample}
	}
	report := TestReport{StartedAt: now(), Tests: make([]TestResult, len(samples))}
	var wg sync.WaitGroup
	for i, ev := range samples {
		wg.Add(1)
		go func() {
			defer wg.Done()
			report.Tests[i] = d.test(ctx, sub, ev)
		}()
	}
	wg.Wait()
	report.TestsRun = len(report.Tests)
	for _, r := range report.Tests {
		if r.Succeeded {
			report.TestsSucceeded++
		} else {
			report.TestsFailed++
		}
	}
	return report, nil
}

// test sends one sample event and records it in the log as a test.
func (d *Dispatcher) test(ctx context.Context, sub Subscription, ev Event) TestResult {
	ev.OccurredAt = now()
	to := newAttemptTimeout(ctx)
	defer to.close()
	a, v, _ := d.send(to, sub, ev, 1)
	a.Test = true
	a.Outcome = OutcomeFailed
	state := DeliveryFailed
	if v == verdictSuccess {
		a.Outcome, state = OutcomeSucceeded, DeliverySucceeded
	}
	del := Delivery{
		ID: store.NewID("dlv"), Workspace: sub.Workspace, EventID: ev.ID, SubscriptionID: sub.ID, EventType: ev.Type,
		State: state, Attempts: []Attempt{a}, Test: true,
		CreatedAt: a.SentAt, UpdatedAt: a.SentAt.Add(a.Duration),
	}
	if err := d.store.RecordTest(context.WithoutCancel(ctx), ev, del); err != nil {
		d.cfg.logger.Error("webhook: recording a test", "subscription", sub.ID, "err", err)
	}
	d.observe(del, a)
	return TestResult{
		Type: ev.Type, EventID: ev.ID, DeliveryID: del.ID, Succeeded: v == verdictSuccess,
		StatusCode: a.StatusCode, Duration: a.Duration, Error: a.Error, ResponseBody: a.ResponseBody,
	}
}
