package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/api"
	"github.com/shophooks/webhook/store"
)

// The workspaces of the tests. Every request carries the key of its workspace in the
// X-Test-Key header: "key-<workspace>"; "forbidden" gets ErrForbidden.
const (
	wsA = "shop_a"
	wsB = "shop_b"
)

// testAuth is the auth function of the tests: the key must be that of the path's
// workspace; the routes without a workspace take any key.
func testAuth(r *http.Request, ws string) error {
	key := r.Header.Get("X-Test-Key")
	switch {
	case key == "":
		return errors.New("no key: secret detail the caller must not see")
	case key == "forbidden":
		return api.ErrForbidden
	case ws != "" && key != "key-"+ws:
		return api.ErrForbidden
	}
	return nil
}

// receiver is a local webhook endpoint: it records what it gets and answers with the
// status set last (200 at first). While hold is set, requests wait for it to be closed.
type receiver struct {
	srv *httptest.Server
	got chan receivedHook

	mu     sync.Mutex
	status int
	hold   chan struct{}
}

type receivedHook struct {
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{got: make(chan receivedHook, 100), status: http.StatusOK}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status, hold := rc.status, rc.hold
		rc.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
		select {
		case rc.got <- receivedHook{r.Header.Clone(), body}:
		default:
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "answer "+http.StatusText(status))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) answer(status int) {
	rc.mu.Lock()
	rc.status = status
	rc.mu.Unlock()
}

// holdRequests makes requests wait until the returned function is called.
func (rc *receiver) holdRequests() (release func()) {
	ch := make(chan struct{})
	rc.mu.Lock()
	rc.hold = ch
	rc.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			rc.mu.Lock()
			rc.hold = nil
			rc.mu.Unlock()
			close(ch)
		})
	}
}

// next waits for the next request the receiver gets.
func (rc *receiver) next(t *testing.T) receivedHook {
	t.Helper()
	select {
	case h := <-rc.got:
		return h
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook arrived")
		return receivedHook{}
	}
}

// env is a dispatcher on a memory store, its API served by httptest, and a receiver.
// Every request of the suite goes through a transport that validates it and its answer
// against the OpenAPI document.
type env struct {
	t    *testing.T
	d    *webhook.Dispatcher
	srv  *httptest.Server
	rc   *receiver
	http *http.Client
}

func newEnv(t *testing.T, opts ...webhook.Option) *env {
	t.Helper()
	e := &env{t: t, rc: newReceiver(t)}
	opts = append([]webhook.Option{webhook.AllowPrivateNetworks()}, opts...)
	d, err := webhook.New(store.NewMemory(), opts...)
	require.NoError(t, err)
	e.d = d
	e.srv = httptest.NewServer(api.New(d, api.WithAuth(testAuth)))
	e.http = &http.Client{Transport: &validatingTransport{t: t, base: http.DefaultTransport}}
	t.Cleanup(func() {
		e.srv.Close()
		require.NoError(t, d.Close(context.Background()))
	})
	return e
}

// answer is an API answer, decoded.
type answer struct {
	Status int
	Header http.Header
	Raw    string
	Data   json.RawMessage
	Error  *struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Field   *string `json:"field"`
	}
}

// field is the error's field, "" when null.
func (a answer) field() string {
	if a.Error == nil || a.Error.Field == nil {
		return ""
	}
	return *a.Error.Field
}

// into decodes data into v.
func (a answer) into(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.Data, v), a.Raw)
}

// object decodes data as a JSON object.
func (a answer) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	a.into(t, &m)
	return m
}

// do sends a request with the key of ws (the workspace of the path) and returns the
// answer; every answer but a 204 must be the envelope.
func (e *env) do(method, path, body string) answer {
	e.t.Helper()
	ws := ""
	if rest, ok := strings.CutPrefix(path, "/workspaces/"); ok {
		ws, _, _ = strings.Cut(rest, "/")
	}
	return e.doKey(method, path, body, "key-"+ws)
}

func (e *env) doKey(method, path, body, key string) answer {
	e.t.Helper()
	return e.doReq(method, path, body, http.Header{"X-Test-Key": {key}})
}

