package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsPublicAddr(t *testing.T) {
	tests := []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"172.15.255.255", true},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"169.254.0.1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fd00::1%eth0", false},
		{"2001:4860:4860::8888%eth0", true}, // a zone is ignored
		{"fc00::1", false},
		{"fd12:3456:789a::1", false},
		{"fec0::1", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"ff02::1", false},
		{"ff0e::1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"100::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},     // IPv4-compatible
		{"::8.8.8.8", false},       // IPv4-compatible, deprecated: refused outright
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false},
		{"64:ff9b:1::8.8.8.8", false},                   // local-use NAT64
		{"2002:7f00:1::1", false},                       // 6to4 of 127.0.0.1
		{"2002:808:808::1", false},                      // 6to4 is refused whatever it embeds
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo
		{"2001:2::1", false},
		{"4000::1", false}, // outside global unicast
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.216.34", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2001:4860:4860::8888", true},
		{"2606:4700:4700::1111", true},
		{"2a00:1450:4001:80e::200e", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			assert.Equal(t, tt.public, IsPublicAddr(ip), "reason: %q", refusedReason(ip))
			if !tt.public {
				assert.NotEmpty(t, refusedReason(ip))
			}
		})
	}
	assert.False(t, IsPublicAddr(netip.Addr{}))
}

func TestDestinationError(t *testing.T) {
	var err error = &DestinationError{Host: "db.internal", IP: netip.MustParseAddr("10.0.0.7"), Reason: "private network"}
	assert.ErrorIs(t, err, ErrDestinationRefused)
	assert.Equal(t, `webhook: destination refused: "db.internal" resolves to 10.0.0.7 (private network)`, err.Error())

	err = &DestinationError{Host: "10.0.0.7", IP: netip.MustParseAddr("10.0.0.7"), Reason: "private network"}
	assert.Equal(t, `webhook: destination refused: 10.0.0.7 (private network)`, err.Error())
	err = &DestinationError{Host: "localhost", Reason: "loopback name"}
	assert.Equal(t, `webhook: destination refused: "localhost" (loopback name)`, err.Error())

	wrapped := &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	assert.ErrorIs(t, wrapped, ErrDestinationRefused)
	// The delivery log, which merchants read, keeps the name and the reason only.
	named := &DestinationError{Host: "db.internal", IP: netip.MustParseAddr("10.0.0.7"), Reason: "private network"}
	dial := &url.Error{Op: "Post", URL: "http://db.internal/x", Err: &net.OpError{Op: "dial", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 80}, Err: named}}
	assert.Equal(t, `webhook: destination refused: "db.internal" (private network)`, attemptError(dial))
	assert.Equal(t, `webhook: destination refused: 10.0.0.7 (private network)`,
		attemptError(&DestinationError{Host: "10.0.0.7", IP: netip.MustParseAddr("10.0.0.7"), Reason: "private network"}))
	var de *DestinationError
	require.ErrorAs(t, wrapped, &de)
	assert.Equal(t, "localhost", de.Host)
}

// loopbackServer starts a test server on the given loopback address.
func loopbackServer(t *testing.T, network, addr string) *httptest.Server {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "reached")
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, rt http.RoundTripper, rawURL string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func requireRefused(t *testing.T, err error, wantHost string, wantIP netip.Addr) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrDestinationRefused)
	var de *DestinationError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, wantHost, de.Host)
	if wantIP.IsValid() {
		assert.Equal(t, wantIP, de.IP)
	}
	assert.NotEmpty(t, de.Reason)
}

