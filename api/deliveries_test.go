package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/api"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// oneAttempt gives up a delivery after its first failed attempt, so failures are final
// at once.
func oneAttempt() webhook.Option {
	p := webhook.DefaultRetryPolicy()
	p.MaxAttempts = 1
	return webhook.WithRetryPolicy(p)
}

func TestDeliveryLogAndDetail(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["order.*"]`, ``)
	other, _ := e.create(wsA, `["customer.*"]`, ``)
	ev := e.emit(wsA, eventtypes.OrderCreated)
	e.rc.next(t)
	d := e.deliveryOf(wsA, id, ev.ID, "succeeded")
	assert.Equal(t, id, d["webhook_id"])
	assert.Equal(t, ev.ID, d["event_id"])
	assert.Equal(t, wsA, d["workspace"])
	assert.Equal(t, "order.created", d["event_type"])
	assert.Equal(t, false, d["test"])
	assert.Nil(t, d["next_attempt_at"])

	a := e.ok(e.do("GET", "/workspaces/"+wsA+"/deliveries/"+d["id"].(string), ""), http.StatusOK)
	detail := a.object(t)
	attempts := detail["attempts"].([]any)
	require.Len(t, attempts, 1)
	at := attempts[0].(map[string]any)
	assert.Equal(t, 1.0, at["number"])
	assert.Equal(t, 200.0, at["status_code"])
	assert.Equal(t, "answer OK", at["response_body"])
	assert.Equal(t, "", at["error"])
	assert.Equal(t, "succeeded", at["outcome"])
	assert.Greater(t, at["duration_ms"], 0.0)
	sent, err := time.Parse(time.RFC3339, at["sent_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), sent, time.Minute)

	// A failed attempt has its error and no status; the webhook log filters by state.
	e.rc.srv.Close() // refused connections from now on
	ev2 := e.emit(wsA, eventtypes.OrderCancelled)
	var failed map[string]any
	require.Eventually(t, func() bool {
		a := e.do("GET", "/workspaces/"+wsA+"/deliveries?event_id="+ev2.ID, "")
		var ds []map[string]any
		a.into(t, &ds)
		if len(ds) != 1 || len(ds[0]["attempts"].([]any)) == 0 {
			return false
		}
		failed = ds[0]
		return true
	}, 10*time.Second, 5*time.Millisecond)
	at = failed["attempts"].([]any)[0].(map[string]any)
	assert.Nil(t, at["status_code"], "no answer came")
	assert.NotEmpty(t, at["error"])
	assert.Equal(t, "connection", at["error_kind"])
	assert.Equal(t, "retry", at["outcome"])
	assert.NotNil(t, at["next_attempt_at"])
	assert.Equal(t, "pending", failed["state"])
	assert.NotNil(t, failed["next_attempt_at"])

	list := func(path string) []string {
		t.Helper()
		a := e.ok(e.do("GET", path, ""), http.StatusOK)
		var ds []map[string]any
		a.into(t, &ds)
		var ids []string
		for _, d := range ds {
			ids = append(ids, d["event_id"].(string))
		}
		return ids
	}
	hook := "/workspaces/" + wsA + "/webhooks/" + id + "/deliveries"
	assert.Equal(t, []string{ev2.ID, ev.ID}, list(hook), "newest first")
	assert.Equal(t, []string{ev.ID}, list(hook+"?state=succeeded"))
	assert.Equal(t, []string{ev2.ID}, list(hook+"?state=pending"))
	assert.Empty(t, list(hook+"?until="+qtime(time.Now().Add(-time.Hour))))
	assert.Equal(t, []string{ev2.ID, ev.ID}, list(hook+"?since="+qtime(time.Now().Add(-time.Hour))))
	assert.Empty(t, list("/workspaces/"+wsA+"/webhooks/"+other+"/deliveries"), "a webhook with no log yet: empty, not 404")
	assert.Equal(t, []string{ev2.ID, ev.ID}, list("/workspaces/"+wsA+"/deliveries?webhook_id="+id))
}

func qtime(t time.Time) string { return strings.ReplaceAll(t.UTC().Format(time.RFC3339), "+", "%2B") }

func TestDeliveryPaging(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["order.created"]`, `,"active":false,"while_inactive":"hold"`)
	var want []string
	for range 5 {
		ev := e.emit(wsA, eventtypes.OrderCreated)
		want = append([]string{ev.ID}, want...) // newest first
	}
	var got []string
	path := "/workspaces/" + wsA + "/webhooks/" + id + "/deliveries?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		a := e.ok(e.do("GET", path, ""), http.StatusOK)
		var ds []map[string]any
		a.into(t, &ds)
		for _, d := range ds {
			got = append(got, d["event_id"].(string))
			assert.Equal(t, "held", d["state"])
		}
		c := a.Header.Get("Next-Cursor")
		if c == "" {
			break
		}
		path = "/workspaces/" + wsA + "/webhooks/" + id + "/deliveries?limit=2&cursor=" + c
	}
	assert.Equal(t, want, got)
}

