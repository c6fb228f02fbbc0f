package storebolt

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// Leases live in memory, never in the file. One process owns the file, and a delivery
// that was in flight when it died must be attempted again after the next Open anyway
// (nobody waits for its answer any more), so a lease on disk would be cleared at Open
// without ever having been read: a claim writes nothing and commits nothing. The file
// has every claimed delivery pending at its NextAttemptAt; the lease table says which
// of them are in flight and until when. A crash loses the table, which makes every
// delivery that was in flight due again at once: at least once, as before.
//
// The file's queue is ordered by NextAttemptAt, while ClaimDue and NextDue order a
// leased delivery at its lease end. A lease ends after the claim's now, which is at or
// after the delivery's NextAttemptAt, so a lease only ever moves a delivery later: a
// subscription's first key in due_subs is a lower bound of where it belongs, and walks
// merge the two (see dueWalk and queueWalk).
//
// Locking: mu guards the table. A ClaimDue holds it from before its read transaction
// begins until its leases are in the table, so that a claim and the clearing of a lease
// (RecordAttempt, after its commit) never interleave: a claim that still sees a
// recorded delivery as pending on disk sees its lease too. The writes whose effect
// depends on leases (status changes, deletes, Redeliver, RecordAttempt with an action,
// settling) hold mu across their whole transaction (Store.exclusive). The group commit
// never takes mu, so that an exclusive writer waiting for the write lock cannot block it.
type leaseTable struct {
	mu    sync.Mutex
	byID  map[string]*lease
	bySub map[string][]*lease // each subscription's, by key
}

// lease is one delivery in flight.
type lease struct {
	id, sub string
	until   time.Time
	// key is the delivery's place in its subscription's queue while leased: tkey(until)
	// and the delivery's seq, as a queue key has tkey(due) and seq.
	key [16]byte
	// rec is the delivery as claimed and raw its encoding in the file then: RecordAttempt
	// uses rec instead of decoding the record again when the file still holds raw.
	rec *dlvRecord
	raw []byte
}

func newLeaseTable() *leaseTable {
	return &leaseTable{byID: make(map[string]*lease), bySub: make(map[string][]*lease)}
}

// get returns the lease of a delivery, nil if it has none. Callers hold mu.
func (lt *leaseTable) get(id string) *lease { return lt.byID[id] }

// put adds l, replacing the delivery's lease if it had one. Callers hold mu.
func (lt *leaseTable) put(l *lease) {
	lt.drop(l.id)
	lt.byID[l.id] = l
	ls := lt.bySub[l.sub]
	i := sort.Search(len(ls), func(i int) bool { return bytes.Compare(ls[i].key[:], l.key[:]) > 0 })
	lt.bySub[l.sub] = slices.Insert(ls, i, l)
}

// drop removes a delivery's lease, if it has one. Callers hold mu.
func (lt *leaseTable) drop(id string) {
	l := lt.byID[id]
	if l == nil {
		return
	}
	delete(lt.byID, id)
	ls := lt.bySub[l.sub]
	if i := slices.Index(ls, l); i >= 0 {
		ls = slices.Delete(ls, i, i+1)
	}
	if len(ls) == 0 {
		delete(lt.bySub, l.sub)
	} else {
		lt.bySub[l.sub] = ls
	}
}

// dropIf removes a delivery's lease if it is still l: a lease that another claim has
// taken since (after a Redeliver, say) is not the caller's to drop. Callers hold mu.
func (lt *leaseTable) dropIf(id string, l *lease) {
	if l != nil && lt.byID[id] == l {
		lt.drop(id)
	}
}

// inFlight is the number of a subscription's deliveries leased until after now. Callers
// hold mu.
func (lt *leaseTable) inFlight(sub string, now time.Time) int {
	ls := lt.bySub[sub]
	i := sort.Search(len(ls), func(i int) bool { return ls[i].until.After(now) })
	return len(ls) - i
}

// leasedUntil is the end of a delivery's lease, zero if it has none. It takes mu.
func (lt *leaseTable) leasedUntil(id string) time.Time {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if l := lt.byID[id]; l != nil {
		return l.until
	}
	return time.Time{}
}

// overlay sets the LeasedUntil of pending deliveries read from the file. It takes mu.
func (lt *leaseTable) overlay(ds []store.Delivery) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if len(lt.byID) == 0 {
		return
	}
	for i := range ds {
		if l := lt.byID[ds[i].ID]; l != nil && ds[i].State == store.DeliveryPending {
			ds[i].LeasedUntil = l.until
		}
	}
}

// exclusive is update holding the lease table's lock: no claim runs meanwhile, so fn may
// read the table and what it reads stays true until the commit; fn's t.afterCommit
// changes the table once the transaction has committed.
func (s *Store) exclusive(ctx context.Context, fn func(t *txn) error) error {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	var after []func(*leaseTable)
	err := s.update(ctx, func(t *txn) error {
		t.leaseTab, t.afterCommit, t.dropped = s.leases, nil, nil
		err := fn(t)
		after = t.afterCommit
		return err
	})
	if err == nil {
		for _, f := range after {
			f(s.leases)
		}
	}
	return err
}

