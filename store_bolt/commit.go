package storebolt

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxBatch caps the calls that share one transaction.
const maxBatch = 1000

// committer is a group commit: the calls that arrive while a transaction commits share
// the next one, so n concurrent writers cost far fewer than n fsyncs, and a lone writer
// waits for no timer. After a commit it waits a moment for the callers it released to
// come back (see gather), so that they share one commit rather than straddle two.
// bbolt's DB.Batch does the same with a timer (MaxBatchDelay) that every batch waits out,
// which a lone writer pays on every call.
//
// Like DB.Batch, a function may run more than once: when another function of its
// transaction fails, the transaction is rolled back and run again without the failing
// one, which then runs alone.
type committer struct {
	db    *bolt.DB
	delay time.Duration // how long a call to an idle committer waits for company
	dec   *decoders     // the store's decode caches

	mu    sync.Mutex
	queue []call
	// quick counts the calls in queue whose callers come back at once (see call.quick).
	quick int
	busy  bool // a goroutine is running transactions
	// running counts that goroutine, for Close to wait for (it may be waiting in gather
	// after its last commit).
	running sync.WaitGroup
	// want, onlyQuick and arrived: while gather waits, enqueue signals arrived once want
	// calls are queued, counting only quick ones if onlyQuick (see waiting), or once
	// maxBatch calls are.
	want      int
	onlyQuick bool
	arrived   chan struct{}

	commits atomic.Int64 // write transactions committed, shared or not (for benchmarks)

	// broken is set once a transaction panicked on a damaged page: bbolt may then hold
	// its write lock for ever, so nothing touches the file again.
	broken atomic.Pointer[error]
}

// brokenErr returns the error that broke the store, or nil.
func (c *committer) brokenErr() error {
	if p := c.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// breaks records err as what broke the store (the first one stays).
func (c *committer) breaks(err error) { c.broken.CompareAndSwap(nil, &err) }

// counted makes tx count in c.commits once it commits.
func (c *committer) counted(tx *bolt.Tx) { tx.OnCommit(func() { c.commits.Add(1) }) }

type call struct {
	fn   func(*txn) error
	done chan error
	// quick is set for a call whose caller is likely to make its next one at once, which
	// is worth waiting for (see gather): an insert, as an application that emits events
	// one after the other makes them. A record is not: its worker makes the next only
	// after its next request.
	quick bool
}

// errSolo tells a caller that its function failed in a shared transaction.
var errSolo = errors.New("storebolt: run alone")

// do runs fn in a shared transaction and returns once that transaction is committed (or
// fn's error, with nothing of fn's committed). quick says whether the caller is likely
// to call again at once (see call.quick).
func (c *committer) do(fn func(*txn) error, quick bool) error {
	if err := c.brokenErr(); err != nil {
		return err
	}
	done := make(chan error, 1)
	c.enqueue(call{fn: fn, done: done, quick: quick})
	err := <-done
	if err == errSolo {
		err = c.db.Update(func(tx *bolt.Tx) error {
			c.counted(tx)
			t := newTxn(tx)
			t.dec = c.dec
			if err := fn(t); err != nil {
				return err
			}
			return t.flush()
		})
	}
	return err
}

// enqueue queues cl, starting a goroutine to commit it if none runs.
func (c *committer) enqueue(cl call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, cl)
	if cl.quick {
		c.quick++
	}
	if !c.busy {
		c.busy = true
		c.running.Go(c.run)
	}
	if c.want > 0 && (c.waiting() >= c.want || len(c.queue) >= maxBatch) {
		c.want = 0
		c.arrived <- struct{}{}
	}
}

// run commits what is queued, transaction after transaction, until the queue is empty.
func (c *committer) run() {
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	for {
		c.mu.Lock()
		calls := c.queue
		if len(calls) > maxBatch {
			calls, c.queue = calls[:maxBatch:maxBatch], calls[maxBatch:]
		} else {
			c.queue = nil
		}
		if len(calls) == 0 {
			c.busy = false
			c.mu.Unlock()
			return
		}
		quick := quickOf(calls)
		c.quick -= quick
		c.mu.Unlock()
		start := time.Now()
		c.commit(calls)
		c.gather(len(calls), quick, time.Since(start))
	}
}

