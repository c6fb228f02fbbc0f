package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// order is the data of every event: a small order, as an application passes it to Emit.
var order = map[string]any{
	"id": "ord_12345", "number": 1001, "total": "129.90", "currency": "EUR",
	"customer": map[string]any{"id": "cus_77", "email": "ann@example.com"},
	"lines":    []map[string]any{{"sku": "TSHIRT-M", "qty": 2, "price": "29.95"}, {"sku": "MUG", "qty": 1, "price": "70.00"}},
}

// subscribe creates n active subscriptions to every event, all at url, each with its own
// secret.
func subscribe(ctx context.Context, d *webhook.Dispatcher, n int, url string) error {
	for i := range n {
		_, err := d.Subscribe(ctx, webhook.Subscription{
			Name: fmt.Sprintf("bench %d", i), URL: url, Events: []string{"*"}, Secret: webhook.NewSecret(),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// counter is an observer that counts finished deliveries and says when want of them
// have finished. A delivery that does not succeed at its first attempt would wait 60 s
// for the next one, so failures are counted and reported, never waited for.
type counter struct {
	want      int64
	succeeded atomic.Int64
	failed    atomic.Int64
	firstErr  atomic.Pointer[string]
	done      chan struct{}
	once      sync.Once
}

func newCounter(want int) *counter { return &counter{want: int64(want), done: make(chan struct{})} }

func (c *counter) observe(r webhook.AttemptResult) {
	if r.State == webhook.DeliverySucceeded {
		c.succeeded.Add(1)
	} else {
		c.failed.Add(1)
		msg := fmt.Sprintf("delivery %s: status %d: %s", r.DeliveryID, r.Attempt.StatusCode, r.Attempt.Error)
		c.firstErr.CompareAndSwap(nil, &msg)
	}
	if c.succeeded.Load()+c.failed.Load() == c.want {
		c.once.Do(func() { close(c.done) })
	}
}

// wait waits until every delivery has finished its first attempt, or timeout.
func (c *counter) wait(timeout time.Duration) error {
	select {
	case <-c.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("timed out: %d of %d deliveries finished", c.succeeded.Load()+c.failed.Load(), c.want)
	}
}

// err reports the failed deliveries, if any.
func (c *counter) err() error {
	if n := c.failed.Load(); n > 0 {
		return fmt.Errorf("%d deliveries failed, first: %s", n, *c.firstErr.Load())
	}
	return nil
}

// rate is the outcome of a throughput run: requests per second of wall time, and the CPU
// time the whole process (receiver included) used per request, which is steadier than the
// wall time on a shared machine.
type rate struct {
	perSec float64
	cpu    time.Duration
	gc     time.Duration // of cpu: the garbage collector's share, as the runtime estimates it
	// failed counts the requests that got no 2xx (the dispatcher would retry them after
	// 60 s; the run does not wait for that); firstErr says why the first one failed.
	failed   int64
	firstErr string
}

// measure times n requests made by run, which returns how many failed and the first
// error.
func measure(n int, run func() (int64, error)) (rate, error) {
	cpu0, _ := cpuTime()
	gc0 := gcCPU()
	start := time.Now()
	failed, err := run()
	if failed == 0 && err != nil {
		return rate{}, err
	}
	elapsed := time.Since(start)
	cpu1, _ := cpuTime()
	r := rate{
		perSec: float64(n) / elapsed.Seconds(),
		cpu:    (cpu1 - cpu0) / time.Duration(n),
		gc:     (gcCPU() - gc0) / time.Duration(n),
		failed: failed,
	}
	if err != nil {
		r.firstErr = err.Error()
	}
	return r, nil
}

// gcCPU is the CPU time the garbage collector has used so far, as the runtime estimates
// it (runtime/metrics).
func gcCPU() time.Duration {
	sample := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(sample[0].Value.Float64() * float64(time.Second))
}

// dispatcherThroughput emits events to subs subscriptions of a dispatcher on a memory
// store, from one goroutine, and returns the delivery rate from the first Emit to the last
// recorded success.
func dispatcherThroughput(rcv *receiver, events, subs, workers int) (rate, error) {
	ctx := context.Background()
	c := newCounter(events * subs)
	d, err := webhook.New(store.NewMemory(), webhook.AllowPrivateNetworks(),
		webhook.WithWorkers(workers), webhook.WithObserver(c.observe))
	if err != nil {
		return rate{}, err
	}
	defer d.Close(ctx)
	if err := subscribe(ctx, d, subs, rcv.URL); err != nil {
		return rate{}, err
	}
	return measure(events*subs, func() (int64, error) {
		for range events {
			if _, err := d.Emit(ctx, eventtypes.OrderCreated, order); err != nil {
				return 0, err
			}
		}
		if err := c.wait(timeoutFor(events * subs)); err != nil {
			return 0, err
		}
		return c.failed.Load(), c.err()
	})
}

// timeoutFor is a generous bound on a run of n requests.
func timeoutFor(n int) time.Duration { return time.Minute + time.Duration(n)*time.Millisecond }

// rawEnvelope is the JSON body the dispatcher sends, built the obvious way.
type rawEnvelope struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// rawThroughput sends requests signed JSON POSTs to rcv from workers goroutines with a
// plain net/http client, on the transport the dispatcher builds for itself
// (webhook.NewTransport(true)) and with the same client settings (no redirects, the 5 s
// per-request timeout, the body read up to 64 KiB): what an application would do without
// the library, minus the store.
func rawThroughput(rcv *receiver, requests, workers int) (rate, error) {
	tr := webhook.NewTransport(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	secret := webhook.NewSecret()
	return measure(requests, func() (int64, error) {
		var (
			next     atomic.Int64
			failed   atomic.Int64
			firstErr atomic.Pointer[error]
			wg       sync.WaitGroup
		)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(requests) {
					if err := rawSend(client, rcv.URL, secret); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			}()
		}
		wg.Wait()
		if err := firstErr.Load(); err != nil {
			return failed.Load(), *err
		}
		return 0, nil
	})
}

// rawSend is one request of rawThroughput.
func rawSend(client *http.Client, url, secret string) error {
	now := time.Now()
	env := rawEnvelope{ID: store.NewID("evt"), Type: eventtypes.OrderCreated, Timestamp: now.UTC(), Data: order}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhook.DefaultUserAgent)
	in := webhook.SignInput{ID: env.ID, Timestamp: now, Body: body, Secrets: []string{secret}}
	if err := (webhook.StandardSigner{}).Sign(req.Header, in); err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}
