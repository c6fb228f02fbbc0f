package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
)

var pageAttr = regexp.MustCompile(`<body data-page="([a-z]+)">`)

// pageOf is the template a response was rendered with.
func pageOf(t *testing.T, r response) string {
	t.Helper()
	m := pageAttr.FindStringSubmatch(r.Body)
	require.NotNil(t, m, "not a portal page (status %d): %.300s", r.Status, r.Body)
	return m[1]
}

// populate gives workspace ws a webhook with a succeeded and a failed delivery, and an
// inactive one; the environment must give up after one attempt (oneAttempt).
func populate(t *testing.T, e *testEnv, ws string) (good, off webhook.Subscription) {
	t.Helper()
	ctx := context.Background()
	good = e.subscribe(ws, "Fulfilment", "order.*", "payment.failed")
	_, err := e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_1"}, webhook.InWorkspace(ws))
	require.NoError(t, err)
	require.Equal(t, webhook.OutcomeSucceeded, e.waitAttempt(good.ID).Attempt.Outcome)
	e.recv.answer(http.StatusInternalServerError, "upstream exploded")
	_, err = e.d.Emit(ctx, "order.updated", map[string]any{"id": "ord_1"}, webhook.InWorkspace(ws))
	require.NoError(t, err)
	require.Equal(t, webhook.OutcomeGaveUp, e.waitAttempt(good.ID).Attempt.Outcome)
	e.recv.answer(http.StatusOK, `{"received":true}`)
	off = e.subscribe(ws, "Old CRM", "customer.created")
	require.NoError(t, e.d.Deactivate(ctx, off.ID, "endpoint answered 410 Gone"))
	return good, off
}

// TestEveryPageRendersAccessibly renders every page template through the handler, with
// data in every state a page shows (empty, listed, refused, tested, failed deliveries),
// and checks each page's HTML for accessibility.
func TestEveryPageRendersAccessibly(t *testing.T) {
	e := newEnv(t, oneAttempt)
	good, off := populate(t, e, "shop_1")
	link, err := e.linker.Link("shop_1", time.Minute)
	require.NoError(t, err)

	seen := map[string]bool{}
	visit := func(label string, r response, status int) {
		t.Helper()
		assert.Equal(t, status, r.Status, "%s: %.500s", label, r.Body)
		name := pageOf(t, r)
		seen[name] = true
		for _, p := range checkAccessible(r.Body) {
			t.Errorf("%s (page %s): %s", label, name, p)
		}
	}
	created := url.Values{"name": {"New"}, "url": {e.recv.srv.URL + "/new"}, "events": {"product.created"}, "active": {"1"}}
	visit("dashboard", e.get("shop_1", ""), 200)
	visit("dashboard, no match", e.get("shop_1", "?q=nothing-like-this&status=inactive"), 200)
	visit("dashboard, empty workspace", e.get("empty", ""), 200)
	visit("event catalog", e.get("shop_1", "events"), 200)
	visit("create form", e.get("shop_1", "webhooks/new"), 200)
	visit("create form refused", e.post("shop_1", "webhooks/new", url.Values{"url": {"ftp://example.com/x"}, "events": {"order.created"}}), 422)
	visit("created", e.post("shop_1", "webhooks/new", created), 201)
	visit("webhook", e.get("shop_1", "webhooks/"+good.ID), 200)
	visit("inactive webhook", e.get("shop_1", "webhooks/"+off.ID), 200)
	visit("test sent", e.post("shop_1", "webhooks/"+good.ID+"/test", nil), 200)
	visit("edit form", e.get("shop_1", "webhooks/"+good.ID+"/edit"), 200)
	visit("secret rotated", e.post("shop_1", "webhooks/"+good.ID+"/rotate-secret", url.Values{"overlap": {"24h"}}), 200)
	visit("delete confirmation", e.get("shop_1", "webhooks/"+good.ID+"/delete"), 200)
	visit("not found", e.get("shop_1", "webhooks/sub_missing"), 404)
	visit("not signed in", e.get("-", ""), 401)
	visit("sign-in link", e.get("-", link), 200)
	visit("recover refused", e.post("shop_1", "webhooks/"+off.ID+"/recover", url.Values{"since": {"24h"}}), 409)

	for _, name := range pageNames {
		assert.True(t, seen[name], "page %q was never rendered by the test", name)
	}
}

// TestTemplatesParse: the embedded templates parse, and every page has its template.
func TestTemplatesParse(t *testing.T) {
	p, err := parsePages()
	require.NoError(t, err)
	for _, name := range pageNames {
		require.NotNil(t, p.tmpl[name], name)
		require.NotNil(t, p.tmpl[name].Lookup("content"), "%s defines no content", name)
	}
	assert.Contains(t, p.static, "portal.css")
	assert.Contains(t, p.static, "portal.js")
}

