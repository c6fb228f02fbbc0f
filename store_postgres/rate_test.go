package storepg_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storepg "github.com/shophooks/webhook/store_postgres"
)

// generous is a quota that never holds a subscription back.
func generous(*store.Subscription, int) int { return 100 }

// emitDue inserts n events, due at due, through st.
func emitDue(t *testing.T, st *storepg.Store, n int, due time.Time) {
	t.Helper()
	for i := range n {
		_, err := st.InsertEvent(context.Background(), store.Event{ID: store.NewID("evt"), Type: eventtypes.OrderCreated,
			OccurredAt: due, Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}, due)
		require.NoError(t, err)
	}
}

// setRate sets the RateLimit of subscription id.
func setRate(t *testing.T, st *storepg.Store, id string, rate float64) {
	t.Helper()
	_, err := st.UpdateSubscription(context.Background(), id, time.Now(), func(s *store.Subscription) error {
		s.RateLimit = rate
		return nil
	})
	require.NoError(t, err)
}

// claimAt claims as of now, with a generous quota and an hour's lease.
func claimAt(t *testing.T, st *storepg.Store, now time.Time, limit int) ([]store.Claim, time.Time) {
	t.Helper()
	cs, next, err := st.ClaimDue(context.Background(), store.ClaimRequest{Now: now, Limit: limit, LeaseUntil: now.Add(time.Hour), Quota: generous})
	require.NoError(t, err)
	return cs, next
}

// TestRateLimitAcrossInstances: three instances claim one subscription with RateLimit 5
// in turn, every 50 ms of a simulated clock for 4 s, each with a quota that would take
// everything due. Together they are sent the burst of 5 at once and then one request
// every 200 ms, never more than rate + burst in any second; every claim answers the time
// the next request is allowed as its next due time.
func TestRateLimitAcrossInstances(t *testing.T) {
	sts := instances(t, 3)
	setRate(t, sts[0], "sub_1", 5)
	t0 := time.Now().Truncate(time.Second)
	emitDue(t, sts[1], 40, t0)

	const step, period = 50 * time.Millisecond, 200 * time.Millisecond
	type claim struct {
		at  time.Time
		got int
	}
	var claims []claim
	perInstance := make([]int, len(sts))
	for i := 0; i <= 80; i++ {
		at := t0.Add(time.Duration(i) * step)
		cs, next := claimAt(t, sts[i%3], at, 10)
		claims = append(claims, claim{at, len(cs)})
		perInstance[i%3] += len(cs)
		// The bucket is spent at once, then holds one request every 200 ms.
		want := 0
		switch {
		case i == 0:
			want = 5
		case at.Sub(t0)%period == 0:
			want = 1
		}
		require.Equal(t, want, len(cs), "claimed at +%s", at.Sub(t0))
		nextAllowed := t0.Add((at.Sub(t0)/period + 1) * period)
		assert.WithinDuration(t, nextAllowed, next, time.Microsecond, "next of the claim at +%s", at.Sub(t0))
		assert.False(t, next.Before(nextAllowed), "next of the claim at +%s: not before the bucket allows", at.Sub(t0))
	}
	total := 0
	for i, c := range claims {
		total += c.got
		inSecond := 0
		for _, d := range claims[i:] {
			if d.at.Sub(c.at) < time.Second {
				inSecond += d.got
			}
		}
		assert.LessOrEqual(t, inSecond, 5+5, "sent in the second from +%s: at most rate + burst", c.at.Sub(t0))
	}
	assert.Equal(t, 5+4*5, total, "the burst, then 5 a second for 4 s")
	for i, n := range perInstance {
		assert.Positive(t, n, "instance %d was sent some", i)
	}
}

