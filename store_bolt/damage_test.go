package storebolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/store"
)

// damagedEnv names the file a child process of TestDamagedFiles opens; damagedOpenEnv the
// one a child of TestDamagedWhileOpen damages once it has it open.
const (
	damagedEnv     = "STOREBOLT_DAMAGED_FILE"
	damagedOpenEnv = "STOREBOLT_DAMAGED_WHILE_OPEN"
)

// TestMain runs the child of TestDamagedFiles when damagedEnv is set, and the tests
// otherwise.
func TestMain(m *testing.M) {
	if path := os.Getenv(damagedEnv); path != "" {
		openDamaged(path)
		os.Exit(0)
	}
	if path := os.Getenv(damagedOpenEnv); path != "" {
		damageWhileOpen(path)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// openDamaged opens a damaged file and, if that succeeds, reads everything in it, then
// says how it went on stdout. A crash ends the process with another status.
func openDamaged(path string) {
	s, err := Open(path, WithTimeout(time.Second))
	if err != nil {
		fmt.Printf("CHILD: refused ErrFormat=%t ErrCorrupt=%t: %v\n", errors.Is(err, ErrFormat), errors.Is(err, ErrCorrupt), err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	var errs []error
	_, err = s.Subscriptions(ctx, store.SubscriptionFilter{})
	errs = append(errs, err)
	_, err = s.Deliveries(ctx, store.DeliveryQuery{Limit: 1 << 30})
	errs = append(errs, err)
	_, err = s.Stats(ctx, "", now)
	errs = append(errs, err)
	_, _, err = s.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 1 << 30, LeaseUntil: now.Add(time.Minute)})
	errs = append(errs, err)
	fmt.Printf("CHILD: opened: %v\n", errors.Join(errs...))
}

// damageWhileOpen opens a good file, zeroes every page but the meta pages behind bbolt's
// back, and uses the store: each call must fail with ErrCorrupt, none crash.
func damageWhileOpen(path string) {
	s, err := Open(path)
	if err != nil {
		fmt.Println("CHILD: open:", err)
		return
	}
	defer s.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		fmt.Println("CHILD: write:", err)
		return
	}
	info, _ := f.Stat()
	_, err = f.WriteAt(make([]byte, info.Size()-8192), 8192)
	_ = f.Close()
	if err != nil {
		fmt.Println("CHILD: write:", err)
		return
	}
	ctx := context.Background()
	now := time.Now()
	_, err1 := s.Deliveries(ctx, store.DeliveryQuery{})
	_, err2 := s.Stats(ctx, "", now)
	_, _, err3 := s.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Minute)})
	_, err4 := s.InsertEvent(ctx, store.Event{ID: "evt_new", Type: "order.created", OccurredAt: now}, now)
	for _, err := range []error{err1, err2, err3, err4} {
		fmt.Printf("CHILD: ErrCorrupt=%t: %v\n", errors.Is(err, ErrCorrupt), err)
	}
}

// TestDamagedWhileOpen damages a file under an open store (in a child process): the
// store's calls answer ErrCorrupt instead of crashing the process.
func TestDamagedWhileOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "good.db")
	fillForDamage(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), damagedOpenEnv+"="+path)
	cmd.WaitDelay = 10 * time.Second
	var buf capped
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "the child did not finish:\n%s", buf.b)
	require.NoError(t, err, "the child crashed:\n%s", buf.b)
	out := string(buf.b)
	assert.Equal(t, 4, strings.Count(out, "CHILD: ErrCorrupt=true"), "%s", out)
}

// TestDamagedFiles damages copies of a real store file as a disk or an operator would
// (truncated; one page in use overwritten with random bytes or zeros) and opens each in a
// child process, so that a crash fails the test instead of killing the suite. Each must
// be refused with an error matching ErrFormat and ErrCorrupt, and left as it was.
func TestDamagedFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	fillForDamage(t, good)
	orig, err := os.ReadFile(good)
	require.NoError(t, err)
	pages := pagesInUse(t, good)
	t.Logf("%d bytes, %d pages in use", len(orig), len(pages))
	require.Greater(t, len(pages), 50, "a file with branch pages, overflow and a free list")

	type variant struct {
		name    string
		content []byte
	}
	var variants []variant
	for _, n := range []int{8 << 10, 16 << 10, len(orig) / 2} {
		variants = append(variants, variant{fmt.Sprintf("truncated to %d", n), orig[:n]})
	}
	variants = append(variants, variant{"4096 bytes", orig[:4096]})
	rng := rand.New(rand.NewPCG(1, 2))
	// Pages spread over the file, the first and last in use among them.
	var picked []uint64
	for i := 0; i < len(pages); i += max(1, len(pages)/10) {
		picked = append(picked, pages[i])
	}
	picked = append(picked, pages[len(pages)-1])
	for _, id := range picked {
		for _, fill := range []string{"random", "zeros"} {
			b := slices.Clone(orig)
			page := b[id*4096 : (id+1)*4096]
			if fill == "random" {
				for i := range page {
					page[i] = byte(rng.Uint32())
				}
			} else {
				clear(page)
			}
			variants = append(variants, variant{fmt.Sprintf("page %d %s", id, fill), b})
		}
	}
	// Both meta pages saying the file has 2^51 pages, with right checksums: crafted, not
	// torn. The page count must not size anything before it is checked.
	crafted := slices.Clone(orig)
	for i := range 2 {
		m := crafted[i*4096+16:] // after the page header
		binary.NativeEndian.PutUint64(m[40:], 1<<51)
		h := fnv.New64a()
		h.Write(m[:56])
		binary.NativeEndian.PutUint64(m[56:], h.Sum64())
	}
	variants = append(variants, variant{"meta page count 2^51", crafted})

	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(v.name, " ", "_")+".db")
			require.NoError(t, os.WriteFile(path, v.content, 0o600))
			// A damaged file can also make a reader loop for ever: the child gets a minute.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), damagedEnv+"="+path)
			cmd.WaitDelay = 10 * time.Second
			var buf capped // a child looping on a damaged page may print without end
			cmd.Stdout, cmd.Stderr = &buf, &buf
			err := cmd.Run()
			out := buf.b
			require.NoError(t, ctx.Err(), "the child did not finish:\n%s", out)
			require.NoError(t, err, "the child crashed:\n%s", out)
			assert.Contains(t, string(out), "CHILD: refused ErrFormat=true", "%s", out)
			if v.name != "4096 bytes" {
				assert.Contains(t, string(out), "ErrCorrupt=true", "%s", out)
			}
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, v.content, after, "the file is left as it was")
		})
	}
}

