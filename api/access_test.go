package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/api"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// allRoutes is one request to every route of the API, for a webhook and a delivery of
// wsA.
func allRoutes(webhookID, deliveryID string) []struct{ method, path, body string } {
	w := "/workspaces/" + wsA
	h := w + "/webhooks/" + webhookID
	return []struct{ method, path, body string }{
		{"GET", "/openapi.json", ""},
		{"GET", "/event-types", ""},
		{"GET", w + "/webhooks", ""},
		{"POST", w + "/webhooks", `{"url":"https://x.example.com","events":["*"]}`},
		{"GET", h, ""},
		{"PATCH", h, `{"name":"x"}`},
		{"DELETE", h, ""},
		{"POST", h + "/test", ""},
		{"POST", h + "/activate", ""},
		{"POST", h + "/deactivate", ""},
		{"POST", h + "/rotate-secret", ""},
		{"GET", h + "/deliveries", ""},
		{"POST", h + "/recover", `{"since":"2025-01-01T00:00:00Z"}`},
		{"GET", h + "/stats", ""},
		{"GET", w + "/deliveries", ""},
		{"GET", w + "/deliveries/" + deliveryID, ""},
		{"POST", w + "/deliveries/" + deliveryID + "/redeliver", ""},
		{"GET", w + "/stats", ""},
		{"GET", "/no/such/route", ""},
	}
}

func TestNoAuthOptionRefusesEverything(t *testing.T) {
	d, err := webhook.New(store.NewMemory())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close(context.Background())) })
	sub, err := d.Subscribe(context.Background(), webhook.Subscription{Workspace: wsA, URL: "https://x.example.com", Events: []string{"*"}})
	require.NoError(t, err)
	h := api.New(d) // no WithAuth
	for _, r := range allRoutes(sub.ID, "dlv_x") {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, strings.NewReader(r.body)))
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s", r.method, r.path)
		assert.JSONEq(t, `{"data":null,"error":{"code":"unauthorized","message":"this API has no authentication configured: every request is refused","field":null}}`, rec.Body.String())
	}
	_, err = d.Subscription(context.Background(), sub.ID)
	assert.NoError(t, err, "the DELETE did nothing")
}

