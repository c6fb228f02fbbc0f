package storepg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shophooks/webhook/store"
)

// dlvCols are the columns scanDelivery reads, in its order: the log row d, the state row
// s and the queue row q (outer-joined: NULL unless the delivery is pending) of a delivery.
const dlvCols = `d.seq, d.id, d.workspace, d.event_id, d.sub_id, d.event_type, d.created_at,
    s.state, s.next_attempt_at, q.leased_until, s.updated_at, s.round_start, s.test, s.attempts`

// dlvRow is a delivery as scanned, before its attempts are read.
type dlvRow struct {
	seq      int64
	attempts int32
	d        store.Delivery
}

// scanDelivery scans the dlvCols of a row.
func scanDelivery(row pgx.Row, extra ...any) (dlvRow, error) {
	var r dlvRow
	var state string
	var next, leased *time.Time
	var roundStart int32
	dest := []any{&r.seq, &r.d.ID, &r.d.Workspace, &r.d.EventID, &r.d.SubscriptionID, &r.d.EventType, &r.d.CreatedAt,
		&state, &next, &leased, &r.d.UpdatedAt, &roundStart, &r.d.Test, &r.attempts}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return dlvRow{}, err
	}
	r.d.State = store.DeliveryState(state)
	r.d.CreatedAt, r.d.UpdatedAt = r.d.CreatedAt.UTC(), r.d.UpdatedAt.UTC()
	if next != nil {
		r.d.NextAttemptAt = next.UTC()
	}
	if leased != nil {
		r.d.LeasedUntil = leased.UTC()
	}
	r.d.RoundStart = int(roundStart)
	r.d.Attempts = []store.Attempt{}
	return r, nil
}

// attemptCols are the columns scanAttempt reads, in its order.
const attemptCols = `a.delivery_seq, a.number, a.sent_at, a.duration, a.status_code, a.response_body, a.error,
    a.error_kind, a.outcome, a.next_attempt_at, a.test`

func scanAttempt(row pgx.Row) (int64, store.Attempt, error) {
	var seq, duration int64
	var number, code int32
	var body, errText []byte
	var kind, outcome string
	var next *time.Time
	var a store.Attempt
	if err := row.Scan(&seq, &number, &a.SentAt, &duration, &code, &body, &errText, &kind, &outcome, &next, &a.Test); err != nil {
		return 0, store.Attempt{}, err
	}
	a.Number, a.StatusCode = int(number), int(code)
	a.SentAt = a.SentAt.UTC()
	a.Duration = time.Duration(duration)
	a.ResponseBody, a.Error = string(body), string(errText)
	a.ErrorKind, a.Outcome = store.ErrorKind(kind), store.Outcome(outcome)
	if next != nil {
		a.NextAttemptAt = next.UTC()
	}
	return seq, a, nil
}

var qAttemptsOf = query(`SELECT ` + attemptCols + ` FROM {{schema}}.attempts a
WHERE a.delivery_seq = ANY($1::bigint[]) ORDER BY a.delivery_seq, a.n`)

// withAttempts reads the attempts of the deliveries that have some.
func (s *Store) withAttempts(ctx context.Context, q querier, rs []dlvRow) ([]store.Delivery, error) {
	out := make([]store.Delivery, len(rs))
	at := make(map[int64]int, len(rs))
	var seqs []int64
	for i, r := range rs {
		out[i] = r.d
		if r.attempts > 0 {
			at[r.seq] = i
			seqs = append(seqs, r.seq)
		}
	}
	if len(seqs) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, s.sql(qAttemptsOf), seqs)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		seq, a, err := scanAttempt(rows)
		if err != nil {
			return nil, wrap(err)
		}
		i := at[seq]
		out[i].Attempts = append(out[i].Attempts, a)
	}
	return out, wrap(rows.Err())
}

var qDelivery = query(`SELECT ` + dlvCols + ` FROM {{schema}}.deliveries d
JOIN {{schema}}.delivery_state s ON s.seq = d.seq
LEFT JOIN {{schema}}.queue q ON q.seq = d.seq
WHERE d.id = $1`)

// Delivery implements store.Store.
func (s *Store) Delivery(ctx context.Context, id string) (store.Delivery, error) {
	return s.delivery(ctx, s.pool, id)
}

// delivery reads one delivery, with its attempts, through q.
func (s *Store) delivery(ctx context.Context, q interface {
	querier
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (store.Delivery, error) {
	r, err := scanDelivery(q.QueryRow(ctx, s.sql(qDelivery), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Delivery{}, notFound("delivery", id)
	}
	if err != nil {
		return store.Delivery{}, wrap(err)
	}
	ds, err := s.withAttempts(ctx, q, []dlvRow{r})
	if err != nil {
		return store.Delivery{}, err
	}
	return ds[0], nil
}

var qSeqOf = query(`SELECT seq FROM {{schema}}.deliveries WHERE id = $1`)

// Deliveries implements store.Store. Each field of the query is served by an index: the
// subscription's, the workspace's, the event's, the creation time's (on the log), or the
// state's (on the state rows); PostgreSQL picks the most selective.
func (s *Store) Deliveries(ctx context.Context, q store.DeliveryQuery) ([]store.Delivery, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Workspace != "" {
		where = append(where, "d.workspace = "+arg(q.Workspace))
	}
	if q.SubscriptionID != "" {
		where = append(where, "d.sub_id = "+arg(q.SubscriptionID))
	}
	if q.EventID != "" {
		where = append(where, "d.event_id = "+arg(q.EventID))
	}
	if q.State != "" {
		where = append(where, "s.state = "+arg(string(q.State)))
	}
	if !q.Since.IsZero() {
		where = append(where, "d.created_at >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "d.created_at < "+arg(q.Until))
	}
	if q.Before != "" {
		var before int64
		err := s.pool.QueryRow(ctx, s.sql(qSeqOf), q.Before).Scan(&before)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("storepg: cursor: %w", notFound("delivery", q.Before))
		}
		if err != nil {
			return nil, wrap(err)
		}
		where = append(where, "d.seq < "+arg(before))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	qs := quoteIdent(s.cfg.schema)
	sql := `SELECT ` + dlvCols + ` FROM ` + qs + `.deliveries d JOIN ` + qs + `.delivery_state s ON s.seq = d.seq
LEFT JOIN ` + qs + `.queue q ON q.seq = d.seq`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY d.seq DESC LIMIT " + arg(limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(err)
	}
	var rs []dlvRow
	for rows.Next() {
		r, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, wrap(err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	return s.withAttempts(ctx, s.pool, rs)
}
