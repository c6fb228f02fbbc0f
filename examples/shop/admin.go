package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// rotationOverlap is how long the previous secret still signs after a rotation, so the
// merchant has time to give the receiver the new one.
const rotationOverlap = 24 * time.Hour

// Admin serves the merchant's webhook pages: subscriptions, tests, the delivery log and
// health. A real shop puts these endpoints behind the merchant's authentication and
// scopes them to the merchant's own subscriptions; this example has neither.
type Admin struct {
	d   *webhook.Dispatcher
	cat *eventtypes.Catalog
	log *slog.Logger

	// mu serialises the read-modify-write of PUT and rotate-secret: UpdateSubscription
	// replaces a subscription whole, and the secret and headers, which this API never
	// shows, are carried over from the stored one.
	mu sync.Mutex
}

func (a *Admin) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/webhooks", a.create)
	mux.HandleFunc("GET /admin/webhooks", a.list)
	mux.HandleFunc("GET /admin/webhooks/{id}", a.get)
	mux.HandleFunc("PUT /admin/webhooks/{id}", a.update)
	mux.HandleFunc("DELETE /admin/webhooks/{id}", a.delete)
	mux.HandleFunc("POST /admin/webhooks/{id}/activate", a.activate)
	mux.HandleFunc("POST /admin/webhooks/{id}/deactivate", a.deactivate)
	mux.HandleFunc("POST /admin/webhooks/{id}/rotate-secret", a.rotateSecret)
	mux.HandleFunc("POST /admin/webhooks/{id}/test", a.test)
	mux.HandleFunc("GET /admin/webhooks/{id}/deliveries", a.deliveries)
	mux.HandleFunc("POST /admin/deliveries/{id}/redeliver", a.redeliver)
	mux.HandleFunc("GET /admin/stats", a.stats)
	mux.HandleFunc("GET /admin/event-types", a.eventTypes)
}

// subscriptionInput is the body of POST and PUT /admin/webhooks.
type subscriptionInput struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Secret: absent means a new random one (POST) or the current one (PUT); "" means
	// requests are not signed, which only suits receivers that cannot verify.
	Secret *string `json:"secret"`
	// Headers: absent keeps the current ones (PUT).
	Headers       map[string]string      `json:"headers"`
	Format        webhook.Format         `json:"format"`
	Status        webhook.Status         `json:"status"`
	WhileInactive webhook.InactivePolicy `json:"while_inactive"`
}

