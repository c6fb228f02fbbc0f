package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// These tests run the dispatcher against real servers on loopback (and only loopback),
// in real time, with a short attempt timeout. They wait for attempts through the
// observer, never by sleeping.

// safetyTimeout is the attempt timeout of these tests.
const safetyTimeout = 300 * time.Millisecond

// safetyWait bounds every wait: far longer than anything should take.
const safetyWait = 10 * time.Second

// safetyEnv is a dispatcher on a memory store whose observer feeds a channel.
type safetyEnv struct {
	t       *testing.T
	ctx     context.Context
	st      *store.Memory
	d       *webhook.Dispatcher
	policy  webhook.RetryPolicy
	results chan webhook.AttemptResult
}

// newSafetyEnv starts a dispatcher on st (a new memory store when nil) with the short
// timeout and opts, and closes it when the test ends.
func newSafetyEnv(t *testing.T, st *store.Memory, opts ...webhook.Option) *safetyEnv {
	t.Helper()
	return newSafetyEnvTimeout(t, st, safetyTimeout, opts...)
}

// newSafetyEnvTimeout is newSafetyEnv with another attempt timeout.
func newSafetyEnvTimeout(t *testing.T, st *store.Memory, timeout time.Duration, opts ...webhook.Option) *safetyEnv {
	t.Helper()
	if st == nil {
		st = store.NewMemory()
	}
	p := webhook.DefaultRetryPolicy()
	p.Timeout = timeout
	e := &safetyEnv{t: t, ctx: context.Background(), st: st, policy: p, results: make(chan webhook.AttemptResult, 256)}
	opts = append([]webhook.Option{
		webhook.WithRetryPolicy(p),
		webhook.WithObserver(func(r webhook.AttemptResult) {
			select {
			case e.results <- r:
			default: // never block a worker; a test that floods the channel fails anyway
			}
		}),
	}, opts...)
	d, err := webhook.New(st, opts...)
	require.NoError(t, err)
	e.d = d
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), safetyWait)
		defer cancel()
		assert.NoError(t, d.Close(ctx))
	})
	return e
}

// subscribe subscribes url to events (order.created when none are named).
func (e *safetyEnv) subscribe(url string, events ...string) webhook.Subscription {
	e.t.Helper()
	if len(events) == 0 {
		events = []string{eventtypes.OrderCreated}
	}
	sub, err := e.d.Subscribe(e.ctx, webhook.Subscription{Name: "safety", URL: url, Events: events, Secret: webhook.NewSecret()})
	require.NoError(e.t, err)
	return sub
}

func (e *safetyEnv) emit(typ string) webhook.Event {
	e.t.Helper()
	ev, err := e.d.Emit(e.ctx, typ, map[string]any{"id": "ord_1", "total": "12.50"})
	require.NoError(e.t, err)
	return ev
}

// next waits for the next attempt.
func (e *safetyEnv) next() webhook.AttemptResult {
	e.t.Helper()
	select {
	case r := <-e.results:
		return r
	case <-time.After(safetyWait):
		e.t.Fatalf("no attempt within %s", safetyWait)
		return webhook.AttemptResult{}
	}
}

// attempt emits typ and waits for the attempt of the one subscription it is for.
func (e *safetyEnv) attempt(sub webhook.Subscription, typ string) webhook.AttemptResult {
	e.t.Helper()
	ev := e.emit(typ)
	r := e.next()
	require.Equal(e.t, sub.ID, r.SubscriptionID)
	require.Equal(e.t, ev.ID, r.EventID)
	return r
}

// delivery returns the only delivery of an event, from the delivery log.
func (e *safetyEnv) delivery(eventID string) webhook.Delivery {
	e.t.Helper()
	ds, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{EventID: eventID})
	require.NoError(e.t, err)
	require.Len(e.t, ds, 1)
	return ds[0]
}

// requireHealthy shows that the dispatcher still works: a delivery of order.updated to a
// well-behaved server succeeds.
func (e *safetyEnv) requireHealthy() {
	e.t.Helper()
	good := startSafetyServer(e.t, "tcp4", "127.0.0.1:0", nil)
	sub := e.subscribe(good.URL+"/good", eventtypes.OrderUpdated)
	r := e.attempt(sub, eventtypes.OrderUpdated)
	assert.Equal(e.t, webhook.OutcomeSucceeded, r.Attempt.Outcome, "after a hostile endpoint: %s", r.Attempt.Error)
	assert.Equal(e.t, webhook.DeliverySucceeded, r.State)
	assert.EqualValues(e.t, 1, good.requests.Load())
}

