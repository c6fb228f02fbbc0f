package eventtypes

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"order.created", "order.created", 0},
		{"order.creatd", "order.created", 1},   // deletion
		{"order.createdd", "order.created", 1}, // insertion
		{"order.crexted", "order.created", 1},  // substitution
		{"order.cretaed", "order.created", 1},  // transposition
		{"ca", "abc", 3},                       // OSA, not full Damerau (which gives 2)
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		t.Run(tt.a+"|"+tt.b, func(t *testing.T) {
			assert.Equal(t, tt.want, editDistance(tt.a, tt.b))
			assert.Equal(t, tt.want, editDistance(tt.b, tt.a), "symmetric")
		})
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"order.created", "order.updated", "order.status", "product.created"}
	tests := []struct {
		name string
		want []string
	}{
		{"order.creatd", []string{"order.created"}},
		{"ORDER.CREATED", []string{"order.created"}},
		{"produkt.created", []string{"product.created"}},
		{"order.sta", []string{"order.status"}},
		{"xyz", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, suggest(tt.name, names))
		})
	}
}
