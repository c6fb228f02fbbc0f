package storebolt_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/shophooks/webhook/portal"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

// The store's record of used links is what portal.WithUsedLinks takes; the test imports
// portal, the package does not.
var _ portal.UsedLinks = (*storebolt.UsedLinks)(nil)

// usedLinkKeys reads the closed file at path: the keys of its used_links bucket (nil
// without one), and its format version.
func usedLinkKeys(t *testing.T, path string) (keys []string, version uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		version = binary.BigEndian.Uint64(tx.Bucket([]byte("meta")).Get([]byte("version")))
		b := tx.Bucket([]byte("used_links"))
		if b == nil {
			return nil
		}
		keys = []string{}
		return b.ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k[:1]))
			return nil
		})
	}))
	return keys, version
}

// TestUsedLinks: a link is used once, however many try at once, and stays used after a
// restart; the file keeps its format.
func TestUsedLinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.db")
	s, err := storebolt.Open(path)
	require.NoError(t, err)
	exp := time.Now().Add(time.Hour)

	first, err := s.UsedLinks().UseLink(ctx, "nonce-1", exp)
	require.NoError(t, err)
	assert.True(t, first)
	first, err = s.UsedLinks().UseLink(ctx, "nonce-1", exp)
	require.NoError(t, err)
	assert.False(t, first)

	var wg sync.WaitGroup
	firsts := make([]bool, 16)
	errs := make([]error, len(firsts))
	start := make(chan struct{})
	for i := range firsts {
		wg.Go(func() {
			<-start
			firsts[i], errs[i] = s.UsedLinks().UseLink(ctx, "nonce-race", exp)
		})
	}
	close(start)
	wg.Wait()
	n := 0
	for i, f := range firsts {
		require.NoError(t, errs[i])
		if f {
			n++
		}
	}
	assert.Equal(t, 1, n, "exactly one use is the first")
	require.NoError(t, s.Close())
	_, err = s.UsedLinks().UseLink(ctx, "nonce-2", exp)
	require.Error(t, err, "closed")

	keys, version := usedLinkKeys(t, path)
	assert.Len(t, keys, 4, "two links, two keys each")
	assert.Equal(t, uint64(3), version, "the format is the same")

	s = open(t, path) // a restart
	first, err = s.UsedLinks().UseLink(ctx, "nonce-1", exp)
	require.NoError(t, err)
	assert.False(t, first, "still used after a restart")
	first, err = s.UsedLinks().UseLink(ctx, "nonce-2", exp)
	require.NoError(t, err)
	assert.True(t, first)
}

// TestUsedLinksSwept: the keys of links that expired more than an hour ago are deleted by
// the first UseLink after a restart (and one a minute after), a batch at a time; the
// others stay.
func TestUsedLinksSwept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.db")
	s, err := storebolt.Open(path, storebolt.WithNoSync(true))
	require.NoError(t, err)
	now := time.Now()
	use := func(s *storebolt.Store, nonce string, exp time.Time) bool {
		t.Helper()
		first, err := s.UsedLinks().UseLink(ctx, nonce, exp)
		require.NoError(t, err)
		return first
	}
	old := now.Add(-2 * time.Hour)
	for i := range storebolt.PruneBatch + 1 {
		require.True(t, use(s, fmt.Sprintf("old-%d", i), old))
	}
	require.True(t, use(s, "recent", now.Add(-time.Minute)))
	require.True(t, use(s, "live", now.Add(time.Hour)))
	require.NoError(t, s.Close())
	keys, _ := usedLinkKeys(t, path)
	require.Len(t, keys, 2*(storebolt.PruneBatch+3), "no sweep since the first UseLink")

	s, err = storebolt.Open(path, storebolt.WithNoSync(true))
	require.NoError(t, err)
	require.True(t, use(s, "new-1", now.Add(time.Hour)), "sweeps a batch")
	require.True(t, use(s, "new-2", now.Add(time.Hour)), "sweeps the rest")
	assert.False(t, use(s, "recent", now.Add(-time.Minute)), "expired less than an hour ago: kept")
	assert.False(t, use(s, "live", now.Add(time.Hour)))
	require.NoError(t, s.Close())
	keys, _ = usedLinkKeys(t, path)
	assert.Len(t, keys, 2*4, "recent, live, new-1, new-2")
}

// TestUsedLinksInAnOldFile: a file written before used links existed (format 2, migrated)
// gets the bucket at its first UseLink.
func TestUsedLinksInAnOldFile(t *testing.T) {
	orig, err := os.ReadFile("testdata/v2.db")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "v2.db")
	require.NoError(t, os.WriteFile(path, orig, 0o600))
	s := open(t, path)
	first, err := s.UsedLinks().UseLink(ctx, "nonce-1", time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, first)
}
