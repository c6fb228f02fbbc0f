package storebolt_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

// BenchmarkEndToEnd16 emits b.N events from 16 goroutines to one subscription whose
// endpoint is an httptest server on loopback, and waits until every one is delivered:
// Emit, the store, the scheduler, signing, HTTP and the record, for the memory store and
// for storebolt (every commit fsynced, and without fsync: what the disk costs) in the same
// run. It reports deliveries/s, and for storebolt the commits per delivery, the pages
// each commit wrote, and the time each commit spent turning its changes into pages
// (spill) and writing and syncing them (write: both fdatasyncs included).
func BenchmarkEndToEnd16(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	for _, kind := range []string{"memory", "bolt", "bolt-nosync"} {
		b.Run(kind, func(b *testing.B) {
			var st store.Store = store.NewMemory()
			if kind != "memory" {
				s, err := storebolt.Open(filepath.Join(b.TempDir(), "e2e.db"), storebolt.WithNoSync(kind == "bolt-nosync"))
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				st = s
			}
			before := commits(st)
			pages := pagesWritten(st)
			spill0, write0 := txTimes(st)
			endToEnd(b, st, srv.URL+"/hooks", 16)
			if n := commits(st) - before; n > 0 {
				b.ReportMetric(float64(n)/float64(b.N), "commits/delivery")
				b.ReportMetric(float64(pagesWritten(st)-pages)/float64(n), "pages/commit")
				spill, write := txTimes(st)
				b.ReportMetric(float64((spill-spill0).Microseconds())/float64(n), "spill-µs/commit")
				b.ReportMetric(float64((write-write0).Microseconds())/float64(n), "write-µs/commit")
			}
		})
	}
}

func endToEnd(b *testing.B, st store.Store, url string, emitters int) {
	var delivered, want atomic.Int64
	want.Store(-1)
	done := make(chan struct{})
	observer := func(r webhook.AttemptResult) {
		if r.State == webhook.DeliverySucceeded && delivered.Add(1) == want.Load() {
			close(done)
		}
	}
	ctx := context.Background()
	d, err := webhook.New(st, webhook.AllowPrivateNetworks(), webhook.WithObserver(observer), webhook.WithMaxInFlight(32))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(ctx)
	if _, err := d.Subscribe(ctx, webhook.Subscription{Name: "bench", URL: url, Events: []string{"*"}, Secret: webhook.NewSecret()}); err != nil {
		b.Fatal(err)
	}
	data := map[string]any{"id": "ord_12345", "total": "129.90", "currency": "EUR"}
	b.ResetTimer()
	want.Store(int64(b.N))
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range emitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := d.Emit(ctx, eventtypes.OrderCreated, data); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(time.Minute + time.Duration(b.N)*time.Millisecond):
		b.Fatalf("only %d of %d deliveries succeeded", delivered.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}

func commits(st store.Store) int64 {
	if s, ok := st.(*storebolt.Store); ok {
		return storebolt.Commits(s)
	}
	return 0
}

func pagesWritten(st store.Store) int64 {
	if s, ok := st.(*storebolt.Store); ok {
		return storebolt.PagesWritten(s)
	}
	return 0
}

func txTimes(st store.Store) (spill, write time.Duration) {
	if s, ok := st.(*storebolt.Store); ok {
		return storebolt.TxTimes(s)
	}
	return 0, 0
}
