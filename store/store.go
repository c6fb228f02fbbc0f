// Package store holds the data of github.com/shophooks/webhook: the types a dispatcher
// works with (subscriptions, events, deliveries, attempts), the Store interface that keeps
// them, and an in-memory Store for tests and small applications.
//
// The interface is shaped by what the scheduler does, so that a durable store can do each
// step in one transaction and without scanning:
//
//   - InsertEvent stores an event and fans it out into one delivery per matching
//     subscription, atomically;
//   - ClaimDue leases the deliveries that are due, subscription by subscription within
//     the quota the dispatcher grants each (so that one slow endpoint cannot take every
//     worker), and answers when the next one will be due;
//   - RecordAttempt appends an attempt to a delivery and applies its consequences (the
//     next attempt time, giving up, deactivating or deleting the subscription, the health
//     figures) in one step.
//
// Every store runs the conformance suite in package store/storetest.
//
// # JSON
//
// The data types of this package (Subscription, Event, Delivery, Attempt, FailureRun,
// Stats, Health, Window, Figures, Slot) encode to JSON by one rule, which API answers and
// stores that keep records as JSON share: field names are snake_case ("subscription_id",
// "next_attempt_at"), times are RFC 3339 strings, and durations are numbers of
// milliseconds, exact to the nanosecond (1.5 is 1.5 ms), in fields whose names end in
// "_ms" ("duration_ms", "timeout_ms", "mean_response_ms"). Records written by earlier
// versions, with durations in nanoseconds under the names without "_ms", are still read.
// (The Test report of package webhook is the one exception: its camelCase names and
// "durationMs" follow the established shape of a "test a webhook" answer.)
//
// Subscription, Attempt, Health, Window, Slot and Figures implement json.Marshaler for
// this. A struct that embeds one of them inherits its MarshalJSON, which would leave the
// struct's own fields out: embed it under a field name, or give the struct its own
// MarshalJSON.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Errors a Store returns. Callers test them with errors.Is; stores wrap them with the ID
// that was not found or already exists.
var (
	// ErrNotFound: no subscription, event or delivery has that ID.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a subscription with that ID already exists.
	ErrConflict = errors.New("already exists")
	// ErrInactive: the operation needs an active subscription.
	ErrInactive = errors.New("subscription is inactive")
	// ErrInFlight: an attempt of the delivery is in flight (its lease has not run out);
	// try again once it is recorded.
	ErrInFlight = errors.New("an attempt is in flight")
)

// Status is a subscription's state: active subscriptions receive deliveries, inactive ones
// receive nothing.
type Status string

const (
	// StatusActive: the subscription receives deliveries. An empty status means active
	// when a subscription is created.
	StatusActive Status = "active"
	// StatusInactive: the subscription receives nothing; events that arrive for it are
	// discarded or held, as its WhileInactive says.
	StatusInactive Status = "inactive"
)

// Format is the wire format of a subscription's requests.
type Format string

const (
	// FormatJSON: a POST with the JSON envelope {"id","type","timestamp","data"}. An empty
	// format means JSON.
	FormatJSON Format = "json"
	// FormatXML: a POST with the same envelope as XML.
	FormatXML Format = "xml"
	// FormatQuery: a GET with query parameters (event_type, <resource>_id, ...) and no body.
	FormatQuery Format = "query"
)

// InactivePolicy says what happens to events that arrive for an inactive subscription.
type InactivePolicy string

const (
	// InactiveDiscard: events that arrive while the subscription is inactive are not
	// delivered, ever. An empty policy means discard.
	InactiveDiscard InactivePolicy = "discard"
	// InactiveHold: such events are kept as held deliveries and released when the
	// subscription is activated again.
	InactiveHold InactivePolicy = "hold"
)

