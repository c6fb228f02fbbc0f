package eventtypes

import (
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
		{"order.created.v2", "", "", false},
		{"*", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, act, ok := SplitName(tt.name)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantResource, res)
			assert.Equal(t, tt.wantAction, act)
		})
	}
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
		{"order.*", "order.created.v2", false},
		{"order.created", "order.created", true},
		{"order.created", "order.updated", false},
		{"order.created", "Order.Created", false},
		{"order.created", "order.created ", false},
		{"product.*", "product.inventory_updated", true},
		{"*.created", "order.created", false}, // not a supported wildcard
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
	})
	assert.Zero(t, allocs)
}

func BenchmarkMatch(b *testing.B) {
	patterns := []string{"*", "order.*", "product.*", OrderCreated, ShippingTrackingUpdated}
	for b.Loop() {
		for _, p := range patterns {
			Match(p, ShippingTrackingUpdated)
		}
	}
}