// TestAccessibilityCheckFindsProblems: the check itself fails on pages that break it.
func TestAccessibilityCheckFindsProblems(t *testing.T) {
	page := func(body string) string {
		return `<!doctype html><html lang="en"><head><title>T</title></head><body><h1>T</h1>` + body + `</body></html>`
	}
	ok := page(`<label for="a">A</label><input id="a"><input type="checkbox" id="b"><label for="b">B</label>` +
		`<label>C <select><option>x</option></select></label><img src="x.png" alt=""><button>Go</button>` +
		`<svg role="img" aria-labelledby="t"><title id="t">Chart</title></svg><input type="hidden" name="h">`)
	assert.Empty(t, checkAccessible(ok))
	for name, body := range map[string]string{
		"unlabelled input":    `<input id="a" name="a">`,
		"unlabelled textarea": `<textarea></textarea>`,
		"unlabelled select":   `<select id="s"></select>`,
		"img without alt":     `<img src="x.png">`,
		"unnamed button":      `<button></button>`,
		"bare svg":            `<svg></svg>`,
		"dangling reference":  `<p aria-describedby="nope">x</p>`,
		"duplicate id":        `<p id="x">1</p><p id="x">2</p>`,
		"skipped heading":     `<h3>deep</h3>`,
		"second h1":           `<h1>again</h1>`,
	} {
		assert.NotEmpty(t, checkAccessible(page(body)), name)
	}
	assert.NotEmpty(t, checkAccessible(`<html><head><title>x</title></head><body><h1>x</h1></body></html>`), "no lang")
}

// TestLinksWorkUnderThePrefix follows every link and form of the pages from the mount
// prefix: relative links must stay under it, and every link must lead to a page.
func TestLinksWorkUnderThePrefix(t *testing.T) {
	e := newEnv(t, oneAttempt)
	good, _ := populate(t, e, "shop_1")
	links := regexp.MustCompile(`<a [^>]*href="([^"#]*)"`)
	forms := regexp.MustCompile(`<form method="(get|post)" action="([^"]*)"`)
	start := []string{"", "events", "webhooks/new", "webhooks/" + good.ID, "webhooks/" + good.ID + "/edit", "webhooks/" + good.ID + "/delete"}
	resolve := func(r response, ref string) *url.URL {
		u, err := r.URL.Parse(strings.ReplaceAll(ref, "&amp;", "&"))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(u.Path, mountPrefix), "%s on %s leaves the prefix: %s", ref, r.URL.Path, u.Path)
		return u
	}
	gets, posts := map[string]bool{}, map[string]bool{}
	var pages []response
	for _, p := range start {
		r := e.get("shop_1", p)
		require.Equal(t, 200, r.Status, p)
		pages = append(pages, r)
	}
	// Pages that answer a POST, at the POST's URL: their relative links must work too.
	tested := e.post("shop_1", "webhooks/"+good.ID+"/test", nil)
	require.Equal(t, 200, tested.Status)
	rotated := e.post("shop_1", "webhooks/"+good.ID+"/rotate-secret", url.Values{"overlap": {"0"}})
	require.Equal(t, 200, rotated.Status)
	refused := e.post("shop_1", "webhooks/"+good.ID+"/edit", url.Values{"url": {"ftp://x.example"}, "events": {"order.created"}})
	require.Equal(t, http.StatusUnprocessableEntity, refused.Status)
	for _, r := range append(pages, tested, rotated, refused) {
		for _, m := range links.FindAllStringSubmatch(r.Body, -1) {
			gets[strings.TrimPrefix(resolve(r, m[1]).RequestURI(), mountPrefix)] = true
		}
		for _, m := range forms.FindAllStringSubmatch(r.Body, -1) {
			u := strings.TrimPrefix(resolve(r, m[2]).RequestURI(), mountPrefix)
			if m[1] == "get" {
				gets[u] = true
			} else {
				posts[u] = true
			}
		}
	}
	for u := range gets {
		assert.Equal(t, 200, e.get("shop_1", u).Status, "GET %s", u)
	}
	for _, want := range []string{"webhooks/new", "webhooks/" + good.ID + "/test", "webhooks/" + good.ID + "/deactivate",
		"webhooks/" + good.ID + "/delete", "webhooks/" + good.ID + "/edit", "webhooks/" + good.ID + "/rotate-secret",
		"webhooks/" + good.ID + "/recover"} {
		assert.True(t, posts[want], "no form posts to %s", want)
	}
	assert.Greater(t, len(gets), 8)
	for _, path := range []string{"static/portal.css", "static/portal.js"} {
		assert.Equal(t, 200, e.get("-", path).Status, path)
	}

	// A POST's redirect stays under the prefix too.
	r := e.post("shop_1", "webhooks/"+good.ID+"/deactivate", url.Values{"next": {"list"}})
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, mountPrefix, r.Location.Path)
	assert.Equal(t, "done=deactivated", r.Location.RawQuery)
	r = e.post("shop_1", "webhooks/"+good.ID+"/activate", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, mountPrefix+"webhooks/"+good.ID, r.Location.Path)
}

// TestMountedAnywhere: the same handler works unprefixed, and under a prefix stripped
// without its slash.
func TestMountedAnywhere(t *testing.T) {
	e := newEnv(t)
	h := New(e.d, WithAuth(func(*http.Request) (string, error) { return "", nil }))
	for _, tc := range []struct{ name, path, root string }{
		{"root", "/", "./"},
		{"stripped with its slash", "", "./"},
		{"deep, stripped with its slash", "webhooks/new", "../"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "http://x/", nil)
			req.URL.Path = tc.path
			h.ServeHTTP(rec, req)
			assert.Equal(t, 200, rec.Code)
			assert.Contains(t, rec.Body.String(), `href="`+tc.root+`static/portal.css`)
		})
	}
}
