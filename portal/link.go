package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shophooks/webhook"
)

// Sign-in links: limits and defaults.
const (
	// DefaultSessionTTL is how long a session started by a sign-in link lasts, unless
	// WithSessionTTL says otherwise.
	DefaultSessionTTL = time.Hour
	// MaxLinkTTL is the longest a sign-in link may stay good for.
	MaxLinkTTL = 7 * 24 * time.Hour
	// MinKeyBytes is the shortest signing key NewLinker accepts.
	MinKeyBytes = 32
)

// Why a sign-in link was refused; the portal says so to the person who followed it.
var (
	// ErrLinkInvalid: the link was not signed by this Linker's key, or is damaged.
	ErrLinkInvalid = errors.New("portal: sign-in link is not valid")
	// ErrLinkExpired: the link's time to live has passed.
	ErrLinkExpired = errors.New("portal: sign-in link has expired")
	// ErrLinkUsed: the link was used already; each link signs in once.
	ErrLinkUsed = errors.New("portal: sign-in link was already used")
)

// cookieName is the session cookie of a sign-in link.
const cookieName = "webhook_portal_session"

// Token layout: a kind byte, the expiry in Unix milliseconds, (links only) a random
// nonce, the workspace, then the HMAC-SHA256 of all that.
const (
	kindLink    = 'l'
	kindSession = 's'
	nonceBytes  = 16
	macBytes    = sha256.Size
)

// Linker signs single-use sign-in links to the portal, for platforms whose merchants have
// no login of their own (Svix's App Portal model): the platform calls Link for a
// merchant's workspace and hands the URL to the merchant, who opens it once to start a
// short session. Give the Linker to New with WithLinker. A Linker is safe for concurrent
// use.
//
// Each link signs in once. By default the Linker remembers the links used in memory,
// until they expire: a used link that has not expired then signs in again after the
// process restarts, and once in each of several processes behind one address. An
// application that restarts while links are live, or runs several processes, gives the
// Linker a memory that outlives the process with WithUsedLinks. The stores of packages
// storepg (store_postgres: shared by every process on the database) and storebolt
// (store_bolt: the one process's file) have one:
//
//	st, err := storepg.Open(ctx, pool)
//	links, err := portal.NewLinker("https://shop.example.com/admin/webhooks/", key,
//		portal.WithUsedLinks(st.UsedLinks()))
//
// Keep link lifetimes as short as the way you hand them over allows: minutes for a link
// the merchant opens from your own admin at once; the hours or days up to MaxLinkTTL for
// links sent by mail.
type Linker struct {
	base       string // the portal's URL, ending in "/"
	cookiePath string
	https      bool
	linkKey    []byte
	sessionKey []byte
	sessionTTL time.Duration

	shared UsedLinks // nil: seen alone says which links were used
	seen   usedMemory
}

// UsedLinks remembers which sign-in links were used, for Linkers in several processes or
// in a process that restarts (see WithUsedLinks). Implementations must be safe for
// concurrent use. Packages storepg and storebolt have one in the store: the Store's
// UsedLinks method.
type UsedLinks interface {
	// UseLink records the link with this nonce as used until expires (or later), and
	// reports whether it was unused before: of any number of calls with one nonce before
	// expires, from any process, exactly one answers true. The nonce identifies one link:
	// at most 64 URL-safe characters (base64url), random. It is no secret: without the
	// rest of the link, which only the Linker's key can sign, it signs in nowhere. A
	// Linker calls UseLink only for a link whose signature it has checked and which has
	// not expired, with the sign-in request's context. An error says the answer is not
	// known: the sign-in is refused, the error logged, and the merchant asked to try
	// again.
	UseLink(ctx context.Context, nonce string, expires time.Time) (first bool, err error)
}

// LinkerOption configures a Linker.
type LinkerOption func(*Linker)

// WithSessionTTL sets how long a session started by a sign-in link lasts (default
// DefaultSessionTTL). The session ends then, whatever the merchant is doing; a new link
// starts a new one. "Sign out" removes the session's cookie from the browser, but the
// session is a signed cookie, not a server record: a copy of it stays good until it
// ends, so keep sessions short.
func WithSessionTTL(d time.Duration) LinkerOption {
	return func(l *Linker) { l.sessionTTL = d }
}

// WithUsedLinks makes a link sign in once across every Linker that shares u, whichever
// process it runs in and however often they restart: give every process's Linker the
// same key and a u that keeps its records in one place, such as the UsedLinks of a
// storepg Store. A sign-in then costs a call of u.UseLink; a link the Linker saw used
// itself is refused without one. The page a link opens (with the button that signs in)
// still shows for a link used in another process; its button refuses the link. A nil u
// keeps the default, the Linker's own memory.
func WithUsedLinks(u UsedLinks) LinkerOption {
	return func(l *Linker) { l.shared = u }
}

