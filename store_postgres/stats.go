package storepg

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shophooks/webhook/store"
)

// figCols are the columns scanFigures reads, in its order.
const figCols = `f.attempts, f.succeeded, f.failed, f.deliveries_succeeded, f.deliveries_failed, f.duration_sum,
    f.errors, f.buckets, f.run_count, f.run_since`

func scanFigures(row pgx.Row, first ...any) (store.Figures, error) {
	var f store.Figures
	var duration int64
	var errs, buckets map[string]int64
	var runSince *time.Time
	dest := append(first, &f.Attempts, &f.Succeeded, &f.Failed, &f.DeliveriesSucceeded, &f.DeliveriesFailed,
		&duration, &errs, &buckets, &f.Run.Count, &runSince)
	if err := row.Scan(dest...); err != nil {
		return store.Figures{}, err
	}
	f.DurationSum = time.Duration(duration)
	if len(errs) > 0 {
		f.ErrorsByKind = make(map[store.ErrorKind]int64, len(errs))
		for k, v := range errs {
			f.ErrorsByKind[store.ErrorKind(k)] = v
		}
	}
	if len(buckets) > 0 {
		f.Buckets = make([]int64, store.BucketOf(math.MaxInt64)+1)
		for k, v := range buckets {
			if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < len(f.Buckets) {
				f.Buckets[i] = v
			}
		}
	}
	if runSince != nil {
		f.Run.Since = runSince.UTC()
	}
	return f, nil
}

var (
	// qTotals adds up the shards of the overall ($1 = 'o') or one workspace's figures.
	qTotals = query(`SELECT ` + figCols + ` FROM {{schema}}.figures f WHERE f.scope = $1 AND f.key = $2`)
	// qSubFigures reads the figures and queue depths of every subscription (qSubFiguresIn:
	// of one workspace's, through its index). Queue depths are counted in the queue
	// (pending) and through the partial index of held deliveries.
	qSubFigures   = query(subFigures + ` ORDER BY sub.seq`)
	qSubFiguresIn = query(subFigures + ` WHERE sub.workspace = $1 ORDER BY sub.seq`)
)

const subFigures = `
SELECT sub.id,
       (SELECT count(*) FROM {{schema}}.queue x WHERE x.sub_id = sub.id),
       (SELECT count(*) FROM {{schema}}.delivery_state x WHERE x.sub_id = sub.id AND x.state = 'held'),
       (SELECT min(x.created_at) FROM {{schema}}.queue x WHERE x.sub_id = sub.id),
       ` + figColsNullable + `
FROM {{schema}}.subscriptions sub
LEFT JOIN {{schema}}.figures f ON f.scope = 's' AND f.key = sub.id AND f.shard = 0`

// figColsNullable are figCols with defaults for the missing side of an outer join.
const figColsNullable = `coalesce(f.attempts, 0), coalesce(f.succeeded, 0), coalesce(f.failed, 0),
    coalesce(f.deliveries_succeeded, 0), coalesce(f.deliveries_failed, 0), coalesce(f.duration_sum, 0),
    coalesce(f.errors, '{}'), coalesce(f.buckets, '{}'), coalesce(f.run_count, 0), f.run_since`

var (
	// qSlots reads the recent slots of one scope and key, and of the subscriptions
	// (qSlotsIn: of one workspace's), added up over shards.
	qSlots = query(`
SELECT f.scope, f.key, f.width, f.start, sum(f.attempts), sum(f.succeeded), sum(f.deliveries_succeeded),
       sum(f.deliveries_failed), jsonb_agg(f.errors), sum(f.duration_sum), max(f.max_duration)
FROM {{schema}}.figure_slots f
WHERE f.start >= $3 AND ((f.scope = $1 AND f.key = $2) OR (f.scope = 's' AND ($4 = '' OR f.key IN
      (SELECT sub.id FROM {{schema}}.subscriptions sub WHERE sub.workspace = $4))))
GROUP BY f.scope, f.key, f.width, f.start
ORDER BY f.start`)
)

// readSlots reads the recent time slots of the Stats: the figures' Recent and Daily, by
// "scope key".
func (s *Store) readSlots(ctx context.Context, tx pgx.Tx, scope, key, workspace string, now time.Time) (map[string]store.Figures, error) {
	rows, err := tx.Query(ctx, s.sql(qSlots), scope, key, now.Add(-slotsKept), workspace)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]store.Figures)
	for rows.Next() {
		var sc, k, width string
		var sl store.Slot
		var errs []byte // a JSON array of the shards' counts
		var sum, mx int64
		if err := rows.Scan(&sc, &k, &width, &sl.Start, &sl.Attempts, &sl.Succeeded, &sl.DeliveriesSucceeded,
			&sl.DeliveriesFailed, &errs, &sum, &mx); err != nil {
			return nil, err
		}
		sl.Start = sl.Start.UTC()
		sl.DurationSum, sl.MaxDuration = time.Duration(sum), time.Duration(mx)
		var shards []map[store.ErrorKind]int64
		if err := json.Unmarshal(errs, &shards); err != nil {
			return nil, fmt.Errorf("storepg: decoding slot errors: %w", err)
		}
		for _, m := range shards {
			for kind, n := range m {
				if sl.ErrorsByKind == nil {
					sl.ErrorsByKind = make(map[store.ErrorKind]int64)
				}
				sl.ErrorsByKind[kind] += n
			}
		}
		f := out[sc+" "+k]
		if width == "r" {
			f.Recent = append(f.Recent, sl)
		} else {
			f.Daily = append(f.Daily, sl)
		}
		out[sc+" "+k] = f
	}
	return out, rows.Err()
}

// Stats implements store.Store. The figures are running totals written by RecordAttempt;
// the queue depths are counted at the time of the call.
func (s *Store) Stats(ctx context.Context, workspace string, now time.Time) (store.Stats, error) {
	var st store.Stats
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		scope, key := "o", ""
		if workspace != "" {
			scope, key = "w", workspace
		}
		rows, err := tx.Query(ctx, s.sql(qTotals), scope, key)
		if err != nil {
			return err
		}
		var overall store.Figures
		for rows.Next() {
			f, err := scanFigures(rows)
			if err != nil {
				rows.Close()
				return err
			}
			overall.Merge(f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slots, err := s.readSlots(ctx, tx, scope, key, workspace, now)
		if err != nil {
			return err
		}
		overall.Merge(slots[scope+" "+key])
		st = store.Stats{Overall: overall.HealthAt(now), Subscriptions: make(map[string]store.Health)}
		if workspace == "" {
			rows, err = tx.Query(ctx, s.sql(qSubFigures))
		} else {
			rows, err = tx.Query(ctx, s.sql(qSubFiguresIn), workspace)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		var oldestAll time.Time
		for rows.Next() {
			var id string
			var pending, held int64
			var oldest *time.Time
			f, err := scanFigures(rows, &id, &pending, &held, &oldest)
			if err != nil {
				return err
			}
			f.Merge(slots["s "+id])
			h := f.HealthAt(now)
			h.Pending, h.Held = pending, held
			if oldest != nil {
				h.OldestPendingAge = max(0, now.Sub(*oldest))
				if oldestAll.IsZero() || oldest.Before(oldestAll) {
					oldestAll = *oldest
				}
			}
			st.Subscriptions[id] = h
			st.Overall.Pending += pending
			st.Overall.Held += held
		}
		if !oldestAll.IsZero() {
			st.Overall.OldestPendingAge = max(0, now.Sub(oldestAll))
		}
		return rows.Err()
	})
	if err != nil {
		return store.Stats{}, wrap(err)
	}
	return st, nil
}
