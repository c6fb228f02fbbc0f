package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signedHeader signs body with StandardSigner and returns the headers.
func signedHeader(t testing.TB, id string, ts time.Time, body []byte, secrets ...string) http.Header {
	t.Helper()
	h := http.Header{}
	require.NoError(t, StandardSigner{}.Sign(h, SignInput{ID: id, Timestamp: ts, Body: body, Secrets: secrets}))
	return h
}

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestVerifyVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			h := http.Header{}
			// Header names as a receiver's framework might hand them over.
			h["webhook-id"] = []string{v.ID}
			h["webhook-timestamp"] = []string{strconv.FormatInt(v.Timestamp, 10)}
			h["webhook-signature"] = []string{v.Signature}
			now := fixedNow(time.Unix(v.Timestamp, 0).Add(90 * time.Second))

			// Every secret alone verifies (rotation), and all together do.
			for _, s := range v.Secrets {
				assert.NoError(t, Verifier{Secrets: []string{s}, Now: now}.Verify(h, []byte(v.Body)))
			}
			assert.NoError(t, Verifier{Secrets: v.Secrets, Now: now}.Verify(h, []byte(v.Body)))

			// With the real clock these recorded requests are stale.
			assert.ErrorIs(t, Verifier{Secrets: v.Secrets}.Verify(h, []byte(v.Body)), ErrTimestampTooOld)
			assert.ErrorIs(t, Verifier{Secrets: v.Secrets, Now: now}.Verify(h, []byte(v.Body+" ")), ErrSignatureMismatch)
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1767225600, 0)
	body := []byte(`{"id":"evt_1","type":"order.created"}`)
	good := signedHeader(t, "evt_1", now, body, secret)
	goodSig := good.Get(HeaderWebhookSignature)

	with := func(edit func(h http.Header)) http.Header {
		h := good.Clone()
		edit(h)
		return h
	}
	at := func(ts time.Time) http.Header { return signedHeader(t, "evt_1", ts, body, secret) }

	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		secrets []string
		want    error // nil means it verifies
		wantMsg string
	}{
		{name: "valid", header: good},
		{name: "lower-case header names", header: http.Header{
			"webhook-id": {"evt_1"}, "webhook-timestamp": {"1767225600"}, "webhook-signature": {goodSig},
		}},
		{name: "upper-case header names", header: http.Header{
			"WEBHOOK-ID": {"evt_1"}, "WEBHOOK-TIMESTAMP": {"1767225600"}, "WEBHOOK-SIGNATURE": {goodSig},
		}},
		{name: "several signatures, one valid", header: with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, strings.Join([]string{
				"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
				"v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
				"garbage", "v1,", goodSig,
				"v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
			}, " "))
		})},
		{name: "signature split over two header lines", header: with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
			h.Add(HeaderWebhookSignature, goodSig)
		})},
		{name: "within tolerance, past", header: at(now.Add(-DefaultTolerance))},
		{name: "within tolerance, future", header: at(now.Add(DefaultTolerance))},

		{name: "tampered body", header: good, body: append(bytes.Clone(body), ' '), want: ErrSignatureMismatch},
		{name: "wrong secret", header: good, secrets: []string{NewSecret()}, want: ErrSignatureMismatch},
		{name: "tampered id", header: with(func(h http.Header) { h.Set(HeaderWebhookID, "evt_2") }), want: ErrSignatureMismatch},
		{name: "tampered timestamp", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "1767225601") }), want: ErrSignatureMismatch},
		{name: "old timestamp", header: at(now.Add(-DefaultTolerance - time.Second)), want: ErrTimestampTooOld},
		{name: "future timestamp", header: at(now.Add(DefaultTolerance + time.Second)), want: ErrTimestampTooNew},
		{name: "far past", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "-9223372036854775808") }), want: ErrTimestampTooOld},
		{name: "far future", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "9223372036854775807") }), want: ErrTimestampTooNew},
		{name: "missing id", header: with(func(h http.Header) { h.Del(HeaderWebhookID) }), want: ErrMissingHeaders, wantMsg: "webhook-id"},
		{name: "missing timestamp", header: with(func(h http.Header) { h.Del(HeaderWebhookTimestamp) }), want: ErrMissingHeaders, wantMsg: "webhook-timestamp"},
		{name: "missing signature", header: with(func(h http.Header) { h.Del(HeaderWebhookSignature) }), want: ErrMissingHeaders, wantMsg: "webhook-signature"},
		{name: "empty signature", header: with(func(h http.Header) { h.Set(HeaderWebhookSignature, " ") }), want: ErrMissingHeaders, wantMsg: "webhook-signature"},
		{name: "no headers", header: http.Header{}, want: ErrMissingHeaders, wantMsg: "webhook-id, webhook-timestamp, webhook-signature"},
		{name: "timestamp not a number", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "yesterday") }), want: ErrInvalidTimestamp},
		{name: "timestamp fractional", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "1767225600.5") }), want: ErrInvalidTimestamp},
		{name: "timestamp with plus sign", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "+1767225600") }), want: ErrInvalidTimestamp},
		{name: "timestamp with leading zero", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "01767225600") }), want: ErrInvalidTimestamp},
		{name: "timestamp in milliseconds", header: with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "1767225600000") }), want: ErrTimestampTooNew},
		{name: "only other versions", header: with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, "v2,"+strings.TrimPrefix(goodSig, "v1,")+" v1a,abc")
		}), want: ErrNoSignature},
		{name: "malformed items only", header: with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, "v1 "+strings.TrimPrefix(goodSig, "v1,"))
		}), want: ErrNoSignature},
		{name: "bare v1,", header: with(func(h http.Header) { h.Set(HeaderWebhookSignature, "v1,") }), want: ErrSignatureMismatch},
		{name: "partial signature", header: with(func(h http.Header) { h.Set(HeaderWebhookSignature, goodSig[:12]) }), want: ErrSignatureMismatch},
		{name: "signature with trailing junk", header: with(func(h http.Header) { h.Set(HeaderWebhookSignature, goodSig+"x") }), want: ErrSignatureMismatch},
		{name: "upper-case version", header: with(func(h http.Header) { h.Set(HeaderWebhookSignature, "V1,"+strings.TrimPrefix(goodSig, "v1,")) }), want: ErrNoSignature},
		{name: "verifier without secret", header: good, secrets: []string{""}, want: ErrInvalidSecret},
		{name: "verifier with bad secret", header: good, secrets: []string{"whsec_c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=="[:40]}, want: ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body
			if tt.body != nil {
				b = tt.body
			}
			secrets := []string{secret}
			if tt.secrets != nil {
				secrets = tt.secrets
			}
			err := Verifier{Secrets: secrets, Now: fixedNow(now)}.Verify(tt.header, b)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			for _, other := range verifyErrors {
				if other != tt.want {
					assert.NotErrorIs(t, err, other)
				}
			}
			assert.True(t, strings.HasPrefix(err.Error(), "webhook: "), err.Error())
			assert.Contains(t, err.Error(), tt.wantMsg)
			for _, s := range secrets {
				if len(s) > len(SecretPrefix) {
					assert.NotContains(t, err.Error(), s[len(SecretPrefix):], "secret leaked")
				}
			}
		})
	}
}

