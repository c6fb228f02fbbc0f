package storepg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// Limits of one group-committed InsertEvent transaction.
const (
	maxEmitBatch = 256
	maxEmitBytes = 4 << 20
)

// emitCall is one InsertEvent.
type emitCall struct {
	ev  store.Event
	now time.Time
}

// querier is what runs the store's statements: the pool, or a transaction (the
// application's, for Tx).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// qInsertEvents stores events and fans each out to the subscriptions of its workspace
// that want its type, in one statement: an atomic step whether it runs alone (its own
// implicit transaction) or inside the application's transaction. The subscriptions are
// share-locked, so that a concurrent delete or deactivation either sees the new
// deliveries or happens first. Delivery IDs are the Go-made base of their event and a
// 3-character ordinal. qInsertEventsNotify also notifies the schema's channel ($10, $11)
// when a delivery is pending: PostgreSQL delivers it when the transaction commits.
var (
	qInsertEvents       = query(insertEvents + insertEventsResult)
	qInsertEventsNotify = query(insertEvents + `,
note AS (
    SELECT pg_notify($10, $11)
    WHERE EXISTS (SELECT 1 FROM fan f JOIN ev ON ev.id = f.event_id WHERE f.pending)
)` + insertEventsResult + `
UNION ALL
SELECT NULL, NULL, NULL, NULL FROM note`)
)

const insertEvents = `
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bytea[],
                         $6::timestamptz[], $7::text[], $8::text[])
        WITH ORDINALITY AS t(id, workspace, type, occurred_at, data, now, family, base, ord)
),
subs AS (
    SELECT s.id, s.seq, s.workspace, s.events, s.status
    FROM {{schema}}.subscriptions s
    WHERE s.workspace = ANY($2::text[]) AND s.events && $9::text[]
      AND (s.status = 'active' OR s.while_inactive = 'hold')
    ORDER BY s.seq
    FOR SHARE
),
fan AS (
    SELECT i.id AS event_id, i.workspace, i.type, i.now, i.ord, i.base, s.id AS sub_id, s.seq AS sub_seq,
           s.status = 'active' AS pending,
           row_number() OVER (PARTITION BY i.ord ORDER BY s.seq) - 1 AS n
    FROM input i JOIN subs s ON s.workspace = i.workspace AND s.events && string_to_array(i.family, ' ')
),
ev AS (
    INSERT INTO {{schema}}.events (id, workspace, type, occurred_at, bare, data)
    SELECT i.id, i.workspace, i.type, i.occurred_at, NOT EXISTS (SELECT 1 FROM fan f WHERE f.ord = i.ord), i.data
    FROM input i
    ORDER BY i.ord
    ON CONFLICT (id) DO NOTHING
    RETURNING id
),
dl AS (
    INSERT INTO {{schema}}.deliveries (id, workspace, event_id, sub_id, event_type, created_at)
    SELECT f.base
           || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((f.n >> 10) & 31)::int + 1, 1)
           || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((f.n >> 5) & 31)::int + 1, 1)
           || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', (f.n & 31)::int + 1, 1)
           || CASE WHEN f.n >= 32768 THEN f.n::text ELSE '' END,
           f.workspace, f.event_id, f.sub_id, f.type, f.now
    FROM fan f JOIN ev ON ev.id = f.event_id
    ORDER BY f.ord, f.sub_seq
    RETURNING seq, id, event_id, sub_id, created_at
),
st AS (
    INSERT INTO {{schema}}.delivery_state (seq, sub_id, state, next_attempt_at, created_at, updated_at)
    SELECT dl.seq, dl.sub_id, CASE WHEN f.pending THEN 'pending' ELSE 'held' END,
           CASE WHEN f.pending THEN dl.created_at END, dl.created_at, dl.created_at
    FROM dl JOIN fan f ON f.event_id = dl.event_id AND f.sub_id = dl.sub_id
),
qu AS (
    INSERT INTO {{schema}}.queue (seq, sub_id, due_at, created_at)
    SELECT dl.seq, dl.sub_id, dl.created_at, dl.created_at
    FROM dl JOIN fan f ON f.event_id = dl.event_id AND f.sub_id = dl.sub_id
    WHERE f.pending
),
hint AS (
    INSERT INTO {{schema}}.hints (sub_id, due)
    SELECT f.sub_id, min(f.now) FROM fan f JOIN ev ON ev.id = f.event_id
    WHERE f.pending GROUP BY f.sub_id
)`

