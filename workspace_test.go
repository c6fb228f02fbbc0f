package webhook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
)

// TestWorkspacesIsolateMerchants: two merchants subscribe to the same event type; each
// receiver gets only its own merchant's events, and every query scoped to one merchant
// sees only its rows.
func TestWorkspacesIsolateMerchants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHostRouter()
		d := newRouted(t, h)
		ctx := context.Background()
		subA, err := d.Subscribe(ctx, webhook.Subscription{Workspace: "shop_a", URL: "https://a.example.com/in", Events: []string{"order.created"}, Metadata: map[string]string{"integration": "erp-1"}})
		require.NoError(t, err)
		subB, err := d.Subscribe(ctx, webhook.Subscription{Workspace: "shop_b", URL: "https://b.example.com/in", Events: []string{"order.created"}})
		require.NoError(t, err)
		_, err = d.Subscribe(ctx, webhook.Subscription{URL: "https://default.example.com/in", Events: []string{"order.created"}})
		require.NoError(t, err)

		evA := emitIn(t, d, "shop_a", 3)
		evB := emitIn(t, d, "shop_b", 2)
		synctest.Wait()
		assert.Len(t, h.times("a.example.com"), 3)
		assert.Len(t, h.times("b.example.com"), 2)
		assert.Empty(t, h.times("default.example.com"), "the default workspace gets no merchant's events")

		for _, ev := range evA {
			assert.Equal(t, "shop_a", ev.Workspace)
			ds, err := d.Deliveries(ctx, webhook.DeliveryQuery{EventID: ev.ID})
			require.NoError(t, err)
			require.Len(t, ds, 1)
			assert.Equal(t, subA.ID, ds[0].SubscriptionID)
			assert.Equal(t, "shop_a", ds[0].Workspace)
		}
		ds, err := d.Deliveries(ctx, webhook.DeliveryQuery{Workspace: "shop_b"})
		require.NoError(t, err)
		require.Len(t, ds, 2)
		for _, del := range ds {
			assert.Equal(t, subB.ID, del.SubscriptionID)
		}
		assert.Equal(t, evB[1].ID, ds[0].EventID, "newest first")

		subs, err := d.Subscriptions(ctx, webhook.Filter{Workspace: "shop_a"})
		require.NoError(t, err)
		require.Len(t, subs, 1)
		assert.Equal(t, subA.ID, subs[0].ID)
		subs, err = d.Subscriptions(ctx, webhook.Filter{Metadata: map[string]string{"integration": "erp-1"}})
		require.NoError(t, err)
		require.Len(t, subs, 1)
		assert.Equal(t, map[string]string{"integration": "erp-1"}, subs[0].Metadata)
		subs, err = d.Subscriptions(ctx, webhook.Filter{})
		require.NoError(t, err)
		assert.Len(t, subs, 3, "an empty workspace filter lists every workspace")

		st, err := d.StatsFor(ctx, "shop_b")
		require.NoError(t, err)
		assert.Equal(t, int64(2), st.Overall.Attempts)
		assert.Len(t, st.Subscriptions, 1)
		assert.Contains(t, st.Subscriptions, subB.ID)
		all, err := d.Stats(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(5), all.Overall.Attempts)

		// Test sends within the subscription's workspace.
		rep, err := d.Test(ctx, subB.ID, "order.created")
		require.NoError(t, err)
		require.Equal(t, 1, rep.TestsSucceeded)
		del, err := d.Delivery(ctx, rep.Tests[0].DeliveryID)
		require.NoError(t, err)
		assert.Equal(t, "shop_b", del.Workspace)
		ev, err := d.Event(ctx, del.EventID)
		require.NoError(t, err)
		assert.Equal(t, "shop_b", ev.Workspace)

		// Deleting A's subscription never touches B's.
		require.NoError(t, d.Unsubscribe(ctx, subA.ID))
		_, err = d.Subscription(ctx, subB.ID)
		require.NoError(t, err)
		emitIn(t, d, "shop_b", 1)
		synctest.Wait()
		assert.Len(t, h.times("b.example.com"), 2+1+1, "two events, a test, one more event")
	})
}

