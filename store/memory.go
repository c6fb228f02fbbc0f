package store

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is a Store that keeps everything in the process's memory: for tests, examples and
// small applications that can lose their queue on restart. It is safe for concurrent use.
// Create it with NewMemory.
type Memory struct {
	mu sync.Mutex

	subs    map[string]*Subscription
	subList []*Subscription // creation order, for deterministic fan-out and listing

	events     map[string]*Event
	eventOrder []string

	deliveries map[string]*memDelivery
	all        []*memDelivery            // insertion order
	bySub      map[string][]*memDelivery // insertion order
	byEvent    map[string][]*memDelivery // insertion order
	open       map[string]map[*memDelivery]struct{}
	due        dueHeap // pending deliveries by due time
	seq        uint64

	maxAge time.Duration // retention; 0: none
	keep   int           // retention per subscription; 0: none
	writes int           // writes since creation, for the retention's pace

	overall   Figures
	wsFigures map[string]*Figures // per workspace
	figures   map[string]*Figures
	pending   map[string]int64
	held      map[string]int64
}

var _ Store = (*Memory)(nil)

type memDelivery struct {
	Delivery
	seq     uint64
	heapIdx int // index in Memory.due, -1 when not there
	pruned  bool
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
		subs:       make(map[string]*Subscription),
		events:     make(map[string]*Event),
		deliveries: make(map[string]*memDelivery),
		bySub:      make(map[string][]*memDelivery),
		byEvent:    make(map[string][]*memDelivery),
		open:       make(map[string]map[*memDelivery]struct{}),
		figures:    make(map[string]*Figures),
		wsFigures:  make(map[string]*Figures),
		pending:    make(map[string]int64),
		held:       make(map[string]int64),
	}
	for _, o := range opts {
		o(m)
	}
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
	s := sub.Clone()
	if s.Status == "" {
		s.Status = StatusActive
	}
	m.subs[s.ID] = &s
	m.subList = append(m.subList, &s)
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

// UpdateSubscription implements Store.
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
	next.ID = id
	old := s.Status
	*s = next
	if old != next.Status {
		m.statusChanged(s, now)
	}
	return s.Clone(), nil
}

// statusChanged moves the open deliveries of s after its status changed.
func (m *Memory) statusChanged(s *Subscription, now time.Time) {
	for md := range m.open[s.ID] {
		switch {
		case s.Status == StatusActive && md.State == DeliveryHeld:
			md.NextAttemptAt = now
			m.setState(md, DeliveryPending, now)
		case s.Status == StatusInactive && md.State == DeliveryPending && md.LeasedUntil.IsZero():
			m.setState(md, InactiveState(s.WhileInactive), now)
		}
	}
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
	if _, ok := m.subs[id]; !ok {
		return notFound("subscription", id)
	}
	m.deleteSub(id, now)
	return nil
}

func (m *Memory) deleteSub(id string, now time.Time) {
	for md := range m.open[id] {
		m.setState(md, DeliveryCancelled, now)
	}
	delete(m.open, id)
	delete(m.subs, id)
	delete(m.figures, id)
	delete(m.pending, id)
	delete(m.held, id)
	m.subList = slices.DeleteFunc(m.subList, func(s *Subscription) bool { return s.ID == id })
}

// Subscriptions implements Store.
func (m *Memory) Subscriptions(ctx context.Context, f SubscriptionFilter) ([]Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Subscription{}
	for _, s := range m.subList {
		if (f.Workspace == "" || s.Workspace == f.Workspace) && f.Match(*s) {
			out = append(out, s.Clone())
		}
	}
	return out, nil
}

// InsertEvent implements Store.
func (m *Memory) InsertEvent(ctx context.Context, ev Event, now time.Time) (Inserted, error) {
	if ev.ID == "" {
		return Inserted{}, fmt.Errorf("event: %w", errNoID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.events[ev.ID]; ok {
		return Inserted{Event: cloneEvent(*old)}, nil
	}
	e := cloneEvent(ev)
	m.events[e.ID] = &e
	m.eventOrder = append(m.eventOrder, e.ID)
	res := Inserted{Event: cloneEvent(e), Created: true}
	for _, s := range m.subList {
		if s.Workspace != ev.Workspace || !s.Wants(ev.Type) {
			continue
		}
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
			CreatedAt:      now,
		}, heapIdx: -1}
		if state == DeliveryPending {
			md.NextAttemptAt = now
			res.Pending++
		} else {
			res.Held++
		}
		m.add(md)
		m.setState(md, state, now)
		res.Deliveries = append(res.Deliveries, md.ID)
	}
	m.wrote()
	return res, nil
}

