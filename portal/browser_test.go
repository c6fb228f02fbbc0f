package portal

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
)

// The browser tests drive Debian's Chromium headless through the portal, as a merchant
// would. One browser serves the whole test binary; each test has its own tab in its own
// browser context (its own cookies). Without Chromium they skip, except under CI=true,
// where they fail.

var (
	updateScreenshot = flag.Bool("update-screenshot", false, "write the README's dashboard screenshot (docs/portal-dashboard.png)")
	screenshotDir    = flag.String("screenshots", filepath.Join(os.TempDir(), "webhook-portal-screenshots"),
		"where the browser tests save their screenshots, a directory per test")
)

// readmeScreenshot is where the README's screenshot of the dashboard lives.
const readmeScreenshot = "../docs/portal-dashboard.png"

var errNoChromium = errors.New("no Chromium found (looked for $CHROMIUM, /usr/bin/chromium, chromium and chromium-browser on $PATH)")

var browser struct {
	once sync.Once
	ctx  context.Context
	stop func()
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if browser.stop != nil {
		browser.stop()
	}
	os.Exit(code)
}

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts the one browser of the test binary.
func startBrowser() {
	path := chromiumPath()
	if path == "" {
		browser.err = errNoChromium
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	browser.ctx = ctx
	browser.stop = func() { cancel(); cancelAlloc() }
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		browser.err = fmt.Errorf("starting %s: %w", path, err)
	}
}

// tab is a browser tab of one test, with helpers that fail the test on error.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// newTab opens a tab in a fresh browser context, or skips the test without Chromium.
func newTab(t *testing.T) *tab {
	t.Helper()
	browser.once.Do(startBrowser)
	if browser.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests must run under CI: %v", browser.err)
		}
		t.Skipf("skipping the browser test: %v; install Debian's chromium package to run it", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx)) // opens the tab
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return &tab{t: t, ctx: ctx}
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, steps...))
}

// open navigates and returns the HTTP status of the page.
func (b *tab) open(url string) int {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	require.NoError(b.t, err, url)
	return int(resp.Status)
}

// follow clicks something that loads a page (a link, a submit button) and returns the
// page's HTTP status.
func (b *tab) follow(sel string) int {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	require.NoError(b.t, err, "following %s", sel)
	return int(resp.Status)
}

func (b *tab) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// fill replaces the value of a field by typing into it.
func (b *tab) fill(sel, text string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel)),
		chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(b.t, err, sel)
	return s
}

func (b *tab) value(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	require.NoError(b.t, err, sel)
	return s
}

// evalIn evaluates JavaScript in the page, waiting for a promise's value.
func evalIn[T any](b *tab, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, js)
	return v
}

// waitFor waits until a JavaScript condition holds in the page.
func (b *tab) waitFor(js string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js))
	require.NoError(b.t, err, "waiting for %s", js)
}

// has reports whether an element matches sel now.
func (b *tab) has(sel string) bool {
	b.t.Helper()
	return evalIn[bool](b, fmt.Sprintf("document.querySelector(%q) !== null", sel))
}

// shot saves a screenshot of the whole page in the test's directory under -screenshots,
// and returns its path.
func (b *tab) shot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	dir := filepath.Join(*screenshotDir, strings.ReplaceAll(b.t.Name(), "/", "_"))
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
	return path
}

