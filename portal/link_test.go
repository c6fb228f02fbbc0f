package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
)

var testKey = bytes.Repeat([]byte("0123456789abcdef"), 2)

// tokenOf is the token of a sign-in link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	return u.Query().Get("token")
}

func TestNewLinkerRefusesBadArguments(t *testing.T) {
	for name, tc := range map[string]struct {
		base string
		key  []byte
		opts []LinkerOption
	}{
		"short key":        {"/portal/", testKey[:MinKeyBytes-1], nil},
		"relative base":    {"portal/", testKey, nil},
		"ftp base":         {"ftp://example.com/portal/", testKey, nil},
		"base with query":  {"https://example.com/portal/?x=1", testKey, nil},
		"base with user":   {"https://me@example.com/portal/", testKey, nil},
		"zero session TTL": {"/portal/", testKey, []LinkerOption{WithSessionTTL(0)}},
	} {
		_, err := NewLinker(tc.base, tc.key, tc.opts...)
		assert.ErrorIs(t, err, webhook.ErrInvalid, name)
	}
	l, err := NewLinker("https://shop.example.com/admin/webhooks", testKey)
	require.NoError(t, err)
	link, err := l.Link("shop_42", time.Minute)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(link, "https://shop.example.com/admin/webhooks/login?token="), link)

	for name, tc := range map[string]struct {
		ws  string
		ttl time.Duration
	}{
		"zero ttl":           {"shop", 0},
		"ttl over the limit": {"shop", MaxLinkTTL + time.Second},
		"workspace w/ space": {"my shop", time.Minute},
		"long workspace":     {strings.Repeat("w", 201), time.Minute},
	} {
		_, err := l.Link(tc.ws, tc.ttl)
		assert.ErrorIs(t, err, webhook.ErrInvalid, name)
	}
}

// TestLinkIsSingleUse: a link checks out until it is used, signs in once, and is refused
// after; expired, forged and tampered links are refused with their reason.
func TestLinkIsSingleUse(t *testing.T) {
	l, err := NewLinker("/portal/", testKey)
	require.NoError(t, err)
	link, err := l.Link("shop_42", 10*time.Minute)
	require.NoError(t, err)
	token := tokenOf(t, link)
	now := time.Now()

	ws, err := l.check(token, now)
	require.NoError(t, err)
	assert.Equal(t, "shop_42", ws)
	ws, err = l.redeem(t.Context(), token, now)
	require.NoError(t, err)
	assert.Equal(t, "shop_42", ws)
	_, err = l.redeem(t.Context(), token, now)
	assert.ErrorIs(t, err, ErrLinkUsed)
	_, err = l.check(token, now)
	assert.ErrorIs(t, err, ErrLinkUsed)

	fresh, err := l.Link("shop_42", 10*time.Minute)
	require.NoError(t, err)
	_, err = l.redeem(t.Context(), tokenOf(t, fresh), now.Add(11*time.Minute))
	assert.ErrorIs(t, err, ErrLinkExpired)

	other, err := NewLinker("/portal/", bytes.Repeat([]byte("x"), MinKeyBytes))
	require.NoError(t, err)
	forged, err := other.Link("shop_42", time.Minute)
	require.NoError(t, err)
	_, err = l.redeem(t.Context(), tokenOf(t, forged), now)
	assert.ErrorIs(t, err, ErrLinkInvalid, "signed with another key")

	raw := []byte(tokenOf(t, fresh))
	raw[len(raw)/2] ^= 1
	_, err = l.redeem(t.Context(), string(raw), now)
	assert.ErrorIs(t, err, ErrLinkInvalid, "tampered")
	for _, bad := range []string{"", "!!!", "AAAA"} {
		_, err = l.redeem(t.Context(), bad, now)
		assert.ErrorIs(t, err, ErrLinkInvalid, "%q", bad)
	}

	// A session cookie is not a link, and a link is not a session.
	req := httptest.NewRequest("GET", "/portal/", nil)
	c := l.sessionCookie(req, "shop_42", now, false)
	_, err = l.redeem(t.Context(), c.Value, now)
	assert.ErrorIs(t, err, ErrLinkInvalid)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: tokenOf(t, fresh)})
	_, ok := l.sessionOf(req, now)
	assert.False(t, ok)
}