func cloneEvent(e Event) Event {
	e.Data = append([]byte(nil), e.Data...)
	return e
}

// add indexes a new delivery (with no state yet).
func (m *Memory) add(md *memDelivery) {
	m.seq++
	md.seq = m.seq
	m.deliveries[md.ID] = md
	m.all = append(m.all, md)
	m.bySub[md.SubscriptionID] = append(m.bySub[md.SubscriptionID], md)
	m.byEvent[md.EventID] = append(m.byEvent[md.EventID], md)
}

// setState moves md to state and keeps the due heap, the open sets and the queue
// counters in step with it.
func (m *Memory) setState(md *memDelivery, state DeliveryState, now time.Time) {
	sub := md.SubscriptionID
	switch md.State {
	case DeliveryPending:
		m.pending[sub]--
	case DeliveryHeld:
		m.held[sub]--
	}
	md.State = state
	md.UpdatedAt = now
	switch state {
	case DeliveryPending:
		m.pending[sub]++
	case DeliveryHeld:
		m.held[sub]++
	}
	if state == DeliveryPending || state == DeliveryHeld {
		if m.open[sub] == nil {
			m.open[sub] = make(map[*memDelivery]struct{})
		}
		m.open[sub][md] = struct{}{}
	} else {
		delete(m.open[sub], md)
	}
	if state != DeliveryPending {
		md.NextAttemptAt = time.Time{}
		md.LeasedUntil = time.Time{}
	}
	switch {
	case state == DeliveryPending && md.heapIdx < 0:
		heap.Push(&m.due, md)
	case state == DeliveryPending:
		heap.Fix(&m.due, md.heapIdx)
	case md.heapIdx >= 0:
		heap.Remove(&m.due, md.heapIdx)
	}
}

// Event implements Store.
func (m *Memory) Event(ctx context.Context, id string) (Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.events[id]
	if !ok {
		return Event{}, notFound("event", id)
	}
	return cloneEvent(*e), nil
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
	if _, ok := m.events[ev.ID]; !ok {
		e := cloneEvent(ev)
		m.events[e.ID] = &e
		m.eventOrder = append(m.eventOrder, e.ID)
	}
	md := &memDelivery{Delivery: d.Clone(), heapIdx: -1}
	state := md.State
	md.State = ""
	m.add(md)
	m.setState(md, state, d.UpdatedAt)
	return nil
}

// ClaimDue implements Store.
func (m *Memory) ClaimDue(ctx context.Context, req ClaimRequest) ([]Claim, time.Time, error) {
	now := req.Now
	if err := CheckLease(now, req.LeaseUntil); err != nil {
		return nil, time.Time{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Claim
	var next time.Time
	var popped []*memDelivery
	quota := make(map[string]int)
	inFlight := make(map[string]int)
	for _, md := range m.due {
		if md.LeasedUntil.After(now) {
			inFlight[md.SubscriptionID]++
		}
	}
	for len(m.due) > 0 {
		md := heap.Pop(&m.due).(*memDelivery)
		popped = append(popped, md)
		s, ok := m.subs[md.SubscriptionID]
		if !ok || s.Status != StatusActive {
			continue
		}
		q, seen := quota[s.ID]
		if !seen {
			q = req.Limit
			if req.Quota != nil {
				q = req.Quota(s, inFlight[s.ID])
			}
		}
		if q <= 0 {
			quota[s.ID] = q
			continue
		}
		if len(out) >= req.Limit || md.dueAt().After(now) {
			next = md.dueAt()
			break
		}
		quota[s.ID] = q - 1
		md.LeasedUntil = req.LeaseUntil
		out = append(out, Claim{
			Delivery:     md.Delivery.Clone(),
			Event:        cloneEvent(*m.events[md.EventID]),
			Subscription: s.Clone(),
			Failures:     m.figures[s.ID].run(),
		})
	}
	for _, md := range popped {
		heap.Push(&m.due, md)
	}
	return out, next, nil
}

// orZero is *f, or zero figures when f is nil.
func (f *Figures) orZero() Figures {
	if f == nil {
		return Figures{}
	}
	return *f
}

// run is the current failure run of f, which may be nil.
func (f *Figures) run() FailureRun {
	if f == nil {
		return FailureRun{}
	}
	return f.Run
}

// NextDue implements Store.
func (m *Memory) NextDue(ctx context.Context) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.due) == 0 {
		return time.Time{}, false, nil
	}
	return m.due[0].dueAt(), true, nil
}

