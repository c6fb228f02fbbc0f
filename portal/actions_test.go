package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
)

// TestSendTest: Send Test sends each of the webhook's types (or the one chosen), signed
// with its secret, and the answer shows each result.
func TestSendTest(t *testing.T) {
	e := newEnv(t)
	sub := e.subscribe("shop_1", "Books", "order.created", "order.cancelled")
	e.recv.answer(http.StatusAccepted, "thanks from the receiver")

	r := e.post("shop_1", "webhooks/"+sub.ID+"/test", nil)
	require.Equal(t, 200, r.Status, r.Body)
	assert.Contains(t, r.Body, "Test succeeded: 2 of 2 succeeded")
	assert.Contains(t, r.Body, "<code>order.created</code>")
	assert.Contains(t, r.Body, "<code>order.cancelled</code>")
	assert.Contains(t, r.Body, "thanks from the receiver")
	got := e.recv.requests()
	require.Len(t, got, 2)
	for _, req := range got {
		assert.NoError(t, webhook.Verify(sub.Secret, req.Header, req.Body), "signed with the webhook's secret")
		assert.Equal(t, "hdr-value-Books", req.Header.Get("X-Api-Key"))
	}

	e.recv.answer(http.StatusServiceUnavailable, "down for maintenance")
	r = e.post("shop_1", "webhooks/"+sub.ID+"/test", url.Values{"type": {"order.cancelled"}})
	require.Equal(t, 200, r.Status)
	assert.Contains(t, r.Body, "Test failed: 0 of 1 succeeded")
	assert.Contains(t, r.Body, "503")
	assert.Contains(t, r.Body, "down for maintenance")
	assert.Len(t, e.recv.requests(), 3)

	r = e.post("shop_1", "webhooks/"+sub.ID+"/test", url.Values{"type": {"product.created"}})
	assert.Equal(t, http.StatusBadRequest, r.Status, "a type the webhook does not receive")
	assert.Len(t, e.recv.requests(), 3)

	// The tests are in Recent Deliveries, marked as tests, and left out of the health.
	page := e.get("shop_1", "webhooks/"+sub.ID).Body
	assert.Equal(t, 3, strings.Count(page, `<span class="tag">test</span>`))
	assert.Contains(t, page, "No deliveries yet: figures appear after the first attempt.")
}

// TestStatusAndDelete: deactivate from the list's menu turns the dot gray with the
// reason on the webhook's page; activate turns it green; delete goes through its
// confirmation step.
func TestStatusAndDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sub := e.subscribe("shop_1", "Books")
	row := regexp.MustCompile(`(?s)<tr data-id="` + sub.ID + `">.*?</tr>`)

	assert.Contains(t, row.FindString(e.get("shop_1", "").Body), `class="status active"`)
	r := e.post("shop_1", "webhooks/"+sub.ID+"/deactivate", url.Values{"next": {"list"}})
	require.Equal(t, http.StatusSeeOther, r.Status)
	list := e.get("shop_1", "?"+r.Location.RawQuery)
	assert.Contains(t, list.Body, "Webhook deactivated.")
	assert.Contains(t, row.FindString(list.Body), `class="status inactive"`)
	got, err := e.d.Subscription(ctx, sub.ID)
	require.NoError(t, err)
	assert.Equal(t, webhook.StatusInactive, got.Status)
	assert.Contains(t, e.get("shop_1", "webhooks/"+sub.ID).Body, "deactivated in the portal")
	assert.NotContains(t, e.get("shop_1", "?status=active").Body, `data-id="`+sub.ID+`"`)
	assert.Contains(t, e.get("shop_1", "?status=inactive").Body, `data-id="`+sub.ID+`"`)

	r = e.post("shop_1", "webhooks/"+sub.ID+"/activate", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Contains(t, row.FindString(e.get("shop_1", "").Body), `class="status active"`)

	confirm := e.get("shop_1", "webhooks/"+sub.ID+"/delete")
	require.Equal(t, 200, confirm.Status)
	assert.Contains(t, confirm.Body, "This cannot be undone")
	_, err = e.d.Subscription(ctx, sub.ID)
	require.NoError(t, err, "asking is not deleting")
	r = e.post("shop_1", "webhooks/"+sub.ID+"/delete", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, "done=deleted", r.Location.RawQuery)
	_, err = e.d.Subscription(ctx, sub.ID)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	list = e.get("shop_1", "?done=deleted")
	assert.Contains(t, list.Body, "Webhook deleted.")
	assert.Contains(t, list.Body, "No webhooks yet")
}

