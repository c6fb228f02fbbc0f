package webhook

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors returned by Verify, distinct so a receiver can branch on them with
// errors.Is. None of them, nor any error wrapping them, contains a secret.
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or webhook-signature is
	// absent or empty; the wrapping error names which.
	ErrMissingHeaders = errors.New("webhook: missing required header")
	// ErrInvalidTimestamp: webhook-timestamp is not an integer number of
	// Unix seconds in canonical decimal form.
	ErrInvalidTimestamp = errors.New("webhook: invalid timestamp")
	// ErrTimestampTooOld: webhook-timestamp is more than the tolerance in the
	// past (a replay, or a very slow delivery).
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")
	// ErrTimestampTooNew: webhook-timestamp is more than the tolerance in the
	// future.
	ErrTimestampTooNew = errors.New("webhook: timestamp too new")
	// ErrNoSignature: webhook-signature holds no "v1," signature at all.
	ErrNoSignature = errors.New("webhook: no v1 signature")
	// ErrSignatureMismatch: no v1 signature matches any accepted secret.
	ErrSignatureMismatch = errors.New("webhook: signature mismatch")
	// ErrRepeatedHeader: webhook-id or webhook-timestamp comes more than once, so the
	// value a handler reads (http.Header.Get takes the first) might not be the one
	// signed: a replayed request with an empty webhook-id in front would pass a receiver
	// that deduplicates by webhook-id. The wrapping error names which.
	ErrRepeatedHeader = errors.New("webhook: header repeated")
)

// DefaultTolerance is how far webhook-timestamp may be from the receiver's
// clock, either way, before Verify refuses the request.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBodyBytes is the largest body Verifier.Handler reads when
// MaxBodyBytes is zero: the largest body a sender with the default
// WithMaxPayloadBytes sends, so a receiver with the defaults takes every event.
const DefaultMaxBodyBytes int64 = DefaultMaxPayloadBytes

// Verifier checks Standard Webhooks signatures on the receiving side. Its zero
// value refuses everything (it has no secret). A Verifier is safe for
// concurrent use as long as its fields are not changed.
type Verifier struct {
	// Secrets are the accepted secrets, several while the sender rotates.
	// They are decoded like StandardSigner decodes them.
	Secrets []string
	// Tolerance is how far the timestamp may be from Now; zero or less means
	// DefaultTolerance.
	Tolerance time.Duration
	// Now returns the current time; nil means time.Now. Set it to check
	// recorded requests or test vectors.
	Now func() time.Time
	// MaxBodyBytes bounds the body Handler reads; zero or less means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Verify reports whether h and body carry a valid Standard Webhooks signature
// from one of v.Secrets, with a timestamp within the tolerance. body must be
// the exact bytes received (for a GET query-format delivery: the raw query
// string). Header names are matched in any case.
//
// It returns nil when any v1 signature in webhook-signature matches any
// secret (compared in constant time); otherwise an error wrapping exactly one
// of ErrRepeatedHeader, ErrMissingHeaders, ErrInvalidTimestamp, ErrTimestampTooOld,
// ErrTimestampTooNew, ErrNoSignature, ErrSignatureMismatch, or ErrInvalidSecret
// when the Verifier itself has no usable secret. Signatures of versions other
// than v1 are ignored.
func (v Verifier) Verify(h http.Header, body []byte) error {
	id, ids := headerValue(h, HeaderWebhookID)
	tsText, tss := headerValue(h, HeaderWebhookTimestamp)
	sigHeader, _ := headerValue(h, HeaderWebhookSignature)
	var repeated []string
	if ids > 1 {
		repeated = append(repeated, "webhook-id")
	}
	if tss > 1 {
		repeated = append(repeated, "webhook-timestamp")
	}
	if len(repeated) > 0 {
		return fmt.Errorf("%w: %s", ErrRepeatedHeader, strings.Join(repeated, ", "))
	}
	var missing []string
	for _, m := range []struct{ name, value string }{
		{"webhook-id", id}, {"webhook-timestamp", tsText}, {"webhook-signature", sigHeader},
	} {
		if m.value == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingHeaders, strings.Join(missing, ", "))
	}

	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || strconv.FormatInt(ts, 10) != tsText {
		return ErrInvalidTimestamp
	}
	if err := v.checkTimestamp(ts); err != nil {
		return err
	}

	var expected [][]byte
	for i, s := range v.Secrets {
		if s == "" {
			continue
		}
		key, err := decodeSecret(s)
		if err != nil {
			return fmt.Errorf("webhook: verifier secret %d: %w", i+1, err)
		}
		expected = append(expected, []byte(standardSignature(key, id, tsText, body)))
	}
	if len(expected) == 0 {
		return fmt.Errorf("%w: the verifier has no secret", ErrInvalidSecret)
	}

	sawV1 := false
	for _, item := range strings.Fields(sigHeader) {
		version, sig, ok := strings.Cut(item, ",")
		if !ok || version != "v1" {
			continue
		}
		sawV1 = true
		if sig == "" {
			continue
		}
		for _, want := range expected {
			if hmac.Equal([]byte(sig), want) {
				return nil
			}
		}
	}
	if !sawV1 {
		return ErrNoSignature
	}
	return ErrSignatureMismatch
}

