package portal

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shophooks/webhook"
)

// notices are the one-line confirmations a redirect after a change shows, by the "done"
// parameter it carries: a fixed set, so a crafted link cannot put words on the page.
var notices = map[string]string{
	"saved":       "Webhook saved.",
	"deleted":     "Webhook deleted.",
	"activated":   "Webhook activated.",
	"deactivated": "Webhook deactivated.",
	"redelivered": "The delivery will be sent again now.",
	"recovered":   "", // with the count, below
}

func noticeOf(r *http.Request) string {
	q := r.URL.Query()
	done := q.Get("done")
	if done == "recovered" {
		n, _ := strconv.Atoi(q.Get("n"))
		switch n {
		case 0:
			return "No failed deliveries in that period: nothing to send again."
		case 1:
			return "1 failed delivery will be sent again now."
		default:
			return fmt.Sprintf("%d failed deliveries will be sent again now.", n)
		}
	}
	return notices[done]
}

// dashboardView is the list of a workspace's webhooks: the dashboard's main view.
type dashboardView struct {
	Query    string
	Status   string // "", "active" or "inactive"
	Rows     []subView
	Total    int // webhooks in the workspace
	Filtered bool
	Health   *healthView // of the workspace; nil before its first attempt
}

func (h *handler) dashboard(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	q := r.URL.Query()
	v := dashboardView{Query: strings.TrimSpace(q.Get("q")), Status: q.Get("status")}
	if v.Status != string(webhook.StatusActive) && v.Status != string(webhook.StatusInactive) {
		v.Status = ""
	}
	v.Filtered = v.Query != "" || v.Status != ""
	subs, err := h.d.Subscriptions(ctx, webhook.Filter{Workspace: s.Workspace})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	// An empty Filter.Workspace selects every workspace; the default workspace's session
	// sees only the default workspace's webhooks.
	subs = slices.DeleteFunc(subs, func(sub webhook.Subscription) bool { return sub.Workspace != s.Workspace })
	v.Total = len(subs)
	now := time.Now()
	for _, sub := range slices.Backward(subs) { // newest first
		if (v.Status == "" || string(sub.Status) == v.Status) && matches(sub, v.Query, h.d.Catalog()) {
			v.Rows = append(v.Rows, viewOf(sub, now))
		}
	}
	stats, err := h.d.StatsFor(ctx, s.Workspace)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	overall := stats.Overall
	if s.Workspace == "" {
		// The default workspace's Stats cover every workspace: add up its webhooks' own.
		overall = sumHealth(stats, subs)
	}
	if overall.Attempts > 0 || overall.Pending+overall.Held > 0 {
		hv := healthViewOf(overall)
		v.Health = &hv
	}
	h.render(w, r, s, http.StatusOK, "dashboard", layout{Title: "Webhooks", Nav: "webhooks", Notice: noticeOf(r), Page: v})
}

// webhookView is a webhook's own page: status, health, recent deliveries, tests.
type webhookView struct {
	Sub        subView
	Health     *healthView // nil before the first attempt
	Chart      *chartView  // nil before the first attempt
	Deliveries []deliveryView
	Older      string // the cursor of the next page, when there is one
	Paged      bool   // not the first page
	Report     *reportView
	TestTypes  []string
	Recover    []choice
}

// choice is an option of a select or a radio group.
type choice struct {
	Value    string
	Label    string
	Selected bool
}

// recoverPeriods are the choices of "Recover failures since…".
var recoverPeriods = []struct {
	value string
	label string
	d     time.Duration
}{
	{"1h", "1 hour ago", time.Hour},
	{"6h", "6 hours ago", 6 * time.Hour},
	{"24h", "24 hours ago", 24 * time.Hour},
	{"72h", "3 days ago", 72 * time.Hour},
	{"168h", "7 days ago", 7 * 24 * time.Hour},
}

func (h *handler) show(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	sub, err := h.subscription(ctx, s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	before := r.URL.Query().Get("before")
	if before != "" {
		// The cursor is one of this webhook's deliveries; any other is not found, so that
		// a page never tells whether another workspace's delivery exists.
		del, err := h.d.Delivery(ctx, before)
		if err != nil || del.Workspace != s.Workspace || del.SubscriptionID != sub.ID {
			h.notFound(w, r, s)
			return
		}
	}
	h.showPage(w, r, s, sub, nil, before)
}

// showPage renders a webhook's page; report is the answer of a test just sent, if any.
func (h *handler) showPage(w http.ResponseWriter, r *http.Request, s session, sub webhook.Subscription, report *reportView, before string) {
	ctx := r.Context()
	now := time.Now()
	v := webhookView{Sub: viewOf(sub, now), Report: report, TestTypes: h.d.Catalog().Expand(sub.Events...), Paged: before != ""}
	for i, p := range recoverPeriods {
		v.Recover = append(v.Recover, choice{Value: p.value, Label: p.label, Selected: i == 2})
	}
	page, err := h.d.Deliveries(ctx, webhook.DeliveryQuery{Workspace: s.Workspace, SubscriptionID: sub.ID, Limit: deliveriesPerPage, Before: before})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	for _, d := range page {
		v.Deliveries = append(v.Deliveries, deliveryViewOf(d, v.Sub.Active))
	}
	if len(page) == deliveriesPerPage {
		v.Older = page[len(page)-1].ID
	}
	recent := page
	if before != "" || len(page) == deliveriesPerPage {
		recent, err = h.d.Deliveries(ctx, webhook.DeliveryQuery{Workspace: s.Workspace, SubscriptionID: sub.ID, Limit: chartDeliveries})
		if err != nil {
			h.fail(w, r, s, err)
			return
		}
	}
	v.Chart = newChart(recent, now)
	stats, err := h.d.StatsFor(ctx, s.Workspace)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	if hs, ok := stats.Subscriptions[sub.ID]; ok && (hs.Attempts > 0 || hs.Pending+hs.Held > 0) {
		hv := healthViewOf(hs)
		v.Health = &hv
	}
	h.render(w, r, s, http.StatusOK, "webhook", layout{Title: v.Sub.Name, Nav: "webhooks", Notice: noticeOf(r), Page: v})
}

// eventsView is the event catalog: every type, its description and a sample payload.
type eventsView struct {
	Groups []catalogGroup
}

func (h *handler) events(w http.ResponseWriter, r *http.Request, s session) {
	v := eventsView{Groups: groupCatalog(h.d.Catalog())}
	h.render(w, r, s, http.StatusOK, "events", layout{Title: "Event catalog", Nav: "events", Page: v})
}

// deleteView is the confirmation step of Delete.
type deleteView struct {
	Sub subView
}

func (h *handler) deleteConfirm(w http.ResponseWriter, r *http.Request, s session) {
	sub, err := h.subscription(r.Context(), s, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.render(w, r, s, http.StatusOK, "delete", layout{Title: "Delete webhook", Nav: "webhooks", Page: deleteView{Sub: viewOf(sub, time.Now())}})
}
