package storepg_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
	"github.com/shophooks/webhook/store/storetest"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// The tests need a PostgreSQL server: WEBHOOK_TEST_POSTGRES is its URL, by default the
// one every machine of the project runs. Without a reachable server they skip, except
// under CI=true, where they fail.
const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test"

func testURL() string { return cmp.Or(os.Getenv("WEBHOOK_TEST_POSTGRES"), defaultTestURL) }

var (
	poolOnce   sync.Once
	sharedPool *pgxpool.Pool
	poolErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedPool != nil {
		sharedPool.Close()
	}
	os.Exit(code)
}

// where describes the server of url without its password, for messages.
func where(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "WEBHOOK_TEST_POSTGRES (unparsable)"
	}
	return fmt.Sprintf("%s:%d database %s", cfg.Host, cfg.Port, cfg.Database)
}

// newPool connects a pool of at most maxConns connections to the test server, closed
// when t ends, or skips the test (fails it under CI=true) when there is none.
func newPool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	pool, err := connect(maxConns)
	if err != nil {
		missing(t, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func connect(maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(testURL())
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = maxConns
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// missing skips, or under CI=true fails, a test that found no server.
func missing(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("PostgreSQL at %s is not reachable (%v); set WEBHOOK_TEST_POSTGRES to the URL of a server to run this test", where(testURL()), err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a test that needs PostgreSQL must run)")
	}
	t.Skip(msg)
}

// testPool is a pool shared by the tests of the package.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	poolOnce.Do(func() { sharedPool, poolErr = connect(12) })
	if poolErr != nil {
		missing(t, poolErr)
	}
	return sharedPool
}

var schemaSeq struct {
	sync.Mutex
	n int
}

// freshSchema returns the name of a schema no test uses, dropped when t ends.
func freshSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	schemaSeq.Lock()
	schemaSeq.n++
	name := fmt.Sprintf("test_%d_%d_%s", os.Getpid(), schemaSeq.n, strings.ToLower(store.NewID("s")[2:12]))
	schemaSeq.Unlock()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		if err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}

// openStore opens a store in a fresh schema of pool, closed when t ends.
func openStore(t testing.TB, pool *pgxpool.Pool, opts ...storepg.Option) *storepg.Store {
	t.Helper()
	schema := freshSchema(t, pool)
	st, err := storepg.Open(context.Background(), pool, append([]storepg.Option{storepg.WithSchema(schema)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	pool := testPool(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t, pool) })
}