func TestAuthFunctionDecides(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["*"]`, ``)
	ev := e.emit(wsA, eventtypes.OrderCreated)
	dlv := e.deliveryOf(wsA, id, ev.ID, "succeeded")["id"].(string)
	e.rc.next(t)

	for _, r := range allRoutes(id, dlv) {
		if r.path == "/no/such/route" {
			continue // an unknown route touches nothing: 404 whoever asks
		}
		// No key: 401, and the auth function's own words are not shown.
		a := e.doKey(r.method, r.path, r.body, "")
		e.refused(a, http.StatusUnauthorized, "unauthorized", "")
		assert.NotContains(t, a.Raw, "secret detail")
		// ErrForbidden: 403.
		e.refused(e.doKey(r.method, r.path, r.body, "forbidden"), http.StatusForbidden, "forbidden", "")
		if strings.HasPrefix(r.path, "/workspaces/") {
			// The key of another workspace: 403 by this auth function.
			e.refused(e.doKey(r.method, r.path, r.body, "key-"+wsB), http.StatusForbidden, "forbidden", "")
		}
	}
	sub, err := e.d.Subscription(context.Background(), id)
	require.NoError(t, err, "no refused request changed anything")
	assert.Equal(t, "ERP", sub.Name, "the PATCH did nothing")
	subs, err := e.d.Subscriptions(context.Background(), webhook.Filter{})
	require.NoError(t, err)
	assert.Len(t, subs, 1)

	// The auth function gets the path's workspace, and "" for the others.
	var seen []string
	h := api.New(e.d, api.WithAuth(func(r *http.Request, ws string) error {
		seen = append(seen, ws)
		return nil
	}))
	for _, p := range []string{"/event-types", "/workspaces/" + wsB + "/webhooks", "/openapi.json"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		assert.Equal(t, http.StatusOK, rec.Code, p)
	}
	assert.Equal(t, []string{"", wsB, ""}, seen)
}

// TestOtherWorkspaceIsNotFound checks every route that takes an ID: a webhook or a
// delivery of workspace A, asked for in workspace B, answers 404 exactly as a missing one,
// and nothing of A changes.
func TestOtherWorkspaceIsNotFound(t *testing.T) {
	e := newEnv(t)
	id, secret := e.create(wsA, `["order.*"]`, `,"name":"A's"`)
	ev := e.emit(wsA, eventtypes.OrderCreated)
	e.rc.next(t)
	dlv := e.deliveryOf(wsA, id, ev.ID, "succeeded")["id"].(string)

	const missingHook, missingDlv = "sub_missing", "dlv_missing"
	type route struct{ method, suffix, body string }
	hookRoutes := []route{
		{"GET", "", ""}, {"PATCH", "", `{"name":"B's"}`}, {"DELETE", "", ""},
		{"POST", "/test", ""}, {"POST", "/activate", ""}, {"POST", "/deactivate", ""},
		{"POST", "/rotate-secret", ""}, {"GET", "/deliveries", ""},
		{"POST", "/recover", `{"since":"2020-01-01T00:00:00Z"}`}, {"GET", "/stats", ""},
	}
	dlvRoutes := []route{{"GET", "", ""}, {"POST", "/redeliver", ""}}
	check := func(kind, foreignID, missingID string, routes []route) {
		for _, r := range routes {
			base := "/workspaces/" + wsB + "/" + kind + "/"
			foreign := e.do(r.method, base+foreignID+r.suffix, r.body)
			missing := e.do(r.method, base+missingID+r.suffix, r.body)
			e.refused(foreign, http.StatusNotFound, "not_found", "")
			e.refused(missing, http.StatusNotFound, "not_found", "")
			assert.Equal(t, strings.ReplaceAll(missing.Raw, missingID, foreignID), foreign.Raw,
				"%s %s: another workspace's answers as a missing one", r.method, r.suffix)
			assert.NotContains(t, foreign.Raw, secret)
		}
	}
	check("webhooks", id, missingHook, hookRoutes)
	check("deliveries", dlv, missingDlv, dlvRoutes)

	// A's webhook is as it was, its secret unrotated, and nothing was sent again.
	sub, err := e.d.Subscription(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "A's", sub.Name)
	assert.Equal(t, secret, sub.Secret)
	assert.Equal(t, webhook.StatusActive, sub.Status)
	select {
	case h := <-e.rc.got:
		t.Fatalf("a request of workspace B sent something: %s", h.Body)
	default:
	}

	// B's lists hold nothing of A.
	for _, p := range []string{"/webhooks", "/deliveries", "/deliveries?event_id=" + ev.ID, "/deliveries?webhook_id=" + id} {
		a := e.ok(e.do("GET", "/workspaces/"+wsB+p, ""), http.StatusOK)
		assert.Equal(t, "[]", string(a.Data), p)
	}
	a := e.ok(e.do("GET", "/workspaces/"+wsB+"/stats", ""), http.StatusOK)
	assert.NotContains(t, a.Raw, id)
	// A delivery cursor of A is refused in B like one that does not exist.
	cursor := cursorOf(dlv)
	e.refused(e.do("GET", "/workspaces/"+wsB+"/deliveries?cursor="+cursor, ""), http.StatusBadRequest, "invalid", "cursor")
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["*"]`, ``)
	for _, p := range []string{"/", "/nope", "/workspaces", "/workspaces/" + wsA, "/workspaces/" + wsA + "/webhooks/" + id + "/nope", "/event-types/x"} {
		a := e.do("GET", p, "")
		e.refused(a, http.StatusNotFound, "not_found", "")
		assert.Contains(t, a.Error.Message, "no route for GET")
	}
	a := e.do("PUT", "/workspaces/"+wsA+"/webhooks/"+id, `{"name":"x"}`)
	e.refused(a, http.StatusMethodNotAllowed, "method_not_allowed", "")
	assert.Equal(t, "DELETE, GET, HEAD, PATCH", a.Header.Get("Allow"))
	a = e.do("DELETE", "/event-types", "")
	e.refused(a, http.StatusMethodNotAllowed, "method_not_allowed", "")
	assert.Equal(t, "GET, HEAD", a.Header.Get("Allow"))

	// A path the mux would redirect to its clean form answers 404: the redirect would
	// lose the prefix the application mounted the API under.
	for _, p := range []string{"/workspaces/" + wsA + "//webhooks", "/workspaces/" + wsA + "/../" + wsA + "/webhooks"} {
		req, err := http.NewRequest("GET", e.srv.URL+p, nil)
		require.NoError(t, err)
		req.URL.Opaque = p // keep the path as written
		req.Header.Set("X-Test-Key", "key-"+wsA)
		resp, err := e.http.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", p, body)
		assert.Empty(t, resp.Header.Get("Location"))
		assert.Contains(t, string(body), `"not_found"`)
	}
}