// TestUsedLinksAreForgotten: the memory of used links does not grow without bound: a
// used link is forgotten once it has expired (it is refused for that anyway).
func TestUsedLinksAreForgotten(t *testing.T) {
	l, err := NewLinker("/portal/", testKey)
	require.NoError(t, err)
	now := time.Now()
	for range 50 {
		link, err := l.Link("shop", time.Minute)
		require.NoError(t, err)
		_, err = l.redeem(t.Context(), tokenOf(t, link), now)
		require.NoError(t, err)
	}
	assert.Equal(t, 50, l.seen.len())
	long, err := l.Link("shop", time.Hour)
	require.NoError(t, err)
	_, err = l.redeem(t.Context(), tokenOf(t, long), now.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, l.seen.len(), "the expired ones were swept")
	_, err = l.redeem(t.Context(), tokenOf(t, long), now.Add(3*time.Minute))
	assert.ErrorIs(t, err, ErrLinkUsed, "the live one is remembered")
}

var setCookieAttrs = regexp.MustCompile(`(?i)^webhook_portal_session=[A-Za-z0-9_-]+; Path=/admin/webhooks/; Max-Age=\d+; HttpOnly; SameSite=Lax$`)

// TestLinkStartsASession drives a link through the handler: the page with the button,
// the POST that starts the session, the dashboard with it, and sign-out.
func TestLinkStartsASession(t *testing.T) {
	e := newEnv(t)
	mine := e.subscribe("shop_42", "Mine")
	theirs := e.subscribe("shop_7", "Theirs")
	link, err := e.linker.Link("shop_42", time.Minute)
	require.NoError(t, err)
	token := tokenOf(t, link)

	page := e.get("-", link)
	require.Equal(t, 200, page.Status)
	assert.Contains(t, page.Body, "shop_42")
	assert.Contains(t, page.Body, `action="./login"`)
	assert.Empty(t, page.Header.Get("Set-Cookie"), "opening the link does not use it up")

	r := e.post("-", "login", url.Values{"token": {token}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, mountPrefix, r.Location.Path)
	setCookie := r.Header.Get("Set-Cookie")
	assert.Regexp(t, setCookieAttrs, setCookie)
	assert.NotContains(t, setCookie, "Secure", "plain HTTP")
	cookie := strings.SplitN(setCookie, ";", 2)[0]

	dash := e.do("-", "GET", "", nil, "Cookie", cookie)
	require.Equal(t, 200, dash.Status)
	assert.Contains(t, decoded(dash.Body), mine.URL)
	assert.NotContains(t, decoded(dash.Body), theirs.URL)
	assert.Contains(t, dash.Body, "Sign out")
	assert.Equal(t, http.StatusNotFound, e.do("-", "GET", "webhooks/"+theirs.ID, nil, "Cookie", cookie).Status)
	assert.Equal(t, http.StatusNotFound, e.do("-", "POST", "webhooks/"+theirs.ID+"/delete", url.Values{}, "Cookie", cookie).Status)

	again := e.post("-", "login", url.Values{"token": {token}})
	assert.Equal(t, http.StatusUnauthorized, again.Status)
	assert.Contains(t, again.Body, "used already")
	assert.Equal(t, http.StatusUnauthorized, e.get("-", link).Status)

	out := e.do("-", "POST", "logout", url.Values{}, "Cookie", cookie)
	require.Equal(t, 200, out.Status)
	assert.Contains(t, out.Header.Get("Set-Cookie"), "Max-Age=0")

	// The session ends when its time is up, whatever the cookie says.
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", cookie)
	_, ok := e.linker.sessionOf(req, time.Now().Add(DefaultSessionTTL+time.Second))
	assert.False(t, ok)
	_, ok = e.linker.sessionOf(req, time.Now())
	assert.True(t, ok)
}

// TestSessionCookieSecureOnHTTPS: the cookie is Secure when the portal is served over
// HTTPS, directly or behind a proxy that says so, or when the Linker's URL is https.
func TestSessionCookieSecureOnHTTPS(t *testing.T) {
	plain, err := NewLinker("/portal/", testKey)
	require.NoError(t, err)
	https, err := NewLinker("https://shop.example.com/portal/", testKey)
	require.NoError(t, err)
	now := time.Now()
	req := httptest.NewRequest("POST", "http://shop.example.com/portal/login", nil)
	assert.False(t, plain.sessionCookie(req, "w", now, false).Secure)
	assert.True(t, https.sessionCookie(req, "w", now, false).Secure)
	tlsReq := httptest.NewRequest("POST", "https://shop.example.com/portal/login", nil)
	assert.True(t, plain.sessionCookie(tlsReq, "w", now, false).Secure)
	proxied := httptest.NewRequest("POST", "http://shop.example.com/portal/login", nil)
	proxied.Header.Set("X-Forwarded-Proto", "https")
	assert.True(t, plain.sessionCookie(proxied, "w", now, false).Secure)
	c := https.sessionCookie(req, "w", now, false)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/portal/", c.Path)
	assert.Equal(t, int(DefaultSessionTTL/time.Second), c.MaxAge)
}

func TestLinkRefusalsSayWhy(t *testing.T) {
	e := newEnv(t)
	assert.Contains(t, e.get("-", "login?token=garbage").Body, "not valid")
	assert.Equal(t, http.StatusUnauthorized, e.post("-", "login", url.Values{"token": {"garbage"}}).Status)
	expired, err := e.linker.Link("shop", time.Nanosecond)
	require.NoError(t, err)
	r := e.get("-", expired)
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Contains(t, r.Body, "expired")
}

// fakeUsedLinks is a UsedLinks that Linkers share, as processes share a database.
type fakeUsedLinks struct {
	mu    sync.Mutex
	used  map[string]time.Time
	calls []string // the nonces asked about, in order
	err   error    // answered, when set, instead of an answer
}

func newFakeUsedLinks() *fakeUsedLinks { return &fakeUsedLinks{used: make(map[string]time.Time)} }

func (f *fakeUsedLinks) UseLink(_ context.Context, nonce string, expires time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, nonce)
	if f.err != nil {
		return false, f.err
	}
	if _, used := f.used[nonce]; used {
		return false, nil
	}
	f.used[nonce] = expires
	return true, nil
}

