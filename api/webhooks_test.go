package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

func TestEventTypes(t *testing.T) {
	e := newEnv(t)
	a := e.ok(e.do("GET", "/event-types", ""), http.StatusOK)
	var types []struct {
		Name, Resource, Action, Description string
		Sample                              map[string]any
	}
	a.into(t, &types)
	require.Len(t, types, len(eventtypes.Default().All()))
	names := map[string]bool{}
	for _, ty := range types {
		names[ty.Name] = true
		assert.Equal(t, ty.Resource+"."+ty.Action, ty.Name)
		assert.NotEmpty(t, ty.Description, ty.Name)
		assert.NotEmpty(t, ty.Sample, ty.Name)
	}
	assert.True(t, names[eventtypes.OrderCreated])
	assert.True(t, names[eventtypes.OrderStatus])
}

func TestCreateWebhookSeedBody(t *testing.T) {
	e := newEnv(t)
	// The request body of the established "Create a webhook" call, as merchant tools send it.
	a := e.ok(e.do("POST", "/workspaces/"+wsA+"/webhooks", `{
		"events": ["order.status"],
		"name": "My alert for order statuses",
		"url": "https://my.sample.endpoint.com/",
		"secret": "QWZTFnMEXhqZKNmu",
		"active": true
	}`), http.StatusCreated)
	m := a.object(t)
	assert.Equal(t, "QWZTFnMEXhqZKNmu", m["secret"], "the secret given is shown back, once")
	assert.Equal(t, wsA, m["workspace"])
	assert.Equal(t, "My alert for order statuses", m["name"])
	assert.Equal(t, "https://my.sample.endpoint.com/", m["url"])
	assert.Equal(t, []any{"order.status"}, m["events"])
	assert.Equal(t, true, m["active"])
	assert.Equal(t, "active", m["status"])
	assert.Equal(t, "json", m["format"])
	assert.Equal(t, "discard", m["while_inactive"])
	assert.Equal(t, []any{}, m["header_names"])
	assert.Equal(t, map[string]any{}, m["metadata"])
	assert.Nil(t, m["previous_secret_expires_at"])
	id := m["id"].(string)
	assert.Equal(t, "webhooks/"+id, a.Header.Get("Location"), "relative to the request's URL")
	created, err := time.Parse(time.RFC3339, m["created_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), created, time.Minute)

	sub, err := e.d.Subscription(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "QWZTFnMEXhqZKNmu", sub.Secret)
	assert.Equal(t, wsA, sub.Workspace)
}

func TestCreateWebhookEveryField(t *testing.T) {
	e := newEnv(t)
	a := e.ok(e.do("POST", "/workspaces/"+wsA+"/webhooks", `{
		"events": ["order.*", "customer.created"],
		"name": "ERP",
		"url": "https://erp.example.com/in?token=t",
		"active": false,
		"format": "xml",
		"headers": {"Authorization": "Bearer erp-token-123", "X-Api-Key": "k-456"},
		"while_inactive": "hold",
		"metadata": {"integration": "erp-7", "tier": "gold"},
		"max_in_flight": 2,
		"rate_limit": 2.5,
		"timeout_ms": 1500
	}`), http.StatusCreated)
	m := a.object(t)
	secret := m["secret"].(string)
	assert.True(t, strings.HasPrefix(secret, webhook.SecretPrefix), "no secret given: one is generated")
	assert.Equal(t, false, m["active"])
	assert.Equal(t, "inactive", m["status"])
	assert.Equal(t, "xml", m["format"])
	assert.Equal(t, []any{"Authorization", "X-Api-Key"}, m["header_names"])
	assert.Equal(t, "hold", m["while_inactive"])
	assert.Equal(t, map[string]any{"integration": "erp-7", "tier": "gold"}, m["metadata"])
	assert.Equal(t, 2.0, m["max_in_flight"])
	assert.Equal(t, 2.5, m["rate_limit"])
	assert.Equal(t, 1500.0, m["timeout_ms"])
	assert.NotContains(t, a.Raw, "erp-token-123")
	assert.NotContains(t, a.Raw, "k-456")

	sub, err := e.d.Subscription(context.Background(), m["id"].(string))
	require.NoError(t, err)
	assert.Equal(t, secret, sub.Secret)
	assert.Equal(t, "Bearer erp-token-123", sub.Headers["Authorization"])
	assert.Equal(t, 1500*time.Millisecond, sub.Timeout)
	assert.Equal(t, webhook.InactiveHold, sub.WhileInactive)
}

// TestSecretsNeverInAnswersButTheirOwn checks every answer after the one that created
// the webhook: neither the secret nor a header value appears, until rotate-secret shows
// the new secret once.
func TestSecretsNeverInAnswersButTheirOwn(t *testing.T) {
	e := newEnv(t)
	id, secret := e.create(wsA, `["customer.*"]`, `,"headers":{"Authorization":"Bearer erp-token-123"}`)
	ev := e.emit(wsA, eventtypes.CustomerCreated)
	h := e.rc.next(t)
	require.NoError(t, webhook.Verify(secret, h.Header, h.Body))
	assert.Equal(t, "Bearer erp-token-123", h.Header.Get("Authorization"))
	dlv := e.deliveryOf(wsA, id, ev.ID, "succeeded")

	base := "/workspaces/" + wsA
	reqs := []struct{ method, path, body string }{
		{"GET", base + "/webhooks", ""},
		{"GET", base + "/webhooks?q=erp", ""},
		{"GET", base + "/webhooks/" + id, ""},
		{"PATCH", base + "/webhooks/" + id, `{"name":"CRM"}`},
		{"POST", base + "/webhooks/" + id + "/deactivate", `{"reason":"maintenance"}`},
		{"POST", base + "/webhooks/" + id + "/activate", ""},
		{"POST", base + "/webhooks/" + id + "/test", `{"event":"customer.updated"}`},
		{"GET", base + "/webhooks/" + id + "/deliveries", ""},
		{"GET", base + "/deliveries", ""},
		{"GET", base + "/deliveries/" + dlv["id"].(string), ""},
		{"GET", base + "/webhooks/" + id + "/stats", ""},
		{"GET", base + "/stats", ""},
	}
	check := func(secrets ...string) {
		for _, r := range reqs {
			a := e.do(r.method, r.path, r.body)
			require.Less(t, a.Status, 300, "%s %s: %s", r.method, r.path, a.Raw)
			for _, s := range secrets {
				assert.NotContains(t, a.Raw, s, "%s %s", r.method, r.path)
			}
			assert.NotContains(t, a.Raw, "erp-token-123", "%s %s", r.method, r.path)
			assert.NotContains(t, a.Raw, `"secret"`, "%s %s", r.method, r.path)
		}
	}
	check(secret)
	e.rc.next(t) // the test request

	a := e.ok(e.do("POST", base+"/webhooks/"+id+"/rotate-secret", ""), http.StatusOK)
	fresh := a.object(t)["secret"].(string)
	assert.NotEqual(t, secret, fresh)
	assert.NotContains(t, a.Raw, secret, "the old secret is not shown again either")
	check(secret, fresh)
}

func TestListFiltersAndSearch(t *testing.T) {
	e := newEnv(t)
	orders, _ := e.create(wsA, `["order.*"]`, `,"name":"Fulfilment","metadata":{"tier":"gold","team":"ops"}`)
	customers, _ := e.create(wsA, `["customer.created"]`, `,"name":"CRM sync","metadata":{"tier":"silver"}`)
	everything, _ := e.create(wsA, `["*"]`, `,"name":"Archive","active":false`)
	e.create(wsB, `["order.*"]`, ``) // another workspace's: never listed in A

	ids := func(query string) []string {
		t.Helper()
		a := e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks"+query, ""), http.StatusOK)
		var list []map[string]any
		a.into(t, &list)
		out := []string{}
		for _, w := range list {
			assert.Equal(t, wsA, w["workspace"])
			out = append(out, w["id"].(string))
		}
		return out
	}
	assert.Equal(t, []string{orders, customers, everything}, ids(""), "oldest first")
	assert.Equal(t, []string{orders, everything}, ids("?resource=order"))
	assert.Equal(t, []string{customers, everything}, ids("?resource=customer&event=created"))
	assert.Equal(t, []string{customers, everything}, ids("?event=customer.created"))
	assert.Equal(t, []string{orders, customers}, ids("?status=active"))
	assert.Equal(t, []string{everything}, ids("?status=inactive"))
	assert.Equal(t, []string{orders, customers, everything}, ids("?url=/hooks"))
	assert.Equal(t, []string{customers}, ids("?q=crm"), "free text, case-insensitive, in the name")
	assert.Equal(t, []string{orders, customers, everything}, ids("?q=127.0.0.1"), "and in the URL")
	assert.Equal(t, []string{orders}, ids("?metadata%5Btier%5D=gold"))
	assert.Equal(t, []string{orders}, ids("?metadata%5Btier%5D=gold&metadata%5Bteam%5D=ops"))
	assert.Empty(t, ids("?metadata%5Btier%5D=bronze"))
	assert.Empty(t, ids("?q=nothing-like-this"))
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	var want []string
	for range 7 {
		id, _ := e.create(wsA, `["order.created"]`, ``)
		want = append(want, id)
	}
	e.create(wsB, `["order.created"]`, ``)

	var got []string
	path := "/workspaces/" + wsA + "/webhooks?limit=3"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 4)
		a := e.ok(e.do("GET", path, ""), http.StatusOK)
		var list []map[string]any
		a.into(t, &list)
		assert.LessOrEqual(t, len(list), 3)
		for _, w := range list {
			got = append(got, w["id"].(string))
		}
		path = ""
		if c := a.Header.Get("Next-Cursor"); c != "" {
			link := a.Header.Get("Link")
			require.True(t, strings.HasPrefix(link, "<?") && strings.HasSuffix(link, `>; rel="next"`), link)
			next, err := url.ParseQuery(strings.TrimSuffix(strings.TrimPrefix(link, "<?"), `>; rel="next"`))
			require.NoError(t, err)
			assert.Equal(t, c, next.Get("cursor"))
			assert.Equal(t, "3", next.Get("limit"), "the link keeps the other parameters")
			path = "/workspaces/" + wsA + "/webhooks?" + next.Encode()
		}
	}
	assert.Equal(t, want, got)

	// A cursor whose webhook was deleted meanwhile still goes on after it.
	a := e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks?limit=2", ""), http.StatusOK)
	cursor := a.Header.Get("Next-Cursor")
	require.NotEmpty(t, cursor)
	e.ok(e.do("DELETE", "/workspaces/"+wsA+"/webhooks/"+want[1], ""), http.StatusNoContent)
	a = e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks?limit=2&cursor="+cursor, ""), http.StatusOK)
	var list []map[string]any
	a.into(t, &list)
	require.Len(t, list, 2)
	assert.Equal(t, want[2], list[0]["id"])
}

