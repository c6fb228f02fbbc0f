package storebolt

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

func TestNoRetentionNoGoroutine(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "webhooks.db"))
	require.NoError(t, err)
	defer s.Close()
	assert.Nil(t, s.stop, "without retention no pruning goroutine runs")

	r, err := Open(filepath.Join(t.TempDir(), "webhooks.db"), WithRetention(time.Hour, 0))
	require.NoError(t, err)
	defer r.Close()
	assert.NotNil(t, r.stop)
}

func TestTimeKeys(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), // before int64 nanoseconds: clamped
		time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, -1),
		time.Unix(0, 0),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), // after: clamped
	}
	for i := 1; i < len(times); i++ {
		assert.LessOrEqual(t, string(tkey(times[i-1])), string(tkey(times[i])), "%s before %s", times[i-1], times[i])
	}
	assert.True(t, tdecode(tkey(time.Time{})).IsZero())
	for _, tm := range times[2:7] {
		assert.True(t, tm.Equal(tdecode(tkey(tm))), "%s round trips", tm)
	}
}

func TestPrefixKeys(t *testing.T) {
	// No ID's prefix starts another ID's keys, whatever the IDs.
	ids := []string{"", "a", "ab", "a\x00", "b", string(make([]byte, 200)), string(make([]byte, 201))}
	for _, a := range ids {
		for _, b := range ids {
			if a != b {
				assert.False(t, len(pfx(b)) >= len(pfx(a)) && string(pfx(b)[:len(pfx(a))]) == string(pfx(a)), "%q vs %q", a, b)
			}
		}
	}
}

// TestKeysOf compares the index keys built in one buffer with the same keys joined part
// by part, for deliveries in every state.
func TestKeysOf(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []dlvRecord{
		{Seq: 7, Delivery: store.Delivery{ID: "dlv_1", Workspace: "shop", EventID: "evt_1", SubscriptionID: "sub_1", State: store.DeliveryPending, NextAttemptAt: at, CreatedAt: at}},
		{Seq: 8, Delivery: store.Delivery{ID: "dlv_2", EventID: "evt_2", SubscriptionID: "sub_2", State: store.DeliveryPending, NextAttemptAt: at.Add(time.Hour), CreatedAt: at}},
		{Seq: 9, Delivery: store.Delivery{ID: "dlv_3", Workspace: "w", EventID: "e", SubscriptionID: "s", State: store.DeliveryHeld, CreatedAt: at}},
		{Seq: 1 << 40, Delivery: store.Delivery{ID: "dlv_4", Workspace: string(make([]byte, 300)), EventID: "evt_4", SubscriptionID: "sub_4", State: store.DeliverySucceeded, CreatedAt: at, UpdatedAt: at.Add(time.Second)}},
	} {
		var want indexKeys
		id, seq := []byte(r.ID), u64(r.Seq)
		sub, ws, st := pfx(r.SubscriptionID), pfx(r.Workspace), []byte{stateByte(r.State)}
		lk := cat(tkey(r.CreatedAt), seq)
		want[ixLog], want[ixLogSub] = lk, cat(sub, lk)
		want[ixLogEvent], want[ixLogState] = cat(pfx(r.EventID), lk), cat(st, lk)
		want[ixLogSubState] = cat(sub, st, lk)
		if r.Workspace != "" {
			want[ixLogWs], want[ixLogWsState] = cat(ws, lk), cat(ws, st, lk)
		}
		switch r.State {
		case store.DeliveryPending:
			want[ixQueue] = cat(sub, tkey(r.NextAttemptAt), seq, id)
			want[ixOpen] = cat(sub, []byte{openPending}, tkey(r.CreatedAt), id)
		case store.DeliveryHeld:
			want[ixOpen] = cat(sub, []byte{openHeld}, tkey(r.CreatedAt), id)
		default:
			want[ixDone], want[ixDoneSub] = cat(tkey(r.UpdatedAt), id), cat(sub, seq)
		}
		got := keysOf(&r)
		assert.Equal(t, want, got, "%s", r.ID)
		for i := range got {
			assert.Equal(t, len(got[i]), cap(got[i]), "%s: key %d ends its capacity", r.ID, i)
		}
	}
}
