package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Standard Webhooks headers, in Go's canonical form. Header names are
// case-insensitive on the wire; receivers may spell them webhook-id and so on.
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
)

// SecretPrefix marks a Standard Webhooks secret: the rest of the string is the
// base64 (standard encoding) of the signing key.
const SecretPrefix = "whsec_"

// ErrInvalidSecret reports a secret that cannot be used as a signing key: a
// "whsec_" secret whose remainder is not valid base64 or decodes to nothing.
// Errors wrapping it never contain the secret itself.
var ErrInvalidSecret = errors.New("webhook: invalid secret")

// SignInput is what a Signer signs: one attempt of one delivery.
type SignInput struct {
	// ID is the webhook-id: the event ID, the same on every retry so that
	// receivers can deduplicate. It must not be empty.
	ID string
	// Timestamp is this attempt's send time, sent as webhook-timestamp in Unix
	// seconds. The zero value means time.Now().
	Timestamp time.Time
	// Body is the exact bytes sent. For a GET (query-format) delivery, which
	// has no body, it is the raw query string as sent (req.URL.RawQuery),
	// which is what Verifier.Handler verifies for GET requests.
	Body []byte
	// Secrets are the signing secrets: the current one first, then a previous
	// one while a secret is being rotated. Empty strings are skipped; with no
	// non-empty secret the request is sent unsigned.
	Secrets []string
}

// Signer adds authentication headers to an outgoing webhook request.
//
// Sign is called once per attempt, after the body is final and before the
// request is sent. It must be safe for concurrent use, must not keep h or
// in.Body after it returns, and must never put a secret in its error.
type Signer interface {
	Sign(h http.Header, in SignInput) error
}

// StandardSigner signs requests per Standard Webhooks
// (https://www.standardwebhooks.com/): it always sets webhook-id and
// webhook-timestamp and, when there is at least one non-empty secret, sets
// webhook-signature to one space-separated "v1,<base64 HMAC-SHA256>" per
// secret, each over "id.timestamp.body". It is the default Signer, and any
// Standard Webhooks verifier that is given a "whsec_" secret accepts its
// signatures.
//
// A secret that starts with "whsec_" is base64-decoded to the key (as the
// reference libraries do); any other string is used as raw bytes. NewSecret
// makes interoperable secrets.
type StandardSigner struct{}

var _ Signer = StandardSigner{}

// Sign sets the Standard Webhooks headers on h, replacing any earlier values.
// It returns an error wrapping ErrInvalidSecret (naming the secret's position,
// never its value) when a secret cannot be decoded, and an error when in.ID is
// empty; h is then left without a signature.
func (StandardSigner) Sign(h http.Header, in SignInput) error {
	return signStandard(h, in, nil)
}

// signStandard is StandardSigner.Sign. With a keyring it takes each secret's keyed HMAC
// state from there and gives it back, instead of decoding the secret and keying a new
// HMAC for every request. The three headers cost two allocations: their values share one
// string and one slice.
func signStandard(h http.Header, in SignInput, keys *keyring) error {
	return signStandardInto(h, in, keys, nil)
}

// signStandardInto is signStandard with the three header values appended to vals, so
// that a caller with room in vals for them spares their allocation.
func signStandardInto(h http.Header, in SignInput, keys *keyring, vals []string) error {
	h.Del(HeaderWebhookSignature)
	if in.ID == "" {
		return errors.New("webhook: sign: empty webhook id")
	}
	ts := in.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	// b holds the timestamp, then the signatures: "v1,<base64>" separated by spaces.
	var arr [128]byte
	b := strconv.AppendInt(arr[:0], ts.Unix(), 10)
	tsLen := len(b)
	signed := 0
	for i, secret := range in.Secrets {
		if secret == "" {
			continue
		}
		m, err := keys.get(secret, ts)
		if err != nil {
			unix := string(b[:tsLen])
			h[HeaderWebhookID] = []string{in.ID}
			h[HeaderWebhookTimestamp] = []string{unix}
			return fmt.Errorf("webhook: sign: secret %d: %w", i+1, err)
		}
		// The MAC is over id "." timestamp "." body.
		m.buf = append(m.buf[:0], in.ID...)
		m.buf = append(m.buf, '.')
		m.buf = append(m.buf, b[:tsLen]...)
		m.buf = append(m.buf, '.')
		m.mac.Write(m.buf)
		m.mac.Write(in.Body)
		m.buf = m.mac.Sum(m.buf[:0])
		if signed > 0 {
			b = append(b, ' ')
		}
		b = append(b, "v1,"...)
		b = base64.StdEncoding.AppendEncode(b, m.buf)
		keys.put(m)
		signed++
	}
	all := string(b)
	n := len(vals)
	vals = append(vals, in.ID, all[:tsLen], all[tsLen:])
	h[HeaderWebhookID] = vals[n : n+1 : n+1]
	h[HeaderWebhookTimestamp] = vals[n+1 : n+2 : n+2]
	if signed > 0 {
		h[HeaderWebhookSignature] = vals[n+2 : n+3 : n+3]
	}
	return nil
}

