package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Windowed health: besides its totals since creation, Figures keeps the attempts of the
// last day in time slots, so that Health can say how an endpoint is doing now rather than
// on average since it was created. The slots are bounded (RecentSlots of RecentSlot for
// the last hour, DaySlots of DaySlot for the last day), updated by Observe, and kept in
// the figures themselves, so every store has them without scanning its log.
const (
	// RecentSlot is the width of the slots LastHour is made of.
	RecentSlot = 5 * time.Minute
	// DaySlot is the width of the slots LastDay is made of.
	DaySlot = time.Hour
	// RecentSlots is how many RecentSlot slots Figures keeps: enough for the last hour
	// from any moment within a slot.
	RecentSlots = int(time.Hour/RecentSlot) + 1
	// DaySlots is how many DaySlot slots Figures keeps: enough for the last day.
	DaySlots = int(24*time.Hour/DaySlot) + 1
)

// Slot is what Figures keeps of the attempts sent in one time slot.
type Slot struct {
	// Start is the start of the slot (UTC, a multiple of the slot's width since the zero
	// time: slots of an hour start on the hour). It holds attempts with Start <= SentAt <
	// Start + width.
	Start               time.Time           `json:"start"`
	Attempts            int64               `json:"attempts"`
	Succeeded           int64               `json:"succeeded,omitempty"`
	DeliveriesSucceeded int64               `json:"deliveries_succeeded,omitempty"`
	DeliveriesFailed    int64               `json:"deliveries_failed,omitempty"`
	ErrorsByKind        map[ErrorKind]int64 `json:"errors_by_kind,omitempty"`
	// DurationSum and MaxDuration are the sum and the longest of the attempts' durations;
	// in JSON "duration_sum_ms" and "max_duration_ms".
	DurationSum time.Duration `json:"-"`
	MaxDuration time.Duration `json:"-"`
}