func TestGetPatchDelete(t *testing.T) {
	e := newEnv(t)
	id, secret := e.create(wsA, `["order.*"]`, `,"headers":{"X-Key":"v1"},"metadata":{"a":"1"}`)
	path := "/workspaces/" + wsA + "/webhooks/" + id
	before := e.ok(e.do("GET", path, ""), http.StatusOK).object(t)
	assert.Equal(t, id, before["id"])

	// Only the fields sent change.
	a := e.ok(e.do("PATCH", path, `{"name":"Renamed","events":["order.created","order.cancelled"],"timeout_ms":2000}`), http.StatusOK)
	after := a.object(t)
	assert.Equal(t, "Renamed", after["name"])
	assert.Equal(t, []any{"order.created", "order.cancelled"}, after["events"])
	assert.Equal(t, 2000.0, after["timeout_ms"])
	for _, k := range []string{"url", "format", "status", "while_inactive", "metadata", "header_names", "created_at"} {
		assert.Equal(t, before[k], after[k], k)
	}
	sub, err := e.d.Subscription(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, secret, sub.Secret, "the secret is kept")
	assert.Equal(t, map[string]string{"X-Key": "v1"}, sub.Headers, "the headers are kept")

	// Headers and metadata are replaced whole; active switches the status.
	after = e.ok(e.do("PATCH", path, `{"headers":{},"metadata":{"b":"2"},"active":false,"format":"query","while_inactive":"hold","max_in_flight":1,"rate_limit":0.5}`), http.StatusOK).object(t)
	assert.Equal(t, []any{}, after["header_names"])
	assert.Equal(t, map[string]any{"b": "2"}, after["metadata"])
	assert.Equal(t, "inactive", after["status"])
	assert.Equal(t, "deactivated through the API", after["status_reason"])
	assert.Equal(t, "query", after["format"])
	assert.Equal(t, "hold", after["while_inactive"])
	assert.Equal(t, 1.0, after["max_in_flight"])
	assert.Equal(t, 0.5, after["rate_limit"])

	// A new secret through PATCH replaces the old one at once.
	e.ok(e.do("PATCH", path, `{"secret":"whsec_`+strings.Repeat("QUFB", 8)+`","active":true}`), http.StatusOK)
	sub, err = e.d.Subscription(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "whsec_"+strings.Repeat("QUFB", 8), sub.Secret)
	assert.Empty(t, sub.PreviousSecret)
	assert.Equal(t, webhook.StatusActive, sub.Status)

	// Nothing half-applied: a refused PATCH changes nothing.
	e.refused(e.do("PATCH", path, `{"name":"Half","url":"ftp://nope.example.com"}`), http.StatusBadRequest, "invalid", "url")
	assert.Equal(t, "Renamed", e.ok(e.do("GET", path, ""), http.StatusOK).object(t)["name"])

	del := e.ok(e.do("DELETE", path, ""), http.StatusNoContent)
	assert.Empty(t, del.Raw)
	e.refused(e.do("GET", path, ""), http.StatusNotFound, "not_found", "")
	e.refused(e.do("DELETE", path, ""), http.StatusNotFound, "not_found", "")
	e.refused(e.do("PATCH", path, `{"name":"x"}`), http.StatusNotFound, "not_found", "")
}

