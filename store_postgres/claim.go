package storepg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shophooks/webhook/store"
)

// How claims work. Every subscription has a queue head (table heads): a time no later
// than the earliest due time of its pending deliveries. Transactions that make a
// delivery due (InsertEvent, a retry, Redeliver, Activate) do not touch the head: they
// insert a hint (table hints), which becomes visible with the deliveries it announces, so
// writers never wait for each other or for a claim. A claim first folds the hints into
// the heads, then locks the due heads in due order (FOR UPDATE SKIP LOCKED: each
// subscription is claimed by one instance at a time, so its quota holds across
// instances), asks the quota of each, leases that many of its due deliveries through the
// (subscription, due time) index, and sets each visited head to the subscription's
// earliest due time again. A subscription skipped by its quota costs its head row, never a
// walk over its backlog. A head may be early (its delivery was finished meanwhile): the
// next claim that visits it puts it right.

var (
	qSyncOff = query(`SET LOCAL synchronous_commit TO OFF`)
	qFold    = query(`
WITH h AS (
    DELETE FROM {{schema}}.hints
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM {{schema}}.hints FOR UPDATE SKIP LOCKED))
    RETURNING sub_id, due
),
m AS (
    SELECT h.sub_id, min(h.due) AS due
    FROM h JOIN {{schema}}.subscriptions s ON s.id = h.sub_id
    GROUP BY h.sub_id
)
INSERT INTO {{schema}}.heads AS x (sub_id, next_due)
SELECT sub_id, due FROM m ORDER BY sub_id
ON CONFLICT (sub_id) DO UPDATE SET next_due = LEAST(x.next_due, EXCLUDED.next_due)`)

	// qLockHeads locks the due heads after a (due, subscription) cursor, in due order,
	// skipping those another claim holds, with what a quota needs: the subscription, its
	// deliveries in flight, and its failure run.
	qLockHeads = query(`
SELECT h.sub_id, h.next_due, ` + subCols + `, coalesce(f.run_count, 0), f.run_since,
       (SELECT count(*) FROM {{schema}}.delivery_state x WHERE x.sub_id = h.sub_id AND x.leased_until > $1)
FROM {{schema}}.heads h
LEFT JOIN {{schema}}.subscriptions sub ON sub.id = h.sub_id
LEFT JOIN {{schema}}.figures f ON f.scope = 's' AND f.key = h.sub_id AND f.shard = 0
WHERE h.next_due <= $1 AND (h.next_due, h.sub_id) > ($2, $3)
ORDER BY h.next_due, h.sub_id
LIMIT $4
FOR UPDATE OF h SKIP LOCKED`)

	// qClaim leases, for each subscription $1 in order, up to $2 of its due deliveries,
	// earliest due first, $5 in all, and answers them with their events.
	qClaim = query(`
WITH w AS (
    SELECT * FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS w(sub_id, q, ord)
),
c AS (
    SELECT w.ord, x.seq, x.due_at
    FROM w CROSS JOIN LATERAL (
        SELECT s.seq, s.due_at FROM {{schema}}.delivery_state s
        WHERE s.sub_id = w.sub_id AND s.due_at IS NOT NULL AND s.due_at <= $3
        ORDER BY s.due_at, s.seq
        LIMIT w.q
        FOR UPDATE SKIP LOCKED
    ) x
),
pick AS (
    SELECT * FROM c ORDER BY ord, due_at, seq LIMIT $5
),
u AS (
    UPDATE {{schema}}.delivery_state s SET due_at = $4, leased_until = $4
    FROM pick c WHERE s.seq = c.seq
    RETURNING s.*, c.ord, c.due_at AS was_due
)
SELECT s.ord, ` + dlvCols + `, e.workspace, e.type, e.occurred_at, e.data
FROM u AS s
JOIN {{schema}}.deliveries d ON d.seq = s.seq
JOIN {{schema}}.events e ON e.id = d.event_id
ORDER BY s.ord, s.was_due, s.seq`)

	// qResetHeads sets the heads of the subscriptions $1 to their earliest due time.
	qResetHeads = query(`
UPDATE {{schema}}.heads h SET next_due = (
    SELECT min(x.due_at) FROM {{schema}}.delivery_state x WHERE x.sub_id = h.sub_id AND x.due_at IS NOT NULL)
WHERE h.sub_id = ANY($1::text[])
RETURNING h.sub_id, h.next_due`)

	// qClaimedAttempts reads the attempts of the deliveries just leased (until $2) that
	// have some: the retry schedule counts them.
	qClaimedAttempts = query(`SELECT ` + attemptCols + ` FROM {{schema}}.attempts a
WHERE a.delivery_seq IN (
    SELECT x.seq FROM {{schema}}.delivery_state x
    WHERE x.sub_id = ANY($1::text[]) AND x.leased_until = $2 AND x.attempts > 0)
ORDER BY a.delivery_seq, a.n`)

	// qDropHeads removes the heads of subscriptions that are gone ($1) and empties those
	// of inactive ones ($2): activation writes a hint.
	qDropHeads = query(`
WITH gone AS (
    DELETE FROM {{schema}}.heads WHERE sub_id = ANY($1::text[])
)
UPDATE {{schema}}.heads SET next_due = NULL WHERE sub_id = ANY($2::text[])`)

	// qLaterHeads reads the heads due after $1 of active subscriptions other than $4,
	// after a (due, subscription) cursor, with each one's true earliest due time and what
	// its quota needs.
	qLaterHeads = query(`
SELECT h.sub_id, h.next_due, ` + subCols + `,
       (SELECT min(x.due_at) FROM {{schema}}.delivery_state x WHERE x.sub_id = h.sub_id AND x.due_at IS NOT NULL),
       (SELECT count(*) FROM {{schema}}.delivery_state x WHERE x.sub_id = h.sub_id AND x.leased_until > $1)
FROM {{schema}}.heads h
JOIN {{schema}}.subscriptions sub ON sub.id = h.sub_id AND sub.status = 'active'
WHERE h.next_due > $1 AND (h.next_due, h.sub_id) > ($2, $3) AND h.sub_id <> ALL($4::text[])
ORDER BY h.next_due, h.sub_id
LIMIT $5`)
)