func (v Verifier) checkTimestamp(ts int64) error {
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	// Whole-second bounds first, so absurd values cannot overflow time.Time;
	// then the exact comparison.
	nowSec, tolSec := now.Unix(), int64(tol/time.Second)+1
	if ts < nowSec-tolSec {
		return ErrTimestampTooOld
	}
	if ts > nowSec+tolSec {
		return ErrTimestampTooNew
	}
	t := time.Unix(ts, 0)
	if now.Sub(t) > tol {
		return ErrTimestampTooOld
	}
	if t.Sub(now) > tol {
		return ErrTimestampTooNew
	}
	return nil
}

// headerValue returns the values of name joined by spaces (several signature lines
// make one list), and how many there were, matching the name in any case even in a
// hand-built http.Header whose keys are not canonical.
func headerValue(h http.Header, name string) (value string, n int) {
	var vals []string
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			vals = append(vals, vs...)
		}
	}
	return strings.TrimSpace(strings.Join(vals, " ")), len(vals)
}

// Handler returns middleware that verifies each request before calling next.
//
// It reads the body, at most MaxBodyBytes (413 Request Entity Too Large when
// larger; 400 when it cannot be read), and verifies it; for GET requests,
// which carry query-format deliveries, it verifies r.URL.RawQuery instead and
// gives next an empty body. A request that fails verification gets 401 with a
// short plain-text reason (the error's message, which never contains a
// secret); a Verifier without a usable secret answers 500. Otherwise next is
// called with a shallow copy of the request whose Body reads the verified
// bytes and whose ContentLength is their length, so next can read the body
// as usual.
func (v Verifier) Handler(next http.Handler) http.Handler {
	limit := v.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body, signed []byte
		if r.Method == http.MethodGet {
			signed = []byte(r.URL.RawQuery)
		} else if r.Body != nil {
			var err error
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					http.Error(w, "webhook: request body too large", http.StatusRequestEntityTooLarge)
					return
				}
				http.Error(w, "webhook: cannot read request body", http.StatusBadRequest)
				return
			}
			signed = body
		}
		if err := v.Verify(r.Header, signed); err != nil {
			code := http.StatusUnauthorized
			if errors.Is(err, ErrInvalidSecret) {
				code = http.StatusInternalServerError
			}
			http.Error(w, err.Error(), code)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
		r2.TransferEncoding = nil
		r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		next.ServeHTTP(w, r2)
	})
}

// Verify checks a request's Standard Webhooks signature with one secret and
// the default tolerance: Verifier{Secrets: []string{secret}}.Verify(h, body).
// See Verifier.Verify for the errors.
func Verify(secret string, h http.Header, body []byte) error {
	return Verifier{Secrets: []string{secret}}.Verify(h, body)
}

// VerifyHandler returns middleware that lets through only requests signed
// with secret: Verifier{Secrets: []string{secret}}.Handler(next). See
// Verifier.Handler for the responses.
func VerifyHandler(secret string, next http.Handler) http.Handler {
	return Verifier{Secrets: []string{secret}}.Handler(next)
}