// Subscription is an endpoint that wants some event types: the "webhook" of an admin page.
//
// Secret, PreviousSecret and Headers are credentials: show them to the merchant only in
// the answer that created or rotated them. Encode Redacted(), never the subscription
// itself, in an API answer or a page.
type Subscription struct {
	ID string `json:"id"`
	// Workspace is the merchant (shop, tenant) the subscription belongs to; empty is the
	// default workspace. It receives only the events emitted in its workspace, and never
	// changes workspace.
	Workspace string   `json:"workspace,omitempty"`
	Name      string   `json:"name"`
	URL       string   `json:"url"`
	Events    []string `json:"events"` // event type names or patterns: "order.*", "*.created", "*"
	// Secret signs every request (Standard Webhooks). Never logged.
	Secret string `json:"secret,omitempty"`
	// PreviousSecret is the secret being rotated out: requests carry a signature with it
	// too until PreviousSecretExpiresAt.
	PreviousSecret          string    `json:"previous_secret,omitempty"`
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at,omitzero"`
	// Headers are sent with every request (auth tokens, API keys). Never logged and never
	// copied into the delivery log.
	Headers         map[string]string `json:"headers,omitempty"`
	Format          Format            `json:"format"`
	Status          Status            `json:"status"`
	StatusReason    string            `json:"status_reason,omitempty"`
	StatusChangedAt time.Time         `json:"status_changed_at,omitzero"`
	WhileInactive   InactivePolicy    `json:"while_inactive"`
	// Metadata is the application's own labels (its integration ID, say), stored and
	// returned as given; SubscriptionFilter.Metadata selects by exact key and value.
	Metadata map[string]string `json:"metadata,omitempty"`
	// MaxInFlight caps the attempts in flight to this subscription at once; 0 means the
	// dispatcher's default. The dispatcher refuses one above its own cap (32 by default).
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// RateLimit caps the requests per second sent to this subscription; 0 means no cap.
	// Up to one second's worth (at least one request) may be sent at once after a quiet
	// spell. Deliveries over the cap wait; they do not use up attempts. Dispatchers that
	// share a PostgreSQL store (package storepg) keep the cap together; dispatchers that
	// share another store each keep it on their own.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// Timeout is how long an attempt waits for the answer; 0 means the retry policy's
	// timeout. The dispatcher caps it. In JSON, "timeout_ms".
	Timeout   time.Duration `json:"-"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// MarshalJSON writes the subscription with Timeout as "timeout_ms", in milliseconds. A
// subscription's credentials are in it: encode Redacted() where they must not be.
func (s Subscription) MarshalJSON() ([]byte, error) {
	type plain Subscription
	return json.Marshal(struct {
		plain
		Timeout millis `json:"timeout_ms,omitempty"`
	}{plain(s), millis(s.Timeout)})
}

// UnmarshalJSON reads what MarshalJSON writes, and subscriptions written with "timeout"
// in nanoseconds.
func (s *Subscription) UnmarshalJSON(b []byte) error {
	type plain Subscription
	v := struct {
		*plain
		Timeout   *millis `json:"timeout_ms"`
		TimeoutNS *int64  `json:"timeout"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch {
	case v.Timeout != nil:
		s.Timeout = time.Duration(*v.Timeout)
	case v.TimeoutNS != nil:
		s.Timeout = time.Duration(*v.TimeoutNS)
	}
	return nil
}

// Clone returns a deep copy, so a caller may change it without touching the stored value.
func (s Subscription) Clone() Subscription {
	s.Events = append([]string(nil), s.Events...)
	if s.Headers != nil {
		h := make(map[string]string, len(s.Headers))
		for k, v := range s.Headers {
			h[k] = v
		}
		s.Headers = h
	}
	if s.Metadata != nil {
		m := make(map[string]string, len(s.Metadata))
		for k, v := range s.Metadata {
			m[k] = v
		}
		s.Metadata = m
	}
	return s
}

