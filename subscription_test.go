package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzValidateURL checks that URL validation never panics, refuses with a
// *ValidationError naming the URL field, and accepts only what the dispatcher can send:
// an http(s) URL with a host, no credentials, and a port in range. A refusal never shows
// the URL's query, which may carry a token.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/in", "http://127.0.0.1:8080/x?token=abc", "ftp://x/",
		"https://u:p@example.com/", "https:///nohost", "https://[::1]:99999/", "%zz",
		"https://example.com:0/", "javascript:alert(1)", "https://xn--nxasmq6b.example/ä",
		"HTTPS://EXAMPLE.COM", "//example.com/x", "https://example.com/?q=secret#frag",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, requireHTTPS bool) {
		err := validateURL(raw, requireHTTPS)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "URL" {
				t.Fatalf("validateURL(%q) = %v, want a *ValidationError for URL", raw, err)
			}
			if u, perr := url.Parse(raw); perr == nil && len(u.RawQuery) > 3 && strings.Contains(ve.Value, u.RawQuery) {
				t.Fatalf("the refusal shows the query: %q", ve.Value)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted %q that does not parse: %v", raw, perr)
		}
		if u.Scheme != "https" && (requireHTTPS || u.Scheme != "http") {
			t.Fatalf("accepted scheme %q (requireHTTPS=%v)", u.Scheme, requireHTTPS)
		}
		if u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q: host %q, user %v", raw, u.Hostname(), u.User)
		}
	})
}

// errDialed marks a request that got past the transport's own checks to the dial.
var errDialed = errors.New("dialed")

// transportAccepts reports whether net/http's transport would send a request with this
// header: it checks header names and values before it dials.
func transportAccepts(t *testing.T, name, value string) bool {
	t.Helper()
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errDialed }}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, "http://hooks.example.com/in", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header[name] = []string{value}
	_, err = tr.RoundTrip(req)
	return errors.Is(err, errDialed)
}

// FuzzValidateHeaders checks that every header validateHeaders accepts can be sent by
// net/http and survives a JSON round trip (how the bbolt store keeps it) byte for byte,
// and that a refusal never shows the value.
func FuzzValidateHeaders(f *testing.F) {
	for _, s := range []string{
		"Bearer abc.def", "a b\tc", "", "a\x01b", "\x7f", " lead", "trail ", "\t", "k\xff\xfe",
		"caf\u00e9", "a\r\nX-Injected: 1", "x\x00y", "~!#$%&'*+-.^_`|", `"quoted", (commented)`,
	} {
		f.Add("X-Api-Key", s)
	}
	f.Add("X Bad", "v")
	f.Add("X-Ok:", "v")
	f.Add("", "v")
	f.Fuzz(func(t *testing.T, name, value string) {
		err := validateHeaders(map[string]string{name: value})
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "Headers" {
				t.Fatalf("validateHeaders = %v, want a *ValidationError for Headers", err)
			}
			// The name may be shown; the value never (8 bytes: short strings can occur in
			// the fixed wording of the reason).
			if ve.Value != "" && ve.Value != name && ve.Value != safeValue(name) {
				t.Fatalf("the refusal shows %q, not the header's name", ve.Value)
			}
			if len(value) >= 8 && (strings.Contains(ve.Reason, value) || ve.Err != nil) {
				t.Fatalf("the refusal shows the value: %v", err)
			}
			return
		}
		if !transportAccepts(t, name, value) {
			t.Fatalf("accepted header %q: %q, which net/http refuses to send", name, value)
		}
		raw, err := json.Marshal(Subscription{Headers: map[string]string{name: value}})
		if err != nil {
			t.Fatal(err)
		}
		var back Subscription
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if back.Headers[name] != value {
			t.Fatalf("accepted header value %q comes back from JSON as %q", value, back.Headers[name])
		}
	})
}

// FuzzValidateSecret checks that every secret ValidateSecret accepts survives a JSON round
// trip byte for byte (so every store signs with the secret Subscribe returned), and that
// a refusal never shows the secret.
func FuzzValidateSecret(f *testing.F) {
	for _, s := range []string{
		"", "any raw shared secret", "k\xff\xfe-raw-key", "tab\there", "caf\u00e9", NewSecret(),
		"whsec_", "whsec_%%%", "line\nbreak", "\x7f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		err := ValidateSecret(secret)
		if err != nil {
			if !errors.Is(err, ErrInvalidSecret) {
				t.Fatalf("ValidateSecret = %v, want ErrInvalidSecret", err)
			}
			if rest := strings.TrimPrefix(secret, SecretPrefix); len(rest) > 3 && strings.Contains(err.Error(), rest) {
				t.Fatalf("the refusal shows the secret: %v", err)
			}
			return
		}
		raw, err := json.Marshal(Subscription{Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		var back Subscription
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if back.Secret != secret {
			t.Fatalf("accepted secret %q comes back from JSON as %q", secret, back.Secret)
		}
	})
}
