package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

type latencyResult struct {
	events        int
	p50, p99, max time.Duration
	// lag is how far behind its schedule the emitter fell at worst: when it is large, the
	// offered rate was not reached and the figures flatter the dispatcher.
	lag time.Duration
}

// latIDPrefix names the events of the latency run, so the receiver can find each event's
// emit time by its webhook-id alone.
const latIDPrefix = "evt_lat_"

// runLatency emits perSec events/s for dur to one subscription, each at a computed target
// time (no ticker: a late emit does not shift the ones after it), and measures from the
// start of each Emit call to the arrival of its request at the receiver (both read the
// machine's wall clock).
func runLatency(rcv *receiver, perSec int, dur time.Duration, workers int) (latencyResult, error) {
	ctx := context.Background()
	n := int(float64(perSec) * dur.Seconds())
	if n < 1 {
		return latencyResult{}, fmt.Errorf("no events at %d/s for %s", perSec, dur)
	}
	// Forget the arrivals of earlier runs.
	if _, err := rcv.arrivals(); err != nil {
		return latencyResult{}, err
	}
	sent := make([]int64, n) // UnixNano at the start of each Emit

	c := newCounter(n)
	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks(),
		webhook.WithWorkers(workers), webhook.WithObserver(c.observe))
	if err != nil {
		return latencyResult{}, err
	}
	defer d.Close(ctx)
	if err := subscribe(ctx, d, 1, rcv.URL); err != nil {
		return latencyResult{}, err
	}

	interval := time.Second / time.Duration(perSec)
	var lag time.Duration
	start := time.Now()
	for i := range n {
		target := start.Add(time.Duration(i) * interval)
		if w := time.Until(target); w > 0 {
			time.Sleep(w)
		}
		t := time.Now()
		lag = max(lag, t.Sub(target))
		sent[i] = t.UnixNano()
		if _, err := d.Emit(ctx, eventtypes.OrderCreated, order, webhook.WithEventID(latIDPrefix+strconv.Itoa(i))); err != nil {
			return latencyResult{}, err
		}
	}
	if err := c.wait(timeoutFor(n)); err != nil {
		return latencyResult{}, err
	}
	if err := c.err(); err != nil {
		return latencyResult{}, err
	}
	got, err := rcv.arrivals()
	if err != nil {
		return latencyResult{}, err
	}
	lat := make([]time.Duration, n)
	for i := range n {
		at, ok := got[i]
		if !ok {
			return latencyResult{}, fmt.Errorf("event %d never arrived", i)
		}
		lat[i] = time.Duration(at - sent[i])
	}
	slices.Sort(lat)
	return latencyResult{
		events: n,
		p50:    quantile(lat, 0.50),
		p99:    quantile(lat, 0.99),
		max:    lat[n-1],
		lag:    lag,
	}, nil
}

// quantile returns the q-th quantile of sorted values (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
