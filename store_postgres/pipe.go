package storepg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipe is a transaction on one pooled connection whose BEGIN and COMMIT travel with its
// statements: a transaction of two batches costs two round trips, not four.
type pipe struct {
	c     *pgxpool.Conn
	opts  pipeOpts
	began bool
	done  bool // committed, or never begun and released
}

// pipeOpts say how a pipe's transaction runs.
type pipeOpts int

const (
	// asyncCommit commits without waiting for the WAL to reach the disk: for writes that a
	// crash of the database server may undo without losing anything (a lease, an
	// attempt's record: the delivery is sent again).
	asyncCommit pipeOpts = 1 << iota
	// keyedJoins forbids hash and merge joins: for statements that join a batch's few
	// rows to large tables by key. Planned once per connection, perhaps while the tables
	// were small, they would otherwise read whole tables at every execution once the
	// tables are large.
	keyedJoins
)

// beginPipe acquires a connection for a transaction.
func (s *Store) beginPipe(ctx context.Context, opts pipeOpts) (*pipe, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pipe{c: c, opts: opts}, nil
}

// send sends b in the transaction: after BEGIN if it has not begun, and followed by
// COMMIT if last. The caller reads b's results, then calls end.
func (p *pipe) send(ctx context.Context, b *pgx.Batch, last bool) (pgx.BatchResults, error) {
	prefix := 0
	if !p.began {
		// The store's statements are planned once per connection: their plans do not
		// depend on the values (PostgreSQL would otherwise plan some of them afresh at
		// every execution). They look rows up by key, through plain index scans, which
		// (unlike bitmap scans) mark the index entries of dead queue rows so that the
		// next scan skips them.
		set := `SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_bitmapscan', 'off', true)`
		if p.opts&asyncCommit != 0 {
			set += `, set_config('synchronous_commit', 'off', true)`
		}
		if p.opts&keyedJoins != 0 {
			set += `, set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`
		}
		q := []*pgx.QueuedQuery{{SQL: "BEGIN"}, {SQL: set}}
		prefix = len(q)
		b.QueuedQueries = append(q, b.QueuedQueries...)
		p.began = true
	}
	if last {
		b.Queue("COMMIT")
	}
	br := p.c.SendBatch(ctx, b)
	for range prefix {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

// end reads the COMMIT of a last batch and closes br.
func (p *pipe) end(br pgx.BatchResults, last bool) error {
	if last {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	if last {
		p.done = true
	}
	return nil
}

// query runs one query in the transaction, which must have begun.
func (p *pipe) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return p.c.Query(ctx, sql, args...)
}

// release rolls the transaction back unless it was committed, and gives the connection
// back to the pool.
func (p *pipe) release() {
	if p.began && !p.done {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := p.c.Exec(ctx, "ROLLBACK")
		cancel()
		if err != nil {
			// The pool closes a connection left in a transaction.
			_ = p.c.Conn().Close(context.Background())
		}
	}
	p.c.Release()
}
