package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

// The fairness section: does one merchant's hanging server delay anyone else's webhooks?
// Subscriptions whose endpoint hangs (answers nothing until the 5 s timeout) share the
// dispatcher with healthy ones while events are emitted at a steady rate; the figure is
// the Emit-to-receipt lag of the healthy endpoints, against the same run with every
// endpoint healthy.

type fairScenario struct {
	name       string
	subs, hang int           // subscriptions, of which hang hang
	workspaces bool          // one workspace per subscription, events round robin over them
	rate       int           // events per second
	dur        time.Duration // how long to emit
}

type fairResult struct {
	deliveries    int // healthy deliveries expected
	p50, p99, max time.Duration
	within1s      float64 // share of healthy deliveries received by 1 s after the last emit
	hangAttempts  int
}

// fairReceiver answers /ok/... at once and records when each event arrived, and holds
// /hang/... until the client gives up.
type fairReceiver struct {
	srv  *http.Server
	url  string
	mu   sync.Mutex
	seen map[string]time.Time // path + webhook-id -> first arrival
	hung int
}

func startFairReceiver() (*fairReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fr := &fairReceiver{url: "http://" + ln.Addr().String(), seen: map[string]time.Time{}}
	fr.srv = &http.Server{Handler: fr, ReadHeaderTimeout: 10 * time.Second}
	go fr.srv.Serve(ln)
	return fr, nil
}

func (fr *fairReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	if strings.HasPrefix(r.URL.Path, "/hang/") {
		fr.mu.Lock()
		fr.hung++
		fr.mu.Unlock()
		<-r.Context().Done()
		return
	}
	key := r.URL.Path + " " + r.Header.Get(webhook.HeaderWebhookID)
	fr.mu.Lock()
	if _, ok := fr.seen[key]; !ok {
		fr.seen[key] = at
	}
	fr.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (fr *fairReceiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = fr.srv.Shutdown(ctx)
	_ = fr.srv.Close()
}

// runFairness runs one scenario on one store, with the hanging endpoints (slow) or with
// every endpoint healthy.
func runFairness(sc fairScenario, storeName, dir string, slow bool) (fairResult, error) {
	var res fairResult
	fr, err := startFairReceiver()
	if err != nil {
		return res, err
	}
	defer fr.close()
	var st store.Store
	switch storeName {
	case "memory":
		st = store.NewMemory()
	case "bbolt":
		tmp, err := os.MkdirTemp(dir, "bench-fair-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		bs, err := storebolt.Open(filepath.Join(tmp, "fair.db"))
		if err != nil {
			return res, err
		}
		defer bs.Close()
		st = bs
	}
	ctx := context.Background()
	d, err := webhook.New(st, webhook.AllowPrivateNetworks())
	if err != nil {
		return res, err
	}
	defer d.Close(ctx)

	type target struct{ ws, path string }
	var healthy []target
	var workspaces []string
	for i := range sc.subs {
		ws := ""
		if sc.workspaces {
			ws = fmt.Sprintf("shop_%04d", i)
			workspaces = append(workspaces, ws)
		}
		path := fmt.Sprintf("/ok/%d", i)
		if slow && i%(sc.subs/max(sc.hang, 1)) == 0 && i/(sc.subs/max(sc.hang, 1)) < sc.hang {
			path = fmt.Sprintf("/hang/%d", i)
		} else {
			healthy = append(healthy, target{ws, path})
		}
		if _, err := d.Subscribe(ctx, webhook.Subscription{Workspace: ws, URL: fr.url + path, Events: []string{"order.*"}}); err != nil {
			return res, err
		}
	}

	type emitted struct {
		id, ws string
		at     time.Time
	}
	var evs []emitted
	tick := time.NewTicker(time.Second / time.Duration(sc.rate))
	defer tick.Stop()
	n := int(sc.dur.Seconds() * float64(sc.rate))
	for i := range n {
		ws := ""
		if sc.workspaces {
			ws = workspaces[i%len(workspaces)]
		}
		at := time.Now()
		ev, err := d.Emit(ctx, eventtypes.OrderCreated, order, webhook.InWorkspace(ws))
		if err != nil {
			return res, err
		}
		evs = append(evs, emitted{ev.ID, ws, at})
		<-tick.C
	}
	last := time.Now()
	time.Sleep(time.Second)

	fr.mu.Lock()
	defer fr.mu.Unlock()
	var lags []time.Duration
	byWS := map[string][]target{}
	for _, t := range healthy {
		byWS[t.ws] = append(byWS[t.ws], t)
	}
	received := 0
	for _, ev := range evs {
		for _, t := range byWS[ev.ws] {
			res.deliveries++
			got, ok := fr.seen[t.path+" "+ev.id]
			if !ok {
				lags = append(lags, time.Hour) // not received: counts as lost in the tail
				continue
			}
			lags = append(lags, got.Sub(ev.at))
			if !got.After(last.Add(time.Second)) {
				received++
			}
		}
	}
	slices.Sort(lags)
	if len(lags) > 0 {
		res.p50 = lags[len(lags)/2]
		res.p99 = lags[len(lags)*99/100]
		res.max = lags[len(lags)-1]
		res.within1s = float64(received) / float64(len(lags))
	}
	res.hangAttempts = fr.hung
	return res, nil
}

// fairnessSection runs the scenarios on both stores and prints their table.
func fairnessSection(dir string, dur time.Duration) {
	scenarios := []fairScenario{
		{name: "5 subscriptions, 1 hangs", subs: 5, hang: 1, rate: 50, dur: dur},
		{name: "1,000 merchants (a workspace each), 100 hang", subs: 1000, hang: 100, workspaces: true, rate: 250, dur: dur},
	}
	t := table(fmt.Sprintf("Fairness: Emit-to-receipt lag of the healthy endpoints while others hang past the 5 s timeout, emitting for %s", dur))
	fmt.Fprintf(t, "scenario\tstore\tevents/s\thealthy deliveries\tp50 / p99 / max, none hang\tp50 / p99 / max, with hanging\tp99 ratio\tdelivered within 1 s of the last emit\thanging attempts\t\n")
	for _, sc := range scenarios {
		for _, name := range []string{"memory", "bbolt"} {
			base, err := runFairness(sc, name, dir, false)
			if err != nil {
				fatal(fmt.Errorf("fairness %s, %s, baseline: %w", sc.name, name, err))
			}
			res, err := runFairness(sc, name, dir, true)
			if err != nil {
				fatal(fmt.Errorf("fairness %s, %s: %w", sc.name, name, err))
			}
			fmt.Fprintf(t, "%s\t%s\t%d\t%d\t%s / %s / %s\t%s / %s / %s\t%.2f\t%.1f%%\t%d\t\n", sc.name, name, sc.rate, res.deliveries,
				ms(base.p50), ms(base.p99), ms(base.max), ms(res.p50), ms(res.p99), ms(res.max),
				float64(res.p99)/float64(max(base.p99, time.Microsecond)), 100*res.within1s, res.hangAttempts)
		}
	}
	t.Flush()
	fmt.Println()
}
