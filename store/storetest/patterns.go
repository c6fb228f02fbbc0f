package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// testPatterns checks that fan-out honours every kind of pattern eventtypes.Match knows:
// a store that indexes subscriptions by pattern must look up all of eventtypes.Patterns,
// not only the exact name, "resource.*" and "*". It also checks the subscription filters
// on such patterns.
func testPatterns(t *testing.T, newStore func(t *testing.T) store.Store) {
	f := newFixture(t, newStore)
	f.create(newSub("sub_created", "*.created"))
	f.create(newSub("sub_created_v2", "*.created.v2"))
	f.create(newSub("sub_orders", "order.*"))
	f.create(newSub("sub_v1", "order.created"))
	f.create(newSub("sub_v2", "order.created.v2"))
	f.create(newSub("sub_all", "*"))
	f.create(newSub("sub_both", "*.created", "order.*", "order.created.v2")) // one delivery each

	for i, tc := range []struct {
		typ  string
		want []string
	}{
		{"order.created", []string{"sub_created", "sub_orders", "sub_v1", "sub_all", "sub_both"}},
		{"order.created.v2", []string{"sub_created", "sub_created_v2", "sub_orders", "sub_v2", "sub_all", "sub_both"}},
		{"customer.created", []string{"sub_created", "sub_all", "sub_both"}},
		{"customer.created.v2", []string{"sub_created", "sub_created_v2", "sub_all", "sub_both"}},
		{"order.updated.v3", []string{"sub_orders", "sub_all", "sub_both"}},
		{"product.deleted", []string{"sub_all"}},
	} {
		var got []string
		for _, id := range f.emit("evt_"+string(rune('a'+i)), tc.typ, t0).Deliveries {
			got = append(got, f.delivery(id).SubscriptionID)
		}
		assert.ElementsMatch(t, tc.want, got, tc.typ)
		for _, sub := range got {
			assert.True(t, f.sub(sub).Wants(tc.typ), "%s wants %s", sub, tc.typ)
		}
	}

	list := func(flt store.SubscriptionFilter) []string {
		subs, err := f.s.Subscriptions(f.ctx, flt)
		require.NoError(t, err)
		var ids []string
		for _, s := range subs {
			ids = append(ids, s.ID)
		}
		return ids
	}
	assert.ElementsMatch(t, []string{"sub_created", "sub_created_v2", "sub_orders", "sub_v1", "sub_v2", "sub_all", "sub_both"},
		list(store.SubscriptionFilter{Event: "created"}), "an action matches its versions and the wildcards")
	assert.ElementsMatch(t, []string{"sub_created", "sub_created_v2", "sub_all", "sub_both"},
		list(store.SubscriptionFilter{Event: "customer.created.v2"}))
	assert.ElementsMatch(t, []string{"sub_created", "sub_created_v2", "sub_all", "sub_both"},
		list(store.SubscriptionFilter{Resource: "customer"}))
}
