package storepg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// The PostgreSQL store's benchmarks; BENCHMARKS.md has the figures.
//
//	go test ./store_postgres/ -run='^$' -bench=. -benchtime=20000x
//
// benchData is a ~1 KB order, as ANCHORS.md's River runs send.
var benchData = func() []byte {
	lines := make([]map[string]any, 8)
	for i := range lines {
		lines[i] = map[string]any{"sku": fmt.Sprintf("SKU-%05d", i), "name": "Organic cotton T-shirt, size M", "qty": 2, "price": "29.95"}
	}
	b, _ := json.Marshal(map[string]any{
		"id": "ord_12345", "number": 1001, "total": "129.90", "currency": "EUR",
		"customer": map[string]any{"id": "cus_77", "email": "ann@example.com", "name": "Ann Example"},
		"lines":    lines,
	})
	return b
}()

// walBytes is the server's WAL position: the bytes of WAL written since it was created.
// The benchmarks report what they write per event or delivery (other sessions on the
// server count too).
func walBytes(b *testing.B) int64 {
	b.Helper()
	var n int64
	if err := testPool(b).QueryRow(context.Background(), `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// cpuTimes answers the CPU time used so far by this process and by every PostgreSQL
// process of the machine (the test server's backends and background workers): the
// benchmarks report both per event or delivery, figures that a busy machine disturbs far
// less than the wall clock.
func cpuTimes() (goCPU, pgCPU time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		goCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("(postgres)")) {
			continue
		}
		// utime, stime, and the times of children waited for: the postmaster's count
		// the backends that ended, so that the sum goes on growing when they do.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		if len(f) < 15 {
			continue
		}
		for _, i := range []int{11, 12, 13, 14} {
			t, _ := strconv.ParseInt(f[i], 10, 64)
			pgCPU += time.Duration(t) * time.Second / 100 // USER_HZ
		}
	}
	return goCPU, pgCPU
}

// reportCPU reports the CPU time per unit since (go0, pg0).
func reportCPU(b *testing.B, go0, pg0 time.Duration, n int, unit string) {
	go1, pg1 := cpuTimes()
	b.ReportMetric(float64((go1-go0).Microseconds())/float64(n), "go-µs/"+unit)
	b.ReportMetric(float64((pg1-pg0).Microseconds())/float64(n), "pg-µs/"+unit)
}

// parallel runs n calls of fn spread over emitters goroutines and reports calls/s and
// WAL bytes per call.
func parallel(b *testing.B, emitters int, fn func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	wal := walBytes(b)
	go0, pg0 := cpuTimes()
	start := time.Now()
	for range emitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(walBytes(b)-wal)/float64(b.N), "WAL-B/event")
	reportCPU(b, go0, pg0, b.N, "event")
}

// BenchmarkInsertEvent is Emit's store call: one event of ~1 KB with one pending delivery,
// from 1, 16 and 64 goroutines at once.
func BenchmarkInsertEvent(b *testing.B) {
	for _, emitters := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("emitters=%d", emitters), func(b *testing.B) {
			pool := newPool(b, 16)
			st := openStore(b, pool)
			ctx := context.Background()
			if err := st.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"}, Status: store.StatusActive}); err != nil {
				b.Fatal(err)
			}
			parallel(b, emitters, func(int) error {
				now := time.Now()
				_, err := st.InsertEvent(ctx, store.Event{ID: store.NewID("evt"), Type: eventtypes.OrderCreated, OccurredAt: now, Data: benchData}, now)
				return err
			})
		})
	}
}

// BenchmarkPlainInsert is the baseline: the same rows (the event, its delivery, the
// delivery's state and its queue row) written by one INSERT statement per event in its
// own transaction, as a store without group commit would.
func BenchmarkPlainInsert(b *testing.B) {
	for _, emitters := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("emitters=%d", emitters), func(b *testing.B) {
			pool := newPool(b, 16)
			st := openStore(b, pool)
			s := pgx.Identifier{st.Schema()}.Sanitize()
			sql := `
WITH e AS (
    INSERT INTO ` + s + `.events (id, workspace, type, occurred_at, bare, data) VALUES ($1, '', $2, $3, false, $4)
),
d AS (
    INSERT INTO ` + s + `.deliveries (id, workspace, event_id, sub_id, event_type, created_at)
    VALUES ($5, '', $1, 'sub_1', $2, $3) RETURNING seq
),
st AS (
    INSERT INTO ` + s + `.delivery_state (seq, sub_id, state, next_attempt_at, created_at, updated_at)
    SELECT seq, 'sub_1', 'pending', $3, $3, $3 FROM d
)
INSERT INTO ` + s + `.queue (seq, sub_id, due_at, created_at) SELECT seq, 'sub_1', $3, $3 FROM d`
			ctx := context.Background()
			parallel(b, emitters, func(int) error {
				_, err := pool.Exec(ctx, sql, store.NewID("evt"), eventtypes.OrderCreated, time.Now(), benchData, store.NewID("dlv"))
				return err
			})
		})
	}
}

// BenchmarkDeliveryEndToEnd emits b.N events of ~1 KB from 16 goroutines while 1 or 3
// dispatchers (each with its own pool of 8 connections and 32 workers) deliver them to a
// local receiver, which answers 204: deliveries/s from the first emit to the last
// receipt, and the time from Emit to receipt.
func BenchmarkDeliveryEndToEnd(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) { benchDeliver(b, n, false) })
	}
}

// BenchmarkDeliveryPrefilled stores b.N events first, then times 1 or 3 dispatchers
// delivering them all.
func BenchmarkDeliveryPrefilled(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) { benchDeliver(b, n, true) })
	}
}

func benchDeliver(b *testing.B, n int, prefill bool) {
	schema := freshSchema(b, testPool(b))
	var (
		mu       sync.Mutex
		lat      []time.Duration
		received atomic.Int64
		done     = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data struct {
				Sent int64 `json:"sent"`
			} `json:"data"`
		}
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		d := time.Since(time.Unix(0, body.Data.Sent))
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		if received.Add(1) == int64(b.N) {
			close(done)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ctx := context.Background()
	var sts []*storepg.Store
	for range n {
		st, err := storepg.Open(ctx, newPool(b, 8), storepg.WithSchema(schema))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		sts = append(sts, st)
	}
	var ds []*webhook.Dispatcher
	start := func() {
		for _, st := range sts {
			d, err := webhook.New(st, webhook.AllowPrivateNetworks(), webhook.WithMaxInFlight(webhook.DefaultWorkers*n))
			if err != nil {
				b.Fatal(err)
			}
			ds = append(ds, d)
		}
	}
	defer func() {
		for _, d := range ds {
			_ = d.Close(context.Background())
		}
	}()
	err := sts[0].CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: srv.URL, Events: []string{"*"},
		Secret: webhook.NewSecret(), Status: store.StatusActive})
	if err != nil {
		b.Fatal(err)
	}
	var order map[string]any
	_ = json.Unmarshal(benchData, &order)
	emitAll := func(emit func(e int, data map[string]any) error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for e := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for int(next.Add(1)) <= b.N {
					if err := emit(e, map[string]any{"order": order, "sent": time.Now().UnixNano()}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	if prefill {
		emitAll(func(e int, data map[string]any) error {
			raw, _ := json.Marshal(data)
			now := time.Now()
			_, err := sts[e%n].InsertEvent(ctx, store.Event{ID: store.NewID("evt"), Type: eventtypes.OrderCreated, OccurredAt: now, Data: raw}, now)
			return err
		})
	}
	b.ResetTimer()
	wal := walBytes(b)
	go0, pg0 := cpuTimes()
	began := time.Now()
	start()
	if !prefill {
		emitAll(func(e int, data map[string]any) error {
			_, err := ds[e%n].Emit(ctx, eventtypes.OrderCreated, data)
			return err
		})
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d delivered", received.Load(), b.N)
	}
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(walBytes(b)-wal)/float64(b.N), "WAL-B/delivery")
	reportCPU(b, go0, pg0, b.N, "delivery")
	if !prefill {
		mu.Lock()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		mu.Unlock()
	}
}

// BenchmarkCrossInstanceLatency stores b.N events at 200 a second through one Store while
// a dispatcher on another Store (another pool, as another instance would) delivers them:
// the time from the end of InsertEvent (the commit) to receipt, which LISTEN/NOTIFY keeps
// short (without it, the other instance would look only every few seconds).
func BenchmarkCrossInstanceLatency(b *testing.B) {
	schema := freshSchema(b, testPool(b))
	var (
		mu        sync.Mutex
		committed = make(map[string]time.Time, b.N)
		lat       []time.Duration
		got       atomic.Int64
		done      = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		if t, ok := committed[r.Header.Get("webhook-id")]; ok {
			lat = append(lat, at.Sub(t))
		}
		mu.Unlock()
		if got.Add(1) == int64(b.N) {
			close(done)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ctx := context.Background()
	emitter, err := storepg.Open(ctx, newPool(b, 4), storepg.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	defer emitter.Close()
	deliverer, err := storepg.Open(ctx, newPool(b, 4), storepg.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	defer deliverer.Close()
	err = emitter.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: srv.URL, Events: []string{"*"},
		Secret: webhook.NewSecret(), Status: store.StatusActive})
	if err != nil {
		b.Fatal(err)
	}
	d, err := webhook.New(deliverer, webhook.AllowPrivateNetworks())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(ctx)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for range b.N {
		<-tick.C
		now := time.Now()
		ev := store.Event{ID: store.NewID("evt"), Type: eventtypes.OrderCreated, OccurredAt: now, Data: []byte(`{}`)}
		mu.Lock() // held across the insert, so that the receiver finds the time
		if _, err := emitter.InsertEvent(ctx, ev, now); err != nil {
			b.Fatal(err)
		}
		committed[ev.ID] = time.Now()
		mu.Unlock()
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%d of %d delivered", got.Load(), b.N)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no latency measured")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// prefill stores n events of ~1 KB (one pending delivery each, subscription sub_1) from
// 16 goroutines.
func prefill(b *testing.B, st *storepg.Store, n int) {
	b.Helper()
	ctx := context.Background()
	err := st.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{"*"},
		Secret: webhook.NewSecret(), Status: store.StatusActive})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for int(next.Add(1)) <= n {
				now := time.Now()
				if _, err := st.InsertEvent(ctx, store.Event{ID: store.NewID("evt"), Type: eventtypes.OrderCreated, OccurredAt: now, Data: benchData}, now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkClaimDue is the scheduler's claim alone: b.N stored deliveries claimed 8 at a
// time (what a claim takes under load) by one goroutine, per claimed delivery. Each claim's
// deliveries are then recorded as delivered, outside the measure, so that the leases in
// flight stay as few as a dispatcher's.
func BenchmarkClaimDue(b *testing.B) {
	pool := newPool(b, 8)
	st := openStore(b, pool)
	prefill(b, st, b.N)
	ctx := context.Background()
	b.ResetTimer()
	var goCPU, pgCPU, claiming time.Duration
	var wal int64
	for got := 0; got < b.N; {
		wal0 := walBytes(b)
		go0, pg0 := cpuTimes()
		start := time.Now()
		now := time.Now()
		cs, _, err := st.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 8, LeaseUntil: now.Add(time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		claiming += time.Since(start)
		go1, pg1 := cpuTimes()
		goCPU, pgCPU, wal = goCPU+go1-go0, pgCPU+pg1-pg0, wal+walBytes(b)-wal0
		if len(cs) == 0 {
			b.Fatalf("claimed %d of %d", got, b.N)
		}
		got += len(cs)
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() {
				_, err := st.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: c.Delivery.ID, State: store.DeliverySucceeded,
					Attempt: store.Attempt{Number: 1, SentAt: now, Duration: time.Millisecond, StatusCode: 204, Outcome: store.OutcomeSucceeded}})
				if err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/claiming.Seconds(), "deliveries/s")
	b.ReportMetric(float64(wal)/float64(b.N), "WAL-B/delivery")
	b.ReportMetric(float64(goCPU.Microseconds())/float64(b.N), "go-µs/delivery")
	b.ReportMetric(float64(pgCPU.Microseconds())/float64(b.N), "pg-µs/delivery")
}

// BenchmarkRecordAttempt is the workers' record of a successful attempt alone: b.N
// claimed deliveries recorded by 32 goroutines at once (the dispatcher's workers).
func BenchmarkRecordAttempt(b *testing.B) {
	pool := newPool(b, 8)
	st := openStore(b, pool)
	prefill(b, st, b.N)
	ctx := context.Background()
	var ids []string
	for len(ids) < b.N {
		now := time.Now()
		cs, _, err := st.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 500, LeaseUntil: now.Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		if len(cs) == 0 {
			b.Fatalf("claimed %d of %d", len(ids), b.N)
		}
		for _, c := range cs {
			ids = append(ids, c.Delivery.ID)
		}
	}
	parallel(b, 32, func(i int) error {
		now := time.Now()
		_, err := st.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: ids[i], State: store.DeliverySucceeded,
			Attempt: store.Attempt{Number: 1, SentAt: now, Duration: 3 * time.Millisecond, StatusCode: 204, Outcome: store.OutcomeSucceeded}})
		return err
	})
}