func TestNewTransportRefusesLoopback(t *testing.T) {
	v4 := loopbackServer(t, "tcp4", "127.0.0.1:0")
	port := v4.Listener.Addr().(*net.TCPAddr).Port

	t.Run("IPv4 literal", func(t *testing.T) {
		_, err := get(t, NewTransport(false), v4.URL)
		requireRefused(t, err, "127.0.0.1", netip.MustParseAddr("127.0.0.1"))
	})
	t.Run("name resolving to loopback", func(t *testing.T) {
		addrs, err := net.DefaultResolver.LookupNetIP(t.Context(), "ip", "localhost")
		if err != nil || len(addrs) == 0 {
			t.Skipf("localhost does not resolve here: %v", err)
		}
		_, err = get(t, NewTransport(false), "http://localhost:"+strconv.Itoa(port)+"/")
		requireRefused(t, err, "localhost", netip.Addr{})
	})
	t.Run("IPv6 literal", func(t *testing.T) {
		v6 := loopbackServer(t, "tcp6", "[::1]:0")
		_, err := get(t, NewTransport(false), v6.URL)
		requireRefused(t, err, "::1", netip.MustParseAddr("::1"))

		body, err := get(t, NewTransport(true), v6.URL)
		require.NoError(t, err)
		assert.Equal(t, "reached", body)
	})
	t.Run("allowed when private networks are allowed", func(t *testing.T) {
		body, err := get(t, NewTransport(true), v4.URL)
		require.NoError(t, err)
		assert.Equal(t, "reached", body)
	})
}

func TestNewTransportSettings(t *testing.T) {
	for _, allow := range []bool{false, true} {
		tr := NewTransport(allow)
		assert.Nil(t, tr.Proxy)
		assert.NotNil(t, tr.DialContext)
		assert.Equal(t, 64, tr.MaxIdleConnsPerHost)
		assert.Equal(t, 1024, tr.MaxIdleConns)
		assert.Equal(t, 90*time.Second, tr.IdleConnTimeout)
		assert.True(t, tr.ForceAttemptHTTP2)
		assert.Zero(t, tr.ResponseHeaderTimeout)
		assert.Equal(t, int64(64<<10), tr.MaxResponseHeaderBytes)
	}
	assert.NotSame(t, NewTransport(false), NewTransport(false))
}

func TestNewTransportLimitsResponseHeaders(t *testing.T) {
	srv := loopbackServer(t, "tcp4", "127.0.0.1:0")
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Huge", strings.Repeat("a", 100<<10))
	})
	_, err := get(t, NewTransport(true), srv.URL)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "header")
}

func TestSafeDialer(t *testing.T) {
	t.Run("default dialer", func(t *testing.T) {
		d := SafeDialer(nil)
		assert.Equal(t, 30*time.Second, d.Timeout)
		assert.Equal(t, 30*time.Second, d.KeepAlive)
		assert.NotNil(t, d.ControlContext)
	})
	t.Run("copies base and leaves it alone", func(t *testing.T) {
		base := &net.Dialer{Timeout: 3 * time.Second}
		d := SafeDialer(base)
		assert.NotSame(t, base, d)
		assert.Equal(t, 3*time.Second, d.Timeout)
		assert.Nil(t, base.ControlContext)
		assert.Nil(t, base.Control)
	})
	t.Run("chains Control", func(t *testing.T) {
		var seen []string
		base := &net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
			seen = append(seen, address)
			return nil
		}}
		d := SafeDialer(base)
		assert.Nil(t, d.Control, "Control would be ignored next to ControlContext")
		require.NoError(t, d.ControlContext(t.Context(), "tcp4", "8.8.8.8:443", nil))
		err := d.ControlContext(t.Context(), "tcp4", "127.0.0.1:80", nil)
		requireRefused(t, err, "", netip.MustParseAddr("127.0.0.1"))
		assert.Equal(t, []string{"8.8.8.8:443"}, seen)
	})
	t.Run("chains ControlContext", func(t *testing.T) {
		wantErr := errors.New("inner says no")
		base := &net.Dialer{ControlContext: func(ctx context.Context, network, address string, c syscall.RawConn) error {
			return wantErr
		}}
		d := SafeDialer(base)
		assert.ErrorIs(t, d.ControlContext(t.Context(), "tcp6", "[2001:4860:4860::8888]:443", nil), wantErr)
		assert.ErrorIs(t, d.ControlContext(t.Context(), "tcp6", "[::1]:443", nil), ErrDestinationRefused)
	})
	t.Run("refuses what is not ip:port", func(t *testing.T) {
		d := SafeDialer(nil)
		assert.ErrorIs(t, d.ControlContext(t.Context(), "unix", "/run/docker.sock", nil), ErrDestinationRefused)
		assert.ErrorIs(t, d.ControlContext(t.Context(), "tcp", "example.com:80", nil), ErrDestinationRefused)
	})
	t.Run("real dial to loopback is refused", func(t *testing.T) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		conn, err := SafeDialer(nil).DialContext(t.Context(), "tcp", ln.Addr().String())
		if conn != nil {
			conn.Close()
		}
		requireRefused(t, err, "", netip.MustParseAddr("127.0.0.1"))
	})
}

