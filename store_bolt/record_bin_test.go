package storebolt

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// TestBinaryRecord: a delivery record reads back from the binary encoding as it reads
// back from JSON (the encoding of formats 1 and 2, still read), and a damaged one is
// refused with ErrCorrupt.
func TestBinaryRecord(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)
	paris := time.FixedZone("", 3600)
	records := []dlvRecord{
		{Seq: 1, Delivery: store.Delivery{ID: "dlv_1", EventID: "evt_1", SubscriptionID: "sub_1", EventType: "order.created",
			State: store.DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}},
		{Seq: 1 << 50, Delivery: store.Delivery{ID: "dlv_2", Workspace: "shop", EventID: "evt_2", SubscriptionID: "sub_2",
			EventType: "order.updated", State: store.DeliverySucceeded, RoundStart: 2, Test: true,
			CreatedAt: at.In(paris), UpdatedAt: at.Add(time.Hour), Attempts: []store.Attempt{
				{Number: 1, SentAt: at, Duration: 1500 * time.Microsecond, StatusCode: 503, ResponseBody: "busy \x00 ü",
					Error: "server error", ErrorKind: store.ErrorServer, Outcome: store.OutcomeRetry, NextAttemptAt: at.Add(time.Minute)},
				{Number: 2, SentAt: at.Add(time.Minute), Duration: -1, StatusCode: 0, Outcome: store.OutcomeSucceeded, Test: true},
			}}},
		{Delivery: store.Delivery{ID: "dlv_3", State: store.DeliveryHeld, Attempts: []store.Attempt{}}},
		{Delivery: store.Delivery{ID: "dlv_4", State: store.DeliveryHeld}},
	}
	for _, r := range records {
		raw, err := encodeDelivery(&r)
		require.NoError(t, err)
		got, err := decodeDelivery(r.ID, raw)
		require.NoError(t, err, r.ID)
		js, err := json.Marshal(&r)
		require.NoError(t, err)
		want, err := decodeDelivery(r.ID, js)
		require.NoError(t, err, r.ID)
		assert.Equal(t, want, got, "%s: as from JSON", r.ID)
		assert.True(t, r.CreatedAt.Equal(got.CreatedAt))
		_, off := got.CreatedAt.Zone()
		_, wantOff := r.CreatedAt.Zone()
		assert.Equal(t, wantOff, off, "the zone offset is kept")

		for cut := 1; cut < len(raw); cut += 7 {
			_, err := decodeDelivery(r.ID, raw[:cut])
			assert.True(t, errors.Is(err, ErrCorrupt), "%s cut at %d: %v", r.ID, cut, err)
		}
		_, err = decodeDelivery(r.ID, append(raw, 0))
		assert.True(t, errors.Is(err, ErrCorrupt), "trailing bytes")
	}
}
