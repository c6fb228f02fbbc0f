package storebolt

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The buckets of format 1 whose keys format 2 changed: they are dropped and rebuilt.
var (
	v1Due      = []byte("due")
	v1Rebuilds = [][]byte{bPatterns, v1Due, bLeasesV2, bLog, bLogSub, bLogEvent}
	// v2Rebuilt are the delivery indexes that migrate fills from the records.
	v2Rebuilt = []int{ixQueue, ixLog, ixLogWs, ixLogSub, ixLogEvent, ixLogState, ixLogWsState, ixLogSubState}
)

// migrate brings a file of format 1 (before workspaces) to format 2, in the transaction
// that opens it, and migrate2 then to format 3: everything in it belongs to the default
// workspace. The records (subscriptions, events, deliveries, figures) and the indexes
// whose keys did not change (open, done, done_sub, bare_events, subs_seq, counts,
// fin_counts) stay as they are; the others are rebuilt from the records, keyed as format
// 3 keys them. Leases are cleared.
func migrate(tx *bolt.Tx) error {
	for _, name := range v1Rebuilds {
		if tx.Bucket(name) == nil {
			continue
		}
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	t := newTxn(tx)

	// Subscriptions: the workspace listing and the fan-out index.
	err := t.subs().ForEach(func(k, v []byte) error {
		var r subRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return corrupt("subscription %q: %v", k, err)
		}
		if err := t.wsSubs().Put(cat(pfx(r.Workspace), u64(r.Seq)), []byte(r.ID)); err != nil {
			return err
		}
		return t.putPatterns(&r)
	})
	if err != nil {
		return err
	}

	// Deliveries: the queue and the log indexes; leases are dropped.
	var unleased []*dlvRecord
	pendingSubs := make(map[string]bool)
	err = t.dlvs().ForEach(func(k, v []byte) error {
		r, err := decodeDelivery(string(k), v)
		if err != nil {
			return err
		}
		if !r.LeasedUntil.IsZero() {
			r.LeasedUntil = time.Time{}
			unleased = append(unleased, r)
		}
		keys := keysOf(r)
		for _, i := range v2Rebuilt {
			if keys[i] == nil {
				continue
			}
			val := empty
			if valueIndexes[i] {
				val = []byte(r.ID)
			}
			if err := t.indexBucket(i).Put(keys[i], val); err != nil {
				return err
			}
		}
		if keys[ixQueue] != nil {
			pendingSubs[r.SubscriptionID] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range unleased {
		raw, err := encodeDelivery(r)
		if err != nil {
			return err
		}
		if err := t.dlvs().Put([]byte(r.ID), raw); err != nil {
			return err
		}
	}
	for sub := range pendingSubs {
		if err := t.moveDueSub(sub, nil, t.firstQueued(sub)); err != nil {
			return err
		}
	}
	return t.meta().Put(keyVersion, u64(formatVersion))
}

// migrate2 brings a file of format 2 to format 3, in the transaction that opens it. The
// deliveries that were in flight when it was last closed lose their leases (format 2
// cleared them at every Open too): they are due again at once, at their NextAttemptAt.
// The leases bucket, the leased counter and the default workspace's keys in log_ws,
// log_ws_state and ws_figures go.
func migrate2(tx *bolt.Tx) error {
	t := newTxn(tx)
	if lb := tx.Bucket(bLeasesV2); lb != nil {
		// Keys pfx(subID) tkey(lease end) dlvID, a subscription's together.
		var subs []string
		ids := make(map[string][]string)
		err := lb.ForEach(func(k, _ []byte) error {
			sub, rest, ok := splitPfx(k)
			if !ok || len(rest) <= 8 {
				return corrupt("lease key %q", k)
			}
			if ids[sub] == nil {
				subs = append(subs, sub)
			}
			ids[sub] = append(ids[sub], string(rest[8:]))
			return nil
		})
		if err != nil {
			return err
		}
		for _, sub := range subs {
			before := t.firstQueued(sub)
			for _, id := range ids[sub] {
				if err := unlease(t, id); err != nil {
					return err
				}
			}
			if err := t.moveDueSub(sub, before, t.firstQueued(sub)); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket(bLeasesV2); err != nil {
			return err
		}
	}

	// counts: pending, held (leased) -> pending, held.
	type kv struct{ k, v []byte }
	var short []kv
	err := t.counts().ForEach(func(k, v []byte) error {
		if len(v) > 16 {
			short = append(short, kv{bytes.Clone(k), bytes.Clone(v[:16])})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range short {
		if err := t.counts().Put(e.k, e.v); err != nil {
			return err
		}
		if counter(e.v, 0) == 0 && counter(e.v, 1) == 0 {
			if err := t.counts().Delete(e.k); err != nil {
				return err
			}
		}
	}

	// The default workspace's keys, first in log_ws and log_ws_state (pfx("") sorts first).
	for _, name := range [][]byte{bLogWs, bLogWsState} {
		if err := dropDefaultWorkspace(tx, name); err != nil {
			return err
		}
	}
	if err := t.wsFigures().Delete(pfx("")); err != nil {
		return err
	}
	return t.meta().Put(keyVersion, u64(formatVersion))
}

// unlease clears the lease that format 2 stored in a delivery's record, and moves its
// queue key from the lease end to its NextAttemptAt.
func unlease(t *txn, id string) error {
	r, err := t.delivery(id)
	if err != nil || r == nil || r.LeasedUntil.IsZero() {
		return err
	}
	old := cat(pfx(r.SubscriptionID), tkey(r.LeasedUntil), u64(r.Seq), []byte(r.ID))
	if err := t.queue().Delete(old); err != nil {
		return err
	}
	r.LeasedUntil = time.Time{}
	if k := keysOf(r)[ixQueue]; k != nil {
		if err := t.queue().Put(k, empty); err != nil {
			return err
		}
	}
	raw, err := encodeDelivery(r)
	if err != nil {
		return err
	}
	return t.dlvs().Put([]byte(id), raw)
}

// dropDefaultWorkspace removes the keys of the default workspace from a bucket keyed by
// pfx(ws) first: the whole bucket when it holds no other.
func dropDefaultWorkspace(tx *bolt.Tx, name []byte) error {
	b := tx.Bucket(name)
	prefix := pfx("")
	c := b.Cursor()
	if k, _ := c.Seek(prefixEnd(prefix)); k == nil {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
		_, err := tx.CreateBucket(name)
		return err
	}
	var keys [][]byte
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
