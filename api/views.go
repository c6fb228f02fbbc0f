package api

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// The JSON views of the API's resources. Each is built by one function; the webhook's
// from Subscription.Redacted(), so that a credential cannot reach an answer through a
// field added later. Zero times are null.

// webhookView is a webhook as every answer shows it: no secret, header names only.
type webhookView struct {
	ID              string                 `json:"id"`
	Workspace       string                 `json:"workspace"`
	Name            string                 `json:"name"`
	URL             string                 `json:"url"`
	Events          []string               `json:"events"`
	Active          bool                   `json:"active"`
	Status          webhook.Status         `json:"status"`
	StatusReason    string                 `json:"status_reason"`
	StatusChangedAt *time.Time             `json:"status_changed_at"`
	Format          webhook.Format         `json:"format"`
	HeaderNames     []string               `json:"header_names"`
	WhileInactive   webhook.InactivePolicy `json:"while_inactive"`
	Metadata        map[string]string      `json:"metadata"`
	MaxInFlight     int                    `json:"max_in_flight"`
	RateLimit       float64                `json:"rate_limit"`
	TimeoutMS       int64                  `json:"timeout_ms"`
	// PreviousSecretExpiresAt is when the secret replaced by the last rotation stops
	// signing; null when none signs any more.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// newWebhookView is the one function that turns a subscription into an answer.
func newWebhookView(sub webhook.Subscription, now time.Time) webhookView {
	s := sub.Redacted()
	v := webhookView{
		ID: s.ID, Workspace: s.Workspace, Name: s.Name, URL: s.URL, Events: s.Events,
		Active: s.Status == webhook.StatusActive, Status: s.Status, StatusReason: s.StatusReason,
		StatusChangedAt: timeOrNull(s.StatusChangedAt), Format: s.Format,
		HeaderNames: make([]string, 0, len(s.Headers)), WhileInactive: s.WhileInactive,
		Metadata: s.Metadata, MaxInFlight: s.MaxInFlight, RateLimit: s.RateLimit,
		TimeoutMS: s.Timeout.Milliseconds(), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if v.Events == nil {
		v.Events = []string{}
	}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	for name := range s.Headers {
		v.HeaderNames = append(v.HeaderNames, name)
	}
	slices.Sort(v.HeaderNames)
	if now.Before(s.PreviousSecretExpiresAt) {
		v.PreviousSecretExpiresAt = timeOrNull(s.PreviousSecretExpiresAt)
	}
	return v
}

// webhookWithSecret is the answer of create and rotate-secret: the only two that show
// the secret, which the merchant must store then.
type webhookWithSecret struct {
	webhookView
	Secret string `json:"secret"`
}

// deliveryView is a delivery with its attempts.
type deliveryView struct {
	ID            string                `json:"id"`
	Workspace     string                `json:"workspace"`
	WebhookID     string                `json:"webhook_id"`
	EventID       string                `json:"event_id"`
	EventType     string                `json:"event_type"`
	State         webhook.DeliveryState `json:"state"`
	Test          bool                  `json:"test"`
	NextAttemptAt *time.Time            `json:"next_attempt_at"`
	CreatedAt     time.Time             `json:"created_at"`
	UpdatedAt     time.Time             `json:"updated_at"`
	Attempts      []attemptView         `json:"attempts"`
}

// attemptView is one HTTP request of a delivery and what came back.
type attemptView struct {
	Number        int             `json:"number"`
	SentAt        time.Time       `json:"sent_at"`
	DurationMS    float64         `json:"duration_ms"`
	StatusCode    *int            `json:"status_code"` // null when no answer came
	ResponseBody  string          `json:"response_body"`
	Error         string          `json:"error"`
	ErrorKind     string          `json:"error_kind"`
	Outcome       webhook.Outcome `json:"outcome"`
	NextAttemptAt *time.Time      `json:"next_attempt_at"`
	Test          bool            `json:"test"`
}

func newDeliveryView(d webhook.Delivery) deliveryView {
	v := deliveryView{
		ID: d.ID, Workspace: d.Workspace, WebhookID: d.SubscriptionID, EventID: d.EventID,
		EventType: d.EventType, State: d.State, Test: d.Test, NextAttemptAt: timeOrNull(d.NextAttemptAt),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Attempts: make([]attemptView, len(d.Attempts)),
	}
	for i, a := range d.Attempts {
		v.Attempts[i] = attemptView{
			Number: a.Number, SentAt: a.SentAt, DurationMS: millis(a.Duration),
			ResponseBody: a.ResponseBody, Error: a.Error, ErrorKind: string(a.ErrorKind),
			Outcome: a.Outcome, NextAttemptAt: timeOrNull(a.NextAttemptAt), Test: a.Test,
		}
		if a.StatusCode != 0 {
			code := a.StatusCode
			v.Attempts[i].StatusCode = &code
		}
	}
	return v
}

func newDeliveryViews(ds []webhook.Delivery) []deliveryView {
	out := make([]deliveryView, len(ds))
	for i, d := range ds {
		out[i] = newDeliveryView(d)
	}
	return out
}

// healthView is the health of one webhook or of a workspace.
type healthView struct {
	Attempts            int64            `json:"attempts"`
	Succeeded           int64            `json:"succeeded"`
	Failed              int64            `json:"failed"`
	SuccessRate         float64          `json:"success_rate"`
	DeliveriesSucceeded int64            `json:"deliveries_succeeded"`
	DeliveriesFailed    int64            `json:"deliveries_failed"`
	ErrorsByKind        map[string]int64 `json:"errors_by_kind"`
	MeanResponseMS      float64          `json:"mean_response_ms"`
	P50ResponseMS       float64          `json:"p50_response_ms"`
	P95ResponseMS       float64          `json:"p95_response_ms"`
	P99ResponseMS       float64          `json:"p99_response_ms"`
	Pending             int64            `json:"pending"`
	Held                int64            `json:"held"`
	OldestPendingAgeMS  float64          `json:"oldest_pending_age_ms"`
	FailingCount        int64            `json:"failing_count"`
	FailingSince        *time.Time       `json:"failing_since"`
}

func newHealthView(h webhook.Health) healthView {
	v := healthView{
		Attempts: h.Attempts, Succeeded: h.Succeeded, Failed: h.Failed, SuccessRate: h.SuccessRate,
		DeliveriesSucceeded: h.DeliveriesSucceeded, DeliveriesFailed: h.DeliveriesFailed,
		ErrorsByKind:   make(map[string]int64, len(h.ErrorsByKind)),
		MeanResponseMS: millis(h.MeanResponse), P50ResponseMS: millis(h.P50Response),
		P95ResponseMS: millis(h.P95Response), P99ResponseMS: millis(h.P99Response),
		Pending: h.Pending, Held: h.Held, OldestPendingAgeMS: millis(h.OldestPendingAge),
		FailingCount: h.Failing.Count, FailingSince: timeOrNull(h.Failing.Since),
	}
	for k, n := range h.ErrorsByKind {
		v.ErrorsByKind[string(k)] = n
	}
	return v
}

// workspaceStatsView is the health of a workspace: overall, and per webhook by ID.
type workspaceStatsView struct {
	Overall  healthView            `json:"overall"`
	Webhooks map[string]healthView `json:"webhooks"`
}

// eventTypeView is one type of the catalog.
type eventTypeView struct {
	Name        string          `json:"name"`
	Resource    string          `json:"resource"`
	Action      string          `json:"action"`
	Description string          `json:"description"`
	Sample      json.RawMessage `json:"sample"`
}

func newEventTypeView(t eventtypes.Type) eventTypeView {
	return eventTypeView{Name: t.Name, Resource: t.Resource, Action: t.Action, Description: t.Description, Sample: t.Sample}
}

// recoverView is the answer of recover.
type recoverView struct {
	// Redelivered is how many failed deliveries were sent again.
	Redelivered int       `json:"redelivered"`
	Since       time.Time `json:"since"`
}

func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// millis is a duration in milliseconds, to the microsecond.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
