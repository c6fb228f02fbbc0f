// Command shop is a small e-commerce HTTP API (customers, products and orders, kept in
// memory) that sends webhooks with github.com/shophooks/webhook: every change emits an
// event, and merchants manage their webhooks under /admin.
//
// Run it with the webhook queue in a bbolt file, which survives restarts, or without -db
// in memory:
//
//	go run ./examples/shop -addr :8000 -db /tmp/shop-webhooks.db
//
// With the receiver example on the same machine (-allow-private lets the shop deliver to
// localhost, which it refuses by default):
//
//	SECRET=whsec_$(head -c 32 /dev/urandom | base64)
//	go run ./examples/receiver -addr :8080 -secret "$SECRET" &
//	go run ./examples/shop -addr :8000 -allow-private &
//	curl -d '{"url":"http://localhost:8080/webhooks","events":["order.*"],"secret":"'"$SECRET"'"}' localhost:8000/admin/webhooks
//	curl -d '{"email":"ann@example.com","name":"Ann"}' localhost:8000/customers      # -> "id": "cus_..."
//	curl -d '{"title":"T-shirt","sku":"TEE-M","price_cents":1990,"inventory_quantity":10}' localhost:8000/products
//	curl -d '{"customer_id":"cus_...","line_items":[{"product_id":"prod_...","quantity":2}]}' localhost:8000/orders
//	curl -X POST localhost:8000/orders/ord_.../fulfil
//	curl localhost:8000/admin/webhooks/sub_.../deliveries
//
// The shop's endpoints: POST /customers, POST /products, PATCH /products/{id}/inventory,
// POST /orders, POST /orders/{id}/fulfil, POST /orders/{id}/cancel, and GET of each
// resource by ID. The merchant's: POST and GET /admin/webhooks (filters: ?resource=
// &event= &url= &status= &q=), GET, PUT and DELETE /admin/webhooks/{id}, POST
// /admin/webhooks/{id}/activate, deactivate, rotate-secret and test, GET
// /admin/webhooks/{id}/deliveries, POST /admin/deliveries/{id}/redeliver, GET
// /admin/stats and GET /admin/event-types.
//
// Stop it with Ctrl-C (SIGINT) or SIGTERM: it finishes the requests in progress and the
// deliveries in flight, then exits.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		slog.Error("shop: " + err.Error())
		os.Exit(1)
	}
}

// run parses the flags, serves until ctx ends, then shuts down in order.
func run(ctx context.Context, args []string, logOut io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	var (
		addr         = fs.String("addr", ":8000", "address to listen on")
		dbPath       = fs.String("db", "", "bbolt file of the webhook queue and log (empty: in memory, lost at exit)")
		allowPrivate = fs.Bool("allow-private", false, "deliver to loopback and private addresses too (development only)")
		retention    = fs.Duration("retention", 7*24*time.Hour, "how long finished deliveries stay in the log")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))

	st, closeStore, err := openStore(*dbPath, *retention)
	if err != nil {
		return err
	}
	defer func() {
		// Last: the dispatcher records attempts in the store until its Close returns.
		if err := closeStore(); err != nil {
			log.Error("shop: closing the store", "err", err)
		}
	}()

	cat := eventtypes.Default()
	opts := []webhook.Option{webhook.WithCatalog(cat), webhook.WithLogger(log)}
	if *allowPrivate {
		opts = append(opts, webhook.AllowPrivateNetworks())
	}
	d, err := webhook.New(st, opts...)
	if err != nil {
		return err
	}

	srv := &http.Server{
		Addr:              *addr,
		Handler:           newHandler(d, cat, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		_ = d.Close(ctx)
		return err
	}
	log.Info("shop: listening", "addr", ln.Addr().String(), "db", *dbPath)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err = <-serveErr:
	case <-ctx.Done():
	}

	// The order matters. First the server: it stops taking requests and waits for those
	// in progress, which change the shop and then emit; closing the dispatcher under them
	// would make their Emit fail with ErrClosed after the change, and lose the event.
	// Then the dispatcher: it stops claiming deliveries and waits for the attempts in
	// flight, so that their answers are recorded. The timeout bounds the wait for a slow
	// endpoint; an attempt cut short is not recorded and is sent again after the next
	// start (with -db; the memory store loses what is pending anyway). Last the store, in
	// the deferred call above.
	log.Info("shop: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := []error{err, srv.Shutdown(shutdownCtx)}
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelClose()
	errs = append(errs, d.Close(closeCtx))
	if *dbPath == "" {
		if s, err := d.Stats(context.Background()); err == nil && s.Overall.Pending+s.Overall.Held > 0 {
			log.Warn("shop: deliveries not sent are lost with the memory store; use -db",
				"pending", s.Overall.Pending, "held", s.Overall.Held)
		}
	}
	if errors.Is(errs[0], http.ErrServerClosed) {
		errs[0] = nil
	}
	return errors.Join(errs...)
}

// newHandler routes the shop's and the merchant's endpoints.
func newHandler(d *webhook.Dispatcher, cat *eventtypes.Catalog, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	NewShop(d, log).routes(mux)
	(&Admin{d: d, cat: cat, log: log}).routes(mux)
	mountPortal(mux, d, log) // the merchants' webhook pages at /portal/: see portal.go
	return mux
}

// openStore opens the bbolt store at path, or a memory store when path is empty, both
// pruning the delivery log of what finished more than retention ago. The function it
// returns closes the store.
func openStore(path string, retention time.Duration) (store.Store, func() error, error) {
	if path != "" {
		st, err := storebolt.Open(path, storebolt.WithRetention(retention, 0))
		if err != nil {
			return nil, nil, err
		}
		return st, st.Close, nil
	}
	st := store.NewMemory(store.WithMemoryRetention(retention, 0))
	return st, func() error { return nil }, nil
}