// keyring keeps, per secret, HMAC-SHA256 states keyed with it, ready to sign again: keying
// an HMAC (decoding the secret, hashing the padded key twice) and allocating its state
// cost more than signing a 1 KB body. A dispatcher keeps one for its StandardSigner.
//
// It is bounded: it holds the secrets used in the current generation and the one before,
// and starts a new generation, at a get, once the current one has keyringSize secrets or
// is keyringAge old; so a secret unused for two generations (a deleted subscription's, a
// rotated-out one) is forgotten. A nil *keyring keeps nothing: every get keys a new HMAC.
type keyring struct {
	mu        sync.Mutex
	cur, prev map[string]*keyEntry
	born      time.Time // when cur began
}

// The bounds of a keyring.
const (
	keyringSize = 1024             // secrets per generation
	keyringAge  = 10 * time.Minute // the longest a generation lasts
	keyringFree = 4                // idle HMAC states kept per secret
)

// keyEntry is a secret's key and its idle HMAC states.
type keyEntry struct {
	key  []byte
	free []*macState // guarded by keyring.mu
}

// macState is an HMAC keyed with one secret, and a scratch buffer for the signed prefix
// and the sum.
type macState struct {
	mac   hash.Hash
	buf   []byte
	entry *keyEntry // nil when it is not kept
}

// get returns an HMAC state keyed with secret, reset, for the caller's use until put. now
// dates the use. The error never contains the secret.
func (k *keyring) get(secret string, now time.Time) (*macState, error) {
	if k == nil {
		key, err := decodeSecret(secret)
		if err != nil {
			return nil, err
		}
		return &macState{mac: hmac.New(sha256.New, key)}, nil
	}
	k.mu.Lock()
	if len(k.cur) >= keyringSize || now.Sub(k.born) >= keyringAge || now.Before(k.born) {
		k.prev, k.cur, k.born = k.cur, nil, now
	}
	e := k.cur[secret]
	if e == nil {
		if e = k.prev[secret]; e != nil {
			delete(k.prev, secret)
			k.keep(secret, e)
		}
	}
	var m *macState
	if e != nil && len(e.free) > 0 {
		m = e.free[len(e.free)-1]
		e.free[len(e.free)-1] = nil
		e.free = e.free[:len(e.free)-1]
	}
	k.mu.Unlock()
	if e == nil {
		key, err := decodeSecret(secret)
		if err != nil {
			return nil, err // not kept: a bad secret is refused at Subscribe anyway
		}
		k.mu.Lock()
		if e = k.cur[secret]; e == nil {
			e = &keyEntry{key: key}
			k.keep(strings.Clone(secret), e)
		}
		k.mu.Unlock()
	}
	if m == nil {
		m = &macState{mac: hmac.New(sha256.New, e.key), buf: make([]byte, 0, 128), entry: e}
	}
	// The first Reset of an HMAC saves its keyed state; later ones restore it.
	m.mac.Reset()
	return m, nil
}

// keep adds e to the current generation. k.mu is held.
func (k *keyring) keep(secret string, e *keyEntry) {
	if k.cur == nil {
		k.cur = make(map[string]*keyEntry)
	}
	k.cur[secret] = e
}

// put gives m back for another request with the same secret.
func (k *keyring) put(m *macState) {
	if k == nil || m.entry == nil {
		return
	}
	k.mu.Lock()
	if e := m.entry; len(e.free) < keyringFree {
		e.free = append(e.free, m)
	}
	k.mu.Unlock()
}