// head is a locked queue head, with what a quota needs.
type head struct {
	subID    string
	due      time.Time
	sub      *store.Subscription // nil when the subscription is gone
	run      store.FailureRun
	inFlight int
}

// want is what a claim asks of one subscription.
type want struct {
	head
	quota int // what the quota granted
	take  int // what this claim asks for: the quota, within the limit
}

// ClaimDue implements store.Store. Its transaction is committed without waiting for the
// disk: a claim lost to a crash of the database server only means the delivery is sent
// again.
func (s *Store) ClaimDue(ctx context.Context, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	if err := store.CheckLease(req.Now, req.LeaseUntil); err != nil {
		return nil, time.Time{}, err
	}
	var claims []store.Claim
	var next time.Time
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		claims, next, err = s.claim(ctx, tx, req)
		return err
	})
	if err != nil {
		return nil, time.Time{}, wrap(err)
	}
	return claims, next, nil
}

// claim is ClaimDue in tx.
func (s *Store) claim(ctx context.Context, tx pgx.Tx, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	now := req.Now
	quota := func(h head) int {
		if req.Quota == nil {
			return req.Limit
		}
		sub := h.sub.Clone()
		return req.Quota(&sub, h.inFlight)
	}
	b := &pgx.Batch{}
	b.Queue(s.sql(qSyncOff))
	b.Queue(s.sql(qFold))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, time.Time{}, err
	}

	var (
		out        []store.Claim
		candidates []time.Time // due times the claim left that count for next
		visited    []string    // subscriptions whose heads this claim reset
		gone, idle []string
		queue      []head // locked heads not yet considered
		more       = true
		afterDue   time.Time
		afterSub   string
		remaining  = req.Limit
	)
	// usable sorts out heads whose subscription is gone or inactive.
	usable := func(h head) bool {
		switch {
		case h.sub == nil:
			gone = append(gone, h.subID)
		case h.sub.Status != store.StatusActive:
			idle = append(idle, h.subID)
		default:
			return true
		}
		return false
	}
	for {
		if len(queue) == 0 && more {
			k := max(remaining, 1) + 16
			hs, err := s.lockHeads(ctx, tx, now, afterDue, afterSub, k)
			if err != nil {
				return nil, time.Time{}, err
			}
			more = len(hs) == k
			if len(hs) > 0 {
				afterDue, afterSub = hs[len(hs)-1].due, hs[len(hs)-1].subID
			}
			queue = hs
		}
		if len(queue) == 0 {
			break
		}
		hs := queue
		queue = nil
		if remaining <= 0 {
			// The limit is reached: the first subscription its quota grants something
			// was left only because of the limit.
			found := false
			for _, h := range hs {
				if usable(h) && quota(h) > 0 {
					candidates = append(candidates, h.due)
					found = true
					break
				}
			}
			if found {
				break
			}
			continue
		}
		// Ask every locked head: the claim takes from them in order, up to the limit.
		var wants []want
		for _, h := range hs {
			if !usable(h) {
				continue
			}
			if q := quota(h); q > 0 {
				wants = append(wants, want{head: h, quota: q, take: min(q, remaining)})
			}
		}
		if len(wants) == 0 {
			continue
		}
		cs, heads, err := s.leaseDue(ctx, tx, req, wants, remaining)
		if err != nil {
			return nil, time.Time{}, err
		}
		out = append(out, cs...)
		remaining -= len(cs)
		got := make(map[string]int, len(wants))
		for _, c := range cs {
			got[c.Subscription.ID]++
		}
		for _, w := range wants {
			visited = append(visited, w.subID)
			if got[w.subID] < w.quota { // its quota is not used up: what it has left counts
				if t, ok := heads[w.subID]; ok {
					candidates = append(candidates, t)
				}
			}
		}
	}
	if len(gone) > 0 || len(idle) > 0 {
		if _, err := tx.Exec(ctx, s.sql(qDropHeads), gone, idle); err != nil {
			return nil, time.Time{}, err
		}
	}
	next, err := s.laterDue(ctx, tx, now, visited, candidates, quota)
	if err != nil {
		return nil, time.Time{}, err
	}
	return out, next, nil
}