// requireSafetyRetry checks that a failed attempt is retried like any other: the delivery is
// pending, due again 60 s after the attempt was sent.
func requireSafetyRetry(t *testing.T, r webhook.AttemptResult) {
	t.Helper()
	assert.Equal(t, webhook.OutcomeRetry, r.Attempt.Outcome)
	assert.Equal(t, webhook.DeliveryPending, r.State)
	assert.True(t, r.NextAttemptAt.Equal(r.Attempt.SentAt.Add(60*time.Second)),
		"next attempt at %v, sent at %v", r.NextAttemptAt, r.Attempt.SentAt)
}

// safetyServer is an httptest server that counts connections and requests.
type safetyServer struct {
	*httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
}

// newSafetyServer serves h (200 "ok" when nil) on a listener of network at addr; it skips
// the test when that address cannot be listened on (no IPv6, say).
func newSafetyServer(t *testing.T, network, addr string, h http.HandlerFunc) *safetyServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }
	}
	s := &safetyServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		h(w, r)
	}))
	s.Listener.Close()
	s.Listener = ln
	s.Config.ConnState = func(_ net.Conn, cs http.ConnState) {
		if cs == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected
	return s
}

func (s *safetyServer) start(t *testing.T) *safetyServer {
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// startSafetyServer is newSafetyServer, started.
func startSafetyServer(t *testing.T, network, addr string, h http.HandlerFunc) *safetyServer {
	t.Helper()
	return newSafetyServer(t, network, addr, h).start(t)
}

func safetyPort(t *testing.T, ln net.Listener) string {
	t.Helper()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// safetyRawServer is a TCP listener on 127.0.0.1 that runs serve on every connection it
// accepts, for endpoints that do not speak proper HTTP. ended gets a value each time serve
// returns.
type safetyRawServer struct {
	ln      net.Listener
	URL     string
	accepts atomic.Int64
	ended   chan struct{}
}

func newSafetyRawServer(t *testing.T, serve func(c net.Conn)) *safetyRawServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	s := &safetyRawServer{ln: ln, URL: "http://" + ln.Addr().String(), ended: make(chan struct{}, 64)}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
				safetySignal(s.ended)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// safetySignal sends on ch without blocking: a misbehaving dispatcher must not hang a server.
func safetySignal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// safetyWaitSignal waits for a value on ch, at most safetyWait.
func safetyWaitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(safetyWait):
		t.Fatalf("%s: not within %s", what, safetyWait)
	}
}

// safetyReadRequest reads one HTTP request from c with its body.
func safetyReadRequest(c net.Conn) error {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err
}

func TestSafetyGuardRefusesLoopback(t *testing.T) {
	tests := []struct {
		name    string
		network string
		listen  string
		url     func(p string) string
	}{
		{"IPv4 literal", "tcp4", "127.0.0.1:0", func(p string) string { return "http://127.0.0.1:" + p + "/hook" }},
		{"IPv6 literal", "tcp6", "[::1]:0", func(p string) string { return "http://[::1]:" + p + "/hook" }},
		{"localhost", "tcp4", "127.0.0.1:0", func(p string) string { return "http://localhost:" + p + "/hook" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSafetyServer(t, tt.network, tt.listen, nil)
			url := tt.url(safetyPort(t, srv.Listener))

			t.Run("refused by default", func(t *testing.T) {
				e := newSafetyEnv(t, nil)
				sub := e.subscribe(url)
				r := e.attempt(sub, eventtypes.OrderCreated)
				a := r.Attempt
				assert.Equal(t, webhook.ErrorRefused, a.ErrorKind, "error: %s", a.Error)
				assert.Contains(t, a.Error, "destination refused")
				assert.Contains(t, a.Error, "(loopback)")
				assert.NotContains(t, a.Error, "dial tcp", "the dial's wording repeats the address")
				if tt.name == "localhost" {
					assert.NotContains(t, a.Error, "127.0.0.1", "the log tells a merchant what a name resolves to")
				}
				assert.Zero(t, a.StatusCode)
				requireSafetyRetry(t, r)
				assert.Zero(t, srv.conns.Load(), "connections reached the server")
				assert.Zero(t, srv.requests.Load(), "requests reached the server")

				del := e.delivery(r.EventID)
				require.Len(t, del.Attempts, 1)
				assert.Equal(t, webhook.ErrorRefused, del.Attempts[0].ErrorKind)
				assert.Equal(t, a.Error, del.Attempts[0].Error)
			})
			t.Run("delivered with AllowPrivateNetworks", func(t *testing.T) {
				before := srv.requests.Load()
				e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
				sub := e.subscribe(url)
				r := e.attempt(sub, eventtypes.OrderCreated)
				assert.Equal(t, webhook.OutcomeSucceeded, r.Attempt.Outcome, "error: %s", r.Attempt.Error)
				assert.Equal(t, 200, r.Attempt.StatusCode)
				assert.Equal(t, "ok", r.Attempt.ResponseBody)
				assert.Equal(t, webhook.DeliverySucceeded, r.State)
				assert.Equal(t, before+1, srv.requests.Load())
			})
		})
	}
}

