package webhook_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/store"
)

// fakeEndpoint is an http.RoundTripper that plays a webhook receiver: it records every
// request with the (synctest) time it arrived and answers with respond.
type fakeEndpoint struct {
	mu      sync.Mutex
	respond func(r *http.Request) (*http.Response, error)
	got     []received
}

type received struct {
	At     time.Time
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

func (f *fakeEndpoint) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	f.mu.Lock()
	f.got = append(f.got, received{At: time.Now(), Method: r.Method, URL: r.URL.String(), Header: r.Header.Clone(), Body: body})
	respond := f.respond
	f.mu.Unlock()
	if respond == nil {
		return answer(r, 200, "ok"), nil
	}
	return respond(r)
}

// setResponder changes how the endpoint answers from now on.
func (f *fakeEndpoint) setResponder(fn func(r *http.Request) (*http.Response, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

func (f *fakeEndpoint) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

// answer builds a response with a status and body.
func answer(r *http.Request, status int, body string) *http.Response {
	return &http.Response{
		StatusCode: status,
		Status:     http.StatusText(status),
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    r,
		ProtoMajor: 1, ProtoMinor: 1,
	}
}

// status returns a responder that always answers status.
func status(code int, body string) func(r *http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) { return answer(r, code, body), nil }
}

// hang is a responder that never answers: it returns when the request is cancelled.
func hang(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// env is a dispatcher on a memory store talking to a fake endpoint, inside a synctest
// bubble, so the retry schedule runs on the bubble's clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Memory
	d     *webhook.Dispatcher
	ep    *fakeEndpoint
	start time.Time
}

func newEnv(t *testing.T, opts ...webhook.Option) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), st: store.NewMemory(), ep: &fakeEndpoint{}, start: time.Now()}
	opts = append([]webhook.Option{webhook.WithHTTPClient(&http.Client{Transport: e.ep})}, opts...)
	d, err := webhook.New(e.st, opts...)
	require.NoError(t, err)
	e.d = d
	t.Cleanup(func() {
		require.NoError(t, d.Close(context.Background()))
	})
	return e
}

// subscribe creates a subscription to events at a fixed public-looking URL.
func (e *env) subscribe(events ...string) webhook.Subscription {
	e.t.Helper()
	sub, err := e.d.Subscribe(e.ctx, webhook.Subscription{
		Name: "test", URL: "https://hooks.example.com/in", Events: events, Secret: webhook.NewSecret(),
	})
	require.NoError(e.t, err)
	return sub
}

// emit emits an order.created event.
func (e *env) emit(typ string) webhook.Event {
	e.t.Helper()
	ev, err := e.d.Emit(e.ctx, typ, map[string]any{"id": "ord_1", "total": "12.50"})
	require.NoError(e.t, err)
	return ev
}

// settle lets virtual time pass by d and then waits until every goroutine of the bubble
// is blocked: the dispatcher has done everything that was due by then. Under synctest
// time.Sleep advances the bubble's fake clock; no real time passes.
func (e *env) settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// delivery returns the only delivery of an event.
func (e *env) delivery(eventID string) webhook.Delivery {
	e.t.Helper()
	ds, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{EventID: eventID})
	require.NoError(e.t, err)
	require.Len(e.t, ds, 1)
	return ds[0]
}

// offsets returns the arrival times of the requests relative to the start of the bubble.
func (e *env) offsets() []time.Duration {
	var out []time.Duration
	for _, r := range e.ep.requests() {
		out = append(out, r.At.Sub(e.start))
	}
	return out
}
