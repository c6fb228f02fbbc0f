package storepg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shophooks/webhook/store"
)

// maxRecordBatch caps the RecordAttempt calls that share one transaction.
const maxRecordBatch = 128

// figureShards is the number of rows the workspace and overall figures are spread over.
const figureShards = 16

var (
	// qRecord appends an attempt to a delivery and moves it to its next state, as
	// RecordAttempt says: a delivery no longer pending keeps its state; a retry of a
	// delivery whose subscription is gone is cancelled, one whose subscription is inactive
	// is held or cancelled. A retry writes a hint for the claims.
	qRecord = query(`
WITH cur AS (
    SELECT d.seq, d.workspace, d.sub_id, s.state, s.attempts,
           sub.id IS NOT NULL AS sub_exists,
           coalesce(sub.status, '') AS sub_status, coalesce(sub.while_inactive, '') AS while_inactive
    FROM {{schema}}.deliveries d
    JOIN {{schema}}.delivery_state s ON s.seq = d.seq
    LEFT JOIN {{schema}}.subscriptions sub ON sub.id = d.sub_id
    WHERE d.id = $1
    FOR UPDATE OF s
),
nxt AS (
    SELECT cur.*, CASE
        WHEN cur.state <> 'pending' THEN cur.state
        WHEN NOT cur.sub_exists THEN 'cancelled'
        WHEN $2::text = 'pending' AND cur.sub_status <> 'active' THEN
            CASE WHEN cur.while_inactive = 'hold' THEN 'held' ELSE 'cancelled' END
        ELSE $2::text END AS new_state
    FROM cur
),
att AS (
    INSERT INTO {{schema}}.attempts (delivery_seq, n, number, sent_at, duration, status_code, response_body,
                                     error, error_kind, outcome, next_attempt_at, test)
    SELECT nxt.seq, nxt.attempts + 1, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM nxt
),
upd AS (
    UPDATE {{schema}}.delivery_state s SET
        state = nxt.new_state,
        attempts = nxt.attempts + 1,
        leased_until = NULL,
        updated_at = $4::timestamptz,
        due_at = CASE WHEN nxt.new_state = 'pending' THEN $3::timestamptz END,
        next_attempt_at = CASE WHEN nxt.new_state = 'pending' THEN $3::timestamptz END
    FROM nxt WHERE s.seq = nxt.seq
    RETURNING s.*
),
hint AS (
    INSERT INTO {{schema}}.hints (sub_id, due)
    SELECT nxt.sub_id, $3::timestamptz FROM nxt WHERE nxt.new_state = 'pending'
)
SELECT nxt.state, nxt.sub_exists, ` + dlvCols + `
FROM nxt JOIN upd s ON s.seq = nxt.seq JOIN {{schema}}.deliveries d ON d.seq = nxt.seq`)

	qAttemptsByID = query(`SELECT ` + attemptCols + ` FROM {{schema}}.attempts a
JOIN {{schema}}.deliveries d ON d.seq = a.delivery_seq WHERE d.id = $1 ORDER BY a.n`)

	// qDeactivateFor deactivates the subscription of delivery $1 unless it is inactive
	// already, and holds or cancels its pending deliveries not in flight.
	qDeactivateFor = query(`
WITH sub AS (
    UPDATE {{schema}}.subscriptions s
    SET status = 'inactive', status_reason = $2, status_changed_at = $3, updated_at = $3
    FROM {{schema}}.deliveries d
    WHERE d.id = $1 AND s.id = d.sub_id AND s.status <> 'inactive'
    RETURNING s.id, s.while_inactive
)
UPDATE {{schema}}.delivery_state x
SET state = CASE WHEN sub.while_inactive = 'hold' THEN 'held' ELSE 'cancelled' END,
    due_at = NULL, next_attempt_at = NULL, updated_at = $3
FROM sub WHERE x.sub_id = sub.id AND x.due_at IS NOT NULL AND x.leased_until IS NULL`)

	// qDeleteFor deletes the subscription of delivery $1, as DeleteSubscription does, and
	// answers its ID.
	qDeleteFor = query(`
WITH sub AS (
    DELETE FROM {{schema}}.subscriptions s USING {{schema}}.deliveries d
    WHERE d.id = $1 AND s.id = d.sub_id
    RETURNING s.id
),
cancelled AS (
    UPDATE {{schema}}.delivery_state x
    SET state = 'cancelled', due_at = NULL, leased_until = NULL, next_attempt_at = NULL, updated_at = $2
    FROM sub WHERE x.sub_id = sub.id AND (x.due_at IS NOT NULL OR x.state = 'held')
),
figures AS (
    DELETE FROM {{schema}}.figures f USING sub WHERE f.scope = 's' AND f.key = sub.id
),
head AS (
    DELETE FROM {{schema}}.heads h USING sub WHERE h.sub_id = sub.id
)
SELECT id FROM sub`)

	// qAddFigures adds a batch's figures to one row; $14 says whether the batch had a
	// success, which ends the failure run before the batch's own. A subscription's row
	// is written only while the subscription exists.
	qAddFigures = query(`
INSERT INTO {{schema}}.figures AS f (scope, key, shard, attempts, succeeded, failed, deliveries_succeeded,
    deliveries_failed, duration_sum, errors, buckets, run_count, run_since)
SELECT $1::text, $2::text, $3::smallint, $4::bigint, $5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::bigint,
       $10::jsonb, $11::jsonb, $12::bigint, $13::timestamptz
WHERE $1::text <> 's' OR EXISTS (SELECT 1 FROM {{schema}}.subscriptions WHERE id = $2::text)
ON CONFLICT (scope, key, shard) DO UPDATE SET
    attempts = f.attempts + EXCLUDED.attempts,
    succeeded = f.succeeded + EXCLUDED.succeeded,
    failed = f.failed + EXCLUDED.failed,
    deliveries_succeeded = f.deliveries_succeeded + EXCLUDED.deliveries_succeeded,
    deliveries_failed = f.deliveries_failed + EXCLUDED.deliveries_failed,
    duration_sum = f.duration_sum + EXCLUDED.duration_sum,
    errors = {{schema}}.add_counts(f.errors, EXCLUDED.errors),
    buckets = {{schema}}.add_counts(f.buckets, EXCLUDED.buckets),
    run_count = CASE WHEN $14::boolean THEN EXCLUDED.run_count ELSE f.run_count + EXCLUDED.run_count END,
    run_since = CASE WHEN $14::boolean OR f.run_count = 0 THEN EXCLUDED.run_since ELSE f.run_since END`)
)