func TestSafetyRequireHTTPS(t *testing.T) {
	t.Run("at Subscribe", func(t *testing.T) {
		e := newSafetyEnv(t, nil, webhook.RequireHTTPS())
		_, err := e.d.Subscribe(e.ctx, webhook.Subscription{
			URL: "http://hooks.example.com/in?token=qs-secret", Events: []string{eventtypes.OrderCreated},
		})
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.ErrorIs(t, err, webhook.ErrInvalid)
		assert.Equal(t, "URL", ve.Field)
		assert.NotContains(t, err.Error(), "qs-secret", "a query may carry a token")

		_, err = e.d.Subscribe(e.ctx, webhook.Subscription{
			URL: "https://hooks.example.com/in", Events: []string{eventtypes.OrderCreated},
		})
		assert.NoError(t, err)
	})

	t.Run("at send", func(t *testing.T) {
		srv := startSafetyServer(t, "tcp4", "127.0.0.1:0", nil)
		st := store.NewMemory()
		// Stored by a dispatcher without the option...
		old, err := webhook.New(st, webhook.AllowPrivateNetworks())
		require.NoError(t, err)
		sub, err := old.Subscribe(context.Background(), webhook.Subscription{
			URL: srv.URL + "/hook", Events: []string{eventtypes.OrderCreated}, Secret: webhook.NewSecret(),
		})
		require.NoError(t, err)
		require.NoError(t, old.Close(context.Background()))

		// ...and sent by one with it. Private networks are allowed, so that the refusal
		// can only come from RequireHTTPS.
		e := newSafetyEnv(t, st, webhook.RequireHTTPS(), webhook.AllowPrivateNetworks())
		r := e.attempt(sub, eventtypes.OrderCreated)
		assert.Equal(t, webhook.ErrorRefused, r.Attempt.ErrorKind, "error: %s", r.Attempt.Error)
		assert.Contains(t, r.Attempt.Error, "https")
		assert.Zero(t, r.Attempt.StatusCode)
		requireSafetyRetry(t, r)
		assert.Zero(t, srv.conns.Load(), "connections reached the server")
		assert.Zero(t, srv.requests.Load(), "requests reached the server")
	})
}

func TestHostileEndpoints(t *testing.T) {
	t.Run("slow drip", func(t *testing.T) {
		hungUp := make(chan struct{}, 1)
		srv := startSafetyServer(t, "tcp4", "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
			defer safetySignal(hungUp)
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			_ = rc.Flush()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
					if _, err := w.Write([]byte("x")); err != nil {
						return
					}
					if err := rc.Flush(); err != nil {
						return
					}
				}
			}
		})
		e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
		sub := e.subscribe(srv.URL + "/drip")
		r := e.attempt(sub, eventtypes.OrderCreated)
		a := r.Attempt
		assert.Equal(t, webhook.ErrorTimeout, a.ErrorKind, "error: %s", a.Error)
		assert.Contains(t, a.Error, "timeout")
		assert.GreaterOrEqual(t, a.Duration, safetyTimeout-50*time.Millisecond)
		assert.Less(t, a.Duration, safetyTimeout+time.Second)
		requireSafetyRetry(t, r)
		safetyWaitSignal(t, hungUp, "the dispatcher hangs up on the drip")

		e.requireHealthy()
		assert.Len(t, e.delivery(r.EventID).Attempts, 1)
		assert.EqualValues(t, 1, srv.requests.Load())
	})

	// endless answers status with a body that never ends, as fast as the client reads it.
	endless := func(status int, hungUp chan<- struct{}) http.HandlerFunc {
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB
		return func(w http.ResponseWriter, r *http.Request) {
			defer safetySignal(hungUp)
			w.WriteHeader(status)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}
	}

	t.Run("endless body with 500", func(t *testing.T) {
		hungUp := make(chan struct{}, 1)
		srv := startSafetyServer(t, "tcp4", "127.0.0.1:0", endless(http.StatusInternalServerError, hungUp))
		e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
		sub := e.subscribe(srv.URL + "/endless")
		r := e.attempt(sub, eventtypes.OrderCreated)
		a := r.Attempt
		assert.Equal(t, webhook.ErrorServer, a.ErrorKind, "error: %s", a.Error)
		assert.Equal(t, 500, a.StatusCode)
		assert.Less(t, a.Duration, safetyTimeout, "the body limit ends the attempt, not the timeout")
		assert.LessOrEqual(t, len(a.ResponseBody), e.policy.LogBytes)
		assert.True(t, strings.HasPrefix(a.ResponseBody, "0123456789abcdef"), "the start of the body is logged")
		requireSafetyRetry(t, r)
		safetyWaitSignal(t, hungUp, "the dispatcher closes the connection")

		e.requireHealthy()
		assert.Len(t, e.delivery(r.EventID).Attempts, 1)
		assert.EqualValues(t, 1, srv.requests.Load())
	})

	t.Run("endless body with 200", func(t *testing.T) {
		hungUp := make(chan struct{}, 1)
		srv := startSafetyServer(t, "tcp4", "127.0.0.1:0", endless(http.StatusOK, hungUp))
		// The dispatcher's own transport, with a dialer that counts what is read.
		var read atomic.Int64
		tr := webhook.NewTransport(true)
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &safetyCountingConn{Conn: c, read: &read}, nil
		}
		t.Cleanup(tr.CloseIdleConnections)
		e := newSafetyEnv(t, nil, webhook.WithHTTPClient(&http.Client{Transport: tr}), webhook.AllowPrivateNetworks())
		sub := e.subscribe(srv.URL + "/endless")
		r := e.attempt(sub, eventtypes.OrderCreated)
		a := r.Attempt
		assert.Equal(t, webhook.OutcomeSucceeded, a.Outcome, "error: %s", a.Error)
		assert.Equal(t, webhook.DeliverySucceeded, r.State)
		assert.Less(t, a.Duration, safetyTimeout)
		assert.LessOrEqual(t, len(a.ResponseBody), e.policy.LogBytes)
		safetyWaitSignal(t, hungUp, "the dispatcher closes the connection")
		// 64 KiB of body, plus the headers, the chunk framing and one read buffer.
		assert.GreaterOrEqual(t, read.Load(), int64(e.policy.ScanBytes))
		assert.Less(t, read.Load(), int64(e.policy.ScanBytes+16<<10), "bytes read from the endpoint")

		e.requireHealthy()
		assert.EqualValues(t, 1, srv.requests.Load())
	})

	t.Run("huge response headers", func(t *testing.T) {
		srv := newSafetyRawServer(t, func(c net.Conn) {
			if safetyReadRequest(c) != nil {
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Huge: "); err != nil {
				return
			}
			chunk := bytes.Repeat([]byte("a"), 32<<10)
			for range 32 { // 1 MiB in one header
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
			_, _ = io.WriteString(c, "\r\n\r\n")
		})
		e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
		sub := e.subscribe(srv.URL + "/huge")
		r := e.attempt(sub, eventtypes.OrderCreated)
		a := r.Attempt
		t.Logf("huge headers: kind %q, error %q", a.ErrorKind, a.Error)
		assert.Contains(t, []webhook.ErrorKind{webhook.ErrorConnection, webhook.ErrorOther}, a.ErrorKind)
		assert.Contains(t, a.Error, "header")
		assert.Zero(t, a.StatusCode)
		assert.Less(t, a.Duration, safetyTimeout, "the header limit ends the attempt, not the timeout")
		requireSafetyRetry(t, r)

		e.requireHealthy()
		assert.Len(t, e.delivery(r.EventID).Attempts, 1)
		assert.EqualValues(t, 1, srv.accepts.Load())
	})

	t.Run("TLS failure", func(t *testing.T) {
		srv := newSafetyServer(t, "tcp4", "127.0.0.1:0", nil)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		// The dispatcher's own transport trusts the system roots, not the test server's.
		// A handshake under the race detector on a busy machine may take longer than the
		// short timeout: this is about the certificate, not the clock.
		e := newSafetyEnvTimeout(t, nil, 5*time.Second, webhook.AllowPrivateNetworks())
		sub := e.subscribe(srv.URL + "/tls")
		r := e.attempt(sub, eventtypes.OrderCreated)
		a := r.Attempt
		assert.Equal(t, webhook.ErrorTLS, a.ErrorKind, "error: %s", a.Error)
		assert.Contains(t, a.Error, "certificate")
		assert.Zero(t, a.StatusCode)
		requireSafetyRetry(t, r)
		assert.Zero(t, srv.requests.Load(), "no request is sent over an untrusted connection")

		e.requireHealthy()
		assert.Len(t, e.delivery(r.EventID).Attempts, 1)
	})

	for _, tc := range []struct {
		name   string
		linger bool
	}{{"connection reset", true}, {"connection closed", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSafetyRawServer(t, func(c net.Conn) {
				if tc.linger {
					_ = c.(*net.TCPConn).SetLinger(0) // Close sends RST
				}
			})
			e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
			sub := e.subscribe(srv.URL + "/reset")
			r := e.attempt(sub, eventtypes.OrderCreated)
			a := r.Attempt
			t.Logf("%s: error %q", tc.name, a.Error)
			assert.Equal(t, webhook.ErrorConnection, a.ErrorKind, "error: %s", a.Error)
			assert.NotEmpty(t, a.Error)
			assert.Zero(t, a.StatusCode)
			assert.Less(t, a.Duration, safetyTimeout)
			requireSafetyRetry(t, r)

			e.requireHealthy()
			assert.Len(t, e.delivery(r.EventID).Attempts, 1)
			assert.EqualValues(t, 1, srv.accepts.Load(), "a POST is not retried on a new connection")
		})
	}

	// An unasked-for 101 Switching Protocols hands the raw connection over as the body,
	// which no timeout watches: the attempt must fail at once and hang up, whichever client.
	for _, client := range []struct {
		name string
		opts []webhook.Option
	}{
		{"own transport", nil},
		{"application's client", []webhook.Option{webhook.WithHTTPClient(&http.Client{})}},
	} {
		t.Run("switches protocols, "+client.name, func(t *testing.T) {
			srv := newSafetyRawServer(t, func(c net.Conn) {
				if safetyReadRequest(c) != nil {
					return
				}
				if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"); err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, c) // say nothing more, until hung up on
			})
			e := newSafetyEnv(t, nil, append([]webhook.Option{webhook.AllowPrivateNetworks()}, client.opts...)...)
			sub := e.subscribe(srv.URL + "/upgrade")
			r := e.attempt(sub, eventtypes.OrderCreated)
			a := r.Attempt
			assert.Contains(t, a.Error, "switched protocols")
			assert.Contains(t, a.Error, "101")
			assert.Zero(t, a.StatusCode)
			assert.Less(t, a.Duration, safetyTimeout, "the 101 ends the attempt, not the timeout")
			requireSafetyRetry(t, r)
			safetyWaitSignal(t, srv.ended, "the dispatcher hangs up on the switched connection")
			e.requireHealthy()

			report, err := e.d.Test(e.ctx, sub.ID) // Send Test, which waits for its answer
			require.NoError(t, err)
			require.Len(t, report.Tests, 1)
			assert.Contains(t, report.Tests[0].Error, "switched protocols")
		})
	}

	t.Run("never answers", func(t *testing.T) {
		srv := newSafetyRawServer(t, func(c net.Conn) {
			_, _ = io.Copy(io.Discard, c) // read everything, answer nothing, until hung up on
		})
		e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
		sub := e.subscribe(srv.URL + "/silent")
		r := e.attempt(sub, eventtypes.OrderCreated)
		a := r.Attempt
		assert.Equal(t, webhook.ErrorTimeout, a.ErrorKind, "error: %s", a.Error)
		assert.Contains(t, a.Error, "timeout")
		assert.GreaterOrEqual(t, a.Duration, safetyTimeout-50*time.Millisecond)
		assert.Less(t, a.Duration, safetyTimeout+time.Second)
		assert.Zero(t, a.StatusCode)
		requireSafetyRetry(t, r)
		safetyWaitSignal(t, srv.ended, "the dispatcher hangs up on the silent endpoint")

		e.requireHealthy()
		assert.Len(t, e.delivery(r.EventID).Attempts, 1)
		assert.EqualValues(t, 1, srv.accepts.Load())
	})
}

