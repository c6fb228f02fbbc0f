package api

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shophooks/webhook"
)

// Page sizes of the lists.
const (
	defaultPage = 100
	maxPage     = 1000
)

// defaultDeactivateReason is the status reason of a webhook deactivated through the API
// without a reason of its own.
const defaultDeactivateReason = "deactivated through the API"

// maxReason bounds a deactivation reason.
const maxReason = 1000

// checkWorkspace refuses a workspace name the dispatcher could not store: it must be at
// most 200 printable ASCII characters without spaces.
func checkWorkspace(ws string) error {
	if len(ws) > 200 {
		return badInput("workspace", "is longer than 200 characters")
	}
	for i := 0; i < len(ws); i++ {
		if ws[i] <= ' ' || ws[i] >= 0x7f {
			return badInput("workspace", "may hold only printable ASCII characters without spaces")
		}
	}
	return nil
}

// webhookOf returns the subscription id of workspace ws; one of another workspace is
// not found, as a missing one.
func (h *handler) webhookOf(ctx context.Context, ws, id string) (webhook.Subscription, error) {
	sub, err := h.d.Subscription(ctx, id)
	if err != nil {
		return webhook.Subscription{}, notFound(err, "webhook", id)
	}
	if sub.Workspace != ws {
		return webhook.Subscription{}, &notFoundError{kind: "webhook", id: id}
	}
	return sub, nil
}

// modify changes webhook id of workspace ws with fn in one step of the store.
func (h *handler) modify(ctx context.Context, ws, id string, fn func(*webhook.Subscription) error) (webhook.Subscription, error) {
	sub, err := h.d.ModifySubscription(ctx, id, func(s *webhook.Subscription) error {
		if s.Workspace != ws {
			return &notFoundError{kind: "webhook", id: id}
		}
		return fn(s)
	})
	return sub, notFound(err, "webhook", id)
}

// createRequest is the body of POST /workspaces/{workspace}/webhooks.
type createRequest struct {
	Events []string `json:"events"`
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	// Secret: absent or empty means a new random one (webhook.NewSecret).
	Secret string `json:"secret"`
	// Active: absent means true.
	Active        *bool                  `json:"active"`
	Format        webhook.Format         `json:"format"`
	Headers       map[string]string      `json:"headers"`
	WhileInactive webhook.InactivePolicy `json:"while_inactive"`
	Metadata      map[string]string      `json:"metadata"`
	MaxInFlight   int                    `json:"max_in_flight"`
	RateLimit     float64                `json:"rate_limit"`
	TimeoutMS     int64                  `json:"timeout_ms"`
}

func (h *handler) createWebhook(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	var in createRequest
	if err := readBody(r, &in, false); err != nil {
		return 0, nil, err
	}
	timeout, err := timeoutOf(in.TimeoutMS)
	if err != nil {
		return 0, nil, err
	}
	sub := webhook.Subscription{
		Workspace: ws, Name: in.Name, URL: in.URL, Events: in.Events, Secret: in.Secret,
		Headers: in.Headers, Format: in.Format, WhileInactive: in.WhileInactive, Metadata: in.Metadata,
		MaxInFlight: in.MaxInFlight, RateLimit: in.RateLimit, Timeout: timeout,
	}
	if sub.Secret == "" {
		sub.Secret = webhook.NewSecret()
	}
	if in.Active != nil && !*in.Active {
		sub.Status, sub.StatusReason = webhook.StatusInactive, "created inactive"
	}
	created, err := h.d.Subscribe(r.Context(), sub)
	if err != nil {
		return 0, nil, err
	}
	// Relative to the request's URL, so it holds under any mount prefix.
	w.Header().Set("Location", "webhooks/"+url.PathEscape(created.ID))
	return http.StatusCreated, webhookWithSecret{newWebhookView(created, time.Now()), created.Secret}, nil
}