// TestRateLimitConcurrentClaims: three instances claim one subscription's fresh bucket at
// once, again and again, as of one time: the burst is sent once in all.
func TestRateLimitConcurrentClaims(t *testing.T) {
	sts := instances(t, 3)
	setRate(t, sts[0], "sub_1", 5)
	t0 := time.Now()
	emitDue(t, sts[0], 30, t0)
	var (
		mu    sync.Mutex
		total int
		wg    sync.WaitGroup
	)
	for _, st := range sts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				// A claim that found the head held waits up to 10 ms, and claims as of
				// then: 0.05 requests' worth at most, 0.25 over the five claims.
				cs, _, err := st.ClaimDue(context.Background(), store.ClaimRequest{Now: t0, Limit: 10, LeaseUntil: t0.Add(time.Hour), Quota: generous})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				total += len(cs)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 5, total, "the burst, once over all instances")
}

// TestRateLimitChanges: a subscription without a rate limit is claimed as the quota and
// the limit allow, and its queue head keeps no bucket; a rate limit set, raised, removed
// or lowered with UpdateSubscription applies from the next claim.
func TestRateLimitChanges(t *testing.T) {
	sts := instances(t, 2)
	a, b := sts[0], sts[1]
	ctx := context.Background()
	require.NoError(t, a.CreateSubscription(ctx, store.Subscription{ID: "sub_2", URL: "https://two.example.com/", Events: []string{"*"}}))
	t0 := time.Now().Truncate(time.Second)
	emitDue(t, a, 40, t0) // 40 deliveries to each subscription
	bucketOf := func(id string) *float64 {
		var tokens *float64
		require.NoError(t, testPool(t).QueryRow(ctx, `SELECT rate_tokens FROM `+pgx.Identifier{a.Schema()}.Sanitize()+`.heads WHERE sub_id = $1`, id).Scan(&tokens))
		return tokens
	}
	bySub := func(cs []store.Claim) map[string]int {
		n := map[string]int{}
		for _, c := range cs {
			n[c.Subscription.ID]++
		}
		return n
	}

	setRate(t, a, "sub_1", 1)
	cs, next := claimAt(t, a, t0, 30)
	assert.Equal(t, map[string]int{"sub_1": 1, "sub_2": 29}, bySub(cs), "sub_1 its burst of 1; sub_2 the rest of the limit")
	assert.WithinDuration(t, t0, next, 0, "sub_2 has more due now")
	cs, next = claimAt(t, b, t0, 30)
	assert.Equal(t, map[string]int{"sub_2": 11}, bySub(cs), "sub_1's bucket is empty for the other instance too")
	assert.WithinDuration(t, t0.Add(time.Second), next, time.Microsecond, "sub_2 has nothing left: when sub_1 may be sent one")
	assert.Nil(t, bucketOf("sub_2"), "no bucket for a subscription without a rate limit")

	setRate(t, a, "sub_1", 20) // up to 20 a second, a second's worth banked
	cs, next = claimAt(t, b, t0.Add(500*time.Millisecond), 30)
	assert.Equal(t, map[string]int{"sub_1": 10}, bySub(cs), "half a second at 20 a second")
	assert.WithinDuration(t, t0.Add(550*time.Millisecond), next, time.Microsecond)

	setRate(t, b, "sub_1", 0)
	cs, next = claimAt(t, a, t0.Add(500*time.Millisecond), 5)
	assert.Equal(t, map[string]int{"sub_1": 5}, bySub(cs), "no limit: what the claim's limit allows")
	assert.WithinDuration(t, t0, next, 0, "more due now")

	setRate(t, a, "sub_1", 0.5) // one request every 2 s, one banked
	cs, next = claimAt(t, b, t0.Add(3*time.Second), 30)
	assert.Equal(t, map[string]int{"sub_1": 1}, bySub(cs), "1.25 requests' worth since the last: the bucket holds one")
	assert.WithinDuration(t, t0.Add(5*time.Second), next, time.Microsecond)
	cs, next = claimAt(t, a, t0.Add(4*time.Second), 30)
	assert.Empty(t, cs)
	assert.WithinDuration(t, t0.Add(5*time.Second), next, time.Microsecond, "held back by the rate alone")
}