var verifyErrors = []error{
	ErrMissingHeaders, ErrInvalidTimestamp, ErrTimestampTooOld, ErrTimestampTooNew,
	ErrNoSignature, ErrSignatureMismatch, ErrInvalidSecret, ErrRepeatedHeader,
}

// TestVerifyRepeatedHeaders: a replayed request with an empty webhook-id in front of the
// signed one (what Header.Get reads) must not verify, or a receiver that deduplicates by
// webhook-id would take it as new.
func TestVerifyRepeatedHeaders(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1767225600, 0)
	body := []byte(`{"id":"evt_1"}`)
	v := Verifier{Secrets: []string{secret}, Now: fixedNow(now)}
	good := signedHeader(t, "evt_1", now, body, secret)
	require.NoError(t, v.Verify(good, body))

	h := good.Clone()
	h[HeaderWebhookID] = []string{"", "evt_1"}
	err := v.Verify(h, body)
	assert.ErrorIs(t, err, ErrRepeatedHeader)
	assert.ErrorContains(t, err, "webhook-id")

	h = good.Clone()
	h.Add(HeaderWebhookTimestamp, h.Get(HeaderWebhookTimestamp))
	assert.ErrorIs(t, v.Verify(h, body), ErrRepeatedHeader)

	// Keys in two cases, as a hand-built header may have them, count as one name.
	h = good.Clone()
	h["webhook-id"] = []string{"evt_2"}
	assert.ErrorIs(t, v.Verify(h, body), ErrRepeatedHeader)

	// Signature lines may repeat: any one of them that matches is enough.
	h = good.Clone()
	h["Webhook-Signature"] = []string{"v1,bm9wZQ==", good.Get(HeaderWebhookSignature)}
	assert.NoError(t, v.Verify(h, body))
}

func TestVerifyErrorsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range verifyErrors {
		assert.False(t, seen[e.Error()], e.Error())
		seen[e.Error()] = true
		for _, other := range verifyErrors {
			if other != e {
				assert.NotErrorIs(t, e, other)
			}
		}
	}
}

func TestVerifyTolerance(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1767225600, 500_000_000)
	h := signedHeader(t, "evt_1", now.Add(-time.Minute), nil, secret)
	v := Verifier{Secrets: []string{secret}, Now: fixedNow(now), Tolerance: 30 * time.Second}
	assert.ErrorIs(t, v.Verify(h, nil), ErrTimestampTooOld)
	v.Tolerance = 2 * time.Minute
	assert.NoError(t, v.Verify(h, nil))
	v.Tolerance = -1 // means the default
	assert.NoError(t, v.Verify(h, nil))
}

func TestVerifyRotation(t *testing.T) {
	current, previous, stranger := NewSecret(), NewSecret(), NewSecret()
	now := time.Now()
	body := []byte(`{"rotating":true}`)
	h := signedHeader(t, "evt_rot", now, body, current, previous)
	require.Len(t, strings.Fields(h.Get(HeaderWebhookSignature)), 2)

	assert.NoError(t, Verify(current, h, body), "receiver already on the new secret")
	assert.NoError(t, Verify(previous, h, body), "receiver still on the old secret")
	assert.NoError(t, Verifier{Secrets: []string{stranger, previous}}.Verify(h, body))
	assert.ErrorIs(t, Verify(stranger, h, body), ErrSignatureMismatch)

	// A receiver that accepts both secrets takes a request signed with either.
	for _, s := range []string{current, previous} {
		h := signedHeader(t, "evt_rot", now, body, s)
		assert.NoError(t, Verifier{Secrets: []string{current, previous}}.Verify(h, body))
	}
}