// lockHeads locks up to k due heads after the cursor (afterDue, afterSub).
func (s *Store) lockHeads(ctx context.Context, tx pgx.Tx, now, afterDue time.Time, afterSub string, k int) ([]head, error) {
	rows, err := tx.Query(ctx, s.sql(qLockHeads), now, afterDue, afterSub, k)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []head
	for rows.Next() {
		var h head
		var doc []byte
		var status, reason *string
		var changed, updated, runSince *time.Time
		var runCount, inFlight int64
		if err := rows.Scan(&h.subID, &h.due, &doc, &status, &reason, &changed, &updated, &runCount, &runSince, &inFlight); err != nil {
			return nil, err
		}
		if doc != nil {
			sub, err := decodeSub(doc, *status, *reason, changed, updated)
			if err != nil {
				return nil, err
			}
			h.sub = &sub
		}
		h.run.Count = runCount
		if runSince != nil {
			h.run.Since = runSince.UTC()
		}
		h.inFlight = int(inFlight)
		out = append(out, h)
	}
	return out, rows.Err()
}

// leaseDue leases what wants asks for, in order and up to limit in all, resets the heads of those subscriptions, and
// answers the claims with the new heads.
func (s *Store) leaseDue(ctx context.Context, tx pgx.Tx, req store.ClaimRequest, wants []want, limit int) ([]store.Claim, map[string]time.Time, error) {
	subs := make([]string, len(wants))
	takes := make([]int32, len(wants))
	for i, w := range wants {
		subs[i], takes[i] = w.subID, int32(w.take)
	}
	b := &pgx.Batch{}
	b.Queue(s.sql(qClaim), subs, takes, req.Now, req.LeaseUntil, limit)
	b.Queue(s.sql(qResetHeads), subs)
	b.Queue(s.sql(qClaimedAttempts), subs, req.LeaseUntil)
	br := tx.SendBatch(ctx, b)
	defer br.Close()

	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
	}
	var claims []store.Claim
	bySeq := make(map[int64]int)
	for rows.Next() {
		var ord int64
		var ev store.Event
		r, err := scanDelivery(rowWithFirst{rows, &ord}, &ev.Workspace, &ev.Type, &ev.OccurredAt, &ev.Data)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		w := wants[ord-1]
		ev.ID = r.d.EventID
		ev.OccurredAt = ev.OccurredAt.UTC()
		if r.attempts > 0 {
			bySeq[r.seq] = len(claims)
		}
		claims = append(claims, store.Claim{Delivery: r.d, Event: ev, Subscription: w.sub.Clone(), Failures: w.run})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}

	rows, err = br.Query()
	if err != nil {
		return nil, nil, err
	}
	heads := make(map[string]time.Time, len(wants))
	for rows.Next() {
		var sub string
		var due *time.Time
		if err := rows.Scan(&sub, &due); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if due != nil {
			heads[sub] = due.UTC()
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}

	rows, err = br.Query()
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		seq, a, err := scanAttempt(rows)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		if i, ok := bySeq[seq]; ok {
			claims[i].Delivery.Attempts = append(claims[i].Delivery.Attempts, a)
		}
	}
	rows.Close()
	return claims, heads, rows.Err()
}