// TestRateLimitNotDueYet: a claim answers, for a subscription whose next delivery is not
// due yet, the time its rate allows that delivery, when that is later.
func TestRateLimitNotDueYet(t *testing.T) {
	sts := instances(t, 2)
	setRate(t, sts[0], "sub_1", 1)
	t0 := time.Now().Truncate(time.Second)
	emitDue(t, sts[0], 1, t0)
	cs, _ := claimAt(t, sts[0], t0, 10)
	require.Len(t, cs, 1, "the bucket's one request")
	emitDue(t, sts[0], 1, t0.Add(100*time.Millisecond))
	cs, next := claimAt(t, sts[1], t0.Add(50*time.Millisecond), 10)
	assert.Empty(t, cs, "nothing due")
	assert.WithinDuration(t, t0.Add(time.Second), next, time.Microsecond, "due at +100ms, allowed at +1s")
	cs, next = claimAt(t, sts[1], t0.Add(time.Second), 10)
	assert.Len(t, cs, 1)
	assert.WithinDuration(t, t0.Add(time.Hour), next, 0, "only the leases left: when they run out")
}

// TestRateLimitHeadLockedOnce: a claim that locks heads in several batches does not lock
// a rate-limited subscription's head again after leasing from it (which would spend the
// first lease from its bucket twice: qResetHeads counts every lease of the transaction).
func TestRateLimitHeadLockedOnce(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)
	st := openStore(t, pool)
	require.NoError(t, st.CreateSubscription(ctx, store.Subscription{ID: "sub_1", URL: "https://example.com/", Events: []string{eventtypes.OrderCreated}, RateLimit: 5}))
	for i := range 20 {
		require.NoError(t, st.CreateSubscription(ctx, store.Subscription{ID: fmt.Sprintf("sub_o%02d", i), URL: "https://o.example.com/", Events: []string{eventtypes.OrderUpdated}}))
	}
	t0 := time.Now().Truncate(time.Second)
	ins := func(typ string, due time.Time) {
		_, err := st.InsertEvent(ctx, store.Event{ID: store.NewID("evt"), Type: typ, OccurredAt: due, Data: []byte(`{}`)}, due)
		require.NoError(t, err)
	}
	ins(eventtypes.OrderCreated, t0)                         // sub_1's head: t0
	ins(eventtypes.OrderUpdated, t0.Add(time.Millisecond))   // 20 heads at t0+1ms
	ins(eventtypes.OrderCreated, t0.Add(2*time.Millisecond)) // sub_1's next: after them
	ins(eventtypes.OrderCreated, t0.Add(3*time.Millisecond))
	ins(eventtypes.OrderCreated, t0.Add(4*time.Millisecond))

	// One at a time for sub_1 (a quota that grants 1 per visit: e.g. the dispatcher's
	// own bucket holding 1.x tokens), nothing for the others. Limit 5: the first batch
	// locks 5+16 = 21 heads, all of them, and a second batch finds sub_1 again.
	asked := 0
	quota := func(s *store.Subscription, inFlight int) int {
		if s.ID == "sub_1" {
			asked++
			return 1
		}
		return 0
	}
	now := t0.Add(10 * time.Millisecond)
	cs, _, err := st.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 5, LeaseUntil: now.Add(time.Hour), Quota: quota})
	require.NoError(t, err)
	assert.Equal(t, 1, asked, "the head is visited once")
	require.Len(t, cs, 1)
	var tokens float64
	require.NoError(t, pool.QueryRow(ctx, `SELECT rate_tokens FROM `+pgx.Identifier{st.Schema()}.Sanitize()+`.heads WHERE sub_id = 'sub_1'`).Scan(&tokens))
	assert.Equal(t, 5-float64(len(cs)), tokens, "the bucket is charged once per delivery leased")

	// What is left for a claim right after, as of the same time:
	emitDueAt := func(n int) {
		for range n {
			ins(eventtypes.OrderCreated, t0)
		}
	}
	emitDueAt(5)
	cs2, _, err := st.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: 10, LeaseUntil: now.Add(time.Hour), Quota: func(s *store.Subscription, _ int) int {
		if s.ID == "sub_1" {
			return 100
		}
		return 0
	}})
	require.NoError(t, err)
	assert.Equal(t, 5-len(cs), len(cs2), "5 in the burst in all")
}