// timeoutOf turns timeout_ms into a duration; the dispatcher checks its range.
func timeoutOf(ms int64) (time.Duration, error) {
	if ms > math.MaxInt64/int64(time.Millisecond) || ms < 0 {
		return 0, badInput("timeout_ms", "must be a number of milliseconds, or 0 for the default")
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func (h *handler) listWebhooks(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	q, err := parseQuery(r, []string{"resource", "event", "url", "status", "q", "limit", "cursor"}, "metadata[")
	if err != nil {
		return 0, nil, err
	}
	f := webhook.Filter{
		Workspace: ws, Resource: q.get("resource"), Event: q.get("event"), URL: q.get("url"),
		Status: webhook.Status(q.get("status")), Query: q.get("q"),
	}
	switch f.Status {
	case "", webhook.StatusActive, webhook.StatusInactive:
	default:
		return 0, nil, badInput("status", `must be "active" or "inactive"`)
	}
	if f.Metadata, err = q.metadata(); err != nil {
		return 0, nil, err
	}
	limit, err := q.limit(defaultPage, maxPage)
	if err != nil {
		return 0, nil, err
	}
	var after webhookCursor
	if c := q.get("cursor"); c != "" {
		if after, err = parseWebhookCursor(c); err != nil {
			return 0, nil, err
		}
	}
	subs, err := h.d.Subscriptions(r.Context(), f)
	if err != nil {
		return 0, nil, err
	}
	subs = subs[after.start(subs):]
	now := time.Now()
	out := make([]webhookView, 0, min(limit, len(subs)))
	for _, s := range subs {
		if len(out) == limit {
			last := out[len(out)-1]
			setNext(w, r, webhookCursor{last.CreatedAt, last.ID}.String())
			break
		}
		// Every check is made here too: the answer must hold only ws's webhooks
		// whatever the store's filter does.
		if s.Workspace != ws || !metadataMatch(s.Metadata, f.Metadata) {
			continue
		}
		out = append(out, newWebhookView(s, now))
	}
	return http.StatusOK, out, nil
}

func metadataMatch(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// webhookCursor locates the last webhook of a page in the list, oldest first: by ID, or
// by creation time if that webhook was deleted since.
type webhookCursor struct {
	createdAt time.Time
	id        string
}

func (c webhookCursor) String() string {
	return encodeCursor(strconv.FormatInt(c.createdAt.UnixNano(), 10) + "." + c.id)
}

func parseWebhookCursor(s string) (webhookCursor, error) {
	raw, err := decodeCursor(s)
	if err != nil {
		return webhookCursor{}, err
	}
	ns, id, ok := strings.Cut(raw, ".")
	n, perr := strconv.ParseInt(ns, 10, 64)
	if !ok || perr != nil || id == "" {
		return webhookCursor{}, badInput("cursor", "is not a cursor this API gave")
	}
	return webhookCursor{time.Unix(0, n), id}, nil
}

// start is the index of the first webhook after the cursor in subs, oldest first.
func (c webhookCursor) start(subs []webhook.Subscription) int {
	if c.id == "" {
		return 0
	}
	for i, s := range subs {
		if s.ID == c.id {
			return i + 1
		}
	}
	for i, s := range subs {
		if s.CreatedAt.After(c.createdAt) {
			return i
		}
	}
	return len(subs)
}

func (h *handler) getWebhook(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	sub, err := h.webhookOf(r.Context(), ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newWebhookView(sub, time.Now()), nil
}

// patchRequest is the body of PATCH: only the fields sent change.
type patchRequest struct {
	Events []string `json:"events"`
	Name   *string  `json:"name"`
	URL    *string  `json:"url"`
	// Secret replaces the secret at once (the old one stops signing); rotate-secret
	// keeps the old one signing for a while.
	Secret        *string                 `json:"secret"`
	Active        *bool                   `json:"active"`
	Format        *webhook.Format         `json:"format"`
	Headers       map[string]string       `json:"headers"` // replaces them all; {} removes them
	WhileInactive *webhook.InactivePolicy `json:"while_inactive"`
	Metadata      map[string]string       `json:"metadata"` // replaces it all; {} removes it
	MaxInFlight   *int                    `json:"max_in_flight"`
	RateLimit     *float64                `json:"rate_limit"`
	TimeoutMS     *int64                  `json:"timeout_ms"`
}

func (h *handler) updateWebhook(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	var in patchRequest
	if err := readBody(r, &in, false); err != nil {
		return 0, nil, err
	}
	if in.Secret != nil && *in.Secret == "" {
		return 0, nil, badInput("secret", "must not be empty: every webhook is signed (rotate-secret makes a new one)")
	}
	var timeout time.Duration
	if in.TimeoutMS != nil {
		var err error
		if timeout, err = timeoutOf(*in.TimeoutMS); err != nil {
			return 0, nil, err
		}
	}
	sub, err := h.modify(r.Context(), ws, r.PathValue("id"), func(s *webhook.Subscription) error {
		if in.Events != nil {
			s.Events = in.Events
		}
		if in.Name != nil {
			s.Name = *in.Name
		}
		if in.URL != nil {
			s.URL = *in.URL
		}
		if in.Secret != nil {
			s.Secret, s.PreviousSecret, s.PreviousSecretExpiresAt = *in.Secret, "", time.Time{}
		}
		if in.Active != nil {
			setActive(s, *in.Active, defaultDeactivateReason)
		}
		if in.Format != nil {
			s.Format = *in.Format
		}
		if in.Headers != nil {
			s.Headers = in.Headers
		}
		if in.WhileInactive != nil {
			s.WhileInactive = *in.WhileInactive
		}
		if in.Metadata != nil {
			s.Metadata = in.Metadata
		}
		if in.MaxInFlight != nil {
			s.MaxInFlight = *in.MaxInFlight
		}
		if in.RateLimit != nil {
			s.RateLimit = *in.RateLimit
		}
		if in.TimeoutMS != nil {
			s.Timeout = timeout
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newWebhookView(sub, time.Now()), nil
}

// setActive sets the status; an already inactive webhook keeps its reason.
func setActive(s *webhook.Subscription, active bool, reason string) {
	switch {
	case active:
		s.Status, s.StatusReason = webhook.StatusActive, ""
	case s.Status != webhook.StatusInactive:
		s.Status, s.StatusReason = webhook.StatusInactive, reason
	}
}

func (h *handler) deleteWebhook(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if _, err := h.webhookOf(r.Context(), ws, id); err != nil {
		return 0, nil, err
	}
	if err := h.d.Unsubscribe(r.Context(), id); err != nil {
		return 0, nil, notFound(err, "webhook", id)
	}
	return http.StatusNoContent, nil, nil
}

// testRequest is the body of test: one event type, or none for every type the webhook
// receives.
type testRequest struct {
	Event string `json:"event"`
}

func (h *handler) testWebhook(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	var in testRequest
	if err := readBody(r, &in, true); err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if _, err := h.webhookOf(r.Context(), ws, id); err != nil {
		return 0, nil, err
	}
	var types []string
	if in.Event != "" {
		types = []string{in.Event}
	}
	report, err := h.d.Test(r.Context(), id, types...)
	if err != nil {
		return 0, nil, notFound(err, "webhook", id)
	}
	return http.StatusOK, report, nil
}

func (h *handler) activateWebhook(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	if err := readBody(r, &struct{}{}, true); err != nil {
		return 0, nil, err
	}
	sub, err := h.modify(r.Context(), ws, r.PathValue("id"), func(s *webhook.Subscription) error {
		setActive(s, true, "")
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newWebhookView(sub, time.Now()), nil
}

// deactivateRequest is the optional body of deactivate.
type deactivateRequest struct {
	Reason string `json:"reason"`
}

func (h *handler) deactivateWebhook(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	var in deactivateRequest
	if err := readBody(r, &in, true); err != nil {
		return 0, nil, err
	}
	if len(in.Reason) > maxReason {
		return 0, nil, badInput("reason", "is longer than %d bytes", maxReason)
	}
	reason := in.Reason
	if strings.TrimSpace(reason) == "" {
		reason = defaultDeactivateReason
	}
	sub, err := h.modify(r.Context(), ws, r.PathValue("id"), func(s *webhook.Subscription) error {
		s.Status, s.StatusReason = webhook.StatusInactive, reason
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newWebhookView(sub, time.Now()), nil
}

// rotateRequest is the optional body of rotate-secret.
type rotateRequest struct {
	// OverlapMS is how long the old secret still signs, in milliseconds; absent means
	// DefaultRotationOverlap, 0 means it stops at once.
	OverlapMS *int64 `json:"overlap_ms"`
}

// maxOverlap bounds how long a rotated-out secret may keep signing.
const maxOverlap = 30 * 24 * time.Hour

func (h *handler) rotateSecret(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	var in rotateRequest
	if err := readBody(r, &in, true); err != nil {
		return 0, nil, err
	}
	overlap := DefaultRotationOverlap
	if in.OverlapMS != nil {
		if *in.OverlapMS < 0 || *in.OverlapMS > maxOverlap.Milliseconds() {
			return 0, nil, badInput("overlap_ms", "must be from 0 to %d (30 days)", maxOverlap.Milliseconds())
		}
		overlap = time.Duration(*in.OverlapMS) * time.Millisecond
	}
	secret := webhook.NewSecret()
	sub, err := h.modify(r.Context(), ws, r.PathValue("id"), func(s *webhook.Subscription) error {
		t := time.Now().UTC()
		s.PreviousSecret, s.PreviousSecretExpiresAt = s.Secret, t.Add(overlap)
		if s.PreviousSecret == "" || overlap == 0 {
			s.PreviousSecret, s.PreviousSecretExpiresAt = "", time.Time{}
		}
		s.Secret = secret
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, webhookWithSecret{newWebhookView(sub, time.Now()), sub.Secret}, nil
}

// recoverRequest is the body of recover.
type recoverRequest struct {
	Since string `json:"since"` // RFC 3339
}

func (h *handler) recoverWebhook(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	var in recoverRequest
	if err := readBody(r, &in, false); err != nil {
		return 0, nil, err
	}
	if in.Since == "" {
		return 0, nil, badInput("since", "is required: the RFC 3339 time from which failed deliveries are sent again")
	}
	since, err := time.Parse(time.RFC3339, in.Since)
	if err != nil {
		return 0, nil, badInput("since", "must be an RFC 3339 time such as 2025-01-31T12:00:00Z")
	}
	id := r.PathValue("id")
	if _, err := h.webhookOf(r.Context(), ws, id); err != nil {
		return 0, nil, err
	}
	n, err := h.d.Recover(r.Context(), id, since)
	if err != nil {
		return 0, nil, notFound(err, "webhook", id)
	}
	return http.StatusAccepted, recoverView{Redelivered: n, Since: since}, nil
}

func (h *handler) webhookStats(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if _, err := h.webhookOf(r.Context(), ws, id); err != nil {
		return 0, nil, err
	}
	st, err := h.d.StatsFor(r.Context(), ws)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newHealthView(st.Subscriptions[id]), nil
}

func (h *handler) workspaceStats(w http.ResponseWriter, r *http.Request, ws string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	st, err := h.d.StatsFor(r.Context(), ws)
	if err != nil {
		return 0, nil, err
	}
	v := workspaceStatsView{Overall: newHealthView(st.Overall), Webhooks: make(map[string]healthView, len(st.Subscriptions))}
	for id, hl := range st.Subscriptions {
		v.Webhooks[id] = newHealthView(hl)
	}
	return http.StatusOK, v, nil
}

func (h *handler) eventTypes(w http.ResponseWriter, r *http.Request, _ string) (int, any, error) {
	if _, err := parseQuery(r, nil); err != nil {
		return 0, nil, err
	}
	all := h.d.Catalog().All()
	out := make([]eventTypeView, len(all))
	for i, t := range all {
		out[i] = newEventTypeView(t)
	}
	return http.StatusOK, out, nil
}
