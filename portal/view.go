package portal

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// subView is a subscription as every page shows it. It is built by viewOf alone, from the
// redacted subscription, so no secret or header value can reach a page through it.
type subView struct {
	ID              string
	Name            string // the name, or the URL's host when it has none
	URL             string
	Events          []string
	Lines           []eventLine // the events by resource, for the dashboard's columns
	Active          bool
	StatusReason    string
	StatusChangedAt time.Time
	Format          string
	FormatLabel     string
	WhileInactive   string
	PolicyLabel     string
	HeaderNames     []string
	HasSecret       bool
	// PreviousSecretUntil is when the rotated-out secret stops signing; zero when none does.
	PreviousSecretUntil time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// eventLine is one resource of a subscription's events: "order" with "created, updated".
type eventLine struct {
	Resource string
	Actions  string
}

// viewOf builds the page view of a subscription.
func viewOf(sub webhook.Subscription, now time.Time) subView {
	hasSecret := sub.Secret != ""
	previous := sub.PreviousSecret != "" && now.Before(sub.PreviousSecretExpiresAt)
	r := sub.Redacted()
	v := subView{
		ID:              r.ID,
		Name:            displayName(r),
		URL:             r.URL,
		Events:          slices.Clone(r.Events),
		Lines:           eventLines(r.Events),
		Active:          r.Status == webhook.StatusActive,
		StatusReason:    r.StatusReason,
		StatusChangedAt: r.StatusChangedAt,
		Format:          string(r.Format),
		FormatLabel:     formatLabel(r.Format),
		WhileInactive:   string(r.WhileInactive),
		PolicyLabel:     policyLabel(r.WhileInactive),
		HeaderNames:     slices.Sorted(maps.Keys(r.Headers)),
		HasSecret:       hasSecret,
		CreatedAt:       r.CreatedAt,
		UpdatedAt:       r.UpdatedAt,
	}
	if previous {
		v.PreviousSecretUntil = sub.PreviousSecretExpiresAt
	}
	return v
}

// displayName is what a list calls a webhook: its name, or its URL's host.
func displayName(sub webhook.Subscription) string {
	if strings.TrimSpace(sub.Name) != "" {
		return sub.Name
	}
	if u, err := url.Parse(sub.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return sub.ID
}

// eventLines groups event patterns by resource: "order.created", "order.updated" and
// "payment.*" become order: "created, updated" and payment: "all events".
func eventLines(patterns []string) []eventLine {
	var order []string
	acts := make(map[string][]string)
	for _, p := range patterns {
		res, act, ok := strings.Cut(p, ".")
		if p == "*" || !ok {
			res, act = "all", "*"
		}
		if _, seen := acts[res]; !seen {
			order = append(order, res)
		}
		if act == "*" {
			act = "all events"
		}
		acts[res] = append(acts[res], act)
	}
	out := make([]eventLine, 0, len(order))
	for _, res := range order {
		out = append(out, eventLine{Resource: res, Actions: strings.Join(acts[res], ", ")})
	}
	return out
}

func formatLabel(f webhook.Format) string {
	switch f {
	case webhook.FormatXML:
		return "XML (POST)"
	case webhook.FormatQuery:
		return "GET with query parameters"
	default:
		return "JSON (POST)"
	}
}

func policyLabel(p webhook.InactivePolicy) string {
	if p == webhook.InactiveHold {
		return "Queued, and sent once it is active again"
	}
	return "Discarded"
}

// resourceLabel names a resource's group of event types: "order" is "Order events".
func resourceLabel(res string) string {
	if res == "" {
		return "Events"
	}
	r := []rune(res)
	r[0] = unicode.ToUpper(r[0])
	return strings.ReplaceAll(string(r), "_", " ") + " events"
}

// matches reports whether a subscription answers the dashboard's search: q (any case)
// is found in its name or URL, or in the name of an event type it receives ("order",
// "created", "order.created", "fulfil": resource, action, type or a part of one), or in
// one of its event patterns.
func matches(sub webhook.Subscription, q string, cat *eventtypes.Catalog) bool {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return true
	}
	if strings.Contains(strings.ToLower(sub.Name), q) || strings.Contains(strings.ToLower(sub.URL), q) {
		return true
	}
	for _, p := range sub.Events {
		if strings.Contains(strings.ToLower(p), q) {
			return true
		}
	}
	for _, t := range cat.Expand(sub.Events...) {
		if strings.Contains(t, q) {
			return true
		}
	}
	return false
}

// catalogGroup is one resource's event types, for the catalog page and the forms.
type catalogGroup struct {
	Resource string
	Label    string
	Types    []catalogType
}

type catalogType struct {
	Name        string
	Action      string
	Description string
	Sample      string // indented JSON
}

// groupCatalog returns the catalog's types by resource, resources and types sorted.
func groupCatalog(c *eventtypes.Catalog) []catalogGroup {
	var out []catalogGroup
	for _, t := range c.All() {
		if len(out) == 0 || out[len(out)-1].Resource != t.Resource {
			out = append(out, catalogGroup{Resource: t.Resource, Label: resourceLabel(t.Resource)})
		}
		var sample bytes.Buffer
		if err := json.Indent(&sample, t.Sample, "", "  "); err != nil {
			sample.Reset()
			sample.Write(t.Sample)
		}
		g := &out[len(out)-1]
		g.Types = append(g.Types, catalogType{Name: t.Name, Action: t.Action, Description: t.Description, Sample: sample.String()})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out
}

// deliveryView is one delivery of a webhook's Recent Deliveries.
type deliveryView struct {
	ID            string
	EventID       string
	EventType     string
	State         string
	Test          bool
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      []attemptView // newest first
	Last          *attemptView
	CanRedeliver  bool
}

type attemptView struct {
	Number     int
	SentAt     time.Time
	Duration   time.Duration
	StatusCode int
	Response   string
	Truncated  bool
	Error      string
	Outcome    string
	OK         bool
}

// responseExcerpt is how much of a response body a page shows.
const responseExcerpt = 2048

func deliveryViewOf(d webhook.Delivery, subActive bool) deliveryView {
	v := deliveryView{
		ID: d.ID, EventID: d.EventID, EventType: d.EventType, State: string(d.State), Test: d.Test,
		CreatedAt: d.CreatedAt, NextAttemptAt: d.NextAttemptAt,
		CanRedeliver: subActive && !d.Test && d.State.Final(),
	}
	for i := len(d.Attempts) - 1; i >= 0; i-- {
		a := d.Attempts[i]
		body, cut := a.ResponseBody, false
		if len(body) > responseExcerpt {
			body, cut = strings.ToValidUTF8(body[:responseExcerpt], ""), true
		}
		v.Attempts = append(v.Attempts, attemptView{
			Number: a.Number, SentAt: a.SentAt, Duration: a.Duration, StatusCode: a.StatusCode,
			Response: body, Truncated: cut, Error: a.Error, Outcome: outcomeLabel(a.Outcome), OK: a.Succeeded(),
		})
	}
	if len(v.Attempts) > 0 {
		v.Last = &v.Attempts[0]
	}
	return v
}

func outcomeLabel(o webhook.Outcome) string {
	switch o {
	case webhook.OutcomeSucceeded:
		return "succeeded"
	case webhook.OutcomeRetry:
		return "failed, retry scheduled"
	case webhook.OutcomeGaveUp:
		return "failed, gave up"
	case webhook.OutcomeDeactivated:
		return "failed, webhook deactivated"
	case webhook.OutcomeUnsubscribed:
		return "receiver asked to unsubscribe; webhook deleted"
	case webhook.OutcomeFailed:
		return "failed"
	}
	return string(o)
}

// healthView is a webhook's or a workspace's health figures.
type healthView struct {
	Attempts     int64
	Succeeded    int64
	Failed       int64
	SuccessRate  float64
	Mean         time.Duration
	P50          time.Duration
	P95          time.Duration
	P99          time.Duration
	Errors       []errorCount
	Pending      int64
	Held         int64
	FailingCount int64
	FailingSince time.Time
}

type errorCount struct {
	Kind  string
	Count int64
}

// sumHealth is the health of the webhooks subs, from their figures in stats: what the
// dashboard shows of a workspace whose Stats cover other workspaces too (the default
// workspace's). Counts and queue depths are added up, the success rate is taken of the
// sums, and the mean response time is the webhooks' means weighted by their attempts;
// percentiles and the failure run, which do not add up, are left out. The figures of
// deleted webhooks, which a named workspace's Stats keep, are not in it.
func sumHealth(stats webhook.Stats, subs []webhook.Subscription) webhook.Health {
	var sum webhook.Health
	var weighted float64
	for _, sub := range subs {
		h, ok := stats.Subscriptions[sub.ID]
		if !ok {
			continue
		}
		sum.Attempts += h.Attempts
		sum.Succeeded += h.Succeeded
		sum.Failed += h.Failed
		sum.DeliveriesSucceeded += h.DeliveriesSucceeded
		sum.DeliveriesFailed += h.DeliveriesFailed
		sum.Pending += h.Pending
		sum.Held += h.Held
		weighted += float64(h.MeanResponse) * float64(h.Attempts)
		for k, n := range h.ErrorsByKind {
			if sum.ErrorsByKind == nil {
				sum.ErrorsByKind = make(map[webhook.ErrorKind]int64)
			}
			sum.ErrorsByKind[k] += n
		}
	}
	if sum.Attempts > 0 {
		sum.SuccessRate = float64(sum.Succeeded) / float64(sum.Attempts)
		sum.MeanResponse = time.Duration(weighted / float64(sum.Attempts))
	}
	return sum
}

func healthViewOf(h webhook.Health) healthView {
	v := healthView{
		Attempts: h.Attempts, Succeeded: h.Succeeded, Failed: h.Failed, SuccessRate: h.SuccessRate,
		Mean: h.MeanResponse, P50: h.P50Response, P95: h.P95Response, P99: h.P99Response,
		Pending: h.Pending, Held: h.Held, FailingCount: h.Failing.Count, FailingSince: h.Failing.Since,
	}
	for k, n := range h.ErrorsByKind {
		v.Errors = append(v.Errors, errorCount{Kind: errorKindLabel(k), Count: n})
	}
	sort.Slice(v.Errors, func(i, j int) bool {
		if v.Errors[i].Count != v.Errors[j].Count {
			return v.Errors[i].Count > v.Errors[j].Count
		}
		return v.Errors[i].Kind < v.Errors[j].Kind
	})
	return v
}

func errorKindLabel(k webhook.ErrorKind) string {
	switch k {
	case webhook.ErrorTimeout:
		return "Timeouts"
	case webhook.ErrorConnection:
		return "Connection errors"
	case webhook.ErrorTLS:
		return "TLS errors"
	case webhook.ErrorRefused:
		return "Refused destinations"
	case webhook.ErrorRedirect:
		return "Redirects (3xx)"
	case webhook.ErrorClient:
		return "Client errors (4xx)"
	case webhook.ErrorServer:
		return "Server errors (5xx)"
	case webhook.ErrorUnsubscribe:
		return "Unsubscribe requests"
	}
	return "Other errors"
}

// reportView is the answer of Send Test.
type reportView struct {
	StartedAt time.Time
	Run       int
	Succeeded int
	Failed    int
	Tests     []testView
}

type testView struct {
	Type       string
	OK         bool
	StatusCode int
	Duration   time.Duration
	Error      string
	Response   string
}

func reportViewOf(rep webhook.TestReport) reportView {
	v := reportView{StartedAt: rep.StartedAt, Run: rep.TestsRun, Succeeded: rep.TestsSucceeded, Failed: rep.TestsFailed}
	for _, t := range rep.Tests {
		body := t.ResponseBody
		if len(body) > responseExcerpt {
			body = strings.ToValidUTF8(body[:responseExcerpt], "")
		}
		v.Tests = append(v.Tests, testView{Type: t.Type, OK: t.Succeeded, StatusCode: t.StatusCode, Duration: t.Duration, Error: t.Error, Response: body})
	}
	return v
}
