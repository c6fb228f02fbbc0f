package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/store"
)

// TestPortalSignInLinks: the shop logs one sign-in link per workspace; each opens that
// workspace's portal, with the sample webhooks, and nothing of the other workspace.
func TestPortalSignInLinks(t *testing.T) {
	t.Setenv("SHOP_PORTAL_SAMPLE", "1")
	d, err := webhook.New(store.NewMemory())
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	var logs bytes.Buffer
	mux := http.NewServeMux()
	mountPortal(mux, d, slog.New(slog.NewJSONHandler(&logs, nil)), "acme", "globex")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	links := map[string]string{}
	sc := bufio.NewScanner(&logs)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			Workspace string `json:"workspace"`
			Path      string `json:"path"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		if strings.Contains(line.Msg, "sign-in link") {
			links[line.Workspace] = line.Path
		}
	}
	require.Len(t, links, 2)

	ctx := context.Background()
	for ws, link := range links {
		subs, err := d.Subscriptions(ctx, webhook.Filter{Workspace: ws})
		require.NoError(t, err)
		require.Len(t, subs, 4, "sample webhooks")

		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		client := &http.Client{Jar: jar}
		resp, err := client.Get(srv.URL + link)
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "%s", page)
		token, err := url.Parse(link)
		require.NoError(t, err)
		resp, err = client.PostForm(srv.URL+portalPrefix+"login", url.Values{"token": {token.Query().Get("token")}})
		require.NoError(t, err)
		dash, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "%s", dash)
		assert.Equal(t, portalPrefix, resp.Request.URL.Path, "signed in, on the dashboard")
		for _, s := range subs {
			assert.Contains(t, string(dash), `data-id="`+s.ID+`"`)
		}
		others, err := d.Subscriptions(ctx, webhook.Filter{Workspace: map[string]string{"acme": "globex", "globex": "acme"}[ws]})
		require.NoError(t, err)
		for _, s := range others {
			assert.NotContains(t, string(dash), s.ID)
		}
	}
}
