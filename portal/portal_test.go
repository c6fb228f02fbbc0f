package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
)

// TestClosedWithoutAuth: with neither WithAuth nor WithLinker, every page is refused and
// nothing can be changed.
func TestClosedWithoutAuth(t *testing.T) {
	e := newEnv(t, noAuth)
	sub := e.subscribe("", "Existing")
	for _, p := range []string{"", "events", "webhooks/new", "webhooks/" + sub.ID} {
		r := e.get("", p)
		assert.Equal(t, http.StatusForbidden, r.Status, p)
		assert.Contains(t, r.Body, "no sign-in configured", p)
		assert.NotContains(t, r.Body, sub.URL, p)
	}
	r := e.post("", "webhooks/new", url.Values{"url": {"https://example.com/x"}, "events": {"order.created"}})
	assert.Equal(t, http.StatusForbidden, r.Status)
	r = e.post("", "webhooks/"+sub.ID+"/delete", nil)
	assert.Equal(t, http.StatusForbidden, r.Status)
	subs, err := e.d.Subscriptions(context.Background(), webhook.Filter{})
	require.NoError(t, err)
	assert.Len(t, subs, 1)
	assert.Equal(t, http.StatusNotFound, e.get("", "login?token=x").Status, "no linker, no sign-in page")
}

// TestAuthHookRefuses: an error from WithAuth's hook is a 401, and the hook's error text
// is not shown.
func TestAuthHookRefuses(t *testing.T) {
	e := newEnv(t)
	r := e.get("-", "")
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.NotContains(t, r.Body, wsHeader)
	assert.Contains(t, r.Body, "not signed in")
}

// TestWorkspaceIsolation: a session of one workspace neither sees nor changes another
// workspace's webhooks and deliveries, and its answers for them are exactly those for
// IDs that do not exist.
func TestWorkspaceIsolation(t *testing.T) {
	e := newEnv(t, oneAttempt)
	ctx := context.Background()
	mine := e.subscribe("shop_a", "Mine")
	theirs := e.subscribe("shop_b", "Theirs")
	_, err := e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_b"}, webhook.InWorkspace("shop_b"))
	require.NoError(t, err)
	theirDelivery := e.waitAttempt(theirs.ID).DeliveryID

	list := e.get("shop_a", "")
	require.Equal(t, 200, list.Status)
	assert.Contains(t, list.Body, mine.URL)
	assert.NotContains(t, decoded(list.Body), theirs.URL)
	assert.NotContains(t, decoded(list.Body), theirs.ID)
	assert.NotContains(t, decoded(e.get("shop_a", "?q=Theirs").Body), theirs.URL)

	missing := "sub_doesnotexist"
	for _, tc := range []struct{ method, path string }{
		{"GET", "webhooks/%s"},
		{"GET", "webhooks/%s/edit"},
		{"GET", "webhooks/%s/delete"},
		{"POST", "webhooks/%s/edit"},
		{"POST", "webhooks/%s/test"},
		{"POST", "webhooks/%s/activate"},
		{"POST", "webhooks/%s/deactivate"},
		{"POST", "webhooks/%s/delete"},
		{"POST", "webhooks/%s/rotate-secret"},
		{"POST", "webhooks/%s/recover"},
		{"POST", "webhooks/%s/deliveries/" + theirDelivery + "/redeliver"},
	} {
		form := url.Values{"name": {"Stolen"}, "url": {"https://evil.example/x"}, "events": {"order.created"}, "overlap": {"0"}, "since": {"24h"}}
		if tc.method == "GET" {
			form = nil
		}
		other := e.do("shop_a", tc.method, strings.Replace(tc.path, "%s", theirs.ID, 1), form)
		none := e.do("shop_a", tc.method, strings.Replace(tc.path, "%s", missing, 1), form)
		assert.Equal(t, http.StatusNotFound, other.Status, "%s %s", tc.method, tc.path)
		assert.Equal(t, none.Status, other.Status, "%s %s", tc.method, tc.path)
		assert.Equal(t, none.Body, other.Body, "%s %s: another workspace's webhook must look missing", tc.method, tc.path)
	}
	// Their delivery as my page's cursor: as missing as a made-up one.
	cursorTheirs := e.get("shop_a", "webhooks/"+mine.ID+"?before="+theirDelivery)
	cursorNone := e.get("shop_a", "webhooks/"+mine.ID+"?before=dlv_doesnotexist")
	assert.Equal(t, http.StatusNotFound, cursorTheirs.Status)
	assert.Equal(t, cursorNone.Body, cursorTheirs.Body)
	// Their delivery under my webhook's ID: not found either.
	r := e.post("shop_a", "webhooks/"+mine.ID+"/deliveries/"+theirDelivery+"/redeliver", nil)
	assert.Equal(t, http.StatusNotFound, r.Status)

	after, err := e.d.Subscription(ctx, theirs.ID)
	require.NoError(t, err)
	assert.Equal(t, theirs.Name, after.Name)
	assert.Equal(t, theirs.URL, after.URL)
	assert.Equal(t, theirs.Secret, after.Secret)
	assert.Equal(t, webhook.StatusActive, after.Status)
	del, err := e.d.Delivery(ctx, theirDelivery)
	require.NoError(t, err)
	assert.Len(t, del.Attempts, 1, "their delivery was not redelivered")
	for _, got := range e.recv.requests() {
		assert.NotContains(t, got.Path, "Theirs/test", "no test was sent to their endpoint")
	}
}

