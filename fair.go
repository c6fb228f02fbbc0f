package webhook

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shophooks/webhook/store"
)

// Fair delivery: what keeps one subscription's slow, hanging or failing endpoint from
// delaying any other's deliveries. The store claims due work subscription by subscription
// within the quota that fairness.quota grants each:
//
//   - at most MaxInFlight attempts in flight per subscription (the store counts them, so
//     the cap holds across dispatchers sharing one store);
//   - at most RateLimit requests per second per subscription (a token bucket of this
//     dispatcher's; a store shared by several dispatchers may keep one more for all of
//     them, as the PostgreSQL store does, so the cap holds across dispatchers);
//   - at most WithWorkspaceInFlight's cap of attempts to one named workspace's
//     subscriptions in flight from this dispatcher, so that a merchant with many hanging
//     endpoints cannot take every worker and slow-lane place from the others;
//   - a circuit breaker: after BreakerThreshold consecutive failed attempts, one probe at
//     a time, at most one per BreakerProbeInterval, until an attempt succeeds. Deliveries
//     that wait behind the breaker use up no attempts.
//
// Auto-disable and Retry-After are applied when an attempt is recorded (deliver.go).

// Defaults of the fairness settings.
const (
	// MinRateLimitPeriod bounds RateLimit from below: a subscription may not ask for
	// fewer requests than one a day (RateLimit >= 1/86400).
	MinRateLimitPeriod = 24 * time.Hour
	// DefaultMaxInFlight is the number of attempts in flight to one subscription at most,
	// unless WithMaxInFlight or the subscription's MaxInFlight says otherwise.
	DefaultMaxInFlight = 4
	// DefaultMaxTimeout caps the Timeout a subscription may set for itself.
	DefaultMaxTimeout = 30 * time.Second
	// DefaultInFlightCap caps the MaxInFlight a subscription may set for itself (or
	// WithMaxInFlight's default, if that is higher).
	DefaultInFlightCap = 32
	// DefaultBreakerThreshold is the number of consecutive failed attempts to a
	// subscription after which the circuit breaker opens.
	DefaultBreakerThreshold = 20
	// DefaultBreakerProbeInterval is the time between two probes of an open breaker.
	DefaultBreakerProbeInterval = time.Minute
	// DefaultAutoDisableAfter is how long a subscription may fail every attempt before it
	// is deactivated.
	DefaultAutoDisableAfter = 5 * 24 * time.Hour
)

// WithMaxInFlight sets how many attempts may be in flight to one subscription at once,
// for subscriptions that do not set MaxInFlight themselves (DefaultMaxInFlight); 0 means
// DefaultMaxInFlight, and New refuses n < 0.
func WithMaxInFlight(n int) Option { return func(cfg *config) { cfg.maxInFlight = n } }

// WithInFlightCap caps the MaxInFlight a subscription may set (DefaultInFlightCap, or
// WithMaxInFlight's default when that is higher): Subscribe refuses a higher one, and a
// subscription stored with one is held to the cap. A merchant who may set MaxInFlight
// through the REST API could otherwise give a hanging endpoint as many attempts as the
// dispatcher has room for. 0 means the default; New refuses n < 0 and a cap below
// WithMaxInFlight's default.
func WithInFlightCap(n int) Option { return func(cfg *config) { cfg.inFlightCap = n } }

// WithWorkspaceInFlight caps the attempts this dispatcher has in flight at once to the
// subscriptions of one named workspace, all together. By default a workspace may hold a
// quarter of the dispatcher's room for attempts (its workers and the places of its slow
// lane for attempts waiting on slow endpoints): with WithWorkers' default of 32, 136. One
// merchant with many hanging endpoints then leaves about three quarters of that room to
// the others (less the overshoot below, at most the workers); the price is that within a merchant's own workspace, enough hanging
// endpoints (34 at the default MaxInFlight of 4) make its other endpoints wait. The
// default workspace, the application's own rather than a merchant's, is not capped. The
// cap is this dispatcher's: instances sharing a store each apply it; and one claim, which
// grants before it knows how many deliveries are due, may take a workspace over it by up
// to the claim's size (at most WithWorkers' n) before the next claims hold it back. 0
// means the default; New refuses n < 0.
func WithWorkspaceInFlight(n int) Option { return func(cfg *config) { cfg.wsInFlight = n } }

