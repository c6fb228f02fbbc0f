package storepg

import (
	"cmp"
	"context"
	"encoding/json"
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
	// qRecord appends an attempt to each delivery of a batch and moves it to its next
	// state, as RecordAttempt says, in one statement: a delivery no longer pending keeps
	// its state; a retry of a delivery whose subscription is gone is cancelled, one whose
	// subscription is inactive is held or cancelled. Retries write hints for the claims.
	// The deliveries ($1) are all different; each answer carries its record's ordinal,
	// and a delivery not found has none. The delivery rows are locked in key order, so
	// that concurrent batches do not deadlock.
	qRecord = query(`
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int[],
                         $6::timestamptz[], $7::bigint[], $8::int[], $9::bytea[], $10::bytea[], $11::text[],
                         $12::text[], $13::timestamptz[], $14::boolean[])
        WITH ORDINALITY AS t(id, state, next, ended, number, sent_at, duration, status_code, response_body,
                             error, error_kind, outcome, next_attempt_at, test, ord)
),
cur AS (
    SELECT i.*, d.seq, d.sub_id, s.state AS was, s.attempts,
           sub.id IS NOT NULL AS sub_exists,
           coalesce(sub.status, '') AS sub_status, coalesce(sub.while_inactive, '') AS while_inactive
    FROM input i
    JOIN {{schema}}.deliveries d ON d.id = i.id
    JOIN {{schema}}.delivery_state s ON s.seq = d.seq
    LEFT JOIN {{schema}}.subscriptions sub ON sub.id = d.sub_id
    ORDER BY d.seq
    FOR UPDATE OF s
),
nxt AS (
    SELECT cur.*, CASE
        WHEN cur.was <> 'pending' THEN cur.was
        WHEN NOT cur.sub_exists THEN 'cancelled'
        WHEN cur.state = 'pending' AND cur.sub_status <> 'active' THEN
            CASE WHEN cur.while_inactive = 'hold' THEN 'held' ELSE 'cancelled' END
        ELSE cur.state END AS new_state
    FROM cur
),
att AS (
    INSERT INTO {{schema}}.attempts (delivery_seq, n, number, sent_at, duration, status_code, response_body,
                                     error, error_kind, outcome, next_attempt_at, test)
    SELECT seq, attempts + 1, number, sent_at, duration, status_code, response_body, error, error_kind,
           outcome, next_attempt_at, test
    FROM nxt ORDER BY seq
),
upd AS (
    UPDATE {{schema}}.delivery_state s SET
        state = nxt.new_state,
        attempts = nxt.attempts + 1,
        updated_at = nxt.ended,
        next_attempt_at = CASE WHEN nxt.new_state = 'pending' THEN nxt.next END,
        finished_at = CASE WHEN nxt.new_state IN ('succeeded', 'failed', 'cancelled') THEN nxt.ended END
    FROM nxt WHERE s.seq = nxt.seq
    RETURNING s.*, nxt.ord, nxt.was, nxt.sub_exists, nxt.attempts AS before_attempts
),
dequeue AS (
    DELETE FROM {{schema}}.queue q USING nxt WHERE q.seq = nxt.seq AND nxt.new_state <> 'pending'
),
requeue AS (
    UPDATE {{schema}}.queue q SET due_at = nxt.next, leased_until = NULL
    FROM nxt WHERE q.seq = nxt.seq AND nxt.new_state = 'pending'
),
hint AS (
    INSERT INTO {{schema}}.hints (sub_id, due)
    SELECT sub_id, min(next) FROM nxt WHERE new_state = 'pending' GROUP BY sub_id
)
SELECT s.ord, s.was, s.sub_exists,
       CASE WHEN s.before_attempts > 0 THEN (` + attemptsJSON + `) END,
       ` + dlvCols + `
FROM upd s JOIN {{schema}}.deliveries d ON d.seq = s.seq
CROSS JOIN (SELECT NULL::timestamptz AS leased_until) q
ORDER BY s.ord`)

	// qDeactivateFor deactivates the subscription of delivery $1 unless it is inactive
	// already, and holds or cancels its pending deliveries not in flight.
	qDeactivateFor = query(`
WITH sub AS (
    UPDATE {{schema}}.subscriptions s
    SET status = 'inactive', status_reason = $2, status_changed_at = $3, updated_at = $3
    FROM {{schema}}.deliveries d
    WHERE d.id = $1 AND s.id = d.sub_id AND s.status <> 'inactive'
    RETURNING s.id, s.while_inactive
),
gone AS (
    DELETE FROM {{schema}}.queue q USING sub WHERE q.sub_id = sub.id AND q.leased_until IS NULL
    RETURNING q.seq, sub.while_inactive = 'hold' AS hold
)
UPDATE {{schema}}.delivery_state x
SET state = CASE WHEN gone.hold THEN 'held' ELSE 'cancelled' END,
    next_attempt_at = NULL, updated_at = $3, finished_at = CASE WHEN gone.hold THEN NULL ELSE $3::timestamptz END
FROM gone WHERE x.seq = gone.seq`)

	// qDeleteFor deletes the subscription of delivery $1, as DeleteSubscription does, and
	// answers its ID.
	qDeleteFor = query(`
WITH sub AS (
    DELETE FROM {{schema}}.subscriptions s USING {{schema}}.deliveries d
    WHERE d.id = $1 AND s.id = d.sub_id
    RETURNING s.id
),` + cancelOpen + `

figures AS (
    DELETE FROM {{schema}}.figures f USING sub WHERE f.scope = 's' AND f.key = sub.id
),
head AS (
    DELETE FROM {{schema}}.heads h USING sub WHERE h.sub_id = sub.id
)
SELECT id FROM sub`)

	// qAddFigures adds a batch's figures ($1-$14) and time slots (store.Figures' Recent
	// and Daily, $15-$26) to their rows, in key order (so that concurrent batches lock the
	// rows in the same order). reset says that the batch had a success, which ended the
	// failure run before the batch's own. A subscription's rows are written only while
	// the subscription exists.
	qAddFigures = query(`
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::bigint[], $5::bigint[], $6::bigint[],
                         $7::bigint[], $8::bigint[], $9::bigint[], $10::text[]::jsonb[], $11::text[]::jsonb[],
                         $12::bigint[], $13::timestamptz[], $14::boolean[])
        AS t(scope, key, shard, attempts, succeeded, failed, deliveries_succeeded, deliveries_failed,
             duration_sum, errors, buckets, run_count, run_since, reset)
),
fig AS (
    INSERT INTO {{schema}}.figures AS f (scope, key, shard, attempts, succeeded, failed, deliveries_succeeded,
        deliveries_failed, duration_sum, errors, buckets, run_count, run_since)
    SELECT i.scope, i.key, i.shard, i.attempts, i.succeeded, i.failed, i.deliveries_succeeded, i.deliveries_failed,
           i.duration_sum, i.errors, i.buckets, i.run_count, i.run_since
    FROM input i
    WHERE i.scope <> 's' OR EXISTS (SELECT 1 FROM {{schema}}.subscriptions s WHERE s.id = i.key)
    ORDER BY i.scope, i.key, i.shard
    ON CONFLICT (scope, key, shard) DO UPDATE SET
        attempts = f.attempts + EXCLUDED.attempts,
        succeeded = f.succeeded + EXCLUDED.succeeded,
        failed = f.failed + EXCLUDED.failed,
        deliveries_succeeded = f.deliveries_succeeded + EXCLUDED.deliveries_succeeded,
        deliveries_failed = f.deliveries_failed + EXCLUDED.deliveries_failed,
        duration_sum = f.duration_sum + EXCLUDED.duration_sum,
        errors = ` + addCounts("f.errors", "EXCLUDED.errors") + `,
        buckets = ` + addCounts("f.buckets", "EXCLUDED.buckets") + `,
        run_count = CASE WHEN (SELECT i.reset FROM input i
                               WHERE i.scope = EXCLUDED.scope AND i.key = EXCLUDED.key AND i.shard = EXCLUDED.shard)
                    THEN EXCLUDED.run_count ELSE f.run_count + EXCLUDED.run_count END,
        run_since = CASE WHEN f.run_count = 0 OR (SELECT i.reset FROM input i
                               WHERE i.scope = EXCLUDED.scope AND i.key = EXCLUDED.key AND i.shard = EXCLUDED.shard)
                    THEN EXCLUDED.run_since ELSE f.run_since END
)
INSERT INTO {{schema}}.figure_slots AS f (scope, key, width, start, shard, attempts, succeeded,
    deliveries_succeeded, deliveries_failed, errors, duration_sum, max_duration)
SELECT t.scope, t.key, t.width, t.start, t.shard, t.attempts, t.succeeded, t.deliveries_succeeded,
       t.deliveries_failed, t.errors, t.duration_sum, t.max_duration
FROM unnest($15::text[], $16::text[], $17::text[], $18::timestamptz[], $19::smallint[], $20::bigint[], $21::bigint[],
            $22::bigint[], $23::bigint[], $24::text[]::jsonb[], $25::bigint[], $26::bigint[])
    AS t(scope, key, width, start, shard, attempts, succeeded, deliveries_succeeded, deliveries_failed,
         errors, duration_sum, max_duration)
WHERE t.scope <> 's' OR EXISTS (SELECT 1 FROM {{schema}}.subscriptions s WHERE s.id = t.key)
ORDER BY t.scope, t.key, t.width, t.start, t.shard
ON CONFLICT (scope, key, width, start, shard) DO UPDATE SET
    attempts = f.attempts + EXCLUDED.attempts,
    succeeded = f.succeeded + EXCLUDED.succeeded,
    deliveries_succeeded = f.deliveries_succeeded + EXCLUDED.deliveries_succeeded,
    deliveries_failed = f.deliveries_failed + EXCLUDED.deliveries_failed,
    errors = ` + addCounts("f.errors", "EXCLUDED.errors") + `,
    duration_sum = f.duration_sum + EXCLUDED.duration_sum,
    max_duration = greatest(f.max_duration, EXCLUDED.max_duration)`)
)

