package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/shophooks/webhook/store"
)

// AttemptResult is what an observer (WithObserver) is told after every attempt.
// Its JSON follows the rule of package store: snake_case names, durations in
// milliseconds ("duration_ms").
type AttemptResult struct {
	DeliveryID     string `json:"delivery_id"`
	EventID        string `json:"event_id"`
	SubscriptionID string `json:"subscription_id"`
	EventType      string `json:"event_type"`
	// Attempt is the attempt as recorded in the delivery log.
	Attempt Attempt `json:"attempt"`
	// State and NextAttemptAt are the delivery's after the attempt.
	State         DeliveryState `json:"state"`
	NextAttemptAt time.Time     `json:"next_attempt_at,omitzero"`
}

// errBodyTooLarge: the request body of an attempt is over WithMaxPayloadBytes.
var errBodyTooLarge = errors.New("request body too large")

// attemptState is what a Dispatcher's attempts share and reuse.
type attemptState struct {
	// keys keeps the StandardSigner's keyed HMAC states, per secret.
	keys keyring
	// bodies holds *bodyBuffer: response bodies are read into these.
	bodies sync.Pool
	// urls keeps subscription URLs parsed.
	urls urlCache
}

// deliver makes one attempt of a claimed delivery, bounded by the attempt goroutine's
// timeout, and records it with its consequences.
func (d *Dispatcher) deliver(to *attemptTimeout, c *store.Claim) {
	p := d.cfg.policy
	a, v, asked := d.send(to, c.Subscription, c.Event, len(c.Delivery.Attempts)+1)
	if d.sendCtx.Err() != nil {
		// Close gave up waiting: this was not the endpoint's fault, so it is not
		// recorded; the lease runs out and the delivery is attempted again later.
		return
	}
	rec := store.AttemptRecord{DeliveryID: c.Delivery.ID}
	switch v {
	case verdictSuccess:
		rec.State, a.Outcome = DeliverySucceeded, OutcomeSucceeded
	case verdictDeactivate:
		rec.State, a.Outcome = DeliveryFailed, OutcomeDeactivated
		rec.Action, rec.Reason = store.ActionDeactivate, statusReason(a.StatusCode)
	case verdictGiveUp:
		rec.State, a.Outcome = DeliveryFailed, OutcomeGaveUp
	case verdictUnsubscribe:
		rec.State, a.Outcome = DeliveryFailed, OutcomeUnsubscribed
		if a.StatusCode >= 200 && a.StatusCode < 300 {
			rec.State = DeliverySucceeded // it was received; the subscription goes anyway
		}
		rec.Action = store.ActionDelete
	default:
		if wait, ok := p.Delay(c.Delivery.AttemptsInRound() + 1); ok {
			rec.State, a.Outcome = DeliveryPending, OutcomeRetry
			// Retry-After may push the retry later, never earlier, than the schedule.
			rec.NextAttemptAt = a.SentAt.Add(max(wait, asked))
			a.NextAttemptAt = rec.NextAttemptAt
		} else {
			rec.State, a.Outcome = DeliveryFailed, OutcomeGaveUp
		}
		if since, ok := d.failingSince(c); ok && a.SentAt.Sub(since) >= d.cfg.autoDisable {
			rec.Action = store.ActionDeactivate
			rec.Reason = fmt.Sprintf("disabled automatically: every attempt failed since %s", since.UTC().Format(time.RFC3339))
		}
	}
	rec.Attempt = a
	// The attempt happened: record it even if the dispatcher is closing.
	del, err := d.store.RecordAttempt(d.recordCtx, rec)
	if err != nil {
		d.logAttempt(slog.LevelError, c, a, "webhook: recording an attempt", slog.Any("err", err))
		return
	}
	if a.Outcome == OutcomeSucceeded {
		d.logAttempt(slog.LevelDebug, c, a, "webhook: delivered",
			slog.Int("status", a.StatusCode), slog.Duration("duration", a.Duration))
	} else {
		d.logAttempt(slog.LevelWarn, c, a, "webhook: attempt failed",
			slog.Int("status", a.StatusCode), slog.Duration("duration", a.Duration), slog.String("error", a.Error),
			slog.String("outcome", string(a.Outcome)), slog.Time("next_attempt_at", del.NextAttemptAt))
	}
	if d.fair.recorded(c.Subscription.ID, a.Outcome == OutcomeSucceeded) {
		d.logAttempt(slog.LevelWarn, c, a, "webhook: circuit breaker open: sending one probe at a time",
			slog.Int("consecutive_failures", d.cfg.breakerThreshold))
	}
	switch rec.Action {
	case store.ActionDeactivate:
		d.statusChanged(c, a, false, rec.Reason)
	case store.ActionDelete:
		d.fair.forget(c.Subscription.ID)
		d.statusChanged(c, a, true, "the endpoint asked to be unsubscribed")
	}
	d.observe(del, a)
}

