package storebolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/store"
)

// The delivery indexes. Each delivery has at most one key in each, computed from its
// fields by indexKeys; save moves the keys that changed.
const (
	ixDue = iota
	ixLease
	ixOpen
	ixDone
	ixDoneSub
	ixLog
	ixLogSub
	ixLogEvent
	nIndexes
)

type indexKeys [nIndexes][]byte

func (t *txn) indexBucket(i int) *bolt.Bucket {
	return [nIndexes]*bolt.Bucket{t.due, t.leases, t.open, t.done, t.doneSub, t.log, t.logSub, t.logEvent}[i]
}

// keysOf returns the index keys of a delivery as it stands.
func keysOf(r *dlvRecord) indexKeys {
	var k indexKeys
	id := []byte(r.ID)
	seq := u64(r.Seq)
	k[ixLog] = seq
	k[ixLogSub] = cat(pfx(r.SubscriptionID), seq)
	k[ixLogEvent] = cat(pfx(r.EventID), seq)
	switch {
	case r.State == store.DeliveryPending:
		// The sequence breaks ties of due time in creation order (IDs made in the same
		// millisecond sort at random), as the memory store does.
		k[ixDue] = cat(tkey(dueAt(r)), seq, id)
		if !r.LeasedUntil.IsZero() {
			k[ixLease] = id
		}
		k[ixOpen] = cat(pfx(r.SubscriptionID), []byte{openPending}, tkey(r.CreatedAt), id)
	case r.State == store.DeliveryHeld:
		k[ixOpen] = cat(pfx(r.SubscriptionID), []byte{openHeld}, tkey(r.CreatedAt), id)
	case r.State.Final():
		k[ixDone] = cat(tkey(r.UpdatedAt), id)
		k[ixDoneSub] = cat(pfx(r.SubscriptionID), seq)
	}
	return k
}

// dueAt is when a pending delivery is next due: its lease end while in flight.
func dueAt(r *dlvRecord) time.Time {
	if !r.LeasedUntil.IsZero() {
		return r.LeasedUntil
	}
	return r.NextAttemptAt
}

// save stores next in place of prev: the record, the index keys that changed, and the
// queue counters. prev nil creates the delivery, next nil removes it.
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
			if i == ixDoneSub || i == ixLog || i == ixLogSub || i == ixLogEvent {
				v = []byte(id)
			}
			if err := b.Put(nk[i], v); err != nil {
				return err
			}
		}
	}
	if pkState != nkState {
		var dp, dh, df int64
		tally := func(st store.DeliveryState, d int64) {
			switch {
			case st == store.DeliveryPending:
				dp += d
			case st == store.DeliveryHeld:
				dh += d
			case st.Final():
				df += d
			}
		}
		tally(pkState, -1)
		tally(nkState, +1)
		if err := t.addCounts(sub, dp, dh); err != nil {
			return err
		}
		if err := addCounter(t.finCounts, []byte(sub), 0, df); err != nil {
			return err
		}
	}
	if next == nil {
		return t.dlvs.Delete([]byte(id))
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("storebolt: delivery %q: %w", id, err)
	}
	return t.dlvs.Put([]byte(id), raw)
}

// addCounts adds to a subscription's pending and held counters.
func (t *txn) addCounts(sub string, pending, held int64) error {
	if err := addCounter(t.counts, []byte(sub), 0, pending); err != nil {
		return err
	}
	return addCounter(t.counts, []byte(sub), 1, held)
}

// countsOf returns a subscription's pending and held counters.
func (t *txn) countsOf(sub string) (pending, held int64) {
	v := t.counts.Get([]byte(sub))
	return counter(v, 0), counter(v, 1)
}

// counter reads the i-th big-endian int64 of v (0 when v is short).
func counter(v []byte, i int) int64 {
	if len(v) < 8*(i+1) {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v[8*i:]))
}

// addCounter adds delta to the i-th int64 under key in b; a value of all zeros is deleted.
func addCounter(b *bolt.Bucket, key []byte, i int, delta int64) error {
	if delta == 0 {
		return nil
	}
	old := b.Get(key)
	n := max(len(old), 8*(i+1))
	v := make([]byte, n)
	copy(v, old)
	binary.BigEndian.PutUint64(v[8*i:], uint64(counter(v, i)+delta))
	if bytes.Equal(v, make([]byte, n)) {
		return b.Delete(key)
	}
	return b.Put(key, v)
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
