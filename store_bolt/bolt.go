// Package storebolt is the durable store.Store of github.com/shophooks/webhook: one file on
// one machine, on go.etcd.io/bbolt.
//
//	st, err := storebolt.Open("/var/lib/shop/webhooks.db")
//	if err != nil {
//		return err
//	}
//	defer st.Close()
//	d, err := webhook.New(st)
//
// Every call that changes something returns after its transaction is committed and synced
// to disk (unless WithNoSync): an event that InsertEvent stored survives kill -9 and a
// power cut. Concurrent InsertEvent and RecordAttempt calls share commits (group commit),
// so many emitters cost few fsyncs.
//
// One process owns the file (bbolt's file lock): a second Open of the same file fails with
// ErrLocked. Deliveries that were in flight when the owner died are due again at once when
// the file is opened next: delivery is at least once.
//
// Sign-in links: an application that hands out the sign-in links of package portal lets a
// link sign in once even across restarts by remembering the used links in the file:
//
//	links, err := portal.NewLinker("https://shop.example.com/admin/webhooks/", key,
//		portal.WithUsedLinks(st.UsedLinks()))
//
// Every query is served by an index: one workspace's subscriptions, deliveries and figures
// cost the same however many other workspaces the file holds, a page of the delivery log
// costs the same whatever the query leaves out, and ClaimDue skips a subscription at its
// quota without reading its backlog. Open checks every page of the file that is in use, so
// a damaged file fails Open with ErrCorrupt instead of crashing the process.
//
// Throughput and the garbage collector: each commit copies the B+tree pages it changes
// into Go memory, so a busy Store allocates about 40 KB per delivery, most of it garbage
// as soon as the commit ends. In a program that keeps little else on its heap the
// collector then runs every few milliseconds; in our benchmark it took a fifth of the
// CPU, and GOGC=400 (or a higher GOGC with a GOMEMLIMIT) delivered about 20% more per
// second. A program with memory to spare may want the same.
package storebolt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/shophooks/webhook/store"
)

// Errors of Open. Test them with errors.Is.
var (
	// ErrLocked: another process (or another Store of this process) has the file open.
	ErrLocked = errors.New("file is locked by another process")
	// ErrFormat: the file is not a store of this package that Open can read: a file of
	// another application, of a format version this package does not know, or a damaged
	// one (those match ErrCorrupt too). Open never changes such a file.
	ErrFormat = errors.New("not a webhook store file of a known format")
	// ErrCorrupt: the file is damaged (truncated, a page overwritten, a record that does
	// not decode). Errors that match it match ErrFormat too. Move the file aside and
	// recover what can be recovered with bbolt's own tools (see the README); Open never
	// repairs or changes such a file.
	ErrCorrupt = errors.New("damaged webhook store file")
)

// corrupt returns an error matching both ErrCorrupt and ErrFormat.
func corrupt(format string, args ...any) error {
	return &corruptError{msg: fmt.Sprintf(format, args...)}
}

type corruptError struct{ msg string }

func (e *corruptError) Error() string { return "damaged webhook store file: " + e.msg }

// Is makes a corruptError match ErrCorrupt and ErrFormat.
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt || target == ErrFormat }

// Store is a store.Store in a bbolt file. It is safe for concurrent use. Create it with
// Open and release it with Close.
type Store struct {
	db     *bolt.DB
	cfg    config
	commit *committer    // group commit of InsertEvent and RecordAttempt
	leases *leaseTable   // the deliveries in flight
	dec    *decoders     // records decoded lately
	stop   chan struct{} // closed by Close; nil without retention
	done   chan struct{} // closed when the pruning goroutine has returned
	// recorded, when set (by tests), runs after an attempt's record has committed and
	// before its lease is cleared.
	recorded func(deliveryID string)
	// linksSweptAt is when a UseLink last deleted the keys of expired links (UnixNano), or
	// 0.
	linksSweptAt atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens the store in the file at path, creating the file if it does not exist. It
// fails with an error wrapping ErrLocked if another process has the file open (after the
// WithTimeout wait), and with one wrapping ErrFormat if the file holds anything but a
// store of this package, or ErrCorrupt (which matches ErrFormat too) if the file is
// damaged: Open checks every page of the file that is in use before it reads any (see
// WithCheck), so a damaged file answers an error instead of crashing the process. It
// never changes or wipes such a file. A file written by an earlier version of this
// package (formats 1 and 2) is brought to the current format in one transaction (a
// format-1 file's contents in the default workspace); earlier versions then refuse it
// with their ErrFormat. Deliveries that were in flight when the file was last closed (a
// crash) are due again at once: leases are kept in memory only.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	db, err := openDB(path, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.check {
		if err := checkFile(db); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("storebolt: open %s: %w", path, err)
		}
	}
	// Opened without syncing the free list so that bbolt did not rebuild it yet; the first
	// write rebuilds it (from pages checked above) and, unless asked otherwise, writes it.
	db.NoFreelistSync = cfg.noFreelistSync
	dec := new(decoders)
	s := &Store{db: db, cfg: cfg, commit: &committer{db: db, delay: cfg.batchDelay, dec: dec}, leases: newLeaseTable(), dec: dec}
	if err := guard(func() error {
		return db.Update(initialize)
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("storebolt: open %s: %w", path, err)
	}
	if cfg.maxAge > 0 || cfg.keep > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.pruneLoop()
	}
	return s, nil
}

