// Package api is the management REST API of a webhook.Dispatcher, as an http.Handler an
// application mounts under its own prefix and behind its own authentication: the event
// catalog, webhooks per workspace (list and search, create, get, update, delete, test,
// activate, deactivate, rotate the secret), the delivery log (per webhook, one delivery
// with its attempts, redeliver, recover after an outage) and health figures.
//
// The happy path:
//
//	d, err := webhook.New(st)
//	...
//	h := api.New(d, api.WithAuth(func(r *http.Request, workspace string) error {
//		merchant, ok := merchantOfKey(r.Header.Get("Authorization"))
//		switch {
//		case !ok:
//			return errors.New("unknown API key") // 401
//		case merchant != workspace:
//			return api.ErrForbidden // 403
//		}
//		return nil
//	}))
//	http.Handle("/api/v1/", http.StripPrefix("/api/v1", h))
//
// Then, for the merchant "acme":
//
//	POST   /api/v1/workspaces/acme/webhooks            {"url":"https://...","events":["order.*"]}
//	GET    /api/v1/workspaces/acme/webhooks?resource=order&status=active
//	POST   /api/v1/workspaces/acme/webhooks/{id}/test  {"event":"order.created"}
//
// # Routes
//
//	GET    /event-types                                      the catalog
//	GET    /workspaces/{workspace}/webhooks                  list: resource, event, url, status, q, metadata[k]=v
//	POST   /workspaces/{workspace}/webhooks                  create (201, with the secret)
//	GET    /workspaces/{workspace}/webhooks/{id}
//	PATCH  /workspaces/{workspace}/webhooks/{id}             only the fields sent change
//	DELETE /workspaces/{workspace}/webhooks/{id}             204, no body
//	POST   /workspaces/{workspace}/webhooks/{id}/test        {"event": "order.created"} or nothing for all
//	POST   /workspaces/{workspace}/webhooks/{id}/activate
//	POST   /workspaces/{workspace}/webhooks/{id}/deactivate  {"reason": "..."} or nothing
//	POST   /workspaces/{workspace}/webhooks/{id}/rotate-secret  {"overlap_ms": n} or nothing
//	GET    /workspaces/{workspace}/webhooks/{id}/deliveries  state, since, until
//	POST   /workspaces/{workspace}/webhooks/{id}/recover     {"since": "<RFC 3339>"} (202)
//	GET    /workspaces/{workspace}/webhooks/{id}/stats
//	GET    /workspaces/{workspace}/deliveries                webhook_id, event_id, state, since, until
//	GET    /workspaces/{workspace}/deliveries/{id}           with its attempts
//	POST   /workspaces/{workspace}/deliveries/{id}/redeliver (202)
//	GET    /workspaces/{workspace}/stats
//	GET    /openapi.json
//
// The routes, their parameters and every answer are described by the OpenAPI 3.1
// document served at GET /openapi.json (and returned by OpenAPI). The lists take limit
// (1 to 1000, 100 by default) and cursor; a query parameter a route does not take is
// refused, so that a misspelt filter is not ignored in silence.
//
// # Answers
//
// Every answer is JSON in one envelope: {"data": ..., "error": null} on success and
// {"data": null, "error": {"code": "...", "message": "...", "field": "..."}} on failure,
// unknown routes (404) and wrong methods (405) included. The one exception is a successful
// DELETE, which answers 204 with no body. Field names are snake_case, durations are
// milliseconds in fields named *_ms, and times are RFC 3339. Lists answer an array in
// data, oldest webhook or newest delivery first, a page at a time: when there may be more,
// the Next-Cursor header holds the cursor of the next page, and the Link header its
// relative URL (rel="next").
//
// Bad input answers 400 with the field named (an unknown event type with the closest
// names; an unknown JSON field; a body over MaxBodyBytes), and nothing is changed. The
// status codes: 400 invalid input, 401 and 403 refused by the authentication function,
// 404 unknown route or object, 405 wrong method, 409 the object's state forbids the
// operation (an inactive webhook, an attempt in flight, a delivery that already holds
// webhook.MaxDeliveryAttempts attempts, an ID taken), 503 the dispatcher is closing.
//
// # Security
//
// The handler is closed unless WithAuth is given: without it, every request answers 401.
// With it, the function decides each request to a route before anything is read or
// changed; a request to no route answers 404 (or 405) without it, as it reaches nothing.
// A webhook or delivery of another workspace answers 404, exactly as a missing one. The
// signing secret is in two answers only, the one that created the webhook and the one that
// rotated its secret; no answer ever holds a header value (only header names). State
// changing requests sent by a browser from another origin are refused (403) by
// http.CrossOriginProtection, so a session cookie cannot be used against the API by
// another site.
package api