// rowWithFirst scans a first column into first and the rest into what Scan is given.
type rowWithFirst struct {
	pgx.Rows
	first any
}

func (r rowWithFirst) Scan(dest ...any) error { return r.Rows.Scan(append([]any{r.first}, dest...)...) }

// laterDue finds when ClaimDue's caller should claim again: the earliest of candidates
// and of the true earliest due times of the subscriptions whose heads are not due yet,
// those that a quota refuses excepted. Heads are never later than the truth, so the walk
// stops at the first head later than the best time found.
func (s *Store) laterDue(ctx context.Context, tx pgx.Tx, now time.Time, visited []string, candidates []time.Time, quota func(head) int) (time.Time, error) {
	var best time.Time
	for _, t := range candidates {
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	if visited == nil {
		visited = []string{}
	}
	const page = 4
	afterDue, afterSub := now, ""
	for {
		rows, err := tx.Query(ctx, s.sql(qLaterHeads), now, afterDue, afterSub, visited, page)
		if err != nil {
			return time.Time{}, err
		}
		n := 0
		stop := false
		for rows.Next() {
			n++
			var h head
			var doc []byte
			var status, reason string
			var changed, updated, actual *time.Time
			var inFlight int64
			if err := rows.Scan(&h.subID, &h.due, &doc, &status, &reason, &changed, &updated, &actual, &inFlight); err != nil {
				rows.Close()
				return time.Time{}, err
			}
			afterDue, afterSub = h.due, h.subID
			if stop {
				continue
			}
			if !best.IsZero() && !h.due.Before(best) {
				stop = true
				continue
			}
			if actual == nil {
				continue // an early head with nothing pending
			}
			sub, err := decodeSub(doc, status, reason, changed, updated)
			if err != nil {
				rows.Close()
				return time.Time{}, err
			}
			h.sub, h.inFlight = &sub, int(inFlight)
			if quota(h) <= 0 {
				continue
			}
			if best.IsZero() || actual.Before(best) {
				best = actual.UTC()
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return time.Time{}, err
		}
		if stop || n < page {
			return best, nil
		}
	}
}

var qAllHeads = query(`
SELECT h.sub_id, h.next_due,
       (SELECT min(x.due_at) FROM {{schema}}.delivery_state x WHERE x.sub_id = h.sub_id AND x.due_at IS NOT NULL)
FROM {{schema}}.heads h
WHERE h.next_due IS NOT NULL AND (h.next_due, h.sub_id) > ($1, $2)
ORDER BY h.next_due, h.sub_id
LIMIT $3`)

// NextDue implements store.Store.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var best time.Time
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		best = time.Time{}
		b := &pgx.Batch{}
		b.Queue(s.sql(qSyncOff))
		b.Queue(s.sql(qFold))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		const page = 16
		var afterDue time.Time
		afterSub := ""
		for {
			rows, err := tx.Query(ctx, s.sql(qAllHeads), afterDue, afterSub, page)
			if err != nil {
				return err
			}
			n, stop := 0, false
			for rows.Next() {
				n++
				var sub string
				var due time.Time
				var actual *time.Time
				if err := rows.Scan(&sub, &due, &actual); err != nil {
					rows.Close()
					return err
				}
				afterDue, afterSub = due, sub
				if !best.IsZero() && !due.Before(best) {
					stop = true
				}
				if !stop && actual != nil && (best.IsZero() || actual.Before(best)) {
					best = actual.UTC()
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if stop || n < page {
				return nil
			}
		}
	})
	if err != nil {
		return time.Time{}, false, wrap(err)
	}
	return best, !best.IsZero(), nil
}
