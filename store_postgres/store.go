// Package storepg is a store.Store of github.com/shophooks/webhook on PostgreSQL, for
// applications that run several instances against one database: every instance's
// dispatcher shares one queue, and an event can be stored in the application's own
// transaction.
//
//	pool, err := pgxpool.New(ctx, "postgres://app@db/shop")
//	if err != nil {
//		return err
//	}
//	st, err := storepg.Open(ctx, pool) // creates or upgrades its tables in schema "webhook"
//	if err != nil {
//		return err
//	}
//	defer st.Close()
//	d, err := webhook.New(st)
//
//	// The order and its webhook commit together, or not at all:
//	tx, err := pool.Begin(ctx)
//	// ... insert the order with tx ...
//	_, err = d.Emit(ctx, eventtypes.OrderCreated, order, webhook.WithTx(st.Tx(tx)))
//	err = tx.Commit(ctx)
//
// Durability: InsertEvent returns once its transaction has committed (group commit:
// concurrent calls of one Store share a transaction), so an acknowledged event survives a
// crash of the application and, with PostgreSQL's default synchronous_commit, of the
// database server; so do the calls an operator makes (subscriptions, Redeliver). Claims
// and recorded attempts are committed without waiting for the disk: if the database server
// itself crashes (not the application), the last fraction of a second of them may be
// undone, and those deliveries are sent again. Delivery stays at least once.
//
// Many instances: claims lease deliveries with FOR UPDATE SKIP LOCKED, so no two instances
// send the same delivery at once, and take each subscription's deliveries under a lock of
// its queue head, so a subscription's MaxInFlight holds across instances, and so does its
// RateLimit: the queue head keeps its token bucket, which the claims refill by their
// instances' clocks (these should agree: an instance whose clock is ahead of the others'
// may send a request that much early; one behind only waits). Deliveries leased by an
// instance that died are taken over by the others when the lease runs out. Emit,
// Redeliver and Activate wake the other instances' schedulers at once through
// LISTEN/NOTIFY (see Wake); a dispatcher also looks every few seconds in case a
// notification was lost.
//
// Sign-in links: a platform that hands out the sign-in links of package portal lets a
// link sign in once across its instances, and across deploys, by remembering the used
// links in the store's schema. In every instance, with the same key:
//
//	links, err := portal.NewLinker("https://shop.example.com/admin/webhooks/", key,
//		portal.WithUsedLinks(st.UsedLinks()))
//	h := portal.New(d, portal.WithLinker(links))
//
// Tables: the store keeps its tables, and a migrations table recording their version, in
// one schema (WithSchema); the SQL is in this package's migrations directory. Every name
// it uses is in that schema, so stores on different schemas of one database share nothing.
package storepg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shophooks/webhook/store"
)

// DefaultSchema is the schema the store's tables live in unless WithSchema says otherwise.
const DefaultSchema = "webhook"

// Defaults of the retention options.
const (
	// DefaultPruneInterval is how often retention runs, when it is set.
	DefaultPruneInterval = time.Minute
	// PruneBatch is the most deliveries retention removes in one transaction.
	PruneBatch = 1000
)

// runners is how many group-commit transactions of InsertEvent and of RecordAttempt a
// Store runs at once, given its pool's size: enough that one transaction's commit
// overlaps the next one's statements, while leaving connections for claims and for the
// application.
func runners(maxConns int32) (emits, records int) {
	return int(min(8, max(1, maxConns/2))), int(min(4, max(1, maxConns/4)))
}

// ErrSchema: the schema holds no tables of this package, or tables of an older version,
// and the store was opened with SkipMigrations. Run Migrate (or the SQL files of this
// package) first.
var ErrSchema = errors.New("schema not migrated")

// Store is a store.Store in a PostgreSQL schema, shared by every process that opens the
// same schema. It is safe for concurrent use. Create it with Open or Connect and release
// it with Close.
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool
	cfg     config
	q       map[string]string // the package's SQL with the schema filled in
	channel string            // the NOTIFY channel of the schema
	self    string            // the payload of this Store's notifications

	emits   *batcher[emitCall, store.Inserted]
	records *batcher[store.AttemptRecord, store.Delivery]

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the listener and pruning goroutines

	wake       chan struct{}
	listenOnce sync.Once

	notifyMu    sync.Mutex  // guards notifyTimer
	notifyTimer *time.Timer // a notification to send, once it fires
	closeOnce   sync.Once

	// heldAt is when the last claim came back empty because other claims held every due
	// queue head (UnixNano), or 0 (see heldBackoff).
	heldAt atomic.Int64
	// linksSweptAt is when a UseLink last deleted the rows of expired links (UnixNano),
	// or 0.
	linksSweptAt atomic.Int64
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.Waker         = (*Store)(nil)
	_ store.EventInserter = txInserter{}
)

// An Option configures Open and Connect.
type Option func(*config)

type config struct {
	schema        string
	migrate       bool
	maxAge        time.Duration
	keep          int
	pruneInterval time.Duration
	logger        *slog.Logger
}

// WithSchema keeps the store's tables in the named schema (DefaultSchema), created if
// missing. Stores opened on different schemas of one database share nothing.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// SkipMigrations leaves the schema alone at Open: for teams that apply migrations with
// their own tool (the SQL files are in this package's migrations directory; replace
// {{schema}} with the quoted schema name) or with Migrate. Open then checks that the
// schema is up to date and fails with ErrSchema if it is not.
func SkipMigrations() Option { return func(c *config) { c.migrate = false } }

