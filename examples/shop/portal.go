package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/portal"
)

// portalPrefix is where the shop serves the merchants' webhook portal.
const portalPrefix = "/portal/"

// portalLinkTTL is how long the sign-in links the shop logs at start stay good.
const portalLinkTTL = time.Hour

// mountPortal serves the webhook portal (package portal) under /portal/ for the given
// workspaces (none: the default workspace). The shop has no merchant login of its own,
// so merchants sign in as Svix's App Portal does: with a single-use link, which starts a
// one-hour session. The shop writes one link per workspace to its log at start; a real
// platform would hand them out from its own dashboard, or mount the portal with
// portal.WithAuth behind its own login instead. The signing key is random for each run:
// a restart ends every session.
//
// With SHOP_PORTAL_SAMPLE=1 in the environment, each workspace without webhooks gets a
// few sample ones, so the portal has something to show.
func mountPortal(mux *http.ServeMux, d *webhook.Dispatcher, log *slog.Logger, workspaces ...string) {
	key := make([]byte, portal.MinKeyBytes)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	links, err := portal.NewLinker(portalPrefix, key)
	if err != nil {
		// Only a bad constant above could cause it; the portal without a Linker is closed.
		log.Error("shop: the webhook portal has no sign-in", "err", err)
	}
	mux.Handle(portalPrefix, http.StripPrefix(strings.TrimSuffix(portalPrefix, "/"),
		portal.New(d, portal.WithLinker(links), portal.WithLogger(log))))
	if links == nil {
		return
	}
	if len(workspaces) == 0 {
		workspaces = []string{""}
	}
	for _, ws := range workspaces {
		if os.Getenv("SHOP_PORTAL_SAMPLE") == "1" {
			if err := addSampleWebhooks(context.Background(), d, ws); err != nil {
				log.Error("shop: adding sample webhooks", "workspace", ws, "err", err)
			}
		}
		link, err := links.Link(ws, portalLinkTTL)
		if err != nil {
			log.Error("shop: signing a portal link", "workspace", ws, "err", err)
			continue
		}
		log.Info("shop: webhook portal sign-in link (open it on this server; single use, valid 1h)", "workspace", ws, "path", link)
	}
}

// addSampleWebhooks gives a workspace that has no webhooks a few, in both states.
func addSampleWebhooks(ctx context.Context, d *webhook.Dispatcher, ws string) error {
	existing, err := d.Subscriptions(ctx, webhook.Filter{Workspace: ws})
	if err != nil || len(existing) > 0 {
		return err
	}
	samples := []webhook.Subscription{
		{Name: "Fulfilment service", URL: "https://fulfil.example.com/webhooks/orders", Events: []string{"order.created", "order.cancelled"}},
		{Name: "Inventory sync", URL: "https://erp.example.com/hooks/inventory", Events: []string{"product.*"}},
		{Name: "Accounting", URL: "https://books.example.net/api/webhooks", Events: []string{"payment.completed", "payment.refunded"}},
		{Name: "Marketing CRM", URL: "https://crm.example.org/hooks/customers", Events: []string{"customer.created"},
			Status: webhook.StatusInactive, StatusReason: "paused by the merchant", WhileInactive: webhook.InactiveHold},
	}
	for _, s := range samples {
		s.Workspace, s.Secret = ws, webhook.NewSecret()
		if _, err := d.Subscribe(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