// RecordAttempt implements store.Store. Concurrent calls share one transaction (group
// commit), which is committed (synchronously) before they return.
func (s *Store) RecordAttempt(ctx context.Context, rec store.AttemptRecord) (store.Delivery, error) {
	return s.records.do(ctx, rec)
}

// recordResult is what one record led to.
type recordResult struct {
	d   store.Delivery
	err error // only ErrNotFound: other errors fail the whole transaction
}

// recordBatch records the calls' attempts in one transaction. If it fails, each runs in
// its own, so that one failure fails only its own call.
func (s *Store) recordBatch(ctx context.Context, calls []*call[store.AttemptRecord, store.Delivery]) func(context.Context) {
	recs := make([]store.AttemptRecord, len(calls))
	for i, c := range calls {
		recs[i] = c.req
	}
	res, err := s.recordTx(ctx, recs)
	if err == nil {
		for i, c := range calls {
			c.res, c.err = res[i].d, res[i].err
		}
		return nil
	}
	if len(calls) == 1 {
		calls[0].err = wrap(err)
		return nil
	}
	for _, c := range calls {
		res, err := s.recordTx(ctx, []store.AttemptRecord{c.req})
		if err != nil {
			c.err = wrap(err)
			continue
		}
		c.res, c.err = res[0].d, res[0].err
	}
	return nil
}