func TestActivateDeactivate(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["order.*"]`, `,"while_inactive":"hold"`)
	path := "/workspaces/" + wsA + "/webhooks/" + id
	m := e.ok(e.do("POST", path+"/deactivate", `{"reason":"endpoint maintenance"}`), http.StatusOK).object(t)
	assert.Equal(t, "inactive", m["status"])
	assert.Equal(t, false, m["active"])
	assert.Equal(t, "endpoint maintenance", m["status_reason"])

	ev := e.emit(wsA, eventtypes.OrderCreated)
	e.deliveryOf(wsA, id, ev.ID, "held")

	m = e.ok(e.do("POST", path+"/activate", ""), http.StatusOK).object(t)
	assert.Equal(t, "active", m["status"])
	assert.Equal(t, "", m["status_reason"])
	e.rc.next(t)
	e.deliveryOf(wsA, id, ev.ID, "succeeded")

	m = e.ok(e.do("POST", path+"/deactivate", "{}"), http.StatusOK).object(t)
	assert.Equal(t, "deactivated through the API", m["status_reason"])
	e.ok(e.do("POST", path+"/activate", "{}"), http.StatusOK)
}

func TestTestWebhook(t *testing.T) {
	e := newEnv(t)
	id, secret := e.create(wsA, `["order.created","order.cancelled"]`, ``)
	path := "/workspaces/" + wsA + "/webhooks/" + id + "/test"

	// Empty body: every subscribed type. The report is the established test answer, camelCase.
	a := e.ok(e.do("POST", path, ""), http.StatusOK)
	m := a.object(t)
	assert.Equal(t, 2.0, m["testsRun"])
	assert.Equal(t, 2.0, m["testsSucceeded"])
	assert.Equal(t, 0.0, m["testsFailed"])
	_, err := time.Parse(time.RFC3339, m["startedAt"].(string))
	assert.NoError(t, err)
	tests := m["tests"].([]any)
	require.Len(t, tests, 2)
	first := tests[0].(map[string]any)
	for _, k := range []string{"type", "eventId", "deliveryId", "succeeded", "statusCode", "durationMs", "responseBody"} {
		assert.Contains(t, first, k)
	}
	for range 2 {
		h := e.rc.next(t)
		assert.NoError(t, webhook.Verify(secret, h.Header, h.Body), "signed like a real delivery")
	}

	// One event type.
	m = e.ok(e.do("POST", path, `{"event":"order.created"}`), http.StatusOK).object(t)
	assert.Equal(t, 1.0, m["testsRun"])
	assert.Equal(t, "order.created", m["tests"].([]any)[0].(map[string]any)["type"])
	e.rc.next(t)

	// A failing endpoint: the report says so, the webhook stays as it is.
	e.rc.answer(http.StatusGone)
	m = e.ok(e.do("POST", path, `{}`), http.StatusOK).object(t)
	assert.Equal(t, 2.0, m["testsFailed"])
	assert.Equal(t, 410.0, m["tests"].([]any)[0].(map[string]any)["statusCode"])
	assert.Equal(t, "active", e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks/"+id, ""), http.StatusOK).object(t)["status"])

	// Tests are in the log, marked.
	ds := e.ok(e.do("GET", "/workspaces/"+wsA+"/webhooks/"+id+"/deliveries", ""), http.StatusOK)
	var list []map[string]any
	ds.into(t, &list)
	require.Len(t, list, 5)
	assert.Equal(t, true, list[0]["test"])
}

func TestRotateSecret(t *testing.T) {
	e := newEnv(t)
	id, old := e.create(wsA, `["customer.created"]`, ``)
	path := "/workspaces/" + wsA + "/webhooks/" + id + "/rotate-secret"
	m := e.ok(e.do("POST", path, ""), http.StatusOK).object(t)
	fresh := m["secret"].(string)
	assert.NotEqual(t, old, fresh)
	expires, err := time.Parse(time.RFC3339, m["previous_secret_expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), expires, time.Minute, "a day by default")

	e.emit(wsA, eventtypes.CustomerCreated)
	h := e.rc.next(t)
	assert.NoError(t, webhook.Verify(fresh, h.Header, h.Body), "signed with the new secret")
	assert.NoError(t, webhook.Verify(old, h.Header, h.Body), "and with the old one during the overlap")

	m = e.ok(e.do("POST", path, `{"overlap_ms":0}`), http.StatusOK).object(t)
	newest := m["secret"].(string)
	assert.Nil(t, m["previous_secret_expires_at"], "the old secret stops at once")
	e.emit(wsA, eventtypes.CustomerCreated)
	h = e.rc.next(t)
	assert.NoError(t, webhook.Verify(newest, h.Header, h.Body))
	assert.Error(t, webhook.Verify(fresh, h.Header, h.Body))
}