const insertEventsResult = `
SELECT ev.id, NULL::bigint, NULL::text, NULL::boolean FROM ev
UNION ALL
SELECT dl.event_id, dl.seq, dl.id, f.pending FROM dl JOIN fan f ON f.event_id = dl.event_id AND f.sub_id = dl.sub_id`

var qEventsByID = query(`
SELECT id, workspace, type, occurred_at, data FROM {{schema}}.events WHERE id = ANY($1::text[])`)

// InsertEvent implements store.Store. Concurrent calls share one statement and one
// commit (group commit); each returns once that commit is done.
func (s *Store) InsertEvent(ctx context.Context, ev store.Event, now time.Time) (store.Inserted, error) {
	if ev.ID == "" {
		return store.Inserted{}, errors.New("storepg: event has an empty ID")
	}
	return s.emits.do(ctx, emitCall{ev: ev, now: now})
}

func weighEmit(c emitCall) int { return len(c.ev.Data) + 256 }

// insertBatch stores the events of calls in one statement. If it fails, each runs alone,
// so that one bad event fails only its own call. Once the callers have their answers,
// the other instances are woken (after the commit, so that PostgreSQL does not hold its
// NOTIFY lock, which serializes the commits of notifying transactions, while the commit
// waits for the disk).
func (s *Store) insertBatch(ctx context.Context, calls []*call[emitCall, store.Inserted]) (after func(context.Context)) {
	var uniq []emitCall
	first := make(map[string]int, len(calls))
	idx := make([]int, len(calls))
	for i, c := range calls {
		j, ok := first[c.req.ev.ID]
		if !ok {
			j = len(uniq)
			first[c.req.ev.ID] = j
			uniq = append(uniq, c.req)
		}
		idx[i] = j
	}
	res, err := s.insertEvents(ctx, s.pool, uniq, false)
	if err != nil && len(uniq) > 1 {
		pending := false
		for _, c := range calls {
			r, err := s.insertEvents(ctx, s.pool, []emitCall{c.req}, false)
			if err == nil {
				c.res = r[0]
				pending = pending || r[0].Pending > 0
			}
			c.err = err
		}
		if pending {
			return s.wakeOthers
		}
		return nil
	}
	seen := make([]bool, len(uniq))
	pending := false
	for i, c := range calls {
		if err != nil {
			c.err = err
			continue
		}
		r := res[idx[i]]
		if seen[idx[i]] { // the same ID twice in one batch: the second finds the first
			r = store.Inserted{Event: cloneEvent(r.Event)}
		}
		seen[idx[i]] = true
		c.res = r
		pending = pending || r.Pending > 0
	}
	if pending {
		return s.wakeOthers
	}
	return nil
}

