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
// queue's (subscription, due time) index, and sets each visited head to the subscription's
// earliest due time again. A subscription skipped by its quota costs its head row, never a
// walk over its backlog. A head may be early (its delivery was finished meanwhile): the
// next claim that visits it puts it right. The head also keeps the token bucket of the
// subscription's RateLimit (rate.go), read with the locked head and written with its
// reset, so the rate too holds across instances, at no cost to subscriptions without one.

var (
	qSyncOff = query(`SET LOCAL synchronous_commit TO OFF`)
	// qFold folds the hints into the heads that no other claim holds: the hints of a
	// held head wait for the next claim (the holder's claim sees their deliveries, or
	// they were not committed when it looked). So claims never wait for each other. A
	// subscription has a head from its creation to its deletion: the hints of one
	// without are of a deleted subscription, and dropped.
	qFold = query(`
WITH gone AS (
    DELETE FROM {{schema}}.hints h
    WHERE NOT EXISTS (SELECT 1 FROM {{schema}}.heads x WHERE x.sub_id = h.sub_id)
),
l AS (
    SELECT x.sub_id FROM {{schema}}.heads x
    WHERE x.sub_id IN (SELECT sub_id FROM {{schema}}.hints)
    ORDER BY x.sub_id
    FOR UPDATE SKIP LOCKED
),
h AS (
    DELETE FROM {{schema}}.hints WHERE sub_id IN (SELECT sub_id FROM l) RETURNING sub_id, due
),
m AS (
    SELECT sub_id, min(due) AS due FROM h GROUP BY sub_id
)
UPDATE {{schema}}.heads x SET next_due = LEAST(x.next_due, m.due) FROM m WHERE x.sub_id = m.sub_id`)

	// qLockHeads locks the due heads after a (due, subscription) cursor, in due order,
	// skipping those another claim holds, with what a quota needs: the subscription, its
	// deliveries in flight, and its failure run; and the bucket of its rate limit. A head
	// that a claim committed after this statement's snapshot comes back stale: the
	// snapshot does not count that claim's leases as in flight, so they are counted again
	// (qInFlight) before the quota is asked; its own columns, the bucket among them, are
	// those of the version locked, the latest. (Skipping such a head would leave it locked
	// all the same, PostgreSQL keeps the lock of a row that fails its recheck, and could
	// leave every claim running at once empty-handed.) A head the claim locked before ($5)
	// is not locked again: a second visit would ask the quota again and spend the rate
	// limit's bucket for the first visit's leases once more (qResetHeads counts every
	// lease of the transaction); what the first left due counts for the claim's next
	// time instead. (OFFSET 0 keeps each lookup a
	// lookup by key of the head's subscription, whatever the planner guesses of the
	// tables' sizes.)
	qLockHeads = query(`
SELECT h.sub_id, h.next_due, h.rate_tokens, h.rate_at, ` + subCols + `, coalesce(f.run_count, 0), f.run_since,
       (SELECT count(*) FROM {{schema}}.queue x WHERE x.sub_id = h.sub_id AND x.leased_until > $1),
       NOT (h.version IS NULL OR pg_visible_in_snapshot(h.version, pg_current_snapshot()))
FROM {{schema}}.heads h
LEFT JOIN LATERAL (
    SELECT * FROM {{schema}}.subscriptions sub WHERE sub.id = h.sub_id OFFSET 0
) sub ON true
LEFT JOIN LATERAL (
    SELECT f.run_count, f.run_since FROM {{schema}}.figures f
    WHERE f.scope = 's' AND f.key = h.sub_id AND f.shard = 0 OFFSET 0
) f ON true
WHERE h.next_due <= $1 AND (h.next_due, h.sub_id) > ($2, $3) AND h.sub_id <> ALL($5::text[])
ORDER BY h.next_due, h.sub_id
LIMIT $4
FOR UPDATE OF h SKIP LOCKED`)

	// qInFlight counts the deliveries in flight of the subscriptions $1 of stale heads,
	// which the claim holds: in a snapshot taken after their locks.
	qInFlight = query(`
SELECT sub_id, count(*) FROM {{schema}}.queue WHERE sub_id = ANY($1::text[]) AND leased_until > $2 GROUP BY sub_id`)

	// qClaim leases, for each subscription $1 in order, up to $2 of its due deliveries,
	// earliest due first, $5 in all, and answers them with their events.
	qClaim = query(`
WITH w AS (
    SELECT * FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS w(sub_id, q, ord)
),
c AS (
    SELECT w.ord, x.seq, x.due_at
    FROM w CROSS JOIN LATERAL (
        SELECT q.seq, q.due_at FROM {{schema}}.queue q
        WHERE q.sub_id = w.sub_id AND q.due_at <= $3
        ORDER BY q.due_at, q.seq
        LIMIT w.q
        FOR UPDATE SKIP LOCKED
    ) x
),
pick AS (
    SELECT * FROM c ORDER BY ord, due_at, seq LIMIT $5
),
u AS (
    UPDATE {{schema}}.queue q SET due_at = $4, leased_until = $4
    FROM pick c WHERE q.seq = c.seq
    RETURNING q.seq, q.leased_until, c.ord, c.due_at AS was_due
)
SELECT q.ord, CASE WHEN s.attempts > 0 THEN (` + attemptsJSON + `) END, ` + dlvCols + `,
       e.workspace, e.type, e.occurred_at, e.data
FROM u AS q
JOIN {{schema}}.delivery_state s ON s.seq = q.seq
JOIN {{schema}}.deliveries d ON d.seq = q.seq
JOIN {{schema}}.events e ON e.id = d.event_id
ORDER BY q.ord, q.was_due, q.seq`)

	// qResetHeads sets the heads of the subscriptions $1 to their earliest due time, and
	// answers, per subscription, the earliest due time of what this transaction did not
	// lease: the leases a claim just took do not count for its next time. The bucket of a
	// subscription with a rate limit held $2 tokens at $3 before the claim: what the claim
	// leased (until $4) is spent from it. The others' ($2 NULL) are left alone. (The
	// "= ANY" keeps the generic plan a lookup by key: an unnest is guessed at 10 rows, and
	// a hash join would read every head.)
	qResetHeads = query(`
UPDATE {{schema}}.heads h SET next_due = (
    SELECT min(x.due_at) FROM {{schema}}.queue x WHERE x.sub_id = h.sub_id), version = pg_current_xact_id(),
    rate_tokens = CASE WHEN w.tokens IS NULL THEN h.rate_tokens ELSE w.tokens - (
        SELECT count(*) FROM {{schema}}.queue x
        WHERE x.sub_id = h.sub_id AND x.due_at = $4 AND x.xmin = pg_current_xact_id()::xid) END,
    rate_at = coalesce(w.at, h.rate_at)
FROM unnest($1::text[], $2::float8[], $3::timestamptz[]) AS w(sub_id, tokens, at)
WHERE h.sub_id = w.sub_id AND h.sub_id = ANY($1::text[])
RETURNING h.sub_id, (
    SELECT min(x.due_at) FROM {{schema}}.queue x
    WHERE x.sub_id = h.sub_id AND x.xmin <> pg_current_xact_id()::xid)`)

	// qDropHeads removes the heads of subscriptions that are gone ($1) and empties those
	// of inactive ones ($2): activation writes a hint.
	qDropHeads = query(`
WITH gone AS (
    DELETE FROM {{schema}}.heads WHERE sub_id = ANY($1::text[])
)
UPDATE {{schema}}.heads SET next_due = NULL WHERE sub_id = ANY($2::text[])`)

	// qLaterHeads reads the heads of active subscriptions other than $4 (those the claim
	// locked), after a (due, subscription) cursor, with each one's true earliest due time,
	// what its quota needs and its rate limit's bucket: heads not due yet, and due ones
	// another claim holds.
	qLaterHeads = query(`
SELECT h.sub_id, h.next_due, h.rate_tokens, h.rate_at, ` + subCols + `,
       (SELECT min(x.due_at) FROM {{schema}}.queue x WHERE x.sub_id = h.sub_id),
       (SELECT count(*) FROM {{schema}}.queue x WHERE x.sub_id = h.sub_id AND x.leased_until > $1)
FROM {{schema}}.heads h
CROSS JOIN LATERAL (
    SELECT * FROM {{schema}}.subscriptions sub WHERE sub.id = h.sub_id AND sub.status = 'active' OFFSET 0
) sub
WHERE h.next_due IS NOT NULL AND (h.next_due, h.sub_id) > ($2, $3) AND h.sub_id <> ALL($4::text[])
ORDER BY h.next_due, h.sub_id
LIMIT 4`)
)