// recordTx applies recs in one transaction, committed without waiting for the disk (a
// record lost to a crash of the database server means the delivery is sent again), run
// again when PostgreSQL aborted it for a deadlock.
func (s *Store) recordTx(ctx context.Context, recs []store.AttemptRecord) ([]recordResult, error) {
	for try := 0; ; try++ {
		res, err := func() ([]recordResult, error) {
			p, err := s.beginPipe(ctx, true)
			if err != nil {
				return nil, err
			}
			defer p.release()
			return s.record(ctx, p, recs)
		}()
		if err != nil && retryable(err) && try < 2 {
			continue
		}
		return res, err
	}
}

// figKey names one row of figures.
type figKey struct {
	scope string
	key   string
	shard int16
}

// figDelta is what a batch adds to one row of figures.
type figDelta struct {
	f     store.Figures
	reset bool // an attempt succeeded: the stored failure run ended
}

// record applies recs in order in p, and commits: two round trips.
func (s *Store) record(ctx context.Context, p *pipe, recs []store.AttemptRecord) ([]recordResult, error) {
	b := &pgx.Batch{}
	for _, rec := range recs {
		a := rec.Attempt
		end := a.SentAt.Add(a.Duration)
		next := rec.NextAttemptAt
		if rec.State == store.DeliveryPending && next.IsZero() {
			next = end
		}
		b.Queue(s.sql(qRecord), rec.DeliveryID, string(rec.State), nullTime(next), end,
			int32(a.Number), a.SentAt, int64(a.Duration), int32(a.StatusCode), []byte(a.ResponseBody), []byte(a.Error),
			string(a.ErrorKind), string(a.Outcome), nullTime(a.NextAttemptAt), a.Test)
		b.Queue(s.sql(qAttemptsByID), rec.DeliveryID)
		switch rec.Action {
		case store.ActionDeactivate:
			b.Queue(s.sql(qDeactivateFor), rec.DeliveryID, rec.Reason, end)
		case store.ActionDelete:
			b.Queue(s.sql(qDeleteFor), rec.DeliveryID, end)
		}
	}
	br, err := p.send(ctx, b, false)
	if err != nil {
		return nil, err
	}
	out := make([]recordResult, len(recs))
	shard := int16(rand.N(figureShards))
	deltas := make(map[figKey]*figDelta)
	add := func(k figKey, a store.Attempt, ended store.DeliveryState) {
		d := deltas[k]
		if d == nil {
			d = &figDelta{}
			deltas[k] = d
		}
		d.f.Observe(a, ended)
		d.reset = d.reset || a.Succeeded()
	}
	deleted := make(map[string]bool) // subscriptions deleted by this batch
	for i, rec := range recs {
		var before string
		var subExists bool
		r, err := scanDelivery(rowWithFirsts{br.QueryRow(), []any{&before, &subExists}})
		found := err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			out[i].err = notFound("delivery", rec.DeliveryID)
		} else if err != nil {
			br.Close()
			return nil, err
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return nil, err
		}
		for rows.Next() {
			_, a, err := scanAttempt(rows)
			if err != nil {
				rows.Close()
				br.Close()
				return nil, err
			}
			r.d.Attempts = append(r.d.Attempts, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			br.Close()
			return nil, err
		}
		switch rec.Action {
		case store.ActionDeactivate:
			if _, err := br.Exec(); err != nil {
				br.Close()
				return nil, err
			}
		case store.ActionDelete:
			var gone string
			err := br.QueryRow().Scan(&gone)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				br.Close()
				return nil, err
			}
			if err == nil {
				deleted[gone] = true
			}
		}
		if !found {
			continue
		}
		out[i].d = r.d
		if rec.Attempt.Test {
			continue
		}
		// The delivery counts as succeeded or failed only if this attempt finished it.
		ended := r.d.State
		if string(ended) == before {
			ended = ""
		}
		if subExists && !deleted[r.d.SubscriptionID] {
			add(figKey{"s", r.d.SubscriptionID, 0}, rec.Attempt, ended)
		}
		add(figKey{"w", r.d.Workspace, shard}, rec.Attempt, ended)
		add(figKey{"o", "", shard}, rec.Attempt, ended)
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	for k := range deltas {
		if k.scope == "s" && deleted[k.key] {
			delete(deltas, k)
		}
	}
	// In key order, so that concurrent batches lock the rows in the same order.
	keys := make([]figKey, 0, len(deltas))
	for k := range deltas {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b figKey) int {
		return cmp.Or(cmp.Compare(a.scope, b.scope), cmp.Compare(a.key, b.key), cmp.Compare(a.shard, b.shard))
	})
	fb := &pgx.Batch{}
	for _, k := range keys {
		d := deltas[k]
		f := d.f
		fb.Queue(s.sql(qAddFigures), k.scope, k.key, k.shard, f.Attempts, f.Succeeded, f.Failed,
			f.DeliveriesSucceeded, f.DeliveriesFailed, int64(f.DurationSum), errorCounts(f.ErrorsByKind),
			bucketCounts(f.Buckets), f.Run.Count, nullTime(f.Run.Since), d.reset)
	}
	fr, err := p.send(ctx, fb, true)
	if err != nil {
		return nil, err
	}
	for range keys {
		if _, err := fr.Exec(); err != nil {
			fr.Close()
			return nil, err
		}
	}
	if err := p.end(fr, true); err != nil {
		return nil, err
	}
	return out, nil
}

