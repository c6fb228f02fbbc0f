package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// tpConfig is what the throughput section runs.
type tpConfig struct {
	stores []string // "memory", "bolt"
	sides  []string // "dispatcher", "raw", "plain"
	events map[string][2]int
	runs   int
	tpOptions
	dir   string // where storebolt files go
	label string // first column of the TSV rows
	tsv   io.Writer
}

// tpSides are the sides of the comparison, in the order of the first run.
var tpSides = []string{"dispatcher", "raw", "plain"}

// throughputSection runs the throughput cases and prints their table: per store, with 1 and
// 10 subscriptions, runs times each side, the sides alternating (each run starts with the
// next side), then the medians.
func throughputSection(rcv *receiver, cfg tpConfig) {
	// Warm up: connections, the receiver's goroutines, the heap.
	if _, err := rawThroughput(rcv, 2000, cfg.workers); err != nil {
		fatal(fmt.Errorf("warm-up: %w", err))
	}
	if _, err := dispatcherThroughput(rcv, tpStore{kind: "memory"}, 2000, 1, cfg.tpOptions); err != nil {
		fatal(fmt.Errorf("warm-up: %w", err))
	}
	window := "no window"
	if cfg.window > 0 {
		window = fmt.Sprintf("window %d", cfg.window)
	}
	t := table(fmt.Sprintf("Delivery throughput to a local receiver, %d workers (max %d in flight per subscription) vs %d goroutines, %d emitters, %s, payload %d B",
		cfg.workers, cfg.maxInFlight, cfg.workers, cfg.emitters, window, payloadSize()))
	fmt.Fprintf(t, "store\tsubs\trequests\tdispatcher\traw\tplain\tdisp/raw\tdisp/plain\tCPU/req disp (GC)\tCPU/req raw (GC)\tCPU/req plain (GC)\tallocs/req disp\tB/req disp\tallocs/req plain\tfailed\t\n")
	var failures []string
	var boltRates []float64 // the dispatcher on storebolt, 1 subscription, each run
	for _, kind := range cfg.stores {
		for i, subs := range []int{1, 10} {
			events := cfg.events[kind][i]
			n := events * subs
			var all []map[string]rate
			for run := range cfg.runs {
				got := make(map[string]rate)
				for k := range tpSides {
					side := tpSides[(run+k)%len(tpSides)]
					if !slices.Contains(cfg.sides, side) {
						continue
					}
					runtime.GC()
					var r rate
					var err error
					switch side {
					case "dispatcher":
						r, err = dispatcherThroughput(rcv, tpStore{kind: kind, dir: cfg.dir}, events, subs, cfg.tpOptions)
					case "raw":
						r, err = rawThroughput(rcv, n, cfg.workers)
					case "plain":
						r, err = plainThroughput(rcv, n, cfg.workers)
					}
					if err != nil {
						fatal(fmt.Errorf("%s, %s store, %d subscriptions: %w", side, kind, subs, err))
					}
					got[side] = r
					if r.firstErr != "" {
						failures = append(failures, side+": "+r.firstErr)
					}
					if cfg.tsv != nil {
						fmt.Fprintf(cfg.tsv, "%s\t%s\t%d\t%d\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.1f\t%.0f\t%d\n", cfg.label, kind, subs, run+1, side, n,
							r.perSec, micros(r.cpu), micros(r.gc), r.allocs, r.bytes, r.failed)
					}
				}
				all = append(all, got)
				if kind == "bolt" && subs == 1 && got["dispatcher"].perSec > 0 {
					boltRates = append(boltRates, got["dispatcher"].perSec)
				}
				d, raw, plain := got["dispatcher"], got["raw"], got["plain"]
				fmt.Fprintf(t, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d/%d\t\n", kind, subs, n,
					perSec(d), perSec(raw), perSec(plain), ratio(d, raw), ratio(d, plain),
					cpuGC(d), cpuGC(raw), cpuGC(plain), count(d.allocs, d), count(d.bytes, d), count(plain.allocs, plain),
					d.failed, raw.failed, plain.failed)
			}
			if cfg.runs > 1 {
				med := func(f func(map[string]rate) float64) float64 {
					v := make([]float64, 0, len(all))
					for _, g := range all {
						v = append(v, f(g))
					}
					return median(v)
				}
				// Each side's figures are the medians over the runs; a ratio is the
				// median of the runs' ratios (the sides of a run ran one after the other).
				side := func(name string) rate {
					return rate{
						perSec: med(func(g map[string]rate) float64 { return g[name].perSec }),
						cpu:    time.Duration(med(func(g map[string]rate) float64 { return float64(g[name].cpu) })),
						gc:     time.Duration(med(func(g map[string]rate) float64 { return float64(g[name].gc) })),
						allocs: med(func(g map[string]rate) float64 { return g[name].allocs }),
						bytes:  med(func(g map[string]rate) float64 { return g[name].bytes }),
					}
				}
				d, raw, plain := side("dispatcher"), side("raw"), side("plain")
				q := func(a, b string, ra, rb rate) string {
					if ra.perSec == 0 || rb.perSec == 0 {
						return "-"
					}
					return fmt.Sprintf("%.2f", med(func(g map[string]rate) float64 { return g[a].perSec / g[b].perSec }))
				}
				fmt.Fprintf(t, "%s\t%d\tmedian\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\n", kind, subs,
					perSec(d), perSec(raw), perSec(plain), q("dispatcher", "raw", d, raw), q("dispatcher", "plain", d, plain),
					cpuGC(d), cpuGC(raw), cpuGC(plain), count(d.allocs, d), count(d.bytes, d), count(plain.allocs, plain))
			}
		}
	}
	t.Flush()
	for _, f := range failures {
		fmt.Println("first failure:", f)
	}
	fmt.Println()
	if len(boltRates) > 0 {
		boltAloneTable(cfg, boltRates)
	}
}

