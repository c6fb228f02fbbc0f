package portal

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/store"
)

// mountPrefix is where the tests mount the portal, as an application would.
const mountPrefix = "/admin/webhooks/"

// wsHeader carries the workspace of a test request to the WithAuth hook of testEnv.
const wsHeader = "X-Test-Workspace"

// testEnv is an application with the portal mounted under mountPrefix, a dispatcher on a
// memory store, and a receiver the webhooks deliver to.
type testEnv struct {
	t        *testing.T
	d        *webhook.Dispatcher
	app      *httptest.Server
	base     string // app.URL + mountPrefix
	recv     *receiver
	linker   *Linker
	attempts chan webhook.AttemptResult
}

type envConfig struct {
	attempts   int // MaxAttempts of the retry policy; 0 keeps the default
	noAuth     bool
	transport  http.RoundTripper
	linkerOpts []LinkerOption
	portalOpts []Option
}

// withLinkerOptions gives the env's Linker these options.
func withLinkerOptions(opts ...LinkerOption) envOption {
	return func(c *envConfig) { c.linkerOpts = append(c.linkerOpts, opts...) }
}

// withPortalOptions gives the portal these options too.
func withPortalOptions(opts ...Option) envOption {
	return func(c *envConfig) { c.portalOpts = append(c.portalOpts, opts...) }
}

// withTransport sends the webhooks through rt instead of the network.
func withTransport(rt http.RoundTripper) envOption {
	return func(c *envConfig) { c.transport = rt }
}

type envOption func(*envConfig)

// oneAttempt makes deliveries give up after their first failed attempt, so that a test
// gets failed deliveries without waiting for the schedule.
func oneAttempt(c *envConfig) { c.attempts = 1 }

// noAuth mounts the portal without WithAuth or WithLinker.
func noAuth(c *envConfig) { c.noAuth = true }

func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	var cfg envConfig
	for _, o := range opts {
		o(&cfg)
	}
	e := &testEnv{t: t, recv: newReceiver(t), attempts: make(chan webhook.AttemptResult, 1000)}
	policy := webhook.DefaultRetryPolicy()
	policy.Timeout = 10 * time.Second
	if cfg.attempts > 0 {
		policy.MaxAttempts = cfg.attempts
	}
	dopts := []webhook.Option{
		webhook.AllowPrivateNetworks(),
		webhook.WithRetryPolicy(policy),
		webhook.WithObserver(func(r webhook.AttemptResult) { e.attempts <- r }),
	}
	if cfg.transport != nil {
		dopts = append(dopts, webhook.WithHTTPClient(&http.Client{Transport: cfg.transport}))
	}
	d, err := webhook.New(store.NewMemory(), dopts...)
	require.NoError(t, err)
	e.d = d
	t.Cleanup(func() { _ = d.Close(context.Background()) })

	mux := http.NewServeMux()
	e.app = httptest.NewServer(mux)
	t.Cleanup(e.app.Close)
	e.base = e.app.URL + mountPrefix
	e.linker, err = NewLinker(mountPrefix, bytes.Repeat([]byte("k"), MinKeyBytes), cfg.linkerOpts...)
	require.NoError(t, err)
	popts := cfg.portalOpts
	if !cfg.noAuth {
		popts = append(popts, WithLinker(e.linker), WithAuth(func(r *http.Request) (string, error) {
			ws, ok := r.Header[wsHeader]
			if !ok {
				return "", errNoTestWorkspace
			}
			return ws[0], nil
		}))
	}
	mux.Handle(mountPrefix, http.StripPrefix(strings.TrimSuffix(mountPrefix, "/"), New(d, popts...)))
	return e
}

var errNoTestWorkspace = &webhook.ValidationError{Field: wsHeader, Reason: "is missing"}

// response is an answer of the portal, read whole.
type response struct {
	Status   int
	Header   http.Header
	Body     string
	URL      *url.URL // what was asked for
	Location *url.URL // a redirect's target, resolved
}

// do sends a request in workspace ws ("-" for none) and follows no redirect.
func (e *testEnv) do(ws, method, path string, form url.Values, hdr ...string) response {
	e.t.Helper()
	u, err := url.Parse(e.base)
	require.NoError(e.t, err)
	u, err = u.Parse(path)
	require.NoError(e.t, err)
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.String(), body)
	require.NoError(e.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if ws != "-" {
		req.Header.Set(wsHeader, ws)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: string(b), URL: u}
	if loc := resp.Header.Get("Location"); loc != "" {
		r.Location, err = u.Parse(loc)
		require.NoError(e.t, err)
	}
	return r
}

func (e *testEnv) get(ws, path string) response { e.t.Helper(); return e.do(ws, "GET", path, nil) }

func (e *testEnv) post(ws, path string, form url.Values) response {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return e.do(ws, "POST", path, form)
}

// subscribe creates a webhook directly through the dispatcher.
func (e *testEnv) subscribe(ws, name string, events ...string) webhook.Subscription {
	e.t.Helper()
	if len(events) == 0 {
		events = []string{"order.created"}
	}
	sub, err := e.d.Subscribe(context.Background(), webhook.Subscription{
		Workspace: ws, Name: name, URL: e.recv.srv.URL + "/hooks/" + url.PathEscape(name), Events: events,
		Secret: webhook.NewSecret(), Headers: map[string]string{"X-Api-Key": "hdr-value-" + name},
	})
	require.NoError(e.t, err)
	return sub
}

// deliveredToTheLimit creates a webhook in ws and a delivery of it that holds
// MaxDeliveryAttempts attempts (redelivered until then), and returns both.
func (e *testEnv) deliveredToTheLimit(ws, name string) (webhook.Subscription, string) {
	e.t.Helper()
	ctx := context.Background()
	sub := e.subscribe(ws, name)
	_, err := e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_1"}, webhook.InWorkspace(ws))
	require.NoError(e.t, err)
	del := e.waitAttempt(sub.ID).DeliveryID
	for range webhook.MaxDeliveryAttempts - 1 {
		require.NoError(e.t, e.d.Redeliver(ctx, del))
		e.waitAttempt(sub.ID)
	}
	return sub, del
}

// waitAttempt waits for the next recorded attempt of the subscription.
func (e *testEnv) waitAttempt(subID string) webhook.AttemptResult {
	e.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case r := <-e.attempts:
			if r.SubscriptionID == subID && !r.Attempt.Test {
				return r
			}
		case <-timeout:
			e.t.Fatalf("no attempt of %s was recorded", subID)
		}
	}
}

// receiver is the merchant's endpoint: it answers with the configured status and body,
// and keeps what it got.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status int
	body   string
	got    []receivedRequest
}

type receivedRequest struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK, body: `{"received":true}`}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, receivedRequest{Path: req.URL.Path, Header: req.Header.Clone(), Body: b})
		status, body := r.status, r.body
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) answer(status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.body = status, body
}

func (r *receiver) requests() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.got...)
}
