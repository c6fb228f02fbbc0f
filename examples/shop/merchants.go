package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/shophooks/webhook/api"
)

// minKeyLength is the shortest API key the shop accepts.
const minKeyLength = 16

// merchants are the shops of the platform, each a webhook workspace, and the API key of
// each. A merchant without a key has a shop but no access to the webhook API.
type merchants struct {
	names []string          // sorted
	keys  map[string]string // merchant -> API key
}

// parseMerchants reads the -merchants flag ("acme,globex") and the SHOP_API_KEYS
// variable ("acme=key1,globex=key2"); a key must belong to a listed merchant.
func parseMerchants(list, keys string) (merchants, error) {
	m := merchants{keys: map[string]string{}}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !validMerchant(name) {
			return m, fmt.Errorf("merchant %q: use letters, digits, '_' and '-' only", name)
		}
		if !slices.Contains(m.names, name) {
			m.names = append(m.names, name)
		}
	}
	if len(m.names) == 0 {
		return m, errors.New("no merchant: name at least one with -merchants")
	}
	slices.Sort(m.names)
	for _, pair := range strings.Split(keys, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		name, key, ok := strings.Cut(strings.TrimSpace(pair), "=")
		switch {
		case !ok:
			return m, errors.New("SHOP_API_KEYS: write merchant=key pairs separated by commas")
		case !m.has(name):
			return m, fmt.Errorf("SHOP_API_KEYS: %q is not a merchant of -merchants", name)
		case len(key) < minKeyLength:
			// Never quote the key itself.
			return m, fmt.Errorf("SHOP_API_KEYS: the key of %q is shorter than %d characters", name, minKeyLength)
		}
		m.keys[name] = key
	}
	return m, nil
}

func validMerchant(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != "" && len(s) <= 100
}

func (m merchants) has(name string) bool {
	_, ok := slices.BinarySearch(m.names, name)
	return ok
}

// auth is the webhook API's authentication: "Authorization: Bearer <key>" names the
// merchant, who may act on its own workspace only (and read the routes that name no
// workspace: the event catalog and the OpenAPI document).
func (m merchants) auth(r *http.Request, workspace string) error {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		return errors.New("no API key")
	}
	merchant := ""
	for name, k := range m.keys {
		// Compare with every key, in constant time: the time taken says nothing of a key.
		if subtle.ConstantTimeCompare([]byte(key), []byte(k)) == 1 {
			merchant = name
		}
	}
	switch {
	case merchant == "":
		return errors.New("unknown API key")
	case workspace != "" && workspace != merchant:
		return api.ErrForbidden
	}
	return nil
}
