// Package storetest is the conformance suite of store.Store: every promise the interface's
// doc comments make, checked the same way for every implementation.
//
// A store's tests run it with a constructor that returns a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mystore.Open(filepath.Join(t.TempDir(), "db"))
//			require.NoError(t, err)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite passes every time explicitly (it never sleeps and never reads the clock), so it
// runs in milliseconds against a fast store.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// Run checks that the stores newStore returns keep every promise of store.Store. newStore
// is called once per subtest and must return an empty store; closing it is its business
// (t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, newStore) })
	t.Run("InsertEvent", func(t *testing.T) { testInsertEvent(t, newStore) })
	t.Run("Patterns", func(t *testing.T) { testPatterns(t, newStore) })
	t.Run("RecordTest", func(t *testing.T) { testRecordTest(t, newStore) })
	t.Run("ClaimDue", func(t *testing.T) { testClaimDue(t, newStore) })
	t.Run("RecordAttempt", func(t *testing.T) { testRecordAttempt(t, newStore) })
	t.Run("StatusChange", func(t *testing.T) { testStatusChange(t, newStore) })
	t.Run("Redeliver", func(t *testing.T) { testRedeliver(t, newStore) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, newStore) })
	t.Run("Stats", func(t *testing.T) { testStats(t, newStore) })
	t.Run("StatsWindows", func(t *testing.T) { testStatsWindows(t, newStore) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, newStore) })
	t.Run("Workspaces", func(t *testing.T) { testWorkspaces(t, newStore) })
	t.Run("FairClaims", func(t *testing.T) { testFairClaims(t, newStore) })
}

// t0 is the suite's clock: every time is t0 plus something.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// lease is how long claims in the suite are leased.
const lease = 5 * time.Minute

// fixture is a fresh store and the helpers the subtests share.
type fixture struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
}

func newFixture(t *testing.T, newStore func(t *testing.T) store.Store) *fixture {
	t.Helper()
	s := newStore(t)
	require.NotNil(t, s, "newStore returned nil")
	return &fixture{t: t, ctx: context.Background(), s: s}
}

// newSub is an active JSON subscription, created at t0, that discards while inactive.
func newSub(id string, events ...string) store.Subscription {
	return store.Subscription{
		ID:            id,
		Name:          "Hook " + id,
		URL:           "https://hooks.example.com/" + id,
		Events:        events,
		Secret:        "whsec_" + id,
		Headers:       map[string]string{"Authorization": "Bearer " + id},
		Format:        store.FormatJSON,
		Status:        store.StatusActive,
		WhileInactive: store.InactiveDiscard,
		CreatedAt:     t0,
		UpdatedAt:     t0,
	}
}

// holding is newSub, inactive or not, that holds while inactive.
func holding(s store.Subscription, status store.Status) store.Subscription {
	s.WhileInactive = store.InactiveHold
	s.Status = status
	return s
}

func (f *fixture) create(s store.Subscription) store.Subscription {
	f.t.Helper()
	require.NoError(f.t, f.s.CreateSubscription(f.ctx, s))
	return s
}

func (f *fixture) sub(id string) store.Subscription {
	f.t.Helper()
	s, err := f.s.Subscription(f.ctx, id)
	require.NoError(f.t, err)
	return s
}

func newEvent(id, typ string, occurred time.Time) store.Event {
	return store.Event{ID: id, Type: typ, OccurredAt: occurred, Data: []byte(`{"id":"` + id + `","total":"10.00"}`)}
}

// emit inserts a new event of type typ at now and returns the answer.
func (f *fixture) emit(id, typ string, now time.Time) store.Inserted {
	f.t.Helper()
	ins, err := f.s.InsertEvent(f.ctx, newEvent(id, typ, now), now)
	require.NoError(f.t, err)
	require.True(f.t, ins.Created, "event %s not created", id)
	return ins
}

// emitOne inserts an event that must fan out to exactly one delivery, and returns its ID.
func (f *fixture) emitOne(id, typ string, now time.Time) string {
	f.t.Helper()
	ins := f.emit(id, typ, now)
	require.Len(f.t, ins.Deliveries, 1)
	return ins.Deliveries[0]
}

func (f *fixture) delivery(id string) store.Delivery {
	f.t.Helper()
	d, err := f.s.Delivery(f.ctx, id)
	require.NoError(f.t, err)
	return d
}

func (f *fixture) state(id string) store.DeliveryState { f.t.Helper(); return f.delivery(id).State }

// claim claims everything due at now (up to 1000), leased until now+lease.
func (f *fixture) claim(now time.Time) []store.Claim {
	f.t.Helper()
	cs, err := claimDue(f.ctx, f.s, now, 1000, now.Add(lease))
	require.NoError(f.t, err)
	return cs
}

// claimIDs is claim, answering the delivery IDs in claim order.
func (f *fixture) claimIDs(now time.Time) []string {
	f.t.Helper()
	ids := []string{}
	for _, c := range f.claim(now) {
		ids = append(ids, c.Delivery.ID)
	}
	return ids
}