// TestHostileBinaryBodyExcerptWithinLogBytes: an endpoint answering invalid UTF-8 must not
// make the response body kept in the delivery log longer than LogBytes. excerpt cuts the
// body at LogBytes bytes and then replaces each invalid byte with U+FFFD (3 bytes), so the
// kept text can grow to about 3 x LogBytes.
func TestHostileBinaryBodyExcerptWithinLogBytes(t *testing.T) {
	hungUp := make(chan struct{}, 1)
	srv := startSafetyServer(t, "tcp4", "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		defer safetySignal(hungUp)
		w.WriteHeader(http.StatusInternalServerError)
		chunk := bytes.Repeat([]byte("a\xff"), 16<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
	sub := e.subscribe(srv.URL + "/binary")
	r := e.attempt(sub, eventtypes.OrderCreated)
	a := r.Attempt
	assert.Equal(t, webhook.ErrorServer, a.ErrorKind, "error: %s", a.Error)
	assert.True(t, utf8.ValidString(a.ResponseBody))
	assert.True(t, strings.HasPrefix(a.ResponseBody, "a\uFFFDa"), "the start of the body is kept")
	assert.LessOrEqual(t, len(a.ResponseBody), e.policy.LogBytes, "bytes of the logged response body")
	assert.LessOrEqual(t, len(e.delivery(r.EventID).Attempts[0].ResponseBody), e.policy.LogBytes,
		"bytes of the response body in the delivery log")
	safetyWaitSignal(t, hungUp, "the dispatcher closes the connection")
}

// safetyCountingConn counts the bytes read from a connection.
type safetyCountingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *safetyCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// safetyLogBuffer is a bytes.Buffer safe for a logger and a test to share.
type safetyLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safetyLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safetyLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSafetySecretsNeverLogged(t *testing.T) {
	var (
		mu       sync.Mutex
		received = map[string]*http.Request{}
	)
	srv := startSafetyServer(t, "tcp4", "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received[r.URL.Path] = r.Clone(context.Background())
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			_, _ = io.WriteString(w, "thanks")
		case "/fail":
			http.Error(w, "internal error", http.StatusInternalServerError)
		case "/gone":
			http.Error(w, "gone", http.StatusGone)
		}
	})
	broken := newSafetyRawServer(t, func(c net.Conn) {}) // accepts and closes

	var logs safetyLogBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks(), webhook.WithLogger(logger))

	secret, previous := webhook.NewSecret(), webhook.NewSecret()
	secrets := []string{
		secret, strings.TrimPrefix(secret, "whsec_"),
		previous, strings.TrimPrefix(previous, "whsec_"),
		"tok-XYZ", "qs-secret",
	}
	subs := map[string]webhook.Subscription{} // by path
	for _, u := range []string{srv.URL + "/ok", srv.URL + "/fail", srv.URL + "/gone", broken.URL + "/broken"} {
		sub, err := e.d.Subscribe(e.ctx, webhook.Subscription{
			Name: "secretive", URL: u + "?token=qs-secret", Events: []string{eventtypes.OrderCreated},
			Secret: secret, PreviousSecret: previous, PreviousSecretExpiresAt: time.Now().Add(time.Hour),
			Headers: map[string]string{"Authorization": "Bearer tok-XYZ"},
		})
		require.NoError(t, err)
		subs[u[strings.LastIndexByte(u, '/'):]] = sub
	}
	ev := e.emit(eventtypes.OrderCreated)
	got := map[string]webhook.AttemptResult{} // by subscription ID
	for range subs {
		r := e.next()
		got[r.SubscriptionID] = r
	}
	require.Len(t, got, len(subs))
	assert.Equal(t, webhook.OutcomeSucceeded, got[subs["/ok"].ID].Attempt.Outcome)
	assert.Equal(t, webhook.OutcomeRetry, got[subs["/fail"].ID].Attempt.Outcome)
	assert.Equal(t, webhook.OutcomeDeactivated, got[subs["/gone"].ID].Attempt.Outcome)
	assert.Equal(t, webhook.ErrorConnection, got[subs["/broken"].ID].Attempt.ErrorKind)

	// The secrets were in use: the requests carried them.
	mu.Lock()
	for _, path := range []string{"/ok", "/fail", "/gone"} {
		r := received[path]
		require.NotNil(t, r, path)
		assert.Equal(t, "Bearer tok-XYZ", r.Header.Get("Authorization"), path)
		assert.Equal(t, "qs-secret", r.URL.Query().Get("token"), path)
		assert.Len(t, strings.Fields(r.Header.Get("webhook-signature")), 2, "%s: signed with both secrets", path)
	}
	mu.Unlock()

	ds, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{EventID: ev.ID})
	require.NoError(t, err)
	require.Len(t, ds, len(subs))
	deliveryLog, err := json.Marshal(ds)
	require.NoError(t, err)
	st, err := e.d.Stats(e.ctx)
	require.NoError(t, err)
	stats, err := json.Marshal(st)
	require.NoError(t, err)
	logged := logs.String()

	for _, s := range secrets {
		assert.NotContains(t, logged, s, "the log")
		assert.NotContains(t, string(deliveryLog), s, "the delivery log")
		assert.NotContains(t, string(stats), s, "the stats")
	}

	// The log does tell about these deliveries, so the checks above could fail.
	for _, d := range ds {
		assert.Contains(t, logged, d.ID)
	}
	assert.Contains(t, logged, "attempt failed")
	assert.Contains(t, logged, "deactivated")
	assert.Contains(t, logged, "/fail?", "the URL is logged, its query redacted")
	assert.Contains(t, string(deliveryLog), "internal error")
}

