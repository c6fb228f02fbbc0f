// Command receiver is a webhook endpoint built the way the senders' documentation
// advises: it verifies every request's Standard Webhooks signature, answers at once and
// processes the event in the background, and processes each event once however many
// times it is delivered. It prints every event it processes on one line.
//
// Run it with the subscription's secret, from a flag or the environment:
//
//	go run ./examples/receiver -addr :8080 -secret whsec_...
//	WEBHOOK_SECRET=whsec_... go run ./examples/receiver
//
// and subscribe http://<host>:8080/webhooks, in any format: JSON or XML (POST) or query
// parameters (GET). While a secret is being rotated, pass both, separated by a comma.
// Stop it with Ctrl-C (SIGINT) or SIGTERM: it stops accepting requests, finishes the
// ones in progress, processes what is queued and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/shophooks/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run parses the flags, serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("receiver", flag.ContinueOnError)
	var (
		addr      = fs.String("addr", ":8080", "address to listen on")
		path      = fs.String("path", "/webhooks", "URL path of the endpoint")
		secrets   = fs.String("secret", getenv("WEBHOOK_SECRET"), "signing secret (whsec_...); several, comma-separated, while rotating (default $WEBHOOK_SECRET)")
		tolerance = fs.Duration("tolerance", webhook.DefaultTolerance, "how far webhook-timestamp may be from this clock")
		queue     = fs.Int("queue", DefaultQueueSize, "events waiting to be processed at most; beyond it requests get 503 and are retried by the sender")
		dedupSize = fs.Int("dedup-size", DefaultDedupSize, "webhook IDs remembered at most, to drop duplicates")
		dedupTTL  = fs.Duration("dedup-ttl", DefaultDedupTTL, "how long a webhook ID is remembered")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var keys []string
	for _, s := range strings.Split(*secrets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			keys = append(keys, s)
		}
	}
	if len(keys) == 0 {
		return errors.New("receiver: no secret: pass -secret whsec_... or set WEBHOOK_SECRET")
	}

	rcv, err := NewReceiver(Config{
		Verifier:  webhook.Verifier{Secrets: keys, Tolerance: *tolerance},
		QueueSize: *queue,
		DedupSize: *dedupSize,
		DedupTTL:  *dedupTTL,
		Process:   PrintEvent(out),
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+*path, rcv)
	mux.Handle("GET "+*path, rcv) // query-format deliveries
	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Printf("receiver: listening on %s%s", ln.Addr(), *path)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	// Stop taking requests and let those in progress finish first, so that nothing is
	// queued after the receiver stops; then process what is queued.
	log.Print("receiver: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	errs := []error{srv.Shutdown(shutdownCtx)}
	errs = append(errs, rcv.Close(shutdownCtx))
	return errors.Join(errs...)
}

// PrintEvent returns a Process function that writes each event to w on one line:
// its time, type, webhook ID, format and a summary of its data.
func PrintEvent(w io.Writer) func(context.Context, Event) error {
	return func(_ context.Context, ev Event) error {
		_, err := fmt.Fprintf(w, "%s %s id=%s format=%s %s\n",
			ev.Timestamp.UTC().Format(time.RFC3339), ev.Type, ev.ID, ev.Format, ev.Summary)
		return err
	}
}
