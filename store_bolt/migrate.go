package storebolt

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The buckets of format 1 whose keys format 2 changed: they are dropped and rebuilt.
var (
	v1Due      = []byte("due")
	v1Rebuilds = [][]byte{bPatterns, v1Due, bLeases, bLog, bLogSub, bLogEvent}
	// v2Rebuilt are the delivery indexes that migrate fills from the records.
	v2Rebuilt = []int{ixQueue, ixLog, ixLogWs, ixLogSub, ixLogEvent, ixLogState, ixLogWsState, ixLogSubState}
)

// migrate brings a file of format 1 (before workspaces) to format 2, in the transaction
// that opens it: everything in it belongs to the default workspace. The records
// (subscriptions, events, deliveries, figures) and the indexes whose keys did not change
// (open, done, done_sub, bare_events, subs_seq, counts, fin_counts) stay as they are;
// the others are rebuilt from the records. Leases are cleared here, as at every Open.
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

	// The default workspace's figures are the overall ones.
	if raw := t.meta().Get(keyFigures); raw != nil {
		if err := t.wsFigures().Put(pfx(""), raw); err != nil {
			return err
		}
	}

	// Deliveries: the queue and the log indexes; leases are dropped.
	var unleased []*dlvRecord
	pendingSubs := make(map[string]bool)
	err = t.dlvs().ForEach(func(k, v []byte) error {
		r := new(dlvRecord)
		if err := json.Unmarshal(v, r); err != nil {
			return corrupt("delivery %q: %v", k, err)
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
		raw, err := json.Marshal(r)
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
