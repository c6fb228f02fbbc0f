package main

import (
	"container/list"
	"sync"
	"time"
)

// seenSet remembers recently seen webhook IDs, to drop duplicate deliveries: at most
// size IDs, each for ttl after it was last seen (least recently seen forgotten first). It
// is safe for concurrent use.
//
// It lives in memory, so a restart forgets everything: a receiver whose processing must
// be exactly-once keeps the IDs in its database, in the transaction that applies the event.
type seenSet struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	now   func() time.Time
	order *list.List               // of *seenEntry, most recently seen at the front
	byID  map[string]*list.Element // into order
}

type seenEntry struct {
	id      string
	expires time.Time
}

func newSeenSet(size int, ttl time.Duration) *seenSet {
	return &seenSet{size: size, ttl: ttl, now: time.Now, order: list.New(), byID: make(map[string]*list.Element)}
}

// Add records id and reports whether it was new (not seen within the TTL).
func (s *seenSet) Add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expire(now)
	if e, ok := s.byID[id]; ok {
		// Still being delivered: remember it for another TTL.
		e.Value.(*seenEntry).expires = now.Add(s.ttl)
		s.order.MoveToFront(e)
		return false
	}
	s.byID[id] = s.order.PushFront(&seenEntry{id: id, expires: now.Add(s.ttl)})
	for s.order.Len() > s.size {
		s.remove(s.order.Back())
	}
	return true
}

// Forget removes id, so that the next delivery with it is processed: for an event that
// was accepted by Add but could not be queued.
func (s *seenSet) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byID[id]; ok {
		s.remove(e)
	}
}

// Len returns the number of IDs remembered.
func (s *seenSet) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.now())
	return s.order.Len()
}

// expire drops the entries whose TTL has run out. Every entry got the same TTL when it
// was last seen, so they expire in list order, from the back.
func (s *seenSet) expire(now time.Time) {
	for e := s.order.Back(); e != nil && !now.Before(e.Value.(*seenEntry).expires); e = s.order.Back() {
		s.remove(e)
	}
}

func (s *seenSet) remove(e *list.Element) {
	s.order.Remove(e)
	delete(s.byID, e.Value.(*seenEntry).id)
}
