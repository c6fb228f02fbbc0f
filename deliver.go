package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shophooks/webhook/store"
)

// AttemptResult is what an observer (WithObserver) is told after every attempt.
type AttemptResult struct {
	DeliveryID     string
	EventID        string
	SubscriptionID string
	EventType      string
	// Attempt is the attempt as recorded in the delivery log.
	Attempt Attempt
	// State and NextAttemptAt are the delivery's after the attempt.
	State         DeliveryState
	NextAttemptAt time.Time
}

// deliver makes one attempt of a claimed delivery and records it with its consequences.
func (d *Dispatcher) deliver(c store.Claim) {
	p := d.cfg.policy
	a, v := d.send(d.sendCtx, c.Subscription, c.Event, len(c.Delivery.Attempts)+1)
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
	case verdictUnsubscribe:
		rec.State, a.Outcome = DeliveryFailed, OutcomeUnsubscribed
		if a.StatusCode >= 200 && a.StatusCode < 300 {
			rec.State = DeliverySucceeded // it was received; the subscription goes anyway
		}
		rec.Action = store.ActionDelete
	default:
		if wait, ok := p.Delay(c.Delivery.AttemptsInRound() + 1); ok {
			rec.State, a.Outcome = DeliveryPending, OutcomeRetry
			rec.NextAttemptAt = a.SentAt.Add(wait)
		} else {
			rec.State, a.Outcome = DeliveryFailed, OutcomeGaveUp
		}
	}
	rec.Attempt = a
	// The attempt happened: record it even if the dispatcher is closing.
	del, err := d.store.RecordAttempt(context.WithoutCancel(d.sendCtx), rec)
	log := d.cfg.logger.With("delivery", c.Delivery.ID, "subscription", c.Subscription.ID,
		"event", c.Event.ID, "type", c.Event.Type, "attempt", a.Number, "url", safeURL(c.Subscription.URL))
	if err != nil {
		log.Error("webhook: recording an attempt", "err", err)
		return
	}
	if a.Outcome == OutcomeSucceeded {
		log.Debug("webhook: delivered", "status", a.StatusCode, "duration", a.Duration)
	} else {
		log.Warn("webhook: attempt failed", "status", a.StatusCode, "duration", a.Duration,
			"error", a.Error, "outcome", a.Outcome, "next_attempt_at", del.NextAttemptAt)
	}
	if a.Outcome == OutcomeDeactivated {
		log.Warn("webhook: subscription deactivated", "reason", rec.Reason)
	}
	if a.Outcome == OutcomeUnsubscribed {
		log.Warn("webhook: subscription deleted: the endpoint asked to be unsubscribed")
	}
	d.observe(del, a)
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
// timeout and body limits. The attempt it returns has everything but the outcome.
func (d *Dispatcher) send(ctx context.Context, sub Subscription, ev Event, number int) (Attempt, verdict) {
	p := d.cfg.policy
	sentAt := now()
	a := Attempt{Number: number, SentAt: sentAt}
	fail := func(err error) (Attempt, verdict) {
		a.Duration = time.Since(sentAt)
		a.Error = attemptError(err)
		a.ErrorKind = errorKind(0, err)
		return a, verdictRetry
	}
	req, err := d.newRequest(ctx, sub, ev, sentAt)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	resp, err := d.client.Do(req.WithContext(ctx))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (%s)", errAttemptTimeout, p.Timeout)
		}
		return fail(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(max(p.ScanBytes, p.LogBytes))))
	resp.Body.Close()
	a.Duration = time.Since(sentAt)
	a.StatusCode = resp.StatusCode
	a.ResponseBody = excerpt(body, p.LogBytes)
	if err != nil {
		// The status came but the body did not finish in time (a slow drip): the answer
		// was not complete within the timeout.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (%s) reading the body", errAttemptTimeout, p.Timeout)
		}
		a.Error = attemptError(err)
		a.ErrorKind = errorKind(0, err)
		return a, verdictRetry
	}
	v := p.judge(resp.StatusCode, body[:min(len(body), p.ScanBytes)], nil)
	switch v {
	case verdictSuccess:
	case verdictUnsubscribe:
		a.ErrorKind = store.ErrorUnsubscribe
		a.Error = "the endpoint asked to be unsubscribed"
	default:
		a.ErrorKind = errorKind(resp.StatusCode, nil)
		a.Error = fmt.Sprintf("endpoint answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return a, v
}

// newRequest builds the signed request of one attempt in the subscription's format.
func (d *Dispatcher) newRequest(ctx context.Context, sub Subscription, ev Event, sentAt time.Time) (*http.Request, error) {
	u, err := url.Parse(sub.URL)
	if err != nil {
		return nil, fmt.Errorf("subscription URL: %w", err)
	}
	if d.cfg.requireHTTPS && u.Scheme != "https" {
		return nil, &DestinationError{Host: u.Hostname(), Reason: "https is required"}
	}
	env := envelope{ID: ev.ID, Type: ev.Type, Timestamp: ev.OccurredAt, Data: ev.Data}
	var (
		method      = http.MethodPost
		body        []byte
		signed      []byte
		contentType string
	)
	switch sub.Format {
	case FormatXML:
		body, err = encodeXML(env)
		contentType = "application/xml; charset=utf-8"
	case FormatQuery:
		method = http.MethodGet
		q := u.Query()
		for k, vs := range queryParams(env) {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		signed = []byte(u.RawQuery)
	default:
		body, err = encodeJSON(env)
		contentType = "application/json"
	}
	if err != nil {
		return nil, err // names the event already
	}
	if signed == nil {
		signed = body
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytesReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", d.cfg.userAgent)
	for k, v := range sub.Headers {
		req.Header.Set(k, v)
	}
	in := SignInput{ID: ev.ID, Timestamp: sentAt, Body: signed, Secrets: sub.Secrets(sentAt)}
	if err := d.cfg.signer.Sign(req.Header, in); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return req, nil
}

// bytesReader returns a body for b, or nil for no body (so GET requests have none).
func bytesReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return strings.NewReader(string(b))
}

// excerpt is the start of a response body as kept in the log: at most n bytes, cut at a
// rune boundary, invalid UTF-8 replaced.
func excerpt(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b[max(0, len(b)-utf8.UTFMax):]) {
			r, size := utf8.DecodeLastRune(b)
			if r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// attemptError is an error as written into the delivery log: without the request URL
// that net/http puts in front (its query may carry a token).
func attemptError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
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
