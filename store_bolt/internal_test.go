package storebolt

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
