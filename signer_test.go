package webhook

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signingVector is one entry of testdata/standardwebhooks_vectors.json.
type signingVector struct {
	Name      string   `json:"name"`
	Source    string   `json:"source"`
	Secrets   []string `json:"secrets"`
	ID        string   `json:"id"`
	Timestamp int64    `json:"timestamp"`
	Body      string   `json:"body"`
	Signature string   `json:"signature"`
}

func loadVectors(t testing.TB) []signingVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/standardwebhooks_vectors.json")
	require.NoError(t, err)
	var file struct {
		Vectors []signingVector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	require.NotEmpty(t, file.Vectors)
	return file.Vectors
}

func TestStandardSignerVectors(t *testing.T) {
	vectors := loadVectors(t)
	// The published reference vector must be among them, unchanged.
	assert.Contains(t, vectors, signingVector{
		Name:      vectors[0].Name,
		Source:    vectors[0].Source,
		Secrets:   []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		ID:        "msg_p5jXN8AQM9LWM0D4loKWxJek",
		Timestamp: 1614265330,
		Body:      `{"test": 2432232314}`,
		Signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	})
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			h := http.Header{}
			err := StandardSigner{}.Sign(h, SignInput{
				ID:        v.ID,
				Timestamp: time.Unix(v.Timestamp, 0),
				Body:      []byte(v.Body),
				Secrets:   v.Secrets,
			})
			require.NoError(t, err)
			assert.Equal(t, v.Signature, h.Get("webhook-signature"))
			assert.Equal(t, v.ID, h.Get("webhook-id"))
			assert.Equal(t, strconv.FormatInt(v.Timestamp, 10), h.Get("webhook-timestamp"))
		})
	}
}

func TestStandardSignerHeaders(t *testing.T) {
	ts := time.Unix(1700000000, 999_000_000) // sub-second part is dropped
	tests := []struct {
		name    string
		secrets []string
		wantSig int // number of v1 signatures
	}{
		{"no secrets", nil, 0},
		{"only empty secrets", []string{"", ""}, 0},
		{"one secret", []string{NewSecret()}, 1},
		{"rotation", []string{NewSecret(), NewSecret()}, 2},
		{"empty secret skipped", []string{"", NewSecret(), ""}, 1},
		{"raw secret", []string{"shared-secret"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(HeaderWebhookSignature, "v1,stale") // from an earlier attempt
			err := StandardSigner{}.Sign(h, SignInput{ID: "evt_1", Timestamp: ts, Body: []byte("{}"), Secrets: tt.secrets})
			require.NoError(t, err)
			assert.Equal(t, "evt_1", h.Get("webhook-id"))
			assert.Equal(t, "1700000000", h.Get("webhook-timestamp"))
			sigs := strings.Fields(h.Get("webhook-signature"))
			assert.Len(t, sigs, tt.wantSig)
			for _, s := range sigs {
				assert.True(t, strings.HasPrefix(s, "v1,"), s)
				raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "v1,"))
				require.NoError(t, err)
				assert.Len(t, raw, 32)
			}
			if tt.wantSig == 0 {
				assert.NotContains(t, h, HeaderWebhookSignature)
			}
		})
	}
}

func TestStandardSignerZeroTimestampIsNow(t *testing.T) {
	before := time.Now().Unix()
	h := http.Header{}
	require.NoError(t, StandardSigner{}.Sign(h, SignInput{ID: "evt_1"}))
	got, err := strconv.ParseInt(h.Get(HeaderWebhookTimestamp), 10, 64)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, got, before)
	assert.LessOrEqual(t, got, time.Now().Unix())
}

func TestStandardSignerErrors(t *testing.T) {
	t.Run("empty id", func(t *testing.T) {
		err := StandardSigner{}.Sign(http.Header{}, SignInput{Secrets: []string{"x"}})
		assert.Error(t, err)
	})
	for _, bad := range []string{"whsec_not*base64!", "whsec_", "whsec_YWJj="} {
		t.Run(bad, func(t *testing.T) {
			h := http.Header{}
			err := StandardSigner{}.Sign(h, SignInput{ID: "evt_1", Secrets: []string{NewSecret(), bad}})
			require.ErrorIs(t, err, ErrInvalidSecret)
			assert.Contains(t, err.Error(), "secret 2")
			if rest := strings.TrimPrefix(bad, SecretPrefix); rest != "" {
				assert.NotContains(t, err.Error(), rest, "the secret leaked into the error")
			}
			assert.Empty(t, h.Get(HeaderWebhookSignature), "no partial signature")
		})
	}
}

