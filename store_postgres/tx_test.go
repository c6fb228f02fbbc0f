package storepg_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// TestTransactionalEmit emits inside the application's transactions: what a rolled-back
// transaction emitted is never stored nor sent; what a committed one emitted is not sent
// before the commit, and is sent once after it.
func TestTransactionalEmit(t *testing.T) {
	pool := testPool(t)
	st := openStore(t, pool)
	rc := newReceivers(t, 1)
	ctx := context.Background()
	d, err := webhook.New(st, webhook.AllowPrivateNetworks())
	require.NoError(t, err)
	defer d.Close(ctx)
	_, err = d.Subscribe(ctx, webhook.Subscription{URL: rc.srvs[0].URL, Events: []string{"order.*"}})
	require.NoError(t, err)
	emitTx := func(n int, opts ...webhook.EmitOption) []string {
		t.Helper()
		var ids []string
		for i := range n {
			ev, err := d.Emit(ctx, eventtypes.OrderCreated, map[string]any{"i": i}, opts...)
			require.NoError(t, err)
			ids = append(ids, ev.ID)
		}
		return ids
	}
	arrived := func(id string) func() bool { return func() bool { return rc.count(0, id) > 0 } }

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	rolledBack := emitTx(5, webhook.WithTx(st.Tx(tx)))
	require.NoError(t, tx.Rollback(ctx))
	for _, id := range rolledBack {
		_, err := d.Event(ctx, id)
		assert.ErrorIs(t, err, webhook.ErrNotFound, "rolled back with the transaction")
	}

	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	// The application's own write in the same transaction.
	_, err = tx.Exec(ctx, "CREATE TEMP TABLE orders (id int) ON COMMIT DROP")
	require.NoError(t, err)
	committed := emitTx(5, webhook.WithTx(st.Tx(tx)))
	// An event emitted outside the transaction meanwhile is delivered: by then the
	// scheduler has claimed since the transactional events were written, and found
	// none of them.
	sentinel := emitTx(1)[0]
	waitFor(t, rc, 30*time.Second, arrived(sentinel))
	for _, id := range committed {
		assert.Zero(t, rc.count(0, id), "sent before the commit")
	}
	require.NoError(t, tx.Commit(ctx))
	for _, id := range committed {
		waitFor(t, rc, 30*time.Second, arrived(id))
	}
	// Once each: a later event arrives, and nothing was sent twice.
	waitFor(t, rc, 30*time.Second, arrived(emitTx(1)[0]))
	for _, id := range committed {
		assert.Equal(t, 1, rc.count(0, id))
	}
	for _, id := range rolledBack {
		assert.Zero(t, rc.count(0, id))
	}
}
