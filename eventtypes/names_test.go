package eventtypes

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitName(t *testing.T) {
	tests := []struct {
		name         string
		wantResource string
		wantAction   string
		wantOK       bool
	}{
		{"order.created", "order", "created", true},
		{"product.inventory_updated", "product", "inventory_updated", true},
		{"order.*", "order", "*", true},
		{"Order.Created", "Order", "Created", true}, // characters are Register's business
		{"", "", "", false},
		{"order", "", "", false},
		{"order.", "", "", false},
		{".created", "", "", false},
		{".", "", "", false},
		{"order.created.v2", "order", "created", true},
		{"order.created.v12", "order", "created", true},
		{"order.created.2", "", "", false},
		{"order.created.v", "", "", false},
		{"order.created.v0", "", "", false},
		{"order.created.v2.v3", "", "", false},
		{"order..v2", "", "", false},
		{"shipping.label.created", "", "", false},
		{"*", "", "", false},
		{"*.created", "*", "created", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, act, ok := SplitName(tt.name)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantResource, res)
			assert.Equal(t, tt.wantAction, act)
		})
	}
	res, act, ver, ok := ParseName("order.created.v2")
	assert.Equal(t, []any{"order", "created", "v2", true}, []any{res, act, ver, ok})
	_, _, ver, ok = ParseName("order.created")
	assert.True(t, ok)
	assert.Empty(t, ver)
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, eventType string
		want               bool
	}{
		{"*", "order.created", true},
		{"*", "anything.at_all", true},
		{"order.*", "order.created", true},
		{"order.*", "order.inventory_updated", true},
		{"order.*", "order.", false},
		{"order.*", "order", false},
		{"order.*", "orders.created", false},
		{"order.*", "product.created", false},
		{"order.*", "order.created.v2", true}, // every order event, every version
		{"order.*", "order.created.2", false},
		{"*.created", "order.created", true},
		{"*.created", "customer.created", true},
		{"*.created", "order.created.v2", true},
		{"*.created", "order.updated", false},
		{"*.created", "order.created_late", false},
		{"*.created", "created", false},
		{"*.created.v2", "order.created.v2", true},
		{"*.created.v2", "order.created", false},
		{"*.created.v2", "order.created.v3", false},
		{"order.created", "order.created.v2", false}, // another type
		{"order.created.v2", "order.created.v2", true},
		{"order.created.v2", "order.created", false},
		{"*.*", "order.created", false},
		{"order.*.v2", "order.created.v2", false},
		{"order.created.*", "order.created.v2", false},
		{"*.created", "*.created", false},
		{"order.*", "order.*", false},
		{"order.created", "order.created", true},
		{"order.created", "order.updated", false},
		{"order.created", "Order.Created", false},
		{"order.created", "order.created ", false},
		{"product.*", "product.inventory_updated", true},
		{"order*", "order.created", false},
		{".*", ".created", false},
		{"", "", true},
		{"", "order.created", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"|"+tt.eventType, func(t *testing.T) {
			assert.Equal(t, tt.want, Match(tt.pattern, tt.eventType))
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		Match("*", OrderCreated)
		Match("order.*", OrderCreated)
		Match("product.*", OrderCreated)
		Match(OrderCreated, OrderCreated)
		Match("*.created", "order.created.v2")
		Match("*.created.v2", "order.created.v2")
	})
	assert.Zero(t, allocs)
}

// Patterns lists exactly the patterns that match a type: what a store's pattern index
// must look up.
func TestPatterns(t *testing.T) {
	assert.Equal(t, []string{"order.created", "*", "order.*", "*.created"}, Patterns("order.created"))
	assert.Equal(t, []string{"order.created.v2", "*", "order.*", "*.created", "*.created.v2"}, Patterns("order.created.v2"))
	assert.Equal(t, []string{"order", "*"}, Patterns("order"))
	assert.Equal(t, []string{"*"}, Patterns("order.*"))
	assert.Equal(t, []string{"*"}, Patterns("*"))
	for _, typ := range []string{"order.created", "order.created.v2", "shipping.label_created"} {
		for _, p := range Patterns(typ) {
			assert.True(t, Match(p, typ), "%s matches %s", p, typ)
		}
	}
}

// FuzzPatterns checks that a valid pattern matches a type if and only if it is one of the
// type's Patterns, so that an index keyed by pattern finds every subscription Match would.
func FuzzPatterns(f *testing.F) {
	for _, s := range [][2]string{
		{"order.*", "order.created.v2"}, {"*.created", "order.created"}, {"*.created.v2", "a.created.v2"},
		{"order.created", "order.created"}, {"*", "x.y"}, {"*.*", "a.b"}, {"a.*.v2", "a.b.v2"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, eventType string) {
		if pattern != wildcard && !validPattern(pattern) {
			return // not something ValidatePattern could accept
		}
		listed := slices.Contains(Patterns(eventType), pattern)
		if Match(pattern, eventType) != listed {
			t.Fatalf("Match(%q, %q) = %v, but Patterns lists it: %v", pattern, eventType, !listed, listed)
		}
	})
}

// validName reports whether name could be registered.
func validName(name string) bool {
	res, act, _, ok := ParseName(name)
	return ok && validPart(res) && validPart(act)
}

// validPattern reports whether p has a shape ValidatePattern can accept.
func validPattern(p string) bool {
	res, act, ver, ok := ParseName(p)
	switch {
	case !ok:
		return false
	case res == wildcard:
		return validPart(act)
	case act == wildcard:
		return ver == "" && validPart(res)
	}
	return validName(p)
}

func BenchmarkMatch(b *testing.B) {
	patterns := []string{"*", "order.*", "product.*", OrderCreated, ShippingTrackingUpdated}
	for b.Loop() {
		for _, p := range patterns {
			Match(p, ShippingTrackingUpdated)
		}
	}
}