// TestKeyringVectors signs every vector through a dispatcher's keyring three times over,
// so that the later signatures come from reused HMAC states.
func TestKeyringVectors(t *testing.T) {
	var keys keyring
	for range 3 {
		for _, v := range loadVectors(t) {
			h := http.Header{}
			err := signStandard(h, SignInput{ID: v.ID, Timestamp: time.Unix(v.Timestamp, 0), Body: []byte(v.Body), Secrets: v.Secrets}, &keys)
			require.NoError(t, err, v.Name)
			assert.Equal(t, v.Signature, h.Get(HeaderWebhookSignature), v.Name)
			assert.Equal(t, strconv.FormatInt(v.Timestamp, 10), h.Get(HeaderWebhookTimestamp), v.Name)
		}
	}
}

// TestKeyringConcurrent signs from many goroutines at once with a few secrets, rotating
// and not, and checks every signature against a fresh StandardSigner's.
func TestKeyringConcurrent(t *testing.T) {
	secrets := []string{NewSecret(), NewSecret(), "raw shared secret", NewSecret()}
	var keys keyring
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				in := SignInput{
					ID: fmt.Sprintf("evt_%d_%d", g, i), Timestamp: time.Unix(1700000000+int64(i), 0),
					Body:    []byte(fmt.Sprintf(`{"n":%d}`, i)),
					Secrets: []string{secrets[(g+i)%len(secrets)]},
				}
				if i%2 == 1 { // while a secret is rotated
					in.Secrets = append(in.Secrets, secrets[(g+i+1)%len(secrets)])
				}
				got, want := http.Header{}, http.Header{}
				if err := signStandard(got, in, &keys); err != nil {
					errs <- err
					return
				}
				if err := (StandardSigner{}).Sign(want, in); err != nil {
					errs <- err
					return
				}
				if got.Get(HeaderWebhookSignature) != want.Get(HeaderWebhookSignature) {
					errs <- fmt.Errorf("%s: signature %q, want %q", in.ID, got.Get(HeaderWebhookSignature), want.Get(HeaderWebhookSignature))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestKeyringBounded checks that a keyring forgets secrets: those unused for two
// generations, whether a generation ends by size or by age.
func TestKeyringBounded(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	sign := func(keys *keyring, secret string, at time.Time) {
		t.Helper()
		require.NoError(t, signStandard(http.Header{}, SignInput{ID: "evt_1", Timestamp: at, Body: []byte("{}"), Secrets: []string{secret}}, keys))
	}
	kept := func(keys *keyring, secret string) bool {
		keys.mu.Lock()
		defer keys.mu.Unlock()
		return keys.cur[secret] != nil || keys.prev[secret] != nil
	}

	t.Run("by size", func(t *testing.T) {
		var keys keyring
		old, used := NewSecret(), NewSecret()
		sign(&keys, old, t0)
		sign(&keys, used, t0)
		for i := range 2 * keyringSize {
			sign(&keys, fmt.Sprintf("raw secret %d", i), t0)
			if i%100 == 0 {
				sign(&keys, used, t0) // in use: kept
			}
		}
		assert.False(t, kept(&keys, old), "a secret unused for two generations is forgotten")
		assert.True(t, kept(&keys, used))
		keys.mu.Lock()
		defer keys.mu.Unlock()
		assert.LessOrEqual(t, len(keys.cur)+len(keys.prev), 2*keyringSize)
	})
	t.Run("by age", func(t *testing.T) {
		var keys keyring
		old, used := NewSecret(), NewSecret()
		sign(&keys, old, t0)
		sign(&keys, used, t0)
		sign(&keys, used, t0.Add(keyringAge))
		assert.True(t, kept(&keys, old), "one generation old")
		sign(&keys, used, t0.Add(2*keyringAge))
		assert.False(t, kept(&keys, old), "two generations old")
		assert.True(t, kept(&keys, used))
	})
}

func TestKeyringInvalidSecret(t *testing.T) {
	var keys keyring
	good := NewSecret()
	for range 2 {
		h := http.Header{}
		h.Set(HeaderWebhookSignature, "v1,stale")
		err := signStandard(h, SignInput{ID: "evt_1", Timestamp: time.Unix(1700000000, 0), Secrets: []string{good, "whsec_not*base64!"}}, &keys)
		require.ErrorIs(t, err, ErrInvalidSecret)
		assert.Contains(t, err.Error(), "secret 2")
		assert.NotContains(t, err.Error(), "not*base64")
		assert.Empty(t, h.Get(HeaderWebhookSignature), "no partial signature")
		assert.Equal(t, "evt_1", h.Get(HeaderWebhookID))
	}
	assert.Len(t, keys.cur, 1, "only the good secret is kept")
}

// TestStandardSignerHeaderValuesApart checks that the three headers, whose values share
// one allocation, do not share storage: adding a value to one leaves the others alone.
func TestStandardSignerHeaderValuesApart(t *testing.T) {
	h := http.Header{}
	require.NoError(t, StandardSigner{}.Sign(h, SignInput{ID: "evt_1", Timestamp: time.Unix(1700000000, 0), Body: []byte("{}"), Secrets: []string{NewSecret()}}))
	sig := h.Get(HeaderWebhookSignature)
	h.Add(HeaderWebhookID, "evt_2")
	h.Add(HeaderWebhookTimestamp, "1")
	assert.Equal(t, []string{"evt_1", "evt_2"}, h.Values(HeaderWebhookID))
	assert.Equal(t, []string{"1700000000", "1"}, h.Values(HeaderWebhookTimestamp))
	assert.Equal(t, []string{sig}, h.Values(HeaderWebhookSignature))
}

func TestValidateSecret(t *testing.T) {
	tests := []struct {
		secret string
		ok     bool
	}{
		{"", true},
		{NewSecret(), true},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{"any raw shared secret", true},
		{"whsec_", false},
		{"whsec_%%%", false},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", false}, // truncated base64
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw==", false},
		{"~ printable ASCII, space to tilde !", true},
		{"k\xff\xfe-raw-key", false}, // not UTF-8: a JSON store would change it
		{"clé-secrète", false},       // UTF-8, but outside the documented alphabet
		{"tab\tinside", false},
		{"nul\x00inside", false},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			err := ValidateSecret(tt.secret)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidSecret)
			if len(tt.secret) > len(SecretPrefix)+3 {
				assert.NotContains(t, err.Error(), tt.secret[len(SecretPrefix):])
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		s := NewSecret()
		require.True(t, strings.HasPrefix(s, "whsec_"), s)
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		require.NoError(t, err)
		require.Len(t, key, 32)
		require.NoError(t, ValidateSecret(s))
		require.False(t, seen[s], "duplicate secret")
		seen[s] = true
	}
}

func TestHMACSigner(t *testing.T) {
	body := []byte(`{"id":1}`)
	ts := time.Unix(1767225600, 0)
	tests := []struct {
		name        string
		signer      HMACSigner
		secrets     []string
		header      string
		want        string // "" means the header must be absent
		wantTSAndID bool
	}{
		// Expected values computed independently with Python's hmac module.
		{"custom header", HMACSigner{Header: "X-Shop-Hmac-Sha256"}, []string{"hush"}, "X-Shop-Hmac-Sha256", "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=", true},
		{"default header", HMACSigner{}, []string{"hush"}, DefaultHMACHeader, "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=", true},
		{"first non-empty secret wins", HMACSigner{}, []string{"", "hush", "other"}, DefaultHMACHeader, "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=", true},
		{"whsec secret used as written", HMACSigner{}, []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, DefaultHMACHeader, "lqTxRRHF38TFSijeAfhY/sezBiPb9in6pulsN5mDEmU=", true},
		{"no secret", HMACSigner{}, nil, DefaultHMACHeader, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(tt.header, "stale")
			require.NoError(t, tt.signer.Sign(h, SignInput{ID: "evt_1", Timestamp: ts, Body: body, Secrets: tt.secrets}))
			assert.Equal(t, tt.want, h.Get(tt.header))
			assert.Equal(t, "evt_1", h.Get("webhook-id"))
			assert.Equal(t, "1767225600", h.Get("webhook-timestamp"))
			assert.Empty(t, h.Get(HeaderWebhookSignature))
		})
	}
	assert.Error(t, HMACSigner{}.Sign(http.Header{}, SignInput{Secrets: []string{"hush"}}), "empty id")
}

func TestMultiSigner(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h := http.Header{}
	s := MultiSigner{StandardSigner{}, HMACSigner{Header: "X-Shop-Hmac-Sha256"}}
	require.NoError(t, s.Sign(h, SignInput{
		ID:        "msg_p5jXN8AQM9LWM0D4loKWxJek",
		Timestamp: time.Unix(1614265330, 0),
		Body:      []byte(`{"test": 2432232314}`),
		Secrets:   []string{secret},
	}))
	assert.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", h.Get("webhook-signature"))
	assert.NotEmpty(t, h.Get("X-Shop-Hmac-Sha256"))
	assert.Equal(t, "1614265330", h.Get("webhook-timestamp"))

	err := MultiSigner{StandardSigner{}}.Sign(http.Header{}, SignInput{ID: "e", Secrets: []string{"whsec_!"}})
	assert.ErrorIs(t, err, ErrInvalidSecret)
}

// ExampleStandardSigner signs one attempt the way the dispatcher does; the
// signature is the Standard Webhooks reference test vector.
func ExampleStandardSigner() {
	h := http.Header{}
	err := StandardSigner{}.Sign(h, SignInput{
		ID:        "msg_p5jXN8AQM9LWM0D4loKWxJek",
		Timestamp: time.Unix(1614265330, 0),
		Body:      []byte(`{"test": 2432232314}`),
		Secrets:   []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Get("webhook-id"))
	fmt.Println(h.Get("webhook-timestamp"))
	fmt.Println(h.Get("webhook-signature"))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek
	// 1614265330
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}
