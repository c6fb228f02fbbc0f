package storepg_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// woken waits for a wake-up on ch and fails the test if none comes in time.
func woken(t *testing.T, ch <-chan struct{}, why string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no wake-up %s", why)
	}
}

// listener returns the backend PID of the connection that listens on schema's channel,
// or 0 if none does.
func listener(t *testing.T, pool *pgxpool.Pool, schema string) int {
	t.Helper()
	var pid int
	err := pool.QueryRow(context.Background(), `
SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE query = 'LISTEN "webhook_wake:' || $1 || '"'`, schema).Scan(&pid)
	require.NoError(t, err)
	return pid
}

// TestWake: a store's scheduler wake-ups come from the other instances' emits, from
// committed transactions of Tx, and after its LISTEN connection was lost and made again;
// Close ends the connection.
func TestWake(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	ctx := context.Background()
	open := func() *storepg.Store {
		st, err := storepg.Open(ctx, pool, storepg.WithSchema(schema))
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	a, b := open(), open()
	ch := a.Wake()
	woken(t, ch, "once the LISTEN connection is made")
	require.NoError(t, b.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}}))
	emit := func(id string) store.Event {
		now := time.Now()
		return store.Event{ID: id, Type: eventtypes.OrderCreated, OccurredAt: now, Data: []byte(`{}`)}
	}

	_, err := b.InsertEvent(ctx, emit("evt_1"), time.Now())
	require.NoError(t, err)
	woken(t, ch, "after another instance's emit")

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = b.Tx(tx).InsertEvent(ctx, emit("evt_2"), time.Now())
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	woken(t, ch, "after a transaction that emitted committed")

	_, err = b.Redeliver(ctx, mustDelivery(t, b, "evt_1"), time.Now())
	require.NoError(t, err)
	woken(t, ch, "after another instance's Redeliver")

	// The LISTEN connection is killed: the store connects again and wakes its
	// scheduler, since notifications may have been missed meanwhile.
	pid := listener(t, pool, schema)
	require.NotZero(t, pid, "a connection listens")
	_, err = pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	woken(t, ch, "after the LISTEN connection was lost")
	_, err = b.InsertEvent(ctx, emit("evt_3"), time.Now())
	require.NoError(t, err)
	woken(t, ch, "from the new LISTEN connection")
	require.NotEqual(t, pid, listener(t, pool, schema))

	require.NoError(t, a.Close())
	// The server ends the backend of a closed connection on its own time.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for listener(t, pool, schema) != 0 {
		require.True(t, time.Now().Before(deadline), "Close ends the LISTEN connection")
		<-tick.C
	}
}

// mustDelivery returns the ID of the one delivery of event id.
func mustDelivery(t *testing.T, st store.Store, id string) string {
	t.Helper()
	ds, err := st.Deliveries(context.Background(), store.DeliveryQuery{EventID: id})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	return ds[0].ID
}
