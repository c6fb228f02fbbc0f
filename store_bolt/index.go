package storebolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// The delivery indexes. Each delivery has at most one key in each, computed from its
// fields by keysOf; save moves the keys that changed.
const (
	ixQueue = iota
	ixOpen
	ixDone
	ixDoneSub
	ixLog
	ixLogWs
	ixLogSub
	ixLogEvent
	ixLogState
	ixLogWsState
	ixLogSubState
	nIndexes
)

type indexKeys [nIndexes][]byte

func (t *txn) indexBucket(i int) *bolt.Bucket {
	return [nIndexes]*bolt.Bucket{
		t.queue(), t.open(), t.done(), t.doneSub(), t.log(), t.logWs(), t.logSub(), t.logEvent(),
		t.logState(), t.logWsState(), t.logSubState(),
	}[i]
}

// stateByte is a delivery state in the log_*state indexes.
func stateByte(s store.DeliveryState) byte {
	switch s {
	case store.DeliveryPending:
		return 'p'
	case store.DeliveryHeld:
		return 'h'
	case store.DeliverySucceeded:
		return 's'
	case store.DeliveryFailed:
		return 'f'
	case store.DeliveryCancelled:
		return 'c'
	}
	return '?'
}

// logKey is a delivery's place in the log: creation time, then the order it was stored.
func logKey(r *dlvRecord) []byte { return cat(tkey(r.CreatedAt), u64(r.Seq)) }

// keysOf returns the index keys of a delivery as it stands, built in one buffer.
func keysOf(r *dlvRecord) indexKeys {
	var k indexKeys
	// Room for a pending delivery's keys (the most: seven log keys, queue and open; times
	// and sequences take 8 bytes, a state 1, a length prefix 1 or 2): one allocation
	// (a buffer that grows keeps the keys right, see keyBuf).
	n := 5*len(r.SubscriptionID) + 2*len(r.Workspace) + len(r.EventID) + 2*len(r.ID)
	b := keyBuf(make([]byte, 0, n+12*8+9*10+8))
	st := stateByte(r.State)
	logAt := func(parts ...func()) []byte {
		i := len(b)
		for _, p := range parts {
			p()
		}
		b.time(r.CreatedAt)
		b.u64(r.Seq)
		return b.from(i)
	}
	sub := func() { b.pfx(r.SubscriptionID) }
	ws := func() { b.pfx(r.Workspace) }
	state := func() { b = append(b, st) }
	k[ixLog] = logAt()
	k[ixLogSub] = logAt(sub)
	k[ixLogEvent] = logAt(func() { b.pfx(r.EventID) })
	k[ixLogState] = logAt(state)
	k[ixLogSubState] = logAt(sub, state)
	if r.Workspace != "" { // see the layout: nothing reads the default workspace's
		k[ixLogWs] = logAt(ws)
		k[ixLogWsState] = logAt(ws, state)
	}
	switch {
	case r.State == store.DeliveryPending:
		// The sequence breaks ties of due time in creation order (IDs made in the same
		// millisecond sort at random), as the memory store does.
		i := len(b)
		sub()
		b.time(r.NextAttemptAt)
		b.u64(r.Seq)
		b = append(b, r.ID...)
		k[ixQueue] = b.from(i)
		k[ixOpen] = b.openKey(r, openPending)
	case r.State == store.DeliveryHeld:
		k[ixOpen] = b.openKey(r, openHeld)
	case r.State.Final():
		i := len(b)
		b.time(r.UpdatedAt)
		b = append(b, r.ID...)
		k[ixDone] = b.from(i)
		i = len(b)
		sub()
		b.u64(r.Seq)
		k[ixDoneSub] = b.from(i)
	}
	return k
}

// keyBuf builds keys one after the other in one buffer. Each key is a slice of it whose
// capacity ends with the key, so that nothing appended later can reach it (a buffer that
// grows moves on, and the keys made before keep the old array).
type keyBuf []byte

func (b *keyBuf) pfx(id string) {
	*b = binary.AppendUvarint(*b, uint64(len(id)))
	*b = append(*b, id...)
}

