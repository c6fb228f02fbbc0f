package storebolt

import (
	"bytes"
	"maps"
	"slices"
	"sync"

	"github.com/shophooks/webhook/store"
)

// maxCached bounds each decode cache: beyond it the cache starts afresh.
const maxCached = 4096

// decodeCache keeps records decoded from the file with the bytes they were decoded from:
// a record whose stored bytes are the cached ones is not decoded again. It is never out
// of date, whoever wrote the file and whether their transaction committed or not: a
// lookup compares the bytes stored now. Cached values are shared and never changed;
// transactions that change one change a copy.
//
// Two versions are kept of each record: a read transaction that began before a commit
// reads the version before it, while the writers read the one after.
type decodeCache[T any] struct {
	mu sync.Mutex
	m  map[string]*cached[T]
}

type cached[T any] struct {
	raw  [2][]byte
	v    [2]T
	last int // the version put last
}

// get returns the value decoded from raw under key, if it is cached.
func (c *decodeCache[T]) get(key string, raw []byte) (v T, ok bool) {
	if c == nil {
		return v, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		for i := range e.raw {
			if e.raw[i] != nil && bytes.Equal(e.raw[i], raw) {
				return e.v[i], true
			}
		}
	}
	return v, false
}

// put caches v as decoded from raw (which it copies) under key, in place of the version
// put before the last one. v must not be changed afterwards.
func (c *decodeCache[T]) put(key string, raw []byte, v T) {
	if c == nil {
		return
	}
	raw = bytes.Clone(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[string]*cached[T])
	}
	e := c.m[key]
	if e == nil {
		e = new(cached[T])
		c.m[key] = e
	}
	e.last = 1 - e.last
	e.raw[e.last], e.v[e.last] = raw, v
}

// decoders are a store's decode caches: subscriptions (by ID) and figures (by bucket and
// key), read on every claim and every recorded attempt, and the headers of events (by ID),
// read at every claim of a new delivery.
type decoders struct {
	subs    decodeCache[*subRecord]
	figures decodeCache[*store.Figures]
	events  decodeCache[*eventHeader]
}

// cloneSub returns a copy of r that shares nothing a change could reach.
func cloneSub(r *subRecord) *subRecord {
	c := *r
	c.Subscription = r.Subscription.Clone()
	return &c
}

// cloneFigures returns a copy of f that shares nothing a change could reach.
func cloneFigures(f *store.Figures) store.Figures {
	c := *f
	c.ErrorsByKind = maps.Clone(f.ErrorsByKind)
	c.Buckets = slices.Clone(f.Buckets)
	c.Recent = cloneSlots(f.Recent)
	c.Daily = cloneSlots(f.Daily)
	return c
}

func cloneSlots(s []store.Slot) []store.Slot {
	s = slices.Clone(s)
	for i := range s {
		s[i].ErrorsByKind = maps.Clone(s[i].ErrorsByKind)
	}
	return s
}