func (f *fakeUsedLinks) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeUsedLinks) failWith(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// TestUsedLinksSharedBetweenLinkers: two Linkers with one key and one UsedLinks (two
// processes, or one before and after a restart) let a link sign in once between them.
func TestUsedLinksSharedBetweenLinkers(t *testing.T) {
	shared := newFakeUsedLinks()
	a, err := NewLinker("/portal/", testKey, WithUsedLinks(shared))
	require.NoError(t, err)
	b, err := NewLinker("/portal/", testKey, WithUsedLinks(shared))
	require.NoError(t, err)
	link, err := a.Link("shop_42", 10*time.Minute)
	require.NoError(t, err)
	token := tokenOf(t, link)
	now := time.Now()

	ws, err := a.redeem(t.Context(), token, now)
	require.NoError(t, err)
	assert.Equal(t, "shop_42", ws)
	require.Len(t, shared.asked(), 1)
	nonce := shared.asked()[0]
	assert.Regexp(t, `^[A-Za-z0-9_-]{22}$`, nonce, "printable, and short")
	assert.WithinDuration(t, now.Add(10*time.Minute), shared.used[nonce], time.Second, "remembered until the link expires")

	ws, err = b.check(token, now)
	require.NoError(t, err, "b's page cannot tell without using the link up")
	assert.Equal(t, "shop_42", ws)
	_, err = b.redeem(t.Context(), token, now)
	require.ErrorIs(t, err, ErrLinkUsed, "the replay in the other process")
	assert.Equal(t, []string{nonce, nonce}, shared.asked())
	_, err = b.check(token, now)
	assert.ErrorIs(t, err, ErrLinkUsed, "b knows now")

	_, err = a.redeem(t.Context(), token, now)
	require.ErrorIs(t, err, ErrLinkUsed)
	_, err = b.redeem(t.Context(), token, now)
	require.ErrorIs(t, err, ErrLinkUsed)
	assert.Len(t, shared.asked(), 2, "a Linker that saw the link used does not ask again")

	other, err := a.Link("shop_42", 10*time.Minute)
	require.NoError(t, err)
	_, err = b.redeem(t.Context(), tokenOf(t, other), now)
	require.NoError(t, err, "another link signs in")
}

// TestUsedLinksNotAskedForBadLinks: a link that is forged, damaged, expired or a session
// is refused for that before the UsedLinks is asked, so it never reaches the store.
func TestUsedLinksNotAskedForBadLinks(t *testing.T) {
	shared := newFakeUsedLinks()
	l, err := NewLinker("/portal/", testKey, WithUsedLinks(shared))
	require.NoError(t, err)
	now := time.Now()
	fresh, err := l.Link("shop_42", time.Minute)
	require.NoError(t, err)
	other, err := NewLinker("/portal/", bytes.Repeat([]byte("x"), MinKeyBytes))
	require.NoError(t, err)
	forged, err := other.Link("shop_42", time.Minute)
	require.NoError(t, err)
	tampered := []byte(tokenOf(t, fresh))
	tampered[len(tampered)/2] ^= 1
	session := l.sessionCookie(httptest.NewRequest("GET", "/portal/", nil), "shop_42", now, false).Value

	for name, tc := range map[string]struct {
		token string
		now   time.Time
		want  error
	}{
		"expired":  {tokenOf(t, fresh), now.Add(2 * time.Minute), ErrLinkExpired},
		"forged":   {tokenOf(t, forged), now, ErrLinkInvalid},
		"tampered": {string(tampered), now, ErrLinkInvalid},
		"garbage":  {"!!!", now, ErrLinkInvalid},
		"session":  {session, now, ErrLinkInvalid},
	} {
		_, err := l.redeem(t.Context(), tc.token, tc.now)
		assert.ErrorIs(t, err, tc.want, name)
	}
	assert.Empty(t, shared.asked())
}

// TestUsedLinksErrorRefuses: when the UsedLinks fails, the link does not sign in, is not
// taken for used, and signs in once the UsedLinks works again.
func TestUsedLinksErrorRefuses(t *testing.T) {
	shared := newFakeUsedLinks()
	l, err := NewLinker("/portal/", testKey, WithUsedLinks(shared))
	require.NoError(t, err)
	link, err := l.Link("shop_42", time.Minute)
	require.NoError(t, err)
	now := time.Now()
	down := errors.New("connection refused")
	shared.failWith(down)
	_, err = l.redeem(t.Context(), tokenOf(t, link), now)
	require.ErrorIs(t, err, down)
	require.ErrorIs(t, err, errUsedUnknown)
	assert.NotErrorIs(t, err, ErrLinkUsed)
	_, err = l.check(tokenOf(t, link), now)
	require.NoError(t, err, "not taken for used")

	shared.failWith(nil)
	ws, err := l.redeem(t.Context(), tokenOf(t, link), now)
	require.NoError(t, err)
	assert.Equal(t, "shop_42", ws)
}

// syncBuffer is a log destination that the portal's handlers and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUsedLinksThroughTheHandler: two portals (two processes) whose Linkers share a
// UsedLinks: a link signs in at one, its replay at the other is refused with the "used
// already" page, and a failing UsedLinks answers "try again" without a session or the
// error's text.
func TestUsedLinksThroughTheHandler(t *testing.T) {
	shared := newFakeUsedLinks()
	var logs syncBuffer
	one := newEnv(t, withLinkerOptions(WithUsedLinks(shared)))
	two := newEnv(t, withLinkerOptions(WithUsedLinks(shared)),
		withPortalOptions(WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))))
	link, err := one.linker.Link("shop_42", time.Minute)
	require.NoError(t, err)
	token := tokenOf(t, link)

	r := one.post("-", "login", url.Values{"token": {token}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.NotEmpty(t, r.Header.Get("Set-Cookie"))

	page := two.get("-", "login?token="+url.QueryEscape(token))
	assert.Equal(t, http.StatusOK, page.Status, "the other process's page cannot tell")
	again := two.post("-", "login", url.Values{"token": {token}})
	assert.Equal(t, http.StatusUnauthorized, again.Status)
	assert.Contains(t, again.Body, "used already")
	assert.Empty(t, again.Header.Get("Set-Cookie"))
	assert.Equal(t, http.StatusUnauthorized, two.get("-", "login?token="+url.QueryEscape(token)).Status, "now it can")

	fresh, err := one.linker.Link("shop_42", time.Minute)
	require.NoError(t, err)
	shared.failWith(errors.New("database password=hunter2 unreachable"))
	failed := two.post("-", "login", url.Values{"token": {tokenOf(t, fresh)}})
	assert.Equal(t, http.StatusServiceUnavailable, failed.Status)
	assert.Contains(t, failed.Body, "Try the link again")
	assert.NotContains(t, failed.Body, "hunter2")
	assert.Empty(t, failed.Header.Get("Set-Cookie"), "no session")
	assert.Contains(t, logs.String(), "hunter2", "the error is logged")

	// A cancelled context (a server shutting down cancels it with the browser still
	// waiting) gets the same answer, not an empty page.
	shared.failWith(fmt.Errorf("querying: %w", context.Canceled))
	cancelled := two.post("-", "login", url.Values{"token": {tokenOf(t, fresh)}})
	assert.Equal(t, http.StatusServiceUnavailable, cancelled.Status)
	assert.Contains(t, cancelled.Body, "Try the link again")

	shared.failWith(nil)
	ok := two.post("-", "login", url.Values{"token": {tokenOf(t, fresh)}})
	assert.Equal(t, http.StatusSeeOther, ok.Status, "the link was not used up")
}