func (e *env) doReq(method, path, body string, h http.Header) answer {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if resp.StatusCode == http.StatusNoContent {
		assert.Empty(e.t, raw, "a 204 has no body")
		return a
	}
	if path == "/openapi.json" && resp.StatusCode == http.StatusOK {
		return a
	}
	assert.Equal(e.t, "application/json", resp.Header.Get("Content-Type"), "%s %s", method, path)
	var env map[string]json.RawMessage
	require.NoError(e.t, json.Unmarshal(raw, &env), "%s %s: not JSON: %s", method, path, raw)
	assert.Len(e.t, env, 2, "the envelope has data and error only: %s", raw)
	require.Contains(e.t, env, "data", string(raw))
	require.Contains(e.t, env, "error", string(raw))
	a.Data = env["data"]
	if string(env["error"]) != "null" {
		require.NoError(e.t, json.Unmarshal(env["error"], &a.Error))
		assert.Equal(e.t, "null", string(env["data"]), "a failed answer has no data")
		assert.GreaterOrEqual(e.t, resp.StatusCode, 400)
		assert.NotEmpty(e.t, a.Error.Code)
		assert.NotEmpty(e.t, a.Error.Message)
	} else {
		assert.Less(e.t, resp.StatusCode, 300, "a successful answer: %s", raw)
	}
	return a
}

// ok checks a successful answer's status.
func (e *env) ok(a answer, status int) answer {
	e.t.Helper()
	require.Equal(e.t, status, a.Status, a.Raw)
	return a
}

// refused checks a failed answer's status, code and field.
func (e *env) refused(a answer, status int, code, field string) {
	e.t.Helper()
	require.Equal(e.t, status, a.Status, a.Raw)
	require.NotNil(e.t, a.Error, a.Raw)
	assert.Equal(e.t, code, a.Error.Code, a.Raw)
	assert.Equal(e.t, field, a.field(), a.Raw)
}

// create makes a webhook in ws to the receiver, with extra JSON fields, and returns its
// ID and secret.
func (e *env) create(ws, events, extra string) (id, secret string) {
	e.t.Helper()
	body := `{"name":"ERP","url":"` + e.rc.srv.URL + `/hooks","events":` + events + extra + `}`
	a := e.ok(e.do("POST", "/workspaces/"+ws+"/webhooks", body), http.StatusCreated)
	m := a.object(e.t)
	return m["id"].(string), m["secret"].(string)
}

// emit emits an event in ws.
func (e *env) emit(ws, typ string) webhook.Event {
	e.t.Helper()
	ev, err := e.d.Emit(context.Background(), typ, map[string]any{"id": "ord_1"}, webhook.InWorkspace(ws))
	require.NoError(e.t, err)
	return ev
}

// deliveryOf waits until the delivery of event ev to webhook id is in state, and
// returns it as the API shows it.
func (e *env) deliveryOf(ws, id, eventID, state string) map[string]any {
	e.t.Helper()
	var found map[string]any
	require.Eventually(e.t, func() bool {
		a := e.do("GET", "/workspaces/"+ws+"/deliveries?event_id="+eventID+"&webhook_id="+id, "")
		if a.Status != http.StatusOK {
			return false
		}
		var ds []map[string]any
		a.into(e.t, &ds)
		if len(ds) != 1 || ds[0]["state"] != state {
			return false
		}
		found = ds[0]
		return true
	}, 10*time.Second, 5*time.Millisecond, "delivery of %s to %s never %s", eventID, id, state)
	return found
}

// The OpenAPI document, loaded and checked once.
var openAPI = sync.OnceValues(func() (*openAPIDoc, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &openAPIDoc{doc: doc, router: router}, nil
})

type openAPIDoc struct {
	doc    *openapi3.T
	router routers.Router
}

// validatingTransport checks every request of the suite and its answer against the
// OpenAPI document: an answer against the operation's responses (its status must be
// documented), a request that succeeded against the operation's parameters and body,
// and an answer of a route the document does not have (404, 405) against the error
// envelope.
type validatingTransport struct {
	t    *testing.T
	base http.RoundTripper
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := validateExchange(req, reqBody, resp, respBody); err != nil {
		v.t.Errorf("OpenAPI: %s %s -> %d: %v\nanswer: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, err, truncate(respBody))
	}
	return resp, nil
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// validateExchange validates one request and its answer against the document.
func validateExchange(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	oa, err := openAPI()
	if err != nil {
		return err
	}
	ctx := context.Background()
	vreq := req.Clone(ctx)
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := oa.router.FindRoute(vreq)
	if err != nil {
		// Not a route of the document: the answer must be a documented error.
		if resp.StatusCode < 400 {
			return errors.New("a route missing from the document answered success")
		}
		return validateSchema(oa, "ErrorEnvelope", respBody)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if resp.StatusCode < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return errors.Join(errors.New("the request, which succeeded, does not match the document"), err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts,
	}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return errors.Join(errors.New("the answer does not match the document"), err)
	}
	return nil
}

// validateSchema validates a JSON document against a schema of the components.
func validateSchema(oa *openAPIDoc, name string, raw []byte) error {
	ref := oa.doc.Components.Schemas[name]
	if ref == nil {
		return errors.New("no schema " + name)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	return ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}
