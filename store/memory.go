package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Memory is a Store that keeps everything in the process's memory: for tests, examples and
// small applications that can lose their queue on restart. It is safe for concurrent use.
// Create it with NewMemory.
//
// Every operation goes through an index: a workspace's subscriptions, figures and log
// are found without looking at other workspaces; a claim looks only at subscriptions
// that have a delivery due; a page of the log skips the rows the query does not select.
//
// To spare the delivery path a copy of every event, two things are shared instead of
// copied: InsertEvent keeps ev.Data itself, so the caller must not modify those bytes
// afterwards, and the claims of ClaimDue share the event's Data and the subscription's
// Events, Headers and Metadata with the store, so they must be read and never modified
// (a Dispatcher only reads them). Every other answer is a copy the caller owns.
type Memory struct {
	mu sync.Mutex

	subs       map[string]*memSub
	subList    []*memSub // creation order; deleted ones stay until compaction
	deadSubs   int       // deleted subscriptions in subList
	subSeq     uint64
	workspaces map[string]*memWorkspace

	events map[string]*memEvent
	bare   timeHeap // events created without a delivery, by OccurredAt

	deliveries map[string]*memDelivery
	all        *logList
	subLogs    map[string]*logList // by subscription ID, deleted subscriptions' too
	finished   timeHeap            // finished deliveries by UpdatedAt, for pruning by age
	byAge      bool                // finished is kept: something prunes by age
	seq        uint64

	ready   subHeap   // active subscriptions with pending deliveries, earliest due first
	parked  subHeap   // inactive subscriptions with deliveries in flight
	visited []*memSub // ClaimDue's scratch space

	maxAge time.Duration // retention; 0: none
	keep   int           // retention per subscription; 0: none
	writes int           // writes since creation, for the retention's pace

	overall       Figures
	pending, held int64
}

var _ Store = (*Memory)(nil)

// memWorkspace is what the memory store keeps per workspace.
type memWorkspace struct {
	name string
	subs []*memSub // creation order
	// byType caches the fan-out: the subscriptions (in creation order) that want an event
	// type. Any change to the workspace's subscriptions clears it.
	byType        map[string][]*memSub
	log           *logList
	fig           Figures // running totals, deleted subscriptions' included
	pending, held int64
}

// maxFanoutCache bounds the event types a workspace's fan-out cache holds.
const maxFanoutCache = 1024

// memSub is a stored subscription with its queue and figures.
type memSub struct {
	Subscription
	seq     uint64
	ws      *memWorkspace
	deleted bool

	fig           Figures
	pending, held int64

	fresh    fifo
	retry    dlvHeap
	leased   dlvHeap
	heldList []*memDelivery
	// expiredTo is the latest lease end of the deliveries settle moved to retry: a
	// claim at an earlier time must move them back.
	expiredTo time.Time

	head *memDelivery // the earliest due pending delivery, the key in ready or parked
	hi   int          // index in *in, -1 when in no heap
	in   *subHeap
}

// memEvent is a stored event and its live deliveries.
type memEvent struct {
	Event
	dlvs []*memDelivery // creation order
	// one holds dlvs while there is one: most events go to one subscription, and the
	// store keeps every event, so an object fewer each spares the collector.
	one  [1]*memDelivery
	had  bool // it has had a delivery
	gone bool // pruned
}

// memDelivery is a stored delivery with its place in the indexes.
type memDelivery struct {
	Delivery
	seq   uint64
	ctKey int64    // timeKey(CreatedAt)
	pos   [3]int32 // position in the all, workspace and subscription lists
	slog  *logList // the subscription list it is in
	sub   *memSub
	ws    *memWorkspace
	ev    *memEvent

	q      uint8  // where it is queued: qNone, qFresh, ...
	qi     int    // index in the retry or leased heap
	gen    uint32 // bumped at every move, so stale fifo entries are recognised
	pruned bool

	// first holds Attempts while there is one: most deliveries take one attempt, and
	// the store keeps every delivery, so an object fewer each spares the collector.
	first [1]Attempt
}

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithMemoryRetention keeps the memory store from growing without bound: finished
// deliveries (succeeded, failed, cancelled) last updated more than maxAge ago, and those
// beyond the newest keepPerSubscription finished ones of a subscription, are removed with
// their events. 0 turns either rule off. Pending and held deliveries are never removed.
// The store prunes as it goes, under its own lock, once every PruneEvery writes: no
// goroutine runs.
func WithMemoryRetention(maxAge time.Duration, keepPerSubscription int) MemoryOption {
	return func(m *Memory) { m.maxAge, m.keep = maxAge, keepPerSubscription }
}

// PruneEvery is how many writes (events inserted, attempts recorded) a memory store with
// retention takes between two prunings.
const PruneEvery = 1024

// NewMemory returns an empty in-memory store. Without WithMemoryRetention it keeps every
// delivery until Prune is called.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		subs:       make(map[string]*memSub),
		workspaces: make(map[string]*memWorkspace),
		events:     make(map[string]*memEvent),
		deliveries: make(map[string]*memDelivery),
		all:        newLogList(listAll),
		subLogs:    make(map[string]*logList),
	}
	for _, o := range opts {
		o(m)
	}
	m.byAge = m.maxAge > 0
	return m
}

// wrote counts a write and applies the retention once every PruneEvery writes. The
// caller holds m.mu.
func (m *Memory) wrote() {
	if m.maxAge <= 0 && m.keep <= 0 {
		return
	}
	if m.writes++; m.writes%PruneEvery != 0 {
		return
	}
	req := PruneRequest{KeepPerSubscription: m.keep}
	if m.maxAge > 0 {
		req.Before = time.Now().Add(-m.maxAge)
	}
	m.prune(req)
}

func notFound(kind, id string) error { return fmt.Errorf("%s %q: %w", kind, id, ErrNotFound) }

// errNoID is returned for a subscription or event without an ID: no store can keep one.
var errNoID = errors.New("store: empty ID")

// workspace returns the workspace called name, creating it.
func (m *Memory) workspace(name string) *memWorkspace {
	w := m.workspaces[name]
	if w == nil {
		w = &memWorkspace{name: name, log: newLogList(listWorkspace)}
		m.workspaces[name] = w
	}
	return w
}

// subLog returns the log list of subscription ID id, creating it.
func (m *Memory) subLog(id string) *logList {
	l := m.subLogs[id]
	if l == nil {
		l = newLogList(listSubscription)
		m.subLogs[id] = l
	}
	return l
}