// qDropSlots removes the slots no window reaches any more.
var qDropSlots = query(`DELETE FROM {{schema}}.figure_slots WHERE start < $1`)

// addCounts is the SQL expression that adds the counts of the JSON object b to those of a,
// key by key (b is small: a batch's). It is written into each statement rather than called
// as a function: PostgreSQL would plan such a function's body afresh at every execution.
func addCounts(a, b string) string {
	return `CASE WHEN ` + b + ` = '{}'::jsonb THEN ` + a + ` ELSE ` + a + ` || (
            SELECT jsonb_object_agg(key, coalesce((` + a + ` ->> key)::bigint, 0) + value::bigint)
            FROM jsonb_each_text(` + b + `)) END`
}

// slotRows are the columns of qAddFigures' time slots.
type slotRows struct {
	scopes, keys, widths                        []string
	starts                                      []time.Time
	shards                                      []int16
	attempts, succeeded, dsucc, dfail, sums, mx []int64
	errs                                        []string
}

func (r *slotRows) add(k figKey, width string, slots []store.Slot) {
	for _, sl := range slots {
		r.scopes, r.keys, r.widths = append(r.scopes, k.scope), append(r.keys, k.key), append(r.widths, width)
		r.starts, r.shards = append(r.starts, sl.Start), append(r.shards, k.shard)
		r.attempts, r.succeeded = append(r.attempts, sl.Attempts), append(r.succeeded, sl.Succeeded)
		r.dsucc, r.dfail = append(r.dsucc, sl.DeliveriesSucceeded), append(r.dfail, sl.DeliveriesFailed)
		r.sums, r.mx = append(r.sums, int64(sl.DurationSum)), append(r.mx, int64(sl.MaxDuration))
		r.errs = append(r.errs, errorCounts(sl.ErrorsByKind))
	}
}

