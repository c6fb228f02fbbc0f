package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// normalize gives the empty fields of sub the meaning the zero values promise.
func normalize(sub *Subscription) {
	if sub.Status == "" {
		sub.Status = StatusActive
	}
	if sub.Format == "" {
		sub.Format = FormatJSON
	}
	if sub.WhileInactive == "" {
		sub.WhileInactive = InactiveDiscard
	}
	if sub.Status == StatusActive {
		sub.StatusReason = ""
	}
}

// forbiddenHeaders may not be set by a subscription: the transport, the format or the
// signature owns them.
var forbiddenHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Type": true, "Transfer-Encoding": true,
	"Connection": true, "Te": true, "Upgrade": true, "Trailer": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Webhook-Id": true, "Webhook-Timestamp": true,
	"Webhook-Signature": true,
}

// maxIDLength bounds caller-chosen IDs, which travel in headers and signatures.
const maxIDLength = 200

// updateError is the error of a store's UpdateSubscription: a *ValidationError from the
// update function as it is (it names this package already), anything else prefixed.
func updateError(err error) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return err
	}
	return fmt.Errorf("webhook: %w", err)
}

// checkInFlightCap refuses a MaxInFlight above the dispatcher's cap (WithInFlightCap) in
// next, unless cur, the subscription as stored, has the same: one stored before the cap
// was lowered stays editable, and its claims are held to the cap anyway.
func (d *Dispatcher) checkInFlightCap(next Subscription, cur *Subscription) error {
	if next.MaxInFlight > d.cfg.inFlightCap && (cur == nil || next.MaxInFlight != cur.MaxInFlight) {
		return d.inFlightError(next.MaxInFlight)
	}
	return nil
}

// inFlightError is the error of a MaxInFlight out of range.
func (d *Dispatcher) inFlightError(n int) error {
	return &ValidationError{Field: "MaxInFlight", Value: fmt.Sprint(n), Reason: fmt.Sprintf("must be between 1 and %d, or 0 for the default", d.cfg.inFlightCap)}
}

// validate checks a normalized subscription; the error names the first bad field. A
// MaxInFlight above the cap is left to checkInFlightCap, which knows the stored value.
func (d *Dispatcher) validate(sub Subscription) error {
	if len(sub.ID) > maxIDLength || !printableASCII(sub.ID) {
		return &ValidationError{Field: "ID", Reason: fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces", maxIDLength)}
	}
	if err := validateWorkspace(sub.Workspace); err != nil {
		return err
	}
	if len(sub.Name) > 1000 {
		return &ValidationError{Field: "Name", Reason: "is longer than 1000 bytes"}
	}
	if !utf8.ValidString(sub.Name) {
		return &ValidationError{Field: "Name", Value: safeValue(sub.Name), Reason: "is not valid UTF-8"}
	}
	if err := validateURL(sub.URL, d.cfg.requireHTTPS); err != nil {
		return err
	}
	if len(sub.Events) == 0 {
		return &ValidationError{Field: "Events", Reason: "names no event type"}
	}
	for _, p := range sub.Events {
		if err := d.cfg.catalog.ValidatePattern(p); err != nil {
			return &ValidationError{Field: "Events", Value: p, Reason: "is not an event type of the catalog", Err: err}
		}
	}
	for _, s := range []struct{ field, secret string }{{"Secret", sub.Secret}, {"PreviousSecret", sub.PreviousSecret}} {
		if s.secret == "" {
			continue
		}
		if err := ValidateSecret(s.secret); err != nil {
			return &ValidationError{Field: s.field, Reason: "is not a usable secret", Err: err}
		}
	}
	if err := validateHeaders(sub.Headers); err != nil {
		return err
	}
	if err := validateReason("StatusReason", sub.StatusReason); err != nil {
		return err
	}
	if err := validateMetadata(sub.Metadata); err != nil {
		return err
	}
	if sub.MaxInFlight < 0 {
		return d.inFlightError(sub.MaxInFlight)
	}
	if sub.RateLimit != 0 && !(sub.RateLimit >= 1/MinRateLimitPeriod.Seconds() && sub.RateLimit <= 1e6) {
		return &ValidationError{Field: "RateLimit", Value: fmt.Sprint(sub.RateLimit), Reason: "must be between one request a day (1/86400) and 1e6 requests per second, or 0 for no limit"}
	}
	if sub.Timeout != 0 && (sub.Timeout < time.Millisecond || sub.Timeout > d.cfg.maxTimeout) {
		return &ValidationError{Field: "Timeout", Value: sub.Timeout.String(), Reason: fmt.Sprintf("must be between 1ms and %s, or 0 for the default", d.cfg.maxTimeout)}
	}
	switch sub.Format {
	case FormatJSON, FormatXML, FormatQuery:
	default:
		return &ValidationError{Field: "Format", Value: string(sub.Format), Reason: `must be "json", "xml" or "query"`}
	}
	switch sub.Status {
	case StatusActive, StatusInactive:
	default:
		return &ValidationError{Field: "Status", Value: string(sub.Status), Reason: `must be "active" or "inactive"`}
	}
	switch sub.WhileInactive {
	case InactiveDiscard, InactiveHold:
	default:
		return &ValidationError{Field: "WhileInactive", Value: string(sub.WhileInactive), Reason: `must be "discard" or "hold"`}
	}
	return nil
}

// validateURL checks a destination URL without resolving it: the destination guard checks
// the address at connection time.
func validateURL(raw string, requireHTTPS bool) error {
	if strings.TrimSpace(raw) == "" {
		return &ValidationError{Field: "URL", Reason: "is empty"}
	}
	if len(raw) > 2048 {
		return &ValidationError{Field: "URL", Reason: "is longer than 2048 bytes"}
	}
	if !utf8.ValidString(raw) {
		return &ValidationError{Field: "URL", Reason: "is not valid UTF-8"}
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, query tokens and passwords included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &ValidationError{Field: "URL", Reason: "cannot be parsed", Err: err}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if requireHTTPS {
			return &ValidationError{Field: "URL", Value: redactURL(u), Reason: "must use https"}
		}
	default:
		return &ValidationError{Field: "URL", Value: redactURL(u), Reason: "must be an http or https URL"}
	}
	if u.Hostname() == "" {
		return &ValidationError{Field: "URL", Value: redactURL(u), Reason: "has no host"}
	}
	if u.User != nil {
		return &ValidationError{Field: "URL", Value: redactURL(u), Reason: "must not carry credentials; put them in Headers"}
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return &ValidationError{Field: "URL", Value: redactURL(u), Reason: "has an invalid port"}
		}
	}
	return nil
}

