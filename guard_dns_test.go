package webhook

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// dnsTestName resolves to dnsTestAddr through the in-process DNS responder of these tests.
const dnsTestName = "internal.shop.test"

var dnsTestAddr = netip.MustParseAddr("10.1.2.3")

// errDNSSafetyNet is what the safety net of these tests answers when a dial to anything
// but loopback gets past the guard: it must never be seen.
var errDNSSafetyNet = errors.New("test safety net: refusing to connect outside loopback")

// dnsGuardedTransport is NewTransport(false) whose dialer resolves with an in-process DNS
// responder (dnsTestName is 10.1.2.3; nothing else exists) and whose base ControlContext
// refuses every address that is not loopback. SafeDialer runs that ControlContext after
// its own check, so even a broken guard cannot send a packet off this machine. queries
// counts the DNS questions asked, trips the dials the safety net stopped.
func dnsGuardedTransport(t *testing.T) (tr *http.Transport, queries, trips *atomic.Int64) {
	t.Helper()
	queries, trips = new(atomic.Int64), new(atomic.Int64)
	fake := dnsFakeResolver(queries)
	safetyNet := func(ctx context.Context, network, address string, c syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			trips.Add(1)
			return errDNSSafetyNet
		}
		return nil
	}
	tr = NewTransport(false)
	tr.DialContext = namedDialContext(SafeDialer(&net.Dialer{Resolver: fake, ControlContext: safetyNet}))
	t.Cleanup(tr.CloseIdleConnections)
	return tr, queries, trips
}

// dnsFakeResolver is a Go resolver whose every DNS exchange goes to dnsServe over an
// in-process pipe. The address it is asked to dial (the system's name server) is ignored:
// nothing leaves the process.
func dnsFakeResolver(queries *atomic.Int64) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			go dnsServe(server, queries)
			return client, nil
		},
	}
}

// dnsServe answers DNS queries on a stream connection (TCP framing: a 2-byte length before
// each message, which the Go resolver uses on any conn that is not a net.PacketConn) until
// the resolver closes it.
func dnsServe(c net.Conn, queries *atomic.Int64) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		queries.Add(1)
		resp := dnsAnswer(q)
		if resp == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// dnsAnswer is the response to one query: an A record for dnsTestName, no records of other
// types for it, and NXDOMAIN for every other name (search-list variants included). It
// returns nil for a message it cannot read.
func dnsAnswer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	var labels []string
	off := 12
	for {
		if off >= len(q) {
			return nil
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		if l&0xC0 != 0 || off+l > len(q) {
			return nil
		}
		labels = append(labels, strings.ToLower(string(q[off:off+l])))
		off += l
	}
	if off+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[off : off+2])
	question := q[12 : off+4]
	name := strings.Join(labels, ".")

	flags := uint16(0x8180) // a response, recursion desired and available, no error
	var answers uint16
	switch {
	case name != dnsTestName:
		flags |= 3 // NXDOMAIN
	case qtype == 1: // A
		answers = 1
	}
	r := append([]byte(nil), q[0:2]...) // the ID
	r = binary.BigEndian.AppendUint16(r, flags)
	r = binary.BigEndian.AppendUint16(r, 1) // QDCOUNT
	r = binary.BigEndian.AppendUint16(r, answers)
	r = binary.BigEndian.AppendUint16(r, 0) // NSCOUNT
	r = binary.BigEndian.AppendUint16(r, 0) // ARCOUNT
	r = append(r, question...)
	if answers == 1 {
		r = append(r, 0xC0, 0x0C)                // the name: a pointer to the question's
		r = binary.BigEndian.AppendUint16(r, 1)  // TYPE A
		r = binary.BigEndian.AppendUint16(r, 1)  // CLASS IN
		r = binary.BigEndian.AppendUint32(r, 60) // TTL
		r = binary.BigEndian.AppendUint16(r, 4)  // RDLENGTH
		a4 := dnsTestAddr.As4()
		r = append(r, a4[:]...)
	}
	return r
}

