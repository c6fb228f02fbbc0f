package webhook

import (
	"context"
	"fmt"
	"sync"
)

// Waiting for quiet: Idle and Settled wait on the scheduler's own rounds (each claim
// pass), which the scheduler reports here; nothing polls.

// quiet tracks the scheduler's rounds, so that Idle can wait for a round that started
// after it was called and found nothing to do.
type quiet struct {
	mu      sync.Mutex
	started uint64        // rounds the scheduler has started
	idle    uint64        // the last round that ended quiet; 0 before the first
	changed chan struct{} // closed and replaced when idle advances or the scheduler stops
	stopped bool
}

func newQuiet() *quiet { return &quiet{changed: make(chan struct{})} }

// begin tells that the scheduler starts a round, and returns the round's number.
func (q *quiet) begin() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.started++
	return q.started
}

// end tells how the round ended: quiet means that, as of the round, nothing was in
// flight and nothing was due.
func (q *quiet) end(round uint64, quiet bool) {
	if !quiet {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.idle = round
	close(q.changed)
	q.changed = make(chan struct{})
}

// stop tells that the scheduler has ended: waiters get ErrClosed.
func (q *quiet) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	close(q.changed)
	q.changed = make(chan struct{})
}

// rounds returns the number of rounds started so far.
func (q *quiet) rounds() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.started
}

// wait returns the number of a quiet round later than after, once there is one.
func (q *quiet) wait(ctx context.Context, after uint64) (uint64, error) {
	for {
		q.mu.Lock()
		idle, stopped, changed := q.idle, q.stopped, q.changed
		q.mu.Unlock()
		switch {
		case idle > after:
			return idle, nil
		case stopped:
			return 0, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Idle returns once the dispatcher is quiet: no attempt of it is in flight and no
// delivery is due now. Deliveries that wait for a later time do not count: a retry
// scheduled in a minute, a delivery held back by its subscription's rate limit or open
// circuit breaker, a held delivery; nor do Test calls. Every attempt that was due when
// Idle was called has been made and recorded (and the observer called) by the time it
// returns, including those of events emitted just before. Use Settled to wait for the
// scheduled retries as well.
//
// Idle does not poll: it waits for the scheduler to find nothing to do. It returns ctx's
// error if ctx ends first, and ErrClosed if the dispatcher is or gets closed. With a store
// that several processes share, it speaks for this dispatcher only.
func (d *Dispatcher) Idle(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	after := d.quiet.rounds()
	d.signal() // a round that starts after this call
	_, err := d.quiet.wait(ctx, after)
	return err
}

// Settled returns once no delivery is pending any more: each has succeeded, failed
// (after its last attempt), been cancelled, or is held for an inactive subscription. It
// waits for scheduled retries, on the retry policy's schedule: with the default policy a
// delivery to an endpoint that keeps failing settles about 15 minutes after its first
// attempt. Tests and demos with a compressed schedule use it to wait for the end of a
// scenario.
//
// Like Idle it does not poll: it looks at the store only when the scheduler has nothing
// to do. It returns ctx's error if ctx ends first, and ErrClosed if the dispatcher is or
// gets closed. With a store that several processes share, it also waits for the
// deliveries other processes have in flight or due.
func (d *Dispatcher) Settled(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	after := d.quiet.rounds()
	d.signal()
	for {
		round, err := d.quiet.wait(ctx, after)
		if err != nil {
			return err
		}
		_, pending, err := d.store.NextDue(ctx)
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		if !pending {
			return nil
		}
		// The scheduler's timer is set for the earliest of them: wait for the next
		// quiet round, after it has made that attempt.
		after = round
	}
}