func TestVerifyHandler(t *testing.T) {
	secret := NewSecret()
	body := []byte(`{"id":"evt_1","type":"order.created","data":{}}`)

	var gotBody []byte
	var gotLength int64
	var calls int
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		gotLength = r.ContentLength
		var err error
		gotBody, err = io.ReadAll(r.Body)
		require.NoError(t, err)
		w.WriteHeader(http.StatusNoContent)
	})
	serve := func(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
		calls, gotBody, gotLength = 0, nil, -1
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	post := func(b []byte, hdr http.Header) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(b))
		for k, v := range hdr {
			r.Header[k] = v
		}
		return r
	}

	t.Run("passes the verified body on", func(t *testing.T) {
		w := serve(VerifyHandler(secret, next), post(body, signedHeader(t, "evt_1", time.Now(), body, secret)))
		assert.Equal(t, http.StatusNoContent, w.Code)
		assert.Equal(t, 1, calls)
		assert.Equal(t, body, gotBody)
		assert.Equal(t, int64(len(body)), gotLength)
	})
	t.Run("401 on a bad signature", func(t *testing.T) {
		h := signedHeader(t, "evt_1", time.Now(), body, NewSecret())
		w := serve(VerifyHandler(secret, next), post(body, h))
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Equal(t, 0, calls)
		assert.Contains(t, w.Body.String(), "signature mismatch")
		assert.NotContains(t, w.Body.String(), secret[len(SecretPrefix):])
		assert.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain"))
	})
	t.Run("401 on missing headers", func(t *testing.T) {
		w := serve(VerifyHandler(secret, next), post(body, nil))
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Contains(t, w.Body.String(), "webhook-id")
		assert.Equal(t, 0, calls)
	})
	t.Run("401 on a stale request", func(t *testing.T) {
		h := signedHeader(t, "evt_1", time.Now().Add(-time.Hour), body, secret)
		w := serve(VerifyHandler(secret, next), post(body, h))
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Contains(t, w.Body.String(), "too old")
	})
	t.Run("413 on a large body", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 64)
		v := Verifier{Secrets: []string{secret}, MaxBodyBytes: 63}
		w := serve(v.Handler(next), post(big, signedHeader(t, "evt_1", time.Now(), big, secret)))
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.Equal(t, 0, calls)

		v.MaxBodyBytes = 64 // exactly at the limit is fine
		w = serve(v.Handler(next), post(big, signedHeader(t, "evt_1", time.Now(), big, secret)))
		assert.Equal(t, http.StatusNoContent, w.Code)
		assert.Equal(t, big, gotBody)
	})
	t.Run("default limit is 1 MiB", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 1<<20+1)
		w := serve(VerifyHandler(secret, next), post(big, signedHeader(t, "evt_1", time.Now(), big, secret)))
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	})
	t.Run("GET verifies the raw query", func(t *testing.T) {
		query := "event_type=order.created&order_id=12345"
		h := signedHeader(t, "evt_1", time.Now(), []byte(query), secret)
		r := httptest.NewRequest(http.MethodGet, "/hooks?"+query, nil)
		for k, v := range h {
			r.Header[k] = v
		}
		w := serve(VerifyHandler(secret, next), r)
		assert.Equal(t, http.StatusNoContent, w.Code)
		assert.Empty(t, gotBody)
		assert.Equal(t, int64(0), gotLength)

		r = httptest.NewRequest(http.MethodGet, "/hooks?event_type=order.created&order_id=99999", nil)
		for k, v := range h {
			r.Header[k] = v
		}
		w = serve(VerifyHandler(secret, next), r)
		assert.Equal(t, http.StatusUnauthorized, w.Code)
	})
	t.Run("500 when the verifier has no secret", func(t *testing.T) {
		w := serve(VerifyHandler("", next), post(body, signedHeader(t, "evt_1", time.Now(), body, secret)))
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Equal(t, 0, calls)
	})
}

