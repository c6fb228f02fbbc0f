package store

import (
	"context"
	"time"
)

// The memory store's queue. Each subscription keeps its pending deliveries in three
// places:
//
//   - fresh: deliveries due at once when they were inserted, in arrival order, as long as
//     that is also due order (a plain queue: claiming from it costs O(1));
//   - retry: every other pending delivery that is not leased (retries, redeliveries,
//     released and expired ones), in a heap by due time;
//   - leased: deliveries in flight, in a heap by lease end: its size is the subscription's
//     in-flight count once the leases that ended are moved to retry.
//
// Active subscriptions with pending deliveries are in Memory.ready, a heap by their
// earliest due time (a lease counting at its end), so a claim visits only the
// subscriptions that are due, and a skipped one costs a pop and a push. Inactive ones
// with deliveries still in flight wait in Memory.parked, only for NextDue.

// Where a delivery is queued: memDelivery.q.
const (
	qNone uint8 = iota
	qFresh
	qRetry
	qLeased
	qHeld
)

// dueBefore orders pending deliveries by due time (lease end when leased), then age.
func dueBefore(a, b *memDelivery) bool {
	ta, tb := a.dueAt(), b.dueAt()
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.seq < b.seq
}

// dueAt is when the delivery is next due: its lease end while leased (or since its
// lease ended).
func (md *memDelivery) dueAt() time.Time {
	if !md.LeasedUntil.IsZero() {
		return md.LeasedUntil
	}
	return md.NextAttemptAt
}

// dlvHeap is a heap of deliveries by dueBefore; memDelivery.qi is the index.
type dlvHeap []*memDelivery

func (h *dlvHeap) push(md *memDelivery) {
	md.qi = len(*h)
	*h = append(*h, md)
	h.up(md.qi)
}

func (h *dlvHeap) pop() *memDelivery {
	md := (*h)[0]
	h.remove(0)
	return md
}

func (h *dlvHeap) remove(i int) {
	old := *h
	n := len(old) - 1
	if i != n {
		old[i] = old[n]
		old[i].qi = i
	}
	old[n] = nil
	*h = old[:n]
	if i != n {
		h.down(i)
		h.up(i)
	}
}

