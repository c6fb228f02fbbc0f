package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// Dispatcher stores events, fans them out to subscriptions and delivers them. It is safe
// for concurrent use. Create it with New; stop it with Close.
type Dispatcher struct {
	store   store.Store
	cfg     config
	client  *http.Client
	ownConn *http.Transport // the transport the dispatcher made, closed at Close

	wake     chan struct{}      // wakes the scheduler: something may be due
	inflight atomic.Int64       // attempts in flight that hold a worker slot
	slow     atomic.Int64       // attempts in flight past slowAfter, in the slow lane
	idle     chan store.Claim   // unbuffered: idle attempt goroutines wait here for work
	idlers   atomic.Int64       // attempt goroutines waiting on idle
	closed   atomic.Bool        // Close was called
	stop     context.CancelFunc // stops the scheduler
	loopCtx  context.Context
	// sendCtx bounds every attempt; it is cancelled only when Close's context ends
	// before the in-flight attempts do.
	sendCtx    context.Context
	cancelSend context.CancelFunc
	recordCtx  context.Context // sendCtx without its cancellation: an attempt made is recorded
	// cheap is the store when its claims cost no I/O (a store.CheapClaimer): a worker that
	// finishes an attempt claims its next delivery itself. nil otherwise.
	cheap     store.CheapClaimer
	claimMu   sync.Mutex // one claim at a time, with its note for fairness (see claim)
	loopDone  chan struct{}
	attempts  sync.WaitGroup // attempt goroutines
	closeOnce sync.Once
	closeDone chan struct{}
	// closing guards closed against tests.Add, so that Close waits for every Test that
	// got past its closed check.
	closing sync.Mutex
	tests   sync.WaitGroup // Test calls in progress

	fair     *fairness
	quota    func(*store.Subscription, int) int // d.fair.quota, made into a func value once
	notified sync.Map                           // subscription ID -> StatusChangedAt (or "deleted") already told
	quiet    *quiet                             // the scheduler's rounds, for Idle and Settled

	att attemptState // what attempts reuse: signing keys, body buffers, parsed URLs
	// stampKey marks the data that Emit checked (see stamp): random, this dispatcher's.
	stampKey [stampLen]byte
}