func emitIn(t *testing.T, d *webhook.Dispatcher, ws string, n int) []webhook.Event {
	t.Helper()
	var out []webhook.Event
	for range n {
		ev, err := d.Emit(context.Background(), "order.created", map[string]any{"id": "ord_1"}, webhook.InWorkspace(ws))
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

func TestSubscriptionNeverChangesWorkspace(t *testing.T) {
	d, err := webhook.New(newMemory())
	require.NoError(t, err)
	defer d.Close(context.Background())
	ctx := context.Background()
	sub, err := d.Subscribe(ctx, webhook.Subscription{Workspace: "shop_a", URL: "https://a.example.com", Events: []string{"*"}})
	require.NoError(t, err)
	sub.Workspace = "shop_b"
	_, err = d.UpdateSubscription(ctx, sub)
	var ve *webhook.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Workspace", ve.Field)
	got, err := d.Subscription(ctx, sub.ID)
	require.NoError(t, err)
	assert.Equal(t, "shop_a", got.Workspace)

	sub.Workspace = "shop_a"
	sub.Name = "renamed"
	got, err = d.UpdateSubscription(ctx, sub)
	require.NoError(t, err)
	assert.Equal(t, "renamed", got.Name)

	for _, bad := range []string{"has space", strings.Repeat("x", 201), "tab\t", "é"} {
		_, err := d.Subscribe(ctx, webhook.Subscription{Workspace: bad, URL: "https://a.example.com", Events: []string{"*"}})
		require.ErrorAs(t, err, &ve, "%q", bad)
		assert.Equal(t, "Workspace", ve.Field)
		_, err = d.Emit(ctx, "order.created", nil, webhook.InWorkspace(bad))
		require.ErrorAs(t, err, &ve, "%q", bad)
	}
}

func TestEmitIDConflict(t *testing.T) {
	d, err := webhook.New(newMemory())
	require.NoError(t, err)
	defer d.Close(context.Background())
	ctx := context.Background()
	first, err := d.Emit(ctx, "order.created", map[string]int{"id": 1}, webhook.WithEventID("evt_fixed"), webhook.InWorkspace("shop_a"))
	require.NoError(t, err)

	again, err := d.Emit(ctx, "order.created", map[string]int{"id": 2}, webhook.WithEventID("evt_fixed"), webhook.InWorkspace("shop_a"))
	require.NoError(t, err, "same ID, type and workspace is idempotent")
	assert.Equal(t, first, again)

	_, err = d.Emit(ctx, "order.cancelled", nil, webhook.WithEventID("evt_fixed"), webhook.InWorkspace("shop_a"))
	require.ErrorIs(t, err, webhook.ErrConflict)
	assert.Contains(t, err.Error(), "order.created")
	_, err = d.Emit(ctx, "order.created", nil, webhook.WithEventID("evt_fixed"), webhook.InWorkspace("shop_b"))
	require.ErrorIs(t, err, webhook.ErrConflict)
	_, err = d.Emit(ctx, "order.updated", nil, webhook.WithEventID("evt_fixed"), webhook.InWorkspace("shop_b"))
	require.ErrorIs(t, err, webhook.ErrConflict)
	assert.NotContains(t, err.Error(), "shop_a", "the error tells nothing of another workspace's event")
	assert.NotContains(t, err.Error(), "order.created")
	_, err = d.Emit(ctx, "order.created", nil, webhook.WithEventID("evt_fixed"))
	require.ErrorIs(t, err, webhook.ErrConflict)
}

func TestEmitPayloadLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, webhook.WithMaxPayloadBytes(1000))
		e.subscribe("order.created")
		_, err := e.d.Emit(e.ctx, "order.created", map[string]string{"note": strings.Repeat("x", 1000)})
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "data", ve.Field)
		assert.Contains(t, err.Error(), "over the limit of 1000 bytes")
		e.settle(time.Second)
		assert.Empty(t, e.ep.requests(), "nothing was stored or sent")

		// The limit is on the envelope exactly as it is sent: grow the data a byte at a
		// time; the last event accepted is sent with a body of exactly the limit.
		for n := 850; ; n++ {
			data := json.RawMessage(`{"note":"` + strings.Repeat("y", n) + `"}`)
			if _, err := e.d.Emit(e.ctx, "order.created", data); err != nil {
				require.ErrorAs(t, err, &ve)
				break
			}
			require.Less(t, n, 1000)
		}
		e.settle(time.Second)
		reqs := e.ep.requests()
		require.NotEmpty(t, reqs)
		longest := 0
		for _, r := range reqs {
			longest = max(longest, len(r.Body))
		}
		assert.Equal(t, 1000, longest)
	})
	_, err := webhook.New(newMemory(), webhook.WithMaxPayloadBytes(-1))
	var ve *webhook.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.GreaterOrEqual(t, webhook.DefaultMaxBodyBytes, int64(webhook.DefaultMaxPayloadBytes),
		"a receiver with the defaults takes everything a sender with the defaults sends")
}