func TestGuardTransportHTTPTransport(t *testing.T) {
	srv := loopbackServer(t, "tcp4", "127.0.0.1:0")
	proxyURL, err := url.Parse(srv.URL)
	require.NoError(t, err)

	t.Run("nil means a guarded clone of the default transport", func(t *testing.T) {
		rt := guardTransport(nil)
		tr, ok := rt.(*http.Transport)
		require.True(t, ok)
		assert.NotSame(t, http.DefaultTransport, tr)
		assert.Nil(t, tr.Proxy)
		assert.Equal(t, int64(64<<10), tr.MaxResponseHeaderBytes)
		_, err := get(t, rt, srv.URL)
		requireRefused(t, err, "127.0.0.1", netip.MustParseAddr("127.0.0.1"))
	})
	t.Run("app transport: proxy and custom dialers cannot bypass", func(t *testing.T) {
		var plain net.Dialer
		app := &http.Transport{
			Proxy:       http.ProxyURL(proxyURL), // would carry the request to loopback
			DialContext: plain.DialContext,
			DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return plain.DialContext(ctx, network, addr)
			},
			MaxIdleConnsPerHost:    7,
			MaxResponseHeaderBytes: 1 << 10,
		}
		rt := guardTransport(app)
		tr, ok := rt.(*http.Transport)
		require.True(t, ok)
		assert.NotSame(t, app, tr)
		assert.Nil(t, tr.Proxy)
		assert.Nil(t, tr.DialTLSContext)
		assert.Equal(t, 7, tr.MaxIdleConnsPerHost, "the app's tuning is kept")
		assert.Equal(t, int64(1<<10), tr.MaxResponseHeaderBytes, "an explicit limit is kept")
		assert.NotNil(t, app.Proxy, "the app's transport is not modified")

		_, err := get(t, rt, srv.URL)
		requireRefused(t, err, "127.0.0.1", netip.Addr{})
		_, err = get(t, rt, "http://localhost:"+strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)+"/")
		require.ErrorIs(t, err, ErrDestinationRefused)

		// The untouched app transport does reach it: the guard is what refuses.
		body, err := get(t, app, "http://203.0.113.1/")
		require.NoError(t, err, "request went through the loopback proxy")
		assert.Equal(t, "reached", body)
	})
}

// fakeRoundTripper records requests and answers 200 without any network.
type fakeRoundTripper struct{ urls []string }