// NewLinker returns a Linker for the portal mounted at baseURL, the URL (or the absolute
// path, "/admin/webhooks/") at which the application serves the handler of New; links
// and session cookies are scoped to it. key signs links and sessions: at least
// MinKeyBytes random bytes, kept secret and the same in every process that serves the
// portal; anyone with it can sign in to any workspace. Changing it ends every session.
// Bad arguments are refused with a *webhook.ValidationError.
func NewLinker(baseURL string, key []byte, opts ...LinkerOption) (*Linker, error) {
	if len(key) < MinKeyBytes {
		return nil, &webhook.ValidationError{Field: "key", Reason: fmt.Sprintf("must be at least %d bytes, not %d", MinKeyBytes, len(key))}
	}
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return nil, &webhook.ValidationError{Field: "baseURL", Reason: "cannot be parsed", Err: err}
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, &webhook.ValidationError{Field: "baseURL", Value: baseURL, Reason: "must have no query, fragment or user"}
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
		// An absolute path: links relative to the application's own origin.
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
	default:
		return nil, &webhook.ValidationError{Field: "baseURL", Value: baseURL, Reason: `must be an http or https URL, or a path starting with "/"`}
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	l := &Linker{
		base:       u.String(),
		cookiePath: u.EscapedPath(),
		https:      u.Scheme == "https",
		linkKey:    deriveKey(key, "webhook portal sign-in link v1"),
		sessionKey: deriveKey(key, "webhook portal session v1"),
		sessionTTL: DefaultSessionTTL,
		seen:       usedMemory{used: make(map[string]time.Time)},
	}
	for _, o := range opts {
		o(l)
	}
	if l.sessionTTL <= 0 {
		return nil, &webhook.ValidationError{Field: "sessionTTL", Value: l.sessionTTL.String(), Reason: "must be positive"}
	}
	return l, nil
}

// deriveKey gives links and sessions keys of their own, so that neither can pass for the
// other.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Link returns a URL that signs in to the portal for workspace ("" is the default
// workspace): good once, until ttl from now (at most MaxLinkTTL). Opening it shows a
// button that starts the session, so that a mail scanner that follows links does not use
// it up. A bad workspace or ttl is refused with a *webhook.ValidationError.
func (l *Linker) Link(workspace string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxLinkTTL {
		return "", &webhook.ValidationError{Field: "ttl", Value: ttl.String(), Reason: fmt.Sprintf("must be positive and at most %s", MaxLinkTTL)}
	}
	if len(workspace) > 200 || strings.ContainsFunc(workspace, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "", &webhook.ValidationError{Field: "workspace", Reason: "must be at most 200 printable ASCII characters without spaces"}
	}
	nonce := make([]byte, nonceBytes)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	token := l.sign(l.linkKey, kindLink, time.Now().Add(ttl), nonce, workspace)
	return l.base + "login?token=" + token, nil
}

// sign makes a token: kind, expiry, nonce and workspace, then their MAC, in base64url.
func (l *Linker) sign(key []byte, kind byte, exp time.Time, nonce []byte, workspace string) string {
	b := make([]byte, 0, 1+8+len(nonce)+len(workspace)+macBytes)
	b = append(b, kind)
	b = binary.BigEndian.AppendUint64(b, uint64(exp.UnixMilli()))
	b = append(b, nonce...)
	b = append(b, workspace...)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(b))
}

// open checks a token's MAC, kind and expiry, and returns its parts.
func (l *Linker) open(key []byte, kind byte, nonceLen int, token string, now time.Time) (workspace, nonce string, exp time.Time, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+8+nonceLen+macBytes {
		return "", "", time.Time{}, ErrLinkInvalid
	}
	body, mac := b[:len(b)-macBytes], b[len(b)-macBytes:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)) || body[0] != kind {
		return "", "", time.Time{}, ErrLinkInvalid
	}
	exp = time.UnixMilli(int64(binary.BigEndian.Uint64(body[1:9])))
	nonce, workspace = string(body[9:9+nonceLen]), string(body[9+nonceLen:])
	if !now.Before(exp) {
		return "", "", time.Time{}, ErrLinkExpired
	}
	return workspace, nonce, exp, nil
}

// check reports whether a link is good, without using it up. It does not ask the shared
// UsedLinks (that would use the link up), so a link used in another process passes.
func (l *Linker) check(token string, now time.Time) (workspace string, err error) {
	ws, nonce, _, err := l.open(l.linkKey, kindLink, nonceBytes, token, now)
	if err != nil {
		return "", err
	}
	if l.seen.has(nonce) {
		return "", ErrLinkUsed
	}
	return ws, nil
}

// errUsedUnknown: the shared UsedLinks failed, so whether the link was used is not known.
var errUsedUnknown = errors.New("portal: cannot tell whether the sign-in link was used")

