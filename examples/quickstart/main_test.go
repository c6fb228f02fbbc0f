package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuickstart runs the quickstart as a newcomer would and checks that what it prints
// is what happened.
func TestQuickstart(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out))
	got := out.String()
	assert.Contains(t, got, `test of "healthy": 2 run, 2 succeeded, 0 failed`)
	assert.Contains(t, got, "flaky    order.created    succeeded 503, 503, 200")
	assert.Contains(t, got, `subscription "gone" is now inactive: endpoint answered 410 Gone`)
	assert.Contains(t, got, "healthy  attempts 3, success rate 100%")
	assert.NotContains(t, got, "whsec_", "the secret is never printed")
}