// failingSince is when c's subscription started failing every attempt, for auto-disable:
// the store's run of failures as of the claim, but never before the subscription was last
// activated (a merchant who re-activates it gets a fresh period) nor before an attempt that
// this dispatcher saw succeed since the claim.
func (d *Dispatcher) failingSince(c *store.Claim) (time.Time, bool) {
	if d.cfg.autoDisable <= 0 || c.Failures.Count == 0 {
		return time.Time{}, false
	}
	since := c.Failures.Since
	if t := c.Subscription.StatusChangedAt; t.After(since) {
		since = t
	}
	if t := d.fair.lastSuccess(c.Subscription.ID); !t.IsZero() && !t.Before(since) {
		return time.Time{}, false
	}
	return since, true
}

// statusChanged tells the application, once, that an attempt of c deactivated or deleted
// its subscription: by a log line at Warn and the WithOnStatusChange callback. Two
// attempts in flight may both answer 410; only the one whose change the store kept is
// told.
func (d *Dispatcher) statusChanged(c *store.Claim, a Attempt, deleted bool, reason string) {
	// A subscription ID may be used again after a deletion: the creation time tells the
	// two apart.
	var key any = "deleted " + c.Subscription.CreatedAt.String()
	if !deleted {
		sub, err := d.store.Subscription(d.recordCtx, c.Subscription.ID)
		if err != nil || sub.Status != StatusInactive || sub.StatusReason != reason {
			return // deleted meanwhile, or deactivated by someone else
		}
		key = sub.StatusChangedAt
	}
	if prev, loaded := d.notified.Swap(c.Subscription.ID, key); loaded && prev == key {
		return
	}
	if deleted {
		d.logAttempt(slog.LevelWarn, c, a, "webhook: subscription deleted: the endpoint asked to be unsubscribed")
	} else {
		d.logAttempt(slog.LevelWarn, c, a, "webhook: subscription deactivated", slog.String("reason", reason))
	}
	if d.cfg.onStatusChange != nil {
		d.cfg.onStatusChange(StatusChange{Subscription: c.Subscription.Redacted(), Deleted: deleted, Reason: reason, At: a.SentAt.Add(a.Duration)})
	}
}

// logAttempt logs msg about attempt a of c at level, after the attributes that name the
// delivery. It asks the logger first, so that a delivered attempt (logged at Debug, which
// loggers rarely take) costs no attributes and no URL parsing.
func (d *Dispatcher) logAttempt(level slog.Level, c *store.Claim, a Attempt, msg string, attrs ...slog.Attr) {
	ctx := context.Background()
	if !d.cfg.logger.Enabled(ctx, level) {
		return
	}
	d.cfg.logger.LogAttrs(ctx, level, msg, append([]slog.Attr{
		slog.String("delivery", c.Delivery.ID), slog.String("subscription", c.Subscription.ID),
		slog.String("event", c.Event.ID), slog.String("type", c.Event.Type),
		slog.Int("attempt", a.Number), slog.String("url", safeURL(c.Subscription.URL)),
	}, attrs...)...)
}

func (d *Dispatcher) observe(del Delivery, a Attempt) {
	if d.cfg.observer == nil {
		return
	}
	d.cfg.observer(AttemptResult{
		DeliveryID: del.ID, EventID: del.EventID, SubscriptionID: del.SubscriptionID,
		EventType: del.EventType, Attempt: a, State: del.State, NextAttemptAt: del.NextAttemptAt,
	})
}