// leaseOf returns a delivery's lease (run out or not), nil if it has none or this
// transaction dropped it. Inside a transaction of exclusive or of a claim only, which
// hold the table's lock.
func (t *txn) leaseOf(id string) *lease {
	if t.leaseTab == nil || t.dropped[id] {
		return nil
	}
	return t.leaseTab.get(id)
}

// dropLease removes a delivery's lease: at once for this transaction, from the table once
// it has committed (exclusive).
func (t *txn) dropLease(id string) {
	if t.dropped == nil {
		t.dropped = make(map[string]bool)
	}
	t.dropped[id] = true
	t.afterCommit = append(t.afterCommit, func(lt *leaseTable) { lt.drop(id) })
}

// qentry is one pending delivery of a subscription as a walk sees it: its 16-byte key
// (due time and seq) and ID, and its lease when it is leased.
type qentry struct {
	key   []byte
	id    string
	lease *lease
}

// queueWalk yields a subscription's pending deliveries in the order ClaimDue takes
// them: the ones that are not leased at their due time, the leased ones at their lease
// end. It reads the table without its lock: its callers hold it.
type queueWalk struct {
	lt     *leaseTable
	prefix []byte
	c      *bolt.Cursor
	k      []byte   // the next queue key that is not leased, nil at the end
	ls     []*lease // the subscription's leases, by key
	li     int
}

func (t *txn) queueWalk(sub string) *queueWalk {
	w := &queueWalk{lt: t.leaseTab, prefix: pfx(sub), c: t.queue().Cursor()}
	if w.lt != nil {
		w.ls = w.lt.bySub[sub]
	}
	k, _ := w.c.Seek(w.prefix)
	w.skip(k)
	return w
}

// skip moves to the first queue key at or after k that is the subscription's and not
// leased.
func (w *queueWalk) skip(k []byte) {
	for ; k != nil && bytes.HasPrefix(k, w.prefix); k, _ = w.c.Next() {
		if w.lt == nil || len(w.ls) == 0 || w.lt.byID[string(k[len(w.prefix)+16:])] == nil {
			w.k = k
			return
		}
	}
	w.k = nil
}

// next returns the next entry; ok is false at the end.
func (w *queueWalk) next() (e qentry, ok bool) {
	var dk []byte
	if w.k != nil {
		dk = w.k[len(w.prefix) : len(w.prefix)+16]
	}
	if w.li < len(w.ls) {
		l := w.ls[w.li]
		if dk == nil || bytes.Compare(l.key[:], dk) < 0 {
			w.li++
			return qentry{key: l.key[:], id: l.id, lease: l}, true
		}
	}
	if dk == nil {
		return qentry{}, false
	}
	e = qentry{key: dk, id: string(w.k[len(w.prefix)+16:])}
	k, _ := w.c.Next()
	w.skip(k)
	return e, true
}

// first returns the key of a subscription's first pending delivery, nil if none.
func (w *queueWalk) first() []byte {
	e, ok := w.next()
	if !ok {
		return nil
	}
	return e.key
}

// dueWalk yields the subscriptions with pending deliveries in the order of their first
// one (see queueWalk): due_subs' order, except that a subscription whose first queue key
// is leased is held back until its real first key comes.
type dueWalk struct {
	t    *txn
	c    *bolt.Cursor
	k    []byte
	held []subDue // by key
}

type subDue struct {
	key []byte // tkey(due) and seq
	sub string
}

func (t *txn) dueWalk() *dueWalk {
	w := &dueWalk{t: t, c: t.dueSubs().Cursor()}
	w.k, _ = w.c.First()
	return w
}

// next returns the next subscription and the key of its first pending delivery.
func (w *dueWalk) next() (subDue, bool) {
	for w.k != nil {
		d := subDue{key: w.k[:16], sub: string(w.k[16:])}
		if len(w.held) > 0 && bytes.Compare(w.held[0].key, d.key) < 0 {
			h := w.held[0]
			w.held = w.held[1:]
			return h, true
		}
		w.k, _ = w.c.Next()
		if lt := w.t.leaseTab; lt != nil && len(lt.bySub[d.sub]) > 0 {
			first := w.t.queueWalk(d.sub).first()
			if first == nil {
				continue
			}
			if !bytes.Equal(first, d.key) {
				h := subDue{key: first, sub: d.sub}
				i := sort.Search(len(w.held), func(i int) bool { return bytes.Compare(w.held[i].key, first) > 0 })
				w.held = slices.Insert(w.held, i, h)
				continue
			}
		}
		return d, true
	}
	if len(w.held) > 0 {
		h := w.held[0]
		w.held = w.held[1:]
		return h, true
	}
	return subDue{}, false
}
