package store_test

import (
	"testing"

	"github.com/shophooks/webhook/store"
	"github.com/shophooks/webhook/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}
