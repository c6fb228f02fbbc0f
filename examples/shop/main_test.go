package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// hook is a request the fake receiver got.
type hook struct {
	Header http.Header
	Body   []byte
}

// testEnv is the shop on a memory store, served by httptest, and a fake merchant
// endpoint that records what it receives and answers 200.
type testEnv struct {
	t        *testing.T
	shop     *httptest.Server
	endpoint *httptest.Server
	d        *webhook.Dispatcher
	hooks    chan hook
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{t: t, hooks: make(chan hook, 100)}
	e.endpoint = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.hooks <- hook{Header: r.Header.Clone(), Body: body}
	}))
	t.Cleanup(e.endpoint.Close)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat := eventtypes.Default()
	d, err := webhook.New(store.NewMemory(), webhook.WithCatalog(cat), webhook.WithLogger(log),
		webhook.AllowPrivateNetworks()) // the endpoint is on loopback
	require.NoError(t, err)
	e.d = d
	e.shop = httptest.NewServer(newHandler(d, cat, log))
	t.Cleanup(func() {
		e.shop.Close() // the same order as run: the server, then the dispatcher
		require.NoError(t, d.Close(context.Background()))
	})
	return e
}

// do sends a request to the shop and decodes the JSON answer into a map (nil if none).
func (e *testEnv) do(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	code, raw := e.doRaw(method, path, body)
	var m map[string]any
	if len(raw) > 0 {
		require.NoError(e.t, json.Unmarshal([]byte(raw), &m), raw)
	}
	return code, m
}

func (e *testEnv) doRaw(method, path, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.shop.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, string(raw)
}

// subscribe creates a subscription to the fake endpoint and returns its ID and secret.
func (e *testEnv) subscribe(events string) (id, secret string) {
	e.t.Helper()
	code, sub := e.do("POST", "/admin/webhooks", `{"name":"ERP","url":"`+e.endpoint.URL+`/hooks","events":`+events+`}`)
	require.Equal(e.t, http.StatusCreated, code, sub)
	return sub["id"].(string), sub["secret"].(string)
}

// next waits for the next request at the fake endpoint.
func (e *testEnv) next() hook {
	e.t.Helper()
	select {
	case h := <-e.hooks:
		return h
	case <-time.After(5 * time.Second):
		e.t.Fatal("no webhook arrived")
		return hook{}
	}
}

// none checks that no further request arrives for a moment.
func (e *testEnv) none() {
	e.t.Helper()
	select {
	case h := <-e.hooks:
		e.t.Fatalf("unexpected webhook: %s", h.Body)
	case <-time.After(200 * time.Millisecond):
	}
}

// order creates a customer, a product with 10 in stock and an order of 2 of it.
func (e *testEnv) order() map[string]any {
	e.t.Helper()
	code, c := e.do("POST", "/customers", `{"email":"ann@example.com","name":"Ann"}`)
	require.Equal(e.t, http.StatusCreated, code, c)
	code, p := e.do("POST", "/products", `{"sku":"TEE-M","title":"T-shirt","price_cents":1990,"inventory_quantity":10}`)
	require.Equal(e.t, http.StatusCreated, code, p)
	code, o := e.do("POST", "/orders",
		`{"customer_id":"`+c["id"].(string)+`","line_items":[{"product_id":"`+p["id"].(string)+`","quantity":2}]}`)
	require.Equal(e.t, http.StatusCreated, code, o)
	return o
}

type envelope struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

func TestOrderLeadsToSignedDelivery(t *testing.T) {
	e := newTestEnv(t)
	_, secret := e.subscribe(`["order.created"]`)
	o := e.order()

	h := e.next()
	require.NoError(t, webhook.Verify(secret, h.Header, h.Body), "signed with the subscription's secret")
	var ev envelope
	require.NoError(t, json.Unmarshal(h.Body, &ev))
	assert.Equal(t, eventtypes.OrderCreated, ev.Type)
	assert.Equal(t, o["id"], ev.Data["id"])
	assert.Equal(t, 3980.0, ev.Data["total_cents"])
	assert.Equal(t, o["id"].(string)+"/v1/order.created", h.Header.Get("webhook-id"), "the event ID names the change")
	assert.Equal(t, ev.ID, h.Header.Get("webhook-id"))
	e.none() // customer.created, product.created and product.inventory_updated are not wanted
}

func TestRetriedChangeEmitsOnce(t *testing.T) {
	e := newTestEnv(t)
	_, _ = e.subscribe(`["order.cancelled","product.inventory_updated"]`)
	o := e.order()
	e.next() // the stock taken by the order
	for range 2 {
		code, got := e.do("POST", "/orders/"+o["id"].(string)+"/cancel", "")
		require.Equal(t, http.StatusOK, code, got)
		assert.Equal(t, string(eventtypes.OrderStateCancelled), got["status"])
	}
	types := map[string]int{}
	for range 2 {
		var ev envelope
		require.NoError(t, json.Unmarshal(e.next().Body, &ev))
		types[ev.Type]++
	}
	assert.Equal(t, map[string]int{eventtypes.OrderCancelled: 1, eventtypes.ProductInventoryUpdated: 1}, types)
	e.none()

	code, _ := e.do("POST", "/orders/"+o["id"].(string)+"/fulfil", "")
	assert.Equal(t, http.StatusConflict, code, "a cancelled order cannot be fulfilled")
}