// shotOf saves a screenshot of one element, as shot does.
func (b *tab) shotOf(sel, name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	require.NoError(b.t, err)
	dir := filepath.Join(*screenshotDir, strings.ReplaceAll(b.t.Name(), "/", "_"))
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// signIn opens a sign-in link for workspace and presses its button.
func (b *tab) signIn(e *testEnv, workspace string) {
	b.t.Helper()
	link, err := e.linker.Link(workspace, 5*time.Minute)
	require.NoError(b.t, err)
	require.Equal(b.t, 200, b.open(e.app.URL+link))
	require.Equal(b.t, 200, b.follow(`form[action="./login"] button`))
	require.Equal(b.t, "Webhooks", b.text("h1"))
}

// rowSel selects the dashboard row of a webhook.
func rowSel(id string) string { return fmt.Sprintf(`tr[data-id=%q]`, id) }

// TestBrowserWebhookLifecycle is a merchant's whole round: create a webhook through the
// form (after a refused URL), find it in the list and by search, send a test, see a real
// delivery with its response in Recent Deliveries, deactivate it, delete it.
func TestBrowserWebhookLifecycle(t *testing.T) {
	b := newTab(t)
	e := newEnv(t)
	ctx := context.Background()
	b.signIn(e, "shop_42")
	assert.Contains(t, b.text("main"), "No webhooks yet")

	// Create, first with a URL the dispatcher refuses.
	require.Equal(t, 200, b.follow(`a.button.primary[href$="webhooks/new"]`))
	b.fill("#name", "Fulfilment")
	b.fill("#url", "ftp://fulfil.example.com/hooks")
	b.click("#ev-order-created")
	b.click("#ev-order-fulfilled")
	b.fill("#hn-0", "X-Api-Key")
	b.fill("#hv-0", "browser-header-value")
	b.click("button[data-add-header]") // a second header row, by script
	b.fill("#hn-1", "X-Shop")
	b.fill("#hv-1", "second-header-value")
	assert.Equal(t, "hn-1", evalIn[string](b, `document.querySelector('label[for="hn-1"]').htmlFor`), "the new row's labels follow its fields")
	b.click("#format-json")
	require.Equal(t, 422, b.follow(`form.stack button[type=submit]`))
	assert.Contains(t, b.text("#url-error"), "must be an http or https URL")
	assert.Equal(t, "true", evalIn[string](b, `document.querySelector("#url").getAttribute("aria-invalid")`))
	assert.True(t, evalIn[bool](b, `document.querySelector("#ev-order-fulfilled").checked`), "the choices are kept")
	assert.Equal(t, "X-Api-Key", b.value("#hn-0"))
	assert.Empty(t, b.value("#hv-0"), "header values are never sent back")
	assert.Contains(t, b.text("fieldset.headers"), "Type the new header values again")
	b.shot("01-form-refused")

	receiverURL := e.recv.srv.URL + "/fulfil"
	b.fill("#url", receiverURL)
	b.fill("#hv-0", "browser-header-value")
	assert.Equal(t, "X-Shop", b.value("#hn-1"))
	b.fill("#hv-1", "second-header-value")
	require.Equal(t, 201, b.follow(`form.stack button[type=submit]`))
	assert.Equal(t, "Webhook created", b.text("h1"))
	secret := b.value("#secret")
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	assert.True(t, evalIn[bool](b, `!document.querySelector("button[data-copy]").hidden`), "the copy button shows with JavaScript")
	b.click("button[data-copy]")
	b.waitFor(`document.querySelector("[data-copied]").textContent !== ""`) // the clipboard answers later
	assert.Equal(t, "Copied to the clipboard.", b.text("[data-copied]"))
	b.shot("02-created")

	subs, err := e.d.Subscriptions(ctx, webhook.Filter{Workspace: "shop_42"})
	require.NoError(t, err)
	require.Len(t, subs, 1)
	sub := subs[0]
	assert.Equal(t, secret, sub.Secret, "the page showed the stored secret")
	assert.Equal(t, []string{"order.created", "order.fulfilled"}, sub.Events)
	assert.Equal(t, map[string]string{"X-Api-Key": "browser-header-value", "X-Shop": "second-header-value"}, sub.Headers)

	// The list, and search.
	require.Equal(t, 200, b.follow(`a[href="../"].button`))
	row := rowSel(sub.ID)
	require.True(t, b.has(row))
	assert.Contains(t, b.text(row), receiverURL)
	assert.Contains(t, b.text(row+` td[data-label="Resource"]`), "order")
	assert.Contains(t, b.text(row+` td[data-label="Event"]`), "created, fulfilled")
	assert.Contains(t, b.text(row+` td[data-label="Status"]`), "Active")
	b.shot("03-dashboard")
	for _, q := range []string{"fulfilled", "order", "/fulfil", "Fulfilment", "127.0.0.1"} {
		b.fill("#q", q)
		require.Equal(t, 200, b.follow(`form.filters button[type=submit]`))
		assert.True(t, b.has(row), "search %q finds it", q)
	}
	b.fill("#q", "refunded")
	require.Equal(t, 200, b.follow(`form.filters button[type=submit]`))
	assert.False(t, b.has(row))
	assert.Contains(t, b.text("main"), "No webhooks match")
	require.Equal(t, 200, b.follow(`form.filters a.button`)) // Clear
	// The status filter applies on change, by script (SetValue fires "change").
	_, err = chromedp.RunResponse(b.ctx, chromedp.SetValue(chromedp.CSS("#status"), "inactive"))
	require.NoError(t, err)
	assert.Contains(t, evalIn[string](b, "location.search"), "status=inactive")
	assert.False(t, b.has(row))
	require.Equal(t, 200, b.follow(`form.filters a.button`))

	// Send Test from the ⋮ menu.
	e.recv.answer(200, `{"received":true,"by":"fulfilment"}`)
	b.click(row + " details.menu summary")
	require.Equal(t, 200, b.follow(row+` form[action$="/test"] button`))
	report := b.text("#test-report")
	assert.Contains(t, report, "Test succeeded: 2 of 2 succeeded")
	assert.Contains(t, report, "order.fulfilled")
	assert.Contains(t, report, `{"received":true,"by":"fulfilment"}`)
	for _, got := range e.recv.requests() {
		require.NoError(t, webhook.Verify(secret, got.Header, got.Body), "the test was signed with the secret the page showed")
		assert.Equal(t, "browser-header-value", got.Header.Get("X-Api-Key"))
	}
	b.shot("04-test-sent")

	// A real delivery, in Recent Deliveries with its response.
	e.recv.answer(200, `{"received":"order ord_77"}`)
	ev, err := e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_77"}, webhook.InWorkspace("shop_42"))
	require.NoError(t, err)
	e.waitAttempt(sub.ID)
	require.Equal(t, 200, b.open(e.base+"webhooks/"+sub.ID))
	delivery := `details:has(code)`
	first := `ol.deliveries > li:first-child details`
	assert.Contains(t, b.text(first+" summary"), "order.created")
	assert.NotContains(t, b.text(first+" summary"), "test", "the newest is the real one")
	assert.False(t, evalIn[bool](b, `document.querySelector("ol.deliveries > li:first-child details").open`))
	b.click(first + " summary")
	assert.True(t, evalIn[bool](b, `document.querySelector("ol.deliveries > li:first-child details").open`))
	body := b.text(first + " .delivery-body")
	assert.Contains(t, body, ev.ID)
	assert.Contains(t, body, `{"received":"order ord_77"}`)
	assert.Contains(t, body, "succeeded")
	assert.True(t, b.has(delivery))
	assert.True(t, b.has("figure.chart svg rect.ok"), "the chart shows the success")
	assert.Contains(t, b.text("dl.figures"), "100%")
	b.shot("05-webhook-page")

	// Deactivate from the list: the dot turns gray.
	require.Equal(t, 200, b.open(e.base))
	b.click(row + " details.menu summary")
	require.Equal(t, 200, b.follow(row+` form[action$="/deactivate"] button`))
	assert.Contains(t, b.text(".notice"), "Webhook deactivated.")
	assert.Contains(t, b.text(row+` td[data-label="Status"]`), "Inactive")
	dot := evalIn[string](b, fmt.Sprintf(`getComputedStyle(document.querySelector(%q)).backgroundColor`, row+" .dot"))
	assert.Equal(t, "rgb(156, 163, 175)", dot, "gray")
	b.shot("06-deactivated")

	// Delete, through the confirmation.
	b.click(row + " details.menu summary")
	require.Equal(t, 200, b.follow(row+` a.danger`))
	assert.Equal(t, "Delete webhook", b.text("h1"))
	_, err = e.d.Subscription(ctx, sub.ID)
	require.NoError(t, err, "the confirmation page deletes nothing")
	b.shot("07-delete-confirmation")
	require.Equal(t, 200, b.follow(`form[action$="/delete"] button.danger`))
	assert.Contains(t, b.text(".notice"), "Webhook deleted.")
	assert.False(t, b.has(row))
	_, err = e.d.Subscription(ctx, sub.ID)
	assert.Error(t, err)
}

// TestBrowserWorkspaceIsolation: a session for workspace A neither reads nor changes
// workspace B's pages, even with B's IDs and its own cookie.
func TestBrowserWorkspaceIsolation(t *testing.T) {
	a := newTab(t)
	e := newEnv(t)
	ctx := context.Background()
	mine := e.subscribe("shop_a", "Mine")
	theirs := e.subscribe("shop_b", "Theirs")
	a.signIn(e, "shop_a")
	assert.True(t, a.has(rowSel(mine.ID)))
	assert.False(t, a.has(rowSel(theirs.ID)))
	assert.NotContains(t, a.text("main"), theirs.URL)

	for _, p := range []string{"webhooks/" + theirs.ID, "webhooks/" + theirs.ID + "/edit", "webhooks/" + theirs.ID + "/delete"} {
		assert.Equal(t, 404, a.open(e.base+p), p)
		assert.Equal(t, "Not found", a.text("h1"), p)
		assert.NotContains(t, a.text("main"), theirs.URL)
	}
	a.shot("other-workspace-404")

	// Same-origin requests with A's cookie, aimed at B's webhook, change nothing.
	require.Equal(t, 200, a.open(e.base))
	for _, action := range []string{"delete", "deactivate", "test", "rotate-secret", "edit"} {
		status := evalIn[int](a, fmt.Sprintf(`fetch(%q, {method: "POST", body: new URLSearchParams({overlap: "0", url: "https://evil.example/", events: "order.created"})}).then(r => r.status)`,
			"webhooks/"+theirs.ID+"/"+action))
		assert.Equal(t, 404, status, action)
	}
	after, err := e.d.Subscription(ctx, theirs.ID)
	require.NoError(t, err)
	assert.Equal(t, theirs.Secret, after.Secret)
	assert.Equal(t, theirs.URL, after.URL)
	assert.Equal(t, theirs.Status, after.Status)
	assert.Empty(t, e.recv.requests(), "no test was sent")

	// B's own session, in its own browser context, sees B's webhook and not A's.
	b := newTab(t)
	b.signIn(e, "shop_b")
	assert.True(t, b.has(rowSel(theirs.ID)))
	assert.False(t, b.has(rowSel(mine.ID)))
	// And A's tab is still A's.
	require.Equal(t, 200, a.open(e.base))
	assert.True(t, a.has(rowSel(mine.ID)))
}

// TestBrowserDefaultWorkspace: a session of the default workspace sees its own webhooks
// and health only, though other merchants' webhooks live in named workspaces.
func TestBrowserDefaultWorkspace(t *testing.T) {
	b := newTab(t)
	e := newEnv(t, oneAttempt)
	ctx := context.Background()
	mine := e.subscribe("", "Mine")
	theirs := e.subscribe("shop_b", "Theirs")
	_, err := e.d.Emit(ctx, "order.created", map[string]any{"id": "ord_b"}, webhook.InWorkspace("shop_b"))
	require.NoError(t, err)
	e.waitAttempt(theirs.ID)

	b.signIn(e, "")
	assert.True(t, b.has(rowSel(mine.ID)))
	assert.False(t, b.has(rowSel(theirs.ID)))
	assert.NotContains(t, b.text("main"), theirs.URL)
	assert.False(t, b.has("section.figures"), "no attempt of the default workspace yet")
	b.shot("default-workspace-dashboard")
}

// TestBrowserRedeliverRefused: Redeliver on a delivery that holds MaxDeliveryAttempts
// attempts explains why nothing is sent, with the way back.
func TestBrowserRedeliverRefused(t *testing.T) {
	b := newTab(t)
	e := newEnv(t, oneAttempt)
	sub, del := e.deliveredToTheLimit("shop_1", "Books")
	sent := len(e.recv.requests())

	b.signIn(e, "shop_1")
	require.Equal(t, 200, b.open(e.base+"webhooks/"+sub.ID))
	b.click(`details[data-delivery="` + del + `"] summary`)
	assert.Equal(t, 409, b.follow(`form[action$="/deliveries/`+del+`/redeliver"] button`))
	assert.Equal(t, "Delivery not sent again", b.text("h1"))
	assert.Contains(t, b.text("main"), "sent again as a new event")
	b.shot("redeliver-refused")
	assert.Equal(t, 200, b.follow(`main a[href$="webhooks/`+sub.ID+`"]`))
	assert.Len(t, e.recv.requests(), sent, "nothing sent")
}

// sampleNetwork answers webhooks as the endpoints of the README's screenshot would: each
// host its own status and response time.
type sampleNetwork struct{}

func (sampleNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	status, latency := http.StatusOK, 40*time.Millisecond
	switch {
	case strings.HasPrefix(r.URL.Host, "books."):
		status, latency = http.StatusServiceUnavailable, 900*time.Millisecond
	case strings.HasPrefix(r.URL.Host, "erp."):
		latency = 180 * time.Millisecond
	case strings.HasPrefix(r.URL.Host, "crm."):
		status = http.StatusGone
	}
	// A slow endpoint, simulated: the request takes its time, or ends with its context.
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	body := `{"ok":true}`
	if status != http.StatusOK {
		body = http.StatusText(status)
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r,
	}, nil
}

// TestBrowserDashboardScreenshot shows the dashboard of a shop with a few webhooks in
// every state, and keeps its screenshot for the README with -update-screenshot.
func TestBrowserDashboardScreenshot(t *testing.T) {
	b := newTab(t)
	e := newEnv(t, oneAttempt, withTransport(sampleNetwork{}))
	ctx := context.Background()
	const ws = "acme-outfitters"
	subscribe := func(name, url string, events ...string) webhook.Subscription {
		sub, err := e.d.Subscribe(ctx, webhook.Subscription{Workspace: ws, Name: name, URL: url, Events: events, Secret: webhook.NewSecret()})
		require.NoError(t, err)
		return sub
	}
	subs := []webhook.Subscription{
		subscribe("Fulfilment service", "https://fulfil.acme-logistics.example/webhooks/orders", "order.created", "order.fulfilled", "order.cancelled"),
		subscribe("Inventory sync", "https://erp.example.com/hooks/inventory", "product.*"),
		subscribe("Accounting", "https://books.example.net/api/webhooks", "payment.completed", "payment.refunded"),
		subscribe("Marketing CRM", "https://crm.example.org/hooks/customers", "customer.created", "customer.updated"),
		subscribe("Shipping notifications", "https://notify.example.com/shipping", "shipping.*"),
	}
	emit := func(typ string, n int) {
		for i := range n {
			_, err := e.d.Emit(ctx, typ, map[string]any{"id": fmt.Sprintf("%s_%d", typ, i)}, webhook.InWorkspace(ws))
			require.NoError(t, err)
		}
	}
	emit("order.created", 6)
	emit("order.fulfilled", 3)
	emit("product.updated", 4)
	emit("payment.completed", 2)
	emit("customer.created", 1)
	emit("shipping.delivered", 3)
	for range 6 + 3 + 4 + 2 + 1 + 3 {
		<-e.attempts
	}

	b.signIn(e, ws)
	rows := evalIn[int](b, `document.querySelectorAll("table.hooks tbody tr").length`)
	assert.Equal(t, len(subs), rows)
	crm := rowSel(subs[3].ID)
	assert.Contains(t, b.text(crm+` td[data-label="Status"]`), "Inactive", "410 Gone deactivated it")
	assert.Equal(t, "rgb(156, 163, 175)", evalIn[string](b, fmt.Sprintf(`getComputedStyle(document.querySelector(%q)).backgroundColor`, crm+" .dot")))
	assert.Equal(t, "rgb(22, 163, 74)", evalIn[string](b, fmt.Sprintf(`getComputedStyle(document.querySelector(%q)).backgroundColor`, rowSel(subs[0].ID)+" .dot")))
	path := b.shot("dashboard")
	if *updateScreenshot {
		png, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(readmeScreenshot, png, 0o644))
	}
	require.Equal(t, 200, b.follow(`a.name[href$="`+subs[2].ID+`"]`))
	b.shot("webhook-failing")
	b.shotOf("figure.chart", "chart")
	require.Equal(t, 200, b.follow(`a.button[href$="/edit"]`))
	assert.True(t, evalIn[bool](b, `document.querySelector("#ev-payment-completed").checked`))
	b.shot("edit-form")
	require.Equal(t, 200, b.follow(`nav a[href$="events"]`))
	b.click("#type-order\\.created details summary")
	assert.Contains(t, b.text("#type-order\\.created pre"), `"id"`)
	b.shot("event-catalog")
}