// WithMaxTimeout caps the Timeout a subscription may set (DefaultMaxTimeout): Subscribe
// refuses a longer one. 0 means DefaultMaxTimeout; New refuses a negative d or one under
// 1 ms.
func WithMaxTimeout(d time.Duration) Option { return func(cfg *config) { cfg.maxTimeout = d } }

// WithCircuitBreaker opens a subscription's circuit breaker after threshold consecutive
// failed attempts (DefaultBreakerThreshold): from then on its deliveries are sent one at
// a time, at most one every probeEvery (DefaultBreakerProbeInterval), until one succeeds
// and the breaker closes. Deliveries waiting behind an open breaker use up no attempts.
// A threshold of 0 turns the breaker off; New refuses a negative one.
//
// Each dispatcher keeps its own breakers. Dispatchers that share a store (instances on
// one PostgreSQL store) start from the subscription's run of failures as the store has
// it, then count the failures of their own attempts, and each sends its own probes: with
// three instances, an open breaker lets up to three probes a probeEvery through.
func WithCircuitBreaker(threshold int, probeEvery time.Duration) Option {
	return func(cfg *config) { cfg.breakerThreshold, cfg.probeEvery, cfg.breakerSet = threshold, probeEvery, true }
}

// WithAutoDisable deactivates a subscription whose attempts have all failed for after
// (DefaultAutoDisableAfter), counted from the first failed attempt of the run; its status
// reason says so, and WithOnStatusChange is told. 0 turns auto-disable off.
func WithAutoDisable(after time.Duration) Option {
	return func(cfg *config) { cfg.autoDisable, cfg.autoDisableSet = after, true }
}

// StatusChange tells the application that the dispatcher changed a subscription's status
// on its own: deactivated it (an answer such as 410 Gone, or auto-disable after a long run
// of failures) or deleted it (the endpoint asked to be unsubscribed).
type StatusChange struct {
	// Subscription is the subscription as it was before the change, without credentials
	// (see Subscription.Redacted).
	Subscription Subscription `json:"subscription"`
	// Deleted is true when the subscription was deleted, false when it was deactivated.
	Deleted bool `json:"deleted"`
	// Reason says why, as it is stored in StatusReason.
	Reason string `json:"reason"`
	// At is when the change was recorded.
	At time.Time `json:"at"`
}

// WithOnStatusChange calls fn once each time the dispatcher deactivates or deletes a
// subscription on its own, after the change is stored: the hook for telling the merchant
// by email. fn is called from a delivery worker: it must be quick and safe for concurrent
// use. Each change is also logged at Warn.
func WithOnStatusChange(fn func(StatusChange)) Option {
	return func(cfg *config) { cfg.onStatusChange = fn }
}

// fillFairness fills in the fairness defaults and checks the settings.
func (cfg *config) fillFairness() error {
	if cfg.maxInFlight == 0 {
		cfg.maxInFlight = DefaultMaxInFlight
	}
	if cfg.maxInFlight < 1 {
		return &ValidationError{Field: "maxInFlight", Value: strconv.Itoa(cfg.maxInFlight), Reason: "must be at least 1"}
	}
	if cfg.inFlightCap == 0 {
		cfg.inFlightCap = max(DefaultInFlightCap, cfg.maxInFlight)
	}
	if cfg.inFlightCap < cfg.maxInFlight {
		return &ValidationError{Field: "inFlightCap", Value: strconv.Itoa(cfg.inFlightCap), Reason: fmt.Sprintf("must be at least the default MaxInFlight (%d)", cfg.maxInFlight)}
	}
	if cfg.wsInFlight == 0 {
		cfg.wsInFlight = max(1, cfg.workers*(1+slowLaneFactor)/4)
	}
	if cfg.wsInFlight < 1 {
		return &ValidationError{Field: "workspaceInFlight", Value: strconv.Itoa(cfg.wsInFlight), Reason: "must be at least 1"}
	}
	if cfg.maxTimeout == 0 {
		cfg.maxTimeout = DefaultMaxTimeout
	}
	if cfg.maxTimeout < time.Millisecond {
		return &ValidationError{Field: "maxTimeout", Value: cfg.maxTimeout.String(), Reason: "must be at least 1ms"}
	}
	if !cfg.breakerSet {
		cfg.breakerThreshold, cfg.probeEvery = DefaultBreakerThreshold, DefaultBreakerProbeInterval
	}
	if cfg.breakerThreshold < 0 {
		return &ValidationError{Field: "breakerThreshold", Value: strconv.Itoa(cfg.breakerThreshold), Reason: "must not be negative"}
	}
	if cfg.breakerThreshold > 0 && cfg.probeEvery <= 0 {
		return &ValidationError{Field: "probeEvery", Value: cfg.probeEvery.String(), Reason: "must be positive"}
	}
	if !cfg.autoDisableSet {
		cfg.autoDisable = DefaultAutoDisableAfter
	}
	if cfg.autoDisable < 0 {
		return &ValidationError{Field: "autoDisable", Value: cfg.autoDisable.String(), Reason: "must not be negative"}
	}
	if cfg.maxPayload == 0 {
		cfg.maxPayload = DefaultMaxPayloadBytes
	}
	if cfg.maxPayload < 1 {
		return &ValidationError{Field: "maxPayloadBytes", Value: strconv.Itoa(cfg.maxPayload), Reason: "must be at least 1"}
	}
	return nil
}