// capped keeps the first 4 KB written to it.
type capped struct{ b []byte }

func (c *capped) Write(p []byte) (int, error) {
	c.b = append(c.b, p[:min(len(p), max(0, 4096-len(c.b)))]...)
	return len(p), nil
}

// fillForDamage writes a store with enough in it for every kind of page: 4 workspaces of
// 5 subscriptions, 1,500 events, deliveries in every state, an event of 20 KB.
func fillForDamage(t *testing.T, path string) {
	s, err := Open(path, WithNoSync(true))
	require.NoError(t, err)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for w := range 4 {
		for i := range 5 {
			require.NoError(t, s.CreateSubscription(ctx, store.Subscription{
				ID: fmt.Sprintf("sub_%d_%d", w, i), Workspace: fmt.Sprintf("shop_%d", w),
				URL: "https://example.com/", Events: []string{"order.*"}, Status: store.StatusActive,
			}))
		}
	}
	for i := range 1500 {
		now := t0.Add(time.Duration(i) * time.Second)
		data := []byte(`{"n":1}`)
		if i == 700 {
			data = []byte(`{"big":"` + strings.Repeat("x", 20000) + `"}`)
		}
		_, err := s.InsertEvent(ctx, store.Event{ID: fmt.Sprintf("evt_%d", i), Workspace: fmt.Sprintf("shop_%d", i%4), Type: "order.created", OccurredAt: now, Data: data}, now)
		require.NoError(t, err)
	}
	now := t0.Add(time.Hour)
	cs, _, err := s.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 3000, LeaseUntil: now.Add(time.Minute)})
	require.NoError(t, err)
	for i, c := range cs {
		rec := store.AttemptRecord{DeliveryID: c.Delivery.ID, State: store.DeliverySucceeded, Attempt: store.Attempt{Number: 1, SentAt: now, StatusCode: 200, Outcome: store.OutcomeSucceeded}}
		if i%3 == 0 {
			rec.State, rec.NextAttemptAt = store.DeliveryPending, now.Add(time.Minute)
			rec.Attempt.StatusCode, rec.Attempt.Outcome = 500, store.OutcomeRetry
		}
		_, err := s.RecordAttempt(ctx, rec)
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
}

// pagesInUse lists the pages that the file's trees and free list use (the checker's
// walk), meta pages left out.
func pagesInUse(t *testing.T, path string) []uint64 {
	s, err := Open(path)
	require.NoError(t, err)
	defer s.Close()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	info, err := f.Stat()
	require.NoError(t, err)
	c := &checker{f: f, pageSize: s.db.Info().PageSize, size: info.Size()}
	require.NoError(t, c.run())
	require.Equal(t, 4096, c.pageSize, "the test damages 4 KiB pages")
	var ids []uint64
	for id := uint64(2); id < c.hwm; id++ {
		if c.seen.has(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestCloseNil(t *testing.T) {
	var s *Store
	assert.NoError(t, s.Close(), "what a failed Open returns")
	s, err := Open(filepath.Join(t.TempDir(), "missing", "dir", "webhooks.db"))
	require.Error(t, err)
	defer s.Close() // the README's order: safe even so
	assert.Nil(t, s)
}

// BenchmarkCheckFile1M measures Open's page check alone on the file of BenchmarkReopen1M
// (1,000,000 pending deliveries), which must exist.
func BenchmarkCheckFile1M(b *testing.B) {
	path := filepath.Join(os.TempDir(), "storebolt-bench-v2-pending-1m.db")
	if _, err := os.Stat(path); err != nil {
		b.Skip("run BenchmarkReopen1M first: it builds the file")
	}
	s, err := Open(path, WithCheck(false))
	require.NoError(b, err)
	defer s.Close()
	for b.Loop() {
		if err := checkFile(s.db); err != nil {
			b.Fatal(err)
		}
	}
}