// openDB opens the bbolt file and classifies its errors.
func openDB(path string, cfg config) (*bolt.DB, error) {
	var db *bolt.DB
	err := guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout: cfg.timeout,
			// Not yet: with a free list to sync and a file without one, bbolt would walk
			// every page in a goroutine of its own before checkFile could look at them.
			NoFreelistSync: true,
			FreelistType:   bolt.FreelistMapType,
			NoSync:         cfg.noSync,
		})
		return err
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("storebolt: open %s: %w (waited %s)", path, ErrLocked, cfg.timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("storebolt: open %s: %w: %v", path, ErrFormat, err)
	case errors.Is(err, berrors.ErrChecksum), errors.Is(err, ErrCorrupt):
		return nil, fmt.Errorf("storebolt: open %s: %w", path, corrupt("%v", err))
	case strings.Contains(err.Error(), "file size too small"):
		return nil, fmt.Errorf("storebolt: open %s: %w: %v", path, ErrFormat, err)
	}
	return nil, fmt.Errorf("storebolt: open %s: %w", path, err)
}

// guard runs fn, turning a panic or a memory fault in this goroutine (bbolt reading a
// damaged page) into an error matching ErrCorrupt. Open checks the file first, so this
// is for damage done while the file is open; bbolt rolls the transaction back.
func guard(fn func() error) error {
	err, _ := guarded(fn)
	return err
}

// guarded is guard that also says whether fn panicked.
func guarded(fn func() error) (err error, panicked bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err, panicked = corrupt("%v", p), true
		}
	}()
	return fn(), false
}

// run runs a transaction of s under guard. Once one has panicked, bbolt may hold its
// write lock for ever (its rollback reads the damaged pages too): the store is broken,
// and every later call fails with that error without touching the file.
func (s *Store) run(fn func() error) error {
	if err := s.commit.brokenErr(); err != nil {
		return err
	}
	err, panicked := guarded(fn)
	if panicked {
		s.commit.breaks(err)
	}
	return err
}

// initialize checks the file's format, lays out a new file, and migrates a file of
// format 1 or 2.
func initialize(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		foreign := false
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			foreign = true
			return errors.New("stop")
		})
		if foreign {
			return fmt.Errorf("%w: a bbolt file of another application", ErrFormat)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta = tx.Bucket(bMeta)
		if err := meta.Put(keyMagic, []byte(magic)); err != nil {
			return err
		}
		return meta.Put(keyVersion, u64(formatVersion))
	}
	if string(meta.Get(keyMagic)) != magic {
		return fmt.Errorf("%w: a bbolt file of another application", ErrFormat)
	}
	v := meta.Get(keyVersion)
	switch {
	case len(v) == 8 && counter(v, 0) == 1:
		if err := migrate(tx); err != nil {
			return err
		}
		return migrate2(tx)
	case len(v) == 8 && counter(v, 0) == 2:
		return migrate2(tx)
	case len(v) != 8 || counter(v, 0) != formatVersion:
		return fmt.Errorf("%w: format version %d, this package reads versions 1 to %d", ErrFormat, counter(v, 0), formatVersion)
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return corrupt("bucket %q is missing", name)
		}
	}
	return nil
}

// Close stops background pruning and closes the file. It waits for running transactions.
// Calls after Close fail; a second Close returns the first one's answer. Close on a nil
// *Store (what a failed Open returns) does nothing and returns nil, so that
// `defer st.Close()` is safe whatever Open answered. If the file was damaged while the
// store had it open (its calls then fail with ErrCorrupt), Close leaves bbolt alone, which
// may be stuck on the damaged pages: the file stays locked until the process exits.
func (s *Store) Close() error {
	if s == nil {
		return nil // what Open returned with its error: nothing to close
	}
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
		if err := s.commit.brokenErr(); err != nil {
			// bbolt may be wedged on the damaged file: leave it, locked, to the process.
			s.closeErr = fmt.Errorf("storebolt: close: %w", err)
			return
		}
		s.commit.running.Wait()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("storebolt: close: %w", err)
		}
	})
	return s.closeErr
}

// view, update and batch run fn in a transaction and give the error this package's name.
func (s *Store) view(ctx context.Context, fn func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap(s.run(func() error { return s.db.View(func(tx *bolt.Tx) error { return fn(s.txn(tx)) }) }))
}

func (s *Store) update(ctx context.Context, fn func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap(s.run(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			s.commit.counted(tx)
			t := s.txn(tx)
			if err := fn(t); err != nil {
				return err
			}
			return t.flush()
		})
	}))
}

// batch is update for calls that many goroutines make at once: they share a transaction
// and its commit (see committer). fn may run more than once (in a shared transaction
// that another call then failed, then alone): it must only change the transaction and
// set its results anew each time. quick says whether the caller is likely to call again
// at once (see call.quick).
func (s *Store) batch(ctx context.Context, fn func(t *txn) error, quick bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap(s.run(func() error { return s.commit.do(fn, quick) }))
}

// txn is newTxn with the store's decode caches.
func (s *Store) txn(tx *bolt.Tx) *txn {
	t := newTxn(tx)
	t.dec = s.dec
	return t
}

func wrap(err error) error {
	if err == nil || strings.HasPrefix(err.Error(), "storebolt: ") {
		return err
	}
	return fmt.Errorf("storebolt: %w", err)
}

func notFound(kind, id string) error {
	return fmt.Errorf("storebolt: %s %q: %w", kind, id, store.ErrNotFound)
}
