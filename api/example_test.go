package api_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/api"
	"github.com/shophooks/webhook/store"
)

// The application mounts the API under /api/v1 behind its API keys: one key per
// merchant, and each merchant is a workspace.
func Example() {
	d, err := webhook.New(store.NewMemory())
	if err != nil {
		panic(err)
	}
	defer d.Close(context.Background())

	keys := map[string]string{"acme": "key_acme_123", "globex": "key_globex_456"} // workspace -> API key
	auth := func(r *http.Request, workspace string) error {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return errors.New("no API key")
		}
		for ws, k := range keys {
			if subtle.ConstantTimeCompare([]byte(key), []byte(k)) == 1 {
				if workspace != "" && workspace != ws {
					return api.ErrForbidden // a merchant acts on its own workspace only
				}
				return nil
			}
		}
		return errors.New("unknown API key")
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", api.New(d, api.WithAuth(auth))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, path, key, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+"/api/v1"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var env map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&env)
		return resp.StatusCode, env
	}

	status, env := call("POST", "/workspaces/acme/webhooks", "key_acme_123",
		`{"name":"ERP","url":"https://erp.example.com/hooks","events":["order.*"]}`)
	created := env["data"].(map[string]any)
	fmt.Println(status, created["name"], created["status"], strings.HasPrefix(created["secret"].(string), "whsec_"))

	status, env = call("GET", "/workspaces/acme/webhooks/"+created["id"].(string), "key_acme_123", "")
	_, shown := env["data"].(map[string]any)["secret"]
	fmt.Println(status, "secret shown again:", shown)

	status, env = call("GET", "/workspaces/acme/webhooks", "key_globex_456", "")
	fmt.Println(status, env["error"].(map[string]any)["code"])

	status, env = call("GET", "/workspaces/acme/webhooks", "wrong", "")
	fmt.Println(status, env["error"].(map[string]any)["code"])
	// Output:
	// 201 ERP active true
	// 200 secret shown again: false
	// 403 forbidden
	// 401 unauthorized
}
