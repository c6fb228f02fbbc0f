package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

// The throughput section: the dispatcher delivering events, timed from the first Emit to
// the last recorded success, against two loops an application could write instead, each
// with as many goroutines as the dispatcher has workers and the same number of requests:
//
//   - "raw": the dispatcher's own request built by hand: the JSON envelope marshalled from
//     the order, signed with StandardSigner, POSTed on webhook.NewTransport with the
//     dispatcher's client settings;
//   - "plain": what an application does without any webhook library: json.Marshal the
//     order and POST it, unsigned, on the same transport.
//
// Neither loop stores anything; the dispatcher stores every event, delivery and attempt.

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

// rate is the outcome of a throughput run: requests per second of wall time, and what
// this process spent per request (CPU, the GC's share of it, heap allocations), which is
// steadier than the wall time on a shared machine.
type rate struct {
	perSec float64
	cpu    time.Duration
	gc     time.Duration // of cpu: the garbage collector's share, as the runtime estimates it
	allocs float64       // heap objects allocated per request
	bytes  float64       // heap bytes allocated per request
	// failed counts the requests that got no 2xx (the dispatcher would retry them after
	// 60 s; the run does not wait for that); firstErr says why the first one failed.
	failed   int64
	firstErr string
}

// runtimeFigures are the cumulative runtime figures a run is measured by.
type runtimeFigures struct {
	gc             time.Duration
	objects, bytes uint64
}

var runtimeSamples = []string{"/cpu/classes/gc/total:cpu-seconds", "/gc/heap/allocs:objects", "/gc/heap/allocs:bytes"}

func readRuntime() runtimeFigures {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	var f runtimeFigures
	if s[0].Value.Kind() == metrics.KindFloat64 {
		f.gc = time.Duration(s[0].Value.Float64() * float64(time.Second))
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		f.objects = s[1].Value.Uint64()
	}
	if s[2].Value.Kind() == metrics.KindUint64 {
		f.bytes = s[2].Value.Uint64()
	}
	return f
}

// measure times n requests made by run, which returns how many failed and the first
// error.
func measure(n int, run func() (int64, error)) (rate, error) {
	cpu0, _ := cpuTime()
	rt0 := readRuntime()
	start := time.Now()
	failed, err := run()
	if failed == 0 && err != nil {
		return rate{}, err
	}
	elapsed := time.Since(start)
	cpu1, _ := cpuTime()
	rt1 := readRuntime()
	r := rate{
		perSec: float64(n) / elapsed.Seconds(),
		cpu:    (cpu1 - cpu0) / time.Duration(n),
		gc:     (rt1.gc - rt0.gc) / time.Duration(n),
		allocs: float64(rt1.objects-rt0.objects) / float64(n),
		bytes:  float64(rt1.bytes-rt0.bytes) / float64(n),
		failed: failed,
	}
	if err != nil {
		r.firstErr = err.Error()
	}
	return r, nil
}

// tpStore is the store a throughput run delivers from: "memory", or "bolt" (storebolt in a
// temporary file under dir, every commit fsynced, as by default).
type tpStore struct {
	kind string
	dir  string
}

// open returns a new empty store and what releases it.
func (s tpStore) open() (store.Store, func(), error) {
	if s.kind == "memory" {
		return store.NewMemory(), func() {}, nil
	}
	tmp, err := os.MkdirTemp(s.dir, "bench-tp-")
	if err != nil {
		return nil, nil, err
	}
	st, err := storebolt.Open(filepath.Join(tmp, "tp.db"))
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	return st, func() { st.Close(); os.RemoveAll(tmp) }, nil
}

// tpOptions are the dispatcher's settings in a throughput run.
type tpOptions struct {
	workers     int
	emitters    int // goroutines calling Emit
	maxInFlight int // WithMaxInFlight
	// window, when positive, bounds the deliveries emitted and not yet finished: the
	// emitters wait while that many are outstanding, as an application that emits at the
	// rate of delivery would. 0 emits as fast as Emit returns.
	window int
}

