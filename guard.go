package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrDestinationRefused is wrapped by every error that refuses a destination
// because it is not on the public internet (see IsPublicAddr). Test for it
// with errors.Is; use errors.As with *DestinationError for the detail.
var ErrDestinationRefused = errors.New("webhook: destination refused")

// DestinationError reports a destination refused for safety. It wraps
// ErrDestinationRefused.
type DestinationError struct {
	// Host is the host name or literal being reached, when known. A dial
	// made through a transport from NewTransport (or the dispatcher's guarded
	// transport) knows it; a bare SafeDialer dial reports only IP.
	Host string
	// IP is the address that was refused; the zero Addr when the refusal
	// was decided on the name alone (for example "localhost").
	IP netip.Addr
	// Reason says which kind of address it is, such as "loopback" or
	// "private network".
	Reason string
}

// Error names the host, the address and the reason, for example
// `webhook: destination refused: "db.internal" resolves to 10.0.0.7 (private network)`.
func (e *DestinationError) Error() string {
	var b strings.Builder
	b.WriteString(ErrDestinationRefused.Error())
	b.WriteString(": ")
	switch {
	case e.Host != "" && e.IP.IsValid() && e.Host != e.IP.String():
		fmt.Fprintf(&b, "%q resolves to %s", e.Host, e.IP)
	case e.IP.IsValid():
		b.WriteString(e.IP.String())
	default:
		fmt.Fprintf(&b, "%q", e.Host)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	return b.String()
}

// logText is the refusal as the delivery log keeps it for the merchant to read: an
// address that a name resolved to is left out, as it tells how the host's own network
// names its machines. An address the merchant gave as the host stays.
func (e *DestinationError) logText() string {
	if e.Host != "" && e.IP.IsValid() && e.Host != e.IP.String() {
		c := *e
		c.IP = netip.Addr{}
		return c.Error()
	}
	return e.Error()
}

// Unwrap returns ErrDestinationRefused, so errors.Is(err, ErrDestinationRefused)
// holds for every *DestinationError.
func (e *DestinationError) Unwrap() error { return ErrDestinationRefused }

type refusedRange struct {
	prefix netip.Prefix
	reason string
}

// Checked in order; the first match names the reason.
var (
	refusedIPv4 = []refusedRange{
		{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
		{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (\"this network\")"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private network"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private network"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
		{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private network"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	}
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// IPv6 outside these is refused unless it is global unicast (2000::/3).
	refusedIPv6 = []refusedRange{
		{netip.MustParsePrefix("::/128"), "unspecified"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
		{netip.MustParsePrefix("100::/64"), "discard-only"},
		{netip.MustParsePrefix("2001::/32"), "Teredo tunnel"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments"},
		{netip.MustParsePrefix("2002::/16"), "6to4 tunnel"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"},
		{netip.MustParsePrefix("fc00::/7"), "private network (unique local)"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// IsPublicAddr reports whether ip is an address a webhook may be delivered
// to: a globally routable unicast address. It is false for the invalid Addr
// and for
//
//   - loopback (127/8, ::1), unspecified (0.0.0.0/8, ::), broadcast;
//   - private networks (10/8, 172.16/12, 192.168/16, fc00::/7) and the
//     CGNAT shared space 100.64/10;
//   - link-local (169.254/16, which holds cloud metadata services such as
//     169.254.169.254, and fe80::/10), deprecated site-local fec0::/10;
//   - multicast (224/4, ff00::/8), reserved 240/4;
//   - documentation, benchmarking and IETF protocol ranges (192.0.0/24,
//     192.0.2/24, 198.18/15, 198.51.100/24, 203.0.113/24, 2001:db8::/32,
//     3fff::/20, 2001::/23) and discard-only 100::/64;
//   - IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms of
//     any refused IPv4 address; the mapped and NAT64 forms of a public IPv4
//     address are public;
//   - every IPv4-compatible address (::/96, deprecated), local-use NAT64
//     (64:ff9b:1::/48), and the 6to4 (2002::/16) and Teredo (2001::/32)
//     tunnel prefixes, whose traffic leaves through relays toward an
//     embedded IPv4 address that cannot be vetted reliably; no webhook
//     receiver needs them;
//   - any other IPv6 address outside global unicast 2000::/3.
//
// An IPv6 zone is ignored.
func IsPublicAddr(ip netip.Addr) bool {
	return refusedReason(ip) == ""
}

// refusedReason is "" for a public address, else why it is refused.
func refusedReason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	// netip.Prefix.Contains never matches an address with a zone.
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		for _, r := range refusedIPv4 {
			if r.prefix.Contains(ip) {
				return r.reason
			}
		}
		return ""
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		if reason := refusedReason(netip.AddrFrom4([4]byte(b[12:]))); reason != "" {
			return "NAT64 form of " + reason
		}
		return ""
	}
	for _, r := range refusedIPv6 {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	if !globalUnicast6.Contains(ip) {
		return "not global unicast"
	}
	return ""
}

type dialHostKey struct{}

// SafeDialer returns a copy of base (or, when base is nil, a dialer with a
// 30 s connect timeout and 30 s keep-alive) that refuses to connect to any
// address for which IsPublicAddr is false. The check runs in the dialer's
// ControlContext hook, after DNS resolution and just before each connect, on
// the very address being connected to, so a name that resolves (or is
// rebound) to an internal address cannot slip past. A refused dial fails
// with an error wrapping a *DestinationError (and so ErrDestinationRefused).
//
// An existing ControlContext or Control of base runs after the check. Only
// IP networks can be dialled; anything else (a unix socket) is refused.
func SafeDialer(base *net.Dialer) *net.Dialer {
	var d net.Dialer
	if base != nil {
		d = *base
	} else {
		d = net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	}
	prevCtx, prev := d.ControlContext, d.Control
	// The net package ignores Control when ControlContext is set, so the
	// check must live in ControlContext.
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := checkDialAddress(ctx, address); err != nil {
			return err
		}
		if prevCtx != nil {
			return prevCtx(ctx, network, address, c)
		}
		if prev != nil {
			return prev(network, address, c)
		}
		return nil
	}
	return &d
}

func checkDialAddress(ctx context.Context, address string) error {
	host, _ := ctx.Value(dialHostKey{}).(string)
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return &DestinationError{Host: host, Reason: "not an IP address"}
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return &DestinationError{Host: host, Reason: "not an IP address"}
	}
	if reason := refusedReason(ip); reason != "" {
		return &DestinationError{Host: host, IP: ip, Reason: reason}
	}
	return nil
}

// namedDialContext dials with d and lets a refusal name the host it was for.
func namedDialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			ctx = context.WithValue(ctx, dialHostKey{}, host)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// maxResponseHeaderBytes bounds response headers: a hostile endpoint with
// huge headers costs one failed attempt, not memory.
const maxResponseHeaderBytes = 64 << 10

// NewTransport returns a new transport tuned for delivering webhooks to many
// hosts: up to 1024 idle connections, 64 per host, kept 90 s; HTTP/2 when the
// server offers it; response headers limited to 64 KiB; no proxy (a proxy
// would make the connection the dialer checks be the proxy's). It sets no
// response-header timeout: the caller's per-attempt context bounds every
// phase of a request.
//
// Unless allowPrivate is true, its dialer is SafeDialer(nil), so requests to
// destinations that resolve to non-public addresses (see IsPublicAddr) fail
// with an error wrapping *DestinationError. allowPrivate is for development
// and tests against local servers.
func NewTransport(allowPrivate bool) *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                  nil,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	if allowPrivate {
		t.DialContext = d.DialContext
	} else {
		t.DialContext = namedDialContext(SafeDialer(d))
	}
	return t
}

// guardTransport makes an application's RoundTripper refuse non-public
// destinations. The dispatcher calls it on the transport of a client passed
// with WithHTTPClient, unless private networks are allowed:
//
//   - nil means http.DefaultTransport, treated as below.
//   - *http.Transport: a Clone whose DialContext is a SafeDialer (with default
//     timeouts; the original DialContext, Dial, DialTLS and DialTLSContext are
//     dropped because the guard cannot see through them), whose Proxy is nil
//     (through a proxy the dialer would only see the proxy), and whose
//     MaxResponseHeaderBytes is 64 KiB if it was unset. TLS settings, pool
//     sizes and timeouts are kept.
//   - any other RoundTripper (a test fake, an instrumentation wrapper) is
//     wrapped so that a request whose URL host is "localhost", a name under
//     ".localhost", an IP literal that is not public, or a numeric host that
//     some resolvers read as IPv4 ("127.1", "2130706433", "0x7f000001") is
//     refused with a *DestinationError before it reaches rt. This cannot see
//     what a name resolves to: an application that wraps its transport
//     should build the inner *http.Transport's DialContext from SafeDialer.
func guardTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	switch t := rt.(type) {
	case *http.Transport:
		c := t.Clone()
		c.Proxy = nil
		c.OnProxyConnectResponse = nil
		// Cleared so that no dial escapes the guard.
		//lint:ignore SA1019 the deprecated hook still works and must be cleared
		c.Dial = nil
		//lint:ignore SA1019 the deprecated hook still works and must be cleared
		c.DialTLS = nil
		c.DialTLSContext = nil
		c.DialContext = namedDialContext(SafeDialer(nil))
		if c.MaxResponseHeaderBytes == 0 {
			c.MaxResponseHeaderBytes = maxResponseHeaderBytes
		}
		return c
	case *urlGuard:
		return t
	default:
		return &urlGuard{next: rt}
	}
}

// urlGuard refuses requests whose URL names a non-public host literally.
type urlGuard struct {
	next http.RoundTripper
}

func (g *urlGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkURLHost(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}

// checkURLHost refuses what can be judged from a URL's host alone.
func checkURLHost(u *url.URL) error {
	if u == nil {
		return nil
	}
	host := u.Hostname()
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return &DestinationError{Host: host, Reason: "loopback name"}
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		if reason := refusedReason(ip); reason != "" {
			return &DestinationError{Host: host, IP: ip.WithZone(""), Reason: reason}
		}
		return nil
	}
	if endsInNumber(name) {
		return &DestinationError{Host: host, Reason: "numeric host that may be read as IPv4"}
	}
	return nil
}

// endsInNumber reports whether the last label of name is a number (decimal,
// or 0x hex), which URL parsers and C resolvers read as an IPv4 address in
// shorthand ("127.1", "2130706433"). No real top-level domain is numeric.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}