// head is a locked queue head, with what a quota needs.
type head struct {
	subID    string
	due      time.Time
	bucket   bucket
	sub      *store.Subscription // nil when the subscription is gone
	run      store.FailureRun
	inFlight int
	stale    bool // inFlight was counted in a snapshot that missed a claim's leases
}

// want is what a claim asks of one subscription.
type want struct {
	head
	quota int // what the quota granted
	take  int // what this claim asks for: the quota, within the limit and the rate

	rated  bool      // the subscription has a rate limit:
	tokens float64   // what its bucket holds
	at     time.Time // at this time
}

// ClaimDue implements store.Store. Its transaction is committed without waiting for the
// disk: a claim lost to a crash of the database server only means the delivery is sent
// again.
//
// A subscription's RateLimit holds across every Store sharing the schema: the store keeps
// a token bucket per subscription (RateLimit requests a second, at most one second's worth
// banked and at least one, full at first), refills it as of req.Now, and leases no more of
// the subscription's deliveries than it holds, whatever Quota grants. A subscription's
// deliveries count for the next due time no earlier than its bucket allows a request.
//
// After a claim that came back empty because other claims (another instance's, mostly)
// held every subscription with deliveries due, the Store's next claim begins up to 10 ms
// later (heldBackoff), as of req.Now plus the time it waited.
func (s *Store) ClaimDue(ctx context.Context, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	if err := store.CheckLease(req.Now, req.LeaseUntil); err != nil {
		return nil, time.Time{}, err
	}
	waited, err := s.waitHeld(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	// The claim is made after the wait: as of then, with a lease as long as asked.
	req.Now, req.LeaseUntil = req.Now.Add(waited), req.LeaseUntil.Add(waited)
	for try := 0; ; try++ {
		c := &claimer{s: s, req: req, remaining: req.Limit}
		err := c.run(ctx)
		if err != nil && retryable(err) && try < 2 {
			continue
		}
		if err != nil {
			return nil, time.Time{}, wrap(err)
		}
		if len(c.out) == 0 && c.held {
			s.heldAt.Store(time.Now().UnixNano())
		} else {
			s.heldAt.Store(0)
		}
		return c.out, c.next, nil
	}
}

// heldBackoff is how long after a claim that came back empty because other claims held
// every due queue head the Store's next claim begins. With one busy subscription, only
// one instance at a time can claim its deliveries (its head's lock keeps its quota across
// instances); the others' claims come back empty, each a transaction of PostgreSQL work,
// as soon as a worker of theirs finishes or an emit notifies them, two thirds of all
// claims with three instances. Waiting about as long as the dispatcher waits for a store
// that lags (minWait) lets the holder's claim end and leaves the subscription to it in the
// meantime. The price is latency, bounded by heldBackoff: a delivery of any subscription
// that becomes due during the wait is claimed by this Store only after it (another
// instance may claim it sooner). Heads locked by this Store's own other transactions (the
// fold of NextDue, another dispatcher's claim on the same Store) count as held too.
const heldBackoff = 10 * time.Millisecond

// waitHeld waits until heldBackoff has passed since the last claim that found every due
// head held, if that claim was the Store's last, and returns how long it waited. It never
// waits longer than heldBackoff, whatever the wall clock did meanwhile.
func (s *Store) waitHeld(ctx context.Context) (time.Duration, error) {
	at := s.heldAt.Load()
	if at == 0 {
		return 0, nil
	}
	d := min(time.Until(time.Unix(0, at).Add(heldBackoff)), heldBackoff)
	if d <= 0 {
		return 0, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.C:
		return d, nil
	}
}

// claimer is one ClaimDue.
type claimer struct {
	s   *Store
	p   *pipe
	req store.ClaimRequest

	out        []store.Claim
	next       time.Time
	candidates []time.Time // due times the claim left that count for next
	seen       []string    // subscriptions whose heads the claim locked
	gone, idle []string    // heads to drop or empty
	queue      []head      // locked heads not yet considered
	more       bool        // more due heads may be left to lock
	afterDue   time.Time   // the cursor of lockHeads
	afterSub   string
	remaining  int
	clock      time.Time   // req.Now, for the rate limits' buckets
	later      []laterHead // the first page of qLaterHeads
	held       bool        // a head it did not lock had deliveries due: another claim held it
}

// laterHead is a row of qLaterHeads.
type laterHead struct {
	head
	actual *time.Time
}

// quota asks the request's quota of the subscription of h.
func (c *claimer) quota(h head) int {
	if c.req.Quota == nil {
		return c.req.Limit
	}
	sub := h.sub.Clone()
	return c.req.Quota(&sub, h.inFlight)
}

// ration fits w to the rate limit of its subscription, if it has one: w takes no more than
// the subscription's bucket allows now. When the bucket allows nothing, it answers false
// and when the bucket allows a request again.
func (c *claimer) ration(w *want) (time.Time, bool) {
	rate := w.sub.RateLimit
	if rate <= 0 {
		return time.Time{}, true
	}
	w.rated = true
	w.tokens, w.at = w.bucket.refill(rate, c.clock)
	n := allowed(w.tokens)
	if n == 0 {
		return nextAllowed(rate, w.tokens, w.at), false
	}
	w.take = min(w.take, n)
	return time.Time{}, true
}

// usable sorts out heads whose subscription is gone or inactive.
func (c *claimer) usable(h head) bool {
	switch {
	case h.sub == nil:
		c.gone = append(c.gone, h.subID)
	case h.sub.Status != store.StatusActive:
		c.idle = append(c.idle, h.subID)
	default:
		return true
	}
	return false
}

// lockBatchSize is how many due heads a claim locks at a time.
func (c *claimer) lockBatchSize() int { return max(c.remaining, 1) + 16 }

// locked takes note of heads just locked.
func (c *claimer) locked(hs []head, k int) {
	for _, h := range hs {
		c.seen = append(c.seen, h.subID)
	}
	c.more = len(hs) == k
	if len(hs) > 0 {
		c.afterDue, c.afterSub = hs[len(hs)-1].due, hs[len(hs)-1].subID
	}
	c.queue = hs
}

// recount counts again the deliveries in flight of stale heads among hs (rare: only when
// another claim of the same heads committed during lockHeads).
func (c *claimer) recount(ctx context.Context, hs []head) error {
	var subs []string
	for _, h := range hs {
		if h.stale {
			subs = append(subs, h.subID)
		}
	}
	if len(subs) == 0 {
		return nil
	}
	rows, err := c.p.query(ctx, c.s.sql(qInFlight), subs, c.req.Now)
	if err != nil {
		return err
	}
	n := make(map[string]int, len(subs))
	for rows.Next() {
		var sub string
		var count int64
		if err := rows.Scan(&sub, &count); err != nil {
			rows.Close()
			return err
		}
		n[sub] = int(count)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range hs {
		if hs[i].stale {
			hs[i].inFlight, hs[i].stale = n[hs[i].subID], false
		}
	}
	return nil
}

// run claims in one transaction: a first round trip folds the hints and locks due heads,
// each next one leases from them, and the last one also commits.
func (c *claimer) run(ctx context.Context) error {
	s := c.s
	p, err := s.beginPipe(ctx, asyncCommit)
	if err != nil {
		return err
	}
	defer p.release()
	c.p = p
	now := c.req.Now
	c.clock = claimClock(now)

	k := c.lockBatchSize()
	b := &pgx.Batch{}
	b.Queue(s.sql(qFold))
	b.Queue(s.sql(qLockHeads), now, time.Time{}, "", k, []string{})
	br, err := p.send(ctx, b, false)
	if err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	hs, err := scanHeads(br.Query())
	if err != nil {
		br.Close()
		return err
	}
	if err := p.end(br, false); err != nil {
		return err
	}
	if err := c.recount(ctx, hs); err != nil {
		return err
	}
	c.locked(hs, k)

	for !p.done {
		if len(c.queue) == 0 && c.more {
			k := c.lockBatchSize()
			hs, err := scanHeads(p.query(ctx, s.sql(qLockHeads), now, c.afterDue, c.afterSub, k, c.seenList()))
			if err != nil {
				return err
			}
			if err := c.recount(ctx, hs); err != nil {
				return err
			}
			c.locked(hs, k)
		}
		if len(c.queue) == 0 {
			break
		}
		hs := c.queue
		c.queue = nil
		if c.remaining <= 0 {
			// The limit is reached: the first subscription its quota and its rate grant
			// something was left only because of the limit.
			found := false
			for _, h := range hs {
				if !c.usable(h) || c.quota(h) <= 0 {
					continue
				}
				w := want{head: h}
				if t, ok := c.ration(&w); !ok {
					c.candidates = append(c.candidates, t) // held back by its rate alone
					continue
				}
				c.candidates = append(c.candidates, h.due)
				found = true
				break
			}
			if found {
				break
			}
			continue
		}
		// Ask every locked head: the claim takes from them in order, up to the limit.
		var wants []want
		for _, h := range hs {
			if !c.usable(h) {
				continue
			}
			q := c.quota(h)
			if q <= 0 {
				continue
			}
			w := want{head: h, quota: q, take: min(q, c.remaining)}
			if t, ok := c.ration(&w); !ok {
				c.candidates = append(c.candidates, t) // held back by its rate alone
				continue
			}
			wants = append(wants, w)
		}
		if len(wants) == 0 {
			continue
		}
		if err := c.lease(ctx, wants, !c.more); err != nil {
			return err
		}
	}
	if !p.done {
		b := &pgx.Batch{}
		c.queueFinal(b)
		br, err := p.send(ctx, b, true)
		if err != nil {
			return err
		}
		if err := c.readFinal(br); err != nil {
			br.Close()
			return err
		}
		if err := p.end(br, true); err != nil {
			return err
		}
	}
	return c.laterDue(ctx)
}

// queueFinal queues what the last round trip does before COMMIT: drop the heads of gone
// and inactive subscriptions, and read the first page of the heads not due yet.
func (c *claimer) queueFinal(b *pgx.Batch) {
	s := c.s
	if len(c.gone) > 0 || len(c.idle) > 0 {
		b.Queue(s.sql(qDropHeads), c.gone, c.idle)
	}
	b.Queue(s.sql(qLaterHeads), c.req.Now, time.Time{}, "", c.seenList())
}

// seenList is seen, never nil (a NULL array would exclude everything).
func (c *claimer) seenList() []string {
	if c.seen == nil {
		return []string{}
	}
	return c.seen
}

// readFinal reads the results of queueFinal.
func (c *claimer) readFinal(br pgx.BatchResults) error {
	if len(c.gone) > 0 || len(c.idle) > 0 {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	var err error
	c.later, err = scanLaterHeads(br.Query())
	return err
}

// laterPage is how many heads not due yet a claim reads at a time to find its next time.
const laterPage = 4 // qLaterHeads's LIMIT

// lease leases what wants asks for, in order and up to the remaining limit, and resets
// the heads of those subscriptions; last commits too.
func (c *claimer) lease(ctx context.Context, wants []want, last bool) error {
	s, req := c.s, c.req
	subs := make([]string, len(wants))
	takes := make([]int32, len(wants))
	tokens := make([]*float64, len(wants)) // nil: no rate limit
	ats := make([]*time.Time, len(wants))
	for i := range wants {
		w := &wants[i]
		subs[i], takes[i] = w.subID, int32(w.take)
		if w.rated {
			tokens[i], ats[i] = &w.tokens, &w.at
		}
	}
	b := &pgx.Batch{}
	b.Queue(s.sql(qClaim), subs, takes, req.Now, req.LeaseUntil, c.remaining)
	b.Queue(s.sql(qResetHeads), subs, tokens, ats, req.LeaseUntil)
	if last {
		c.queueFinal(b)
	}
	br, err := c.p.send(ctx, b, last)
	if err != nil {
		return err
	}
	cs, heads, err := c.readLease(br, wants)
	if err == nil && last {
		err = c.readFinal(br)
	}
	if err != nil {
		br.Close()
		return err
	}
	if err := c.p.end(br, last); err != nil {
		return err
	}
	c.out = append(c.out, cs...)
	c.remaining -= len(cs)
	got := make(map[string]int, len(wants))
	for _, cl := range cs {
		got[cl.Subscription.ID]++
	}
	for _, w := range wants {
		n := got[w.subID]
		if n >= w.quota {
			continue // its quota is used up: what it has left counts when the quota says
		}
		t, ok := heads[w.subID]
		if !ok {
			continue
		}
		if w.rated { // what it has left counts once its rate allows it
			if at := nextAllowed(w.sub.RateLimit, w.tokens-float64(n), w.at); at.After(t) {
				t = at
			}
		}
		c.candidates = append(c.candidates, t)
	}
	return nil
}

// readLease reads the results of qClaim and qResetHeads.
func (c *claimer) readLease(br pgx.BatchResults, wants []want) ([]store.Claim, map[string]time.Time, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
	}
	var claims []store.Claim
	for rows.Next() {
		var ord int64
		var prev []byte
		var ev store.Event
		r, err := scanDelivery(rowWithFirsts{rows, []any{&ord, &prev}}, &ev.Workspace, &ev.Type, &ev.OccurredAt, &ev.Data)
		if err == nil {
			r.d.Attempts, err = decodeAttempts(prev)
		}
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		w := wants[ord-1]
		ev.ID = r.d.EventID
		ev.OccurredAt = ev.OccurredAt.UTC()
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
	return claims, heads, rows.Err()
}

// scanHeads reads the rows of qLockHeads.
func scanHeads(rows pgx.Rows, err error) ([]head, error) {
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
		if err := rows.Scan(&h.subID, &h.due, &h.bucket.tokens, &h.bucket.at, &doc, &status, &reason, &changed, &updated, &runCount, &runSince, &inFlight, &h.stale); err != nil {
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

// scanLaterHeads reads the rows of qLaterHeads.
func scanLaterHeads(rows pgx.Rows, err error) ([]laterHead, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []laterHead
	for rows.Next() {
		var h laterHead
		var doc []byte
		var status, reason string
		var changed, updated *time.Time
		var inFlight int64
		if err := rows.Scan(&h.subID, &h.due, &h.bucket.tokens, &h.bucket.at, &doc, &status, &reason, &changed, &updated, &h.actual, &inFlight); err != nil {
			return nil, err
		}
		sub, err := decodeSub(doc, status, reason, changed, updated)
		if err != nil {
			return nil, err
		}
		h.sub, h.inFlight = &sub, int(inFlight)
		out = append(out, h)
	}
	return out, rows.Err()
}

// rowWithFirsts scans leading columns into firsts and the rest into what Scan is given.
type rowWithFirsts struct {
	pgx.Row
	firsts []any
}

func (r rowWithFirsts) Scan(dest ...any) error {
	return r.Row.Scan(append(append([]any(nil), r.firsts...), dest...)...)
}

// laterDue sets next: the earliest of the candidates and of the times the subscriptions
// whose heads the claim did not lock (not due yet, or held by another claim: their due
// time may be now) have a delivery due that their rate allows, those that a quota refuses
// excepted. (A bucket another claim spends meanwhile only makes that time later.) Heads
// are never later than the truth, so the walk stops at the first head later than the best
// time found. The first page was read before the commit; more pages, rarely needed, are
// read after it.
func (c *claimer) laterDue(ctx context.Context) error {
	best := time.Time{}
	for _, t := range c.candidates {
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	page := c.later
	for {
		for _, h := range page {
			if !best.IsZero() && !h.due.Before(best) {
				c.next = best
				return nil
			}
			if h.actual == nil || c.quota(h.head) <= 0 {
				continue // an early head with nothing pending, or refused
			}
			t := h.actual.UTC()
			if rate := h.sub.RateLimit; rate > 0 {
				tokens, since := h.bucket.refill(rate, c.clock)
				if at := nextAllowed(rate, tokens, since); at.After(t) {
					t = at
				}
			}
			if !t.After(c.req.Now) {
				c.held = true
			}
			if best.IsZero() || t.Before(best) {
				best = t
			}
		}
		if len(page) < laterPage {
			c.next = best
			return nil
		}
		last := page[len(page)-1]
		var err error
		page, err = scanLaterHeads(c.s.pool.Query(ctx, c.s.sql(qLaterHeads), c.req.Now, last.due, last.subID, c.seenList()))
		if err != nil {
			return err
		}
	}
}

var qAllHeads = query(`
SELECT h.sub_id, h.next_due,
       (SELECT min(x.due_at) FROM {{schema}}.queue x WHERE x.sub_id = h.sub_id)
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