// Redacted returns a copy without credentials: no Secret, no PreviousSecret, and Headers
// with their names kept and their values emptied. It is the view to encode in an API
// answer, a page or a log.
func (s Subscription) Redacted() Subscription {
	s = s.Clone()
	s.Secret, s.PreviousSecret = "", ""
	for k := range s.Headers {
		s.Headers[k] = ""
	}
	return s
}

// String formats the subscription as %v and %+v print a struct, without its credentials
// (see Redacted): a subscription printed or logged by mistake shows no secret and no
// header value.
func (s Subscription) String() string {
	type plain Subscription // without this method
	return fmt.Sprintf("%+v", plain(s.Redacted()))
}

// GoString is String for %#v.
func (s Subscription) GoString() string {
	type plain Subscription
	return fmt.Sprintf("store.Subscription%+v", plain(s.Redacted()))
}

// LogValue is the subscription as log/slog records it: without its credentials. (slog's
// JSON handler writes a slice of subscriptions as their JSON, credentials included: log
// Redacted copies.)
func (s Subscription) LogValue() slog.Value {
	type plain Subscription
	return slog.AnyValue(plain(s.Redacted()))
}

// Secrets returns the secrets that sign a request sent at now: the current secret, then the
// previous one while it has not expired. Empty secrets are left out.
func (s Subscription) Secrets(now time.Time) []string {
	var out []string
	if s.Secret != "" {
		out = append(out, s.Secret)
	}
	if s.PreviousSecret != "" && now.Before(s.PreviousSecretExpiresAt) {
		out = append(out, s.PreviousSecret)
	}
	return out
}