// MarshalJSON writes the slot with its durations in milliseconds.
func (s Slot) MarshalJSON() ([]byte, error) {
	type plain Slot
	return json.Marshal(struct {
		plain
		DurationSum millis `json:"duration_sum_ms"`
		MaxDuration millis `json:"max_duration_ms"`
	}{plain(s), millis(s.DurationSum), millis(s.MaxDuration)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Slot) UnmarshalJSON(b []byte) error {
	type plain Slot
	v := struct {
		*plain
		DurationSum *millis `json:"duration_sum_ms"`
		MaxDuration *millis `json:"max_duration_ms"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.DurationSum != nil {
		s.DurationSum = time.Duration(*v.DurationSum)
	}
	if v.MaxDuration != nil {
		s.MaxDuration = time.Duration(*v.MaxDuration)
	}
	return nil
}

// observe adds one attempt to the slot.
func (s *Slot) observe(o *observation) {
	s.Attempts++
	if o.succeeded {
		s.Succeeded++
	} else if o.kind != "" {
		if s.ErrorsByKind == nil {
			s.ErrorsByKind = make(map[ErrorKind]int64)
		}
		s.ErrorsByKind[o.kind]++
	}
	switch o.state {
	case DeliverySucceeded:
		s.DeliveriesSucceeded++
	case DeliveryFailed:
		s.DeliveriesFailed++
	}
	s.DurationSum += o.duration
	s.MaxDuration = max(s.MaxDuration, o.duration)
}

// merge adds other's counts to s.
func (s *Slot) merge(other Slot) {
	s.Attempts += other.Attempts
	s.Succeeded += other.Succeeded
	s.DeliveriesSucceeded += other.DeliveriesSucceeded
	s.DeliveriesFailed += other.DeliveriesFailed
	for k, v := range other.ErrorsByKind {
		if s.ErrorsByKind == nil {
			s.ErrorsByKind = make(map[ErrorKind]int64)
		}
		s.ErrorsByKind[k] += v
	}
	s.DurationSum += other.DurationSum
	s.MaxDuration = max(s.MaxDuration, other.MaxDuration)
}

// slotFind returns the index of the slot starting at start in slots (sorted by Start),
// or where it would be inserted, and whether it is there.
func slotFind(slots []Slot, start time.Time) (int, bool) {
	i := len(slots)
	for i > 0 && slots[i-1].Start.After(start) { // new attempts land in the last slot
		i--
	}
	if i > 0 && slots[i-1].Start.Equal(start) {
		return i - 1, true
	}
	return i, false
}

// slotAt returns the slot for start in slots, making it if needed, and the slots with
// those older than n slots before the newest dropped; nil when start itself is too old.
func slotAt(slots []Slot, start time.Time, width time.Duration, n int) ([]Slot, *Slot) {
	i, ok := slotFind(slots, start)
	if ok {
		return slots, &slots[i]
	}
	newest := start
	if len(slots) > 0 && slots[len(slots)-1].Start.After(newest) {
		newest = slots[len(slots)-1].Start
	}
	oldest := newest.Add(-time.Duration(n-1) * width)
	if start.Before(oldest) {
		return slots, nil // an attempt recorded long after it was sent: past every window
	}
	slots = append(slots, Slot{})
	copy(slots[i+1:], slots[i:])
	slots[i] = Slot{Start: start}
	drop := 0
	for drop < len(slots) && slots[drop].Start.Before(oldest) {
		drop++
	}
	if drop > 0 {
		i -= drop
		slots = append(slots[:0], slots[drop:]...)
	}
	return slots, &slots[i]
}

// observeSlots adds an attempt to its slot, the one starting at start.
func observeSlots(slots []Slot, o *observation, start time.Time, width time.Duration, n int) []Slot {
	if o.sentAt.IsZero() {
		return slots
	}
	slots, s := slotAt(slots, start, width, n)
	if s != nil {
		s.observe(o)
	}
	return slots
}

// mergeSlots adds other's slots to slots.
func mergeSlots(slots, other []Slot, width time.Duration, n int) []Slot {
	for _, o := range other {
		var s *Slot
		if slots, s = slotAt(slots, o.Start, width, n); s != nil {
			s.merge(o)
		}
	}
	return slots
}

// Window is the health of the attempts sent in a recent period, summed over the slots
// the period is made of: the counts, success rate and errors of Health's totals, and the
// mean and longest response time (percentiles are kept for the totals only).
type Window struct {
	// Since is the start of the oldest slot counted: the window covers [Since, now].
	Since     time.Time `json:"since"`
	Attempts  int64     `json:"attempts"`
	Succeeded int64     `json:"succeeded"`
	Failed    int64     `json:"failed"`
	// SuccessRate is Succeeded/Attempts, 0 when there were no attempts.
	SuccessRate         float64             `json:"success_rate"`
	DeliveriesSucceeded int64               `json:"deliveries_succeeded"`
	DeliveriesFailed    int64               `json:"deliveries_failed"`
	ErrorsByKind        map[ErrorKind]int64 `json:"errors_by_kind"`
	// MeanResponse and MaxResponse are the mean and the longest response time of the
	// window's attempts; in JSON "mean_response_ms" and "max_response_ms".
	MeanResponse time.Duration `json:"-"`
	MaxResponse  time.Duration `json:"-"`
}

// MarshalJSON writes the window with its durations in milliseconds.
func (w Window) MarshalJSON() ([]byte, error) {
	type plain Window
	return json.Marshal(struct {
		plain
		MeanResponse millis `json:"mean_response_ms"`
		MaxResponse  millis `json:"max_response_ms"`
	}{plain(w), millis(w.MeanResponse), millis(w.MaxResponse)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (w *Window) UnmarshalJSON(b []byte) error {
	type plain Window
	v := struct {
		*plain
		MeanResponse *millis `json:"mean_response_ms"`
		MaxResponse  *millis `json:"max_response_ms"`
	}{plain: (*plain)(w)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.MeanResponse != nil {
		w.MeanResponse = time.Duration(*v.MeanResponse)
	}
	if v.MaxResponse != nil {
		w.MaxResponse = time.Duration(*v.MaxResponse)
	}
	return nil
}

// window sums the slots from the one holding now-period to the one holding now: at least
// period, and less than period plus one slot.
func window(slots []Slot, now time.Time, period, width time.Duration) Window {
	cur := now.UTC().Truncate(width)
	w := Window{Since: now.UTC().Add(-period).Truncate(width), ErrorsByKind: map[ErrorKind]int64{}}
	var sum Slot
	for _, s := range slots {
		if !s.Start.Before(w.Since) && !s.Start.After(cur) {
			sum.merge(s)
		}
	}
	w.Attempts, w.Succeeded, w.Failed = sum.Attempts, sum.Succeeded, sum.Attempts-sum.Succeeded
	w.DeliveriesSucceeded, w.DeliveriesFailed = sum.DeliveriesSucceeded, sum.DeliveriesFailed
	for k, v := range sum.ErrorsByKind {
		w.ErrorsByKind[k] = v
	}
	if sum.Attempts > 0 {
		w.SuccessRate = float64(sum.Succeeded) / float64(sum.Attempts)
		w.MeanResponse = sum.DurationSum / time.Duration(sum.Attempts)
		w.MaxResponse = sum.MaxDuration
	}
	return w
}

// compactSlots is how Figures writes its slots: one JSON string per slot,
// "<start, Unix seconds> <attempts> <succeeded> <deliveries succeeded> <deliveries failed>
// <duration sum, ms> <max duration, ms>[ <error kind>=<count>...]", as in
// "1740787200 3 2 2 0 1.5 0.9 5xx=1". Figures are rewritten on every recorded attempt, and
// this form costs a store a fraction of what objects would.
type compactSlots []Slot

// MarshalJSON writes the slots as strings.
func (cs compactSlots) MarshalJSON() ([]byte, error) {
	b := append(make([]byte, 0, 48*len(cs)), '[')
	kinds := make([]string, 0, 4)
	for i, s := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, s.Start.Unix(), 10)
		for _, n := range []int64{s.Attempts, s.Succeeded, s.DeliveriesSucceeded, s.DeliveriesFailed} {
			b = append(b, ' ')
			b = strconv.AppendInt(b, n, 10)
		}
		b = appendMillis(append(b, ' '), s.DurationSum)
		b = appendMillis(append(b, ' '), s.MaxDuration)
		kinds = kinds[:0]
		for k := range s.ErrorsByKind {
			kinds = append(kinds, string(k))
		}
		slices.Sort(kinds)
		for _, k := range kinds {
			b = append(b, ' ')
			b = append(b, url.QueryEscape(k)...) // no space, '=' or '"' in the string
			b = append(b, '=')
			b = strconv.AppendInt(b, s.ErrorsByKind[ErrorKind(k)], 10)
		}
		b = append(b, '"')
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads what MarshalJSON writes; slots written as objects are read too.
func (cs *compactSlots) UnmarshalJSON(b []byte) error {
	var strs []string
	if err := json.Unmarshal(b, &strs); err != nil {
		var objs []Slot
		if json.Unmarshal(b, &objs) != nil {
			return err
		}
		*cs = objs
		return nil
	}
	out := make([]Slot, len(strs))
	for i, str := range strs {
		if err := out[i].parseCompact(str); err != nil {
			return err
		}
	}
	*cs = out
	return nil
}

var errCompactSlot = errors.New("store: a figures slot is not in the compact form")

// parseCompact reads one slot as compactSlots writes it.
func (s *Slot) parseCompact(str string) error {
	bad := func() error { return fmt.Errorf("%w: %.80q", errCompactSlot, str) }
	var field [7]string
	rest := str
	for i := range field {
		var ok bool
		field[i], rest, ok = strings.Cut(rest, " ")
		if !ok && i < len(field)-1 {
			return bad()
		}
	}
	var n [5]int64
	for i := range n {
		v, err := strconv.ParseInt(field[i], 10, 64)
		if err != nil {
			return bad()
		}
		n[i] = v
	}
	sum, err1 := parseMillis(field[5])
	maxD, err2 := parseMillis(field[6])
	if err1 != nil || err2 != nil {
		return bad()
	}
	*s = Slot{Start: time.Unix(n[0], 0).UTC(), Attempts: n[1], Succeeded: n[2], DeliveriesSucceeded: n[3], DeliveriesFailed: n[4], DurationSum: sum, MaxDuration: maxD}
	for rest != "" {
		var kv string
		kv, rest, _ = strings.Cut(rest, " ")
		k, v, ok := strings.Cut(kv, "=")
		kind, err := url.QueryUnescape(k)
		count, err2 := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || err2 != nil {
			return bad()
		}
		if s.ErrorsByKind == nil {
			s.ErrorsByKind = make(map[ErrorKind]int64)
		}
		s.ErrorsByKind[ErrorKind(kind)] = count
	}
	return nil
}
