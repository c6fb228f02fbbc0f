package storebolt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// A subscription record keeps its seq although store.Subscription has its own JSON
// methods, and records written before durations were milliseconds still read.
func TestRecordJSON(t *testing.T) {
	r := subRecord{Subscription: store.Subscription{ID: "sub_1", Events: []string{"*"}, Timeout: 1500 * time.Millisecond}, Seq: 42}
	raw, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"seq":42`)
	assert.Contains(t, string(raw), `"timeout_ms":1500`)
	var back subRecord
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, r, back)

	var old subRecord
	require.NoError(t, json.Unmarshal([]byte(`{"id":"sub_1","events":["*"],"timeout":2000000000,"seq":7}`), &old))
	assert.Equal(t, uint64(7), old.Seq)
	assert.Equal(t, 2*time.Second, old.Timeout)

	var d dlvRecord
	require.NoError(t, json.Unmarshal([]byte(`{"id":"dlv_1","attempts":[{"number":1,"duration":3000000,"outcome":"retry"}],"seq":9}`), &d))
	assert.Equal(t, uint64(9), d.Seq)
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, 3*time.Millisecond, d.Attempts[0].Duration)
	raw, err = json.Marshal(d)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"duration_ms":3`)
	assert.Contains(t, string(raw), `"seq":9`)
}