// maxGather caps how long gather waits.
const maxGather = 2 * time.Millisecond

// gather waits, after a commit of n calls (quick of them quick, see call.quick) that took
// d, for the callers it released to come back, until half of d has passed (maxGather at
// most), a full transaction's worth (maxBatch) is queued, or as many calls more than were
// queued when it began are queued as it waits for:
//   - when the commit released both emitters (quick calls) and workers, it waits for the
//     emitters alone. The workers whose attempts it recorded come back only after a
//     request, later than a wait is worth: waiting for them too made nearly every wait
//     run to its end;
//   - when it released only emitters or only workers, it waits for as many calls of any
//     kind: the next record of a worker after an emit (an emitter's own delivery, under
//     light traffic), or the next records after records, are then all the company a
//     transaction can have.
//
// Without it, the next transaction starts with the few calls that came while the commit
// ran, and the callers that come back a moment later wait for the one after: the same
// callers split over two commits, each with its fsyncs. (Calls that came during the
// commit do not count: they are other callers, and counting them ended the wait before
// the released ones were back.) A lone writer is not delayed: its next call is all
// gather waits for.
func (c *committer) gather(n, quick int, d time.Duration) {
	c.mu.Lock()
	c.onlyQuick = quick > 0 && quick < n
	if c.onlyQuick {
		n = quick
	}
	want := c.waiting() + n
	if c.waiting() >= want || len(c.queue) >= maxBatch {
		c.mu.Unlock()
		return
	}
	if c.arrived == nil {
		c.arrived = make(chan struct{}, 1)
	}
	c.want = want
	c.mu.Unlock()
	t := time.NewTimer(min(d/2, maxGather))
	select {
	case <-c.arrived:
	case <-t.C:
	}
	t.Stop()
	c.mu.Lock()
	c.want = 0
	select {
	case <-c.arrived: // signalled after the timer fired
	default:
	}
	c.mu.Unlock()
}

// quickOf counts the quick calls of calls.
func quickOf(calls []call) int {
	n := 0
	for _, cl := range calls {
		if cl.quick {
			n++
		}
	}
	return n
}

// commit runs calls in one transaction; a failing call is taken out and told to run
// alone, and the others run again without it.
func (c *committer) commit(calls []call) {
	for len(calls) > 0 {
		failed := -1
		if err := c.brokenErr(); err != nil {
			for _, cl := range calls {
				cl.done <- err
			}
			return
		}
		err := c.update(func(tx *bolt.Tx) error {
			c.counted(tx)
			t := newTxn(tx) // one for all: the figures they change are written once
			t.dec = c.dec
			for i, cl := range calls {
				if err := safely(cl.fn, t); err != nil {
					failed = i
					return err
				}
			}
			return t.flush()
		})
		if failed >= 0 {
			calls[failed].done <- errSolo
			calls = append(calls[:failed:failed], calls[failed+1:]...)
			continue
		}
		for _, cl := range calls {
			cl.done <- err
		}
		return
	}
}

// update is db.Update in the committer's goroutine: a panic or a fault there (bbolt on a
// page damaged while the file is open) breaks the store instead of the process.
func (c *committer) update(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = corrupt("%v", p)
			c.breaks(err)
		}
	}()
	return c.db.Update(fn)
}

// safely calls fn, turning a panic into an error (the caller then runs fn alone, and the
// panic happens in its own goroutine).
func safely(fn func(*txn) error, t *txn) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(t)
}

// waiting is what gather counts of the queue: its quick calls, or all of them (see
// gather). c.mu is held.
func (c *committer) waiting() int {
	if c.onlyQuick {
		return c.quick
	}
	return len(c.queue)
}
