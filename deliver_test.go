package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// TestNewRequestHeaders builds requests the way an attempt does, several times (the
// later ones sign with the dispatcher's kept HMAC states), and checks every header: set
// once each, under its canonical name, independent of the others although their values
// share storage, and a signature that Verify accepts.
func TestNewRequestHeaders(t *testing.T) {
	d, err := New(store.NewMemory())
	require.NoError(t, err)
	defer d.Close(context.Background())
	secret := NewSecret()
	sub := Subscription{ID: "sub_1", URL: "https://hooks.example.com/in", Secret: secret,
		Headers: map[string]string{"x-api-key": "k1", "Authorization": "Bearer t"}}
	ev := Event{ID: "evt_1", Type: "order.created", OccurredAt: now(), Data: json.RawMessage(`{"id":"1"}`)}
	for range 3 {
		req, err := d.newRequest(context.Background(), sub, ev, now())
		require.NoError(t, err)
		want := map[string]string{
			"Content-Type": "application/json", "User-Agent": DefaultUserAgent, "Accept-Encoding": "identity",
			"X-Api-Key": "k1", "Authorization": "Bearer t", HeaderWebhookID: "evt_1",
		}
		for k, v := range want {
			assert.Equal(t, []string{v}, req.Header[k], k)
		}
		assert.Len(t, req.Header, len(want)+2, "and the timestamp and signature: %v", req.Header)
		body, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		require.NoError(t, Verify(secret, req.Header, body))

		// Adding to one header leaves the others as they were.
		req.Header.Add("Content-Type", "text/plain")
		req.Header.Add("X-Api-Key", "k2")
		assert.Equal(t, []string{DefaultUserAgent}, req.Header["User-Agent"])
		assert.Equal(t, []string{"Bearer t"}, req.Header["Authorization"])
		assert.Equal(t, []string{"k1", "k2"}, req.Header["X-Api-Key"])
	}
}

// TestNewRequestOtherSigner checks that a Signer of the application's is called, not the
// built-in signing.
func TestNewRequestOtherSigner(t *testing.T) {
	d, err := New(store.NewMemory(), WithSigner(HMACSigner{Header: "X-Shop-Hmac-Sha256"}))
	require.NoError(t, err)
	defer d.Close(context.Background())
	sub := Subscription{ID: "sub_1", URL: "https://hooks.example.com/in", Secret: "hush"}
	ev := Event{ID: "evt_1", Type: "order.created", OccurredAt: time.Unix(1767225600, 0), Data: json.RawMessage(`{}`)}
	req, err := d.newRequest(context.Background(), sub, ev, now())
	require.NoError(t, err)
	assert.NotEmpty(t, req.Header.Get("X-Shop-Hmac-Sha256"))
	assert.Empty(t, req.Header.Get(HeaderWebhookSignature))
}

// TestAttemptTimeoutPerSubscription checks that an attempt's deadline is the
// subscription's Timeout when it has one, else the policy's, whatever the worker's
// context.
func TestAttemptTimeoutPerSubscription(t *testing.T) {
	var got time.Duration
	probe := transportFunc(func(r *http.Request) (*http.Response, error) {
		dl, ok := r.Context().Deadline()
		require.True(t, ok, "no deadline")
		got = time.Until(dl)
		return answerOK{}.RoundTrip(r)
	})
	d, err := New(store.NewMemory(), WithHTTPClient(&http.Client{Transport: probe}))
	require.NoError(t, err)
	defer d.Close(context.Background())
	ev := Event{ID: "evt_1", Type: "order.created", OccurredAt: now(), Data: json.RawMessage(`{}`)}
	for _, tc := range []struct {
		timeout, want time.Duration
	}{{0, d.cfg.policy.Timeout}, {2 * time.Second, 2 * time.Second}} {
		sub := Subscription{ID: "sub_1", URL: "https://hooks.example.com/in", Timeout: tc.timeout}
		to := newAttemptTimeout(context.Background())
		_, v, _ := d.send(to, sub, ev, 1)
		to.close()
		require.Equal(t, verdictSuccess, v)
		assert.InDelta(t, tc.want.Seconds(), got.Seconds(), 0.5)
	}
}

