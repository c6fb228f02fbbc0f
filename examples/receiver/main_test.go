package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// recorder is a Process function that keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	events []Event
	got    chan Event
}

func newRecorder() *recorder { return &recorder{got: make(chan Event, 100)} }

func (rec *recorder) process(_ context.Context, ev Event) error {
	rec.mu.Lock()
	rec.events = append(rec.events, ev)
	rec.mu.Unlock()
	rec.got <- ev
	return nil
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.events)
}

// next waits for the next processed event.
func (rec *recorder) next(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-rec.got:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event was processed")
		return Event{}
	}
}

func newTestReceiver(t *testing.T, secret string, cfg Config) *Receiver {
	t.Helper()
	cfg.Verifier = webhook.Verifier{Secrets: []string{secret}}
	cfg.Logger = discardLogger()
	r, err := NewReceiver(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// signed returns a POST of body signed with secret, as the dispatcher sends it.
func signed(t *testing.T, secret, id string, body []byte) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	require.NoError(t, webhook.StandardSigner{}.Sign(req.Header, webhook.SignInput{ID: id, Body: body, Secrets: []string{secret}}))
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

const orderBody = `{"id":"evt_1","type":"order.created","timestamp":"2026-03-01T10:00:00Z","data":{"id":"1001","total":"59.90"}}`

func TestSignedRequestIsProcessedOnce(t *testing.T) {
	secret := webhook.NewSecret()
	rec := newRecorder()
	r := newTestReceiver(t, secret, Config{Process: rec.process})

	w := serve(r, signed(t, secret, "evt_1", []byte(orderBody)))
	assert.Equal(t, http.StatusOK, w.Code)
	ev := rec.next(t)
	assert.Equal(t, "evt_1", ev.ID)
	assert.Equal(t, eventtypes.OrderCreated, ev.Type)
	assert.Equal(t, "json", ev.Format)
	assert.Equal(t, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), ev.Timestamp.UTC())
	assert.JSONEq(t, `{"id":"1001","total":"59.90"}`, string(ev.Data))

	// A retry of the same event (same webhook-id, newer timestamp and signature) is
	// acknowledged, so the sender stops, but not processed again.
	w = serve(r, signed(t, secret, "evt_1", []byte(orderBody)))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "duplicate")
	require.NoError(t, r.Close(context.Background()))
	assert.Equal(t, 1, rec.count())
}

func TestBadSignatureIsRefused(t *testing.T) {
	secret := webhook.NewSecret()
	rec := newRecorder()
	r := newTestReceiver(t, secret, Config{Process: rec.process})

	tests := map[string]*http.Request{
		"other secret": signed(t, webhook.NewSecret(), "evt_1", []byte(orderBody)),
		"unsigned":     httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(orderBody)),
		"tampered body": func() *http.Request {
			req := signed(t, secret, "evt_1", []byte(orderBody))
			req.Body = io.NopCloser(strings.NewReader(strings.Replace(orderBody, "59.90", "0.01", 1)))
			return req
		}(),
		"old timestamp": func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(orderBody))
			require.NoError(t, webhook.StandardSigner{}.Sign(req.Header, webhook.SignInput{
				ID: "evt_1", Timestamp: time.Now().Add(-time.Hour), Body: []byte(orderBody), Secrets: []string{secret},
			}))
			return req
		}(),
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, http.StatusUnauthorized, serve(r, req).Code)
		})
	}
	// A refused request is not remembered: the genuine one is processed.
	assert.Equal(t, http.StatusOK, serve(r, signed(t, secret, "evt_1", []byte(orderBody))).Code)
	require.NoError(t, r.Close(context.Background()))
	assert.Equal(t, 1, rec.count())
}

func TestUnreadablePayloadIs400(t *testing.T) {
	secret := webhook.NewSecret()
	rec := newRecorder()
	r := newTestReceiver(t, secret, Config{Process: rec.process})
	for name, body := range map[string]string{"not JSON": "hello", "no type": `{"id":"evt_1"}`} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, http.StatusBadRequest, serve(r, signed(t, secret, "evt_1", []byte(body))).Code)
		})
	}
	require.NoError(t, r.Close(context.Background()))
	assert.Equal(t, 0, rec.count())
}

