package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shophooks/webhook"
)

// receiverServer is the minimal fast endpoint every section sends to: an http.Server on
// 127.0.0.1 that drains the body and answers 200 to POST /hooks. It counts the requests
// and keeps the arrival time of each latency event (see latIDPrefix), which the bench
// reads through GET /control/stats and GET /control/arrivals.
//
// By default it runs in a child process (the bench started again with -receiver-child), so
// that its garbage collector and allocations are not the measured process's; with -inproc
// it runs in the bench's own process. Either way it shares the machine's cores.
type receiverServer struct {
	hits     atomic.Int64
	mu       sync.Mutex
	arrivals map[int]int64 // latency event index -> arrival, Unix nanoseconds
}

func (rs *receiverServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/hooks":
		at := time.Now().UnixNano()
		_, _ = io.Copy(io.Discard, r.Body)
		if rest, ok := strings.CutPrefix(r.Header.Get(webhook.HeaderWebhookID), latIDPrefix); ok {
			if i, err := strconv.Atoi(rest); err == nil {
				rs.mu.Lock()
				if _, seen := rs.arrivals[i]; !seen {
					rs.arrivals[i] = at
				}
				rs.mu.Unlock()
			}
		}
		rs.hits.Add(1)
		w.WriteHeader(http.StatusOK)
	case "/control/stats":
		fmt.Fprintf(w, "%d\n", rs.hits.Load())
	case "/control/arrivals":
		rs.mu.Lock()
		defer rs.mu.Unlock()
		_ = json.NewEncoder(w).Encode(rs.arrivals)
		rs.arrivals = make(map[int]int64)
	default:
		http.NotFound(w, r)
	}
}

// serveReceiver listens on 127.0.0.1 and serves a receiverServer until the process ends.
func serveReceiver() (addr string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{
		Handler:           &receiverServer{arrivals: make(map[int]int64)},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go srv.Serve(ln)
	return ln.Addr().String(), nil
}

// receiverChild is the main of the child process: it serves, tells the parent its address
// on stdout, and exits when the parent closes its stdin (or dies).
func receiverChild() {
	addr, err := serveReceiver()
	if err != nil {
		fatal(err)
	}
	fmt.Printf("LISTEN %s\n", addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// receiver is the bench's handle on the receiver, wherever it runs.
type receiver struct {
	URL     string // where subscriptions point
	base    string // http://addr
	child   *exec.Cmd
	stdin   io.Closer
	control *http.Client
}

// startReceiver starts the receiver in a child process, or in this one if inproc.
func startReceiver(inproc bool) (*receiver, error) {
	r := &receiver{control: &http.Client{Timeout: 30 * time.Second}}
	var addr string
	if inproc {
		var err error
		if addr, err = serveReceiver(); err != nil {
			return nil, err
		}
	} else {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		r.child = exec.Command(exe, "-receiver-child")
		r.child.Stderr = os.Stderr
		out, err := r.child.StdoutPipe()
		if err != nil {
			return nil, err
		}
		in, err := r.child.StdinPipe()
		if err != nil {
			return nil, err
		}
		r.stdin = in
		if err := r.child.Start(); err != nil {
			return nil, err
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("receiver child: %w", err)
		}
		var ok bool
		if addr, ok = strings.CutPrefix(strings.TrimSpace(line), "LISTEN "); !ok {
			return nil, fmt.Errorf("receiver child said %q", line)
		}
	}
	r.base = "http://" + addr
	r.URL = r.base + "/hooks"
	return r, nil
}

// hits is the number of webhook requests the receiver has answered.
func (r *receiver) hits() (int64, error) {
	resp, err := r.control.Get(r.base + "/control/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// arrivals returns, and forgets, the arrival times of the latency events so far.
func (r *receiver) arrivals() (map[int]int64, error) {
	resp, err := r.control.Get(r.base + "/control/arrivals")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[int]int64
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func (r *receiver) close() {
	if r.child == nil {
		return
	}
	r.stdin.Close()
	done := make(chan struct{})
	go func() { _ = r.child.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.child.Process.Kill()
	}
}

// inProcess reports whether the receiver shares this process.
func (r *receiver) inProcess() bool { return r.child == nil }
