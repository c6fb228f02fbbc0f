// Command bench measures the webhook dispatcher at scale, side by side with what it
// replaces, and prints a table per section:
//
//   - throughput: deliveries/s of ~1 KB orders to a fast local receiver (memory store and
//     storebolt, 1 and 10 subscriptions, 16 goroutines calling Emit) against two net/http
//     client loops with as many goroutines as the dispatcher has workers, on the
//     dispatcher's own transport (webhook.NewTransport): "plain" marshals the order and
//     POSTs it, "raw" builds and signs the dispatcher's envelope by hand. The ratios
//     dispatcher/plain and dispatcher/raw are the figures; CPU, GC CPU and allocations per
//     request are this process's.
//   - latency: Emit-to-receipt p50/p99 at a steady offered rate, one subscription.
//   - bolt: Emit on storebolt (fsync before Emit returns) from many emitters, against one
//     bbolt Update (one fsync) per event.
//   - fairness: the Emit-to-receipt lag of healthy endpoints while others hang past the
//     timeout (5 subscriptions of which 1 hangs; 1,000 merchants of which 100 hang), on
//     the memory store and storebolt, against the same run with no endpoint hanging.
//   - idle: memory, goroutines and CPU of a running dispatcher whose store holds many
//     deliveries due in an hour, on the memory store and on storebolt (with the reopen
//     time of the file).
//
// The receiver is a minimal http.Server on 127.0.0.1 in a child process (the same binary,
// started with -receiver-child), or in this process with -inproc. Either way it shares the
// machine's cores with what is measured.
//
//	go run ./examples/bench            # the default run: a few minutes on 2 cores
//	go run ./examples/bench -events 5000 -tpbolt 1000 -latency 2s -future 50000 -boltfuture 20000 -boltevents 2000 -idle 2s   # a quick check
//	go run ./examples/bench -only throughput -runs 5 -tsv runs.tsv
//
// BENCHMARKS.md has the figures and what limits them.
package main

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shophooks/webhook"
)

