package storepg_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/portal"
	"github.com/shophooks/webhook/store"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// The store's record of used links is what portal.WithUsedLinks takes; the test imports
// portal, the package does not.
var _ portal.UsedLinks = (*storepg.UsedLinks)(nil)

// reopen opens another Store on st's schema (another instance of the application), closed
// when t ends.
func reopen(t *testing.T, pool *pgxpool.Pool, st *storepg.Store) *storepg.Store {
	t.Helper()
	other, err := storepg.Open(context.Background(), pool, storepg.WithSchema(st.Schema()), storepg.SkipMigrations())
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	return other
}

// usedLinkRows is the nonces of the used_links table of st's schema, sorted.
func usedLinkRows(t *testing.T, pool *pgxpool.Pool, st *storepg.Store) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT nonce FROM `+pgx.Identifier{st.Schema()}.Sanitize()+`.used_links ORDER BY nonce`)
	require.NoError(t, err)
	nonces, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return nonces
}

// TestUsedLinks: a link is used once across the instances that share a schema, however
// many try at once.
func TestUsedLinks(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	a := openStore(t, pool)
	b := reopen(t, pool, a)
	exp := time.Now().Add(time.Hour)

	first, err := a.UsedLinks().UseLink(ctx, "nonce-1", exp)
	require.NoError(t, err)
	assert.True(t, first)
	first, err = b.UsedLinks().UseLink(ctx, "nonce-1", exp)
	require.NoError(t, err)
	assert.False(t, first, "the other instance")
	first, err = a.UsedLinks().UseLink(ctx, "nonce-1", exp)
	require.NoError(t, err)
	assert.False(t, first, "the same instance")
	first, err = b.UsedLinks().UseLink(ctx, "nonce-2", exp)
	require.NoError(t, err)
	assert.True(t, first, "another link")

	other := openStore(t, pool)
	first, err = other.UsedLinks().UseLink(ctx, "nonce-1", exp)
	require.NoError(t, err)
	assert.True(t, first, "a store on another schema shares nothing")

	t.Run("Concurrent", func(t *testing.T) {
		stores := []*storepg.Store{a, b, reopen(t, pool, a)}
		var wg sync.WaitGroup
		firsts := make([]bool, 24)
		errs := make([]error, len(firsts))
		start := make(chan struct{})
		for i := range firsts {
			wg.Go(func() {
				<-start
				firsts[i], errs[i] = stores[i%len(stores)].UsedLinks().UseLink(ctx, "nonce-race", exp)
			})
		}
		close(start)
		wg.Wait()
		n := 0
		for i, f := range firsts {
			require.NoError(t, errs[i])
			if f {
				n++
			}
		}
		assert.Equal(t, 1, n, "exactly one use is the first")
	})
}

// TestUsedLinksSwept: the rows of links that expired more than the grace ago are deleted,
// by the next UseLink of an instance that has not swept for a while; the others stay.
func TestUsedLinksSwept(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	a := openStore(t, pool)
	now := time.Now()
	for nonce, exp := range map[string]time.Time{
		"old":    now.Add(-storepg.UsedLinkGrace - time.Minute),
		"recent": now.Add(-time.Minute),
		"live":   now.Add(time.Hour),
	} {
		first, err := a.UsedLinks().UseLink(ctx, nonce, exp)
		require.NoError(t, err)
		require.True(t, first, nonce)
	}
	require.Equal(t, []string{"live", "old", "recent"}, usedLinkRows(t, pool, a), "a swept before the rows were there, and not since")

	fresh := reopen(t, pool, a) // its first UseLink sweeps
	first, err := fresh.UsedLinks().UseLink(ctx, "new", now.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, first)
	assert.Equal(t, []string{"live", "new", "recent"}, usedLinkRows(t, pool, a))

	n, err := storepg.SweepLinks(ctx, a, now.Add(2*time.Hour+storepg.UsedLinkGrace))
	require.NoError(t, err)
	assert.Equal(t, 3, n, "all expired by then")
	assert.Empty(t, usedLinkRows(t, pool, a))

	t.Run("ABatchAtATime", func(t *testing.T) {
		_, err := pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{a.Schema()}.Sanitize()+`.used_links (nonce, expires_at)
			SELECT 'old-' || i, $1 FROM generate_series(1, $2) i`, now.Add(-2*storepg.UsedLinkGrace), storepg.PruneBatch+1)
		require.NoError(t, err)
		fresh := reopen(t, pool, a)
		for _, nonce := range []string{"new-1", "new-2"} {
			first, err := fresh.UsedLinks().UseLink(ctx, nonce, now.Add(time.Hour))
			require.NoError(t, err)
			require.True(t, first)
		}
		assert.Equal(t, []string{"new-1", "new-2"}, usedLinkRows(t, pool, a), "the first swept a batch, the second the rest")
	})
}

// TestUsedLinksSignInOnce drives the portal of two instances, each with its own Store on
// one schema: a link signs in at one, and its replay at the other is refused.
func TestUsedLinksSignInOnce(t *testing.T) {
	pool := testPool(t)
	a := openStore(t, pool)
	b := reopen(t, pool, a)
	key := bytes.Repeat([]byte("k"), portal.MinKeyBytes)
	instance := func(st *storepg.Store) (*portal.Linker, http.Handler) {
		d, err := webhook.New(store.NewMemory())
		require.NoError(t, err)
		t.Cleanup(func() { _ = d.Close(context.Background()) })
		links, err := portal.NewLinker("/portal/", key, portal.WithUsedLinks(st.UsedLinks()))
		require.NoError(t, err)
		return links, portal.New(d, portal.WithLinker(links))
	}
	linksA, portalA := instance(a)
	_, portalB := instance(b)
	signIn := func(h http.Handler, link string) *httptest.ResponseRecorder {
		u, err := url.Parse(link)
		require.NoError(t, err)
		form := url.Values{"token": {u.Query().Get("token")}}
		req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	link, err := linksA.Link("shop_42", 15*time.Minute)
	require.NoError(t, err)
	r := signIn(portalA, link)
	require.Equal(t, http.StatusSeeOther, r.Code, r.Body.String())
	assert.NotEmpty(t, r.Header().Get("Set-Cookie"))
	replay := signIn(portalB, link)
	assert.Equal(t, http.StatusUnauthorized, replay.Code)
	assert.Contains(t, replay.Body.String(), "used already")
	assert.Empty(t, replay.Header().Get("Set-Cookie"))
	require.Len(t, usedLinkRows(t, pool, a), 1)
}

// A platform with several instances: each instance's Linker remembers the links used in
// the store's database, so a link signs in once whichever instance serves it and after a
// deploy.
func ExampleStore_UsedLinks() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@db/shop")
	if err != nil {
		panic(err)
	}
	st, err := storepg.Open(ctx, pool)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	d, err := webhook.New(st)
	if err != nil {
		panic(err)
	}
	key := []byte("32 or more random bytes, the same in every instance")
	links, err := portal.NewLinker("https://shop.example.com/admin/webhooks/", key,
		portal.WithUsedLinks(st.UsedLinks()))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/webhooks/", http.StripPrefix("/admin/webhooks", portal.New(d, portal.WithLinker(links))))
}