func TestCrossOriginWritesRefused(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["*"]`, ``)
	path := "/workspaces/" + wsA + "/webhooks/" + id
	h := http.Header{"X-Test-Key": {"key-" + wsA}, "Sec-Fetch-Site": {"cross-site"}}
	e.refused(e.doReq("PATCH", path, `{"name":"csrf"}`, h), http.StatusForbidden, "cross_origin", "")
	e.refused(e.doReq("DELETE", path, "", h), http.StatusForbidden, "cross_origin", "")
	e.refused(e.doReq("POST", "/workspaces/"+wsA+"/webhooks", `{"url":"https://x.example.com","events":["*"]}`, h), http.StatusForbidden, "cross_origin", "")
	origin := http.Header{"X-Test-Key": {"key-" + wsA}, "Origin": {"https://evil.example.com"}}
	e.refused(e.doReq("PATCH", path, `{"name":"csrf"}`, origin), http.StatusForbidden, "cross_origin", "")

	// Reading is safe; a same-origin write and a non-browser one pass.
	e.ok(e.doReq("GET", path, "", h), http.StatusOK)
	same := http.Header{"X-Test-Key": {"key-" + wsA}, "Sec-Fetch-Site": {"same-origin"}}
	assert.Equal(t, "same", e.ok(e.doReq("PATCH", path, `{"name":"same"}`, same), http.StatusOK).object(t)["name"])

	// The application can trust its own other origin.
	cop := http.NewCrossOriginProtection()
	require.NoError(t, cop.AddTrustedOrigin("https://admin.example.com"))
	srv := httptest.NewServer(api.New(e.d, api.WithAuth(testAuth), api.WithCrossOriginProtection(cop)))
	t.Cleanup(srv.Close)
	req, err := http.NewRequest("PATCH", srv.URL+path, strings.NewReader(`{"name":"trusted"}`))
	require.NoError(t, err)
	req.Header.Set("X-Test-Key", "key-"+wsA)
	req.Header.Set("Origin", "https://admin.example.com")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestMountedUnderAPrefix(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", api.New(e.d, api.WithAuth(testAuth))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	do := func(method, path, body string) (*http.Response, map[string]json.RawMessage) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Test-Key", "key-"+wsA)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var env map[string]json.RawMessage
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
		return resp, env
	}
	resp, _ := do("POST", "/api/v1/workspaces/"+wsA+"/webhooks", `{"url":"https://x.example.com","events":["*"]}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	do("POST", "/api/v1/workspaces/"+wsA+"/webhooks", `{"url":"https://y.example.com","events":["*"]}`)

	// The Location and the next page's Link resolve under the prefix.
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(loc.Path, "/api/v1/workspaces/"+wsA+"/webhooks/sub_"), loc.Path)
	got, env := do("GET", loc.RequestURI(), "")
	assert.Equal(t, http.StatusOK, got.StatusCode, string(env["error"]))

	page, _ := do("GET", "/api/v1/workspaces/"+wsA+"/webhooks?limit=1", "")
	link := page.Header.Get("Link")
	next, err := page.Request.URL.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
	require.NoError(t, err)
	got, env = do("GET", next.RequestURI(), "")
	require.Equal(t, http.StatusOK, got.StatusCode)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(env["data"], &list))
	require.Len(t, list, 1)
	assert.Equal(t, "https://y.example.com", list[0]["url"])

	resp, env = do("GET", "/api/v1/nope", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, string(env["error"]), "not_found")
}

func TestOpenAPIDocumentServed(t *testing.T) {
	e := newEnv(t)
	a := e.ok(e.do("GET", "/openapi.json", ""), http.StatusOK)
	assert.Equal(t, string(api.OpenAPI()), a.Raw)
	oa, err := openAPI()
	require.NoError(t, err, "the document loads and is valid OpenAPI")
	assert.Equal(t, "3.1.0", oa.doc.OpenAPI)

	// Every operation of the document is a route of the handler, and every route of the
	// handler is in the document (allRoutes names them all).
	routes := map[string]bool{}
	for _, r := range allRoutes("{id}", "{id}") {
		if r.path != "/no/such/route" {
			routes[r.method+" "+strings.ReplaceAll(r.path, "/workspaces/"+wsA, "/workspaces/{workspace}")] = true
		}
	}
	documented := map[string]bool{}
	for path, item := range oa.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	assert.Equal(t, routes, documented)

	h := api.New(e.d, api.WithAuth(func(*http.Request, string) error { return nil }))
	for op := range documented {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{workspace}", wsA, "{id}", "x_1").Replace(path)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		assert.NotContains(t, rec.Body.String(), `"no route for`, op)
		assert.NotEqual(t, http.StatusMethodNotAllowed, rec.Code, op)
	}
}

func TestHeadAndCaching(t *testing.T) {
	e := newEnv(t)
	a := e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks", ""), http.StatusOK)
	assert.Equal(t, "no-store", a.Header.Get("Cache-Control"), "answers may hold a secret")
	assert.Equal(t, "nosniff", a.Header.Get("X-Content-Type-Options"))
	req, err := http.NewRequest("HEAD", e.srv.URL+"/event-types", nil)
	require.NoError(t, err)
	req.Header.Set("X-Test-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// cursorOf is the cursor the API gives for a delivery ID.
func cursorOf(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }
