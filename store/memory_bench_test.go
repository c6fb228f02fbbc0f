package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shophooks/webhook/store"
)

var benchT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func benchSub(id, ws string, events ...string) store.Subscription {
	return store.Subscription{ID: id, Workspace: ws, Name: "Hook " + id, URL: "https://hooks.example.com/" + id,
		Events: events, Secret: "whsec_" + id, Status: store.StatusActive, CreatedAt: benchT0}
}

func benchEvent(i int, ws, typ string) store.Event {
	return store.Event{ID: fmt.Sprintf("evt_%s_%s_%d", ws, typ, i), Workspace: ws, Type: typ, OccurredAt: benchT0,
		Data: []byte(`{"id":"ord_1","total":"10.00"}`)}
}

// BenchmarkClaimSkippedBacklog claims one delivery at a time from a healthy subscription
// while another subscription, at its in-flight cap (quota 0), has a backlog of due
// deliveries that are all older. The cost of a claim must not grow with that backlog.
func BenchmarkClaimSkippedBacklog(b *testing.B) {
	for _, backlog := range []int{0, 1_000, 100_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			ctx := context.Background()
			m := store.NewMemory()
			must(b, m.CreateSubscription(ctx, benchSub("sub_slow", "", "order.created")))
			must(b, m.CreateSubscription(ctx, benchSub("sub_fast", "", "product.created")))
			for i := range backlog {
				_, err := m.InsertEvent(ctx, benchEvent(i, "", "order.created"), benchT0)
				must(b, err)
			}
			later := benchT0.Add(time.Second)
			for i := range b.N {
				_, err := m.InsertEvent(ctx, benchEvent(i, "", "product.created"), later)
				must(b, err)
			}
			quota := func(s *store.Subscription, inFlight int) int {
				if s.ID == "sub_slow" {
					return 0
				}
				return 1
			}
			now := later.Add(time.Second)
			req := store.ClaimRequest{Now: now, Limit: 1, LeaseUntil: now.Add(time.Minute), Quota: quota}
			b.ReportAllocs()
			b.ResetTimer()
			defer cpuPerOp(b)()
			for range b.N {
				cs, _, err := m.ClaimDue(ctx, req)
				if err != nil || len(cs) != 1 || cs[0].Subscription.ID != "sub_fast" {
					b.Fatalf("claim: %v, %d claims", err, len(cs))
				}
			}
		})
	}
}

// BenchmarkDeliveryCycle is one delivery's whole life in the store: InsertEvent (one
// subscriber), ClaimDue and RecordAttempt, with subs subscriptions in the workspace.
func BenchmarkDeliveryCycle(b *testing.B) {
	for _, subs := range []int{1, 10} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			ctx := context.Background()
			m := store.NewMemory(store.WithMemoryRetention(0, 100))
			for i := range subs {
				must(b, m.CreateSubscription(ctx, benchSub(fmt.Sprintf("sub_%d", i), "", "order.created")))
			}
			now := benchT0
			b.ReportAllocs()
			b.ResetTimer()
			defer cpuPerOp(b)()
			for i := range b.N {
				now = now.Add(time.Microsecond)
				ins, err := m.InsertEvent(ctx, benchEvent(i, "", "order.created"), now)
				if err != nil || len(ins.Deliveries) != subs {
					b.Fatalf("insert: %v", err)
				}
				cs, _, err := m.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: subs, LeaseUntil: now.Add(time.Minute),
					Quota: func(*store.Subscription, int) int { return 4 }})
				if err != nil || len(cs) != subs {
					b.Fatalf("claim: %v, %d claims", err, len(cs))
				}
				for _, c := range cs {
					_, err := m.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: c.Delivery.ID, State: store.DeliverySucceeded,
						Attempt: store.Attempt{Number: 1, SentAt: now, Duration: time.Millisecond, StatusCode: 200, Outcome: store.OutcomeSucceeded}})
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkBacklog is the memory store's part of examples/bench's throughput run: b.N
// events with 1 KB of data each, inserted at once to one subscription, then delivered
// oldest first with 32 in flight, as the workers do it: a claim of one, and the record of
// the oldest in flight. The store keeps every delivery, so the work runs over a store as
// large as the run, with deliveries long out of the cache.
func BenchmarkBacklog(b *testing.B) {
	const inFlight = 32
	ctx := context.Background()
	m := store.NewMemory()
	must(b, m.CreateSubscription(ctx, benchSub("sub_1", "", "order.created")))
	data := []byte(`{"note":"` + strings.Repeat("x", 1000) + `"}`)
	quota := func(_ *store.Subscription, n int) int { return inFlight - n }
	var leased [inFlight]string // the deliveries in flight, a ring: the bench's own queue costs nothing
	oldest, n := 0, 0
	record := func(now time.Time) {
		_, err := m.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: leased[oldest], State: store.DeliverySucceeded,
			Attempt: store.Attempt{Number: 1, SentAt: now, Duration: time.Millisecond, StatusCode: 200, Outcome: store.OutcomeSucceeded}})
		must(b, err)
		oldest, n = (oldest+1)%inFlight, n-1
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuPerOp(b)()
	now := benchT0
	for range b.N {
		now = now.Add(time.Microsecond)
		ev := store.Event{ID: store.NewID("evt"), Type: "order.created", OccurredAt: now, Data: data}
		_, err := m.InsertEvent(ctx, ev, now)
		must(b, err)
	}
	var claims []store.Claim
	for range b.N {
		now = now.Add(time.Microsecond)
		if n == inFlight {
			record(now)
		}
		var err error
		claims, _, err = m.AppendDue(ctx, claims[:0], store.ClaimRequest{Now: now, Limit: 1, LeaseUntil: now.Add(time.Minute), Quota: quota})
		if err != nil || len(claims) != 1 {
			b.Fatalf("claim: %v, %d claims", err, len(claims))
		}
		leased[(oldest+n)%inFlight] = claims[0].Delivery.ID
		n++
	}
	for n > 0 {
		record(now)
	}
}

// BenchmarkWorkspace answers one workspace's questions in a store of 10 or 10,000
// workspaces (3 subscriptions and 3 events each): the cost must be the same.
func BenchmarkWorkspace(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		ctx := context.Background()
		m := store.NewMemory()
		for w := range n {
			ws := fmt.Sprintf("shop_%d", w)
			for i := range 3 {
				must(b, m.CreateSubscription(ctx, benchSub(fmt.Sprintf("sub_%d_%d", w, i), ws, "order.created")))
			}
		}
		// Events round-robin over the workspaces, so one workspace's rows are spread over
		// the whole log.
		for i := range 3 {
			for w := range n {
				_, err := m.InsertEvent(ctx, benchEvent(i, fmt.Sprintf("shop_%d", w), "order.created"), benchT0.Add(time.Duration(i*n+w)*time.Millisecond))
				must(b, err)
			}
		}
		ws := fmt.Sprintf("shop_%d", n/2)
		b.Run(fmt.Sprintf("workspaces=%d/Subscriptions", n), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for range b.N {
				subs, err := m.Subscriptions(ctx, store.SubscriptionFilter{Workspace: ws})
				if err != nil || len(subs) != 3 {
					b.Fatalf("%v, %d subscriptions", err, len(subs))
				}
			}
		})
		b.Run(fmt.Sprintf("workspaces=%d/Deliveries", n), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for range b.N {
				ds, err := m.Deliveries(ctx, store.DeliveryQuery{Workspace: ws})
				if err != nil || len(ds) != 9 {
					b.Fatalf("%v, %d deliveries", err, len(ds))
				}
			}
		})
		b.Run(fmt.Sprintf("workspaces=%d/Stats", n), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for range b.N {
				st, err := m.Stats(ctx, ws, benchT0.Add(time.Hour))
				if err != nil || st.Overall.Pending != 9 {
					b.Fatalf("%v, %d pending", err, st.Overall.Pending)
				}
			}
		})
		next := 1000 // event numbers, never used twice over the benchmark's runs
		b.Run(fmt.Sprintf("workspaces=%d/InsertEvent", n), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for range b.N {
				next++
				ins, err := m.InsertEvent(ctx, benchEvent(next, ws, "order.created"), benchT0.Add(time.Hour))
				if err != nil || len(ins.Deliveries) != 3 {
					b.Fatalf("%v", err)
				}
			}
		})
	}
}

// BenchmarkLogPage reads a page of 100 rare (failed) deliveries, and one of a
// subscription's recent ones, from a log of 10,000 or 200,000: the cost must not
// follow the size of the log.
func BenchmarkLogPage(b *testing.B) {
	for _, n := range []int{10_000, 200_000} {
		ctx := context.Background()
		m := store.NewMemory()
		for i := range 10 {
			must(b, m.CreateSubscription(ctx, benchSub(fmt.Sprintf("sub_%d", i), "", "order.created")))
		}
		for i := range n / 10 {
			now := benchT0.Add(time.Duration(i) * time.Millisecond)
			ins, err := m.InsertEvent(ctx, benchEvent(i, "", "order.created"), now)
			must(b, err)
			for j, id := range ins.Deliveries {
				state, outcome := store.DeliverySucceeded, store.OutcomeSucceeded
				if (i*10+j)%(n/200) == 0 { // 200 failed in all, spread out
					state, outcome = store.DeliveryFailed, store.OutcomeGaveUp
				}
				_, err := m.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: id, State: state,
					Attempt: store.Attempt{Number: 1, SentAt: now, Outcome: outcome}})
				must(b, err)
			}
		}
		b.Run(fmt.Sprintf("log=%d/failed", n), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for range b.N {
				ds, err := m.Deliveries(ctx, store.DeliveryQuery{State: store.DeliveryFailed})
				if err != nil || len(ds) != 100 {
					b.Fatalf("%v, %d deliveries", err, len(ds))
				}
			}
		})
		b.Run(fmt.Sprintf("log=%d/subscription-last-minute", n), func(b *testing.B) {
			since := benchT0.Add(time.Duration(n/10)*time.Millisecond - time.Second)
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for range b.N {
				ds, err := m.Deliveries(ctx, store.DeliveryQuery{SubscriptionID: "sub_3", Since: since, State: store.DeliverySucceeded})
				if err != nil || len(ds) == 0 {
					b.Fatalf("%v, %d deliveries", err, len(ds))
				}
			}
		})
	}
}

// cpuPerOp reports, besides the wall time that a busy machine inflates, the CPU time the
// process spent per operation (garbage collection included) from the call on: call it
// right after ResetTimer and defer the function it returns.
func cpuPerOp(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