// TestBrowserPhoneWidth: the pages fit a phone's width, and the ⋮ menu opens on screen.
func TestBrowserPhoneWidth(t *testing.T) {
	b := newTab(t)
	e := newEnv(t, oneAttempt)
	good, _ := populate(t, e, "shop_42")
	e.subscribe("shop_42", "Inventory sync", "product.*")
	e.subscribe("shop_42", "Accounting", "payment.completed", "payment.refunded")
	b.signIn(e, "shop_42")

	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, p := range []struct{ path, name string }{
		{"", "dashboard"}, {"webhooks/new", "form"}, {"webhooks/" + good.ID, "webhook"}, {"events", "events"},
	} {
		require.Equal(t, 200, b.open(e.base+p.path), p.path)
		overflow := evalIn[int](b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
		assert.LessOrEqual(t, overflow, 0, "page %q is wider than the phone", p.path)
		b.shot("phone-" + p.name)
	}
	require.Equal(t, 200, b.open(e.base+"webhooks/"+good.ID))
	b.shotOf("figure.chart", "phone-chart")
	require.Equal(t, 200, b.open(e.base))
	b.click(rowSel(good.ID) + " details.menu summary")
	assert.True(t, evalIn[bool](b, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth })()`,
		rowSel(good.ID)+" details.menu ul")), "the open menu fits the screen")
	b.shot("phone-menu-open")
}