// TestRecoverAndRedeliver: failed deliveries are sent again, all since a time or one by
// one, and the page says how many.
func TestRecoverAndRedeliver(t *testing.T) {
	e := newEnv(t, oneAttempt)
	ctx := context.Background()
	sub := e.subscribe("shop_1", "Books")
	e.recv.answer(http.StatusBadGateway, "bad gateway")
	for range 2 {
		_, err := e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_1"}, webhook.InWorkspace("shop_1"))
		require.NoError(t, err)
		require.Equal(t, webhook.OutcomeGaveUp, e.waitAttempt(sub.ID).Attempt.Outcome)
	}
	page := e.get("shop_1", "webhooks/"+sub.ID).Body
	assert.Equal(t, 2, strings.Count(page, ">Redeliver</button>"))
	assert.Contains(t, page, "bad gateway")
	assert.Contains(t, page, "Server errors (5xx): <strong>2</strong>")
	assert.Contains(t, page, "The last 2 attempts failed")

	e.recv.answer(http.StatusOK, "ok now")
	r := e.post("shop_1", "webhooks/"+sub.ID+"/recover", url.Values{"since": {"1h"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "done=recovered&n=2", r.Location.RawQuery)
	for range 2 {
		assert.Equal(t, webhook.OutcomeSucceeded, e.waitAttempt(sub.ID).Attempt.Outcome)
	}
	assert.Contains(t, e.get("shop_1", "webhooks/"+sub.ID+"?"+r.Location.RawQuery).Body, "2 failed deliveries will be sent again now.")
	r = e.post("shop_1", "webhooks/"+sub.ID+"/recover", url.Values{"since": {"1h"}})
	assert.Equal(t, "done=recovered&n=0", r.Location.RawQuery)
	assert.Equal(t, http.StatusBadRequest, e.post("shop_1", "webhooks/"+sub.ID+"/recover", url.Values{"since": {"forever"}}).Status)

	dels, err := e.d.Deliveries(ctx, webhook.DeliveryQuery{SubscriptionID: sub.ID})
	require.NoError(t, err)
	require.Len(t, dels, 2)
	r = e.post("shop_1", "webhooks/"+sub.ID+"/deliveries/"+dels[0].ID+"/redeliver", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, "done=redelivered", r.Location.RawQuery)
	assert.Equal(t, webhook.OutcomeSucceeded, e.waitAttempt(sub.ID).Attempt.Outcome)
	del, err := e.d.Delivery(ctx, dels[0].ID)
	require.NoError(t, err)
	assert.Len(t, del.Attempts, 3)

	require.NoError(t, e.d.Deactivate(ctx, sub.ID, "paused"))
	r = e.post("shop_1", "webhooks/"+sub.ID+"/deliveries/"+dels[0].ID+"/redeliver", nil)
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.Body, "Activate it first")
	assert.NotContains(t, e.get("shop_1", "webhooks/"+sub.ID).Body, ">Redeliver</button>")
}

// TestRedeliverTooManyAttempts: a delivery that holds MaxDeliveryAttempts attempts is not
// sent again, and the page says why.
func TestRedeliverTooManyAttempts(t *testing.T) {
	e := newEnv(t, oneAttempt)
	sub, del := e.deliveredToTheLimit("shop_1", "Books")
	sent := len(e.recv.requests())

	r := e.post("shop_1", "webhooks/"+sub.ID+"/deliveries/"+del+"/redeliver", nil)
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.Body, "Delivery not sent again")
	assert.Contains(t, r.Body, fmt.Sprintf("attempted %d times or more", webhook.MaxDeliveryAttempts))
	assert.Contains(t, r.Body, "sent again as a new event")
	assert.Contains(t, r.Body, "webhooks/"+sub.ID+`">Back to the webhook</a>`)
	assert.Len(t, e.recv.requests(), sent, "nothing sent")
}

// TestWebhookPage: status and reason, health with its chart, and Recent Deliveries newest
// first with their attempts, in pages.
func TestWebhookPage(t *testing.T) {
	e := newEnv(t, oneAttempt)
	ctx := context.Background()
	sub := e.subscribe("shop_1", "Books")
	var events []string
	for i := range deliveriesPerPage + 2 {
		if i == deliveriesPerPage+1 {
			e.recv.answer(http.StatusGone, "gone for good")
		}
		ev, err := e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_" + string(rune('a'+i))}, webhook.InWorkspace("shop_1"))
		require.NoError(t, err)
		e.waitAttempt(sub.ID)
		events = append(events, ev.ID)
	}
	page := e.get("shop_1", "webhooks/"+sub.ID).Body
	assert.Contains(t, page, `class="status inactive"`)
	assert.Contains(t, page, "endpoint answered 410 Gone")
	assert.Contains(t, page, `<svg viewBox=`)
	assert.Contains(t, page, `role="img"`)
	assert.Contains(t, page, "96.2%", "26 of 27 attempts succeeded")
	assert.Contains(t, page, "gone for good")
	// Newest first: the last event is listed before the one before it.
	last, prev := strings.Index(page, events[len(events)-1]), strings.Index(page, events[len(events)-2])
	require.Positive(t, last)
	require.Positive(t, prev)
	assert.Less(t, last, prev)
	assert.Equal(t, deliveriesPerPage, strings.Count(page, "<details data-delivery="))
	assert.NotContains(t, page, events[0], "the oldest are on the next page")

	older := regexp.MustCompile(`href="\?before=([^"]+)">Older deliveries`).FindStringSubmatch(page)
	require.NotNil(t, older)
	next := e.get("shop_1", "webhooks/"+sub.ID+"?before="+older[1]).Body
	assert.Equal(t, 2, strings.Count(next, "<details data-delivery="))
	assert.Contains(t, next, events[0])
	assert.Contains(t, next, "Newest deliveries")
}