// insertEvents stores evs (IDs all different) through q, notifying every instance at
// commit if notify, and answers for each event in order.
func (s *Store) insertEvents(ctx context.Context, q querier, evs []emitCall, notify bool) ([]store.Inserted, error) {
	n := len(evs)
	ids, wss, types := make([]string, n), make([]string, n), make([]string, n)
	occurred, nows := make([]time.Time, n), make([]time.Time, n)
	data := make([][]byte, n)
	families, bases := make([]string, n), make([]string, n)
	patterns := []string{"*"}
	for i, c := range evs {
		ids[i], wss[i], types[i] = c.ev.ID, c.ev.Workspace, c.ev.Type
		occurred[i], nows[i] = c.ev.OccurredAt, c.now
		data[i] = c.ev.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
		// Every pattern that can select the type: the name, "*", "<resource>.*",
		// "*.<action>", "*.<action>.<version>"; names never hold a space.
		pats := eventtypes.Patterns(c.ev.Type)
		families[i] = strings.Join(pats, " ")
		bases[i] = store.NewID("dlv")[:len("dlv_")+23]
		patterns = append(patterns, pats...)
	}
	args := []any{ids, wss, types, occurred, data, nows, families, bases, patterns}
	sql := s.sql(qInsertEvents)
	if notify {
		sql = s.sql(qInsertEventsNotify)
		args = append(args, s.channel, "tx")
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(err)
	}
	created := make(map[string]bool, n)
	type dlv struct {
		seq     int64
		id      string
		pending bool
	}
	byEvent := make(map[string][]dlv)
	for rows.Next() {
		var evID, dlvID *string
		var seq *int64
		var pending *bool
		if err := rows.Scan(&evID, &seq, &dlvID, &pending); err != nil {
			rows.Close()
			return nil, wrap(err)
		}
		switch {
		case evID == nil: // the notification
		case seq == nil:
			created[*evID] = true
		default:
			byEvent[*evID] = append(byEvent[*evID], dlv{*seq, *dlvID, *pending})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	out := make([]store.Inserted, n)
	var existing []string
	for i, c := range evs {
		if !created[c.ev.ID] {
			existing = append(existing, c.ev.ID)
			continue
		}
		ev := cloneEvent(c.ev)
		ev.OccurredAt = ev.OccurredAt.Truncate(time.Microsecond)
		r := store.Inserted{Event: ev, Created: true}
		ds := byEvent[c.ev.ID]
		slices.SortFunc(ds, func(a, b dlv) int { return int(a.seq - b.seq) })
		for _, d := range ds {
			r.Deliveries = append(r.Deliveries, d.id)
			if d.pending {
				r.Pending++
			} else {
				r.Held++
			}
		}
		out[i] = r
	}
	if len(existing) > 0 {
		found, err := s.events(ctx, q, existing)
		if err != nil {
			return nil, err
		}
		for i, c := range evs {
			if created[c.ev.ID] {
				continue
			}
			ev, ok := found[c.ev.ID]
			if !ok { // pruned since: very unlikely, and the caller may try again
				return nil, fmt.Errorf("storepg: event %q exists but was removed before it could be read", c.ev.ID)
			}
			out[i] = store.Inserted{Event: ev}
		}
	}
	return out, nil
}

// events reads the events with these IDs.
func (s *Store) events(ctx context.Context, q querier, ids []string) (map[string]store.Event, error) {
	rows, err := q.Query(ctx, s.sql(qEventsByID), ids)
	if err != nil {
		return nil, wrap(err)
	}
	out := make(map[string]store.Event, len(ids))
	for rows.Next() {
		var ev store.Event
		if err := rows.Scan(&ev.ID, &ev.Workspace, &ev.Type, &ev.OccurredAt, &ev.Data); err != nil {
			rows.Close()
			return nil, wrap(err)
		}
		ev.OccurredAt = ev.OccurredAt.UTC()
		out[ev.ID] = ev
	}
	return out, wrap(rows.Err())
}

func cloneEvent(e store.Event) store.Event {
	e.Data = append([]byte(nil), e.Data...)
	return e
}

// Tx returns a view of the store bound to the application's transaction tx, for
// webhook.WithTx: the event and its deliveries are written with tx, so they commit or
// roll back with the application's own writes, and the schedulers of every instance
// (this one's included) are woken when tx commits. It does not commit or roll back tx.
//
// Costs to know: the fan-out share-locks the subscriptions the event goes to until tx
// ends, so a change to those subscriptions waits for it; and the wake-up is a NOTIFY,
// whose lock PostgreSQL holds through the commit, so the commits of transactions that
// emitted happen one after another. Keep such transactions short; for events that need
// not commit with the application's data, Emit without WithTx is group-committed instead.
func (s *Store) Tx(tx pgx.Tx) store.EventInserter { return txInserter{s: s, tx: tx} }

// txInserter is Store.Tx's view.
type txInserter struct {
	s  *Store
	tx pgx.Tx
}

// InsertEvent implements store.EventInserter inside the application's transaction.
func (t txInserter) InsertEvent(ctx context.Context, ev store.Event, now time.Time) (store.Inserted, error) {
	if ev.ID == "" {
		return store.Inserted{}, errors.New("storepg: event has an empty ID")
	}
	res, err := t.s.insertEvents(ctx, t.tx, []emitCall{{ev: ev, now: now}}, true)
	if err != nil {
		return store.Inserted{}, err
	}
	return res[0], nil
}

var qEvent = query(`SELECT id, workspace, type, occurred_at, data FROM {{schema}}.events WHERE id = $1`)

// Event implements store.Store.
func (s *Store) Event(ctx context.Context, id string) (store.Event, error) {
	var ev store.Event
	err := s.pool.QueryRow(ctx, s.sql(qEvent), id).Scan(&ev.ID, &ev.Workspace, &ev.Type, &ev.OccurredAt, &ev.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Event{}, notFound("event", id)
	}
	if err != nil {
		return store.Event{}, wrap(err)
	}
	ev.OccurredAt = ev.OccurredAt.UTC()
	return ev, nil
}

var (
	qTestEvent = query(`
INSERT INTO {{schema}}.events (id, workspace, type, occurred_at, bare, data) VALUES ($1, $2, $3, $4, false, $5)
ON CONFLICT (id) DO UPDATE SET bare = false WHERE events.bare`)
	qTestDelivery = query(`
WITH d AS (
    INSERT INTO {{schema}}.deliveries (id, workspace, event_id, sub_id, event_type, created_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING seq
)
INSERT INTO {{schema}}.delivery_state (seq, sub_id, state, next_attempt_at, created_at, updated_at, finished_at,
                                        attempts, round_start, test)
SELECT d.seq, $4, $7, $8, $6, $9, $9, $10, $11, true FROM d
RETURNING seq`)
)

// RecordTest implements store.Store.
func (s *Store) RecordTest(ctx context.Context, ev store.Event, d store.Delivery) error {
	if err := store.PrepareTest(ev, &d); err != nil {
		return err
	}
	data := ev.Data
	if data == nil {
		data = []byte{}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.sql(qTestEvent), ev.ID, ev.Workspace, ev.Type, ev.OccurredAt, data); err != nil {
			return err
		}
		var seq int64
		err := tx.QueryRow(ctx, s.sql(qTestDelivery), d.ID, d.Workspace, d.EventID, d.SubscriptionID, d.EventType,
			d.CreatedAt, string(d.State), nullTime(d.NextAttemptAt), d.UpdatedAt, len(d.Attempts), d.RoundStart).Scan(&seq)
		if err != nil {
			return err
		}
		return insertAttempts(ctx, tx, s, seq, 0, d.Attempts)
	})
	if pgCode(err) == pgUniqueViolation {
		return fmt.Errorf("delivery %q: %w", d.ID, store.ErrConflict)
	}
	return wrap(err)
}