func TestAdminValidationNamesTheField(t *testing.T) {
	e := newTestEnv(t)
	id, _ := e.subscribe(`["*"]`)
	tests := []struct {
		name, method, path, body, field string
	}{
		{"no URL", "POST", "/admin/webhooks", `{"events":["order.created"]}`, "url"},
		{"ftp URL", "POST", "/admin/webhooks", `{"url":"ftp://x.example.com","events":["order.created"]}`, "url"},
		{"no events", "POST", "/admin/webhooks", `{"url":"https://x.example.com"}`, "events"},
		{"unknown event", "POST", "/admin/webhooks", `{"url":"https://x.example.com","events":["order.shipped"]}`, "events"},
		{"forbidden header", "POST", "/admin/webhooks", `{"url":"https://x.example.com","events":["*"],"headers":{"Host":"x"}}`, "headers"},
		{"bad format", "POST", "/admin/webhooks", `{"url":"https://x.example.com","events":["*"],"format":"yaml"}`, "format"},
		{"bad secret", "POST", "/admin/webhooks", `{"url":"https://x.example.com","events":["*"],"secret":"whsec_!!"}`, "secret"},
		{"unknown field", "POST", "/admin/webhooks", `{"url":"https://x.example.com","events":["*"],"colour":"red"}`, "body"},
		{"update to bad URL", "PUT", "/admin/webhooks/" + id, `{"url":"not a url","events":["*"]}`, "url"},
		{"bad status filter", "GET", "/admin/webhooks?status=paused", "", "status"},
		{"bad state filter", "GET", "/admin/webhooks/" + id + "/deliveries?state=lost", "", "state"},
		{"bad limit", "GET", "/admin/webhooks/" + id + "/deliveries?limit=-1", "", "limit"},
		{"test of unknown type", "POST", "/admin/webhooks/" + id + "/test", `{"events":["order.shipped"]}`, "events"},
		{"order without items", "POST", "/orders", `{"customer_id":"cus_1"}`, "line_items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, got := e.do(tt.method, tt.path, tt.body)
			assert.Equal(t, http.StatusBadRequest, code, got)
			assert.Equal(t, tt.field, got["field"], got)
			assert.NotEmpty(t, got["error"])
		})
	}
}