// fairness is the dispatcher's per-subscription state for fair claims.
type fairness struct {
	threshold  int64
	probeEvery time.Duration
	maxFlight  int // a subscription's MaxInFlight when it sets none
	flightCap  int // the most any subscription may have in flight
	wsCap      int // the most one workspace's subscriptions may have in flight from here

	mu   sync.Mutex
	subs map[string]*subState
	// wsFlight counts the attempts this dispatcher has claimed and not yet finished, per
	// workspace (none: no entry).
	wsFlight map[string]int
	// wakeAt is the earliest time a subscription that a quota refused becomes claimable
	// again by time alone (a token, a probe); zero when none.
	wakeAt time.Time
}

// subState is what the dispatcher keeps of one subscription between claims.
type subState struct {
	tokens   float64   // rate limit bucket
	refilled time.Time // when tokens was last brought up to date
	failures int64     // consecutive failed attempts, as this dispatcher saw them
	seeded   bool      // failures was taken from the store at a claim
	probeAt  time.Time // open breaker: the next probe is not sent before this
	success  time.Time // when the last attempt this dispatcher saw succeed was recorded
}

func newFairness(cfg config) *fairness {
	return &fairness{
		threshold:  int64(cfg.breakerThreshold),
		probeEvery: cfg.probeEvery,
		maxFlight:  cfg.maxInFlight,
		flightCap:  cfg.inFlightCap,
		wsCap:      cfg.wsInFlight,
		wsFlight:   make(map[string]int),
		subs:       make(map[string]*subState),
	}
}

// state returns the state of subscription id, creating it. f.mu is held.
func (f *fairness) state(id string) *subState {
	st := f.subs[id]
	if st == nil {
		st = &subState{}
		f.subs[id] = st
	}
	return st
}

// open reports whether the breaker of st is open. f.mu is held.
func (f *fairness) open(st *subState) bool {
	return f.threshold > 0 && st.failures >= f.threshold
}

// later records t as a time to claim again. f.mu is held.
func (f *fairness) later(t time.Time) {
	if f.wakeAt.IsZero() || t.Before(f.wakeAt) {
		f.wakeAt = t
	}
}

// quota is the store.ClaimRequest Quota: how many more of sub's deliveries may be claimed
// now, given inFlight of them in flight. A named workspace's room is what its claimed
// attempts leave under its cap. Within one claim each of the workspace's subscriptions is
// granted from that room whole (the store has not claimed yet, and claims only what is
// due), so one claim may take the workspace over its cap by up to the claim's limit, at
// most the dispatcher's workers; the claims after it take nothing until it is back under.
func (f *fairness) quota(sub *store.Subscription, inFlight int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.subQuota(sub, inFlight)
	if sub.Workspace != "" { // the default workspace, the application's own, has no cap
		q = min(q, f.wsCap-f.wsFlight[sub.Workspace])
	}
	return max(q, 0)
}