// RecordAttempt implements Store.
func (m *Memory) RecordAttempt(ctx context.Context, rec AttemptRecord) (Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	md, ok := m.deliveries[rec.DeliveryID]
	if !ok || md.pruned {
		return Delivery{}, notFound("delivery", rec.DeliveryID)
	}
	now := rec.Attempt.SentAt.Add(rec.Attempt.Duration)
	md.Attempts = append(md.Attempts, rec.Attempt)
	md.LeasedUntil = time.Time{}
	md.UpdatedAt = now
	before := md.State
	if md.State == DeliveryPending {
		state := rec.State
		s := m.subs[md.SubscriptionID]
		switch {
		case s == nil:
			state = DeliveryCancelled
		case state == DeliveryPending && s.Status != StatusActive:
			state = InactiveState(s.WhileInactive)
		case state == DeliveryPending:
			md.NextAttemptAt = rec.NextAttemptAt
		}
		m.setState(md, state, now)
	}
	// The delivery counts as succeeded or failed only if this attempt finished it: a late
	// answer for a delivery already finished (two workers after a lease ran out) or
	// cancelled adds an attempt, not a delivery.
	ended := md.State
	if ended == before {
		ended = ""
	}
	if !rec.Attempt.Test {
		if _, ok := m.subs[md.SubscriptionID]; ok {
			f := m.figures[md.SubscriptionID]
			if f == nil {
				f = &Figures{}
				m.figures[md.SubscriptionID] = f
			}
			f.Observe(rec.Attempt, ended)
		}
		m.overall.Observe(rec.Attempt, ended)
		wf := m.wsFigures[md.Workspace]
		if wf == nil {
			wf = &Figures{}
			m.wsFigures[md.Workspace] = wf
		}
		wf.Observe(rec.Attempt, ended)
	}
	if s, ok := m.subs[md.SubscriptionID]; ok {
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
			m.deleteSub(s.ID, now)
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
	if !ok || md.pruned {
		return Delivery{}, notFound("delivery", id)
	}
	s, ok := m.subs[md.SubscriptionID]
	if !ok {
		return Delivery{}, fmt.Errorf("delivery %q: %w", id, notFound("subscription", md.SubscriptionID))
	}
	if s.Status != StatusActive {
		return Delivery{}, fmt.Errorf("delivery %q: subscription %q: %w", id, s.ID, ErrInactive)
	}
	if md.LeasedUntil.After(now) {
		return Delivery{}, fmt.Errorf("delivery %q: %w", id, ErrInFlight)
	}
	md.LeasedUntil = time.Time{}
	md.RoundStart = len(md.Attempts)
	md.NextAttemptAt = now
	md.Test = false
	m.setState(md, DeliveryPending, now)
	return md.Delivery.Clone(), nil
}

// Delivery implements Store.
func (m *Memory) Delivery(ctx context.Context, id string) (Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	md, ok := m.deliveries[id]
	if !ok || md.pruned {
		return Delivery{}, notFound("delivery", id)
	}
	return md.Delivery.Clone(), nil
}

// Deliveries implements Store.
func (m *Memory) Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	src := m.all
	switch {
	case q.EventID != "":
		src = m.byEvent[q.EventID]
	case q.SubscriptionID != "":
		src = m.bySub[q.SubscriptionID]
	}
	before := uint64(1<<64 - 1)
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
	for i := len(src) - 1; i >= 0 && len(out) < limit; i-- {
		md := src[i]
		if md.pruned || md.seq >= before ||
			(q.SubscriptionID != "" && md.SubscriptionID != q.SubscriptionID) ||
			(q.EventID != "" && md.EventID != q.EventID) ||
			(q.Workspace != "" && md.Workspace != q.Workspace) ||
			(!q.Since.IsZero() && md.CreatedAt.Before(q.Since)) ||
			(!q.Until.IsZero() && !md.CreatedAt.Before(q.Until)) ||
			(q.State != "" && md.State != q.State) {
			continue
		}
		out = append(out, md.Delivery.Clone())
	}
	return out, nil
}