func (b *keyBuf) time(t time.Time) { *b = appendTkey(*b, t) }
func (b *keyBuf) u64(n uint64)     { *b = binary.BigEndian.AppendUint64(*b, n) }

// from returns the key from i to the end.
func (b *keyBuf) from(i int) []byte { return (*b)[i:len(*b):len(*b)] }

func (b *keyBuf) openKey(r *dlvRecord, state byte) []byte {
	i := len(*b)
	b.pfx(r.SubscriptionID)
	*b = append(*b, state)
	b.time(r.CreatedAt)
	*b = append(*b, r.ID...)
	return b.from(i)
}

// valueIndexes are the indexes whose value is the delivery ID (the others end with it).
var valueIndexes = [nIndexes]bool{
	ixDoneSub: true, ixLog: true, ixLogWs: true, ixLogSub: true, ixLogEvent: true,
	ixLogState: true, ixLogWsState: true, ixLogSubState: true,
}

// save stores next in place of prev: the record, the index keys that changed, the
// subscription's place in due_subs, and the queue counters. prev nil creates the
// delivery, next nil removes it.
func (t *txn) save(prev, next *dlvRecord) error {
	var pk, nk indexKeys
	var pkState, nkState store.DeliveryState
	var sub, id string
	if prev != nil {
		pk, pkState, sub, id = keysOf(prev), prev.State, prev.SubscriptionID, prev.ID
	}
	if next != nil {
		nk, nkState, sub, id = keysOf(next), next.State, next.SubscriptionID, next.ID
	}
	if !bytes.Equal(pk[ixQueue], nk[ixQueue]) {
		t.queueMoves(sub)
	}
	for i := range nIndexes {
		if bytes.Equal(pk[i], nk[i]) {
			continue
		}
		b := t.indexBucket(i)
		if pk[i] != nil {
			if err := b.Delete(pk[i]); err != nil {
				return err
			}
		}
		if nk[i] != nil {
			v := empty
			if valueIndexes[i] {
				v = []byte(id)
			}
			if err := b.Put(nk[i], v); err != nil {
				return err
			}
		}
	}
	if pkState != nkState {
		c := t.counters(sub)
		tally := func(st store.DeliveryState, d int64) {
			switch {
			case st == store.DeliveryPending:
				c.pending += d
			case st == store.DeliveryHeld:
				c.held += d
			case st.Final():
				c.finished += d
			}
		}
		tally(pkState, -1)
		tally(nkState, +1)
	}
	if next == nil {
		return t.dlvs().Delete([]byte(id))
	}
	raw, err := encodeDelivery(next)
	if err != nil {
		return fmt.Errorf("storebolt: delivery %q: %w", id, err)
	}
	return t.dlvs().Put([]byte(id), raw)
}

// firstQueued returns a copy of the first queue key of a subscription: its delivery due
// first. nil when none is pending.
func (t *txn) firstQueued(sub string) []byte {
	prefix := pfx(sub)
	k, _ := t.queue().Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil
	}
	return bytes.Clone(k)
}

// dueSubKey is a subscription's due_subs key for its first queue key: due time and seq,
// then the subscription ID.
func dueSubKey(sub string, queueKey []byte) []byte {
	n := len(pfx(sub))
	return cat(queueKey[n:n+16], []byte(sub))
}

// moveDueSub moves a subscription's due_subs key from its old first queue key to its new
// one (either may be nil).
func (t *txn) moveDueSub(sub string, before, after []byte) error {
	if bytes.Equal(before, after) {
		return nil
	}
	if before != nil {
		if err := t.dueSubs().Delete(dueSubKey(sub, before)); err != nil {
			return err
		}
	}
	if after != nil {
		return t.dueSubs().Put(dueSubKey(sub, after), empty)
	}
	return nil
}

// subCounters are a subscription's counters (counts and fin_counts) as a write
// transaction has changed them: read at its first change, written once by flush however
// many deliveries of the subscription the transaction moves.
type subCounters struct {
	pending, held, finished int64
	// stored* are the values in the file, to write only what changed.
	storedPending, storedHeld, storedFinished int64
}