func main() {
	var (
		events     = flag.Int("events", 100_000, "throughput: events emitted to 1 subscription, memory store")
		events10   = flag.Int("events10", 0, "throughput: events emitted to 10 subscriptions, memory store (0: events/10, the same number of requests)")
		tpBolt     = flag.Int("tpbolt", 20_000, "throughput: events emitted to 1 subscription, storebolt")
		tpBolt10   = flag.Int("tpbolt10", 0, "throughput: events emitted to 10 subscriptions, storebolt (0: tpbolt/10)")
		tpStores   = flag.String("stores", "memory,bolt", "throughput: the stores to deliver from, comma-separated: memory, bolt")
		tpEmitters = flag.Int("tpemitters", 16, "throughput: goroutines calling Emit at once")
		tpWindow   = flag.Int("window", 0, "throughput: the most deliveries emitted and not yet finished; the emitters wait beyond it (0: no limit, emit as fast as Emit returns)")
		tpInFlight = flag.Int("maxinflight", 0, "throughput: WithMaxInFlight, the attempts in flight per subscription (0: as many as workers)")
		runs       = flag.Int("runs", 1, "throughput: measure each case this many times, the sides alternating")
		payload    = flag.String("payload", "1k", "the data of every event: 1k (an order struct whose JSON is about 1 KB) or small (a 210-byte map)")
		tsvPath    = flag.String("tsv", "", "throughput: append one tab-separated line per measured side and run to this file")
		label      = flag.String("label", "", "throughput: the first column of the -tsv lines (say, the commit)")
		workers    = flag.Int("workers", webhook.DefaultWorkers, "dispatcher workers, and goroutines of the raw loop")
		perSec     = flag.Int("rate", 2000, "latency: events per second")
		latency    = flag.Duration("latency", 10*time.Second, "latency: how long to emit")
		future     = flag.Int("future", 1_000_000, "idle: deliveries stored due in the future, memory store")
		boltFuture = flag.Int("boltfuture", 200_000, "idle: deliveries stored due in the future, storebolt (0: skip)")
		emitters   = flag.Int("emitters", 64, "bolt: concurrent emitters")
		boltEvents = flag.Int("boltevents", 10_000, "bolt: events emitted, on storebolt and on the naive baseline each")
		dir        = flag.String("dir", os.TempDir(), "bolt: where the temporary bbolt files go")
		idle       = flag.Duration("idle", 10*time.Second, "idle: how long to measure the CPU of a dispatcher with nothing due")
		fairDur    = flag.Duration("fairdur", 20*time.Second, "fairness: how long each run emits")
		only       = flag.String("only", "", "comma-separated sections to run: throughput, latency, bolt, idle, fairness (default all)")
		side       = flag.String("side", "dispatcher,raw,plain", "throughput: the sides to run, comma-separated: dispatcher, raw (the signed envelope by hand), plain (json.Marshal and POST); one alone to profile it")
		inproc     = flag.Bool("inproc", false, "run the receiver in this process instead of a child process")
		child      = flag.Bool("receiver-child", false, "internal: be the receiver process")
		cpuprof    = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
		memprof    = flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
	)
	flag.Parse()
	if *child {
		receiverChild()
		return
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *memprof != "" {
		runtime.MemProfileRate = 4096
		defer func() {
			f, err := os.Create(*memprof)
			if err != nil {
				fatal(err)
			}
			defer f.Close()
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fatal(err)
			}
		}()
	}
	if *events10 == 0 {
		*events10 = max(*events/10, 1)
	}
	if *tpBolt10 == 0 {
		*tpBolt10 = max(*tpBolt/10, 1)
	}
	if err := setPayload(*payload); err != nil {
		fatal(err)
	}
	want := func(s string) bool { return *only == "" || slices.Contains(strings.Split(*only, ","), s) }

	rcv, err := startReceiver(*inproc)
	if err != nil {
		fatal(err)
	}
	defer rcv.close()
	fmt.Printf("go %s, %s/%s, GOMAXPROCS %d, NumCPU %d, CPU %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel())
	where := "in a child process"
	if rcv.inProcess() {
		where = "in this process"
	}
	fmt.Printf("receiver %s (%s), %d workers\n\n", rcv.URL, where, *workers)

	if want("throughput") {
		cfg := tpConfig{
			events: map[string][2]int{"memory": {*events, *events10}, "bolt": {*tpBolt, *tpBolt10}},
			runs:   max(*runs, 1),
			dir:    *dir,
			label:  *label,
			tpOptions: tpOptions{
				workers: *workers, emitters: *tpEmitters, window: *tpWindow,
				maxInFlight: cmp.Or(*tpInFlight, *workers),
			},
		}
		if cfg.stores, err = parseList("stores", *tpStores, []string{"memory", "bolt"}); err != nil {
			fatal(err)
		}
		if cfg.sides, err = parseList("side", *side, tpSides); err != nil {
			fatal(err)
		}
		if *tsvPath != "" {
			f, err := os.OpenFile(*tsvPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				fatal(err)
			}
			defer f.Close()
			cfg.tsv = f
		}
		throughputSection(rcv, cfg)
	}
	if want("latency") {
		res, err := runLatency(rcv, *perSec, *latency, *workers)
		if err != nil {
			fatal(fmt.Errorf("latency: %w", err))
		}
		t := table("Emit-to-receipt latency, 1 subscription, memory store")
		fmt.Fprintf(t, "offered rate\tevents\tp50\tp99\tmax\temitter lag (max)\t\n")
		fmt.Fprintf(t, "%d/s for %s\t%d\t%s\t%s\t%s\t%s\t\n", *perSec, *latency, res.events,
			ms(res.p50), ms(res.p99), ms(res.max), ms(res.lag))
		t.Flush()
		fmt.Println()
	}
	if want("bolt") {
		res, err := runBoltEmit(rcv, *dir, *emitters, *boltEvents, *workers)
		if err != nil {
			fatal(fmt.Errorf("bolt: %w", err))
		}
		t := table(fmt.Sprintf("Emit on storebolt, %d concurrent emitters, every event fsynced before Emit returns", res.emitters))
		fmt.Fprintf(t, "events\tstorebolt Emit (group commit, deliveries running)\tnaive bbolt, one Update+fsync per event\tratio\t\n")
		fmt.Fprintf(t, "%d\t%.0f/s\t%.0f/s\t%.1f\t\n", res.events, res.store, res.naive, res.store/res.naive)
		t.Flush()
		fmt.Println()
	}
	if want("fairness") {
		fairnessSection(*dir, *fairDur)
	}
	if want("idle") {
		res, err := runIdle(rcv, *future, *idle, *workers)
		if err != nil {
			fatal(fmt.Errorf("idle: %w", err))
		}
		t := table(fmt.Sprintf("%d deliveries due in an hour, dispatcher running, memory store", res.deliveries))
		printIdle(t, res.idleFigures, res.deliveries)
		fmt.Fprintf(t, "store fill rate (InsertEvent, 1 goroutine)\t\t%.0f/s\t\t\n", res.insertRate)
		t.Flush()
		fmt.Println()
	}
	if want("idle") && *boltFuture > 0 {
		runtime.GC()
		res, err := runBoltIdle(rcv, *dir, *boltFuture, *idle, *workers)
		if err != nil {
			fatal(fmt.Errorf("bolt idle: %w", err))
		}
		t := table(fmt.Sprintf("%d deliveries due in an hour, dispatcher running, storebolt", res.deliveries))
		printIdle(t, res.idleFigures, res.deliveries)
		fmt.Fprintf(t, "file size\t\t%s\t%d B\t\n", mib(uint64(res.fileSize)), res.fileSize/int64(max(res.deliveries, 1)))
		fmt.Fprintf(t, "reopen (storebolt.Open)\t\t%s\t\t\n", ms(res.reopen))
		fmt.Fprintf(t, "first NextDue after reopen\t\t%s\t\t\n", ms(res.nextDue))
		fmt.Fprintf(t, "store fill rate (InsertEvent, 64 goroutines, no fsync)\t\t%.0f/s\t\t\n", res.fillRate)
		t.Flush()
		fmt.Println()
	}
}

// printIdle prints the rows common to the idle tables.
func printIdle(t *tabwriter.Writer, f idleFigures, n int) {
	fmt.Fprintf(t, "figure\tbefore the store was filled\twith the deliveries\tper delivery\t\n")
	fmt.Fprintf(t, "HeapInuse after GC\t%s\t%s\t%d B\t\n", mib(f.heapBase), mib(f.heap), perDelivery(f.heap, f.heapBase, n))
	fmt.Fprintf(t, "VmRSS after GC\t%s\t%s\t%d B\t\n", mib(f.rssBase), mib(f.rss), perDelivery(f.rss, f.rssBase, n))
	fmt.Fprintf(t, "goroutines\t%d\t%d\t\t\n", f.goroutinesBase, f.goroutines)
	cpu := "n/a"
	if f.cpuOK {
		cpu = fmt.Sprintf("%s (%.3f%% of one core)", ms(f.cpu), 100*f.cpu.Seconds()/f.idle.Seconds())
	}
	fmt.Fprintf(t, "CPU of the process over %s idle\t\t%s\t\t\n", f.idle, cpu)
	fmt.Fprintf(t, "requests sent while idle\t\t%d\t\t\n", f.requestsWhenIdle)
}

func table(title string) *tabwriter.Writer {
	fmt.Println(title)
	return tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(b uint64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func perDelivery(with, base uint64, n int) int64 {
	if with == 0 || n == 0 {
		return 0
	}
	return (int64(with) - int64(base)) / int64(n)
}

// cpuModel is the "model name" of /proc/cpuinfo, or GOARCH where there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