func (f *fakeRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	f.urls = append(f.urls, req.URL.String())
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req, Header: http.Header{}}, nil
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestGuardTransportWrapper(t *testing.T) {
	fake := &fakeRoundTripper{}
	rt := guardTransport(fake)
	assert.Same(t, rt, guardTransport(rt), "wrapping twice adds nothing")

	refused := []string{
		"http://127.0.0.1/",
		"http://127.0.0.1:8080/hook",
		"https://10.0.0.1/",
		"http://[::1]/",
		"http://[::ffff:127.0.0.1]/",
		"http://[fe80::1%25eth0]/",
		"http://169.254.169.254/latest/meta-data/",
		"http://0.0.0.0/",
		"http://localhost/",
		"http://LOCALHOST.:9000/",
		"http://shop.localhost/",
		"http://2130706433/",
		"http://127.1/",
		"http://0x7f000001/",
		"http://0177.0.0.1/",
	}
	for _, u := range refused {
		t.Run(u, func(t *testing.T) {
			body := &closeRecorder{Reader: strings.NewReader("{}")}
			req, err := http.NewRequest(http.MethodPost, u, body)
			require.NoError(t, err)
			resp, err := rt.RoundTrip(req)
			assert.Nil(t, resp)
			require.ErrorIs(t, err, ErrDestinationRefused)
			var de *DestinationError
			assert.ErrorAs(t, err, &de)
			assert.True(t, body.closed, "RoundTrip must close the body on error")
		})
	}
	assert.Empty(t, fake.urls, "nothing refused reached the inner transport")

	passed := []string{
		"https://example.com/",
		"https://shop.example.com:8443/hooks?x=1",
		"http://8.8.8.8/",
		"http://[2001:4860:4860::8888]/",
		"https://abc.de/",
		"https://localhost.example.com/",
		"https://123.example.com/",
	}
	for _, u := range passed {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err, u)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, passed, fake.urls)
}

func FuzzIsPublicAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::1", "10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::a01:203", "8.8.8.8", "2001:4860:4860::8888", "fe80::1%eth0", "2002:a00:1::"} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		public := IsPublicAddr(ip)
		if !ok {
			if public {
				t.Fatal("invalid address is public")
			}
			return
		}
		if public != IsPublicAddr(ip.WithZone("eth0")) && ip.Is6() {
			t.Fatalf("zone changes the verdict for %s", ip)
		}
		if ip.Is4() {
			if IsPublicAddr(netip.AddrFrom16(ip.As16())) != public {
				t.Fatalf("mapped form of %s disagrees", ip)
			}
			b4 := ip.As4()
			var a [16]byte
			a[1], a[2], a[3] = 0x64, 0xff, 0x9b
			copy(a[12:], b4[:])
			nat := netip.AddrFrom16(a)
			if IsPublicAddr(nat) != public {
				t.Fatalf("NAT64 form of %s disagrees", ip)
			}
		}
		u := ip.Unmap()
		if public && (u.IsLoopback() || u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsLinkLocalMulticast() ||
			u.IsInterfaceLocalMulticast() || u.IsMulticast() || u.IsUnspecified()) {
			t.Fatalf("%s is public but the standard library disagrees", ip)
		}
		if !public && refusedReason(ip) == "" {
			t.Fatalf("%s refused without a reason", ip)
		}
	})
}

// FuzzGuardURL checks the URL guard against the standard library's own
// reading of the host: nothing that net.ParseIP reads as a non-public
// address, and no localhost name, may reach the inner transport.
func FuzzGuardURL(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1/", "http://[::ffff:7f00:1]/", "http://localhost./", "http://2130706433/",
		"https://example.com/", "http://%31%32%37.0.0.1/", "http://[fe80::1%25en0]:80/", "http://8.8.8.8:80/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.NewRequest(http.MethodGet, raw, nil)
		if err != nil {
			return
		}
		fake := &fakeRoundTripper{}
		_, err = guardTransport(fake).RoundTrip(req)
		if err != nil {
			if !errors.Is(err, ErrDestinationRefused) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		host := req.URL.Hostname()
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		if name == "localhost" || strings.HasSuffix(name, ".localhost") {
			t.Fatalf("%q passed", raw)
		}
		if zone := strings.IndexByte(host, '%'); zone >= 0 {
			host = host[:zone]
		}
		if ip := net.ParseIP(host); ip != nil {
			if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
				t.Fatalf("%q (%s) passed", raw, ip)
			}
		}
	})
}
