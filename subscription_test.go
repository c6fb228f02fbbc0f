package webhook

import (
	"errors"
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