// TestSecretsShownOnce: the secret appears in the answer that created or rotated it and
// on no page after; header values never appear.
// TestDefaultWorkspaceSeesOnlyItsOwn: a session of the default workspace ("") is one
// workspace among others, though an empty workspace selects every one in the dispatcher's
// queries: its dashboard lists only its own webhooks, and its health figures are its own.
func TestDefaultWorkspaceSeesOnlyItsOwn(t *testing.T) {
	e := newEnv(t, oneAttempt)
	ctx := context.Background()
	mine := e.subscribe("", "Mine")
	theirs := e.subscribe("shop_b", "Theirs")

	e.recv.answer(http.StatusOK, "")
	_, err := e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_b"}, webhook.InWorkspace("shop_b"))
	require.NoError(t, err)
	e.waitAttempt(theirs.ID)

	page := e.get("", "")
	require.Equal(t, http.StatusOK, page.Status)
	body := decoded(page.Body)
	assert.Contains(t, body, mine.URL)
	assert.NotContains(t, body, theirs.URL)
	assert.NotContains(t, page.Body, theirs.ID)
	assert.NotContains(t, body, "Success rate", "the default workspace has made no attempt")

	e.recv.answer(http.StatusInternalServerError, "")
	_, err = e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_a"})
	require.NoError(t, err)
	e.waitAttempt(mine.ID)

	body = decoded(e.get("", "").Body)
	assert.Regexp(t, `Success rate\s+0%`, body)
	assert.NotContains(t, body, "100%", "shop_b's attempt succeeded; the default workspace's failed")
	assert.Regexp(t, `Success rate\s+100%`, decoded(e.get("shop_b", "").Body))
}

func TestSecretsShownOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.post("shop_1", "webhooks/new", url.Values{
		"name": {"Books"}, "url": {e.recv.srv.URL + "/books"}, "events": {"order.created", "order.*"}, "active": {"1"},
		"header_name": {"X-Api-Key"}, "header_value": {"top-secret-header-value"},
	})
	require.Equal(t, http.StatusCreated, r.Status, r.Body)
	subs, err := e.d.Subscriptions(ctx, webhook.Filter{Workspace: "shop_1"})
	require.NoError(t, err)
	require.Len(t, subs, 1)
	sub := subs[0]
	assert.Equal(t, []string{"order.*"}, sub.Events, "a resource's wildcard covers its types")
	assert.Equal(t, "top-secret-header-value", sub.Headers["X-Api-Key"])
	require.True(t, strings.HasPrefix(sub.Secret, "whsec_"))
	assert.Contains(t, decoded(r.Body), sub.Secret, "the creating answer shows the secret")
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	assert.NotContains(t, decoded(r.Body), "top-secret-header-value")

	pages := []string{"", "webhooks/" + sub.ID, "webhooks/" + sub.ID + "/edit", "webhooks/" + sub.ID + "/delete", "events"}
	noSecrets := func(secrets ...string) {
		t.Helper()
		for _, p := range pages {
			body := decoded(e.get("shop_1", p).Body)
			for _, s := range secrets {
				assert.NotContains(t, body, s, "page %q", p)
			}
		}
		body := decoded(e.post("shop_1", "webhooks/"+sub.ID+"/test", nil).Body)
		for _, s := range secrets {
			assert.NotContains(t, body, s, "test answer")
		}
	}
	noSecrets(sub.Secret, "top-secret-header-value")

	r = e.post("shop_1", "webhooks/"+sub.ID+"/rotate-secret", url.Values{"overlap": {"1h"}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	rotated, err := e.d.Subscription(ctx, sub.ID)
	require.NoError(t, err)
	require.NotEqual(t, sub.Secret, rotated.Secret)
	assert.Equal(t, sub.Secret, rotated.PreviousSecret)
	assert.Contains(t, decoded(r.Body), rotated.Secret)
	assert.NotContains(t, decoded(r.Body), sub.Secret, "the old secret is not shown again")
	noSecrets(sub.Secret, rotated.Secret, "top-secret-header-value")
}

// TestEditKeepsWriteOnlyValues: an empty header value keeps the stored one, a new value
// replaces it, Remove removes it; the secret and the status survive an edit.
func TestEditKeepsWriteOnlyValues(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sub := e.subscribe("shop_1", "Books")
	require.NoError(t, e.d.Deactivate(ctx, sub.ID, "paused"))
	edit := func(form url.Values) webhook.Subscription {
		t.Helper()
		base := url.Values{"name": {"Books v2"}, "url": {sub.URL}, "events": {"order.created", "product.deleted"}, "format": {"xml"}, "while_inactive": {"hold"}}
		for k, v := range form {
			base[k] = v
		}
		r := e.post("shop_1", "webhooks/"+sub.ID+"/edit", base)
		require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		assert.Equal(t, mountPrefix+"webhooks/"+sub.ID, r.Location.Path)
		got, err := e.d.Subscription(ctx, sub.ID)
		require.NoError(t, err)
		return got
	}
	got := edit(url.Values{"stored_header": {"X-Api-Key"}, "stored_value": {""}})
	assert.Equal(t, "Books v2", got.Name)
	assert.Equal(t, []string{"order.created", "product.deleted"}, got.Events)
	assert.Equal(t, webhook.FormatXML, got.Format)
	assert.Equal(t, webhook.InactiveHold, got.WhileInactive)
	assert.Equal(t, sub.Headers, got.Headers, "an empty value keeps the stored one")
	assert.Equal(t, sub.Secret, got.Secret)
	assert.Equal(t, webhook.StatusInactive, got.Status)
	assert.Equal(t, "paused", got.StatusReason)

	got = edit(url.Values{"stored_header": {"X-Api-Key"}, "stored_value": {"new-value"}, "header_name": {"Authorization", ""}, "header_value": {"Bearer t", ""}})
	assert.Equal(t, map[string]string{"X-Api-Key": "new-value", "Authorization": "Bearer t"}, got.Headers)

	got = edit(url.Values{"stored_header": {"X-Api-Key", "Authorization"}, "stored_value": {"", ""}, "remove_header": {"X-Api-Key"}})
	assert.Equal(t, map[string]string{"Authorization": "Bearer t"}, got.Headers)

	page := e.get("shop_1", "webhooks/"+sub.ID+"/edit").Body
	assert.Contains(t, page, `value="Authorization"`, "the stored header is listed by name")
	assert.NotContains(t, decoded(page), "Bearer t")
}

// TestFormErrorsNextToTheirFields: refused input comes back with the message next to the
// field it concerns, what was typed kept (header values excepted), and nothing stored.
func TestFormErrorsNextToTheirFields(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		says  string
	}{
		{"bad scheme", url.Values{"url": {"ftp://example.com/x"}, "events": {"order.created"}}, "url", "must be an http or https URL"},
		{"no URL", url.Values{"events": {"order.created"}}, "url", "Enter the URL"},
		{"no events", url.Values{"url": {"https://example.com/x"}}, "events", "Choose at least one event"},
		{"unknown event", url.Values{"url": {"https://example.com/x"}, "events": {"order.teleported"}}, "events", "order.teleported"},
		{"forbidden header", url.Values{"url": {"https://example.com/x"}, "events": {"order.created"}, "header_name": {"Host"}, "header_value": {"typed-header-value"}}, "headers", "may not be set"},
		{"header without value", url.Values{"url": {"https://example.com/x"}, "events": {"order.created"}, "header_name": {"X-Key"}, "header_value": {""}}, "headers", `Give the header &#34;X-Key&#34; a value`},
		{"bad format", url.Values{"url": {"https://example.com/x"}, "events": {"order.created"}, "format": {"yaml"}}, "format", "must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("name", "Kept name")
			r := e.post("shop_1", "webhooks/new", tc.form)
			require.Equal(t, http.StatusUnprocessableEntity, r.Status)
			assert.Contains(t, r.Body, `id="`+tc.field+`-error"`)
			i := strings.Index(r.Body, `id="`+tc.field+`-error"`)
			assert.Contains(t, r.Body[i:i+300], tc.says)
			assert.Regexp(t, `aria-describedby="[^"]*`+tc.field+`-error"`, r.Body, "the field points at its message")
			assert.Contains(t, r.Body, `value="Kept name"`)
			if v := tc.form.Get("header_value"); v != "" {
				assert.NotContains(t, decoded(r.Body), v)
			}
		})
	}
	subs, err := e.d.Subscriptions(context.Background(), webhook.Filter{})
	require.NoError(t, err)
	assert.Empty(t, subs)
}