// dispatcherThroughput emits events to subs subscriptions of a dispatcher on a new store,
// from o.emitters goroutines, and returns the delivery rate from the first Emit to the
// last recorded success.
func dispatcherThroughput(rcv *receiver, st tpStore, events, subs int, o tpOptions) (rate, error) {
	ctx := context.Background()
	s, release, err := st.open()
	if err != nil {
		return rate{}, err
	}
	defer release()
	c := newCounter(events * subs)
	var (
		window   chan struct{} // a token per outstanding delivery
		windowMu sync.Mutex    // one emitter takes its subs tokens at a time: no deadlock
	)
	observe := c.observe
	if o.window > 0 {
		window = make(chan struct{}, max(o.window, subs))
		observe = func(r webhook.AttemptResult) {
			c.observe(r)
			<-window
		}
	}
	d, err := webhook.New(s, webhook.AllowPrivateNetworks(), webhook.WithWorkers(o.workers),
		webhook.WithMaxInFlight(max(o.maxInFlight, 1)), webhook.WithObserver(observe))
	if err != nil {
		return rate{}, err
	}
	defer d.Close(ctx)
	if err := subscribe(ctx, d, subs, rcv.URL); err != nil {
		return rate{}, err
	}
	return measure(events*subs, func() (int64, error) {
		var (
			next     atomic.Int64
			firstErr atomic.Pointer[error]
			wg       sync.WaitGroup
		)
		for range max(o.emitters, 1) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(events) {
					if window != nil {
						windowMu.Lock()
						for range subs {
							window <- struct{}{}
						}
						windowMu.Unlock()
					}
					if _, err := d.Emit(ctx, eventtypes.OrderCreated, order); err != nil {
						firstErr.CompareAndSwap(nil, &err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := firstErr.Load(); err != nil {
			return 0, *err
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

// loopThroughput makes requests calls of send from workers goroutines, with a plain
// net/http client on the transport the dispatcher builds for itself
// (webhook.NewTransport(true)) and with the same client settings (no redirects, the body
// read up to 64 KiB).
func loopThroughput(requests, workers int, send func(*http.Client) error) (rate, error) {
	tr := webhook.NewTransport(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
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
					if err := send(client); err != nil {
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

// rawThroughput sends requests signed JSON envelopes to rcv, each marshalled from the
// order and signed with StandardSigner with a 5 s timeout of its own: the dispatcher's
// request, built by hand, minus the store.
func rawThroughput(rcv *receiver, requests, workers int) (rate, error) {
	secret := webhook.NewSecret()
	return loopThroughput(requests, workers, func(client *http.Client) error {
		now := time.Now()
		env := rawEnvelope{ID: store.NewID("evt"), Type: eventtypes.OrderCreated, Timestamp: now.UTC(), Data: order}
		body, err := json.Marshal(env)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rcv.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", webhook.DefaultUserAgent)
		in := webhook.SignInput{ID: env.ID, Timestamp: now, Body: body, Secrets: []string{secret}}
		if err := (webhook.StandardSigner{}).Sign(req.Header, in); err != nil {
			return err
		}
		return doRequest(client, req)
	})
}

// plainThroughput is the encode-and-POST loop: json.Marshal the order, POST it as
// application/json, read the answer. No envelope, no signature, no timeout of its own.
func plainThroughput(rcv *receiver, requests, workers int) (rate, error) {
	return loopThroughput(requests, workers, func(client *http.Client) error {
		body, err := json.Marshal(order)
		if err != nil {
			return err
		}
		req, err := http.NewRequest(http.MethodPost, rcv.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		return doRequest(client, req)
	})
}

// doRequest sends req and reads the answer as the dispatcher does: the body up to 64 KiB,
// anything but 200 an error.
func doRequest(client *http.Client, req *http.Request) error {
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