var qInsertAttempts = query(`
INSERT INTO {{schema}}.attempts (delivery_seq, n, number, sent_at, duration, status_code, response_body, error,
                                 error_kind, outcome, next_attempt_at, test)
SELECT $1, $2 + a.ord, a.number, a.sent_at, a.duration, a.status_code, a.body, a.error, a.kind, a.outcome, a.next, a.test
FROM unnest($3::int[], $4::timestamptz[], $5::bigint[], $6::int[], $7::bytea[], $8::bytea[], $9::text[], $10::text[],
            $11::timestamptz[], $12::bool[])
    WITH ORDINALITY AS a(number, sent_at, duration, status_code, body, error, kind, outcome, next, test, ord)`)

// insertAttempts appends attempts to the log of delivery seq, which holds before of them.
func insertAttempts(ctx context.Context, tx pgx.Tx, s *Store, seq int64, before int, as []store.Attempt) error {
	if len(as) == 0 {
		return nil
	}
	n := len(as)
	numbers, codes := make([]int32, n), make([]int32, n)
	sent, next := make([]time.Time, n), make([]*time.Time, n)
	durations := make([]int64, n)
	bodies, errs := make([][]byte, n), make([][]byte, n)
	kinds, outcomes := make([]string, n), make([]string, n)
	tests := make([]bool, n)
	for i, a := range as {
		numbers[i], codes[i] = int32(a.Number), int32(a.StatusCode)
		sent[i], next[i] = a.SentAt, nullTime(a.NextAttemptAt)
		durations[i] = int64(a.Duration)
		bodies[i], errs[i] = []byte(a.ResponseBody), []byte(a.Error)
		kinds[i], outcomes[i] = string(a.ErrorKind), string(a.Outcome)
		tests[i] = a.Test
	}
	_, err := tx.Exec(ctx, s.sql(qInsertAttempts), seq, before, numbers, sent, durations, codes, bodies, errs,
		kinds, outcomes, next, tests)
	return err
}

// nullTime is nil for the zero time, so that it is stored as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