// counters returns a subscription's counters for this transaction to change.
func (t *txn) counters(sub string) *subCounters {
	if c := t.ctrs[sub]; c != nil {
		return c
	}
	if t.ctrs == nil {
		t.ctrs = make(map[string]*subCounters)
	}
	v := t.counts().Get([]byte(sub))
	c := &subCounters{pending: counter(v, 0), held: counter(v, 1), finished: counter(t.finCounts().Get([]byte(sub)), 0)}
	c.storedPending, c.storedHeld, c.storedFinished = c.pending, c.held, c.finished
	t.ctrs[sub] = c
	return c
}

// forgetCounts removes a subscription's pending and held counters (its finished counter
// stays: the figures of deleted subscriptions count).
func (t *txn) forgetCounts(sub string) error {
	if c := t.ctrs[sub]; c != nil {
		c.pending, c.held, c.storedPending, c.storedHeld = 0, 0, 0, 0
	}
	return t.counts().Delete([]byte(sub))
}

// countsOf returns a subscription's pending and held counters.
func (t *txn) countsOf(sub string) (pending, held int64) {
	if c := t.ctrs[sub]; c != nil {
		return c.pending, c.held
	}
	v := t.counts().Get([]byte(sub))
	return counter(v, 0), counter(v, 1)
}

// flushCounters writes the counters this transaction changed; values of all zeros are
// deleted.
func (t *txn) flushCounters() error {
	for sub, c := range t.ctrs {
		key := []byte(sub)
		if c.pending != c.storedPending || c.held != c.storedHeld {
			var err error
			if c.pending == 0 && c.held == 0 {
				err = t.counts().Delete(key)
			} else {
				v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(c.pending))
				err = t.counts().Put(key, binary.BigEndian.AppendUint64(v, uint64(c.held)))
			}
			if err != nil {
				return err
			}
			c.storedPending, c.storedHeld = c.pending, c.held
		}
		if c.finished != c.storedFinished {
			var err error
			if c.finished == 0 {
				err = t.finCounts().Delete(key)
			} else {
				err = t.finCounts().Put(key, u64(uint64(c.finished)))
			}
			if err != nil {
				return err
			}
			c.storedFinished = c.finished
		}
	}
	return nil
}

// queueMoves notes that a subscription's queue is about to change: its place in due_subs
// is moved once, by flushDueSubs, however many of its deliveries the transaction moves.
func (t *txn) queueMoves(sub string) {
	if _, ok := t.dueBefore[sub]; ok {
		return
	}
	if t.dueBefore == nil {
		t.dueBefore = make(map[string][]byte)
	}
	t.dueBefore[sub] = t.firstQueued(sub)
}

// flushDueSubs moves the due_subs keys of the subscriptions whose queue changed.
func (t *txn) flushDueSubs() error {
	for sub, before := range t.dueBefore {
		if err := t.moveDueSub(sub, before, t.firstQueued(sub)); err != nil {
			return err
		}
		delete(t.dueBefore, sub)
	}
	return nil
}

// counter reads the i-th big-endian int64 of v (0 when v is short).
func counter(v []byte, i int) int64 {
	if len(v) < 8*(i+1) {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v[8*i:]))
}

// setState moves a delivery to state at now, as every store does: only a pending delivery
// is scheduled or leased.
func setState(r *dlvRecord, state store.DeliveryState, now time.Time) {
	r.State = state
	r.UpdatedAt = now
	if state != store.DeliveryPending {
		r.NextAttemptAt = time.Time{}
		r.LeasedUntil = time.Time{}
	}
}

// update loads a delivery, changes it with fn and saves it; a missing one is skipped.
func (t *txn) update(id string, fn func(r *dlvRecord)) error {
	r, err := t.delivery(id)
	if err != nil || r == nil {
		return err
	}
	prev := *r
	fn(r)
	return t.save(&prev, r)
}