// requireGuardRefusedDNSName checks that err is the guard's refusal of dnsTestName at
// 10.1.2.3, not the safety net's.
func requireGuardRefusedDNSName(t *testing.T, err error, queries, trips *atomic.Int64) {
	t.Helper()
	require.Error(t, err)
	if queries.Load() == 0 {
		t.Skipf("the Go resolver asked no DNS question here (nsswitch.conf?): %v", err)
	}
	assert.NotErrorIs(t, err, errDNSSafetyNet, "the guard let the dial through; only the test's safety net stopped it")
	assert.Zero(t, trips.Load(), "dials stopped by the safety net")
	var de *DestinationError
	require.ErrorAs(t, err, &de, "want the guard's refusal, got %v", err)
	assert.ErrorIs(t, err, ErrDestinationRefused)
	assert.Equal(t, dnsTestAddr, de.IP)
	assert.Equal(t, dnsTestName, de.Host)
	assert.Equal(t, "private network", de.Reason)
}

func TestDNSNameResolvingToPrivateRefusedAtDial(t *testing.T) {
	t.Run("fake resolver answers", func(t *testing.T) {
		// The harness itself: the name resolves to 10.1.2.3 and nothing else.
		queries := new(atomic.Int64)
		r := dnsFakeResolver(queries)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		addrs, err := r.LookupNetIP(ctx, "ip", dnsTestName)
		if queries.Load() == 0 {
			t.Skipf("the Go resolver asked no DNS question here (nsswitch.conf?): %v", err)
		}
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{dnsTestAddr}, addrs)
	})

	t.Run("transport", func(t *testing.T) {
		tr, queries, trips := dnsGuardedTransport(t)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+dnsTestName+":8080/hooks",
			strings.NewReader(`{"id":"evt_1"}`))
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		requireGuardRefusedDNSName(t, err, queries, trips)
	})

	t.Run("dispatcher", func(t *testing.T) {
		tr, queries, trips := dnsGuardedTransport(t)
		results := make(chan AttemptResult, 16)
		p := DefaultRetryPolicy()
		p.Timeout = 2 * time.Second
		// AllowPrivateNetworks only keeps the dispatcher from re-wrapping the client's
		// transport: the transport is guarded itself.
		d, err := New(store.NewMemory(), WithHTTPClient(&http.Client{Transport: tr}), AllowPrivateNetworks(),
			WithRetryPolicy(p), WithObserver(func(r AttemptResult) {
				select {
				case results <- r:
				default:
				}
			}))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, d.Close(context.Background())) })

		ctx := t.Context()
		sub, err := d.Subscribe(ctx, Subscription{
			URL: "http://" + dnsTestName + ":8080/hooks", Events: []string{eventtypes.OrderCreated}, Secret: NewSecret(),
		})
		require.NoError(t, err, "Subscribe does not consult DNS")
		_, err = d.Emit(ctx, eventtypes.OrderCreated, map[string]any{"id": "ord_1"})
		require.NoError(t, err)

		var res AttemptResult
		select {
		case res = <-results:
		case <-time.After(10 * time.Second):
			t.Fatal("no attempt within 10 s")
		}
		if queries.Load() == 0 {
			t.Skipf("the Go resolver asked no DNS question here (nsswitch.conf?): %s", res.Attempt.Error)
		}
		assert.Equal(t, sub.ID, res.SubscriptionID)
		assert.Equal(t, ErrorRefused, res.Attempt.ErrorKind, "error: %s", res.Attempt.Error)
		assert.NotContains(t, res.Attempt.Error, dnsTestAddr.String(), "the log, which merchants read, tells what the name resolves to")
		assert.Contains(t, res.Attempt.Error, dnsTestName)
		assert.Contains(t, res.Attempt.Error, "private network")
		assert.NotContains(t, res.Attempt.Error, errDNSSafetyNet.Error())
		assert.Zero(t, trips.Load(), "dials stopped by the safety net")
		assert.Zero(t, res.Attempt.StatusCode)
		assert.Equal(t, OutcomeRetry, res.Attempt.Outcome)
		assert.Equal(t, DeliveryPending, res.State)
	})
}