func (f *fixture) record(rec store.AttemptRecord) store.Delivery {
	f.t.Helper()
	d, err := f.s.RecordAttempt(f.ctx, rec)
	require.NoError(f.t, err)
	return d
}

// deliver records a 200 sent at now. It does not claim the delivery first: a claim takes
// everything due, and RecordAttempt does not need one.
func (f *fixture) deliver(id string, now time.Time) store.Delivery {
	f.t.Helper()
	return f.record(succeeded(id, now))
}

// fail records a last failed attempt (given up), sent at now, without a claim.
func (f *fixture) fail(id string, now time.Time) store.Delivery {
	f.t.Helper()
	return f.record(gaveUp(id, now))
}

// mustClaim claims what is due at now and requires id among it.
func (f *fixture) mustClaim(id string, now time.Time) {
	f.t.Helper()
	require.Contains(f.t, f.claimIDs(now), id, "delivery %s not claimable at %s", id, now)
}

func (f *fixture) stats(now time.Time) store.Stats {
	f.t.Helper()
	st, err := f.s.Stats(f.ctx, "", now)
	require.NoError(f.t, err)
	return st
}

func (f *fixture) deliveries(q store.DeliveryQuery) []string {
	f.t.Helper()
	ds, err := f.s.Deliveries(f.ctx, q)
	require.NoError(f.t, err)
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

// attemptDuration is how long every attempt of the suite takes.
const attemptDuration = 250 * time.Millisecond

func succeeded(id string, sent time.Time) store.AttemptRecord {
	return store.AttemptRecord{
		DeliveryID: id,
		Attempt: store.Attempt{
			Number: 1, SentAt: sent, Duration: attemptDuration,
			StatusCode: 200, ResponseBody: "ok", Outcome: store.OutcomeSucceeded,
		},
		State: store.DeliverySucceeded,
	}
}

func retry(id string, sent, next time.Time) store.AttemptRecord {
	return store.AttemptRecord{
		DeliveryID: id,
		Attempt: store.Attempt{
			Number: 1, SentAt: sent, Duration: attemptDuration,
			StatusCode: 503, ResponseBody: "busy", Error: "503 Service Unavailable",
			ErrorKind: store.ErrorServer, Outcome: store.OutcomeRetry,
		},
		State:         store.DeliveryPending,
		NextAttemptAt: next,
	}
}

func gaveUp(id string, sent time.Time) store.AttemptRecord {
	return store.AttemptRecord{
		DeliveryID: id,
		Attempt: store.Attempt{
			Number: 6, SentAt: sent, Duration: 5 * time.Second,
			Error: "timeout", ErrorKind: store.ErrorTimeout, Outcome: store.OutcomeGaveUp,
		},
		State: store.DeliveryFailed,
	}
}

func deactivating(id string, sent time.Time, code int) store.AttemptRecord {
	return store.AttemptRecord{
		DeliveryID: id,
		Attempt: store.Attempt{
			Number: 1, SentAt: sent, Duration: attemptDuration,
			StatusCode: code, Error: "410 Gone", ErrorKind: store.ErrorClient, Outcome: store.OutcomeDeactivated,
		},
		State:  store.DeliveryFailed,
		Action: store.ActionDeactivate,
		Reason: "endpoint answered 410 Gone",
	}
}

func unsubscribing(id string, sent time.Time) store.AttemptRecord {
	return store.AttemptRecord{
		DeliveryID: id,
		Attempt: store.Attempt{
			Number: 1, SentAt: sent, Duration: attemptDuration,
			StatusCode: 200, ResponseBody: "Please unsubscribe me", ErrorKind: store.ErrorUnsubscribe,
			Outcome: store.OutcomeUnsubscribed,
		},
		State:  store.DeliveryFailed,
		Action: store.ActionDelete,
	}
}

// sameTime asserts two instants are equal, whatever their location.
func sameTime(t *testing.T, want, got time.Time, msgAndArgs ...any) bool {
	t.Helper()
	if want.Equal(got) {
		return true
	}
	return assert.Fail(t, "times differ: want "+want.String()+", got "+got.String(), msgAndArgs...)
}

// normSub puts a subscription's times in UTC, so that stores that keep them in another
// form compare equal.
func normSub(s store.Subscription) store.Subscription {
	s.CreatedAt = s.CreatedAt.UTC()
	s.UpdatedAt = s.UpdatedAt.UTC()
	s.StatusChangedAt = s.StatusChangedAt.UTC()
	s.PreviousSecretExpiresAt = s.PreviousSecretExpiresAt.UTC()
	if len(s.Headers) == 0 {
		s.Headers = nil
	}
	if len(s.Events) == 0 {
		s.Events = nil
	}
	return s
}

func normEvent(e store.Event) store.Event {
	e.OccurredAt = e.OccurredAt.UTC()
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e
}

func subIDs(subs []store.Subscription) []string {
	ids := []string{}
	for _, s := range subs {
		ids = append(ids, s.ID)
	}
	return ids
}
