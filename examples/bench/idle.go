package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// idleFigures are what a dispatcher holding deliveries due in the future costs.
type idleFigures struct {
	heapBase, heap   uint64 // HeapInuse before the store was filled and with the deliveries
	rssBase, rss     uint64 // VmRSS likewise; 0 where /proc is not there
	goroutinesBase   int    // before the store was filled
	goroutines       int    // with the dispatcher running
	idle, cpu        time.Duration
	cpuOK            bool
	requestsWhenIdle int64 // requests the receiver got during the idle time (want 0)
}

// baseline records the memory and goroutines before a store is filled.
func (f *idleFigures) baseline() {
	f.heapBase, f.rssBase = memory()
	f.goroutinesBase = runtime.NumGoroutine()
}

// measureIdle starts a dispatcher on st, which holds only deliveries due in the future,
// and measures memory after a GC, goroutines, and the CPU the whole process uses over
// idle. The dispatcher must hold no timer or goroutine per delivery, so neither the
// goroutine count nor the idle CPU may grow with the number of deliveries.
func measureIdle(f *idleFigures, rcv *receiver, st store.Store, idle time.Duration, workers int) error {
	ctx := context.Background()
	d, err := webhook.New(st, webhook.AllowPrivateNetworks(), webhook.WithWorkers(workers))
	if err != nil {
		return err
	}
	defer d.Close(ctx)
	time.Sleep(200 * time.Millisecond) // the scheduler's first look: nothing due for an hour
	f.heap, f.rss = memory()
	f.goroutines = runtime.NumGoroutine()

	hits, err := rcv.hits()
	if err != nil {
		return err
	}
	before, ok1 := cpuTime()
	time.Sleep(idle)
	after, ok2 := cpuTime()
	f.idle, f.cpu, f.cpuOK = idle, after-before, ok1 && ok2
	hits2, err := rcv.hits()
	if err != nil {
		return err
	}
	f.requestsWhenIdle = hits2 - hits
	return nil
}

// idleSubscription is the one subscription of the future deliveries, at the receiver.
func idleSubscription(url string) store.Subscription {
	t := time.Now().Round(0).UTC()
	return store.Subscription{
		ID: "sub_idle", Name: "idle", URL: url, Events: []string{"*"}, Secret: webhook.NewSecret(),
		Format: store.FormatJSON, Status: store.StatusActive, WhileInactive: store.InactiveDiscard,
		CreatedAt: t, UpdatedAt: t,
	}
}

// fillFuture inserts n events through the store API, from emitters goroutines, each with
// one delivery due an hour from now, and returns the insert rate.
func fillFuture(st store.Store, n, emitters int) (float64, error) {
	ctx := context.Background()
	data, err := json.Marshal(order)
	if err != nil {
		return 0, err
	}
	due := time.Now().Add(time.Hour).Round(0).UTC()
	return concurrently(n, emitters, func(int64) error {
		ev := store.Event{ID: store.NewID("evt"), Type: eventtypes.OrderCreated, OccurredAt: time.Now().Round(0).UTC(), Data: data}
		ins, err := st.InsertEvent(ctx, ev, due)
		if err == nil && ins.Pending != 1 {
			err = fmt.Errorf("event %s: %d pending deliveries, want 1", ev.ID, ins.Pending)
		}
		return err
	})
}

type idleResult struct {
	idleFigures
	deliveries int
	insertRate float64 // InsertEvent calls/s while filling the store
}

// runIdle fills a memory store with future deliveries and measures a dispatcher on it.
func runIdle(rcv *receiver, future int, idle time.Duration, workers int) (idleResult, error) {
	res := idleResult{deliveries: future}
	res.baseline()
	st := store.NewMemory()
	if err := st.CreateSubscription(context.Background(), idleSubscription(rcv.URL)); err != nil {
		return res, err
	}
	var err error
	if res.insertRate, err = fillFuture(st, future, 1); err != nil {
		return res, err
	}
	err = measureIdle(&res.idleFigures, rcv, st, idle, workers)
	runtime.KeepAlive(st)
	return res, err
}

// memory returns HeapInuse and VmRSS after a full GC that returns free memory to the OS.
func memory() (heapInuse, rss uint64) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, vmRSS()
}

// vmRSS reads the resident set size from /proc/self/status; 0 where there is none.
func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
