package storepg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shophooks/webhook/store"
)

var (
	// qOldFinished selects finished deliveries last updated before $1, oldest first,
	// through the partial index of finished deliveries.
	qOldFinished = query(`
SELECT seq FROM {{schema}}.delivery_state
WHERE finished_at IS NOT NULL AND finished_at < $1
ORDER BY finished_at LIMIT $2`)
	// qBeyondKeep selects, for every subscription that has deliveries in the log (gone
	// ones included; found by skipping through the log's subscription index), its
	// finished deliveries beyond the newest $1.
	qBeyondKeep = query(`
WITH RECURSIVE subs AS (
    (SELECT sub_id FROM {{schema}}.deliveries ORDER BY sub_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.sub_id FROM {{schema}}.deliveries d WHERE d.sub_id > subs.sub_id ORDER BY d.sub_id LIMIT 1)
    FROM subs WHERE subs.sub_id IS NOT NULL
)
SELECT v.seq FROM subs CROSS JOIN LATERAL (
    SELECT d.seq FROM {{schema}}.deliveries d JOIN {{schema}}.delivery_state x ON x.seq = d.seq
    WHERE d.sub_id = subs.sub_id AND x.state IN ('succeeded', 'failed', 'cancelled')
    ORDER BY d.seq DESC OFFSET $1 LIMIT $2
) v
WHERE subs.sub_id IS NOT NULL
LIMIT $2`)
	// qPrune removes deliveries that are still finished (a Redeliver may have come
	// first), with their attempts, and answers their events.
	qPrune = query(`
WITH x AS (
    DELETE FROM {{schema}}.delivery_state x
    WHERE x.seq = ANY($1::bigint[]) AND x.state IN ('succeeded', 'failed', 'cancelled')
    RETURNING x.seq
),
a AS (
    DELETE FROM {{schema}}.attempts a USING x WHERE a.delivery_seq = x.seq
),
d AS (
    DELETE FROM {{schema}}.deliveries d USING x WHERE d.seq = x.seq RETURNING d.event_id
)
SELECT event_id FROM d`)
	// qPruneEvents removes the events $1 that no delivery refers to any more.
	qPruneEvents = query(`
DELETE FROM {{schema}}.events e
WHERE e.id = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM {{schema}}.deliveries d WHERE d.event_id = e.id)`)
	// qPruneBare removes events that never had a delivery and occurred before $1.
	qPruneBare = query(`
DELETE FROM {{schema}}.events WHERE id IN (
    SELECT id FROM {{schema}}.events WHERE bare AND occurred_at < $1 ORDER BY occurred_at LIMIT $2
    FOR UPDATE SKIP LOCKED)`)
)

// Prune implements store.Store, in one transaction.
func (s *Store) Prune(ctx context.Context, req store.PruneRequest) (int, error) {
	n, _, err := s.prune(ctx, req)
	return n, err
}

// prune is Prune; it also answers how many bare events it removed.
func (s *Store) prune(ctx context.Context, req store.PruneRequest) (n, bare int, err error) {
	var limit any // NULL: no limit
	if req.Limit > 0 {
		limit = req.Limit
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		n, bare = 0, 0
		var events []string
		remove := func(q string, args ...any) error {
			rows, err := tx.Query(ctx, s.sql(q), args...)
			if err != nil {
				return err
			}
			seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil || len(seqs) == 0 {
				return err
			}
			rows, err = tx.Query(ctx, s.sql(qPrune), seqs)
			if err != nil {
				return err
			}
			evs, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			n += len(evs)
			events = append(events, evs...)
			return nil
		}
		if !req.Before.IsZero() {
			if err := remove(qOldFinished, req.Before, limit); err != nil {
				return err
			}
		}
		if req.KeepPerSubscription > 0 && (req.Limit <= 0 || n < req.Limit) {
			var left any = limit
			if req.Limit > 0 {
				left = req.Limit - n
			}
			if err := remove(qBeyondKeep, req.KeepPerSubscription, left); err != nil {
				return err
			}
		}
		if len(events) > 0 {
			if _, err := tx.Exec(ctx, s.sql(qPruneEvents), events); err != nil {
				return err
			}
		}
		if !req.Before.IsZero() {
			tag, err := tx.Exec(ctx, s.sql(qPruneBare), req.Before, limit)
			if err != nil {
				return err
			}
			bare = int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, 0, wrap(err)
	}
	return n, bare, nil
}

// pruneLoop applies the retention every prune interval until Close.
func (s *Store) pruneLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.pruneInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			s.pruneOnce()
		}
	}
}

// pruneOnce prunes what the retention selects now, PruneBatch deliveries per transaction,
// so that no writer waits long behind it.
func (s *Store) pruneOnce() {
	for s.ctx.Err() == nil {
		req := store.PruneRequest{KeepPerSubscription: s.cfg.keep, Limit: PruneBatch}
		if s.cfg.maxAge > 0 {
			req.Before = time.Now().Add(-s.cfg.maxAge)
		}
		n, bare, err := s.prune(s.ctx, req)
		if err != nil {
			if s.ctx.Err() == nil {
				s.cfg.logger.Error("storepg: pruning the delivery log failed", "err", err)
			}
			return
		}
		if n < PruneBatch && bare < PruneBatch {
			return
		}
	}
}
