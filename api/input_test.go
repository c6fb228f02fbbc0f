package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
)

func TestBadInputNamesTheField(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(wsA, `["*"]`, ``)
	hooks := "/workspaces/" + wsA + "/webhooks"
	one := hooks + "/" + id
	const ok = `"url":"https://x.example.com","events":["order.created"]`
	big := `{` + ok + `,"name":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		code, field              string
		message                  string // a part of the message
	}{
		{"unknown event type", "POST", hooks, `{"url":"https://x.example.com","events":["order.creatd"]}`, "invalid", "events", `did you mean "order.created"?`},
		{"unknown pattern", "POST", hooks, `{"url":"https://x.example.com","events":["ordr.*"]}`, "invalid", "events", `did you mean "order.*"?`},
		{"no events", "POST", hooks, `{"url":"https://x.example.com"}`, "invalid", "events", "names no event type"},
		{"no URL", "POST", hooks, `{"events":["order.created"]}`, "invalid", "url", "is empty"},
		{"ftp URL", "POST", hooks, `{"url":"ftp://x.example.com","events":["*"]}`, "invalid", "url", "http or https"},
		{"URL with credentials", "POST", hooks, `{"url":"https://u:p@x.example.com","events":["*"]}`, "invalid", "url", "credentials"},
		{"unparsable URL", "POST", hooks, `{"url":"https://x .example.com","events":["*"]}`, "invalid", "url", "cannot be parsed"},
		{"unknown field", "POST", hooks, `{` + ok + `,"colour":"red"}`, "invalid", "colour", "not a field"},
		{"wrong type", "POST", hooks, `{"url":"https://x.example.com","events":"order.created"}`, "invalid", "events", "must be an array"},
		{"wrong type nested", "POST", hooks, `{` + ok + `,"headers":{"X-A":1}}`, "invalid", "headers", "must be a string"},
		{"not an object", "POST", hooks, `["order.created"]`, "invalid", "body", "JSON object"},
		{"syntax error", "POST", hooks, `{"url":`, "invalid", "body", "not valid JSON"},
		{"trailing data", "POST", hooks, `{` + ok + `} {}`, "invalid", "body", "data after"},
		{"empty body", "POST", hooks, ``, "invalid", "body", "is empty"},
		{"body over 1 MiB", "POST", hooks, big, "body_too_large", "body", "larger than 1048576 bytes"},
		{"forbidden header", "POST", hooks, `{` + ok + `,"headers":{"Host":"x"}}`, "invalid", "headers", `"Host"`},
		{"bad format", "POST", hooks, `{` + ok + `,"format":"yaml"}`, "invalid", "format", `"json", "xml" or "query"`},
		{"bad while_inactive", "POST", hooks, `{` + ok + `,"while_inactive":"keep"}`, "invalid", "while_inactive", `"discard" or "hold"`},
		{"bad secret", "POST", hooks, `{` + ok + `,"secret":"whsec_!!"}`, "invalid", "secret", "usable secret"},
		{"negative max_in_flight", "POST", hooks, `{` + ok + `,"max_in_flight":-1}`, "invalid", "max_in_flight", "between 1 and 32"},
		{"max_in_flight over the cap", "POST", hooks, `{` + ok + `,"max_in_flight":1000}`, "invalid", "max_in_flight", "between 1 and 32"},
		{"negative rate_limit", "POST", hooks, `{` + ok + `,"rate_limit":-2}`, "invalid", "rate_limit", "between"},
		{"timeout too long", "POST", hooks, `{` + ok + `,"timeout_ms":3600000}`, "invalid", "timeout_ms", "between"},
		{"timeout overflow", "POST", hooks, `{` + ok + `,"timeout_ms":9223372036854775807}`, "invalid", "timeout_ms", "milliseconds"},
		{"metadata key too long", "POST", hooks, `{` + ok + `,"metadata":{"` + strings.Repeat("k", 101) + `":"v"}}`, "invalid", "metadata", "keys"},
		{"query on create", "POST", hooks + "?dry_run=1", `{` + ok + `}`, "invalid", "dry_run", "not a parameter"},
		{"bad workspace", "GET", "/workspaces/" + strings.Repeat("w", 201) + "/webhooks", "", "invalid", "workspace", "longer than 200"},
		{"bad status filter", "GET", hooks + "?status=paused", "", "invalid", "status", `"active" or "inactive"`},
		{"typo in a filter", "GET", hooks + "?stauts=active", "", "invalid", "stauts", "not a parameter"},
		{"filter given twice", "GET", hooks + "?q=a&q=b", "", "invalid", "q", "more than once"},
		{"bad metadata filter", "GET", hooks + "?metadata%5B%5D=x", "", "invalid", "metadata[]", "metadata[key]=value"},
		{"bad limit", "GET", hooks + "?limit=0", "", "invalid", "limit", "from 1 to 1000"},
		{"limit too big", "GET", hooks + "?limit=1001", "", "invalid", "limit", "from 1 to 1000"},
		{"bad cursor", "GET", hooks + "?cursor=!!", "", "invalid", "cursor", "not a cursor"},
		{"forged cursor", "GET", hooks + "?cursor=eA", "", "invalid", "cursor", "not a cursor"},
		{"patch bad URL", "PATCH", one, `{"url":"not a url"}`, "invalid", "url", ""},
		{"patch empty secret", "PATCH", one, `{"secret":""}`, "invalid", "secret", "must not be empty"},
		{"patch unknown event", "PATCH", one, `{"events":["product.updatd"]}`, "invalid", "events", `did you mean "product.updated"?`},
		{"patch no events", "PATCH", one, `{"events":[]}`, "invalid", "events", ""},
		{"patch unknown field", "PATCH", one, `{"status":"inactive"}`, "invalid", "status", "not a field"},
		{"patch workspace", "PATCH", one, `{"workspace":"shop_b"}`, "invalid", "workspace", "not a field"},
		{"test unknown event", "POST", one + "/test", `{"event":"order.shipped"}`, "invalid", "event", "is not in the catalog"},
		{"test events field", "POST", one + "/test", `{"events":["order.created"]}`, "invalid", "events", "not a field"},
		{"deactivate long reason", "POST", one + "/deactivate", `{"reason":"` + strings.Repeat("r", 1001) + `"}`, "invalid", "reason", "longer than 1000"},
		{"activate with a body", "POST", one + "/activate", `{"now":true}`, "invalid", "now", "not a field"},
		{"rotate negative overlap", "POST", one + "/rotate-secret", `{"overlap_ms":-1}`, "invalid", "overlap_ms", "from 0"},
		{"recover without since", "POST", one + "/recover", `{}`, "invalid", "since", "is required"},
		{"recover without body", "POST", one + "/recover", ``, "invalid", "body", "is empty"},
		{"recover bad since", "POST", one + "/recover", `{"since":"yesterday"}`, "invalid", "since", "RFC 3339"},
		{"deliveries bad state", "GET", one + "/deliveries?state=lost", "", "invalid", "state", `"pending"`},
		{"deliveries bad since", "GET", one + "/deliveries?since=2025-13-01", "", "invalid", "since", "RFC 3339"},
		{"deliveries unknown cursor", "GET", one + "/deliveries?cursor=ZGx2X25vcGU", "", "invalid", "cursor", "no delivery"},
		{"get with a query", "GET", one + "?expand=secret", "", "invalid", "expand", "not a parameter"},
		{"event types with a query", "GET", "/event-types?resource=order", "", "invalid", "resource", "not a parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(tt.method, tt.path, tt.body)
			e.refused(a, http.StatusBadRequest, tt.code, tt.field)
			if tt.message != "" {
				assert.Contains(t, a.Error.Message, tt.message)
			}
		})
	}

	// Nothing was created or changed by any of them.
	subs, err := e.d.Subscriptions(context.Background(), webhook.Filter{})
	require.NoError(t, err)
	require.Len(t, subs, 1)
	assert.Equal(t, id, subs[0].ID)
	assert.Equal(t, []string{"*"}, subs[0].Events)
	assert.Equal(t, webhook.StatusActive, subs[0].Status)
}

// TestErrorMessagesHideValues checks that a refusal never quotes a URL's query, a
// header's value or a secret.
func TestErrorMessagesHideValues(t *testing.T) {
	e := newEnv(t)
	hooks := "/workspaces/" + wsA + "/webhooks"
	for _, body := range []string{
		`{"url":"ftp://x.example.com/?token=tok-secret-1","events":["*"]}`,
		`{"url":"https://u:tok-secret-1@x.example.com","events":["*"]}`,
		`{"url":"https://x.example.com","events":["*"],"headers":{"X-A":"tok-secret-1\n"}}`,
		`{"url":"https://x.example.com","events":["*"],"secret":"whsec_tok-secret-1!"}`,
	} {
		a := e.do("POST", hooks, body)
		require.Equal(t, http.StatusBadRequest, a.Status, a.Raw)
		assert.NotContains(t, a.Raw, "tok-secret-1", body)
	}
}
