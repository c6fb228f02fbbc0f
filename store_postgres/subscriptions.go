package storepg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shophooks/webhook/store"
)

// subCols are the columns decodeSub reads, in its order.
const subCols = `sub.doc, sub.status, sub.status_reason, sub.status_changed_at, sub.updated_at`

// decodeSub builds a subscription from its row: the JSON document, and the columns the
// store changes on its own (status, its reason and time, the update time).
func decodeSub(doc []byte, status, reason string, changed, updated *time.Time) (store.Subscription, error) {
	var s store.Subscription
	if err := json.Unmarshal(doc, &s); err != nil {
		return store.Subscription{}, fmt.Errorf("storepg: decoding a subscription: %w", err)
	}
	s.Status, s.StatusReason = store.Status(status), reason
	s.StatusChangedAt, s.UpdatedAt = time.Time{}, time.Time{}
	if changed != nil {
		s.StatusChangedAt = changed.UTC()
	}
	if updated != nil {
		s.UpdatedAt = updated.UTC()
	}
	return s, nil
}

// subArgs are a subscription's column values, in the order of qCreateSub's parameters
// $2 to $10.
func subArgs(s store.Subscription) ([]any, error) {
	doc, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("storepg: encoding subscription %q: %w", s.ID, err)
	}
	var meta any // NULL without metadata
	if len(s.Metadata) > 0 {
		meta = s.Metadata
	}
	events := s.Events
	if events == nil {
		events = []string{}
	}
	return []any{s.Workspace, events, string(s.Status), s.StatusReason, nullTime(s.StatusChangedAt),
		string(s.WhileInactive), meta, nullTime(s.UpdatedAt), doc}, nil
}

// qCreateSub stores a subscription and gives it its queue head, which it keeps until it
// is deleted.
var qCreateSub = query(`
WITH sub AS (
    INSERT INTO {{schema}}.subscriptions (id, workspace, events, status, status_reason, status_changed_at,
                                          while_inactive, metadata, updated_at, doc)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    RETURNING id
)
INSERT INTO {{schema}}.heads (sub_id) SELECT id FROM sub ON CONFLICT (sub_id) DO NOTHING`)

// CreateSubscription implements store.Store.
func (s *Store) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	if sub.ID == "" {
		return errors.New("storepg: subscription has an empty ID")
	}
	sub = sub.Clone()
	if sub.Status == "" {
		sub.Status = store.StatusActive
	}
	args, err := subArgs(sub)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, s.sql(qCreateSub), append([]any{sub.ID}, args...)...)
	if pgCode(err) == pgUniqueViolation {
		return fmt.Errorf("subscription %q: %w", sub.ID, store.ErrConflict)
	}
	return wrap(err)
}

var qSub = query(`SELECT ` + subCols + ` FROM {{schema}}.subscriptions sub WHERE sub.id = $1`)

// Subscription implements store.Store.
func (s *Store) Subscription(ctx context.Context, id string) (store.Subscription, error) {
	return s.subscription(ctx, s.pool, qSub, id)
}

// subscription reads one subscription with query q (qSub, or qSubForUpdate in a
// transaction).
func (s *Store) subscription(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, query, id string) (store.Subscription, error) {
	var doc []byte
	var status, reason string
	var changed, updated *time.Time
	err := q.QueryRow(ctx, s.sql(query), id).Scan(&doc, &status, &reason, &changed, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Subscription{}, notFound("subscription", id)
	}
	if err != nil {
		return store.Subscription{}, wrap(err)
	}
	return decodeSub(doc, status, reason, changed, updated)
}

var (
	qSubForUpdate = query(`SELECT ` + subCols + ` FROM {{schema}}.subscriptions sub WHERE sub.id = $1 FOR UPDATE`)
	qUpdateSub    = query(`
UPDATE {{schema}}.subscriptions SET workspace = $2, events = $3, status = $4, status_reason = $5,
    status_changed_at = $6, while_inactive = $7, metadata = $8, updated_at = $9, doc = $10
WHERE id = $1`)
	// qDeactivated moves the open deliveries of a subscription that became inactive:
	// pending ones not in flight leave the queue and are held or cancelled ($2).
	qDeactivated = query(`
WITH gone AS (
    DELETE FROM {{schema}}.queue WHERE sub_id = $1 AND leased_until IS NULL RETURNING seq
)
UPDATE {{schema}}.delivery_state x
SET state = $2, next_attempt_at = NULL, updated_at = $3,
    finished_at = CASE WHEN $2::text = 'cancelled' THEN $3::timestamptz END
FROM gone WHERE x.seq = gone.seq`)
	// qActivated releases the held deliveries of a subscription that became active, due
	// at once, and wakes the schedulers. The hint is written even without held
	// deliveries: pending ones left in flight while it was inactive are due again too.
	qActivated = query(`
WITH moved AS (
    UPDATE {{schema}}.delivery_state SET state = 'pending', next_attempt_at = $2, updated_at = $2
    WHERE sub_id = $1 AND state = 'held'
    RETURNING seq, created_at
),
queued AS (
    INSERT INTO {{schema}}.queue (seq, sub_id, due_at, created_at) SELECT seq, $1, $2, created_at FROM moved
),
hint AS (
    INSERT INTO {{schema}}.hints (sub_id, due) VALUES ($1, $2)
)
SELECT pg_notify($3, $4), (SELECT count(*) FROM moved)`)
)