// transportFunc is a RoundTripper made of a function.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestStampedData checks the stamp that spares an attempt a second look at data Emit has
// checked: Emit's data carries it through the memory store (which keeps the bytes) and the
// envelope is then the one written for unchecked data; a copy of the data, another dispatcher's
// stamp, or data put into the store by other means than Emit are checked as before.
func TestStampedData(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	d, err := New(m)
	require.NoError(t, err)
	defer d.Close(ctx)
	other, err := New(m)
	require.NoError(t, err)
	defer other.Close(ctx)

	type withRaw struct {
		Note json.RawMessage `json:"note"`
		N    int             `json:"n"`
	}
	for name, data := range map[string]any{
		"struct":          withRaw{Note: json.RawMessage("\"caf\xe9\""), N: 1}, // invalid UTF-8 inside
		"raw with spaces": json.RawMessage("{ \"a\" : [1, 2 ,\n 3] }"),
		"nil":             nil,
		"map":             map[string]any{"b": "<&>", "a": 1.5},
		"bytes with room": append(make([]byte, 0, 64), `{"x": true}`...),
	} {
		ev, err := d.Emit(ctx, "order.created", data)
		require.NoError(t, err, name)
		assert.Equal(t, len(ev.Data), cap(ev.Data), "%s: Emit's answer has no room for an append to write into", name)
		assert.False(t, d.stamped(ev.Data), name)

		raw, err := marshalData(data) // what Emit stores
		require.NoError(t, err, name)
		raw = d.stamp(raw)
		assert.True(t, d.stamped(raw), name)
		assert.False(t, other.stamped(raw), "%s: another dispatcher's stamp", name)
		assert.False(t, d.stamped(append([]byte(nil), raw...)), "%s: a copy", name)

		stored, err := m.Event(ctx, ev.ID)
		require.NoError(t, err)
		assert.Equal(t, string(stored.Data), string(raw), name)
		env := envelope{ID: ev.ID, Type: ev.Type, Timestamp: ev.OccurredAt, Data: raw}
		want, err := encodeEnvelope(envelope{ID: ev.ID, Type: ev.Type, Timestamp: ev.OccurredAt, Data: stored.Data}, false)
		require.NoError(t, err)
		got, err := encodeEnvelope(env, d.stamped(raw))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), name)
	}

	// The memory store's claims carry the stamp: the data is Emit's very bytes. The one
	// worker of p hangs on its first attempt, so the second event waits in the store.
	m2 := store.NewMemory()
	hang := transportFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	p, err := New(m2, WithWorkers(1), WithHTTPClient(&http.Client{Transport: hang}))
	require.NoError(t, err)
	defer func() {
		cctx, cancel := context.WithCancel(ctx)
		cancel() // give up on the hanging attempt at once
		_ = p.Close(cctx)
	}()
	_, err = p.Subscribe(ctx, Subscription{ID: "sub_1", URL: "https://hooks.example.com/in", Events: []string{"*"}})
	require.NoError(t, err)
	for range 2 {
		_, err := p.Emit(ctx, "order.created", map[string]int{"a": 1})
		require.NoError(t, err)
	}
	claims, _, err := m2.ClaimDue(ctx, store.ClaimRequest{Now: time.Now(), Limit: 10, LeaseUntil: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.NotEmpty(t, claims)
	for _, c := range claims {
		assert.True(t, p.stamped(c.Event.Data))
	}

	// Data that did not come through Emit is checked at every attempt.
	bad := Event{ID: "evt_bad", Type: "order.created", OccurredAt: now(), Data: json.RawMessage(`{"a":`)}
	_, err = d.newRequest(ctx, Subscription{ID: "sub_1", URL: "https://hooks.example.com/in"}, bad, now())
	require.ErrorContains(t, err, "not valid JSON")
}

// An attempt goroutine's timeout: each attempt's context has its deadline and ends with
// context.DeadlineExceeded when it passes; a stopped attempt's timer never fires; the
// attempt after a timeout gets a live context; cancelling the parent cancels the attempt.
func TestAttemptTimeoutAcrossAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancelParent := context.WithCancel(context.Background())
		to := newAttemptTimeout(parent)
		defer to.close()

		first := to.start(time.Second)
		dl, ok := first.Deadline()
		require.True(t, ok)
		assert.Equal(t, time.Now().Add(time.Second), dl)
		to.stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.NoError(t, first.Err(), "stopped in time: no timeout")

		second := to.start(3 * time.Second)
		dl, _ = second.Deadline()
		assert.Equal(t, time.Now().Add(3*time.Second), dl)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		require.ErrorIs(t, second.Err(), context.DeadlineExceeded)
		assert.True(t, timedOut(second))
		to.stop()

		third := to.start(time.Second)
		assert.NoError(t, third.Err(), "a new context after a timeout")
		assert.False(t, timedOut(third))
		cancelParent()
		assert.ErrorIs(t, third.Err(), context.Canceled)
		assert.False(t, timedOut(third))
		to.stop()
	})
}

// The dispatcher's own client sends through its transport directly; what comes back is
// what http.Client.Do would give: a redirect's answer (not followed), and the same
// errors, with the same text.
func TestDoAnswersAsClientDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String() + "/hooks"
	require.NoError(t, ln.Close())
	d, err := New(store.NewMemory(), AllowPrivateNetworks())
	require.NoError(t, err)
	defer d.Close(context.Background())
	require.NotNil(t, d.ownConn)
	for _, target := range []string{srv.URL + "/hooks", "https" + srv.URL[len("http"):] + "/hooks", closed} {
		var answers [2]string
		for i, send := range []func(*http.Request) (*http.Response, error){d.do, d.client.Do} {
			req, err := http.NewRequest(http.MethodPost, target, nil)
			require.NoError(t, err)
			resp, err := send(req)
			if err != nil {
				var ue *url.Error
				require.ErrorAs(t, err, &ue)
				answers[i] = "error: " + err.Error()
				continue
			}
			resp.Body.Close()
			answers[i] = resp.Status
		}
		assert.Equal(t, answers[1], answers[0], target)
	}
}
