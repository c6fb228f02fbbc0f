package store

import (
	"encoding/json"
	"math"
	"time"
)

// Stats are the health figures of a store: overall and per subscription.
type Stats struct {
	Overall       Health            `json:"overall"`
	Subscriptions map[string]Health `json:"subscriptions"`
}

// Health is the health of one subscription, or of all of them: delivery success rate,
// response times, errors by kind and queue depth. The totals count every attempt since the
// subscription (or the store) was created; LastHour and LastDay count the recent ones, so
// that an endpoint that is failing now does not look healthy for its long past.
//
// In JSON, durations are numbers of milliseconds in fields whose names end in "_ms":
// "mean_response_ms", "p50_response_ms", "p95_response_ms", "p99_response_ms",
// "oldest_pending_age_ms".
type Health struct {
	Attempts  int64 `json:"attempts"`  // attempts recorded (tests excluded)
	Succeeded int64 `json:"succeeded"` // attempts that got a 2xx
	Failed    int64 `json:"failed"`    // attempts that did not
	// SuccessRate is Succeeded/Attempts, 0 when there were no attempts.
	SuccessRate float64 `json:"success_rate"`
	// DeliveriesSucceeded and DeliveriesFailed count deliveries that ended so.
	DeliveriesSucceeded int64 `json:"deliveries_succeeded"`
	DeliveriesFailed    int64 `json:"deliveries_failed"`
	// ErrorsByKind counts failed attempts by kind.
	ErrorsByKind map[ErrorKind]int64 `json:"errors_by_kind"`
	// Response times of attempts that got an answer or timed out: mean and percentiles
	// (percentiles from a histogram with buckets 10% wide).
	MeanResponse time.Duration `json:"-"`
	P50Response  time.Duration `json:"-"`
	P95Response  time.Duration `json:"-"`
	P99Response  time.Duration `json:"-"`
	// Queue depth at the time of the figures.
	Pending int64 `json:"pending"`
	Held    int64 `json:"held"`
	// OldestPendingAge is how long the oldest pending delivery has waited since it was
	// created (0 when none is pending).
	OldestPendingAge time.Duration `json:"-"`
	// Failing is the current run of consecutive failed attempts: how many, since when.
	Failing FailureRun `json:"failing,omitzero"`
	// LastHour covers the attempts sent since an hour ago rounded down to five minutes
	// (RecentSlot): between 60 and 65 minutes. LastDay covers those sent since a day ago
	// rounded down to the hour (DaySlot): between 24 and 25 hours. Since says where each
	// begins; slots are aligned on UTC.
	LastHour Window `json:"last_hour"`
	LastDay  Window `json:"last_day"`
}

