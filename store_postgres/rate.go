package storepg

import (
	"math"
	"time"
)

// Rate limits. A subscription's RateLimit caps the requests sent to it by every instance
// sharing the schema, not by each: its queue head keeps a token bucket, RateLimit tokens
// a second, at most one second's worth (and at least one) banked, full at first, as the
// dispatcher's own bucket. A claim holds the head's lock while it leases the
// subscription's deliveries, so it reads the bucket with the head (qLockHeads), leases no
// more than the bucket holds, and writes what is left when it resets the head
// (qResetHeads): one instance at a time spends a subscription's tokens. A claim also
// reads the bucket of a head it does not lock (qLaterHeads), so that its next due time
// is when the rate allows the subscription's next delivery. The claim's Now is the
// bucket's clock. A Now earlier than the bucket's last spending (another instance's clock
// is ahead) refills nothing and leaves the bucket's time as it is, so a clock ahead of
// the others lets a subscription have its lead's worth of requests early, once.

// bucket is a subscription's shared token bucket, as its queue head keeps it.
type bucket struct {
	tokens *float64   // nil: never spent, full
	at     *time.Time // when tokens was left
}

// tokenSlack forgives the rounding of a refill: a bucket within tokenSlack of a whole
// request holds it. What is granted early is owed by the bucket (it goes below zero), so
// the slack never adds up.
const tokenSlack = 1e-9

// maxRateWait bounds how far ahead a bucket's next request is reported, so that the
// arithmetic cannot overflow for any rate; a claim at that time reports the next one.
const maxRateWait = 24 * time.Hour

// refill is b brought up to now, for a subscription of rate requests per second: what it
// holds, and the time it holds that at (never earlier than the last spending).
func (b bucket) refill(rate float64, now time.Time) (float64, time.Time) {
	burst := math.Max(1, rate)
	if b.tokens == nil || b.at == nil {
		return burst, now
	}
	if now.Before(*b.at) {
		return math.Min(burst, *b.tokens), *b.at
	}
	return math.Min(burst, *b.tokens+now.Sub(*b.at).Seconds()*rate), now
}

// allowed is how many requests a bucket that holds tokens allows now.
func allowed(tokens float64) int {
	n := math.Floor(tokens + tokenSlack)
	if n < 1 {
		return 0
	}
	return int(math.Min(n, math.MaxInt32))
}

// nextAllowed is when a bucket of rate requests per second that holds tokens at now holds
// a whole request, to the microsecond (the precision the database keeps), rounded up.
func nextAllowed(rate, tokens float64, now time.Time) time.Time {
	if allowed(tokens) > 0 {
		return now
	}
	wait := math.Min((1-tokens)/rate, maxRateWait.Seconds()) * 1e6
	return now.Add(time.Duration(math.Ceil(wait)) * time.Microsecond)
}

// claimClock is now to the microsecond: the precision the database keeps of the time a
// bucket was last spent, so that the refills a claim computes and the next claim's agree.
func claimClock(now time.Time) time.Time { return now.Truncate(time.Microsecond) }