// RecordAttempt implements store.Store. Concurrent calls share one transaction (group
// commit), committed before they return, without waiting for the disk (see the package
// doc: a record undone by a crash of the database server means the delivery is sent
// again).
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
			p, err := s.beginPipe(ctx, asyncCommit|keyedJoins)
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

// recorded is what qRecord answers for one record.
type recorded struct {
	d         store.Delivery
	before    string // the delivery's state before the record
	subExists bool
}

// readRecords reads what qRecord answers for seg: nil for a delivery not found.
func readRecords(br pgx.BatchResults, seg []store.AttemptRecord) ([]*recorded, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make([]*recorded, len(seg))
	for rows.Next() {
		var ord int64
		var prev []byte
		g := &recorded{}
		r, err := scanDelivery(rowWithFirsts{rows, []any{&ord, &g.before, &g.subExists, &prev}})
		if err != nil {
			return nil, err
		}
		if r.d.Attempts, err = decodeAttempts(prev); err != nil {
			return nil, err
		}
		a := seg[ord-1].Attempt // as stored: to the microsecond
		a.SentAt, a.NextAttemptAt = a.SentAt.Truncate(time.Microsecond), a.NextAttemptAt.Truncate(time.Microsecond)
		r.d.Attempts = append(r.d.Attempts, a)
		g.d = r.d
		got[ord-1] = g
	}
	return got, rows.Err()
}