func TestDeletedWebhookKeepsItsLog(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["order.*"]`, ``)
	ev := e.emit(wsA, eventtypes.OrderCreated)
	e.rc.next(t)
	d := e.deliveryOf(wsA, id, ev.ID, "succeeded")
	e.ok(e.do("DELETE", "/workspaces/"+wsA+"/webhooks/"+id, ""), http.StatusNoContent)

	a := e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks/"+id+"/deliveries", ""), http.StatusOK)
	assert.Contains(t, a.Raw, d["id"].(string), "the log outlives the webhook")
	e.refused(e.do("GET", "/workspaces/"+wsB+"/webhooks/"+id+"/deliveries", ""), http.StatusNotFound, "not_found", "")
	e.refused(e.do("POST", "/workspaces/"+wsA+"/deliveries/"+d["id"].(string)+"/redeliver", ""), http.StatusConflict, "webhook_deleted", "")
	e.refused(e.do("GET", "/workspaces/"+wsA+"/webhooks/"+id+"/stats", ""), http.StatusNotFound, "not_found", "")
}

func TestRedeliver(t *testing.T) {
	e := newEnv(t)
	id, secret := e.create(wsA, `["order.*"]`, ``)
	ev := e.emit(wsA, eventtypes.OrderCreated)
	e.rc.next(t)
	d := e.deliveryOf(wsA, id, ev.ID, "succeeded")
	path := "/workspaces/" + wsA + "/deliveries/" + d["id"].(string) + "/redeliver"

	a := e.ok(e.do("POST", path, ""), http.StatusAccepted)
	assert.Equal(t, d["id"], a.object(t)["id"])
	h := e.rc.next(t)
	assert.Equal(t, ev.ID, h.Header.Get("webhook-id"), "the same event")
	assert.NoError(t, webhook.Verify(secret, h.Header, h.Body))
	require.Eventually(t, func() bool {
		a := e.ok(e.do("GET", "/workspaces/"+wsA+"/deliveries/"+d["id"].(string), ""), http.StatusOK)
		return len(a.object(t)["attempts"].([]any)) == 2
	}, 10*time.Second, 5*time.Millisecond)

	// While an attempt is in flight: 409.
	release := e.rc.holdRequests()
	defer release()
	e.ok(e.do("POST", path, "{}"), http.StatusAccepted)
	require.Eventually(t, func() bool {
		return e.do("POST", path, "").Status == http.StatusConflict
	}, 10*time.Second, 5*time.Millisecond)
	e.refused(e.do("POST", path, ""), http.StatusConflict, "in_flight", "")
	release()
	e.rc.next(t)

	// An inactive webhook: 409.
	require.Eventually(t, func() bool {
		return len(e.do("GET", "/workspaces/"+wsA+"/deliveries/"+d["id"].(string), "").object(t)["attempts"].([]any)) == 3
	}, 10*time.Second, 5*time.Millisecond)
	e.ok(e.do("POST", "/workspaces/"+wsA+"/webhooks/"+id+"/deactivate", ""), http.StatusOK)
	e.refused(e.do("POST", path, ""), http.StatusConflict, "inactive", "")
}

// A delivery redelivered until it holds MaxDeliveryAttempts attempts is refused with 409
// too_many_attempts, and recover leaves it out.
func TestRedeliverTooManyAttempts(t *testing.T) {
	recorded := make(chan struct{}, webhook.MaxDeliveryAttempts+10)
	e := newEnv(t, oneAttempt(), webhook.WithObserver(func(webhook.AttemptResult) { recorded <- struct{}{} }))
	waitRecorded := func() {
		t.Helper()
		select {
		case <-recorded:
		case <-time.After(10 * time.Second):
			t.Fatal("no attempt was recorded")
		}
	}
	id, _ := e.create(wsA, `["order.*"]`, ``)
	ev := e.emit(wsA, eventtypes.OrderCreated)
	waitRecorded()
	d := e.deliveryOf(wsA, id, ev.ID, "succeeded")
	path := "/workspaces/" + wsA + "/deliveries/" + d["id"].(string) + "/redeliver"
	for n := 2; n <= webhook.MaxDeliveryAttempts; n++ {
		if n == webhook.MaxDeliveryAttempts {
			e.rc.answer(http.StatusServiceUnavailable) // the last round fails, for recover
		}
		e.ok(e.do("POST", path, ""), http.StatusAccepted)
		waitRecorded()
	}
	a := e.ok(e.do("GET", "/workspaces/"+wsA+"/deliveries/"+d["id"].(string), ""), http.StatusOK)
	require.Len(t, a.object(t)["attempts"], webhook.MaxDeliveryAttempts)

	a = e.do("POST", path, "")
	e.refused(a, http.StatusConflict, "too_many_attempts", "")
	assert.Contains(t, a.Error.Message, "emit the event again under a new ID")

	// Recover sends the other failed delivery again, not this one.
	other := e.emit(wsA, eventtypes.OrderCreated)
	waitRecorded()
	e.deliveryOf(wsA, id, other.ID, "failed")
	e.rc.answer(http.StatusOK)
	a = e.ok(e.do("POST", "/workspaces/"+wsA+"/webhooks/"+id+"/recover", `{"since":"2020-01-01T00:00:00Z"}`), http.StatusAccepted)
	assert.Equal(t, 1.0, a.object(t)["redelivered"])
	waitRecorded()
	e.deliveryOf(wsA, id, other.ID, "succeeded")
	a = e.ok(e.do("GET", "/workspaces/"+wsA+"/deliveries/"+d["id"].(string), ""), http.StatusOK)
	assert.Equal(t, "failed", a.object(t)["state"])
	assert.Len(t, a.object(t)["attempts"], webhook.MaxDeliveryAttempts)

	// The OpenAPI document states the same limit, for redeliver and recover.
	assert.Equal(t, 2, strings.Count(string(api.OpenAPI()), fmt.Sprintf(" %d attempts or more", webhook.MaxDeliveryAttempts)))
}

func TestRecover(t *testing.T) {
	e := newEnv(t, oneAttempt())
	id, _ := e.create(wsA, `["order.*"]`, ``)
	before := time.Now().Add(-time.Second)
	e.rc.answer(http.StatusServiceUnavailable)
	var evs []webhook.Event
	for range 3 {
		ev := e.emit(wsA, eventtypes.OrderCreated)
		e.rc.next(t)
		e.deliveryOf(wsA, id, ev.ID, "failed")
		evs = append(evs, ev)
	}
	path := "/workspaces/" + wsA + "/webhooks/" + id + "/recover"

	// Nothing failed since a time after the outage.
	a := e.ok(e.do("POST", path, `{"since":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`), http.StatusAccepted)
	assert.Equal(t, 0.0, a.object(t)["redelivered"])

	e.rc.answer(http.StatusOK)
	a = e.ok(e.do("POST", path, `{"since":"`+before.UTC().Format(time.RFC3339)+`"}`), http.StatusAccepted)
	m := a.object(t)
	assert.Equal(t, 3.0, m["redelivered"])
	for range 3 {
		e.rc.next(t)
	}
	for _, ev := range evs {
		e.deliveryOf(wsA, id, ev.ID, "succeeded")
	}

	// An inactive webhook cannot recover: 409.
	e.ok(e.do("POST", "/workspaces/"+wsA+"/webhooks/"+id+"/deactivate", ""), http.StatusOK)
	e.refused(e.do("POST", path, `{"since":"2020-01-01T00:00:00Z"}`), http.StatusConflict, "inactive", "")
}

func TestStats(t *testing.T) {
	e := newEnv(t, oneAttempt())
	good, _ := e.create(wsA, `["order.created"]`, ``)
	ev := e.emit(wsA, eventtypes.OrderCreated)
	e.rc.next(t)
	e.deliveryOf(wsA, good, ev.ID, "succeeded")
	e.rc.answer(http.StatusInternalServerError)
	ev = e.emit(wsA, eventtypes.OrderCreated)
	e.rc.next(t)
	e.deliveryOf(wsA, good, ev.ID, "failed")
	idle, _ := e.create(wsA, `["customer.*"]`, ``)
	bID, _ := e.create(wsB, `["order.created"]`, ``)
	e.rc.answer(http.StatusOK)
	evB := e.emit(wsB, eventtypes.OrderCreated)
	e.rc.next(t)
	e.deliveryOf(wsB, bID, evB.ID, "succeeded")

	a := e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks/"+good+"/stats", ""), http.StatusOK)
	h := a.object(t)
	assert.Equal(t, 2.0, h["attempts"])
	assert.Equal(t, 1.0, h["succeeded"])
	assert.Equal(t, 1.0, h["failed"])
	assert.Equal(t, 0.5, h["success_rate"])
	assert.Equal(t, 1.0, h["deliveries_succeeded"])
	assert.Equal(t, 1.0, h["deliveries_failed"])
	assert.Equal(t, map[string]any{"5xx": 1.0}, h["errors_by_kind"])
	assert.Greater(t, h["mean_response_ms"], 0.0)
	assert.Greater(t, h["p95_response_ms"], 0.0)
	assert.Equal(t, 1.0, h["failing_count"])
	assert.NotNil(t, h["failing_since"])

	a = e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks/"+idle+"/stats", ""), http.StatusOK)
	assert.Equal(t, 0.0, a.object(t)["attempts"], "no attempt yet: zero figures")

	a = e.ok(e.do("GET", "/workspaces/"+wsA+"/stats", ""), http.StatusOK)
	var ws struct {
		Overall  map[string]any            `json:"overall"`
		Webhooks map[string]map[string]any `json:"webhooks"`
	}
	a.into(t, &ws)
	assert.Equal(t, 2.0, ws.Overall["attempts"], "workspace B's attempt is not counted")
	assert.Contains(t, ws.Webhooks, good)
	assert.NotContains(t, ws.Webhooks, bID)
}

// failingStore fails every listing, as a store whose disk is gone.
type failingStore struct{ store.Store }

func (failingStore) Subscriptions(context.Context, store.SubscriptionFilter) ([]store.Subscription, error) {
	return nil, errors.New("disk on fire at /var/lib/secret-path")
}

func TestStoreErrorIsInternal(t *testing.T) {
	d, err := webhook.New(failingStore{store.NewMemory()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close(context.Background())) })
	var logs bytes.Buffer
	h := api.New(d, api.WithAuth(testAuth), api.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	req := httptest.NewRequest("GET", "/workspaces/"+wsA+"/webhooks", nil)
	req.Header.Set("X-Test-Key", "key-"+wsA)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.JSONEq(t, `{"data":null,"error":{"code":"internal","message":"internal error","field":null}}`, rec.Body.String())
	assert.Contains(t, logs.String(), "disk on fire", "the error is logged for the operator")
	assert.Contains(t, logs.String(), "GET /workspaces/{workspace}/webhooks")
}

func TestClosedDispatcherIsUnavailable(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["*"]`, ``)
	require.NoError(t, e.d.Close(context.Background()))
	e.refused(e.do("POST", "/workspaces/"+wsA+"/webhooks", `{"url":"https://x.example.com","events":["*"]}`), http.StatusServiceUnavailable, "unavailable", "")
	e.refused(e.do("PATCH", "/workspaces/"+wsA+"/webhooks/"+id, `{"name":"x"}`), http.StatusServiceUnavailable, "unavailable", "")
	e.refused(e.do("POST", "/workspaces/"+wsA+"/webhooks/"+id+"/test", ``), http.StatusServiceUnavailable, "unavailable", "")
	e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks/"+id, ""), http.StatusOK)
}
