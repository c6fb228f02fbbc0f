package storebolt

import (
	"log/slog"
	"time"
)

// Defaults of the options.
const (
	// DefaultTimeout is how long Open waits for another process to release the file.
	DefaultTimeout = time.Second
	// DefaultMaxBatchDelay is how long a write to an idle store waits for others to share
	// its commit: none. Writes that arrive while a commit runs share the next one anyway.
	DefaultMaxBatchDelay time.Duration = 0
	// DefaultPruneInterval is how often retention runs, when it is set.
	DefaultPruneInterval = time.Minute
	// PruneBatch is the most deliveries retention removes in one transaction: small
	// transactions keep writers waiting briefly.
	PruneBatch = 1000
)

// An Option configures Open.
type Option func(*config)

type config struct {
	timeout       time.Duration
	batchDelay    time.Duration
	noSync        bool
	maxAge        time.Duration
	keep          int
	pruneInterval time.Duration
	logger        *slog.Logger
	check         bool
	// noFreelistSync: bbolt does not write its free list at commits and rebuilds it at
	// Open by walking every page.
	noFreelistSync bool
}

func defaults() config {
	return config{
		timeout:       DefaultTimeout,
		batchDelay:    DefaultMaxBatchDelay,
		pruneInterval: DefaultPruneInterval,
		check:         true,
	}
}

// WithTimeout sets how long Open waits for the file lock when another process (or another
// Store in this process) has the file open; then Open fails with ErrLocked. 0 waits
// forever. The default is DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithMaxBatchDelay sets how long an InsertEvent or RecordAttempt that finds the store
// idle waits for concurrent calls to join its transaction, so that they share one commit
// (one fsync). Calls that arrive while a commit is running share the next transaction
// without any delay, so the default, DefaultMaxBatchDelay (none), already batches under
// load; a delay trades each call's latency for fewer fsyncs when writers arrive spread
// out.
func WithMaxBatchDelay(d time.Duration) Option { return func(c *config) { c.batchDelay = d } }

// WithNoSync(true) skips the fsync at every commit. For tests and benchmarks only: a
// crash of the machine (not only of the process) can then lose committed events and
// deliveries, or corrupt the file.
func WithNoSync(noSync bool) Option { return func(c *config) { c.noSync = noSync } }

// WithRetention prunes the delivery log in the background: finished deliveries (succeeded,
// failed, cancelled) last updated more than maxAge ago, and beyond the newest
// keepPerSubscription finished ones of each subscription. 0 turns either rule off. Pending
// and held deliveries are never pruned. Pruning runs every DefaultPruneInterval (see
// WithPruneInterval), in transactions of at most PruneBatch deliveries, until Close.
// Without retention nothing is pruned and no goroutine runs.
func WithRetention(maxAge time.Duration, keepPerSubscription int) Option {
	return func(c *config) { c.maxAge, c.keep = maxAge, keepPerSubscription }
}

// WithPruneInterval sets how often retention runs; it has no effect without WithRetention.
func WithPruneInterval(d time.Duration) Option { return func(c *config) { c.pruneInterval = d } }

// WithLogger sets where background pruning reports its errors; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithCheck(false) skips the check of every page that Open makes by default. Open is then
// faster on a large file (see BENCHMARKS.md), but a damaged file may crash the process
// instead of failing Open with ErrCorrupt. For a file whose disk is known good, when
// reopening fast matters more.
func WithCheck(check bool) Option { return func(c *config) { c.check = check } }

// WithNoFreelistSync(true) stops writing bbolt's free list at every commit; Open then
// rebuilds it by walking every page of the file. Commits write a little less; reopening
// a large file takes longer (see BENCHMARKS.md). The default writes it.
func WithNoFreelistSync(noSync bool) Option { return func(c *config) { c.noFreelistSync = noSync } }
