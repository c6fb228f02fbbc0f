package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// RetryPolicy says when a delivery is attempted again and how answers are read. The zero
// value is not usable: start from DefaultRetryPolicy and change what you need.
//
// The schedule is computed from the number of attempts already made, never kept in a
// sleeping goroutine: the next attempt's time is stored with the delivery, so a restarted
// dispatcher resumes the schedule where it stood.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts before a delivery is given up (6).
	MaxAttempts int
	// NewBackOff returns a fresh backoff.BackOff whose n-th NextBackOff is the wait between
	// attempt n and attempt n+1, measured from the send of attempt n. It is called anew
	// for every computation, so a stateful BackOff (exponential, with jitter) works; one
	// that returns backoff.Stop ends the schedule early. A BackOff that depends on elapsed
	// wall time (ExponentialBackOff's MaxElapsedTime) should have that turned off.
	NewBackOff func() backoff.BackOff
	// Timeout bounds one attempt, from connecting to the last byte of the response body
	// that is read (5 s).
	Timeout time.Duration
	// DeactivateOn lists the status codes that deactivate the subscription and end the
	// delivery without retrying (400, 401, 403, 404, 405, 406, 410, 411).
	DeactivateOn []int
	// UnsubscribePhrase, found case-insensitively in the first ScanBytes of a response
	// body, deletes the subscription ("please unsubscribe me"). Empty turns the rule off.
	UnsubscribePhrase string
	// ScanBytes is how much of a response body is read and searched (64 KiB). The rest is
	// never read.
	ScanBytes int
	// LogBytes is how much of a response body is kept in the delivery log (4 KiB).
	LogBytes int
	// MaxRetryAfter caps the wait a 429 or 503 answer can ask for with Retry-After (1
	// hour): the next attempt is sent no earlier than the schedule says, nor than the
	// header asks up to this cap. It still counts as one of MaxAttempts. 0 ignores the
	// header.
	MaxRetryAfter time.Duration
}

// The default schedule: attempt 1 at once, then 60, 120, 180, 240 and 300 seconds after
// the previous attempt was sent.
var defaultDelays = []time.Duration{
	60 * time.Second, 120 * time.Second, 180 * time.Second, 240 * time.Second, 300 * time.Second,
}

// DefaultRetryPolicy returns the library's standard retry policy: six attempts, at 0, +60,
// +120, +180, +240 and +300 seconds (each measured from the previous attempt's send), a
// 5-second timeout, deactivation on 400/401/403/404/405/406/410/411, deletion when the
// body says "please unsubscribe me". Each call returns a new value the caller may change.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:       6,
		NewBackOff:        func() backoff.BackOff { return Schedule(defaultDelays...) },
		Timeout:           5 * time.Second,
		DeactivateOn:      []int{400, 401, 403, 404, 405, 406, 410, 411},
		UnsubscribePhrase: "please unsubscribe me",
		ScanBytes:         64 << 10,
		LogBytes:          4 << 10,
		MaxRetryAfter:     time.Hour,
	}
}

// ExponentialRetryPolicy returns DefaultRetryPolicy with an exponential schedule instead of
// the fixed one: the first retry after about initial, each later wait multiplied by 2 up
// to maxWait, with ±50% jitter, for maxAttempts attempts in all.
func ExponentialRetryPolicy(initial, maxWait time.Duration, maxAttempts int) RetryPolicy {
	p := DefaultRetryPolicy()
	p.MaxAttempts = maxAttempts
	p.NewBackOff = func() backoff.BackOff {
		b := backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(initial),
			backoff.WithMaxInterval(maxWait),
			backoff.WithMultiplier(2),
			backoff.WithRandomizationFactor(0.5),
			backoff.WithMaxElapsedTime(0),
		)
		b.Reset()
		return b
	}
	return p
}

// BackOff is backoff.BackOff from github.com/cenkalti/backoff/v4, named here so a
// RetryPolicy can be written without importing that package.
type BackOff = backoff.BackOff