// send makes one HTTP request of ev to sub and reads the answer, bounded by the policy's
// timeout (with to) and body limits. The attempt it returns has everything but the
// outcome.
//
// retryAfter is the wait a 429 or 503 answer asked for with Retry-After, capped.
func (d *Dispatcher) send(to *attemptTimeout, sub Subscription, ev Event, number int) (a Attempt, v verdict, retryAfter time.Duration) {
	p := d.cfg.policy
	p.Timeout = cmp.Or(sub.Timeout, p.Timeout)
	sentAt := now()
	a = Attempt{Number: number, SentAt: sentAt}
	fail := func(err error) (Attempt, verdict, time.Duration) {
		a.Duration = time.Since(sentAt)
		a.Error = attemptError(err)
		a.ErrorKind = errorKind(0, err)
		return a, verdictRetry, 0
	}
	ctx := to.start(p.Timeout)
	defer to.stop()
	req, err := d.newRequest(ctx, sub, ev, sentAt)
	if errors.Is(err, errBodyTooLarge) {
		a, _, _ = fail(err)
		a.ErrorKind = ErrorOther
		return a, verdictGiveUp, 0
	}
	if err != nil {
		return fail(err)
	}
	resp, err := d.do(req)
	if err != nil {
		if timedOut(ctx) {
			err = fmt.Errorf("%w (%s)", errAttemptTimeout, p.Timeout)
		}
		return fail(err)
	}
	buf := d.bodyBuffer()
	defer d.att.bodies.Put(buf)
	buf.limit = io.LimitedReader{R: resp.Body, N: int64(max(p.ScanBytes, p.LogBytes))}
	_, err = buf.ReadFrom(&buf.limit)
	buf.limit.R = nil
	resp.Body.Close()
	body := buf.Bytes() // only read below: the log keeps a copy (excerpt)
	a.Duration = time.Since(sentAt)
	a.StatusCode = resp.StatusCode
	a.ResponseBody = excerpt(body, p.LogBytes)
	if err != nil {
		// The status came but the body did not finish in time (a slow drip): the answer
		// was not complete within the timeout.
		if timedOut(ctx) {
			err = fmt.Errorf("%w (%s) reading the body", errAttemptTimeout, p.Timeout)
		}
		a.Error = attemptError(err)
		a.ErrorKind = errorKind(0, err)
		return a, verdictRetry, 0
	}
	v = p.judge(resp.StatusCode, body[:min(len(body), p.ScanBytes)], nil)
	switch v {
	case verdictSuccess:
	case verdictUnsubscribe:
		a.ErrorKind = store.ErrorUnsubscribe
		a.Error = "the endpoint asked to be unsubscribed"
	default:
		a.ErrorKind = errorKind(resp.StatusCode, nil)
		a.Error = fmt.Sprintf("endpoint answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if wait, ok := retryAfterHeader(resp.StatusCode, resp.Header, sentAt, p.MaxRetryAfter); ok {
			retryAfter = wait
			a.Error += fmt.Sprintf("; Retry-After %s", wait)
		}
	}
	return a, v, retryAfter
}

// do sends req as d.client.Do does. The dispatcher's own client has no cookie jar, no
// timeout and follows no redirect, so its requests go to its transport directly: Do would
// copy every request's headers for redirects that never come. Its errors are Do's: a
// *url.Error naming the request, http.ErrSchemeMismatch for an http answer to https.
func (d *Dispatcher) do(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	var err error
	if d.ownConn == nil || req.URL.User != nil {
		resp, err = d.client.Do(req) // the application's client: its jar, its timeout
	} else if resp, err = d.ownConn.RoundTrip(req); err != nil {
		if tlsErr, ok := err.(tls.RecordHeaderError); ok && string(tlsErr.RecordHeader[:]) == "HTTP/" {
			err = http.ErrSchemeMismatch
		}
		return nil, requestError(req, err)
	}
	if err == nil && resp.StatusCode < 200 {
		// 101 Switching Protocols, the one informational answer net/http hands over: its
		// body is the raw connection, which neither the attempt's timeout nor Close can
		// interrupt, so a hostile endpoint could hold the attempt for ever. Nothing asked
		// to switch; closing the body closes the connection.
		status := resp.Status
		resp.Body.Close()
		return nil, requestError(req, fmt.Errorf("%w (%s)", errSwitchedProtocols, status))
	}
	return resp, err
}

// requestError is err as http.Client.Do reports it: a *url.Error naming the request.
func requestError(req *http.Request, err error) error {
	op := req.Method[:1] + strings.ToLower(req.Method[1:])
	return &url.Error{Op: op, URL: req.URL.Redacted(), Err: err}
}

// errSwitchedProtocols is the error of an attempt whose endpoint answered 101 Switching
// Protocols: the attempt failed, and the connection was closed.
var errSwitchedProtocols = errors.New("endpoint switched protocols, which a webhook request never asks for")

// attemptTimeout bounds the attempts of one goroutine, one at a time, by their timeout.
// One context and one timer serve all its attempts and are replaced only after a timeout
// fired: a context.WithTimeout per attempt would cost a context, a timer, a Done channel
// and the map in which net/http's own per-request context registers.
type attemptTimeout struct {
	parent context.Context
	ctx    context.Context // nil until the next start makes one
	cancel context.CancelCauseFunc
	timer  *time.Timer // cancels ctx, with context.DeadlineExceeded as the cause
}