// redactURL is a URL as it may be shown in errors and logs: without credentials and
// without its query, which often carries a token.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "..."
	}
	c.Fragment = ""
	return c.String()
}

// safeURL redacts a raw URL string; one that does not parse is not shown at all.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return redactURL(u)
}

// maxWorkspaceLength bounds workspace names, which appear in URLs and keys.
const maxWorkspaceLength = 200

// validateWorkspace checks a workspace name: empty (the default workspace) or printable
// ASCII without spaces.
func validateWorkspace(ws string) error {
	if ws == "" {
		return nil
	}
	if len(ws) > maxWorkspaceLength || !printableASCII(ws) {
		return &ValidationError{Field: "Workspace", Value: safeValue(ws), Reason: fmt.Sprintf("must be at most %d printable ASCII characters without spaces", maxWorkspaceLength)}
	}
	return nil
}

// validateReason checks a status reason: text, kept as given.
func validateReason(field, reason string) error {
	if len(reason) > 1000 || !utf8.ValidString(reason) {
		return &ValidationError{Field: field, Value: safeValue(reason), Reason: "must be at most 1000 bytes of UTF-8"}
	}
	return nil
}

// Metadata limits: enough for an application's labels, not a second database.
const (
	maxMetadataKeys  = 50
	maxMetadataKey   = 100
	maxMetadataValue = 1000
)

func validateMetadata(md map[string]string) error {
	if len(md) > maxMetadataKeys {
		return &ValidationError{Field: "Metadata", Reason: fmt.Sprintf("has %d keys, more than %d", len(md), maxMetadataKeys)}
	}
	for k, v := range md {
		switch {
		case k == "" || len(k) > maxMetadataKey || !utf8.ValidString(k):
			return &ValidationError{Field: "Metadata", Value: safeValue(k), Reason: fmt.Sprintf("keys must be 1 to %d bytes of UTF-8", maxMetadataKey)}
		case len(v) > maxMetadataValue || !utf8.ValidString(v):
			return &ValidationError{Field: "Metadata", Value: safeValue(k), Reason: fmt.Sprintf("values must be at most %d bytes of UTF-8", maxMetadataValue)}
		}
	}
	return nil
}

// safeValue is an input value as an error may quote it: valid UTF-8, at most 100 bytes.
func safeValue(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	if len(s) > 100 {
		s = strings.ToValidUTF8(s[:100], "") + "..."
	}
	return s
}

// validateEventID checks a caller-chosen event ID.
func validateEventID(id string) error {
	if len(id) > maxIDLength || !printableASCII(id) {
		return &ValidationError{Field: "eventID", Reason: fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces", maxIDLength)}
	}
	return nil
}

// maxHeaders and maxHeaderBytes bound a subscription's own headers: auth tokens and API
// keys, not a payload.
const (
	maxHeaders     = 50
	maxHeaderBytes = 8 << 10
)

// validateHeaders checks a subscription's headers as RFC 9110 defines them, so that every
// one can be sent and arrives as stored: a name is a token, a value is visible ASCII
// characters with spaces or tabs only between them (no control character, no leading or
// trailing white space, which a receiver would strip, and no byte above 0x7e, which RFC
// 9110 calls obsolete and which not every store could keep byte for byte). Two names that
// differ only in case are the same header and are refused. An error names the header,
// never its value, which is often a credential.
func validateHeaders(h map[string]string) error {
	if len(h) > maxHeaders {
		return &ValidationError{Field: "Headers", Reason: fmt.Sprintf("has %d headers, more than %d", len(h), maxHeaders)}
	}
	seen := make(map[string]string, len(h))
	size := 0
	for k, v := range h {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case !headerName(k):
			return &ValidationError{Field: "Headers", Value: safeValue(k), Reason: "is not a valid header name (RFC 9110 token)"}
		case forbiddenHeaders[ck]:
			return &ValidationError{Field: "Headers", Value: k, Reason: "may not be set by a subscription"}
		case seen[ck] != "":
			return &ValidationError{Field: "Headers", Value: k, Reason: fmt.Sprintf("is the same header as %q (names are case-insensitive)", seen[ck])}
		}
		seen[ck] = k
		if reason := headerValueProblem(v); reason != "" {
			return &ValidationError{Field: "Headers", Value: k, Reason: "value " + reason}
		}
		size += len(k) + len(v)
	}
	if size > maxHeaderBytes {
		return &ValidationError{Field: "Headers", Reason: fmt.Sprintf("hold %d bytes, more than %d", size, maxHeaderBytes)}
	}
	return nil
}