// Schedule returns a backoff.BackOff that waits the given durations in turn and then
// stops: the building block of fixed schedules like the default one.
func Schedule(delays ...time.Duration) backoff.BackOff {
	return &scheduleBackOff{delays: slices.Clone(delays)}
}

type scheduleBackOff struct {
	delays []time.Duration
	next   int
}

func (s *scheduleBackOff) NextBackOff() time.Duration {
	if s.next >= len(s.delays) {
		return backoff.Stop
	}
	d := s.delays[s.next]
	s.next++
	return d
}

func (s *scheduleBackOff) Reset() { s.next = 0 }

// Validate reports what is wrong with the policy, as a *ValidationError naming the field.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 1:
		return &ValidationError{Field: "MaxAttempts", Reason: "must be at least 1"}
	case p.NewBackOff == nil && p.MaxAttempts > 1:
		return &ValidationError{Field: "NewBackOff", Reason: "is required when MaxAttempts > 1"}
	case p.Timeout <= 0:
		return &ValidationError{Field: "Timeout", Reason: "must be positive"}
	case p.ScanBytes < 0:
		return &ValidationError{Field: "ScanBytes", Reason: "must not be negative"}
	case p.LogBytes < 0:
		return &ValidationError{Field: "LogBytes", Reason: "must not be negative"}
	}
	for _, c := range p.DeactivateOn {
		if c < 100 || c > 599 {
			return &ValidationError{Field: "DeactivateOn", Reason: fmt.Sprintf("%d is not an HTTP status code", c)}
		}
		if c >= 200 && c < 300 {
			return &ValidationError{Field: "DeactivateOn", Reason: fmt.Sprintf("%d is a success code", c)}
		}
	}
	return nil
}

// Delay returns how long after attempt n (1-based, counted in the current round) was sent
// attempt n+1 is due; ok is false when attempt n was the last.
func (p RetryPolicy) Delay(n int) (wait time.Duration, ok bool) {
	if n < 1 || n >= p.MaxAttempts || p.NewBackOff == nil {
		return 0, false
	}
	b := p.NewBackOff()
	for i := 0; i < n; i++ {
		wait = b.NextBackOff()
		if wait == backoff.Stop {
			return 0, false
		}
	}
	return max(wait, 0), true
}

// verdict is what the response rules make of one attempt.
type verdict int

const (
	verdictRetry       verdict = iota // failed; retried on the schedule
	verdictSuccess                    // 2xx
	verdictDeactivate                 // a DeactivateOn code
	verdictUnsubscribe                // the body asked to be unsubscribed
	verdictGiveUp                     // no request can ever succeed (body over the limit)
)

// judge applies the response rules in their order: the unsubscribe phrase,
// the deactivating codes, 2xx, and everything else (no answer included) is a retry.
func (p RetryPolicy) judge(status int, body []byte, err error) verdict {
	if err != nil || status == 0 {
		return verdictRetry
	}
	if p.UnsubscribePhrase != "" && containsFold(body, p.UnsubscribePhrase) {
		return verdictUnsubscribe
	}
	if slices.Contains(p.DeactivateOn, status) {
		return verdictDeactivate
	}
	if status >= 200 && status < 300 {
		return verdictSuccess
	}
	return verdictRetry
}

// containsFold reports whether s contains the ASCII phrase, ignoring ASCII case, without
// allocating.
func containsFold(s []byte, phrase string) bool {
	n := len(phrase)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lower(s[i+j]) == lower(phrase[j]) {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// errorKind classifies a failed attempt for the health figures.
func errorKind(status int, err error) ErrorKind {
	switch {
	case err != nil:
		return classifyError(err)
	case status >= 300 && status < 400:
		return ErrorRedirect
	case status >= 400 && status < 500:
		return ErrorClient
	case status >= 500:
		return ErrorServer
	default:
		return ErrorOther
	}
}

// errAttemptTimeout is the error of an attempt that got no full answer within the timeout.
var errAttemptTimeout = errors.New("no answer within the timeout")

// statusReason is the reason a subscription is deactivated with after an answer.
func statusReason(status int) string {
	return fmt.Sprintf("endpoint answered %d %s", status, http.StatusText(status))
}
