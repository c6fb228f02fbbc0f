// Package webhook sends webhooks from an e-commerce application the way the best platforms
// do: the application calls Emit from its order, product and customer code; the library
// stores the event, fans it out to every matching subscription, signs it (Standard
// Webhooks), delivers it over HTTP, retries it on a fixed six-attempt schedule, deactivates
// or deletes subscriptions by the answers it gets, and keeps a delivery log and health
// figures the application can show its merchants.
//
// The happy path:
//
//	st := store.NewMemory() // or storebolt.Open(path) for a durable queue
//	d, err := webhook.New(st)
//	if err != nil { ... }
//	defer d.Close(context.Background())
//
//	sub, err := d.Subscribe(ctx, webhook.Subscription{
//		Name:   "Fulfilment",
//		URL:    "https://fulfil.example.com/hooks",
//		Events: []string{"order.*"},
//		Secret: webhook.NewSecret(),
//	})
//	ev, err := d.Emit(ctx, eventtypes.OrderCreated, order) // stored; delivered in the background
//	log, err := d.Deliveries(ctx, webhook.DeliveryQuery{EventID: ev.ID})
//
// Emit never waits for HTTP: once it returns, the event and its deliveries are in the
// store, and with a durable store they survive a crash. Delivery is at least once;
// receivers deduplicate by the webhook-id header, which is the event ID.
package webhook

import (
	"errors"
	"fmt"

	"github.com/shophooks/webhook/store"
)

// The data types live in package store, where every Store implementation shares them;
// these aliases let most applications import only this package.
type (
	// Subscription is an endpoint and the events it wants. See store.Subscription.
	Subscription = store.Subscription
	// Event is something that happened in the shop. See store.Event.
	Event = store.Event
	// Delivery is one event owed to one subscription, with its attempts.
	Delivery = store.Delivery
	// Attempt is one HTTP request of a delivery and what came back.
	Attempt = store.Attempt
	// DeliveryState is where a delivery stands.
	DeliveryState = store.DeliveryState
	// Status is a subscription's state.
	Status = store.Status
	// Format is the wire format of a subscription's requests.
	Format = store.Format
	// InactivePolicy says what happens to events for an inactive subscription.
	InactivePolicy = store.InactivePolicy
	// DeliveryQuery selects deliveries for the log.
	DeliveryQuery = store.DeliveryQuery
	// Filter selects subscriptions: by resource, event, URL substring, status, free text.
	Filter = store.SubscriptionFilter
	// Stats are the health figures, overall and per subscription.
	Stats = store.Stats
	// Health is the health of one subscription or of all of them.
	Health = store.Health
	// ErrorKind classifies a failed attempt.
	ErrorKind = store.ErrorKind
	// Outcome is what an attempt led to.
	Outcome = store.Outcome
)

// Subscription statuses.
const (
	StatusActive   = store.StatusActive
	StatusInactive = store.StatusInactive
)

// Wire formats.
const (
	FormatJSON  = store.FormatJSON
	FormatXML   = store.FormatXML
	FormatQuery = store.FormatQuery
)

// Policies for events that arrive while a subscription is inactive.
const (
	InactiveDiscard = store.InactiveDiscard
	InactiveHold    = store.InactiveHold
)

// Delivery states.
const (
	DeliveryPending   = store.DeliveryPending
	DeliveryHeld      = store.DeliveryHeld
	DeliverySucceeded = store.DeliverySucceeded
	DeliveryFailed    = store.DeliveryFailed
	DeliveryCancelled = store.DeliveryCancelled
)

// Kinds of failed attempts.
const (
	ErrorTimeout     = store.ErrorTimeout
	ErrorConnection  = store.ErrorConnection
	ErrorTLS         = store.ErrorTLS
	ErrorRefused     = store.ErrorRefused
	ErrorRedirect    = store.ErrorRedirect
	ErrorClient      = store.ErrorClient
	ErrorServer      = store.ErrorServer
	ErrorOther       = store.ErrorOther
	ErrorUnsubscribe = store.ErrorUnsubscribe
)

// Outcomes of attempts.
const (
	OutcomeSucceeded    = store.OutcomeSucceeded
	OutcomeRetry        = store.OutcomeRetry
	OutcomeGaveUp       = store.OutcomeGaveUp
	OutcomeDeactivated  = store.OutcomeDeactivated
	OutcomeUnsubscribed = store.OutcomeUnsubscribed
	OutcomeFailed       = store.OutcomeFailed
)

var (
	// ErrNotFound: no subscription, event or delivery has the ID. It is the same value as
	// store.ErrNotFound, so errors from any store match it.
	ErrNotFound = store.ErrNotFound
	// ErrClosed: the dispatcher was closed; it takes no more work.
	ErrClosed = errors.New("webhook: dispatcher closed")
	// ErrInactive: the operation needs an active subscription (Redeliver).
	ErrInactive = store.ErrInactive
	// ErrInFlight: Redeliver found an attempt of the delivery in flight; try again once
	// it is recorded. The same value as store.ErrInFlight.
	ErrInFlight = store.ErrInFlight
	// ErrTooManyAttempts: Redeliver found the delivery holding MaxDeliveryAttempts
	// attempts or more, so it is not sent again; emit the event again, under a new event
	// ID, to send it once more.
	ErrTooManyAttempts = errors.New("too many attempts: emit the event again under a new event ID to send it once more")
	// ErrConflict: the ID is taken by something else (Emit with WithEventID of an event of
	// another type or workspace; Subscribe with the ID of another subscription). The same
	// value as store.ErrConflict.
	ErrConflict = store.ErrConflict
	// ErrInvalid matches every *ValidationError: errors.Is(err, ErrInvalid).
	ErrInvalid = errors.New("webhook: invalid input")
)

// ValidationError is bad input refused before anything was stored or sent. Field names
// the field of the input (a Subscription field such as "URL", "Events", "Headers", or an
// argument such as "eventType"); Reason says what is wrong with it. Err, when set, is the
// underlying error (an *eventtypes.UnknownTypeError, say).
type ValidationError struct {
	Field  string
	Value  string // the offending value, when it is safe to show (never a secret)
	Reason string
	Err    error
}

// Error says which field was refused and why, with the value when it is safe to show.
func (e *ValidationError) Error() string {
	msg := "webhook: invalid " + e.Field
	if e.Value != "" {
		msg += fmt.Sprintf(" %q", e.Value)
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

// Unwrap returns the underlying error, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

// Is makes every ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }
