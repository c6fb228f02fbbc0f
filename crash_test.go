package webhook_test

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

	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

// The crash test's child process: it emits events into a bbolt file, writing each ID to a
// file once Emit has returned (so the parent knows what was committed), against a slow
// endpoint, until it is killed.
func init() {
	if os.Getenv("WEBHOOK_CRASH_CHILD") == "" {
		return
	}
	err := crashChild(os.Getenv("WEBHOOK_CRASH_DB"), os.Getenv("WEBHOOK_CRASH_URL"), os.Getenv("WEBHOOK_CRASH_IDS"))
	if err != nil {
		os.Stderr.WriteString("crash child: " + err.Error() + "\n")
		os.Exit(2)
	}
	os.Exit(0)
}

func crashChild(db, url, idsPath string) error {
	st, err := storebolt.Open(db)
	if err != nil {
		return err
	}
	d, err := webhook.New(st, webhook.AllowPrivateNetworks(), webhook.WithWorkers(4))
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := d.Subscribe(ctx, webhook.Subscription{URL: url, Events: []string{"order.*"}}); err != nil {
		return err
	}
	ids, err := os.OpenFile(idsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		ev, err := d.Emit(ctx, eventtypes.OrderCreated, map[string]any{"id": i})
		if err != nil {
			return err
		}
		// Written after Emit returned: every ID in the file was committed.
		if _, err := ids.WriteString(ev.ID + "\n"); err != nil {
			return err
		}
		if i > 300 {
			time.Sleep(10 * time.Millisecond) // keep going slowly until killed
		}
	}
}

// TestCrashRecovery kills a process with SIGKILL while it delivers, reopens its bbolt
// file in a new dispatcher, and checks that every event emitted before the kill is
// delivered at least once.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "webhooks.db")
	idsPath := filepath.Join(dir, "emitted.txt")

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

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "WEBHOOK_CRASH_CHILD=1", "WEBHOOK_CRASH_DB="+db,
		"WEBHOOK_CRASH_URL="+srv.URL, "WEBHOOK_CRASH_IDS="+idsPath)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())

	// Kill it mid-delivery: once it has emitted a few hundred events and the endpoint has
	// seen some of them.
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
	t.Logf("killed after %d events emitted, %d received", len(emitted), before)
	require.Less(t, before, len(emitted), "the kill should leave deliveries pending")

	st, err := storebolt.Open(db)
	require.NoError(t, err)
	defer st.Close()
	d, err := webhook.New(st, webhook.AllowPrivateNetworks())
	require.NoError(t, err)
	defer d.Close(context.Background())

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
		case <-deadline:
			t.Fatalf("%d of %d committed events never delivered after the restart", len(missing()), len(emitted))
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