// slotsKept is how long time slots are kept: longer than the longest window.
const slotsKept = 26 * time.Hour

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

// recordRows are the columns of qRecord.
type recordRows struct {
	ids, states, kinds, outcomes   []string
	nexts, ends, sentAts, nextAtts []*time.Time
	numbers, codes                 []int32
	durations                      []int64
	bodies, errs                   [][]byte
	tests                          []bool
}

func (r *recordRows) add(rec store.AttemptRecord) {
	a := rec.Attempt
	end := a.SentAt.Add(a.Duration)
	next := rec.NextAttemptAt
	if rec.State == store.DeliveryPending && next.IsZero() {
		next = end
	}
	r.ids, r.states = append(r.ids, rec.DeliveryID), append(r.states, string(rec.State))
	r.nexts, r.ends = append(r.nexts, nullTime(next)), append(r.ends, &end)
	r.numbers, r.sentAts = append(r.numbers, int32(a.Number)), append(r.sentAts, &a.SentAt)
	r.durations, r.codes = append(r.durations, int64(a.Duration)), append(r.codes, int32(a.StatusCode))
	r.bodies, r.errs = append(r.bodies, []byte(a.ResponseBody)), append(r.errs, []byte(a.Error))
	r.kinds, r.outcomes = append(r.kinds, string(a.ErrorKind)), append(r.outcomes, string(a.Outcome))
	r.nextAtts, r.tests = append(r.nextAtts, nullTime(a.NextAttemptAt)), append(r.tests, a.Test)
}

// recordSegments cuts recs into runs that one qRecord statement applies: a run ends with
// a record that deactivates or deletes its subscription (the records after it must see
// that) and before a delivery the run already has.
func recordSegments(recs []store.AttemptRecord) [][]store.AttemptRecord {
	var segs [][]store.AttemptRecord
	from := 0
	seen := make(map[string]bool, len(recs))
	for i, rec := range recs {
		if seen[rec.DeliveryID] {
			segs = append(segs, recs[from:i])
			from = i
			clear(seen)
		}
		seen[rec.DeliveryID] = true
		if rec.Action != store.ActionNone {
			segs = append(segs, recs[from:i+1])
			from = i + 1
			clear(seen)
		}
	}
	if from < len(recs) {
		segs = append(segs, recs[from:])
	}
	return segs
}