func (h dlvHeap) heapify() {
	for i, md := range h {
		md.qi = i
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h dlvHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !dueBefore(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		h[i].qi, h[p].qi = i, p
		i = p
	}
}

func (h dlvHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && dueBefore(h[r], h[l]) {
			c = r
		}
		if !dueBefore(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		h[i].qi, h[c].qi = i, c
		i = c
	}
}

// fifo is the fresh queue: deliveries in due order. A delivery taken out of the middle
// stays in the slice, recognised as gone by its generation.
type fifo struct {
	buf  []fifoEntry
	head int
}

type fifoEntry struct {
	md  *memDelivery
	gen uint32
}

func (q *fifo) live(e fifoEntry) bool { return e.md.q == qFresh && e.md.gen == e.gen }

// first is the first delivery of the queue, or nil.
func (q *fifo) first() *memDelivery {
	for q.head < len(q.buf) {
		if e := q.buf[q.head]; q.live(e) {
			return e.md
		}
		q.buf[q.head] = fifoEntry{}
		q.head++
	}
	q.buf, q.head = q.buf[:0], 0
	return nil
}

// last is the last delivery of the queue, or nil.
func (q *fifo) last() *memDelivery {
	for len(q.buf) > q.head {
		if e := q.buf[len(q.buf)-1]; q.live(e) {
			return e.md
		}
		q.buf[len(q.buf)-1] = fifoEntry{}
		q.buf = q.buf[:len(q.buf)-1]
	}
	return nil
}

func (q *fifo) push(md *memDelivery) {
	if q.head > 0 && q.head*2 >= len(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, fifoEntry{md, md.gen})
}

// subHeap is a heap of subscriptions by their earliest due delivery; memSub.hi is the
// index, -1 when not in a heap.
type subHeap []*memSub

func subBefore(a, b *memSub) bool { return dueBefore(a.head, b.head) }

func (h *subHeap) push(s *memSub) {
	s.hi = len(*h)
	*h = append(*h, s)
	h.up(s.hi)
}

func (h *subHeap) remove(i int) {
	old := *h
	n := len(old) - 1
	s := old[i]
	if i != n {
		old[i] = old[n]
		old[i].hi = i
	}
	old[n] = nil
	*h = old[:n]
	s.hi = -1
	if i != n {
		h.down(i)
		h.up(i)
	}
}

func (h subHeap) fix(i int) {
	h.down(i)
	h.up(i)
}

func (h subHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !subBefore(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		h[i].hi, h[p].hi = i, p
		i = p
	}
}

func (h subHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && subBefore(h[r], h[l]) {
			c = r
		}
		if !subBefore(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		h[i].hi, h[c].hi = i, c
		i = c
	}
}

// enqueue puts a pending delivery that is not queued in its subscription's queue. The
// caller calls requeue once the subscription's queues are as they should be.
func (s *memSub) enqueue(md *memDelivery) {
	md.gen++
	switch {
	case md.LeasedUntil.IsZero() && (s.fresh.last() == nil || !dueBefore(md, s.fresh.last())):
		md.q = qFresh
		s.fresh.push(md)
	case md.LeasedUntil.IsZero():
		md.q = qRetry
		s.retry.push(md)
	default:
		md.q = qLeased
		s.leased.push(md)
	}
}

// unqueue takes a delivery out of its subscription's queue.
func (s *memSub) unqueue(md *memDelivery) {
	switch md.q {
	case qRetry:
		s.retry.remove(md.qi)
	case qLeased:
		s.leased.remove(md.qi)
	}
	md.q = qNone
	md.gen++
}

// settle moves the deliveries whose lease ended at or before now from leased to retry,
// where they are due at their lease end, so that leased holds exactly what is in flight
// at now. Should now be earlier than a time settle was called with before (clocks of
// two callers that disagree), leases that end after now go back to leased.
func (s *memSub) settle(now time.Time) {
	if now.Before(s.expiredTo) {
		var latest time.Time
		keep := s.retry[:0]
		for _, md := range s.retry {
			if md.LeasedUntil.After(now) {
				md.q = qLeased
				s.leased.push(md)
				continue
			}
			if md.LeasedUntil.After(latest) {
				latest = md.LeasedUntil
			}
			keep = append(keep, md)
		}
		clear(s.retry[len(keep):])
		s.retry = keep
		s.retry.heapify()
		s.expiredTo = latest
	}
	for len(s.leased) > 0 && !s.leased[0].LeasedUntil.After(now) {
		md := s.leased.pop()
		md.q = qRetry
		s.retry.push(md)
		if md.LeasedUntil.After(s.expiredTo) {
			s.expiredTo = md.LeasedUntil
		}
	}
}

// firstDue is the pending delivery of s that is not leased and is due first, or nil.
func (s *memSub) firstDue() *memDelivery {
	f := s.fresh.first()
	if len(s.retry) > 0 && (f == nil || dueBefore(s.retry[0], f)) {
		return s.retry[0]
	}
	return f
}

// earliest is the pending delivery of s that is due first, leases counting at their end.
func (s *memSub) earliest() *memDelivery {
	d := s.firstDue()
	if len(s.leased) > 0 && (d == nil || dueBefore(s.leased[0], d)) {
		return s.leased[0]
	}
	return d
}

// requeue puts s where it belongs after its queue or status changed: in ready (active,
// something pending), parked (inactive, something in flight) or neither.
func (m *Memory) requeue(s *memSub) {
	s.head = s.earliest()
	want := &m.ready
	switch {
	case s.head == nil || s.deleted:
		want = nil
	case s.Status != StatusActive:
		want = &m.parked
	}
	if s.hi >= 0 && s.in != want {
		s.in.remove(s.hi)
	}
	switch {
	case want == nil:
		s.in = nil
	case s.hi >= 0:
		want.fix(s.hi)
	default:
		s.in = want
		want.push(s)
	}
}

// ClaimDue implements Store. Its claims share the event's Data and the subscription's
// Events, Headers and Metadata with the store: read them, never modify them.
func (m *Memory) ClaimDue(ctx context.Context, req ClaimRequest) ([]Claim, time.Time, error) {
	return m.AppendDue(ctx, nil, req)
}

// AppendDue implements CheapClaimer: a claim is a few heap operations under the store's
// lock. Its claims share data with the store as ClaimDue's do.
func (m *Memory) AppendDue(ctx context.Context, dst []Claim, req ClaimRequest) ([]Claim, time.Time, error) {
	now := req.Now
	if err := CheckLease(now, req.LeaseUntil); err != nil {
		return dst, time.Time{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out, claimed := dst, 0
	var next time.Time
	later := func(md *memDelivery) {
		if md != nil && (next.IsZero() || md.dueAt().Before(next)) {
			next = md.dueAt()
		}
	}
	visited := m.visited[:0]
	for len(m.ready) > 0 {
		s := m.ready[0]
		if s.head.dueAt().After(now) {
			break
		}
		if claimed >= req.Limit {
			break
		}
		s.settle(now)
		q := req.Limit
		if req.Quota != nil {
			q = req.Quota(&s.Subscription, len(s.leased))
		}
		m.ready.remove(0)
		visited = append(visited, s)
		if q <= 0 {
			continue
		}
		// The leases taken before this claim: the earliest counts for next.
		var leased *memDelivery
		if len(s.leased) > 0 {
			leased = s.leased[0]
		}
		for q > 0 && claimed < req.Limit {
			md := s.firstDue()
			if md == nil || md.dueAt().After(now) {
				break
			}
			s.unqueue(md)
			md.LeasedUntil = req.LeaseUntil
			md.q = qLeased
			s.leased.push(md)
			q--
			if out == nil {
				out = make([]Claim, 0, min(req.Limit, 64))
			}
			claimed++
			out = append(out, Claim{
				Delivery: md.Delivery.Clone(),
				Event:    md.ev.Event, // shares Data: InsertEvent's bytes, never changed
				// Shares its slices and maps: the store never changes a stored
				// subscription's in place (UpdateSubscription replaces them).
				Subscription: s.Subscription,
				Failures:     s.fig.Run,
			})
		}
		if q > 0 {
			later(s.firstDue())
			later(leased)
		}
	}
	if len(m.ready) > 0 {
		// Not visited: not due yet, or the limit was reached.
		later(m.ready[0].head)
	}
	for i, s := range visited {
		s.hi = -1
		s.in = nil
		m.requeue(s)
		visited[i] = nil
	}
	m.visited = visited[:0]
	return out, next, nil
}

// NextDue implements Store.
func (m *Memory) NextDue(ctx context.Context) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next *memDelivery
	for _, h := range []subHeap{m.ready, m.parked} {
		if len(h) > 0 && (next == nil || dueBefore(h[0].head, next)) {
			next = h[0].head
		}
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return next.dueAt(), true, nil
}