// WithRetention prunes the delivery log in the background: finished deliveries (succeeded,
// failed, cancelled) last updated more than maxAge ago, and beyond the newest
// keepPerSubscription finished ones of each subscription. 0 turns either rule off. Pending
// and held deliveries are never pruned. Pruning runs every DefaultPruneInterval (see
// WithPruneInterval), in transactions of at most PruneBatch deliveries, until Close. Every
// instance may prune: they skip each other's rows.
func WithRetention(maxAge time.Duration, keepPerSubscription int) Option {
	return func(c *config) { c.maxAge, c.keep = maxAge, keepPerSubscription }
}

// WithPruneInterval sets how often retention runs; it has no effect without WithRetention.
func WithPruneInterval(d time.Duration) Option { return func(c *config) { c.pruneInterval = d } }

// WithLogger sets where the store reports what goes wrong in the background (pruning, a
// lost LISTEN connection); the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Open returns a Store on pool, which the caller keeps owning (Close does not close it).
// Unless SkipMigrations is given, it first brings the schema up to date (see Migrate).
//
// The store takes its connections from pool: a claim and an attempt's record hold one
// for two round trips, and under load it runs up to MaxConns/2 (at most 8) group-commit
// transactions of Emit at once and MaxConns/4 (at most 4) of attempt records. pgxpool's
// default size works; a larger pool lets more emitters share each commit. The LISTEN
// connection of Wake is made apart from the pool.
func Open(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("storepg: pool is nil")
	}
	cfg := config{schema: DefaultSchema, migrate: true, pruneInterval: DefaultPruneInterval}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.schema == "" {
		cfg.schema = DefaultSchema
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.pruneInterval <= 0 {
		return nil, fmt.Errorf("storepg: prune interval %s is not positive", cfg.pruneInterval)
	}
	if cfg.migrate {
		if err := Migrate(ctx, pool, cfg.schema); err != nil {
			return nil, err
		}
	} else if err := checkVersion(ctx, pool, cfg.schema); err != nil {
		return nil, err
	}
	s := &Store{
		pool:    pool,
		cfg:     cfg,
		q:       fillSchema(cfg.schema),
		channel: channelName(cfg.schema),
		self:    store.NewID("st"),
		wake:    make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	emitRunners, recordRunners := runners(pool.Config().MaxConns)
	s.emits = newBatcher(s.ctx, emitRunners, maxEmitBatch, maxEmitBytes, weighEmit, s.insertBatch)
	s.records = newBatcher(s.ctx, recordRunners, maxRecordBatch, maxRecordBatch, func(store.AttemptRecord) int { return 1 }, s.recordBatch)
	if cfg.maxAge > 0 || cfg.keep > 0 {
		s.wg.Add(1)
		go s.pruneLoop()
	}
	return s, nil
}

// Connect opens a pool on connString (a URL or key=value DSN, as pgxpool.New takes) and a
// Store on it; Close closes that pool.
func Connect(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	pool, err := pgxpool.New(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("storepg: %w", err)
	}
	s, err := Open(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// Close stops the store's goroutines (the LISTEN connection, retention) and waits for
// them; with Connect it also closes the pool. Calls in progress may fail. Close is safe to
// call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.emits.close()
		s.records.close()
		s.stopNotify()
		s.wg.Wait()
		if s.ownPool {
			s.pool.Close()
		}
	})
	return nil
}

// Schema returns the schema the store's tables are in.
func (s *Store) Schema() string { return s.cfg.schema }

// sql returns a query of this package with the store's schema filled in.
func (s *Store) sql(query string) string {
	q, ok := s.q[query]
	if !ok {
		panic("storepg: unregistered query")
	}
	return q
}

// allQueries lists every query of the package, so that fillSchema prepares them once.
var allQueries []string

// query registers a query for fillSchema and returns it.
func query(q string) string {
	allQueries = append(allQueries, q)
	return q
}

// fillSchema returns every registered query with {{schema}} replaced by the quoted schema.
func fillSchema(schema string) map[string]string {
	qs := quoteIdent(schema)
	out := make(map[string]string, len(allQueries))
	for _, q := range allQueries {
		out[q] = strings.ReplaceAll(q, "{{schema}}", qs)
	}
	return out
}

func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// channelName is the NOTIFY channel of a schema: at most 63 bytes, as PostgreSQL wants.
func channelName(schema string) string {
	ch := "webhook_wake:" + schema
	if len(ch) > 63 {
		ch = ch[:63]
	}
	return ch
}

// Errors from PostgreSQL that the store maps or retries.
const (
	pgUniqueViolation = "23505"
	pgDeadlock        = "40P01"
	pgSerialization   = "40001"
	pgUndefinedTable  = "42P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retryable reports whether a transaction failed only because of other transactions and
// may simply run again.
func retryable(err error) bool {
	c := pgCode(err)
	return c == pgDeadlock || c == pgSerialization
}

func notFound(kind, id string) error { return fmt.Errorf("%s %q: %w", kind, id, store.ErrNotFound) }

// inTx runs fn in a transaction and commits it, running it again (up to 3 times) when
// PostgreSQL aborted it for a deadlock or a serialization failure.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for range 3 {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || !retryable(err) {
			return err
		}
	}
	return err
}

// storeErr passes the store's own errors (not found, in flight, ...) as they are and
// wraps the others.
func storeErr(err error) error {
	for _, e := range []error{store.ErrNotFound, store.ErrConflict, store.ErrInactive, store.ErrInFlight} {
		if errors.Is(err, e) {
			return err
		}
	}
	return wrap(err)
}

// wrap puts the package's name in front of an error from PostgreSQL.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("storepg: %w", err)
}