func newAttemptTimeout(parent context.Context) *attemptTimeout {
	return &attemptTimeout{parent: parent}
}

// start returns the context of an attempt that must end within d, a child of the parent
// with that deadline. Call stop when the attempt is over, before the next start.
func (t *attemptTimeout) start(d time.Duration) context.Context {
	deadline := time.Now().Add(d)
	if t.ctx == nil {
		ctx, cancel := context.WithCancelCause(t.parent)
		t.ctx, t.cancel = ctx, cancel
		t.timer = time.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	} else {
		t.timer.Reset(d)
	}
	return &deadlineCtx{Context: t.ctx, deadline: deadline}
}

// stop ends the timeout of the attempt. If the timer has fired (or is firing), the
// context is done with: the next attempt gets a new one.
func (t *attemptTimeout) stop() {
	if !t.timer.Stop() {
		t.close()
	}
}

// close releases the context and its timer.
func (t *attemptTimeout) close() {
	if t.ctx != nil {
		t.timer.Stop()
		t.cancel(context.Canceled)
		t.ctx, t.cancel, t.timer = nil, nil, nil
	}
}

// deadlineCtx is the context of one attempt: attemptTimeout's, with the attempt's deadline
// (which dialers and transports may read) and the error of a context whose deadline
// passed. Contexts made from it register with attemptTimeout's, which they find through
// Value as they would through a context.WithDeadline.
type deadlineCtx struct {
	context.Context
	deadline time.Time
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Err() error {
	err := c.Context.Err()
	if err != nil && timedOut(c.Context) {
		return context.DeadlineExceeded
	}
	return err
}

// timedOut reports whether the context of an attempt ended because its timeout did.
func timedOut(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.DeadlineExceeded)
}

// bodyBuffer is a buffer a response body is read into, with the reader that bounds it.
type bodyBuffer struct {
	bytes.Buffer
	limit io.LimitedReader
}

// bodyBuffer returns an empty buffer to read a response body into. Give it back to
// d.att.bodies once nothing refers to its bytes: most bodies are small, and a new buffer
// per attempt would be garbage at once.
func (d *Dispatcher) bodyBuffer() *bodyBuffer {
	if b, ok := d.att.bodies.Get().(*bodyBuffer); ok {
		b.Reset()
		return b
	}
	return new(bodyBuffer)
}