// headerValueProblem says what makes v an invalid header value, or "" when it is valid:
// RFC 9110's field-value without obs-text.
func headerValueProblem(v string) string {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == ' ' || c == '\t':
			if i == 0 || i == len(v)-1 {
				return "has leading or trailing white space"
			}
		case c < ' ' || c == 0x7f:
			return "has a control character (a line break, NUL, DEL, ...)"
		case c > 0x7f:
			return "has a byte outside printable ASCII"
		}
	}
	return ""
}

func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// headerName reports whether s is an HTTP token (RFC 9110).
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7f || c <= ' ' || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// RotateSecret gives the subscription a new secret (NewSecret) and keeps the current one
// as PreviousSecret until overlap has passed: meanwhile every request carries a signature
// with each, so the receiver can switch secrets without dropping a webhook. It returns the
// subscription with its new secret, the only time the caller should show it. ErrNotFound
// if there is no such subscription.
func (d *Dispatcher) RotateSecret(ctx context.Context, id string, overlap time.Duration) (Subscription, error) {
	if d.closed.Load() {
		return Subscription{}, ErrClosed
	}
	if overlap < 0 {
		return Subscription{}, &ValidationError{Field: "overlap", Value: overlap.String(), Reason: "must not be negative"}
	}
	secret := NewSecret()
	t := now()
	sub, err := d.store.UpdateSubscription(ctx, id, t, func(s *Subscription) error {
		s.PreviousSecret, s.PreviousSecretExpiresAt = s.Secret, t.Add(overlap)
		if s.PreviousSecret == "" {
			s.PreviousSecretExpiresAt = time.Time{}
		}
		s.Secret, s.UpdatedAt = secret, t
		return nil
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("webhook: rotate secret: %w", err)
	}
	return sub, nil
}

// ModifySubscription changes the subscription with that ID in one step: fn gets a copy of
// the stored subscription and changes it, and the result is validated like Subscribe and
// stored, with no other change coming between what fn read and what is stored. It is the
// call for a partial update (change the URL, keep the secret a concurrent RotateSecret just
// set) and for a check-then-change, such as refusing a subscription of another workspace:
// an error from fn is returned (a *ValidationError as it is, any other wrapped), and
// nothing is stored.
//
// fn may not change ID, Workspace or CreatedAt (a *ValidationError says so). UpdatedAt is
// set to now; a change of Status sets StatusChangedAt and moves deliveries as Activate and
// Deactivate do. fn may be called more than once and must have no side effects.
// ErrNotFound if there is no such subscription.
func (d *Dispatcher) ModifySubscription(ctx context.Context, id string, fn func(*Subscription) error) (Subscription, error) {
	if d.closed.Load() {
		return Subscription{}, ErrClosed
	}
	t := now()
	sub, err := d.store.UpdateSubscription(ctx, id, t, func(cur *Subscription) error {
		next := cur.Clone()
		if err := fn(&next); err != nil {
			return err
		}
		switch {
		case next.ID != cur.ID:
			return &ValidationError{Field: "ID", Value: safeValue(next.ID), Reason: "cannot change"}
		case next.Workspace != cur.Workspace:
			return &ValidationError{Field: "Workspace", Value: safeValue(next.Workspace), Reason: fmt.Sprintf("cannot change: the subscription belongs to workspace %q", cur.Workspace)}
		case !next.CreatedAt.Equal(cur.CreatedAt):
			return &ValidationError{Field: "CreatedAt", Reason: "cannot change"}
		}
		normalize(&next)
		if err := d.validate(next); err != nil {
			return err
		}
		if err := d.checkInFlightCap(next, cur); err != nil {
			return err
		}
		if next.Status != cur.Status {
			next.StatusChangedAt = t
		}
		next.UpdatedAt = t
		*cur = next
		return nil
	})
	if err != nil {
		return Subscription{}, updateError(err)
	}
	// Held deliveries released by an activation, or room made by a higher MaxInFlight or
	// RateLimit: the scheduler looks again, as after UpdateSubscription.
	d.signal()
	return sub, nil
}