// subQuota is quota for sub alone: its MaxInFlight, breaker and rate limit. f.mu is held.
func (f *fairness) subQuota(sub *store.Subscription, inFlight int) int {
	limit := min(cmp.Or(sub.MaxInFlight, f.maxFlight), f.flightCap)
	var now time.Time // read only for an open breaker or a rate limit: a claim is frequent
	st := f.subs[sub.ID]
	if st != nil && f.open(st) {
		now = time.Now()
		if now.Before(st.probeAt) {
			f.later(st.probeAt)
			return 0
		}
		limit = 1
	}
	q := limit - inFlight
	if sub.RateLimit > 0 && q > 0 {
		if now.IsZero() {
			now = time.Now()
		}
		st = f.state(sub.ID)
		f.refill(st, sub.RateLimit, now)
		if st.tokens < 1 {
			wait := min((1-st.tokens)/sub.RateLimit, MinRateLimitPeriod.Seconds()) // no overflow
			f.later(now.Add(time.Duration(wait * float64(time.Second))))
			return 0
		}
		q = min(q, int(st.tokens))
	}
	return q
}

// refill brings st's token bucket up to now: rate tokens a second, at most one second's
// worth (and at least one) banked. f.mu is held.
func (f *fairness) refill(st *subState, rate float64, now time.Time) {
	burst := math.Max(1, rate)
	if st.refilled.IsZero() {
		st.tokens, st.refilled = burst, now
		return
	}
	st.tokens = math.Min(burst, st.tokens+now.Sub(st.refilled).Seconds()*rate)
	st.refilled = now
}

// claimed takes note of a claim: it uses a token and, with the breaker open, the probe.
func (f *fairness) claimed(c *store.Claim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ws := c.Subscription.Workspace; ws != "" {
		f.wsFlight[ws]++
	}
	st := f.state(c.Subscription.ID)
	if !st.seeded {
		st.failures = max(st.failures, c.Failures.Count)
		st.seeded = true
	}
	if c.Subscription.RateLimit > 0 {
		st.tokens--
	}
	if f.open(st) {
		st.probeAt = time.Now().Add(f.probeEvery)
	}
}

// finished takes note that an attempt claimed for a subscription of workspace ws has
// ended, recorded or not.
func (f *fairness) finished(ws string) {
	if ws == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.wsFlight[ws] - 1; n > 0 {
		f.wsFlight[ws] = n
	} else {
		delete(f.wsFlight, ws)
	}
}

// recorded takes note of an attempt's result. It reports whether the breaker opened with
// this attempt.
func (f *fairness) recorded(subID string, succeeded bool) (opened bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state(subID)
	if succeeded {
		st.failures, st.probeAt, st.success = 0, time.Time{}, time.Now()
		return false
	}
	st.failures++
	if f.threshold > 0 && st.failures == f.threshold {
		st.probeAt = time.Now().Add(f.probeEvery)
		return true
	}
	return false
}

// lastSuccess is when an attempt to the subscription last succeeded, as this dispatcher
// saw it; zero when it saw none.
func (f *fairness) lastSuccess(subID string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.subs[subID]; st != nil {
		return st.success
	}
	return time.Time{}
}

// forget drops the state of a subscription that was deleted.
func (f *fairness) forget(subID string) {
	f.mu.Lock()
	delete(f.subs, subID)
	f.mu.Unlock()
}

// nextWake returns, and clears, the earliest time a quota refused a subscription only
// for the time being.
func (f *fairness) nextWake() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.wakeAt
	f.wakeAt = time.Time{}
	return t, !t.IsZero()
}

// retryAfterHeader reads a Retry-After header (seconds or an HTTP date) of a 429 or 503 answer
// sent at sentAt: how long after sentAt the next attempt may be sent, capped at limit.
// ok is false when the answer asked for nothing usable.
func retryAfterHeader(code int, h http.Header, sentAt time.Time, limit time.Duration) (time.Duration, bool) {
	if (code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable) || limit <= 0 {
		return 0, false
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var wait time.Duration
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil {
			n = math.MaxUint64 // digits too many to count: as long as the cap allows
		}
		wait = time.Duration(min(n, uint64(limit/time.Second)+1)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		wait = t.Sub(sentAt)
	} else {
		return 0, false
	}
	return min(max(wait, 0), limit), true
}
