package store

import (
	"math"
	"time"
)

// Stats are the health figures of a store: overall and per subscription.
type Stats struct {
	Overall       Health            `json:"overall"`
	Subscriptions map[string]Health `json:"subscriptions"`
}

// Health is the health of one subscription, or of all of them: delivery success rate,
// response times, errors by kind and queue depth.
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
	MeanResponse time.Duration `json:"mean_response"`
	P50Response  time.Duration `json:"p50_response"`
	P95Response  time.Duration `json:"p95_response"`
	P99Response  time.Duration `json:"p99_response"`
	// Queue depth at the time of the figures.
	Pending int64 `json:"pending"`
	Held    int64 `json:"held"`
	// OldestPendingAge is how long the oldest pending delivery has waited since it was
	// created (0 when none is pending).
	OldestPendingAge time.Duration `json:"oldest_pending_age"`
	// Failing is the current run of consecutive failed attempts: how many, since when.
	Failing FailureRun `json:"failing,omitzero"`
}

// Figures are the running totals a store keeps per subscription and overall, updated by
// every recorded attempt; Health is derived from them. The zero value is ready to use.
type Figures struct {
	Attempts            int64               `json:"attempts"`
	Succeeded           int64               `json:"succeeded"`
	Failed              int64               `json:"failed"`
	DeliveriesSucceeded int64               `json:"deliveries_succeeded"`
	DeliveriesFailed    int64               `json:"deliveries_failed"`
	ErrorsByKind        map[ErrorKind]int64 `json:"errors_by_kind,omitempty"`
	DurationSum         time.Duration       `json:"duration_sum"`
	// Buckets is a histogram of attempt durations; see BucketOf.
	Buckets []int64 `json:"buckets,omitempty"`
	// Run is the current run of consecutive failed attempts.
	Run FailureRun `json:"run,omitzero"`
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
	f.Attempts++
	if a.Succeeded() {
		f.Succeeded++
		f.Run = FailureRun{}
	} else {
		f.Failed++
		if f.Run.Count == 0 {
			f.Run.Since = a.SentAt
		}
		f.Run.Count++
		if a.ErrorKind != "" {
			if f.ErrorsByKind == nil {
				f.ErrorsByKind = make(map[ErrorKind]int64)
			}
			f.ErrorsByKind[a.ErrorKind]++
		}
	}
	switch state {
	case DeliverySucceeded:
		f.DeliveriesSucceeded++
	case DeliveryFailed:
		f.DeliveriesFailed++
	}
	f.DurationSum += a.Duration
	if f.Buckets == nil {
		f.Buckets = make([]int64, histBuckets)
	}
	f.Buckets[BucketOf(a.Duration)]++
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
}

// Health derives the health figures from the totals; the caller fills in the queue depth.
func (f Figures) Health() Health {
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