// UpdateSubscription implements store.Store. The subscription keeps its ID and its
// workspace whatever fn does to them.
func (s *Store) UpdateSubscription(ctx context.Context, id string, now time.Time, fn func(*store.Subscription) error) (store.Subscription, error) {
	var out store.Subscription
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := s.subscription(ctx, tx, qSubForUpdate, id)
		if err != nil {
			return err
		}
		next := cur.Clone()
		if err := fn(&next); err != nil {
			return callerError{err}
		}
		next.ID, next.Workspace = id, cur.Workspace // the keys: never changed
		args, err := subArgs(next)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.sql(qUpdateSub), append([]any{id}, args...)...); err != nil {
			return err
		}
		if cur.Status != next.Status {
			switch next.Status {
			case store.StatusInactive:
				_, err = tx.Exec(ctx, s.sql(qDeactivated), id, string(store.InactiveState(next.WhileInactive)), now)
			case store.StatusActive:
				_, err = tx.Exec(ctx, s.sql(qActivated), id, now, s.channel, s.self)
			}
			if err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	var ce callerError
	switch {
	case errors.As(err, &ce):
		return store.Subscription{}, ce.err // fn's error, as it is
	case err != nil:
		return store.Subscription{}, storeErr(err)
	}
	return out, nil
}

// callerError carries an error of the caller's function out of a transaction.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }

var qDeleteSub = query(`
WITH sub AS (
    DELETE FROM {{schema}}.subscriptions WHERE id = $1 RETURNING id
),` + cancelOpen + `
figures AS (
    DELETE FROM {{schema}}.figures f USING sub WHERE f.scope = 's' AND f.key = sub.id
),
head AS (
    DELETE FROM {{schema}}.heads h USING sub WHERE h.sub_id = sub.id
)
SELECT count(*) FROM sub`)

// cancelOpen is the part of a statement that cancels the open (pending and held)
// deliveries of the subscription in its CTE sub, at $2.
const cancelOpen = `
pending AS (
    DELETE FROM {{schema}}.queue q USING sub WHERE q.sub_id = sub.id RETURNING q.seq
),
open AS (
    SELECT seq FROM pending
    UNION
    SELECT x.seq FROM {{schema}}.delivery_state x, sub WHERE x.sub_id = sub.id AND x.state = 'held'
),
cancelled AS (
    UPDATE {{schema}}.delivery_state x
    SET state = 'cancelled', next_attempt_at = NULL, updated_at = $2, finished_at = $2
    FROM open WHERE x.seq = open.seq
),`

// DeleteSubscription implements store.Store.
func (s *Store) DeleteSubscription(ctx context.Context, id string, now time.Time) error {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, s.sql(qDeleteSub), id, now).Scan(&n)
	})
	if err != nil {
		return wrap(err)
	}
	if n == 0 {
		return notFound("subscription", id)
	}
	return nil
}

// Subscriptions implements store.Store. PostgreSQL selects by workspace (through its
// index), status and metadata (through a GIN index); the event and text filters apply to
// what they leave.
func (s *Store) Subscriptions(ctx context.Context, f store.SubscriptionFilter) ([]store.Subscription, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Workspace != "" {
		where = append(where, "sub.workspace = "+arg(f.Workspace))
	}
	if f.Status != "" {
		where = append(where, "sub.status = "+arg(string(f.Status)))
	}
	if len(f.Metadata) > 0 {
		where = append(where, "sub.metadata @> "+arg(f.Metadata)+"::jsonb")
	}
	q := `SELECT ` + subCols + ` FROM ` + quoteIdent(s.cfg.schema) + `.subscriptions sub`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY sub.seq"
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []store.Subscription{}
	for rows.Next() {
		var doc []byte
		var status, reason string
		var changed, updated *time.Time
		if err := rows.Scan(&doc, &status, &reason, &changed, &updated); err != nil {
			return nil, wrap(err)
		}
		sub, err := decodeSub(doc, status, reason, changed, updated)
		if err != nil {
			return nil, err
		}
		if f.Match(sub) {
			out = append(out, sub)
		}
	}
	return out, wrap(rows.Err())
}