// Stats implements Store.
func (m *Memory) Stats(ctx context.Context, workspace string, now time.Time) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	overall := m.overall
	if workspace != "" {
		overall = m.wsFigures[workspace].orZero()
	}
	st := Stats{Overall: overall.HealthAt(now), Subscriptions: make(map[string]Health, len(m.subs))}
	oldest := make(map[string]time.Time)
	var oldestAll time.Time
	for _, md := range m.due {
		if workspace != "" && md.Workspace != workspace {
			continue
		}
		if t, ok := oldest[md.SubscriptionID]; !ok || md.CreatedAt.Before(t) {
			oldest[md.SubscriptionID] = md.CreatedAt
		}
		if oldestAll.IsZero() || md.CreatedAt.Before(oldestAll) {
			oldestAll = md.CreatedAt
		}
	}
	for _, s := range m.subList {
		if workspace != "" && s.Workspace != workspace {
			continue
		}
		var h Health
		if f := m.figures[s.ID]; f != nil {
			h = f.HealthAt(now)
		} else {
			h = Figures{}.HealthAt(now)
		}
		h.Pending, h.Held = m.pending[s.ID], m.held[s.ID]
		if t, ok := oldest[s.ID]; ok {
			h.OldestPendingAge = max(0, now.Sub(t))
		}
		st.Subscriptions[s.ID] = h
		st.Overall.Pending += h.Pending
		st.Overall.Held += h.Held
	}
	if !oldestAll.IsZero() {
		st.Overall.OldestPendingAge = max(0, now.Sub(oldestAll))
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
	touched := make(map[string]bool) // events that lost a delivery
	remove := func(md *memDelivery) bool {
		if md.pruned || !md.State.Final() || (req.Limit > 0 && n >= req.Limit) {
			return false
		}
		md.pruned = true
		delete(m.deliveries, md.ID)
		touched[md.EventID] = true
		n++
		return true
	}
	if !req.Before.IsZero() {
		for _, md := range m.all {
			if md.State.Final() && md.UpdatedAt.Before(req.Before) {
				remove(md)
			}
		}
	}
	if req.KeepPerSubscription > 0 {
		for _, list := range m.bySub {
			kept := 0
			for i := len(list) - 1; i >= 0; i-- {
				md := list[i]
				if md.pruned || !md.State.Final() {
					continue
				}
				if kept < req.KeepPerSubscription {
					kept++
					continue
				}
				remove(md)
			}
		}
	}
	if n == 0 && req.Before.IsZero() {
		return 0
	}
	gone := func(md *memDelivery) bool { return md.pruned }
	m.all = slices.DeleteFunc(m.all, gone)
	for k, list := range m.bySub {
		if list = slices.DeleteFunc(list, gone); len(list) == 0 {
			delete(m.bySub, k)
		} else {
			m.bySub[k] = list
		}
	}
	for k, list := range m.byEvent {
		if list = slices.DeleteFunc(list, gone); len(list) == 0 {
			delete(m.byEvent, k)
		} else {
			m.byEvent[k] = list
		}
	}
	// Events that no delivery refers to any more go with their last delivery; events that
	// never had one go once they occurred before the cut-off (never without one, so that a
	// recent event ID stays taken).
	m.eventOrder = slices.DeleteFunc(m.eventOrder, func(id string) bool {
		if len(m.byEvent[id]) > 0 {
			return false
		}
		if !touched[id] && (req.Before.IsZero() || !m.events[id].OccurredAt.Before(req.Before)) {
			return false
		}
		delete(m.events, id)
		return true
	})
	return n
}

// dueAt is when the delivery is next due: its lease end while in flight.
func (md *memDelivery) dueAt() time.Time {
	if !md.LeasedUntil.IsZero() {
		return md.LeasedUntil
	}
	return md.NextAttemptAt
}

// dueHeap orders pending deliveries by due time, then by age.
type dueHeap []*memDelivery

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	a, b := h[i].dueAt(), h[j].dueAt()
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].seq < h[j].seq
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *dueHeap) Push(x any) {
	md := x.(*memDelivery)
	md.heapIdx = len(*h)
	*h = append(*h, md)
}
func (h *dueHeap) Pop() any {
	old := *h
	md := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	md.heapIdx = -1
	return md
}