// standardSignature is base64(HMAC-SHA256(key, id + "." + ts + "." + body)).
func standardSignature(key []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// decodeSecret turns a secret into an HMAC key. The error never contains the
// secret.
func decodeSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		// The base64 error quotes an offset, not the input; still, keep
		// only our own words so nothing of the secret can leak.
		return nil, fmt.Errorf("%w: %q prefix is not followed by valid base64", ErrInvalidSecret, SecretPrefix)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty key after %q", ErrInvalidSecret, SecretPrefix)
	}
	return key, nil
}

// ValidateSecret reports whether secret can be used to sign, and stored by every
// store byte for byte: it returns nil for the empty string (no signing), for a
// "whsec_" secret whose remainder is standard base64 of a non-empty key, and
// for a raw secret (any other string, whose bytes are the key) made of
// printable ASCII characters, space to tilde. Otherwise it returns an error
// wrapping ErrInvalidSecret that does not contain the secret. A key of
// arbitrary bytes is given as "whsec_" followed by its base64.
//
// Standard Webhooks recommends keys of 24 to 64 random bytes; NewSecret makes
// 32.
func ValidateSecret(secret string) error {
	if secret == "" {
		return nil
	}
	if !strings.HasPrefix(secret, SecretPrefix) {
		for i := 0; i < len(secret); i++ {
			if c := secret[i]; c < ' ' || c > '~' {
				return fmt.Errorf("%w: a raw secret may hold only printable ASCII characters (byte %d is not); give a key of other bytes as %q followed by its base64", ErrInvalidSecret, i+1, SecretPrefix)
			}
		}
	}
	_, err := decodeSecret(secret)
	return err
}

// NewSecret returns a new random signing secret: "whsec_" followed by the
// standard base64 of 32 bytes from crypto/rand. Every Standard Webhooks
// library accepts it as is.
func NewSecret() string {
	var key [32]byte
	_, _ = rand.Read(key[:]) // never fails (crypto/rand, Go 1.24+)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key[:])
}

// DefaultHMACHeader is the header HMACSigner sets when its Header is empty.
const DefaultHMACHeader = "X-Webhook-Hmac-Sha256"

// HMACSigner signs Shopify-style: it sets Header (DefaultHMACHeader when
// empty), for example "X-Shop-Hmac-Sha256", to the standard base64 of
// HMAC-SHA256 of the body alone, keyed with the bytes of the first non-empty
// secret exactly as written (a "whsec_" secret is not decoded, because
// receivers of this scheme use the shared secret string as the key). It also
// sets webhook-id and webhook-timestamp, unsigned, so receivers can
// deduplicate.
//
// Because the timestamp is not signed, a captured request can be replayed;
// prefer StandardSigner, or combine both with MultiSigner while receivers
// migrate. With no non-empty secret the header is not set.
type HMACSigner struct {
	Header string
}

var _ Signer = HMACSigner{}

// Sign sets the HMAC header on h, replacing any earlier value. It never
// returns an error for a non-empty in.ID.
func (s HMACSigner) Sign(h http.Header, in SignInput) error {
	name := s.Header
	if name == "" {
		name = DefaultHMACHeader
	}
	h.Del(name)
	if in.ID == "" {
		return errors.New("webhook: sign: empty webhook id")
	}
	ts := in.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	h.Set(HeaderWebhookID, in.ID)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	for _, secret := range in.Secrets {
		if secret == "" {
			continue
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(in.Body)
		h.Set(name, base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		break
	}
	return nil
}

// MultiSigner applies each of its Signers in order, stopping at the first
// error; use it to send, say, Standard Webhooks and Shopify-style signatures
// on the same request.
type MultiSigner []Signer

var _ Signer = MultiSigner(nil)

// Sign calls every Signer with the same input and returns the first error.
func (m MultiSigner) Sign(h http.Header, in SignInput) error {
	if in.Timestamp.IsZero() {
		in.Timestamp = time.Now() // one timestamp for every signer
	}
	for _, s := range m {
		if err := s.Sign(h, in); err != nil {
			return err
		}
	}
	return nil
}