// New returns a Dispatcher that delivers from s at once: deliveries already due in s
// (left by an earlier process, say) are attempted right away. It refuses invalid options
// with a *ValidationError. The caller keeps ownership of s: Close does not close it.
func New(s store.Store, opts ...Option) (*Dispatcher, error) {
	if s == nil {
		return nil, &ValidationError{Field: "store", Reason: "is nil"}
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.policySet {
		cfg.policy = DefaultRetryPolicy()
	}
	if err := cfg.policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.workers == 0 {
		cfg.workers = DefaultWorkers
	}
	if cfg.workers < 1 {
		return nil, &ValidationError{Field: "workers", Value: fmt.Sprint(cfg.workers), Reason: "must be at least 1"}
	}
	cfg.logger = cmp.Or(cfg.logger, slog.New(slog.DiscardHandler))
	if cfg.catalog == nil {
		cfg.catalog = eventtypes.Default()
	}
	if cfg.signer == nil {
		cfg.signer = StandardSigner{}
	}
	cfg.userAgent = cmp.Or(cfg.userAgent, DefaultUserAgent)
	if err := cfg.fillFairness(); err != nil {
		return nil, err
	}

	d := &Dispatcher{
		store:     s,
		cfg:       cfg,
		wake:      make(chan struct{}, 1),
		loopDone:  make(chan struct{}),
		closeDone: make(chan struct{}),
		idle:      make(chan store.Claim),
		fair:      newFairness(cfg),
		quiet:     newQuiet(),
	}
	d.client = d.httpClient()
	d.quota = d.fair.quota
	_, _ = rand.Read(d.stampKey[:]) // crypto/rand.Read never fails (Go 1.24+)
	d.loopCtx, d.stop = context.WithCancel(context.Background())
	d.sendCtx, d.cancelSend = context.WithCancel(context.Background())
	d.recordCtx = context.WithoutCancel(d.sendCtx)
	d.cheap, _ = s.(store.CheapClaimer)
	go d.schedule()
	return d, nil
}

// httpClient builds the client attempts are sent with: never following redirects, and
// guarded against internal destinations unless AllowPrivateNetworks was given.
func (d *Dispatcher) httpClient() *http.Client {
	var c http.Client
	if d.cfg.client != nil {
		c = *d.cfg.client
		if !d.cfg.allowPrivate {
			c.Transport = guardTransport(c.Transport)
		}
	} else {
		d.ownConn = NewTransport(d.cfg.allowPrivate)
		c.Transport = d.ownConn
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Close stops the dispatcher: it claims no more deliveries, waits for the attempts in
// flight (Test's included) to finish and be recorded, and returns when every goroutine it
// started has ended. If ctx ends first, the attempts still in flight are cancelled (and not recorded:
// their deliveries are attempted again by the next dispatcher once their lease runs out),
// Close still waits for the goroutines to end, and it returns ctx's error. Close does not
// close the store. Calling it again waits for the first call to finish and returns nil.
//
// A nil ctx means context.Background(): wait for every attempt in flight. Close on a nil
// *Dispatcher (what New returns with an error) does nothing and returns nil, so a
// deferred Close is harmless even before the error of New is checked.
func (d *Dispatcher) Close(ctx context.Context) error {
	if d == nil || d.loopDone == nil {
		return nil // not made by New: nothing was started
	}
	if ctx == nil {
		ctx = context.Background()
	}
	first := false
	d.closeOnce.Do(func() { first = true })
	if !first {
		<-d.closeDone
		return nil
	}
	defer close(d.closeDone)
	d.closing.Lock()
	d.closed.Store(true)
	d.closing.Unlock()
	d.stop()
	<-d.loopDone
	done := make(chan struct{})
	go func() { d.attempts.Wait(); d.tests.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		d.cancelSend()
		<-done
	}
	d.cancelSend()
	if d.ownConn != nil {
		d.ownConn.CloseIdleConnections()
	}
	return err
}

// signal wakes the scheduler without blocking.
func (d *Dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// signalDue wakes the scheduler for deliveries just made due, unless every worker slot
// is held and the workers claim their next deliveries themselves: one of them will claim
// these, and a worker that finds nothing due gives its slot back and wakes the scheduler,
// so nothing is left behind. Under load this spares the scheduler a wake-up per event.
func (d *Dispatcher) signalDue() {
	if d.cheap != nil && d.inflight.Load() >= int64(d.cfg.workers) {
		return
	}
	d.signal()
}

// leaseFor is how long a claimed delivery stays leased: longer than any attempt can take,
// so only a dead process leaves one to run out.
func (d *Dispatcher) leaseFor() time.Duration {
	return 2*max(d.cfg.policy.Timeout, d.cfg.maxTimeout) + time.Minute
}

// minWait is the shortest sleep of the scheduler when the store says something is due
// but gives nothing to claim.
const minWait = 10 * time.Millisecond

// sharedPoll is the longest the scheduler sleeps with a store that other processes share
// (a store.Waker): the fallback for a lost wake-up.
const sharedPoll = 5 * time.Second

// storeRetry is how long the scheduler waits after a store error before it tries again.
const storeRetry = time.Second

// schedule is the scheduler: it claims due deliveries while workers are free, then sleeps
// until the earliest pending delivery is due, a worker finishes, or something wakes it
// (Emit, Activate, Redeliver). It never polls and costs nothing while nothing is due.
func (d *Dispatcher) schedule() {
	defer close(d.loopDone)
	defer d.quiet.stop()
	ctx := d.loopCtx
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var woken <-chan struct{} // a shared store's wake-ups; nil blocks for ever
	if w, ok := d.store.(store.Waker); ok {
		woken = w.Wake()
	}
	for {
		round := d.quiet.begin()
		held := d.inflight.Load() // only this loop adds to it
		// Every attempt in flight, the slow lane's too; read after held, so that one
		// moving to the slow lane meanwhile is counted at least once.
		busy := held + d.slow.Load()
		quiet := false            // nothing in flight, nothing due now
		wait := time.Duration(-1) // until woken
		if free := d.cfg.workers - int(held); free > 0 {
			claims, next, err := d.claim(ctx, nil, free)
			if err != nil && ctx.Err() == nil {
				d.cfg.logger.Error("webhook: claiming due deliveries", "err", err)
				wait = storeRetry
			}
			for i := range claims {
				c := &claims[i]
				d.inflight.Add(1)
				select {
				case d.idle <- *c: // a goroutine that finished its attempt takes it
				default:
					d.attempts.Add(1)
					go d.attemptLoop(*c)
				}
			}
			if err == nil && len(claims) < free {
				if t, ok := d.fair.nextWake(); ok && (next.IsZero() || t.Before(next)) {
					next = t
				}
				lagging := false
				if !next.IsZero() {
					wait = max(time.Until(next), 0)
					if wait == 0 && len(claims) == 0 {
						// Due, yet not claimable: the store is lagging (a lease
						// just ran out on another clock, say). Don't spin.
						wait, lagging = minWait, true
					}
				}
				quiet = busy == 0 && len(claims) == 0 && !lagging
			}
			d.quiet.end(round, quiet)
			if wait == 0 {
				continue
			}
		}
		if woken != nil && (wait < 0 || wait > sharedPoll) {
			wait = sharedPoll // in case a wake-up of the shared store was lost
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-woken:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// attempt sends one claimed delivery. It holds a worker slot (inflight) until it ends or,
// if it is still waiting for its endpoint after slowAfter, moves to the slow lane while
// that has room, so that slow and hanging endpoints cannot take every worker from the
// healthy ones. It reports whether it still holds its worker slot: the caller gives it
// back (or keeps it for its next claim). lt is the calling goroutine's lane timer.
func (d *Dispatcher) attempt(to *attemptTimeout, lt *laneTimer, c *store.Claim) (holds bool) {
	lt.lane.Store(0)
	d.attempts.Add(1) // the timer's function, so that Close waits for it too
	lt.t.Reset(slowAfter)
	d.deliver(to, c)
	// Before the signal below: a claim it wakes must see the workspace's room.
	d.fair.finished(c.Subscription.Workspace)
	if lt.t.Stop() {
		d.attempts.Done() // its function will not run
	} else {
		<-lt.fired // it ran or is running: let it end before the timer serves again
	}
	if lt.lane.Swap(2) == 1 {
		d.slow.Add(-1)
		d.signal()
		return false
	}
	return true
}

// laneTimer moves an attempt from its worker slot to the slow lane once it has taken
// slowAfter. An attempt goroutine keeps one for all its attempts, so that an attempt
// costs no new timer.
type laneTimer struct {
	d     *Dispatcher
	lane  atomic.Int32 // 0: worker slot, 1: slow lane, 2: done
	t     *time.Timer
	fired chan struct{} // receives when the timer's function has ended
}

func (d *Dispatcher) newLaneTimer() *laneTimer {
	lt := &laneTimer{d: d, fired: make(chan struct{}, 1)}
	lt.t = time.AfterFunc(time.Hour, lt.expire)
	lt.t.Stop()
	return lt
}

// expire is the timer's function: the attempt moves to the slow lane if it has room and
// the attempt has not ended meanwhile.
func (lt *laneTimer) expire() {
	d := lt.d
	defer func() { lt.fired <- struct{}{} }()
	defer d.attempts.Done()
	if d.slow.Add(1) > int64(d.cfg.workers*slowLaneFactor) {
		d.slow.Add(-1)
		return
	}
	if !lt.lane.CompareAndSwap(0, 1) {
		d.slow.Add(-1)
		return
	}
	d.inflight.Add(-1)
	d.signal()
}

// attemptLoop sends c, then its next claims, until Close; beyond the number of workers,
// idle goroutines end. Reusing them spares each attempt a fresh goroutine whose stack
// grows on its way into net/http.
//
// With a store whose claims are cheap, a goroutine that still holds its worker slot after
// an attempt claims the next due delivery itself, and gives the slot back only when none
// is due: under load, deliveries go from the store to the workers without waking the
// scheduler. Otherwise it gives the slot back, wakes the scheduler and waits for the next
// claim the scheduler hands to an idle goroutine.
func (d *Dispatcher) attemptLoop(c store.Claim) {
	defer d.attempts.Done()
	// The attempts' context is this goroutine's own child of sendCtx, so that they do
	// not all register with one shared context under one lock; cancelling sendCtx (Close
	// giving up) still cancels them.
	to := newAttemptTimeout(d.sendCtx)
	defer to.close()
	claims := []store.Claim{c} // reused by claimNext
	lt := d.newLaneTimer()
	for {
		if d.attempt(to, lt, &claims[0]) {
			if claims = d.claimNext(claims[:0]); len(claims) > 0 {
				continue // the slot goes on to the next claim
			}
			d.inflight.Add(-1)
			d.signal()
		}
		if d.idlers.Add(1) > int64(d.cfg.workers) {
			d.idlers.Add(-1)
			return
		}
		select {
		case c := <-d.idle:
			d.idlers.Add(-1)
			claims = append(claims[:0], c)
		case <-d.loopCtx.Done():
			d.idlers.Add(-1)
			return
		}
	}
}

// claimNext appends one due delivery to buf, for a goroutine that holds a worker slot, if
// the store's claims are cheap. It claims nothing once Close has begun, and leaves errors
// and the next due time to the scheduler, which the caller wakes when it gives its slot
// back.
func (d *Dispatcher) claimNext(buf []store.Claim) []store.Claim {
	if d.cheap == nil || d.loopCtx.Err() != nil {
		return buf
	}
	claims, _, err := d.claim(d.loopCtx, buf, 1)
	if err != nil {
		return buf
	}
	return claims
}

// claim claims up to limit due deliveries, appended to dst when the store's claims are
// cheap (dst may then hold claims already; pass nil otherwise), and takes note of each for
// the fairness rules. claimMu makes a claim and its note one step: the quota the store
// asks for reads a subscription's rate-limit tokens and breaker probe, which the note then
// spends, so two claimers at once could otherwise both be granted the same token.
func (d *Dispatcher) claim(ctx context.Context, dst []store.Claim, limit int) ([]store.Claim, time.Time, error) {
	d.claimMu.Lock()
	defer d.claimMu.Unlock()
	now := time.Now()
	req := store.ClaimRequest{Now: now, Limit: limit, LeaseUntil: now.Add(d.leaseFor()), Quota: d.quota}
	var (
		claims []store.Claim
		next   time.Time
		err    error
	)
	if d.cheap != nil && dst != nil {
		claims, next, err = d.cheap.AppendDue(ctx, dst, req)
	} else {
		claims, next, err = d.store.ClaimDue(ctx, req)
	}
	for i := len(dst); i < len(claims); i++ {
		d.fair.claimed(&claims[i])
	}
	return claims, next, err
}

// slowAfter is how long an attempt holds a worker slot before it moves to the slow lane.
const slowAfter = 200 * time.Millisecond

// slowLaneFactor sizes the slow lane: WithWorkers' n times this many attempts.
const slowLaneFactor = 16

// now is the dispatcher's clock: wall time, without the monotonic reading (so values
// compare equal after a round trip through a store), in UTC.
func now() time.Time { return time.Now().Round(0).UTC() }

// Subscribe validates sub and stores it. An empty ID gets a generated one ("sub_..."), an
// empty Status means active, an empty Format JSON, an empty WhileInactive discard.
// CreatedAt, UpdatedAt and StatusChangedAt are set to now. Bad input is refused with a
// *ValidationError naming the field; DNS is not consulted.
func (d *Dispatcher) Subscribe(ctx context.Context, sub Subscription) (Subscription, error) {
	if d.closed.Load() {
		return Subscription{}, ErrClosed
	}
	sub = sub.Clone()
	if sub.ID == "" {
		sub.ID = store.NewID("sub")
	}
	normalize(&sub)
	if err := d.validate(sub); err != nil {
		return Subscription{}, err
	}
	if err := d.checkInFlightCap(sub, nil); err != nil {
		return Subscription{}, err
	}
	t := now()
	sub.CreatedAt, sub.UpdatedAt, sub.StatusChangedAt = t, t, t
	if err := d.store.CreateSubscription(ctx, sub); err != nil {
		return Subscription{}, fmt.Errorf("webhook: %w", err)
	}
	return sub, nil
}

// UpdateSubscription replaces the subscription with sub.ID by sub, validated like
// Subscribe. sub.Workspace must be the subscription's: a subscription never changes
// workspace (a *ValidationError for Workspace says so). CreatedAt is kept; an empty Status keeps the current status. A change of
// status moves deliveries as Activate and Deactivate do. ErrNotFound if there is no such
// subscription.
func (d *Dispatcher) UpdateSubscription(ctx context.Context, sub Subscription) (Subscription, error) {
	if d.closed.Load() {
		return Subscription{}, ErrClosed
	}
	if sub.ID == "" {
		return Subscription{}, &ValidationError{Field: "ID", Reason: "is required"}
	}
	sub = sub.Clone()
	keepStatus := sub.Status == ""
	normalize(&sub)
	if err := d.validate(sub); err != nil {
		return Subscription{}, err
	}
	t := now()
	updated, err := d.store.UpdateSubscription(ctx, sub.ID, t, func(cur *Subscription) error {
		if sub.Workspace != cur.Workspace {
			return &ValidationError{Field: "Workspace", Value: safeValue(sub.Workspace), Reason: fmt.Sprintf("cannot change: the subscription belongs to workspace %q", cur.Workspace)}
		}
		if err := d.checkInFlightCap(sub, cur); err != nil {
			return err
		}
		next := sub.Clone()
		next.CreatedAt = cur.CreatedAt
		next.UpdatedAt = t
		if keepStatus {
			next.Status, next.StatusReason, next.StatusChangedAt = cur.Status, cur.StatusReason, cur.StatusChangedAt
		} else if next.Status != cur.Status {
			next.StatusChangedAt = t
		} else {
			next.StatusChangedAt = cur.StatusChangedAt
		}
		*cur = next
		return nil
	})
	if err != nil {
		return Subscription{}, updateError(err)
	}
	d.signal()
	return updated, nil
}

// Unsubscribe deletes the subscription and cancels its pending and held deliveries; its
// delivery log stays until retention prunes it. ErrNotFound if there is no such
// subscription.
func (d *Dispatcher) Unsubscribe(ctx context.Context, id string) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if err := d.store.DeleteSubscription(ctx, id, now()); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	d.fair.forget(id) // the ID may be used again
	return nil
}

// Subscription returns the subscription with that ID, or an error matching ErrNotFound.
func (d *Dispatcher) Subscription(ctx context.Context, id string) (Subscription, error) {
	s, err := d.store.Subscription(ctx, id)
	if err != nil {
		return Subscription{}, fmt.Errorf("webhook: %w", err)
	}
	return s, nil
}

// Subscriptions lists the subscriptions f selects, oldest first: by resource ("order"),
// event ("created" or "order.created"), URL substring, status, and free text over name
// and URL. The zero Filter lists them all.
func (d *Dispatcher) Subscriptions(ctx context.Context, f Filter) ([]Subscription, error) {
	subs, err := d.store.Subscriptions(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return subs, nil
}

// Activate makes the subscription active: it receives new events again, and the
// deliveries held while it was inactive are released, due at once. ErrNotFound if there
// is no such subscription.
func (d *Dispatcher) Activate(ctx context.Context, id string) error {
	return d.setStatus(ctx, id, StatusActive, "")
}

// Deactivate makes the subscription inactive, with reason: it receives nothing, its
// pending deliveries are held or cancelled as its WhileInactive says (attempts in flight
// finish), and events that arrive meanwhile are held or discarded likewise. ErrNotFound if
// there is no such subscription; a *ValidationError if reason is not UTF-8 or longer than
// 1000 bytes.
func (d *Dispatcher) Deactivate(ctx context.Context, id, reason string) error {
	return d.setStatus(ctx, id, StatusInactive, reason)
}

func (d *Dispatcher) setStatus(ctx context.Context, id string, status Status, reason string) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if err := validateReason("reason", reason); err != nil {
		return err
	}
	t := now()
	_, err := d.store.UpdateSubscription(ctx, id, t, func(s *Subscription) error {
		if s.Status != status {
			s.StatusChangedAt = t
		}
		s.Status, s.StatusReason, s.UpdatedAt = status, reason, t
		return nil
	})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if status == StatusActive {
		d.signal()
	}
	return nil
}

// Emit records that something of type eventType happened, with data: a JSON object, given
// as any value that encoding/json marshals to one (a struct, a map), or as JSON bytes
// (json.RawMessage or []byte); nil, a nil pointer, map or slice, JSON null and empty bytes
// mean {}. Other JSON values (a string, an array, a number) are refused with a
// *ValidationError for "data": receivers expect the resource's object. It validates
// the type against the catalog and the encoded envelope against WithMaxPayloadBytes,
// assigns the event an ID ("evt_...", or the one WithEventID gives), and stores the event
// with one delivery per matching active subscription of its workspace (InWorkspace; held
// ones for inactive subscriptions that hold) in one atomic step, then wakes the scheduler
// and returns. It never waits for HTTP.
//
// When Emit returns without error the event is committed: with a durable store it
// survives a crash. With WithEventID, an ID that exists with the same type and workspace
// returns the stored event and creates nothing; with another type or workspace it is
// refused with an error matching ErrConflict.
//
// The returned Event's Data may be the very bytes the store keeps (the memory store keeps
// them without a copy): read it, never modify it.
func (d *Dispatcher) Emit(ctx context.Context, eventType string, data any, opts ...EmitOption) (Event, error) {
	if d.closed.Load() {
		return Event{}, ErrClosed
	}
	var ec emitConfig
	if len(opts) > 0 {
		p := new(emitConfig) // escapes to the options: allocated only when there are some
		for _, o := range opts {
			o(p)
		}
		ec = *p
	}
	if err := d.cfg.catalog.Validate(eventType); err != nil {
		return Event{}, &ValidationError{Field: "eventType", Value: eventType, Reason: "is not in the catalog", Err: err}
	}
	if err := validateWorkspace(ec.workspace); err != nil {
		return Event{}, err
	}
	raw, err := marshalData(data)
	if err != nil {
		return Event{}, err
	}
	raw = d.stamp(raw)
	if ec.id == "" {
		ec.id = store.NewID("evt")
	} else if err := validateEventID(ec.id); err != nil {
		return Event{}, err
	}
	t := now()
	if n := envelopeSize(ec.id, eventType, t, raw); n > d.cfg.maxPayload {
		return Event{}, &ValidationError{Field: "data", Reason: fmt.Sprintf("makes a %d-byte envelope, over the limit of %d bytes", n, d.cfg.maxPayload)}
	}
	var inserter store.EventInserter = d.store
	if ec.tx != nil {
		inserter = ec.tx
	}
	ins, err := inserter.InsertEvent(ctx, Event{ID: ec.id, Workspace: ec.workspace, Type: eventType, OccurredAt: t, Data: raw}, t)
	if err != nil {
		return Event{}, fmt.Errorf("webhook: emit %s: %w", eventType, err)
	}
	if !ins.Created && ins.Event.Workspace != ec.workspace {
		// Not a word of what the other workspace's event is: the caller may be showing
		// this error to a merchant.
		return Event{}, fmt.Errorf("webhook: emit %s: event ID %q is taken by an event of another workspace: %w",
			eventType, ec.id, ErrConflict)
	}
	if !ins.Created && ins.Event.Type != eventType {
		return Event{}, fmt.Errorf("webhook: emit %s: event %q exists with type %q: %w",
			eventType, ec.id, ins.Event.Type, ErrConflict)
	}
	if ins.Pending > 0 && ec.tx == nil {
		d.signalDue() // a transaction's events are claimable only after its commit
	}
	ev := ins.Event
	// Capped, so that an append by the caller copies instead of writing where the stamp
	// is, which attempts read meanwhile.
	ev.Data = ev.Data[:len(ev.Data):len(ev.Data)]
	return ev, nil
}

// envelopeSize is the length of the JSON envelope of an event.
func envelopeSize(id, eventType string, t time.Time, data []byte) int {
	n := len(`{"id":,"type":,"timestamp":"","data":}`) + rfc3339NanoLen(t.UTC())
	return n + jsonStringLen(id) + jsonStringLen(eventType) + len(data)
}

// rfc3339NanoLen is len(t.AppendFormat(nil, time.RFC3339Nano)) for t in UTC, counted
// rather than written.
func rfc3339NanoLen(t time.Time) int {
	if y := t.Year(); y < 0 || y > 9999 {
		var b [64]byte
		return len(t.AppendFormat(b[:0], time.RFC3339Nano))
	}
	n := len("2006-01-02T15:04:05Z")
	if ns := t.Nanosecond(); ns != 0 {
		n += len(".999999999")
		for ; ns%10 == 0; ns /= 10 {
			n-- // trailing zeros are left out
		}
	}
	return n
}

// marshalData turns Emit's data into compact, valid UTF-8 JSON, and refuses what is not
// an object.
func marshalData(data any) (json.RawMessage, error) {
	var raw []byte
	switch v := data.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		// A typed nil (a nil pointer, map or slice) marshals to null, which becomes {}.
		b, err := json.Marshal(v)
		if err != nil {
			return nil, &ValidationError{Field: "data", Reason: "cannot be encoded as JSON", Err: err}
		}
		if !utf8.Valid(b) {
			b = replaceInvalidUTF8(b) // from a json.RawMessage or Marshaler within v
		}
		if !withinDepth(b) {
			// json.Marshal has no limit; receivers' decoders (encoding/json's among
			// them) refuse such data, and Emit's other paths refuse it too.
			return nil, &ValidationError{Field: "data", Reason: fmt.Sprintf("nests arrays and objects more than %d deep", maxJSONDepth)}
		}
		return objectOnly(b) // json.Marshal writes compact JSON
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("{}"), nil // nil or empty bytes, as a nil pointer: no data
	}
	if !utf8.Valid(raw) {
		raw = replaceInvalidUTF8(raw) // as every request would carry it
	}
	var buf bytes.Buffer
	buf.Grow(len(raw) + stampLen) // room for Emit's stamp
	if err := json.Compact(&buf, raw); err != nil {
		return nil, &ValidationError{Field: "data", Reason: "is not valid JSON", Err: err}
	}
	return objectOnly(buf.Bytes())
}

// objectOnly passes a JSON object, turns null into {}, and refuses any other value.
func objectOnly(b []byte) (json.RawMessage, error) {
	switch {
	case len(b) > 0 && b[0] == '{':
		return b, nil
	case string(b) == "null":
		return json.RawMessage("{}"), nil
	}
	kind := "a JSON " + map[byte]string{'[': "array", '"': "string", 't': "boolean", 'f': "boolean"}[b[0]]
	if kind == "a JSON " {
		kind = "a JSON number"
	}
	return nil, &ValidationError{Field: "data", Reason: "must be a JSON object, not " + kind}
}

// Deliveries lists the deliveries q selects, newest first, each with its attempts: the
// "Recent Deliveries" page. Page with q.Before set to the last ID of the previous page.
//
// q.Limit caps the page (0 means store.DefaultLimit); a negative limit is refused with a
// *ValidationError.
func (d *Dispatcher) Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error) {
	if q.Limit < 0 {
		return nil, &ValidationError{Field: "Limit", Value: fmt.Sprint(q.Limit), Reason: "must not be negative"}
	}
	ds, err := d.store.Deliveries(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return ds, nil
}

// Delivery returns the delivery with that ID, with its attempts, or an error matching
// ErrNotFound.
func (d *Dispatcher) Delivery(ctx context.Context, id string) (Delivery, error) {
	del, err := d.store.Delivery(ctx, id)
	if err != nil {
		return Delivery{}, fmt.Errorf("webhook: %w", err)
	}
	return del, nil
}

// Event returns the event with that ID, with its data, or an error matching ErrNotFound.
func (d *Dispatcher) Event(ctx context.Context, id string) (Event, error) {
	ev, err := d.store.Event(ctx, id)
	if err != nil {
		return Event{}, fmt.Errorf("webhook: %w", err)
	}
	return ev, nil
}

// Catalog returns the catalog of event types the dispatcher validates against.
func (d *Dispatcher) Catalog() *eventtypes.Catalog { return d.cfg.catalog }

// MaxDeliveryAttempts is the number of attempts after which a delivery is not sent
// again: Redeliver refuses it with ErrTooManyAttempts and Recover leaves it out. A round
// under way is never cut short, so a delivery may end up to one round's attempts above
// it. Every attempt stays in the delivery's log with up to RetryPolicy.LogBytes of its
// answer: without a bound, a delivery redelivered in a loop would grow without end, and
// with it the cost of recording its next attempt. The default retry policy makes at most
// 6 attempts a round, so 100 allows 16 redeliveries of a delivery that fails every round
// (102 attempts in all) and 99 of one that succeeds at once.
const MaxDeliveryAttempts = 100

// Redeliver sends a delivery again, at once, with a fresh round of the retry schedule:
// for a failed delivery after its last attempt, or to resend one that succeeded. Its
// earlier attempts stay in its log. ErrNotFound if the delivery or its subscription is
// gone; ErrInactive if the subscription is inactive; ErrInFlight while an attempt of it is
// in flight; ErrTooManyAttempts once it holds MaxDeliveryAttempts attempts (emit the
// event again, under a new event ID, instead); a *ValidationError for a delivery made by
// Test.
func (d *Dispatcher) Redeliver(ctx context.Context, deliveryID string) error {
	if d.closed.Load() {
		return ErrClosed
	}
	del, err := d.store.Delivery(ctx, deliveryID)
	if err != nil {
		return fmt.Errorf("webhook: redeliver: %w", err)
	}
	if del.Test {
		// Its event is the catalog's sample, not something that happened in the shop.
		return &ValidationError{Field: "deliveryID", Value: deliveryID, Reason: "is a test delivery; send a test again with Test instead"}
	}
	if n := len(del.Attempts); n >= MaxDeliveryAttempts {
		return fmt.Errorf("webhook: redeliver: delivery %q holds %d attempts, the limit is %d: %w", deliveryID, n, MaxDeliveryAttempts, ErrTooManyAttempts)
	}
	if _, err := d.store.Redeliver(ctx, deliveryID, now()); err != nil {
		return fmt.Errorf("webhook: redeliver: %w", err)
	}
	d.signal()
	return nil
}

// Recover redelivers every failed delivery of the subscription created at or after since:
// the call to make once a merchant's endpoint is back after an outage. Each is sent again
// at once with a fresh round of the retry schedule, as Redeliver does; deliveries with an
// attempt in flight, and those that hold MaxDeliveryAttempts attempts or more, are left
// alone and not counted. It returns how many it redelivered. ErrNotFound if there is no
// such subscription, ErrInactive if it is inactive.
func (d *Dispatcher) Recover(ctx context.Context, subscriptionID string, since time.Time) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	sub, err := d.store.Subscription(ctx, subscriptionID)
	if err != nil {
		return 0, fmt.Errorf("webhook: recover: %w", err)
	}
	if sub.Status != StatusActive {
		return 0, fmt.Errorf("webhook: recover: subscription %q: %w", sub.ID, ErrInactive)
	}
	// Collect first, then redeliver: a redelivered delivery leaves the failed state, which
	// would move the cursor of a query still being paged.
	var ids []string
	q := DeliveryQuery{SubscriptionID: sub.ID, State: DeliveryFailed, Since: since, Limit: 500}
	for {
		page, err := d.store.Deliveries(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("webhook: recover: %w", err)
		}
		for _, del := range page {
			// Redeliver would refuse a test delivery, or one that has had its share.
			if !del.Test && len(del.Attempts) < MaxDeliveryAttempts {
				ids = append(ids, del.ID)
			}
		}
		if len(page) < q.Limit {
			break
		}
		q.Before = page[len(page)-1].ID
	}
	n := 0
	for _, id := range ids {
		_, err := d.store.Redeliver(ctx, id, now())
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrInFlight), errors.Is(err, ErrNotFound):
			// Being sent already, or pruned meanwhile.
		default:
			if n > 0 {
				d.signal()
			}
			return n, fmt.Errorf("webhook: recover: %w", err)
		}
	}
	if n > 0 {
		d.signal()
	}
	return n, nil
}

// Stats returns the health figures of every workspace, overall and per subscription:
// success rate, response times, errors by kind, queue depth. They are running figures kept
// by the store, so the call is cheap.
func (d *Dispatcher) Stats(ctx context.Context) (Stats, error) {
	return d.StatsFor(ctx, "")
}

// StatsFor returns the health figures of one workspace: Overall covers that workspace's
// deliveries (its deleted subscriptions' included), Subscriptions its subscriptions. An
// empty workspace means every workspace, as Stats.
func (d *Dispatcher) StatsFor(ctx context.Context, workspace string) (Stats, error) {
	st, err := d.store.Stats(ctx, workspace, now())
	if err != nil {
		return Stats{}, fmt.Errorf("webhook: %w", err)
	}
	return st, nil
}