// TestVerifyHandlerOverHTTP sends a signed request over a real (loopback)
// connection, as a receiver would get it.
func TestVerifyHandlerOverHTTP(t *testing.T) {
	secret := NewSecret()
	var received []byte
	srv := httptest.NewServer(VerifyHandler(secret, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received, _ = io.ReadAll(r.Body)
	})))
	defer srv.Close()

	send := func(sign []string, query string, body []byte) int {
		method := http.MethodPost
		signed := body
		if query != "" {
			method, signed = http.MethodGet, []byte(query)
		}
		req, err := http.NewRequest(method, srv.URL+"/hook?"+query, bytes.NewReader(body))
		require.NoError(t, err)
		if query == "" {
			req.URL.RawQuery = ""
		}
		require.NoError(t, StandardSigner{}.Sign(req.Header, SignInput{ID: "evt_1", Timestamp: time.Now(), Body: signed, Secrets: sign}))
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"hello":"world"}`)
	assert.Equal(t, http.StatusOK, send([]string{secret}, "", body))
	assert.Equal(t, body, received)
	assert.Equal(t, http.StatusOK, send([]string{NewSecret(), secret}, "", body))
	assert.Equal(t, http.StatusUnauthorized, send([]string{NewSecret()}, "", body))
	assert.Equal(t, http.StatusOK, send([]string{secret}, "event_type=order.created&order_id=1%2F2", nil))
}

func ExampleVerifyHandler_serveMux() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the subscription's secret
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks", VerifyHandler(secret, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // verified bytes
		fmt.Printf("event %s: %s\n", r.Header.Get("webhook-id"), body)
	})))

	// What the sender does (the dispatcher does this for every attempt):
	body := []byte(`{"id":"evt_1","type":"order.created"}`)
	req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
	_ = StandardSigner{}.Sign(req.Header, SignInput{ID: "evt_1", Timestamp: time.Now(), Body: body, Secrets: []string{secret}})

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	fmt.Println(w.Code)
	// Output:
	// event evt_1: {"id":"evt_1","type":"order.created"}
	// 200
}

func ExampleVerifier() {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)

	err := Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, body)
	fmt.Println(errors.Is(err, ErrTimestampTooOld)) // recorded in 2021: a replay today

	v := Verifier{
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Now:     func() time.Time { return time.Unix(1614265330, 0) },
	}
	fmt.Println(v.Verify(h, body))
	// Output:
	// true
	// <nil>
}

// FuzzVerify feeds arbitrary signature headers, timestamps and bodies to
// Verify. It must never panic, must accept only a header that carries the
// right signature, and must accept whatever our signer produced for the same
// input, even next to arbitrary other signatures.
func FuzzVerify(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "1614265330", []byte(`{"test": 2432232314}`))
	f.Add("v1,", "1614265330", []byte(""))
	f.Add("v1,a v2,b v1a,c ,, v1,,", "0", []byte("{}"))
	f.Add("  v1,x\tv1,y  ", "-1", []byte("\x00\xff"))
	f.Add("", "9223372036854775807", []byte("x"))
	f.Add("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "+1614265330", []byte("{}"))
	f.Add("v1,AAAA v1,AAAA=", "１２３", []byte("é"))

	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	f.Fuzz(func(t *testing.T, sigHeader, tsText string, body []byte) {
		ts, tsErr := strconv.ParseInt(tsText, 10, 64)
		now := time.Unix(1614265330, 0)
		if tsErr == nil && ts > -1<<40 && ts < 1<<40 {
			now = time.Unix(ts, 0)
		}
		v := Verifier{Secrets: []string{secret}, Now: fixedNow(now)}

		h := http.Header{}
		h.Set(HeaderWebhookID, id)
		h.Set(HeaderWebhookTimestamp, tsText)
		h.Set(HeaderWebhookSignature, sigHeader)
		err := v.Verify(h, body)
		if err == nil {
			// Accepted: the header must hold the exact signature.
			want := "v1," + standardSignature(mustDecode(t, secret), id, tsText, body)
			if !containsField(sigHeader, want) {
				t.Fatalf("accepted %q for ts %q without the right signature %q", sigHeader, tsText, want)
			}
		} else if !isVerifyError(err) {
			t.Fatalf("unexpected error %v", err)
		}

		// Whatever our signer produces for this input verifies, alone or
		// appended to the arbitrary header.
		if tsErr != nil || now.Unix() != ts {
			ts = now.Unix()
		}
		own := http.Header{}
		if err := (StandardSigner{}).Sign(own, SignInput{ID: id, Timestamp: time.Unix(ts, 0), Body: body, Secrets: []string{secret}}); err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(own, body); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		own.Set(HeaderWebhookSignature, sigHeader+" "+own.Get(HeaderWebhookSignature))
		if err := v.Verify(own, body); err != nil {
			t.Fatalf("own signature after %q refused: %v", sigHeader, err)
		}
	})
}

func mustDecode(t *testing.T, secret string) []byte {
	key, err := decodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func containsField(s, want string) bool {
	for _, f := range strings.Fields(s) {
		if f == want {
			return true
		}
	}
	return false
}

func isVerifyError(err error) bool {
	for _, e := range verifyErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