func TestFullQueueIs503(t *testing.T) {
	secret := webhook.NewSecret()
	started, release := make(chan string, 10), make(chan struct{})
	rec := newRecorder()
	r := newTestReceiver(t, secret, Config{QueueSize: 1, Process: func(ctx context.Context, ev Event) error {
		started <- ev.ID
		<-release
		return rec.process(ctx, ev)
	}})

	require.Equal(t, http.StatusOK, serve(r, signed(t, secret, "evt_1", []byte(orderBody))).Code)
	require.Equal(t, "evt_1", <-started)                                                          // the worker is busy with evt_1
	require.Equal(t, http.StatusOK, serve(r, signed(t, secret, "evt_2", []byte(orderBody))).Code) // queued

	w := serve(r, signed(t, secret, "evt_3", []byte(orderBody)))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.NotEmpty(t, w.Header().Get("Retry-After"))

	// Once there is room, the sender's retry of evt_3 is accepted and processed.
	close(release)
	assert.Equal(t, "evt_1", rec.next(t).ID)
	assert.Equal(t, "evt_2", rec.next(t).ID)
	require.Equal(t, http.StatusOK, serve(r, signed(t, secret, "evt_3", []byte(orderBody))).Code)
	assert.Equal(t, "evt_3", rec.next(t).ID)
}

func TestCloseProcessesQueueThenRefuses(t *testing.T) {
	secret := webhook.NewSecret()
	rec := newRecorder()
	r := newTestReceiver(t, secret, Config{Process: func(ctx context.Context, ev Event) error {
		time.Sleep(10 * time.Millisecond) // a slow worker: the queue fills up
		return rec.process(ctx, ev)
	}})
	for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
		require.Equal(t, http.StatusOK, serve(r, signed(t, secret, id, []byte(orderBody))).Code)
	}
	require.NoError(t, r.Close(context.Background()))
	assert.Equal(t, 3, rec.count(), "Close processes what was queued")
	assert.Equal(t, http.StatusServiceUnavailable, serve(r, signed(t, secret, "evt_4", []byte(orderBody))).Code)
}

// TestFromDispatcher receives real deliveries in the three formats. Each format has its
// own endpoint: one Receiver would rightly process the event once, not once per format.
func TestFromDispatcher(t *testing.T) {
	secret := webhook.NewSecret()
	rec := newRecorder()
	mux := http.NewServeMux()
	for _, f := range []string{"json", "xml", "query"} {
		r := newTestReceiver(t, secret, Config{Process: rec.process})
		mux.Handle("POST /"+f, r)
		mux.Handle("GET /"+f, r)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks())
	require.NoError(t, err)
	defer d.Close(ctx)
	for _, f := range []webhook.Format{webhook.FormatJSON, webhook.FormatXML, webhook.FormatQuery} {
		_, err := d.Subscribe(ctx, webhook.Subscription{
			Name: string(f), URL: srv.URL + "/" + string(f), Events: []string{"order.*"}, Secret: secret, Format: f,
		})
		require.NoError(t, err)
	}
	ev, err := d.Emit(ctx, eventtypes.OrderCreated, map[string]any{"id": "1001", "total": "59.90"})
	require.NoError(t, err)

	byFormat := map[string]Event{}
	for range 3 {
		got := rec.next(t)
		byFormat[got.Format] = got
	}
	for _, f := range []string{"json", "xml", "query"} {
		got := byFormat[f]
		assert.Equal(t, ev.ID, got.ID, f)
		assert.Equal(t, eventtypes.OrderCreated, got.Type, f)
		assert.WithinDuration(t, ev.OccurredAt, got.Timestamp, time.Second, f)
	}
	assert.JSONEq(t, `{"id":"1001","total":"59.90"}`, string(byFormat["json"].Data))
	assert.Contains(t, string(byFormat["xml"].Data), "<id>1001</id>")
	assert.Equal(t, "order_id=1001", string(byFormat["query"].Data))
}

func TestSeenSet(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newSeenSet(2, time.Minute)
	s.now = func() time.Time { return now }

	assert.True(t, s.Add("a"))
	assert.False(t, s.Add("a"), "a duplicate")
	assert.True(t, s.Add("b"))
	assert.True(t, s.Add("c"), "evicts a, the least recently seen")
	assert.Equal(t, 2, s.Len())
	assert.True(t, s.Add("a"), "a was forgotten")

	s.Forget("a")
	assert.True(t, s.Add("a"))

	now = now.Add(time.Minute)
	assert.Equal(t, 0, s.Len(), "everything expired")
	assert.True(t, s.Add("c"))
}

func TestSeenSetConcurrentAddsOneWinner(t *testing.T) {
	s := newSeenSet(100, time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for range 50 {
		wg.Go(func() {
			if s.Add("evt_1") {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, winners)
}

func TestRun(t *testing.T) {
	t.Run("no secret", func(t *testing.T) {
		err := run(context.Background(), nil, func(string) string { return "" }, io.Discard)
		assert.ErrorContains(t, err, "no secret")
	})
	t.Run("secret from the environment, graceful stop", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string {
				if k == "WEBHOOK_SECRET" {
					return webhook.NewSecret()
				}
				return ""
			}, io.Discard)
		}()
		time.Sleep(50 * time.Millisecond) // let it start serving; stopping earlier works too
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("run did not stop")
		}
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