// subscriptionView is a subscription as this API shows it: the secret and the header
// values are left out, except the secret in the one answer that created it.
type subscriptionView struct {
	ID              string                 `json:"id"`
	Name            string                 `json:"name"`
	URL             string                 `json:"url"`
	Events          []string               `json:"events"`
	Format          webhook.Format         `json:"format"`
	Status          webhook.Status         `json:"status"`
	StatusReason    string                 `json:"status_reason,omitempty"`
	StatusChangedAt time.Time              `json:"status_changed_at,omitzero"`
	WhileInactive   webhook.InactivePolicy `json:"while_inactive"`
	SecretSet       bool                   `json:"secret_set"`
	// Secret is set only in the answer of POST /admin/webhooks and rotate-secret: store
	// it now, it is never shown again.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpiresAt is when the secret rotated out stops signing.
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at,omitzero"`
	// Headers maps each header sent to "[redacted]": its value may be a credential.
	Headers   map[string]string `json:"headers,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

func redacted(s webhook.Subscription) subscriptionView {
	v := subscriptionView{
		ID: s.ID, Name: s.Name, URL: s.URL, Events: s.Events, Format: s.Format, Status: s.Status,
		StatusReason: s.StatusReason, StatusChangedAt: s.StatusChangedAt, WhileInactive: s.WhileInactive,
		SecretSet: s.Secret != "", CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if s.PreviousSecret != "" && time.Now().Before(s.PreviousSecretExpiresAt) {
		v.PreviousSecretExpiresAt = s.PreviousSecretExpiresAt
	}
	if len(s.Headers) > 0 {
		v.Headers = make(map[string]string, len(s.Headers))
		for k := range s.Headers {
			v.Headers[k] = "[redacted]"
		}
	}
	return v
}

func (a *Admin) create(w http.ResponseWriter, r *http.Request) {
	var in subscriptionInput
	if err := readJSON(r, &in, false); err != nil {
		writeError(w, a.log, err)
		return
	}
	sub := webhook.Subscription{
		Name: in.Name, URL: in.URL, Events: in.Events, Headers: in.Headers, Format: in.Format,
		Status: in.Status, WhileInactive: in.WhileInactive, Secret: webhook.NewSecret(),
	}
	if in.Secret != nil {
		sub.Secret = *in.Secret
	}
	created, err := a.d.Subscribe(r.Context(), sub)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	v := redacted(created)
	v.Secret = created.Secret // once
	w.Header().Set("Location", "/admin/webhooks/"+created.ID)
	writeJSON(w, http.StatusCreated, v)
}

func (a *Admin) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := webhook.Filter{
		Resource: q.Get("resource"), Event: q.Get("event"), URL: q.Get("url"),
		Status: webhook.Status(q.Get("status")), Query: q.Get("q"),
	}
	switch f.Status {
	case "", webhook.StatusActive, webhook.StatusInactive:
	default:
		writeError(w, a.log, badField("status", `must be "active" or "inactive"`))
		return
	}
	subs, err := a.d.Subscriptions(r.Context(), f)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	views := make([]subscriptionView, len(subs))
	for i, s := range subs {
		views[i] = redacted(s)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": views})
}

func (a *Admin) get(w http.ResponseWriter, r *http.Request) {
	a.answer(w, r, r.PathValue("id"), http.StatusOK)
}

// answer writes the stored subscription, redacted.
func (a *Admin) answer(w http.ResponseWriter, r *http.Request, id string, status int) {
	sub, err := a.d.Subscription(r.Context(), id)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, status, redacted(sub))
}

func (a *Admin) update(w http.ResponseWriter, r *http.Request) {
	var in subscriptionInput
	if err := readJSON(r, &in, false); err != nil {
		writeError(w, a.log, err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sub, err := a.d.Subscription(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	sub.Name, sub.URL, sub.Events = in.Name, in.URL, in.Events
	sub.Format, sub.Status, sub.WhileInactive = in.Format, in.Status, in.WhileInactive // "" keeps the status
	if in.Secret != nil {
		sub.Secret, sub.PreviousSecret, sub.PreviousSecretExpiresAt = *in.Secret, "", time.Time{}
	}
	if in.Headers != nil {
		sub.Headers = in.Headers
	}
	updated, err := a.d.UpdateSubscription(r.Context(), sub)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, redacted(updated))
}

// rotateSecret gives the subscription a new secret and answers it, once. Requests are
// signed with both secrets for rotationOverlap, so the receiver can switch without
// refusing any.
func (a *Admin) rotateSecret(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sub, err := a.d.Subscription(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	if sub.Secret != "" {
		sub.PreviousSecret, sub.PreviousSecretExpiresAt = sub.Secret, time.Now().Add(rotationOverlap)
	}
	sub.Secret = webhook.NewSecret()
	updated, err := a.d.UpdateSubscription(r.Context(), sub)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	v := redacted(updated)
	v.Secret = updated.Secret // once
	writeJSON(w, http.StatusOK, v)
}

func (a *Admin) delete(w http.ResponseWriter, r *http.Request) {
	if err := a.d.Unsubscribe(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Admin) activate(w http.ResponseWriter, r *http.Request) {
	if err := a.d.Activate(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, a.log, err)
		return
	}
	a.answer(w, r, r.PathValue("id"), http.StatusOK)
}

func (a *Admin) deactivate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := readJSON(r, &in, true); err != nil {
		writeError(w, a.log, err)
		return
	}
	if in.Reason == "" {
		in.Reason = "deactivated by the merchant"
	}
	if err := a.d.Deactivate(r.Context(), r.PathValue("id"), in.Reason); err != nil {
		writeError(w, a.log, err)
		return
	}
	a.answer(w, r, r.PathValue("id"), http.StatusOK)
}

// test sends sample events: the types named in the body's "events", or every type the
// subscription wants.
func (a *Admin) test(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Events []string `json:"events"`
	}
	if err := readJSON(r, &in, true); err != nil {
		writeError(w, a.log, err)
		return
	}
	report, err := a.d.Test(r.Context(), r.PathValue("id"), in.Events...)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// deliveries is the "Recent deliveries" page: newest first, filtered by ?state=, paged
// with ?limit= and ?before=<the next_before of the previous page>. The log of a deleted
// subscription stays readable until retention prunes it.
func (a *Admin) deliveries(w http.ResponseWriter, r *http.Request) {
	id, p := r.PathValue("id"), r.URL.Query()
	q := webhook.DeliveryQuery{
		SubscriptionID: id, State: webhook.DeliveryState(p.Get("state")), Before: p.Get("before"), Limit: 50,
	}
	switch q.State {
	case "", webhook.DeliveryPending, webhook.DeliveryHeld, webhook.DeliverySucceeded, webhook.DeliveryFailed, webhook.DeliveryCancelled:
	default:
		writeError(w, a.log, badField("state", "must be pending, held, succeeded, failed or cancelled"))
		return
	}
	if s := p.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, a.log, badField("limit", "must be a number from 1 to 1000"))
			return
		}
		q.Limit = n
	}
	ds, err := a.d.Deliveries(r.Context(), q)
	if errors.Is(err, webhook.ErrNotFound) && q.Before != "" {
		err = badField("before", "names no delivery")
	}
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	if len(ds) == 0 && q.Before == "" {
		// No log: 404 if there is no such subscription either.
		if _, err := a.d.Subscription(r.Context(), id); err != nil {
			writeError(w, a.log, err)
			return
		}
	}
	page := map[string]any{"deliveries": ds}
	if len(ds) == q.Limit { // perhaps more
		page["next_before"] = ds[len(ds)-1].ID
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *Admin) redeliver(w http.ResponseWriter, r *http.Request) {
	if err := a.d.Redeliver(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": string(webhook.DeliveryPending)})
}

func (a *Admin) stats(w http.ResponseWriter, r *http.Request) {
	st, err := a.d.Stats(r.Context())
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// eventTypes lists the event types a subscription may name, with a sample of each.
func (a *Admin) eventTypes(w http.ResponseWriter, r *http.Request) {
	type typeView struct {
		Name        string          `json:"name"`
		Resource    string          `json:"resource"`
		Action      string          `json:"action"`
		Description string          `json:"description"`
		Sample      json.RawMessage `json:"sample"`
	}
	var out []typeView
	for _, t := range a.cat.All() {
		out = append(out, typeView{t.Name, t.Resource, t.Action, t.Description, t.Sample})
	}
	writeJSON(w, http.StatusOK, map[string]any{"event_types": out})
}
