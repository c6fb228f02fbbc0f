package storepg_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storepg "github.com/shophooks/webhook/store_postgres"
)

func TestMigrate(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()

	t.Run("Concurrent", func(t *testing.T) {
		schema := freshSchema(t, pool)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = storepg.Migrate(ctx, pool, schema) }()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		var n, distinct int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM `+pgx.Identifier{schema}.Sanitize()+`.migrations`).Scan(&n, &distinct))
		files, err := filepath.Glob("migrations/*.sql")
		require.NoError(t, err)
		assert.Equal(t, len(files), n, "every migration applied")
		assert.Equal(t, distinct, n, "each migration applied once")
		require.NoError(t, storepg.Migrate(ctx, pool, schema), "again: nothing to do")
	})

	t.Run("SkipMigrations", func(t *testing.T) {
		schema := freshSchema(t, pool)
		_, err := storepg.Open(ctx, pool, storepg.WithSchema(schema), storepg.SkipMigrations())
		require.ErrorIs(t, err, storepg.ErrSchema, "nothing there yet")
		assert.Contains(t, err.Error(), schema)
		require.NoError(t, storepg.Migrate(ctx, pool, schema))
		st, err := storepg.Open(ctx, pool, storepg.WithSchema(schema), storepg.SkipMigrations())
		require.NoError(t, err)
		require.NoError(t, st.Close())
	})

	t.Run("UpgradeFromVersion2", func(t *testing.T) {
		// A schema as version 2 left it: subscriptions without queue heads (they got
		// theirs at their first hint) and heads without a version.
		st := openStore(t, pool)
		require.NoError(t, st.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}}))
		s := pgx.Identifier{st.Schema()}.Sanitize()
		_, err := pool.Exec(ctx, `DELETE FROM `+s+`.heads; ALTER TABLE `+s+`.heads DROP COLUMN version, DROP COLUMN rate_tokens, DROP COLUMN rate_at;
			DROP TABLE `+s+`.used_links; DELETE FROM `+s+`.migrations WHERE version >= 3`)
		require.NoError(t, err)
		require.NoError(t, storepg.Migrate(ctx, pool, st.Schema()))
		up, err := storepg.Open(ctx, pool, storepg.WithSchema(st.Schema()), storepg.SkipMigrations())
		require.NoError(t, err)
		defer up.Close()
		now := time.Now()
		ins, err := up.InsertEvent(ctx, store.Event{ID: "evt_1", Type: eventtypes.OrderCreated, OccurredAt: now, Data: []byte(`{}`)}, now)
		require.NoError(t, err)
		cs, _, err := up.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Minute)})
		require.NoError(t, err)
		require.Len(t, cs, 1, "the subscription got its head")
		assert.Equal(t, ins.Deliveries[0], cs[0].Delivery.ID)
	})

	t.Run("UpgradeFromVersion3", func(t *testing.T) {
		// A schema as version 3 left it: queue heads without a rate limit's bucket.
		st := openStore(t, pool)
		require.NoError(t, st.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}, RateLimit: 1}))
		s := pgx.Identifier{st.Schema()}.Sanitize()
		_, err := pool.Exec(ctx, `ALTER TABLE `+s+`.heads DROP COLUMN rate_tokens, DROP COLUMN rate_at;
			DROP TABLE `+s+`.used_links; DELETE FROM `+s+`.migrations WHERE version >= 4`)
		require.NoError(t, err)
		_, err = storepg.Open(ctx, pool, storepg.WithSchema(st.Schema()), storepg.SkipMigrations())
		require.ErrorIs(t, err, storepg.ErrSchema, "version 3 is too old")
		require.NoError(t, storepg.Migrate(ctx, pool, st.Schema()))
		var columns int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = 'heads' AND column_name IN ('rate_tokens', 'rate_at')`, st.Schema()).Scan(&columns))
		assert.Equal(t, 2, columns, "the heads keep a bucket")
		up, err := storepg.Open(ctx, pool, storepg.WithSchema(st.Schema()), storepg.SkipMigrations())
		require.NoError(t, err)
		defer up.Close()
		now := time.Now()
		for _, id := range []string{"evt_1", "evt_2"} {
			_, err := up.InsertEvent(ctx, store.Event{ID: id, Type: eventtypes.OrderCreated, OccurredAt: now, Data: []byte(`{}`)}, now)
			require.NoError(t, err)
		}
		cs, next, err := up.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Minute)})
		require.NoError(t, err)
		assert.Len(t, cs, 1, "a full bucket holds one request")
		assert.WithinDuration(t, now.Add(time.Second), next, time.Microsecond, "the next one a second later")
	})

	t.Run("UpgradeFromVersion4", func(t *testing.T) {
		// A schema as version 4 left it: no table of used sign-in links.
		st := openStore(t, pool)
		s := pgx.Identifier{st.Schema()}.Sanitize()
		_, err := pool.Exec(ctx, `DROP TABLE `+s+`.used_links; DELETE FROM `+s+`.migrations WHERE version >= 5`)
		require.NoError(t, err)
		_, err = storepg.Open(ctx, pool, storepg.WithSchema(st.Schema()), storepg.SkipMigrations())
		require.ErrorIs(t, err, storepg.ErrSchema, "version 4 is too old")
		require.NoError(t, storepg.Migrate(ctx, pool, st.Schema()))
		up, err := storepg.Open(ctx, pool, storepg.WithSchema(st.Schema()), storepg.SkipMigrations())
		require.NoError(t, err)
		defer up.Close()
		exp := time.Now().Add(time.Hour)
		first, err := up.UsedLinks().UseLink(ctx, "nonce-1", exp)
		require.NoError(t, err)
		assert.True(t, first)
		first, err = st.UsedLinks().UseLink(ctx, "nonce-1", exp)
		require.NoError(t, err)
		assert.False(t, first, "the table is shared")
	})

	t.Run("SchemasApart", func(t *testing.T) {
		a, b := openStore(t, pool), openStore(t, pool)
		require.NoError(t, a.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://a.example.com/", Events: []string{"*"}}))
		require.NoError(t, b.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://b.example.com/", Events: []string{"*"}}),
			"the same ID in another schema")
		sa, err := a.Subscription(ctx, "sub_1")
		require.NoError(t, err)
		assert.Equal(t, "https://a.example.com/", sa.URL)
		subs, err := b.Subscriptions(ctx, store.SubscriptionFilter{})
		require.NoError(t, err)
		require.Len(t, subs, 1)
		assert.Equal(t, "https://b.example.com/", subs[0].URL)
	})
}

