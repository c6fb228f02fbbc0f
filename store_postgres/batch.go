package storepg

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// spawnQueue is how many calls must wait before a batcher that is running a transaction
// starts another. A transaction's statement has a fixed cost of PostgreSQL CPU much like a
// few calls' work, and on a small server CPU, not the disk, bounds the commits: 16
// emitters cost 145 µs of PostgreSQL CPU per event with 16, 360 µs with 4.
const spawnQueue = 16

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("storepg: store is closed")

// batcher is a group commit: the calls that arrive while transactions run share the
// next one, so that n concurrent writers cost far fewer than n commits, and a lone writer
// waits for no timer. Up to runners goroutines run transactions while there are calls
// (so that one's commit overlaps another's statements), and end when there are none.
type batcher[Req, Res any] struct {
	ctx       context.Context // the store's: ends at Close
	max       int             // calls in one batch at most
	maxWeight int             // total weight of one batch at most (but one call always runs)
	weigh     func(Req) int
	// run answers the calls; what it returns, if anything, runs once they have their
	// answers.
	run func(ctx context.Context, calls []*call[Req, Res]) (after func(context.Context))

	runners int // how many transactions may run at once

	mu      sync.Mutex
	queue   []*call[Req, Res]
	running int // goroutines running transactions
	closed  bool
	wg      sync.WaitGroup
}

// call is one caller's request and, once done is closed, its answer.
type call[Req, Res any] struct {
	ctx  context.Context
	req  Req
	res  Res
	err  error
	done chan struct{}
}

func newBatcher[Req, Res any](ctx context.Context, runners, max, maxWeight int, weigh func(Req) int, run func(context.Context, []*call[Req, Res]) func(context.Context)) *batcher[Req, Res] {
	return &batcher[Req, Res]{ctx: ctx, runners: runners, max: max, maxWeight: maxWeight, weigh: weigh, run: run}
}

// do queues req and waits for its answer. When ctx ends first it returns ctx's error: the
// request may still be carried out. A call the store's Close cut short fails with an
// error matching ErrClosed.
func (b *batcher[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	c := &call[Req, Res]{ctx: ctx, req: req, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		var zero Res
		return zero, ErrClosed
	}
	b.queue = append(b.queue, c)
	// A lone call starts a runner at once; another runner starts only when enough calls
	// wait to make a batch worth its own commit: fewer, larger transactions.
	if b.running == 0 || (b.running < b.runners && len(b.queue) >= spawnQueue) {
		b.running++
		b.wg.Add(1)
		go b.loop()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		if c.err != nil && b.ctx.Err() != nil {
			return c.res, fmt.Errorf("%w: %w", ErrClosed, c.err)
		}
		return c.res, c.err
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err()
	}
}

// loop runs the queued calls, batch after batch, until the queue is empty.
func (b *batcher[Req, Res]) loop() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		var calls []*call[Req, Res]
		n, weight := 0, 0
		for _, c := range b.queue {
			w := b.weigh(c.req)
			if len(calls) == b.max || (len(calls) > 0 && weight+w > b.maxWeight) {
				break
			}
			n++
			if c.ctx.Err() == nil { // else its caller has gone: leave it out
				calls = append(calls, c)
				weight += w
			}
		}
		b.queue = b.queue[n:]
		if len(b.queue) == 0 {
			b.queue = nil
		}
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		if len(calls) > 0 {
			after := b.run(b.ctx, calls)
			for _, c := range calls {
				close(c.done)
			}
			if after != nil {
				after(b.ctx)
			}
		}
	}
}

// close refuses new calls and waits for the queued ones to end (failing, once the
// store's context has ended).
func (b *batcher[Req, Res]) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
}