// MarshalJSON writes the figures with their durations in milliseconds.
func (h Health) MarshalJSON() ([]byte, error) {
	type plain Health
	return json.Marshal(struct {
		plain
		MeanResponse     millis `json:"mean_response_ms"`
		P50Response      millis `json:"p50_response_ms"`
		P95Response      millis `json:"p95_response_ms"`
		P99Response      millis `json:"p99_response_ms"`
		OldestPendingAge millis `json:"oldest_pending_age_ms"`
	}{plain(h), millis(h.MeanResponse), millis(h.P50Response), millis(h.P95Response), millis(h.P99Response), millis(h.OldestPendingAge)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (h *Health) UnmarshalJSON(b []byte) error {
	type plain Health
	v := struct {
		*plain
		MeanResponse     *millis `json:"mean_response_ms"`
		P50Response      *millis `json:"p50_response_ms"`
		P95Response      *millis `json:"p95_response_ms"`
		P99Response      *millis `json:"p99_response_ms"`
		OldestPendingAge *millis `json:"oldest_pending_age_ms"`
	}{plain: (*plain)(h)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	for _, f := range []struct {
		from *millis
		to   *time.Duration
	}{{v.MeanResponse, &h.MeanResponse}, {v.P50Response, &h.P50Response}, {v.P95Response, &h.P95Response}, {v.P99Response, &h.P99Response}, {v.OldestPendingAge, &h.OldestPendingAge}} {
		if f.from != nil {
			*f.to = time.Duration(*f.from)
		}
	}
	return nil
}

// Figures are the running totals a store keeps per subscription and overall, updated by
// every recorded attempt; Health is derived from them. The zero value is ready to use.
//
// Stores keep Figures as they are, in memory or as JSON: its JSON is a storage format that
// a later version of this package keeps reading. DurationSum is "duration_sum_ms" (figures
// written before it was, with "duration_sum" in nanoseconds, are read too).
type Figures struct {
	Attempts            int64               `json:"attempts"`
	Succeeded           int64               `json:"succeeded"`
	Failed              int64               `json:"failed"`
	DeliveriesSucceeded int64               `json:"deliveries_succeeded"`
	DeliveriesFailed    int64               `json:"deliveries_failed"`
	ErrorsByKind        map[ErrorKind]int64 `json:"errors_by_kind,omitempty"`
	DurationSum         time.Duration       `json:"-"`
	// Buckets is a histogram of attempt durations; see BucketOf.
	Buckets []int64 `json:"buckets,omitempty"`
	// Run is the current run of consecutive failed attempts.
	Run FailureRun `json:"run,omitzero"`
	// Recent holds the attempts of the last hour by send time, in at most RecentSlots
	// slots of RecentSlot, oldest first; Daily those of the last day, in at most DaySlots
	// slots of DaySlot. Health's LastHour and LastDay are summed from them. In JSON each
	// slot is one compact string (see MarshalJSON).
	Recent []Slot `json:"-"`
	Daily  []Slot `json:"-"`
}

// MarshalJSON writes the figures with DurationSum in milliseconds, and Recent and Daily
// as "recent" and "daily": arrays with one string per slot, "<start, Unix seconds>
// <attempts> <succeeded> <deliveries succeeded> <deliveries failed> <duration sum, ms>
// <max duration, ms>[ <error kind>=<count>...]", as in "1740787200 3 2 2 0 1.5 0.9 5xx=1".
// Figures are rewritten on every recorded attempt; that form costs a store a fraction of
// what an object per slot would.
func (f Figures) MarshalJSON() ([]byte, error) {
	type plain Figures
	return json.Marshal(struct {
		plain
		DurationSum millis       `json:"duration_sum_ms"`
		Recent      compactSlots `json:"recent,omitempty"`
		Daily       compactSlots `json:"daily,omitempty"`
	}{plain(f), millis(f.DurationSum), compactSlots(f.Recent), compactSlots(f.Daily)})
}

// UnmarshalJSON reads what MarshalJSON writes, and figures written with "duration_sum" in
// nanoseconds.
func (f *Figures) UnmarshalJSON(b []byte) error {
	type plain Figures
	v := struct {
		*plain
		DurationSum   *millis       `json:"duration_sum_ms"`
		DurationSumNS *int64        `json:"duration_sum"`
		Recent        *compactSlots `json:"recent"`
		Daily         *compactSlots `json:"daily"`
	}{plain: (*plain)(f), Recent: (*compactSlots)(&f.Recent), Daily: (*compactSlots)(&f.Daily)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch {
	case v.DurationSum != nil:
		f.DurationSum = time.Duration(*v.DurationSum)
	case v.DurationSumNS != nil:
		f.DurationSum = time.Duration(*v.DurationSumNS)
	}
	return nil
}

// Histogram layout: bucket 0 holds durations up to histMin, bucket i durations up to
// histMin*histGrowth^i; the last bucket holds everything longer.
const (
	histMin     = 100 * time.Microsecond
	histGrowth  = 1.1
	histBuckets = 160 // up to about 6 minutes
)

// BucketOf returns the histogram bucket of a duration.
func BucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(histMin)) / math.Log(histGrowth)))
	return min(i, histBuckets-1)
}

// bucketUpper is the longest duration bucket i holds.
func bucketUpper(i int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
}

// Observe adds one attempt, and the state its delivery is left in, to the figures.
func (f *Figures) Observe(a Attempt, state DeliveryState) {
	o := newObservation(a, state)
	f.observe(&o)
}

// observation is an attempt as figures count it, worked out once for all the figures it
// goes into (a subscription's, its workspace's, the store's).
type observation struct {
	succeeded     bool
	kind          ErrorKind
	state         DeliveryState
	sentAt        time.Time
	duration      time.Duration
	bucket        int
	recent, daily time.Time // the starts of its slots; zero when sentAt is
}

func newObservation(a Attempt, state DeliveryState) observation {
	o := observation{
		succeeded: a.Succeeded(), kind: a.ErrorKind, state: state,
		sentAt: a.SentAt, duration: a.Duration, bucket: BucketOf(a.Duration),
	}
	if !a.SentAt.IsZero() {
		utc := a.SentAt.UTC()
		o.recent, o.daily = utc.Truncate(RecentSlot), utc.Truncate(DaySlot)
	}
	return o
}

// observe adds o to the figures.
func (f *Figures) observe(o *observation) {
	f.Attempts++
	if o.succeeded {
		f.Succeeded++
		f.Run = FailureRun{}
	} else {
		f.Failed++
		if f.Run.Count == 0 {
			f.Run.Since = o.sentAt
		}
		f.Run.Count++
		if o.kind != "" {
			if f.ErrorsByKind == nil {
				f.ErrorsByKind = make(map[ErrorKind]int64)
			}
			f.ErrorsByKind[o.kind]++
		}
	}
	switch o.state {
	case DeliverySucceeded:
		f.DeliveriesSucceeded++
	case DeliveryFailed:
		f.DeliveriesFailed++
	}
	f.DurationSum += o.duration
	if f.Buckets == nil {
		f.Buckets = make([]int64, histBuckets)
	}
	f.Buckets[o.bucket]++
	f.Recent = observeSlots(f.Recent, o, o.recent, RecentSlot, RecentSlots)
	f.Daily = observeSlots(f.Daily, o, o.daily, DaySlot, DaySlots)
}

// Merge adds other's totals to f.
func (f *Figures) Merge(other Figures) {
	f.Attempts += other.Attempts
	f.Succeeded += other.Succeeded
	f.Failed += other.Failed
	f.DeliveriesSucceeded += other.DeliveriesSucceeded
	f.DeliveriesFailed += other.DeliveriesFailed
	f.DurationSum += other.DurationSum
	for k, v := range other.ErrorsByKind {
		if f.ErrorsByKind == nil {
			f.ErrorsByKind = make(map[ErrorKind]int64)
		}
		f.ErrorsByKind[k] += v
	}
	if len(other.Buckets) > 0 && f.Buckets == nil {
		f.Buckets = make([]int64, histBuckets)
	}
	for i, v := range other.Buckets {
		f.Buckets[i] += v
	}
	f.Recent = mergeSlots(f.Recent, other.Recent, RecentSlot, RecentSlots)
	f.Daily = mergeSlots(f.Daily, other.Daily, DaySlot, DaySlots)
}

// Health is HealthAt(time.Now()).
func (f Figures) Health() Health { return f.HealthAt(time.Now()) }

// HealthAt derives the health figures from the totals, with the windows ending at now;
// the caller fills in the queue depth. A store's Stats calls it with its own now.
func (f Figures) HealthAt(now time.Time) Health {
	h := Health{
		Attempts:            f.Attempts,
		Succeeded:           f.Succeeded,
		Failed:              f.Failed,
		DeliveriesSucceeded: f.DeliveriesSucceeded,
		DeliveriesFailed:    f.DeliveriesFailed,
		ErrorsByKind:        make(map[ErrorKind]int64, len(f.ErrorsByKind)),
		Failing:             f.Run,
	}
	for k, v := range f.ErrorsByKind {
		h.ErrorsByKind[k] = v
	}
	if f.Attempts > 0 {
		h.SuccessRate = float64(f.Succeeded) / float64(f.Attempts)
		h.MeanResponse = f.DurationSum / time.Duration(f.Attempts)
		h.P50Response = f.percentile(0.50)
		h.P95Response = f.percentile(0.95)
		h.P99Response = f.percentile(0.99)
	}
	h.LastHour = window(f.Recent, now, time.Hour, RecentSlot)
	h.LastDay = window(f.Daily, now, 24*time.Hour, DaySlot)
	return h
}

// percentile returns the upper bound of the bucket holding the q-th quantile.
func (f Figures) percentile(q float64) time.Duration {
	var total int64
	for _, n := range f.Buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, n := range f.Buckets {
		seen += n
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(len(f.Buckets) - 1)
}