// TestConnect opens a store from a connection string; Close closes the pool it made.
func TestConnect(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	ctx := context.Background()
	st, err := storepg.Connect(ctx, testURL(), storepg.WithSchema(schema))
	require.NoError(t, err)
	require.NoError(t, st.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}}))
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "Close twice")
	_, err = st.Subscription(ctx, "sub_1")
	require.Error(t, err, "the pool is closed")

	_, err = storepg.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", storepg.WithSchema(schema))
	require.Error(t, err)
}

// TestRetention prunes in the background what the retention selects.
func TestRetention(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	st := openStore(t, pool, storepg.WithRetention(time.Hour, 2), storepg.WithPruneInterval(10*time.Millisecond))
	require.NoError(t, st.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}}))
	now := time.Now()
	for i := range 5 {
		ins, err := st.InsertEvent(ctx, store.Event{ID: "evt_" + string(rune('a'+i)), Type: eventtypes.OrderCreated, OccurredAt: now, Data: []byte(`{}`)}, now)
		require.NoError(t, err)
		_, err = st.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: ins.Deliveries[0], State: store.DeliverySucceeded,
			Attempt: store.Attempt{Number: 1, SentAt: now, StatusCode: 200, Outcome: store.OutcomeSucceeded}})
		require.NoError(t, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ds, err := st.Deliveries(ctx, store.DeliveryQuery{})
		require.NoError(t, err)
		if len(ds) == 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "retention keeps 2 per subscription; %d left", len(ds))
		<-tick.C
	}
	_, err := st.Event(ctx, "evt_a")
	require.ErrorIs(t, err, store.ErrNotFound, "pruned with its delivery")
}