// TestCrossSiteRequestsRefused: a state-changing request from another site is refused,
// whatever the session.
func TestCrossSiteRequestsRefused(t *testing.T) {
	e := newEnv(t)
	sub := e.subscribe("shop_1", "Books")
	form := url.Values{"url": {"https://example.com/x"}, "events": {"order.created"}}
	r := e.do("shop_1", "POST", "webhooks/new", form, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, r.Status)
	r = e.do("shop_1", "POST", "webhooks/"+sub.ID+"/delete", url.Values{}, "Origin", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, r.Status)
	r = e.do("shop_1", "POST", "webhooks/"+sub.ID+"/deactivate", url.Values{}, "Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusSeeOther, r.Status, "the portal's own forms pass")
	subs, err := e.d.Subscriptions(context.Background(), webhook.Filter{})
	require.NoError(t, err)
	assert.Len(t, subs, 1)
}

// TestSecurityHeaders: every page forbids framing and foreign scripts, and sends no
// referrer (a sign-in link carries its token).
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"", "events", "webhooks/nope"} {
		r := e.get("shop_1", p)
		csp := r.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "default-src 'none'")
		assert.Contains(t, csp, "script-src 'self'")
		assert.Contains(t, csp, "frame-ancestors 'none'")
		assert.Equal(t, "no-referrer", r.Header.Get("Referrer-Policy"))
		assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
	}
}
