package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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

// The API keys of the test platform's two merchants.
const (
	acmeKey   = "key_acme_0123456789"
	globexKey = "key_globex_0123456789"
)

// hook is a request a fake receiver got.
type hook struct {
	Header http.Header
	Body   []byte
}

// endpoint is a fake merchant endpoint that records what it receives and answers 200.
type endpoint struct {
	srv   *httptest.Server
	hooks chan hook
}

func newEndpoint(t *testing.T) *endpoint {
	ep := &endpoint{hooks: make(chan hook, 100)}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ep.hooks <- hook{Header: r.Header.Clone(), Body: body}
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

// next waits for the next request at the endpoint.
func (ep *endpoint) next(t *testing.T) hook {
	t.Helper()
	select {
	case h := <-ep.hooks:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook arrived")
		return hook{}
	}
}

// none checks that no further request arrives for a moment.
func (ep *endpoint) none(t *testing.T) {
	t.Helper()
	select {
	case h := <-ep.hooks:
		t.Fatalf("unexpected webhook: %s", h.Body)
	case <-time.After(200 * time.Millisecond):
	}
}

// testEnv is the platform (merchants acme and globex) on a memory store, served by
// httptest, with a fake endpoint for each merchant.
type testEnv struct {
	t        *testing.T
	platform *httptest.Server
	d        *webhook.Dispatcher
	acme     *endpoint
	globex   *endpoint
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{t: t, acme: newEndpoint(t), globex: newEndpoint(t)}
	ms, err := parseMerchants("acme,globex", "acme="+acmeKey+",globex="+globexKey)
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := webhook.New(store.NewMemory(), webhook.WithLogger(log),
		webhook.AllowPrivateNetworks()) // the endpoints are on loopback
	require.NoError(t, err)
	e.d = d
	e.platform = httptest.NewServer(newHandler(&platform{d: d, log: log, merchants: ms}))
	t.Cleanup(func() {
		e.platform.Close() // the same order as run: the server, then the dispatcher
		require.NoError(t, d.Close(context.Background()))
	})
	return e
}

// shop sends a request to a shop's endpoint and decodes the JSON answer (nil if none).
func (e *testEnv) shop(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	code, raw := e.send(method, path, body, "")
	var m map[string]any
	if len(raw) > 0 {
		require.NoError(e.t, json.Unmarshal(raw, &m), string(raw))
	}
	return code, m
}

// apiAnswer is an answer of the webhook API.
type apiAnswer struct {
	Code  int
	Raw   string
	Data  json.RawMessage
	Error map[string]any
}

func (a apiAnswer) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(a.Data, &m), a.Raw)
	return m
}

func (a apiAnswer) list(t *testing.T) []map[string]any {
	t.Helper()
	var l []map[string]any
	require.NoError(t, json.Unmarshal(a.Data, &l), a.Raw)
	return l
}

// api sends a request to the webhook API with an API key; every answer but a 204 is
// the envelope.
func (e *testEnv) api(key, method, path, body string) apiAnswer {
	e.t.Helper()
	code, raw := e.send(method, "/api/v1"+path, body, key)
	a := apiAnswer{Code: code, Raw: string(raw)}
	if code == http.StatusNoContent {
		return a
	}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error map[string]any  `json:"error"`
	}
	require.NoError(e.t, json.Unmarshal(raw, &env), string(raw))
	a.Data, a.Error = env.Data, env.Error
	return a
}

func (e *testEnv) send(method, path, body, key string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.platform.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, raw
}

// subscribe creates a webhook of a merchant to its endpoint through the API and returns
// its ID and secret.
func (e *testEnv) subscribe(key, merchant string, ep *endpoint, events string) (id, secret string) {
	e.t.Helper()
	a := e.api(key, "POST", "/workspaces/"+merchant+"/webhooks", `{"name":"ERP","url":"`+ep.srv.URL+`/hooks","events":`+events+`}`)
	require.Equal(e.t, http.StatusCreated, a.Code, a.Raw)
	m := a.object(e.t)
	return m["id"].(string), m["secret"].(string)
}