// record applies recs in order in p, and commits: two round trips, one statement for
// the records (and one more after each record that deactivates or deletes its
// subscription), one for the figures.
func (s *Store) record(ctx context.Context, p *pipe, recs []store.AttemptRecord) ([]recordResult, error) {
	b := &pgx.Batch{}
	segs := recordSegments(recs)
	for _, seg := range segs {
		var r recordRows
		for _, rec := range seg {
			r.add(rec)
		}
		b.Queue(s.sql(qRecord), r.ids, r.states, r.nexts, r.ends, r.numbers, r.sentAts, r.durations, r.codes,
			r.bodies, r.errs, r.kinds, r.outcomes, r.nextAtts, r.tests)
		last := seg[len(seg)-1]
		end := last.Attempt.SentAt.Add(last.Attempt.Duration)
		switch last.Action {
		case store.ActionDeactivate:
			b.Queue(s.sql(qDeactivateFor), last.DeliveryID, last.Reason, end)
		case store.ActionDelete:
			b.Queue(s.sql(qDeleteFor), last.DeliveryID, end)
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
	base := 0
	for _, seg := range segs {
		got, err := readRecords(br, seg)
		if err != nil {
			br.Close()
			return nil, err
		}
		switch seg[len(seg)-1].Action {
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
		for j, rec := range seg {
			i := base + j
			g := got[j]
			if g == nil {
				out[i].err = notFound("delivery", rec.DeliveryID)
				continue
			}
			out[i].d = g.d
			if rec.Attempt.Test {
				continue
			}
			// The delivery counts as succeeded or failed only if this attempt finished it.
			ended := g.d.State
			if string(ended) == g.before {
				ended = ""
			}
			if g.subExists && !deleted[g.d.SubscriptionID] {
				add(figKey{"s", g.d.SubscriptionID, 0}, rec.Attempt, ended)
			}
			add(figKey{"w", g.d.Workspace, shard}, rec.Attempt, ended)
			add(figKey{"o", "", shard}, rec.Attempt, ended)
		}
		base += len(seg)
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
	if len(keys) > 0 {
		n := len(keys)
		scopes, names := make([]string, n), make([]string, n)
		shards := make([]int16, n)
		attempts, succeeded, failed := make([]int64, n), make([]int64, n), make([]int64, n)
		dsucc, dfail, durations := make([]int64, n), make([]int64, n), make([]int64, n)
		errs, buckets := make([]string, n), make([]string, n)
		runs, resets := make([]int64, n), make([]bool, n)
		since := make([]*time.Time, n)
		for i, k := range keys {
			d := deltas[k]
			f := d.f
			scopes[i], names[i], shards[i] = k.scope, k.key, k.shard
			attempts[i], succeeded[i], failed[i] = f.Attempts, f.Succeeded, f.Failed
			dsucc[i], dfail[i], durations[i] = f.DeliveriesSucceeded, f.DeliveriesFailed, int64(f.DurationSum)
			errs[i], buckets[i] = errorCounts(f.ErrorsByKind), bucketCounts(f.Buckets)
			runs[i], since[i], resets[i] = f.Run.Count, nullTime(f.Run.Since), d.reset
		}
		var sr slotRows
		for _, k := range keys {
			sr.add(k, "r", deltas[k].f.Recent)
			sr.add(k, "d", deltas[k].f.Daily)
		}
		fb.Queue(s.sql(qAddFigures), scopes, names, shards, attempts, succeeded, failed, dsucc, dfail, durations,
			errs, buckets, runs, since, resets,
			sr.scopes, sr.keys, sr.widths, sr.starts, sr.shards, sr.attempts, sr.succeeded, sr.dsucc, sr.dfail,
			sr.errs, sr.sums, sr.mx)
		if rand.N(256) == 0 {
			fb.Queue(s.sql(qDropSlots), time.Now().Add(-slotsKept))
		}
	}
	queued := fb.Len() // before send, which may queue the commit
	fr, err := p.send(ctx, fb, true)
	if err != nil {
		return nil, err
	}
	for range queued {
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

// attemptsJSON is a subquery answering the attempts of delivery s.seq as a JSON array,
// for decodeAttempts: a claim or a record reads them in its own statement.
const attemptsJSON = `
    SELECT json_agg(json_build_object('number', a.number, 'sent_at', a.sent_at, 'duration', a.duration,
        'status_code', a.status_code, 'response_body', encode(a.response_body, 'base64'),
        'error', encode(a.error, 'base64'), 'error_kind', a.error_kind, 'outcome', a.outcome,
        'next_attempt_at', a.next_attempt_at, 'test', a.test) ORDER BY a.n)
    FROM {{schema}}.attempts a WHERE a.delivery_seq = s.seq`

// decodeAttempts reads the attempts of attemptsJSON (none: NULL).
func decodeAttempts(raw []byte) ([]store.Attempt, error) {
	if raw == nil {
		return []store.Attempt{}, nil
	}
	var rows []struct {
		Number        int        `json:"number"`
		SentAt        time.Time  `json:"sent_at"`
		Duration      int64      `json:"duration"`
		StatusCode    int        `json:"status_code"`
		ResponseBody  []byte     `json:"response_body"` // base64
		Error         []byte     `json:"error"`         // base64
		ErrorKind     string     `json:"error_kind"`
		Outcome       string     `json:"outcome"`
		NextAttemptAt *time.Time `json:"next_attempt_at"`
		Test          bool       `json:"test"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("storepg: decoding attempts: %w", err)
	}
	out := make([]store.Attempt, len(rows))
	for i, r := range rows {
		out[i] = store.Attempt{Number: r.Number, SentAt: r.SentAt.UTC(), Duration: time.Duration(r.Duration),
			StatusCode: r.StatusCode, ResponseBody: string(r.ResponseBody), Error: string(r.Error),
			ErrorKind: store.ErrorKind(r.ErrorKind), Outcome: store.Outcome(r.Outcome), Test: r.Test}
		if r.NextAttemptAt != nil {
			out[i].NextAttemptAt = r.NextAttemptAt.UTC()
		}
	}
	return out, nil
}

// errorCounts and bucketCounts are the JSON objects figures keep counts in.
func errorCounts(m map[store.ErrorKind]int64) string {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[string(k)] = v
	}
	b, _ := json.Marshal(out) // a map of numbers always encodes
	return string(b)
}

func bucketCounts(b []int64) string {
	out := make(map[string]int64)
	for i, v := range b {
		if v != 0 {
			out[strconv.Itoa(i)] = v
		}
	}
	raw, _ := json.Marshal(out)
	return string(raw)
}

var (
	qRedeliverCheck = query(`
SELECT s.seq, q.leased_until, sub.id IS NOT NULL, coalesce(sub.status, ''), d.sub_id
FROM {{schema}}.deliveries d
JOIN {{schema}}.delivery_state s ON s.seq = d.seq
LEFT JOIN {{schema}}.queue q ON q.seq = d.seq
LEFT JOIN {{schema}}.subscriptions sub ON sub.id = d.sub_id
WHERE d.id = $1
FOR UPDATE OF s`)
	qRedeliver = query(`
WITH upd AS (
    UPDATE {{schema}}.delivery_state
    SET state = 'pending', next_attempt_at = $2, round_start = attempts, test = false, updated_at = $2,
        finished_at = NULL
    WHERE seq = $1
    RETURNING seq, sub_id, created_at
),
queued AS (
    INSERT INTO {{schema}}.queue (seq, sub_id, due_at, created_at)
    SELECT seq, sub_id, $2, created_at FROM upd
    ON CONFLICT (seq) DO UPDATE SET due_at = EXCLUDED.due_at, leased_until = NULL
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
