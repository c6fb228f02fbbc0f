package portal_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/portal"
	"github.com/shophooks/webhook/store"
)

// The application's login decides which workspace a request may see.
func ExampleWithAuth() {
	d, _ := webhook.New(store.NewMemory())
	defer d.Close(context.Background())

	h := portal.New(d, portal.WithAuth(func(r *http.Request) (string, error) {
		if r.Header.Get("X-Merchant") == "" { // your own session check here
			return "", errors.New("no merchant session")
		}
		return r.Header.Get("X-Merchant"), nil
	}))
	mux := http.NewServeMux()
	mux.Handle("/admin/webhooks/", http.StripPrefix("/admin/webhooks", h))

	for _, merchant := range []string{"", "shop_42"} {
		req := httptest.NewRequest("GET", "/admin/webhooks/", nil)
		req.Header.Set("X-Merchant", merchant)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Printf("%q: %d\n", merchant, rec.Code)
	}
	// Output:
	// "": 401
	// "shop_42": 200
}

// A platform without a merchant login hands out single-use sign-in links.
func ExampleLinker_Link() {
	d, _ := webhook.New(store.NewMemory())
	defer d.Close(context.Background())

	key := make([]byte, portal.MinKeyBytes) // keep it secret, the same in every process
	_, _ = rand.Read(key)
	links, err := portal.NewLinker("https://shop.example.com/admin/webhooks/", key)
	if err != nil {
		panic(err)
	}
	h := portal.New(d, portal.WithLinker(links))
	_ = h // mounted at /admin/webhooks/ with http.StripPrefix

	url, err := links.Link("shop_42", 15*time.Minute) // e-mail it, or redirect the merchant to it
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(url, "https://shop.example.com/admin/webhooks/login?token="))
	// Output: true
}

// With neither WithAuth nor WithLinker the portal shows nothing to anyone.
func ExampleNew() {
	d, _ := webhook.New(store.NewMemory())
	defer d.Close(context.Background())

	rec := httptest.NewRecorder()
	portal.New(d).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code)
	// Output: 403
}
