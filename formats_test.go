package webhook_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// TestEveryTypeInEveryFormat sends every catalog sample in each format and checks what
// the receiver gets: the data back from JSON, well-formed XML, the right query, and a
// signature a Standard Webhooks verifier accepts.
func TestEveryTypeInEveryFormat(t *testing.T) {
	catalog := eventtypes.Default()
	for _, format := range []webhook.Format{webhook.FormatJSON, webhook.FormatXML, webhook.FormatQuery} {
		t.Run(string(format), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				secret := webhook.NewSecret()
				sub, err := e.d.Subscribe(e.ctx, webhook.Subscription{
					URL: "https://hooks.example.com/in?shop=42", Events: []string{"*"}, Format: format, Secret: secret,
				})
				require.NoError(t, err)
				rep, err := e.d.Test(e.ctx, sub.ID)
				require.NoError(t, err)
				require.Equal(t, len(catalog.All()), rep.TestsSucceeded)

				for _, r := range e.ep.requests() {
					u, err := url.Parse(r.URL)
					require.NoError(t, err)
					switch format {
					case webhook.FormatJSON:
						assert.Equal(t, http.MethodPost, r.Method)
						assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
						var env struct {
							Type string
							Data json.RawMessage
						}
						require.NoError(t, json.Unmarshal(r.Body, &env))
						typ, ok := catalog.Lookup(env.Type)
						require.True(t, ok, env.Type)
						assert.JSONEq(t, string(typ.Sample), string(env.Data), env.Type)
						assert.NoError(t, webhook.Verify(secret, r.Header, r.Body))
					case webhook.FormatXML:
						assert.Equal(t, http.MethodPost, r.Method)
						assert.Contains(t, r.Header.Get("Content-Type"), "application/xml")
						dec := xml.NewDecoder(bytes.NewReader(r.Body))
						var root string
						for {
							tok, err := dec.Token()
							if err == io.EOF {
								break
							}
							require.NoError(t, err, string(r.Body))
							if se, ok := tok.(xml.StartElement); ok && root == "" {
								root = se.Name.Local
							}
						}
						assert.Equal(t, "webhook", root)
						assert.Contains(t, string(r.Body), "<type>")
						assert.NoError(t, webhook.Verify(secret, r.Header, r.Body))
					case webhook.FormatQuery:
						assert.Equal(t, http.MethodGet, r.Method)
						assert.Empty(t, r.Body)
						q := u.Query()
						typ, ok := catalog.Lookup(q.Get("event_type"))
						require.True(t, ok, q.Get("event_type"))
						var sample struct{ ID string }
						require.NoError(t, json.Unmarshal(typ.Sample, &sample))
						assert.Equal(t, sample.ID, q.Get(typ.Resource+"_id"), typ.Name)
						assert.Equal(t, "42", q.Get("shop"), "the URL's own query is kept")
						assert.Equal(t, r.Header.Get("webhook-id"), q.Get("event_id"))
						assert.NoError(t, webhook.Verify(secret, r.Header, []byte(u.RawQuery)), "GET signs the raw query")
					}
				}
			})
		})
	}
}

func TestQueryFormatResourceID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		_, err := e.d.Subscribe(e.ctx, webhook.Subscription{URL: "https://qb.example.com/hook", Events: []string{"order.created"}, Format: webhook.FormatQuery})
		require.NoError(t, err)
		_, err = e.d.Emit(e.ctx, eventtypes.OrderCreated, map[string]any{"id": 12345, "total": 10})
		require.NoError(t, err)
		e.settle(0)
		reqs := e.ep.requests()
		require.Len(t, reqs, 1)
		assert.True(t, strings.HasPrefix(reqs[0].URL, "https://qb.example.com/hook?"))
		u, _ := url.Parse(reqs[0].URL)
		assert.Equal(t, "order.created", u.Query().Get("event_type"))
		assert.Equal(t, "12345", u.Query().Get("order_id"))
	})
}