func TestNotFound(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct{ method, path, body string }{
		{"GET", "/admin/webhooks/sub_nope", ""},
		{"PUT", "/admin/webhooks/sub_nope", `{"url":"https://x.example.com","events":["*"]}`},
		{"DELETE", "/admin/webhooks/sub_nope", ""},
		{"POST", "/admin/webhooks/sub_nope/activate", ""},
		{"POST", "/admin/webhooks/sub_nope/deactivate", ""},
		{"POST", "/admin/webhooks/sub_nope/rotate-secret", ""},
		{"POST", "/admin/webhooks/sub_nope/test", ""},
		{"GET", "/admin/webhooks/sub_nope/deliveries", ""},
		{"POST", "/admin/deliveries/dlv_nope/redeliver", ""},
		{"GET", "/orders/ord_nope", ""},
		{"POST", "/orders/ord_nope/fulfil", ""},
		{"POST", "/orders/ord_nope/cancel", ""},
		{"PATCH", "/products/prod_nope/inventory", `{"inventory_quantity":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, got := e.do(tt.method, tt.path, tt.body)
			assert.Equal(t, http.StatusNotFound, code, got)
		})
	}
}

func TestSecretsAndHeadersRedacted(t *testing.T) {
	e := newTestEnv(t)
	code, created := e.do("POST", "/admin/webhooks",
		`{"url":"`+e.endpoint.URL+`","events":["customer.*"],"headers":{"Authorization":"Bearer erp-token-123"}}`)
	require.Equal(t, http.StatusCreated, code, created)
	id, secret := created["id"].(string), created["secret"].(string)
	assert.True(t, strings.HasPrefix(secret, webhook.SecretPrefix), "a secret is generated and shown once")
	assert.Equal(t, map[string]any{"Authorization": "[redacted]"}, created["headers"])

	answers := map[string]string{}
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/admin/webhooks", ""},
		{"GET", "/admin/webhooks?q=127.0.0.1", ""},
		{"GET", "/admin/webhooks/" + id, ""},
		{"PUT", "/admin/webhooks/" + id, `{"name":"CRM","url":"` + e.endpoint.URL + `","events":["customer.*"]}`},
		{"POST", "/admin/webhooks/" + id + "/deactivate", `{"reason":"maintenance"}`},
		{"POST", "/admin/webhooks/" + id + "/activate", ""},
	} {
		code, raw := e.doRaw(req.method, req.path, req.body)
		require.Equal(t, http.StatusOK, code, raw)
		answers[req.method+" "+req.path] = raw
	}
	for name, raw := range answers {
		assert.NotContains(t, raw, secret, name)
		assert.NotContains(t, raw, "erp-token-123", name)
		assert.Contains(t, raw, `"secret_set": true`, name)
		assert.Contains(t, raw, `"Authorization": "[redacted]"`, name)
	}

	// The PUT without secret and headers kept both: deliveries are still signed with the
	// secret shown at creation and carry the header.
	code, _ = e.do("POST", "/customers", `{"email":"bob@example.com"}`)
	require.Equal(t, http.StatusCreated, code)
	h := e.next()
	assert.NoError(t, webhook.Verify(secret, h.Header, h.Body))
	assert.Equal(t, "Bearer erp-token-123", h.Header.Get("Authorization"))

	// The delivery log holds neither.
	_, raw := e.doRaw("GET", "/admin/webhooks/"+id+"/deliveries", "")
	assert.NotContains(t, raw, secret)
	assert.NotContains(t, raw, "erp-token-123")
}

func TestRotateSecret(t *testing.T) {
	e := newTestEnv(t)
	id, old := e.subscribe(`["customer.created"]`)
	code, rotated := e.do("POST", "/admin/webhooks/"+id+"/rotate-secret", "")
	require.Equal(t, http.StatusOK, code, rotated)
	fresh := rotated["secret"].(string)
	assert.NotEqual(t, old, fresh)
	assert.NotEmpty(t, rotated["previous_secret_expires_at"])

	code, _ = e.do("POST", "/customers", `{"email":"ann@example.com"}`)
	require.Equal(t, http.StatusCreated, code)
	h := e.next()
	assert.NoError(t, webhook.Verify(fresh, h.Header, h.Body), "signed with the new secret")
	assert.NoError(t, webhook.Verify(old, h.Header, h.Body), "and with the old one, during the overlap")
}

func TestListFilters(t *testing.T) {
	e := newTestEnv(t)
	orders, _ := e.subscribe(`["order.*"]`)
	customers, _ := e.subscribe(`["customer.created"]`)
	code, _ := e.do("POST", "/admin/webhooks/"+customers+"/deactivate", "")
	require.Equal(t, http.StatusOK, code)

	ids := func(query string) []string {
		code, got := e.do("GET", "/admin/webhooks"+query, "")
		require.Equal(t, http.StatusOK, code, got)
		var out []string
		for _, s := range got["webhooks"].([]any) {
			out = append(out, s.(map[string]any)["id"].(string))
		}
		return out
	}
	assert.Equal(t, []string{orders, customers}, ids(""))
	assert.Equal(t, []string{orders}, ids("?resource=order"))
	assert.Equal(t, []string{customers}, ids("?event=created&resource=customer"))
	assert.Equal(t, []string{orders}, ids("?status=active"))
	assert.Equal(t, []string{orders, customers}, ids("?url=/hooks&q=erp"))
	assert.Empty(t, ids("?q=nothing-like-this"))
}

func TestTestDeliveriesRedeliverStats(t *testing.T) {
	e := newTestEnv(t)
	id, _ := e.subscribe(`["order.created","order.cancelled"]`)

	code, report := e.do("POST", "/admin/webhooks/"+id+"/test", "")
	require.Equal(t, http.StatusOK, code, report)
	assert.Equal(t, 2.0, report["testsRun"])
	assert.Equal(t, 2.0, report["testsSucceeded"])
	e.next()
	e.next()

	e.order()
	e.next()
	// The attempt is recorded just after the endpoint answers: wait until it is.
	require.NoError(t, e.d.Idle(context.Background()))
	code, page := e.do("GET", "/admin/webhooks/"+id+"/deliveries?state=succeeded", "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, page["deliveries"], 3)
	newest := page["deliveries"].([]any)[0].(map[string]any)
	assert.Equal(t, eventtypes.OrderCreated, newest["event_type"])

	code, _ = e.do("POST", "/admin/deliveries/"+newest["id"].(string)+"/redeliver", "")
	assert.Equal(t, http.StatusAccepted, code)
	h := e.next()
	assert.Equal(t, newest["event_id"], h.Header.Get("webhook-id"), "a redelivery is the same event")

	require.NoError(t, e.d.Idle(context.Background()))
	_, st := e.do("GET", "/admin/stats", "")
	overall := st["overall"].(map[string]any)
	assert.Equal(t, 2.0, overall["attempts"], "tests are not counted")
	assert.Equal(t, 2.0, overall["succeeded"])

	code, _ = e.do("DELETE", "/admin/webhooks/"+id, "")
	assert.Equal(t, http.StatusNoContent, code)
	code, page = e.do("GET", "/admin/webhooks/"+id+"/deliveries", "")
	assert.Equal(t, http.StatusOK, code, "the log outlives the subscription")
	assert.NotEmpty(t, page["deliveries"])
}

func TestRun(t *testing.T) {
	for name, args := range map[string][]string{
		"memory": {"-addr", "127.0.0.1:0"},
		"bbolt":  {"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "webhooks.db")},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, io.Discard) }()
			time.Sleep(50 * time.Millisecond) // let it start; stopping earlier works too
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("run did not stop")
			}
		})
	}
}
