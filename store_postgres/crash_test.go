package storepg_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// The crash test's child process: it emits events into a schema, writing each ID to a
// file once Emit has returned (so the parent knows what was acknowledged), against a slow
// endpoint, until it is killed.
func init() {
	if os.Getenv("WEBHOOK_PG_CRASH_CHILD") == "" {
		return
	}
	if err := crashChild(os.Getenv("WEBHOOK_PG_CRASH_SCHEMA"), os.Getenv("WEBHOOK_PG_CRASH_IDS")); err != nil {
		os.Stderr.WriteString("crash child: " + err.Error() + "\n")
		os.Exit(2)
	}
	os.Exit(0)
}

func crashChild(schema, idsPath string) error {
	ctx := context.Background()
	st, err := storepg.Connect(ctx, testURL(), storepg.WithSchema(schema), storepg.SkipMigrations())
	if err != nil {
		return err
	}
	d, err := webhook.New(st, webhook.AllowPrivateNetworks(), webhook.WithWorkers(4))
	if err != nil {
		return err
	}
	ids, err := os.OpenFile(idsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 { // concurrent emitters: acknowledged events share commits
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				ev, err := d.Emit(ctx, eventtypes.OrderCreated, map[string]any{"g": g, "i": i})
				if err != nil {
					os.Stderr.WriteString("crash child: " + err.Error() + "\n")
					os.Exit(2)
				}
				// Written after Emit returned: every ID in the file was acknowledged.
				mu.Lock()
				_, err = ids.WriteString(ev.ID + "\n")
				mu.Unlock()
				if err != nil {
					os.Exit(2)
				}
				if i > 50 {
					time.Sleep(10 * time.Millisecond) // keep going slowly until killed
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// TestCrashRecovery kills a process with SIGKILL while it emits into PostgreSQL and
// delivers, starts a new dispatcher on the same schema, and checks that every event the
// dead process acknowledged is delivered.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	pool := testPool(t)
	schema := freshSchema(t, pool)
	ctx := context.Background()
	require.NoError(t, storepg.Migrate(ctx, pool, schema))
	idsPath := filepath.Join(t.TempDir(), "emitted.txt")

	var (
		mu       sync.Mutex
		received = map[string]int{}
		slow     = true
		progress = make(chan struct{}, 1)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received[r.Header.Get("webhook-id")]++
		s := slow
		mu.Unlock()
		select {
		case progress <- struct{}{}:
		default:
		}
		if s {
			time.Sleep(100 * time.Millisecond) // a slow endpoint: the child has work in flight
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	st, err := storepg.Open(ctx, pool, storepg.WithSchema(schema))
	require.NoError(t, err)
	defer st.Close()
	d, err := webhook.New(st, webhook.AllowPrivateNetworks())
	require.NoError(t, err)
	_, err = d.Subscribe(ctx, webhook.Subscription{URL: srv.URL, Events: []string{"order.*"}})
	require.NoError(t, err)
	require.NoError(t, d.Close(ctx)) // the child alone delivers until it dies

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "WEBHOOK_PG_CRASH_CHILD=1", "WEBHOOK_PG_CRASH_SCHEMA="+schema,
		"WEBHOOK_PG_CRASH_IDS="+idsPath)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())

	deadline := time.After(60 * time.Second)
	for {
		select {
		case <-progress:
		case <-deadline:
			_ = child.Process.Kill()
			t.Fatal("the child made no progress in 60s")
		}
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= 5 && len(readIDs(t, idsPath)) >= 300 {
			break
		}
	}
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()

	emitted := readIDs(t, idsPath)
	mu.Lock()
	slow = false
	before := len(received)
	mu.Unlock()
	t.Logf("killed after %d events acknowledged, %d received", len(emitted), before)
	require.Less(t, before, len(emitted), "the kill should leave deliveries pending")

	// The dead process's leases would run out in a few minutes: move them to now, as
	// time would.
	s := pgx.Identifier{schema}.Sanitize()
	_, err = pool.Exec(ctx, `
WITH x AS (
    UPDATE `+s+`.queue SET due_at = now(), leased_until = now()
    WHERE leased_until IS NOT NULL RETURNING sub_id
)
INSERT INTO `+s+`.hints (sub_id, due) SELECT DISTINCT sub_id, now() FROM x`)
	require.NoError(t, err)

	d, err = webhook.New(st, webhook.AllowPrivateNetworks())
	require.NoError(t, err)
	defer d.Close(ctx)
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, id := range emitted {
			if received[id] == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	deadline = time.After(60 * time.Second)
	for len(missing()) > 0 {
		select {
		case <-progress:
		case <-time.After(time.Second): // the last request may have come before the check
		case <-deadline:
			t.Fatalf("%d of %d acknowledged events never delivered after the restart", len(missing()), len(emitted))
		}
	}
}

// readIDs returns the IDs in the child's file; a last line cut short by the kill is
// left out.
func readIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	text := string(data)
	i := strings.LastIndexByte(text, '\n')
	if i < 0 {
		return nil
	}
	return strings.Split(text[:i], "\n")
}