// order creates, in a merchant's shop, a customer, a product with 10 in stock and an
// order of 2 of it.
func (e *testEnv) order(merchant string) map[string]any {
	e.t.Helper()
	base := "/shops/" + merchant
	code, c := e.shop("POST", base+"/customers", `{"email":"ann@example.com","name":"Ann"}`)
	require.Equal(e.t, http.StatusCreated, code, c)
	code, p := e.shop("POST", base+"/products", `{"sku":"TEE-M","title":"T-shirt","price_cents":1990,"inventory_quantity":10}`)
	require.Equal(e.t, http.StatusCreated, code, p)
	code, o := e.shop("POST", base+"/orders",
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
	_, secret := e.subscribe(acmeKey, "acme", e.acme, `["order.created"]`)
	o := e.order("acme")

	h := e.acme.next(t)
	require.NoError(t, webhook.Verify(secret, h.Header, h.Body), "signed with the webhook's secret")
	var ev envelope
	require.NoError(t, json.Unmarshal(h.Body, &ev))
	assert.Equal(t, eventtypes.OrderCreated, ev.Type)
	assert.Equal(t, o["id"], ev.Data["id"])
	assert.Equal(t, "acme", ev.Data["shop"])
	assert.Equal(t, 3980.0, ev.Data["total_cents"])
	assert.Equal(t, o["id"].(string)+"/v1/order.created", h.Header.Get("webhook-id"), "the event ID names the change")
	e.acme.none(t) // customer.created, product.created and product.inventory_updated are not wanted
}

func TestMerchantsAreWorkspaces(t *testing.T) {
	e := newTestEnv(t)
	acmeHook, _ := e.subscribe(acmeKey, "acme", e.acme, `["order.created"]`)
	globexHook, _ := e.subscribe(globexKey, "globex", e.globex, `["order.created"]`)

	// An order in acme's shop reaches acme's webhook only.
	o := e.order("acme")
	e.acme.next(t)
	e.globex.none(t)
	e.order("globex")
	e.globex.next(t)
	e.acme.none(t)

	// Each merchant sees its own webhooks only.
	list := e.api(acmeKey, "GET", "/workspaces/acme/webhooks", "").list(t)
	require.Len(t, list, 1)
	assert.Equal(t, acmeHook, list[0]["id"])
	assert.NotContains(t, e.api(acmeKey, "GET", "/workspaces/acme/webhooks", "").Raw, globexHook)

	// Another merchant's workspace is refused with its key, and another merchant's
	// webhook in one's own workspace is not found.
	a := e.api(globexKey, "GET", "/workspaces/acme/webhooks", "")
	assert.Equal(t, http.StatusForbidden, a.Code, a.Raw)
	a = e.api(globexKey, "GET", "/workspaces/globex/webhooks/"+acmeHook, "")
	assert.Equal(t, http.StatusNotFound, a.Code, a.Raw)
	a = e.api(globexKey, "DELETE", "/workspaces/globex/webhooks/"+acmeHook, "")
	assert.Equal(t, http.StatusNotFound, a.Code, a.Raw)
	assert.Equal(t, http.StatusOK, e.api(acmeKey, "GET", "/workspaces/acme/webhooks/"+acmeHook, "").Code, "still there")

	// The shops are apart too.
	code, _ := e.shop("GET", "/shops/globex/orders/"+o["id"].(string), "")
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = e.shop("POST", "/shops/globex/orders/"+o["id"].(string)+"/cancel", "")
	assert.Equal(t, http.StatusNotFound, code)
	code, got := e.shop("POST", "/shops/globex/orders", `{"customer_id":"`+o["customer_id"].(string)+`","line_items":[{"product_id":"x","quantity":1}]}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "customer_id", got["field"], "acme's customer is not globex's")
	code, _ = e.shop("GET", "/shops/initech/orders/"+o["id"].(string), "")
	assert.Equal(t, http.StatusNotFound, code, "not a merchant of the platform")
}

func TestAPIKeys(t *testing.T) {
	e := newTestEnv(t)
	for _, key := range []string{"", "wrong-key-0123456789", acmeKey + "x"} {
		a := e.api(key, "GET", "/workspaces/acme/webhooks", "")
		assert.Equal(t, http.StatusUnauthorized, a.Code, a.Raw)
		assert.Equal(t, "unauthorized", a.Error["code"])
	}
	for _, key := range []string{acmeKey, globexKey} {
		a := e.api(key, "GET", "/event-types", "")
		require.Equal(t, http.StatusOK, a.Code, "any merchant reads the catalog")
		assert.NotEmpty(t, a.list(t))
	}
	code, doc := e.send("GET", "/api/v1/openapi.json", "", acmeKey)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(doc), `"openapi": "3.1.0"`)
}

func TestDeliveryLogThroughAPI(t *testing.T) {
	e := newTestEnv(t)
	id, _ := e.subscribe(acmeKey, "acme", e.acme, `["order.*"]`)
	a := e.api(acmeKey, "POST", "/workspaces/acme/webhooks/"+id+"/test", `{"event":"order.fulfilled"}`)
	require.Equal(t, http.StatusOK, a.Code, a.Raw)
	assert.Equal(t, 1.0, a.object(t)["testsSucceeded"])
	e.acme.next(t)

	o := e.order("acme")
	h := e.acme.next(t)
	// The attempt is recorded just after the endpoint answers: wait until it is.
	require.NoError(t, e.d.Idle(context.Background()))
	var dlv map[string]any
	for _, d := range e.api(acmeKey, "GET", "/workspaces/acme/webhooks/"+id+"/deliveries?state=succeeded", "").list(t) {
		if !d["test"].(bool) {
			dlv = d
		}
	}
	require.NotNil(t, dlv, "the order's delivery succeeded")
	assert.Equal(t, h.Header.Get("webhook-id"), dlv["event_id"])
	assert.Equal(t, o["id"].(string)+"/v1/order.created", dlv["event_id"])

	a = e.api(acmeKey, "POST", "/workspaces/acme/deliveries/"+dlv["id"].(string)+"/redeliver", "")
	require.Equal(t, http.StatusAccepted, a.Code, a.Raw)
	assert.Equal(t, dlv["event_id"], e.acme.next(t).Header.Get("webhook-id"), "a redelivery is the same event")
	a = e.api(globexKey, "GET", "/workspaces/globex/deliveries/"+dlv["id"].(string), "")
	assert.Equal(t, http.StatusNotFound, a.Code)

	require.NoError(t, e.d.Idle(context.Background()))
	st := e.api(acmeKey, "GET", "/workspaces/acme/stats", "").object(t)
	assert.Equal(t, 2.0, st["overall"].(map[string]any)["attempts"], "tests are not counted")
	a = e.api(acmeKey, "DELETE", "/workspaces/acme/webhooks/"+id, "")
	assert.Equal(t, http.StatusNoContent, a.Code)
	assert.Empty(t, a.Raw)
}

func TestRetriedChangeEmitsOnce(t *testing.T) {
	e := newTestEnv(t)
	e.subscribe(acmeKey, "acme", e.acme, `["order.cancelled","product.inventory_updated"]`)
	o := e.order("acme")
	e.acme.next(t) // the stock taken by the order
	for range 2 {
		code, got := e.shop("POST", "/shops/acme/orders/"+o["id"].(string)+"/cancel", "")
		require.Equal(t, http.StatusOK, code, got)
		assert.Equal(t, string(eventtypes.OrderStateCancelled), got["status"])
	}
	types := map[string]int{}
	for range 2 {
		var ev envelope
		require.NoError(t, json.Unmarshal(e.acme.next(t).Body, &ev))
		types[ev.Type]++
	}
	assert.Equal(t, map[string]int{eventtypes.OrderCancelled: 1, eventtypes.ProductInventoryUpdated: 1}, types)
	e.acme.none(t)

	code, _ := e.shop("POST", "/shops/acme/orders/"+o["id"].(string)+"/fulfil", "")
	assert.Equal(t, http.StatusConflict, code, "a cancelled order cannot be fulfilled")
}

func TestShopValidationAndNotFound(t *testing.T) {
	e := newTestEnv(t)
	for _, tt := range []struct{ method, path, body, field string }{
		{"POST", "/shops/acme/orders", `{"customer_id":"cus_1"}`, "line_items"},
		{"POST", "/shops/acme/customers", `{"email":"nope"}`, "email"},
		{"POST", "/shops/acme/products", `{"title":""}`, "title"},
		{"POST", "/shops/acme/products", `{"title":"x","colour":"red"}`, "body"},
	} {
		code, got := e.shop(tt.method, tt.path, tt.body)
		assert.Equal(t, http.StatusBadRequest, code, got)
		assert.Equal(t, tt.field, got["field"], tt.path)
	}
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/shops/acme/orders/ord_nope", ""},
		{"POST", "/shops/acme/orders/ord_nope/fulfil", ""},
		{"POST", "/shops/acme/orders/ord_nope/cancel", ""},
		{"GET", "/shops/acme/customers/cus_nope", ""},
		{"GET", "/shops/acme/products/prod_nope", ""},
		{"PATCH", "/shops/acme/products/prod_nope/inventory", `{"inventory_quantity":3}`},
		{"POST", "/shops/initech/customers", `{"email":"a@example.com"}`},
	} {
		code, got := e.shop(tt.method, tt.path, tt.body)
		assert.Equal(t, http.StatusNotFound, code, "%s %s: %v", tt.method, tt.path, got)
	}
}

func TestParseMerchants(t *testing.T) {
	ms, err := parseMerchants(" globex, acme ,acme", "acme="+acmeKey)
	require.NoError(t, err)
	assert.Equal(t, []string{"acme", "globex"}, ms.names)
	assert.Equal(t, map[string]string{"acme": acmeKey}, ms.keys)

	for _, tt := range []struct{ list, keys, want string }{
		{"", "", "no merchant"},
		{"ac me", "", "letters, digits"},
		{"acme", "acme", "merchant=key pairs"},
		{"acme", "initech=" + acmeKey, `"initech" is not a merchant`},
		{"acme", "acme=short-key", "shorter than 16"},
	} {
		_, err := parseMerchants(tt.list, tt.keys)
		require.Error(t, err, tt)
		assert.Contains(t, err.Error(), tt.want)
		assert.NotContains(t, err.Error(), "short-key", "a key is never quoted")
	}
}

// lineWatcher is a log writer that tells when a line containing want was written.
type lineWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte(w.want)) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func TestRun(t *testing.T) {
	env := func(k string) string {
		if k == "SHOP_API_KEYS" {
			return "acme=" + acmeKey
		}
		return ""
	}
	for name, args := range map[string][]string{
		"memory": {"-addr", "127.0.0.1:0"},
		"bbolt":  {"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "webhooks.db")},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			logs := &lineWatcher{want: "shop: listening", seen: make(chan struct{})}
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, env, logs) }()
			select {
			case <-logs.seen:
			case err := <-done:
				t.Fatalf("run ended before serving: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("run did not start")
			}
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("run did not stop")
			}
		})
	}
	err := run(context.Background(), []string{"-merchants", "acme"}, func(string) string { return "acme=short" }, io.Discard)
	assert.ErrorContains(t, err, "shorter than 16")
}