// TestDashboardSearch: the search bar finds webhooks by resource, event, URL or name,
// alone or with the status filter.
func TestDashboardSearch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	orders := e.subscribe("shop_1", "Fulfilment", "order.created", "order.fulfilled")
	payments := e.subscribe("shop_1", "Accounting", "payment.*")
	everything := e.subscribe("shop_1", "Data lake", "*")
	require.NoError(t, e.d.Deactivate(ctx, everything.ID, "paused"))
	for _, tc := range []struct {
		q, status string
		want      []webhook.Subscription
	}{
		{"", "", []webhook.Subscription{orders, payments, everything}},
		{"order", "", []webhook.Subscription{orders, everything}},
		{"payment", "", []webhook.Subscription{payments, everything}},
		{"fulfilled", "", []webhook.Subscription{orders, everything}},
		{"order.created", "", []webhook.Subscription{orders, everything}},
		{"refunded", "", []webhook.Subscription{payments, everything}},
		{"hooks/Accounting", "", []webhook.Subscription{payments}},
		{"ACCOUNTING", "", []webhook.Subscription{payments}},
		{"order", "active", []webhook.Subscription{orders}},
		{"", "inactive", []webhook.Subscription{everything}},
		{"nothing-like-this", "", nil},
	} {
		body := e.get("shop_1", "?q="+url.QueryEscape(tc.q)+"&status="+tc.status).Body
		for _, s := range []webhook.Subscription{orders, payments, everything} {
			want := false
			for _, w := range tc.want {
				want = want || w.ID == s.ID
			}
			assert.Equal(t, want, strings.Contains(body, `data-id="`+s.ID+`"`), "q=%q status=%q: %s", tc.q, tc.status, s.Name)
		}
		if tc.want == nil {
			assert.Contains(t, body, "No webhooks match")
		}
	}
}

func TestChart(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	assert.Nil(t, newChart(nil, now))
	att := func(ago time.Duration, ok bool, d time.Duration) webhook.Attempt {
		a := webhook.Attempt{SentAt: now.Add(-ago), Duration: d, Outcome: webhook.OutcomeRetry}
		if ok {
			a.Outcome = webhook.OutcomeSucceeded
		}
		return a
	}
	dels := []webhook.Delivery{
		{Attempts: []webhook.Attempt{att(50*time.Minute, false, 300*time.Millisecond), att(49*time.Minute, true, 100*time.Millisecond)}},
		{Attempts: []webhook.Attempt{att(5*time.Minute, true, 20*time.Millisecond)}},
		{Test: true, Attempts: []webhook.Attempt{att(time.Minute, true, time.Second)}},
	}
	assert.Nil(t, newChart(dels[2:], now), "tests are not charted")
	c := newChart(dels, now)
	require.NotNil(t, c)
	assert.Equal(t, 3, c.Attempts)
	assert.Equal(t, 2, c.Succeeded)
	assert.Equal(t, 1, c.Failed)
	assert.Equal(t, "200 ms", c.MaxTime, "the slowest bucket's mean")
	assert.Equal(t, 2, c.MaxCount)
	assert.False(t, c.From.After(now.Add(-time.Hour)), "at least an hour: %s", c.From)
	assert.Equal(t, now, c.To)
	assert.Len(t, c.Bars, chartBuckets)
	var ok, fail float64
	for _, b := range c.Bars {
		assert.GreaterOrEqual(t, b.OKY, c.Top-0.01)
		assert.LessOrEqual(t, b.OKY+b.OKH, c.Bottom+0.01)
		ok += b.OKH
		fail += b.FailH
	}
	assert.InDelta(t, c.PlotH, ok, 0.01, "two successes, the top of the scale")
	assert.InDelta(t, c.PlotH/2, fail, 0.01)
	assert.Len(t, c.Dots, 2)
	assert.NotEmpty(t, c.Line)
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 ms", 400 * time.Microsecond: "0.4 ms", 87 * time.Millisecond: "87 ms", 1200 * time.Millisecond: "1.2 s", 3 * time.Minute: "3m0s",
	} {
		assert.Equal(t, want, formatDuration(d))
	}
	for f, want := range map[float64]string{0: "0%", 1: "100%", 0.9996: "99.9%", 0.5: "50%", 0.123: "12.3%"} {
		assert.Equal(t, want, formatPercent(f))
	}
	assert.Equal(t, []eventLine{{"order", "created, all events"}, {"all", "all events"}}, eventLines([]string{"order.created", "order.*", "*"}))
}