// newRequest builds the signed request of one attempt in the subscription's format.
func (d *Dispatcher) newRequest(ctx context.Context, sub Subscription, ev Event, sentAt time.Time) (*http.Request, error) {
	env := envelope{ID: ev.ID, Type: ev.Type, Timestamp: ev.OccurredAt, Data: ev.Data}
	var (
		method      = http.MethodPost
		body        []byte
		contentType string
		err         error
	)
	switch sub.Format {
	case FormatXML:
		body, err = encodeXML(env)
		contentType = "application/xml" // the XML declaration names UTF-8
	case FormatQuery:
		method = http.MethodGet
	default:
		body, err = encodeEnvelope(env, d.stamped(ev.Data))
		contentType = "application/json"
	}
	if err != nil {
		return nil, err // names the event already
	}
	if len(body) > d.cfg.maxPayload {
		// Emit bounds the JSON envelope; the XML form of some data is several times
		// larger. A receiver would refuse it every time: send it never.
		return nil, fmt.Errorf("%w: the %s body is %d bytes, over the limit of %d", errBodyTooLarge, sub.Format, len(body), d.cfg.maxPayload)
	}
	cached, err := d.att.urls.parse(sub.URL)
	if err != nil {
		return nil, fmt.Errorf("subscription URL: %w", err)
	}
	// The URL parsed once (not per attempt): NewRequest gets none to parse, and the
	// request gets a copy of the cached one, with the Host NewRequest would have set.
	req, err := http.NewRequestWithContext(ctx, method, "", bytesReader(body))
	if err != nil {
		return nil, err
	}
	u := req.URL
	*u = *cached
	req.Host = u.Host
	if d.cfg.requireHTTPS && u.Scheme != "https" {
		return nil, &DestinationError{Host: u.Hostname(), Reason: "https is required"}
	}
	signed := body
	if sub.Format == FormatQuery {
		q := u.Query()
		for k, vs := range queryParams(env) {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		signed = []byte(u.RawQuery)
	}
	// The values of these headers, and of the signature's, share one slice: one
	// allocation, not one per header.
	vals := make([]string, 0, 6+len(sub.Headers))
	if body != nil {
		req.ContentLength = int64(len(body))
		vals = setHeader(req.Header, vals, "Content-Type", contentType)
	}
	vals = setHeader(req.Header, vals, "User-Agent", d.cfg.userAgent)
	// Only an excerpt of the answer is read, for the log: an uncompressed one will do,
	// and asking for it spares net/http a header map per request (its own
	// "Accept-Encoding: gzip"). A subscription's Headers may say otherwise.
	vals = setHeader(req.Header, vals, "Accept-Encoding", "identity")
	for k, v := range sub.Headers {
		vals = setHeader(req.Header, vals, http.CanonicalHeaderKey(k), v)
	}
	in := SignInput{ID: ev.ID, Timestamp: sentAt, Body: signed, Secrets: sub.Secrets(sentAt)}
	if _, ok := d.cfg.signer.(StandardSigner); ok {
		err = signStandardInto(req.Header, in, &d.att.keys, vals) // the same signature, keyed once per secret
	} else {
		err = d.cfg.signer.Sign(req.Header, in)
	}
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return req, nil
}

// urlCache keeps subscription URLs parsed as http.NewRequest parses them, so that an
// attempt copies a URL instead of parsing it. It is bounded: once it holds urlCacheSize
// URLs it starts afresh. The URLs it returns are shared: copy, never modify, them.
type urlCache struct {
	m sync.Map // URL string -> *url.URL
	n atomic.Int64
}

// urlCacheSize bounds a urlCache.
const urlCacheSize = 4096

// parse returns raw parsed, with an empty port removed from the host as http.NewRequest
// does; errors are url.Parse's.
func (c *urlCache) parse(raw string) (*url.URL, error) {
	if u, ok := c.m.Load(raw); ok {
		return u.(*url.URL), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	// http.NewRequest strips an empty port ("host:" becomes "host").
	if strings.LastIndex(u.Host, ":") > strings.LastIndex(u.Host, "]") {
		u.Host = strings.TrimSuffix(u.Host, ":")
	}
	if c.n.Add(1) > urlCacheSize {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(raw, u)
	return u, nil
}

// setHeader sets the canonical header key to v, as http.Header.Set does, with v appended
// to vals: while vals has room, the header's value slice is a piece of it.
func setHeader(h http.Header, vals []string, key, v string) []string {
	vals = append(vals, v)
	n := len(vals)
	h[key] = vals[n-1 : n : n]
	return vals
}

// bytesReader returns a body for b, or nil for no body (so GET requests have none).
func bytesReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// excerpt is the start of a response body as kept in the log: at most n bytes of valid
// UTF-8, invalid bytes replaced by U+FFFD before the cut so the limit holds.
func excerpt(b []byte, n int) string {
	if len(b) <= n && utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b) // utf8.RuneError, 1 for an invalid byte
		if sb.Len()+utf8.RuneLen(r) > n {
			break
		}
		sb.WriteRune(r)
		b = b[size:]
	}
	return sb.String()
}

// attemptError is an error as written into the delivery log: without the request URL
// that net/http puts in front (its query may carry a token).
// A DNS error names the resolver it asked, an address of the host's own network that a
// merchant reading the log has no business seeing: only the name and the reason are kept.
// A refused destination keeps the name and the reason, not the address the name resolved
// to, nor the dial's wording around it, which repeats that address; nor does any error
// keep the address and port of this host's end of the connection.
func attemptError(err error) string {
	return excerpt([]byte(errorText(err)), maxErrorBytes)
}

// maxErrorBytes bounds an attempt's error in the log: its text can carry what the
// endpoint sent (a status line's reason phrase, say), which has no limit of its own.
const maxErrorBytes = 1024

// errorText is the text of attemptError, whole.
func errorText(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("lookup %s: %s", dnsErr.Name, dnsErr.Err)
	}
	var destErr *DestinationError
	if errors.As(err, &destErr) {
		return destErr.logText()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	text := err.Error()
	// A read or write error names this host's own socket ("read tcp 10.0.3.7:51234->..."):
	// the remote address, the merchant's endpoint, is kept, and so is what net/http says
	// around it.
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Source != nil {
		text = strings.Replace(text, opErr.Source.String()+"->", "", 1)
	}
	return text
}

// classifyError says what kind of failure an error of http.Client.Do is.
func classifyError(err error) ErrorKind {
	var (
		certErr    *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, ErrDestinationRefused):
		return ErrorRefused
	case errors.Is(err, errAttemptTimeout), errors.Is(err, context.DeadlineExceeded):
		return ErrorTimeout
	case errors.As(err, &certErr), errors.As(err, &recordErr), errors.As(err, &alertErr),
		errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr),
		strings.Contains(err.Error(), "tls: "):
		return ErrorTLS
	default:
		return ErrorConnection
	}
}