// Event is something that happened in the shop. One event fans out to many deliveries.
type Event struct {
	ID string `json:"id"`
	// Workspace is the merchant the event happened in; empty is the default workspace. It
	// fans out only to subscriptions of the same workspace.
	Workspace  string          `json:"workspace,omitempty"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// DeliveryState is where a delivery stands.
type DeliveryState string

const (
	// DeliveryPending: waiting for its next attempt (or in flight).
	DeliveryPending DeliveryState = "pending"
	// DeliveryHeld: kept while its subscription is inactive; released on activation.
	DeliveryHeld DeliveryState = "held"
	// DeliverySucceeded: an attempt got a 2xx answer.
	DeliverySucceeded DeliveryState = "succeeded"
	// DeliveryFailed: given up, after the last attempt of the retry policy or an answer
	// that deactivated the subscription.
	DeliveryFailed DeliveryState = "failed"
	// DeliveryCancelled: its subscription was deleted or deactivated (with discard) first.
	DeliveryCancelled DeliveryState = "cancelled"
)

// Final reports whether no further attempt will be made without a Redeliver.
func (s DeliveryState) Final() bool {
	return s == DeliverySucceeded || s == DeliveryFailed || s == DeliveryCancelled
}

// Delivery is one event owed to one subscription, with its attempts.
type Delivery struct {
	ID             string        `json:"id"`
	Workspace      string        `json:"workspace,omitempty"` // the event's and the subscription's
	EventID        string        `json:"event_id"`
	SubscriptionID string        `json:"subscription_id"`
	EventType      string        `json:"event_type"`
	State          DeliveryState `json:"state"`
	Attempts       []Attempt     `json:"attempts"`
	// NextAttemptAt is when the next attempt is due; zero when none is scheduled.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// LeasedUntil is set while an attempt is in flight: if the process dies, the delivery
	// is due again at this time (or, for a store owned by one process, at reopen).
	LeasedUntil time.Time `json:"leased_until,omitzero"`
	// RoundStart is the number of attempts made before the last Redeliver: the retry
	// schedule counts the attempts after it.
	RoundStart int       `json:"round_start,omitempty"`
	Test       bool      `json:"test,omitempty"` // sent by Test, not by Emit
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Clone returns a deep copy.
func (d Delivery) Clone() Delivery {
	d.Attempts = append([]Attempt(nil), d.Attempts...)
	return d
}

// AttemptsInRound is the number of attempts since the delivery was created or last
// redelivered: the number the retry schedule counts.
func (d Delivery) AttemptsInRound() int { return len(d.Attempts) - d.RoundStart }

// ErrorKind classifies a failed attempt for the health figures.
type ErrorKind string

// The kinds of failure. An attempt that succeeded has no kind.
const (
	ErrorTimeout     ErrorKind = "timeout"     // no answer within the timeout
	ErrorConnection  ErrorKind = "connection"  // refused, reset, DNS failure
	ErrorTLS         ErrorKind = "tls"         // handshake or certificate failure
	ErrorRefused     ErrorKind = "refused"     // the destination guard refused the address
	ErrorRedirect    ErrorKind = "3xx"         // a redirect, never followed
	ErrorClient      ErrorKind = "4xx"         // a 4xx answer
	ErrorServer      ErrorKind = "5xx"         // a 5xx answer
	ErrorOther       ErrorKind = "other"       // anything else (1xx, bad response)
	ErrorUnsubscribe ErrorKind = "unsubscribe" // the body asked to be unsubscribed
)

// Outcome is what an attempt led to.
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeSucceeded    Outcome = "succeeded"    // 2xx: the delivery is done
	OutcomeRetry        Outcome = "retry"        // failed; another attempt is scheduled
	OutcomeGaveUp       Outcome = "gave_up"      // failed; it was the last attempt
	OutcomeDeactivated  Outcome = "deactivated"  // the answer deactivated the subscription
	OutcomeUnsubscribed Outcome = "unsubscribed" // the answer deleted the subscription
	OutcomeFailed       Outcome = "failed"       // a test attempt that did not succeed
)

// Attempt is one HTTP request of a delivery and what came back. It never holds a secret
// or a subscription header.
type Attempt struct {
	Number       int           `json:"number"` // 1-based, over the delivery's whole life
	SentAt       time.Time     `json:"sent_at"`
	Duration     time.Duration `json:"-"`                     // in JSON "duration_ms", in milliseconds
	StatusCode   int           `json:"status_code,omitempty"` // 0 when no answer came
	ResponseBody string        `json:"response_body,omitempty"`
	Error        string        `json:"error,omitempty"`
	ErrorKind    ErrorKind     `json:"error_kind,omitempty"`
	Outcome      Outcome       `json:"outcome"`
	// NextAttemptAt is when the attempt after this one was scheduled (Outcome retry);
	// zero when none was.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	Test          bool      `json:"test,omitempty"`
}

// MarshalJSON writes the attempt with Duration as "duration_ms", in milliseconds.
func (a Attempt) MarshalJSON() ([]byte, error) {
	type plain Attempt
	return json.Marshal(struct {
		plain
		Duration millis `json:"duration_ms"`
	}{plain(a), millis(a.Duration)})
}

// UnmarshalJSON reads what MarshalJSON writes, and attempts written with "duration" in
// nanoseconds.
func (a *Attempt) UnmarshalJSON(b []byte) error {
	type plain Attempt
	v := struct {
		*plain
		Duration   *millis `json:"duration_ms"`
		DurationNS *int64  `json:"duration"`
	}{plain: (*plain)(a)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch {
	case v.Duration != nil:
		a.Duration = time.Duration(*v.Duration)
	case v.DurationNS != nil:
		a.Duration = time.Duration(*v.DurationNS)
	}
	return nil
}

// Succeeded reports whether the attempt got a 2xx answer.
func (a Attempt) Succeeded() bool { return a.Outcome == OutcomeSucceeded }

// Action is a consequence of an attempt for its subscription.
type Action int

const (
	// ActionNone leaves the subscription as it is.
	ActionNone Action = iota
	// ActionDeactivate makes the subscription inactive, with the record's Reason.
	ActionDeactivate
	// ActionDelete deletes the subscription and cancels its open deliveries.
	ActionDelete
)

// AttemptRecord is the result of one attempt, applied by RecordAttempt in one step.
type AttemptRecord struct {
	DeliveryID string
	Attempt    Attempt
	// State is the delivery's state after the attempt: DeliveryPending (retry at
	// NextAttemptAt), DeliverySucceeded or DeliveryFailed.
	State         DeliveryState
	NextAttemptAt time.Time
	Action        Action
	Reason        string // why the subscription is deactivated, with ActionDeactivate
}

// CheckLease is the check every store makes at ClaimDue: a lease must end after now, or
// the claimed delivery would be due again at once and could be claimed twice.
func CheckLease(now, leaseUntil time.Time) error {
	if !leaseUntil.After(now) {
		return fmt.Errorf("store: lease until %s does not end after now (%s)", leaseUntil.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	return nil
}

// PrepareTest is the check every store makes at RecordTest. It refuses an event without an
// ID and a delivery that is not finished (a store would otherwise send it like a real one),
// and fills in what a caller may leave out: a new ID when d.ID is empty, d.EventID, and
// d.Test.
func PrepareTest(ev Event, d *Delivery) error {
	switch {
	case ev.ID == "":
		return errors.New("store: test event has no ID")
	case d.EventID != "" && d.EventID != ev.ID:
		return fmt.Errorf("store: test delivery %q is for event %q, not %q", d.ID, d.EventID, ev.ID)
	case !d.State.Final():
		return fmt.Errorf("store: test delivery %q is %q, not finished", d.ID, d.State)
	}
	if d.ID == "" {
		d.ID = NewID("dlv")
	}
	d.EventID = ev.ID
	d.Test = true
	return nil
}

// Claim is a leased delivery with what it takes to send it.
type Claim struct {
	Delivery     Delivery
	Event        Event
	Subscription Subscription
	// Failures is the subscription's current run of failed attempts as of the claim.
	Failures FailureRun
}

// FailureRun is a subscription's current run of consecutive failed attempts (tests not
// counted): how many, and when the first of them was sent. A successful attempt ends the
// run; the zero value means the last attempt succeeded (or there was none).
type FailureRun struct {
	Count int64     `json:"count,omitempty"`
	Since time.Time `json:"since,omitzero"`
}

// ClaimRequest is what ClaimDue is asked for.
type ClaimRequest struct {
	// Now is the time of the claim: pending deliveries due at or before it are claimable.
	Now time.Time
	// Limit caps the number of deliveries claimed, over all subscriptions.
	Limit int
	// LeaseUntil is when the claimed deliveries' leases end (see CheckLease).
	LeaseUntil time.Time
	// Quota says how many more deliveries of sub may be claimed now, given inFlight, the
	// number of its deliveries leased until after Now. A quota of 0 or less skips the
	// subscription: none of its deliveries is claimed and its due times do not count
	// for the next due time. A nil Quota grants every subscription Limit. Quota is
	// called under the store's lock or inside its transaction: it must be quick, must
	// not call the store, and may be called more than once for one subscription.
	Quota func(sub *Subscription, inFlight int) int
}

// Inserted is the answer of InsertEvent.
type Inserted struct {
	Event      Event // the stored event: the existing one when the ID was taken
	Created    bool  // false when an event with that ID already existed
	Pending    int   // deliveries created pending (due at once)
	Held       int   // deliveries created held
	Deliveries []string
}

// SubscriptionFilter selects subscriptions; empty fields match everything.
type SubscriptionFilter struct {
	// Workspace selects one workspace's subscriptions, through an index; empty selects
	// every workspace's.
	Workspace string
	// Metadata selects subscriptions whose Metadata has every one of these keys with
	// exactly this value.
	Metadata map[string]string
	Resource string // "order": subscriptions that receive some order event
	Event    string // "created" or "order.created": subscriptions that receive it
	URL      string // substring of the URL
	Status   Status
	Query    string // case-insensitive substring of the name or URL
}

// DeliveryQuery selects deliveries for the log; empty fields match everything.
type DeliveryQuery struct {
	// Workspace selects one workspace's deliveries; empty selects every workspace's.
	Workspace      string
	SubscriptionID string
	EventID        string
	State          DeliveryState
	// Since and Until select deliveries created at or after Since and before Until; zero
	// times do not bound.
	Since, Until time.Time
	// Limit caps the answer; 0 means DefaultLimit.
	Limit int
	// Before is a cursor: only deliveries older than the one with this ID. Pass the last
	// ID of a page to get the next one.
	Before string
}

// DefaultLimit is the number of deliveries a DeliveryQuery answers when it names no limit.
const DefaultLimit = 100

// PruneRequest says which finished deliveries Prune may remove.
type PruneRequest struct {
	// Before: finished deliveries last updated before this time are removed.
	Before time.Time
	// KeepPerSubscription: beyond this many finished deliveries of a subscription, the
	// oldest are removed whatever their age. 0 means no cap.
	KeepPerSubscription int
	// Limit caps the number removed in one call (small transactions); 0 means no cap.
	Limit int
}

// Store keeps subscriptions, events and deliveries for a dispatcher. Implementations are
// safe for concurrent use. Values returned are copies the caller owns.
type Store interface {
	// CreateSubscription stores a new subscription (an empty Status stored as
	// StatusActive); ErrConflict if its ID is taken. The ID must not be empty.
	CreateSubscription(ctx context.Context, sub Subscription) error
	// Subscription returns the subscription with that ID, or ErrNotFound.
	Subscription(ctx context.Context, id string) (Subscription, error)
	// UpdateSubscription applies fn to the stored subscription and stores the result, in
	// one step. When the status changes, the store moves the subscription's open
	// deliveries: on deactivation pending ones become held (InactiveHold) or cancelled
	// (InactiveDiscard); on activation held ones become pending, due at now. fn must be
	// free of side effects: a store may call it more than once. ErrNotFound if absent.
	UpdateSubscription(ctx context.Context, id string, now time.Time, fn func(*Subscription) error) (Subscription, error)
	// DeleteSubscription removes the subscription and cancels its pending and held
	// deliveries. ErrNotFound if absent.
	DeleteSubscription(ctx context.Context, id string, now time.Time) error
	// Subscriptions lists the subscriptions the filter selects, oldest first. With
	// f.Workspace set, its cost does not grow with the number of other workspaces.
	Subscriptions(ctx context.Context, f SubscriptionFilter) ([]Subscription, error)

	// InsertEvent stores ev and, in the same atomic step, one delivery per subscription
	// of ev.Workspace whose Events match ev.Type (found through an index, never by a walk
	// over other workspaces' subscriptions): pending and due at now for active subscriptions, held
	// for inactive ones that hold, none for inactive ones that discard. If an event with
	// ev.ID exists, it returns that event with Created false and creates nothing. ev.ID
	// must not be empty.
	InsertEvent(ctx context.Context, ev Event, now time.Time) (Inserted, error)
	// Event returns the event with that ID, or ErrNotFound.
	Event(ctx context.Context, id string) (Event, error)
	// RecordTest stores a finished test delivery (and its event if new) in the log,
	// without fanning out and without touching the health figures. An empty d.ID gets a
	// new ID; a delivery that is not finished is refused (see PrepareTest); ErrConflict if
	// a delivery with d.ID exists.
	RecordTest(ctx context.Context, ev Event, d Delivery) error

	// ClaimDue leases pending deliveries due at or before req.Now until req.LeaseUntil:
	// until then, or until RecordAttempt, no other claim returns them. A delivery whose
	// lease has run out is due again (at its lease end) and no longer in flight. It takes
	// subscriptions in the order of their earliest due delivery, and from each at most
	// what req.Quota grants, earliest due first within the subscription, up to req.Limit
	// in all. It finds due subscriptions and their due deliveries through indexes: a
	// subscription skipped by its quota costs a constant amount, never a walk over its
	// backlog. next is when the earliest pending delivery is due that the claim left only
	// because it was not due yet or req.Limit was reached (so it may be at or before
	// req.Now), a leased delivery counting as due at its lease end; deliveries of a subscription whose quota was 0 or ran out do not count.
	// next is zero when there is none. req.LeaseUntil must be after req.Now (see
	// CheckLease). A store may wait a little before it claims (the PostgreSQL store does,
	// up to 10 ms, after a claim that other instances' claims left empty); it then claims
	// as of the end of its wait, with req.Now and req.LeaseUntil moved by as much.
	ClaimDue(ctx context.Context, req ClaimRequest) (claims []Claim, next time.Time, err error)
	// NextDue returns the time the earliest pending delivery is due (its lease end if it
	// is leased), whatever the quotas; ok is false when nothing is pending.
	NextDue(ctx context.Context) (t time.Time, ok bool, err error)
	// RecordAttempt appends rec.Attempt to the delivery, sets its state and next attempt
	// time, clears its lease, applies rec.Action to the subscription and updates the
	// health figures, all in one step. A delivery cancelled meanwhile keeps its state. It
	// returns the delivery as stored; ErrNotFound if it is gone.
	RecordAttempt(ctx context.Context, rec AttemptRecord) (Delivery, error)
	// Redeliver makes a delivery pending again, due at now, with a fresh round of the retry
	// schedule. ErrNotFound if the delivery or its subscription is gone, ErrInactive if the
	// subscription is inactive, ErrInFlight if it is leased until after now (the attempt's
	// record would overwrite the fresh round).
	Redeliver(ctx context.Context, id string, now time.Time) (Delivery, error)

	// Delivery returns the delivery with that ID, or ErrNotFound.
	Delivery(ctx context.Context, id string) (Delivery, error)
	// Deliveries lists the deliveries the query selects, newest first, served by an
	// index for every field of the query: a page costs the same however many deliveries
	// the query does not select.
	Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error)
	// Stats returns the health figures, overall and per subscription, as kept up to date
	// by RecordAttempt (never by scanning the log), with queue depths at now. A non-empty
	// workspace limits both to that workspace (Overall is then the workspace's running
	// totals, deleted subscriptions included), found through an index; empty means every
	// workspace.
	Stats(ctx context.Context, workspace string, now time.Time) (Stats, error)
	// Prune removes finished deliveries that the request selects, and returns how many
	// deliveries it removed. An event goes with its last delivery; an event that never had
	// one goes once it occurred before req.Before. Pending and held deliveries stay.
	Prune(ctx context.Context, req PruneRequest) (int, error)
}

// EventInserter stores an event and its fan-out: the part of a Store that Emit needs. A
// store that can join the application's own database transaction returns one bound to
// that transaction (storepg's Store.Tx), so that the event commits or rolls back with the
// application's data.
type EventInserter interface {
	// InsertEvent is Store.InsertEvent.
	InsertEvent(ctx context.Context, ev Event, now time.Time) (Inserted, error)
}

// Waker is implemented by a store that several processes share. Wake returns a channel
// that receives a value when another process (or a transaction that committed) may have
// made deliveries due, so that a dispatcher's scheduler wakes at once rather than at its
// next timer. A dispatcher still wakes on a timer now and then, in case a wake-up is lost.
type Waker interface {
	Wake() <-chan struct{}
}

// CheapClaimer is implemented by a store whose ClaimDue costs no I/O and no transaction,
// only a little work under a lock in this process (the memory store). A dispatcher lets
// each worker that finishes an attempt claim its next delivery itself from such a store,
// one at a time, instead of waking its scheduler for every delivery; from other stores it
// claims in batches, which spares them a transaction per delivery.
type CheapClaimer interface {
	// AppendDue is ClaimDue with the claims appended to dst, so that a caller claiming
	// one delivery at a time reuses one slice rather than allocating one per claim.
	AppendDue(ctx context.Context, dst []Claim, req ClaimRequest) (claims []Claim, next time.Time, err error)
}