// boltAloneTable measures bbolt alone (see boltAlone) with the events and emitters of the
// storebolt runs, bare and with 12 index keys, cfg.runs times each, and prints the rates
// with the dispatcher's on storebolt (1 subscription) against them. Its -tsv lines have
// "bbolt" as the store, the number of index keys in the subscriptions' column, and
// "alone" as the side.
func boltAloneTable(cfg tpConfig, dispatcher []float64) {
	events := cfg.events["bolt"][0]
	t := table(fmt.Sprintf("bbolt alone: %d goroutines each storing the order's JSON under a new ID with DB.Batch (as many per commit as goroutines, every commit fsynced), %d events",
		cfg.emitters, events))
	fmt.Fprintf(t, "writes per event\tevents/s (runs)\tmedian\tstorebolt delivering, 1 sub / this\t\n")
	for _, indexes := range []int{0, 12} {
		var rates []float64
		for run := range cfg.runs {
			runtime.GC()
			r, err := boltAlone(cfg.dir, events, cfg.emitters, indexes)
			if err != nil {
				fatal(fmt.Errorf("bbolt alone: %w", err))
			}
			rates = append(rates, r)
			if cfg.tsv != nil {
				fmt.Fprintf(cfg.tsv, "%s\tbbolt\t%d\t%d\talone\t%d\t%.0f\t0\t0\t0\t0\t0\n", cfg.label, indexes, run+1, events, r)
			}
		}
		what := "the event"
		if indexes > 0 {
			what = fmt.Sprintf("the event and %d index keys", indexes)
		}
		runs := make([]string, len(rates))
		for i, r := range rates {
			runs[i] = fmt.Sprintf("%.0f", r)
		}
		fmt.Fprintf(t, "%s\t%s\t%.0f/s\t%.2f\t\n", what, strings.Join(runs, ", "), median(rates), median(dispatcher)/median(rates))
	}
	t.Flush()
	fmt.Println()
}

// median returns the median of v, which it sorts.
func median(v []float64) float64 {
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// parseList splits a comma-separated flag value and checks every item against allowed.
func parseList(flagName, v string, allowed []string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allowed, s) {
			return nil, fmt.Errorf("-%s: %q is not one of %s", flagName, s, strings.Join(allowed, ", "))
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: empty", flagName)
	}
	return out, nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// perSec is a side's rate, or "-" for a side that did not run.
func perSec(r rate) string {
	if r.perSec == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f/s", r.perSec)
}

// ratio is a's rate over b's, or "-".
func ratio(a, b rate) string {
	if a.perSec == 0 || b.perSec == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a.perSec/b.perSec)
}

// count is a per-request figure of r, or "-" if r did not run.
func count(v float64, r rate) string {
	if r.perSec == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

// cpuGC is the CPU per request with the GC's share in parentheses, or "-".
func cpuGC(r rate) string {
	if r.perSec == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", us(r.cpu), us(r.gc))
}