// CreateSubscription implements Store.
func (m *Memory) CreateSubscription(ctx context.Context, sub Subscription) error {
	if sub.ID == "" {
		return fmt.Errorf("subscription: %w", errNoID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subs[sub.ID]; ok {
		return fmt.Errorf("subscription %q: %w", sub.ID, ErrConflict)
	}
	m.subSeq++
	s := &memSub{Subscription: sub.Clone(), seq: m.subSeq, hi: -1}
	if s.Status == "" {
		s.Status = StatusActive
	}
	s.ws = m.workspace(s.Workspace)
	s.ws.subs = append(s.ws.subs, s)
	s.ws.byType = nil
	m.subs[s.ID] = s
	m.subList = append(m.subList, s)
	return nil
}

// Subscription implements Store.
func (m *Memory) Subscription(ctx context.Context, id string) (Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subs[id]
	if !ok {
		return Subscription{}, notFound("subscription", id)
	}
	return s.Clone(), nil
}

// UpdateSubscription implements Store. The ID and the workspace are kept whatever fn does.
func (m *Memory) UpdateSubscription(ctx context.Context, id string, now time.Time, fn func(*Subscription) error) (Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subs[id]
	if !ok {
		return Subscription{}, notFound("subscription", id)
	}
	next := s.Clone()
	if err := fn(&next); err != nil {
		return Subscription{}, err
	}
	next.ID, next.Workspace = id, s.Workspace
	old := s.Status
	if !slices.Equal(s.Events, next.Events) {
		s.ws.byType = nil
	}
	s.Subscription = next
	if old != next.Status {
		m.statusChanged(s, now)
	}
	return s.Clone(), nil
}

// statusChanged moves the open deliveries of s after its status changed: on activation
// the held ones become pending, due at now; on deactivation the pending ones that are
// not in flight become held or cancelled.
func (m *Memory) statusChanged(s *memSub, now time.Time) {
	switch s.Status {
	case StatusActive:
		held := s.heldList
		s.heldList = nil
		slices.SortFunc(held, func(a, b *memDelivery) int { return cmp.Compare(a.seq, b.seq) })
		for _, md := range held {
			md.q = qNone
			md.NextAttemptAt = now
			m.setState(md, DeliveryPending, now)
			s.enqueue(md)
		}
	case StatusInactive:
		s.settle(now)
		state := InactiveState(s.WhileInactive)
		for _, md := range s.takeWaiting() {
			m.setState(md, state, now)
			if state == DeliveryHeld {
				md.q = qHeld
				s.heldList = append(s.heldList, md)
			}
		}
	}
	m.requeue(s)
}

// takeWaiting empties the fresh and retry queues of s (the pending deliveries not in
// flight) and returns their deliveries in creation order.
func (s *memSub) takeWaiting() []*memDelivery {
	var out []*memDelivery
	for md := s.fresh.first(); md != nil; md = s.fresh.first() {
		s.unqueue(md)
		out = append(out, md)
	}
	for _, md := range s.retry {
		md.q = qNone
		md.gen++
		out = append(out, md)
	}
	clear(s.retry)
	s.retry = s.retry[:0]
	slices.SortFunc(out, func(a, b *memDelivery) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// InactiveState is the state a pending delivery takes when its subscription becomes
// inactive under policy p: held or cancelled.
func InactiveState(p InactivePolicy) DeliveryState {
	if p == InactiveHold {
		return DeliveryHeld
	}
	return DeliveryCancelled
}

// DeleteSubscription implements Store.
func (m *Memory) DeleteSubscription(ctx context.Context, id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subs[id]
	if !ok {
		return notFound("subscription", id)
	}
	m.deleteSub(s, now)
	return nil
}

// deleteSub removes s and cancels its pending and held deliveries.
func (m *Memory) deleteSub(s *memSub, now time.Time) {
	open := s.takeWaiting()
	for _, md := range s.leased {
		md.q = qNone
		md.gen++
		open = append(open, md)
	}
	s.leased = nil
	for _, md := range s.heldList {
		md.q = qNone
		open = append(open, md)
	}
	s.heldList = nil
	for _, md := range open {
		m.setState(md, DeliveryCancelled, now)
	}
	s.deleted = true
	m.requeue(s)
	delete(m.subs, s.ID)
	s.ws.subs = slices.DeleteFunc(s.ws.subs, func(x *memSub) bool { return x == s })
	s.ws.byType = nil
	m.deadSubs++
	if m.deadSubs > 64 && m.deadSubs*2 > len(m.subList) {
		m.subList = slices.DeleteFunc(m.subList, func(x *memSub) bool { return x.deleted })
		m.deadSubs = 0
	}
}

// Subscriptions implements Store.
func (m *Memory) Subscriptions(ctx context.Context, f SubscriptionFilter) ([]Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.subList
	if f.Workspace != "" {
		w := m.workspaces[f.Workspace]
		if w == nil {
			return []Subscription{}, nil
		}
		list = w.subs
	}
	out := []Subscription{}
	for _, s := range list {
		if !s.deleted && f.Match(s.Subscription) {
			out = append(out, s.Clone())
		}
	}
	return out, nil
}

// fanout returns the subscriptions of w that want events of type typ, in creation order.
func (w *memWorkspace) fanout(typ string) []*memSub {
	if subs, ok := w.byType[typ]; ok {
		return subs
	}
	var subs []*memSub
	for _, s := range w.subs {
		if s.Wants(typ) {
			subs = append(subs, s)
		}
	}
	if w.byType == nil || len(w.byType) >= maxFanoutCache {
		w.byType = make(map[string][]*memSub)
	}
	w.byType[typ] = subs
	return subs
}

// InsertEvent implements Store. The store keeps ev.Data as it is, without a copy: the
// caller must not modify those bytes afterwards (Emit hands over bytes it made for the
// event). The answer's Event is ev itself when it is created.
func (m *Memory) InsertEvent(ctx context.Context, ev Event, now time.Time) (Inserted, error) {
	if ev.ID == "" {
		return Inserted{}, fmt.Errorf("event: %w", errNoID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.events[ev.ID]; ok {
		return Inserted{Event: cloneEvent(old.Event)}, nil
	}
	e := &memEvent{Event: ev}
	m.events[e.ID] = e
	res := Inserted{Event: ev, Created: true}
	w := m.workspaces[ev.Workspace]
	var subs []*memSub
	if w != nil {
		subs = w.fanout(ev.Type)
	}
	for _, s := range subs {
		state := DeliveryPending
		if s.Status != StatusActive {
			if s.WhileInactive != InactiveHold {
				continue
			}
			state = DeliveryHeld
		}
		md := &memDelivery{Delivery: Delivery{
			ID:             NewID("dlv"),
			Workspace:      ev.Workspace,
			EventID:        ev.ID,
			SubscriptionID: s.ID,
			EventType:      ev.Type,
			State:          state,
			CreatedAt:      now,
			UpdatedAt:      now,
		}, sub: s, ws: w, ev: e}
		if state == DeliveryPending {
			md.NextAttemptAt = now
			res.Pending++
		} else {
			res.Held++
		}
		m.add(md)
		if state == DeliveryPending {
			s.enqueue(md)
			if s.in != &m.ready || !dueBefore(s.head, md) {
				m.requeue(s) // unless it stays where it is, behind its head
			}
		} else {
			md.q = qHeld
			s.heldList = append(s.heldList, md)
		}
		if res.Deliveries == nil {
			res.Deliveries = make([]string, 0, len(subs))
		}
		res.Deliveries = append(res.Deliveries, md.ID)
	}
	if !e.had {
		m.bare.push(timeEntry{t: e.OccurredAt, ev: e})
	}
	m.wrote()
	return res, nil
}

func cloneEvent(e Event) Event {
	e.Data = append([]byte(nil), e.Data...)
	return e
}

// add indexes a new delivery in its state (counting it, logging it); queueing it is the
// caller's business.
func (m *Memory) add(md *memDelivery) {
	m.seq++
	md.seq = m.seq
	md.ctKey = timeKey(md.CreatedAt)
	m.deliveries[md.ID] = md
	m.count(md, md.State, 1)
	m.all.append(md)
	md.ws.log.append(md)
	md.slog = m.subLog(md.SubscriptionID)
	md.slog.append(md)
	if md.ev.dlvs == nil {
		md.ev.dlvs = md.ev.one[:0]
	}
	md.ev.dlvs = append(md.ev.dlvs, md)
	md.ev.had = true
	if md.State.Final() {
		m.aged(md)
	}
}

// count adds n to the queue counters of state for md.
func (m *Memory) count(md *memDelivery, state DeliveryState, n int64) {
	var ps, hs *int64
	switch state {
	case DeliveryPending:
		ps, hs = &m.pending, nil
	case DeliveryHeld:
		ps, hs = nil, &m.held
	default:
		return
	}
	if ps != nil {
		*ps += n
		md.ws.pending += n
		if md.sub != nil {
			md.sub.pending += n
		}
	} else {
		*hs += n
		md.ws.held += n
		if md.sub != nil {
			md.sub.held += n
		}
	}
}

// setState moves md to state, keeping the counters and the log's indexes in step.
// Queueing is the caller's business.
func (m *Memory) setState(md *memDelivery, state DeliveryState, now time.Time) {
	old := md.State
	md.State = state
	md.UpdatedAt = now
	if state != DeliveryPending {
		md.NextAttemptAt = time.Time{}
		md.LeasedUntil = time.Time{}
	}
	if old != state {
		m.count(md, old, -1)
		m.count(md, state, 1)
		m.all.changed(md, old)
		md.ws.log.changed(md, old)
		md.slog.changed(md, old)
	}
	if state.Final() {
		m.aged(md)
	}
}

// aged records a finished delivery's UpdatedAt for pruning by age, once anything prunes
// by age; entries left stale by later changes are dropped when they outnumber the
// deliveries.
func (m *Memory) aged(md *memDelivery) {
	if !m.byAge {
		return
	}
	if len(m.finished) > 2*len(m.deliveries)+1024 {
		live := m.finished[:0]
		for _, e := range m.finished {
			if !e.md.pruned && e.md.State.Final() && e.md.UpdatedAt.Equal(e.t) {
				live = append(live, e)
			}
		}
		clear(m.finished[len(live):])
		m.finished = live
		m.finished.heapify()
	}
	m.finished.push(timeEntry{t: md.UpdatedAt, md: md})
}

// Event implements Store.
func (m *Memory) Event(ctx context.Context, id string) (Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.events[id]
	if !ok {
		return Event{}, notFound("event", id)
	}
	return cloneEvent(e.Event), nil
}

// RecordTest implements Store.
func (m *Memory) RecordTest(ctx context.Context, ev Event, d Delivery) error {
	if err := PrepareTest(ev, &d); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.deliveries[d.ID]; ok {
		return fmt.Errorf("delivery %q: %w", d.ID, ErrConflict)
	}
	e := m.events[ev.ID]
	if e == nil {
		e = &memEvent{Event: cloneEvent(ev)}
		m.events[e.ID] = e
	}
	md := &memDelivery{Delivery: d.Clone(), sub: m.subs[d.SubscriptionID], ws: m.workspace(d.Workspace), ev: e}
	md.NextAttemptAt, md.LeasedUntil = time.Time{}, time.Time{}
	m.add(md)
	return nil
}

// RecordAttempt implements Store.
func (m *Memory) RecordAttempt(ctx context.Context, rec AttemptRecord) (Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	md, ok := m.deliveries[rec.DeliveryID]
	if !ok {
		return Delivery{}, notFound("delivery", rec.DeliveryID)
	}
	now := rec.Attempt.SentAt.Add(rec.Attempt.Duration)
	if cap(md.Attempts) == 0 {
		md.Attempts = md.first[:0] // every answer copies Attempts: they never see first
	}
	md.Attempts = append(md.Attempts, rec.Attempt)
	md.LeasedUntil = time.Time{}
	md.UpdatedAt = now
	s := md.sub
	if s != nil && s.deleted {
		s = nil
	}
	before := md.State
	switch {
	case md.State == DeliveryPending && s != nil:
		s.unqueue(md)
		state := rec.State
		switch {
		case state == DeliveryPending && s.Status != StatusActive:
			state = InactiveState(s.WhileInactive)
		case state == DeliveryPending:
			md.NextAttemptAt = rec.NextAttemptAt
		}
		m.setState(md, state, now)
		switch state {
		case DeliveryPending:
			s.enqueue(md)
		case DeliveryHeld:
			md.q = qHeld
			s.heldList = append(s.heldList, md)
		}
		m.requeue(s)
	case md.State == DeliveryPending: // cannot happen: deleting a subscription cancels
		m.setState(md, DeliveryCancelled, now)
	case md.State.Final():
		m.aged(md) // UpdatedAt moved
	}
	// The delivery counts as succeeded or failed only if this attempt finished it: a late
	// answer for a delivery already finished (two workers after a lease ran out) or
	// cancelled adds an attempt, not a delivery.
	ended := md.State
	if ended == before {
		ended = ""
	}
	if !rec.Attempt.Test {
		o := newObservation(rec.Attempt, ended)
		if s != nil {
			s.fig.observe(&o)
		}
		m.overall.observe(&o)
		md.ws.fig.observe(&o)
	}
	if s != nil {
		switch rec.Action {
		case ActionDeactivate:
			if s.Status != StatusInactive {
				s.Status = StatusInactive
				s.StatusReason = rec.Reason
				s.StatusChangedAt = now
				s.UpdatedAt = now
				m.statusChanged(s, now)
			}
		case ActionDelete:
			m.deleteSub(s, now)
		}
	}
	out := md.Delivery.Clone()
	m.wrote()
	return out, nil
}

// Redeliver implements Store.
func (m *Memory) Redeliver(ctx context.Context, id string, now time.Time) (Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	md, ok := m.deliveries[id]
	if !ok {
		return Delivery{}, notFound("delivery", id)
	}
	s := md.sub
	if s == nil || s.deleted {
		return Delivery{}, fmt.Errorf("delivery %q: %w", id, notFound("subscription", md.SubscriptionID))
	}
	if s.Status != StatusActive {
		return Delivery{}, fmt.Errorf("delivery %q: subscription %q: %w", id, s.ID, ErrInactive)
	}
	if md.LeasedUntil.After(now) {
		return Delivery{}, fmt.Errorf("delivery %q: %w", id, ErrInFlight)
	}
	if md.State == DeliveryPending {
		s.unqueue(md)
	}
	md.LeasedUntil = time.Time{}
	md.RoundStart = len(md.Attempts)
	md.NextAttemptAt = now
	md.Test = false
	m.setState(md, DeliveryPending, now)
	s.enqueue(md)
	m.requeue(s)
	return md.Delivery.Clone(), nil
}

// Delivery implements Store.
func (m *Memory) Delivery(ctx context.Context, id string) (Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	md, ok := m.deliveries[id]
	if !ok {
		return Delivery{}, notFound("delivery", id)
	}
	return md.Delivery.Clone(), nil
}

// Deliveries implements Store.
func (m *Memory) Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	before := uint64(math.MaxUint64)
	if q.Before != "" {
		c, ok := m.deliveries[q.Before]
		if !ok {
			return nil, fmt.Errorf("cursor: %w", notFound("delivery", q.Before))
		}
		before = c.seq
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	out := []Delivery{}
	f := filter{mask: anyState, since: math.MinInt64, until: math.MaxInt64}
	if q.State != "" {
		if f.mask = stateBit(q.State); f.mask == 0 {
			return out, nil
		}
	}
	if !q.Since.IsZero() {
		f.since = timeKey(q.Since)
	}
	if !q.Until.IsZero() {
		f.until = timeKey(q.Until)
	}
	collect := func(md *memDelivery) bool {
		if md.seq < before &&
			(q.Workspace == "" || md.Workspace == q.Workspace) &&
			(q.SubscriptionID == "" || md.SubscriptionID == q.SubscriptionID) &&
			(q.EventID == "" || md.EventID == q.EventID) &&
			(q.State == "" || md.State == q.State) &&
			(q.Since.IsZero() || !md.CreatedAt.Before(q.Since)) &&
			(q.Until.IsZero() || md.CreatedAt.Before(q.Until)) {
			out = append(out, md.Delivery.Clone())
		}
		return len(out) < limit
	}
	size := func(l *logList) {
		out = make([]Delivery, 0, min(limit, l.live(f.mask)))
	}
	switch {
	case q.EventID != "":
		e := m.events[q.EventID]
		if e == nil {
			return out, nil
		}
		for i := len(e.dlvs) - 1; i >= 0 && collect(e.dlvs[i]); i-- {
		}
	case q.SubscriptionID != "":
		l := m.subLogs[q.SubscriptionID]
		if l == nil || (q.Workspace != "" && !l.mixed && l.ws != q.Workspace) {
			return out, nil
		}
		size(l)
		l.walk(l.before(before), &f, collect)
	case q.Workspace != "":
		w := m.workspaces[q.Workspace]
		if w == nil {
			return out, nil
		}
		size(w.log)
		w.log.walk(w.log.before(before), &f, collect)
	default:
		size(m.all)
		m.all.walk(m.all.before(before), &f, collect)
	}
	return out, nil
}

// Stats implements Store.
func (m *Memory) Stats(ctx context.Context, workspace string, now time.Time) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	subs, fig, log := m.subList, &m.overall, m.all
	pending, held := m.pending, m.held
	if workspace != "" {
		w := m.workspaces[workspace]
		if w == nil {
			return Stats{Overall: Figures{}.HealthAt(now), Subscriptions: map[string]Health{}}, nil
		}
		subs, fig, log = w.subs, &w.fig, w.log
		pending, held = w.pending, w.held
	}
	st := Stats{Overall: fig.HealthAt(now), Subscriptions: make(map[string]Health, len(subs))}
	for _, s := range subs {
		if s.deleted {
			continue
		}
		h := s.fig.HealthAt(now)
		h.Pending, h.Held = s.pending, s.held
		if l := m.subLogs[s.ID]; l != nil && l.oldestPending() != nil {
			md := l.oldestPending()
			h.OldestPendingAge = max(0, now.Sub(md.CreatedAt))
		}
		st.Subscriptions[s.ID] = h
	}
	st.Overall.Pending, st.Overall.Held = pending, held
	if md := log.oldestPending(); md != nil {
		st.Overall.OldestPendingAge = max(0, now.Sub(md.CreatedAt))
	}
	return st, nil
}

// Prune implements Store.
func (m *Memory) Prune(ctx context.Context, req PruneRequest) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prune(req), nil
}

// prune is Prune with m.mu held.
func (m *Memory) prune(req PruneRequest) int {
	n := 0
	full := func() bool { return req.Limit > 0 && n >= req.Limit }
	if !req.Before.IsZero() {
		if !m.byAge {
			// The first pruning by age: from now on finished deliveries are kept in
			// order of their last update.
			m.byAge = true
			for _, md := range m.deliveries {
				if md.State.Final() {
					m.finished = append(m.finished, timeEntry{t: md.UpdatedAt, md: md})
				}
			}
			m.finished.heapify()
		}
		for len(m.finished) > 0 && m.finished[0].t.Before(req.Before) && !full() {
			e := m.finished.pop()
			md := e.md
			if md.pruned || !md.State.Final() || !md.UpdatedAt.Equal(e.t) {
				continue // stale: pruned, redelivered or updated since
			}
			m.remove(md)
			n++
		}
		// Events that never had a delivery go once they occurred before the cut-off
		// (never without one, so that a recent event ID stays taken).
		for len(m.bare) > 0 && m.bare[0].t.Before(req.Before) {
			e := m.bare.pop().ev
			if !e.had && !e.gone {
				m.dropEvent(e)
			}
		}
	}
	if req.KeepPerSubscription > 0 {
		all := filter{mask: finalStates, since: math.MinInt64, until: math.MaxInt64}
		var batch []*memDelivery
		for _, l := range m.subLogs {
			extra := l.live(finalStates) - req.KeepPerSubscription
			if extra <= 0 || full() {
				continue
			}
			if req.Limit > 0 {
				extra = min(extra, req.Limit-n)
			}
			batch = batch[:0]
			l.walkOldest(&all, func(md *memDelivery) bool {
				if md.State.Final() {
					batch = append(batch, md)
				}
				return len(batch) < extra
			})
			for _, md := range batch {
				m.remove(md)
				n++
			}
		}
	}
	return n
}

// remove prunes a finished delivery, and its event with its last delivery.
func (m *Memory) remove(md *memDelivery) {
	md.pruned = true
	delete(m.deliveries, md.ID)
	m.all.removed(md, md.State)
	md.ws.log.removed(md, md.State)
	l := md.slog
	l.removed(md, md.State)
	if l.live(anyState) == 0 && m.subs[md.SubscriptionID] == nil && m.subLogs[md.SubscriptionID] == l {
		delete(m.subLogs, md.SubscriptionID) // a deleted subscription's log is all gone
	}
	e := md.ev
	if i := slices.Index(e.dlvs, md); i >= 0 {
		e.dlvs = slices.Delete(e.dlvs, i, i+1)
	}
	if len(e.dlvs) == 0 {
		m.dropEvent(e)
	}
}

func (m *Memory) dropEvent(e *memEvent) {
	e.gone = true
	if m.events[e.ID] == e {
		delete(m.events, e.ID)
	}
}

// timeEntry is an entry of a timeHeap: a finished delivery (md) or an event (ev).
type timeEntry struct {
	t  time.Time
	md *memDelivery
	ev *memEvent
}

// timeHeap is a heap of timeEntry, earliest first. Entries are never removed but by pop:
// the reader recognises the stale ones.
type timeHeap []timeEntry

func (h *timeHeap) push(e timeEntry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].t.Before(s[p].t) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *timeHeap) pop() timeEntry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = timeEntry{}
	*h = s[:n]
	h.down(0)
	return top
}

func (h timeHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[r].t.Before(h[l].t) {
			c = r
		}
		if !h[c].t.Before(h[i].t) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (h timeHeap) heapify() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}