// redeem uses a link up and returns its workspace. A link that does not check out never
// reaches the shared UsedLinks.
func (l *Linker) redeem(ctx context.Context, token string, now time.Time) (workspace string, err error) {
	ws, nonce, exp, err := l.open(l.linkKey, kindLink, nonceBytes, token, now)
	if err != nil {
		return "", err
	}
	if l.shared == nil {
		if !l.seen.use(nonce, exp, now) {
			return "", ErrLinkUsed
		}
		return ws, nil
	}
	if l.seen.has(nonce) {
		return "", ErrLinkUsed
	}
	first, err := l.shared.UseLink(ctx, base64.RawURLEncoding.EncodeToString([]byte(nonce)), exp)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errUsedUnknown, err)
	}
	l.seen.use(nonce, exp, now) // used now, here or elsewhere: the link's page says so
	if !first {
		return "", ErrLinkUsed
	}
	return ws, nil
}

// usedMemory is the links a Linker saw used, in memory, until they expire.
type usedMemory struct {
	mu      sync.Mutex
	used    map[string]time.Time // nonce -> when its link expires
	sweepAt time.Time            // when expired entries of used are next removed
}

// has reports whether the link with nonce was used.
func (m *usedMemory) has(nonce string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, used := m.used[nonce]
	return used
}

// use records the link with nonce, which expires at exp, as used, and reports whether it
// was unused before.
func (m *usedMemory) use(nonce string, exp, now time.Time) (first bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !now.Before(m.sweepAt) {
		// A used link that has expired is refused for its expiry: forget it.
		for n, e := range m.used {
			if !now.Before(e) {
				delete(m.used, n)
			}
		}
		m.sweepAt = now.Add(time.Minute)
	}
	if _, used := m.used[nonce]; used {
		return false
	}
	m.used[nonce] = exp
	return true
}

// len is how many used links m remembers.
func (m *usedMemory) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.used)
}

// sessionOf returns the workspace of the request's session cookie, if it has a good one.
func (l *Linker) sessionOf(r *http.Request, now time.Time) (string, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", false
	}
	ws, _, _, err := l.open(l.sessionKey, kindSession, 0, c.Value, now)
	return ws, err == nil
}

// sessionCookie starts a session for workspace; a negative maxAge ends the session.
func (l *Linker) sessionCookie(r *http.Request, workspace string, now time.Time, end bool) *http.Cookie {
	c := &http.Cookie{
		Name:     cookieName,
		Path:     l.cookiePath,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   l.https || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	}
	if end {
		c.MaxAge = -1
		return c
	}
	c.Value = l.sign(l.sessionKey, kindSession, now.Add(l.sessionTTL), nil, workspace)
	c.MaxAge = int(l.sessionTTL / time.Second)
	return c
}

// loginView is the page a sign-in link opens.
type loginView struct {
	Token     string
	Workspace string
}

// loginPage shows the button that uses a sign-in link up. It does not use it itself: mail
// scanners and link previews fetch links, and would use up a link that signed in on GET.
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	l := h.cfg.linker
	if l == nil {
		h.notFound(w, r, session{})
		return
	}
	token := r.URL.Query().Get("token")
	ws, err := l.check(token, time.Now())
	if err != nil {
		h.linkRefused(w, r, err)
		return
	}
	h.render(w, r, session{}, http.StatusOK, "login", layout{Title: "Sign in", Page: loginView{Token: token, Workspace: ws}})
}

// login uses a sign-in link up and starts the session.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	l := h.cfg.linker
	if l == nil {
		h.notFound(w, r, session{})
		return
	}
	now := time.Now()
	ws, err := l.redeem(r.Context(), r.PostFormValue("token"), now)
	if err != nil {
		h.linkRefused(w, r, err)
		return
	}
	http.SetCookie(w, l.sessionCookie(r, ws, now, false))
	seeOther(w, r, "")
}

// linkRefused answers a link that does not sign in, saying why.
func (h *handler) linkRefused(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errUsedUnknown) {
		// Answered even when the request's context was cancelled: a server shutting down
		// cancels it with the browser still waiting.
		h.cfg.logger.Error("portal: sign-in link not checked", "err", err)
		h.message(w, r, session{}, http.StatusServiceUnavailable, "Sign-in failed",
			"The sign-in could not be completed just now. Try the link again in a moment.", "")
		return
	}
	text := "This sign-in link is not valid. Ask for a new one."
	switch {
	case errors.Is(err, ErrLinkExpired):
		text = "This sign-in link has expired. Ask for a new one."
	case errors.Is(err, ErrLinkUsed):
		text = "This sign-in link was used already; each link signs in once. Ask for a new one."
	}
	h.cfg.logger.Info("portal: sign-in link refused", "err", err)
	h.message(w, r, session{}, http.StatusUnauthorized, "Sign-in link refused", text, "")
}

// logout ends a link's session in this browser.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	if l := h.cfg.linker; l != nil {
		http.SetCookie(w, l.sessionCookie(r, "", time.Now(), true))
	}
	h.message(w, r, session{}, http.StatusOK, "Signed out", "You are signed out. Open a new sign-in link to come back.", "")
}
