// Command shop is a small e-commerce platform that sends webhooks with
// github.com/shophooks/webhook: several merchants each run a shop (customers, products and
// orders, kept in memory), every change emits an event in the merchant's workspace, and
// each merchant manages its own webhooks through the REST API of package api, mounted at
// /api/v1 behind the merchant's API key.
//
// Run it with the webhook queue in a bbolt file, which survives restarts, or without -db
// in memory. SHOP_API_KEYS gives each merchant its API key (16 characters at least);
// a merchant without one has a shop but no API access:
//
//	SHOP_API_KEYS=acme=key_acme_0123456789,globex=key_globex_0123456789 \
//	  go run ./examples/shop -addr :8000 -merchants acme,globex -db /tmp/shop-webhooks.db
//
// With the receiver example on the same machine (-allow-private lets the shop deliver to
// localhost, which it refuses by default):
//
//	go run ./examples/receiver -addr :8080 -secret "$SECRET" &
//	SHOP_API_KEYS=acme=key_acme_0123456789 go run ./examples/shop -addr :8000 -allow-private &
//	curl -H 'Authorization: Bearer key_acme_0123456789' \
//	  -d '{"url":"http://localhost:8080/webhooks","events":["order.*"],"secret":"'"$SECRET"'"}' \
//	  localhost:8000/api/v1/workspaces/acme/webhooks
//	curl -d '{"email":"ann@example.com","name":"Ann"}' localhost:8000/shops/acme/customers   # -> "id": "cus_..."
//	curl -d '{"title":"T-shirt","sku":"TEE-M","price_cents":1990,"inventory_quantity":10}' localhost:8000/shops/acme/products
//	curl -d '{"customer_id":"cus_...","line_items":[{"product_id":"prod_...","quantity":2}]}' localhost:8000/shops/acme/orders
//	curl -X POST localhost:8000/shops/acme/orders/ord_.../fulfil
//	curl -H 'Authorization: Bearer key_acme_0123456789' localhost:8000/api/v1/workspaces/acme/deliveries
//
// The shops' endpoints, under /shops/{merchant}: POST /customers, POST /products, PATCH
// /products/{id}/inventory, POST /orders, POST /orders/{id}/fulfil, POST
// /orders/{id}/cancel, and GET of each resource by ID. The webhook API's, under /api/v1:
// see package api, or GET /api/v1/openapi.json. Webhook pages: /portal/ (portal.go).
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
	"strings"
	"syscall"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/api"
	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		slog.Error("shop: " + err.Error())
		os.Exit(1)
	}
}

// run parses the flags, serves until ctx ends, then shuts down in order. getenv reads
// the environment (SHOP_API_KEYS).
func run(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	var (
		addr         = fs.String("addr", ":8000", "address to listen on")
		dbPath       = fs.String("db", "", "bbolt file of the webhook queue and log (empty: in memory, lost at exit)")
		allowPrivate = fs.Bool("allow-private", false, "deliver to loopback and private addresses too (development only)")
		retention    = fs.Duration("retention", 7*24*time.Hour, "how long finished deliveries stay in the log")
		merchantList = fs.String("merchants", "acme,globex", "the platform's merchants, comma-separated: each has a shop and a webhook workspace")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	ms, err := parseMerchants(*merchantList, getenv("SHOP_API_KEYS"))
	if err != nil {
		return err
	}
	if len(ms.keys) == 0 {
		log.Warn("shop: SHOP_API_KEYS is empty: the webhook API refuses every request")
	}

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

	opts := []webhook.Option{webhook.WithLogger(log)}
	if *allowPrivate {
		opts = append(opts, webhook.AllowPrivateNetworks())
	}
	d, err := webhook.New(st, opts...)
	if err != nil {
		return err
	}

	srv := &http.Server{
		Addr:              *addr,
		Handler:           newHandler(&platform{d: d, log: log, merchants: ms}),
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
	log.Info("shop: listening", "addr", ln.Addr().String(), "db", *dbPath, "merchants", strings.Join(ms.names, ","))
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

// platform is what the handlers share: the dispatcher, the log and the merchants.
type platform struct {
	d         *webhook.Dispatcher
	log       *slog.Logger
	merchants merchants
}

// newHandler routes the shops' endpoints (/shops/{merchant}/...) and the webhook API
// (/api/v1/...). Another surface mounts with one more line here.
func newHandler(p *platform) http.Handler {
	mux := http.NewServeMux()
	NewShop(p.d, p.log, p.merchants).routes(mux)
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1",
		api.New(p.d, api.WithAuth(p.merchants.auth), api.WithLogger(p.log))))
	mountPortal(mux, p.d, p.log, p.merchants.names...) // the merchants' webhook pages at /portal/: see portal.go
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