// TestXMLBodyOverLimitIsNeverSent: the XML form of an event can be several times its JSON
// envelope; a body over the limit fails once, clearly, instead of being uploaded six times.
func TestXMLBodyOverLimitIsNeverSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, webhook.WithMaxPayloadBytes(2000))
		_, err := e.d.Subscribe(e.ctx, webhook.Subscription{URL: "https://hooks.example.com/in", Events: []string{"order.*"}, Format: webhook.FormatXML})
		require.NoError(t, err)
		items := make([]int, 400)
		ev, err := e.d.Emit(e.ctx, "order.created", map[string]any{"id": "ord_1", "lines": items})
		require.NoError(t, err, "the JSON envelope is within the limit")
		e.settle(time.Hour)
		assert.Empty(t, e.ep.requests(), "nothing was uploaded")
		del := e.delivery(ev.ID)
		assert.Equal(t, webhook.DeliveryFailed, del.State)
		require.Len(t, del.Attempts, 1)
		assert.Equal(t, webhook.OutcomeGaveUp, del.Attempts[0].Outcome)
		assert.Contains(t, del.Attempts[0].Error, "over the limit")
	})
}

func TestEmitDataMustBeAnObject(t *testing.T) {
	d, err := webhook.New(newMemory())
	require.NoError(t, err)
	defer d.Close(context.Background())
	ctx := context.Background()
	type order struct{ ID string }
	var nilOrder *order
	var nilMap map[string]any
	for _, data := range []any{nil, nilOrder, nilMap, json.RawMessage("null"), []byte(" null ")} {
		ev, err := d.Emit(ctx, "order.created", data)
		require.NoError(t, err, "%#v", data)
		assert.JSONEq(t, `{}`, string(ev.Data), "%#v means {}", data)
	}
	for _, data := range []any{"hello", []int{1, 2}, 42, true, json.RawMessage(`[1,2]`), json.RawMessage(`"s"`), []byte(`{"a":`)} {
		_, err := d.Emit(ctx, "order.created", data)
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve, "%#v", data)
		assert.Equal(t, "data", ve.Field)
	}
	ev, err := d.Emit(ctx, "order.created", json.RawMessage("{ \"a\" : 1 }"))
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(ev.Data), "stored compact")
	ev, err = d.Emit(ctx, "order.created", []byte("{\"a\":\"\xff\"}"))
	require.NoError(t, err)
	assert.Equal(t, `{"a":"\ufffd"}`, string(ev.Data), "invalid UTF-8 is replaced once, at Emit")
}
