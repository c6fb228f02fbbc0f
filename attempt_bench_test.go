package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shophooks/webhook/store"
)

// answerOK is a RoundTripper that reads the request body and answers 200 at once, without
// a network, so that a benchmark of an attempt measures the library's side of it.
type answerOK struct{}

func (answerOK) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
		Body: http.NoBody, Request: r, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// BenchmarkAttempt measures one attempt of a delivery of a 1 KB order, from building the
// request to judging the answer, with a RoundTripper that answers at once: the envelope,
// the signature, the headers, the timeout context and reading the answer, without the
// store, the scheduler or a socket. "json-emitted" sends data as Emit stores it, stamped as
// checked; the others send data that every attempt checks.
func BenchmarkAttempt(b *testing.B) {
	for _, tc := range []struct {
		name    string
		format  Format
		secrets int
		emitted bool // the data as Emit hands it to the memory store: checked and stamped
	}{
		{"json", FormatJSON, 1, false},
		{"json-emitted", FormatJSON, 1, true},
		{"json-rotating", FormatJSON, 2, false},
		{"json-unsigned", FormatJSON, 0, false},
		{"xml", FormatXML, 1, false},
		{"query", FormatQuery, 1, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d, err := New(store.NewMemory(), WithHTTPClient(&http.Client{Transport: answerOK{}}))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close(context.Background())
			sub := Subscription{ID: "sub_1", URL: "https://hooks.example.com/in?shop=42", Format: tc.format,
				Headers: map[string]string{"Authorization": "Bearer abc"}}
			if tc.secrets > 0 {
				sub.Secret = NewSecret()
			}
			if tc.secrets > 1 {
				sub.PreviousSecret, sub.PreviousSecretExpiresAt = NewSecret(), time.Now().Add(time.Hour)
			}
			ev := Event{ID: store.NewID("evt"), Type: "order.created", OccurredAt: now(), Data: json.RawMessage(payloadOrder)}
			if tc.emitted {
				data, err := marshalData(json.RawMessage(payloadOrder))
				if err != nil {
					b.Fatal(err)
				}
				ev.Data = d.stamp(data)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(payloadOrder)))
			defer reportCPU(b)()
			to := newAttemptTimeout(context.Background()) // as an attempt goroutine's
			defer to.close()
			for b.Loop() {
				if _, v, _ := d.send(to, sub, ev, 1); v != verdictSuccess {
					b.Fatal("not a success")
				}
			}
		})
	}
}

// BenchmarkStandardSign measures signing one 1 KB body with one secret: StandardSigner
// as an application calls it, and as the dispatcher does, with its keyring.
func BenchmarkStandardSign(b *testing.B) {
	in := SignInput{ID: "evt_01JNP6Z3V8W2K4Q9R7T5Y1X0AB", Timestamp: time.Now(), Body: []byte(payloadOrder), Secrets: []string{NewSecret()}}
	for _, tc := range []struct {
		name string
		sign func(http.Header) error
	}{
		{"signer", func(h http.Header) error { return StandardSigner{}.Sign(h, in) }},
		{"keyring", func() func(http.Header) error {
			var keys keyring
			return func(h http.Header) error { return signStandard(h, in, &keys) }
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := http.Header{}
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if err := tc.sign(h); err != nil {
					b.Fatal(err)
				}
			}
			if !strings.HasPrefix(h.Get(HeaderWebhookSignature), "v1,") {
				b.Fatal("not signed")
			}
		})
	}
}

// reportCPU reports the process's CPU time per operation as "cpu-ns/op" when the returned
// function is called at the end of the benchmark: on a shared machine it moves far less
// than ns/op, the wall time.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, _ := processCPU()
		if ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