func TestSafetyRedirectNotFollowed(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			target := startSafetyServer(t, "tcp4", "127.0.0.1:0", nil)
			origin := startSafetyServer(t, "tcp4", "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/moved", code)
			})
			e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
			sub := e.subscribe(origin.URL + "/hook")
			r := e.attempt(sub, eventtypes.OrderCreated)
			a := r.Attempt
			assert.Equal(t, webhook.ErrorRedirect, a.ErrorKind, "error: %s", a.Error)
			assert.Equal(t, code, a.StatusCode)
			requireSafetyRetry(t, r)
			assert.EqualValues(t, 1, origin.requests.Load())
			assert.Zero(t, target.conns.Load(), "the redirect was followed")
			assert.Zero(t, target.requests.Load(), "the redirect was followed")
			assert.Len(t, e.delivery(r.EventID).Attempts, 1)
		})
	}
}

// TestAttemptErrorHidesTheLocalAddress: a connection error names this host's end of the
// connection; the log, which merchants read, keeps only the endpoint's.
func TestAttemptErrorHidesTheLocalAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("net/http: Transport failed to read from server: %w", &net.OpError{Op: "read", Net: "tcp",
				Source: &net.TCPAddr{IP: net.IPv4(10, 0, 3, 7), Port: 51234},
				Addr:   &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 443},
				Err:    syscall.ECONNRESET})
		})
		e.subscribe("order.created")
		ev := e.emit("order.created")
		e.settle(time.Second)
		a := e.delivery(ev.ID).Attempts[0]
		assert.Equal(t, "net/http: Transport failed to read from server: read tcp 203.0.113.9:443: "+syscall.ECONNRESET.Error(), a.Error)
		assert.NotContains(t, a.Error, "10.0.3.7")
	})
}

func TestAttemptErrorHidesTheResolver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "erp.example.com", Server: "10.255.255.53:53", IsNotFound: true}}
		})
		e.subscribe("order.created")
		ev := e.emit("order.created")
		e.settle(time.Second)
		a := e.delivery(ev.ID).Attempts[0]
		assert.Equal(t, "lookup erp.example.com: no such host", a.Error)
		assert.NotContains(t, a.Error, "10.255.255.53")
	})
}

// TestAttemptErrorBounded: an error's text, which may carry what the endpoint sent (here a
// 40 KB reason phrase of a 101), is kept in the log to a bounded length.
func TestAttemptErrorBounded(t *testing.T) {
	srv := newSafetyRawServer(t, func(c net.Conn) {
		if safetyReadRequest(c) != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 "+strings.Repeat("é", 20000)+"\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
	e := newSafetyEnv(t, nil, webhook.AllowPrivateNetworks())
	sub := e.subscribe(srv.URL + "/long")
	a := e.attempt(sub, eventtypes.OrderCreated).Attempt
	assert.Contains(t, a.Error, "switched protocols")
	assert.LessOrEqual(t, len(a.Error), 1024)
	assert.True(t, utf8.ValidString(a.Error))
}