// errorCounts and bucketCounts are the JSON objects figures keep counts in.
func errorCounts(m map[store.ErrorKind]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

func bucketCounts(b []int64) map[string]int64 {
	out := make(map[string]int64)
	for i, v := range b {
		if v != 0 {
			out[strconv.Itoa(i)] = v
		}
	}
	return out
}

var (
	qRedeliverCheck = query(`
SELECT s.seq, s.leased_until, sub.id IS NOT NULL, coalesce(sub.status, ''), d.sub_id
FROM {{schema}}.deliveries d
JOIN {{schema}}.delivery_state s ON s.seq = d.seq
LEFT JOIN {{schema}}.subscriptions sub ON sub.id = d.sub_id
WHERE d.id = $1
FOR UPDATE OF s`)
	qRedeliver = query(`
WITH upd AS (
    UPDATE {{schema}}.delivery_state
    SET state = 'pending', due_at = $2, next_attempt_at = $2, leased_until = NULL, round_start = attempts,
        test = false, updated_at = $2
    WHERE seq = $1
    RETURNING sub_id
),
hint AS (
    INSERT INTO {{schema}}.hints (sub_id, due) SELECT sub_id, $2 FROM upd
)
SELECT pg_notify($3, $4)`)
)

// Redeliver implements store.Store. It wakes every instance's scheduler.
func (s *Store) Redeliver(ctx context.Context, id string, now time.Time) (store.Delivery, error) {
	var out store.Delivery
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var seq int64
		var leased *time.Time
		var subExists bool
		var status, subID string
		err := tx.QueryRow(ctx, s.sql(qRedeliverCheck), id).Scan(&seq, &leased, &subExists, &status, &subID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return notFound("delivery", id)
		case err != nil:
			return err
		case !subExists:
			return fmt.Errorf("delivery %q: %w", id, notFound("subscription", subID))
		case status != string(store.StatusActive):
			return fmt.Errorf("delivery %q: subscription %q: %w", id, subID, store.ErrInactive)
		case leased != nil && leased.After(now):
			return fmt.Errorf("delivery %q: %w", id, store.ErrInFlight)
		}
		if _, err := tx.Exec(ctx, s.sql(qRedeliver), seq, now, s.channel, s.self); err != nil {
			return err
		}
		out, err = s.delivery(ctx, tx, id)
		return err
	})
	if err != nil {
		return store.Delivery{}, storeErr(err)
	}
	return out, nil
}
