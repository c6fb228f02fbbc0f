package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/api"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// okTransport answers every webhook request 200 at once, so that a fuzzed test or
// redelivery never leaves the process.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// FuzzHandler feeds random methods, paths, queries and bodies to the handler: it never
// panics, answers every request in the JSON envelope (a 204 without a body for a DELETE,
// the document for /openapi.json), with an error exactly when the status says so, and
// never shows the secret or the header value of the webhook it starts with.
func FuzzHandler(f *testing.F) {
	secret, token := webhook.NewSecret(), "tok-"+webhook.NewSecret()
	d, err := webhook.New(store.NewMemory(), webhook.WithHTTPClient(&http.Client{Transport: okTransport{}}))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = d.Close(context.Background()) })
	ctx := context.Background()
	sub, err := d.Subscribe(ctx, webhook.Subscription{
		ID: "sub_fuzz", Workspace: wsA, URL: "https://hooks.example.com/in", Events: []string{"order.*"},
		Secret: secret, Headers: map[string]string{"Authorization": token},
	})
	if err != nil {
		f.Fatal(err)
	}
	ev, err := d.Emit(ctx, eventtypes.OrderCreated, map[string]any{"id": "ord_1"}, webhook.InWorkspace(wsA))
	if err != nil {
		f.Fatal(err)
	}
	ds, err := d.Deliveries(ctx, webhook.DeliveryQuery{EventID: ev.ID})
	if err != nil || len(ds) != 1 {
		f.Fatal(ds, err)
	}
	h := api.New(d, api.WithAuth(func(r *http.Request, ws string) error {
		if ws == wsB {
			return api.ErrForbidden
		}
		return nil
	}))

	hook := "/workspaces/" + wsA + "/webhooks/" + sub.ID
	for _, s := range []struct{ method, target, body string }{
		{"GET", "/event-types", ""},
		{"GET", "/openapi.json", ""},
		{"GET", "/workspaces/" + wsA + "/webhooks?resource=order&limit=2", ""},
		{"GET", "/workspaces/" + wsA + "/webhooks?metadata%5Bk%5D=v&cursor=MTIzLnN1Yl9meg", ""},
		{"POST", "/workspaces/" + wsA + "/webhooks", `{"url":"https://x.example.com","events":["order.created"],"headers":{"A":"b"},"timeout_ms":100}`},
		{"POST", "/workspaces/" + wsA + "/webhooks", `{"url":"https://x.example.com","events":["order.creatd"]}`},
		{"GET", hook, ""},
		{"PATCH", hook, `{"name":"n","active":false,"metadata":{"k":"v"}}`},
		{"POST", hook + "/test", `{"event":"order.created"}`},
		{"POST", hook + "/rotate-secret", `{"overlap_ms":1000}`},
		{"POST", hook + "/activate", ``},
		{"POST", hook + "/deactivate", `{"reason":"r"}`},
		{"POST", hook + "/recover", `{"since":"2020-01-01T00:00:00Z"}`},
		{"GET", hook + "/deliveries?state=failed&limit=1", ""},
		{"GET", hook + "/stats", ""},
		{"GET", "/workspaces/" + wsA + "/deliveries/" + ds[0].ID, ""},
		{"POST", "/workspaces/" + wsA + "/deliveries/" + ds[0].ID + "/redeliver", ""},
		{"GET", "/workspaces/" + wsB + "/stats", ""},
		{"DELETE", hook, ""},
		{"PUT", "/workspaces/%zz/webhooks//x/../y", "{"},
		{"GET", "/workspaces/" + wsA + "/deliveries?since=2020-01-01T00:00:00Z&until=x", "\x00"},
	} {
		f.Add(s.method, s.target, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			method = "GET"
		}
		p, rawQuery, _ := strings.Cut(target, "?")
		req := &http.Request{
			Method: method, URL: &url.URL{Path: "/" + strings.TrimPrefix(p, "/"), RawQuery: rawQuery},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		req = req.WithContext(context.Background())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		raw := rec.Body.Bytes()
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(token)) {
			t.Fatalf("%s %s: the answer shows the first webhook's secret or header value: %s", method, target, raw)
		}
		switch {
		case rec.Code == http.StatusNoContent:
			if method != "DELETE" || len(raw) != 0 {
				t.Fatalf("%s %s: 204 with %q", method, target, raw)
			}
			return
		case req.URL.Path == "/openapi.json" && rec.Code == http.StatusOK:
			return
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: %d with Content-Type %q: %s", method, target, rec.Code, ct, raw)
		}
		var env struct {
			Data  json.RawMessage `json:"data"`
			Error *struct {
				Code    string  `json:"code"`
				Message string  `json:"message"`
				Field   *string `json:"field"`
			} `json:"error"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&env); err != nil {
			t.Fatalf("%s %s: %d: not the envelope (%v): %s", method, target, rec.Code, err, raw)
		}
		if env.Error != nil {
			if rec.Code < 400 || env.Error.Code == "" || env.Error.Message == "" || string(env.Data) != "null" {
				t.Fatalf("%s %s: %d with error %s", method, target, rec.Code, raw)
			}
			if rec.Code == http.StatusInternalServerError {
				t.Fatalf("%s %s: internal error: %s", method, target, raw)
			}
		} else if rec.Code >= 300 || len(env.Data) == 0 || string(env.Data) == "null" {
			t.Fatalf("%s %s: %d without error or data: %s", method, target, rec.Code, raw)
		}
	})
}
