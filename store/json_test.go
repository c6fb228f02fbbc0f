package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMillisExact(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		json string
	}{
		{0, "0"},
		{time.Nanosecond, "0.000001"},
		{1500 * time.Microsecond, "1.5"},
		{250 * time.Millisecond, "250"},
		{5 * time.Second, "5000"},
		{-1500 * time.Microsecond, "-1.5"},
		{time.Duration(math.MaxInt64), "9223372036854.775807"},
		{time.Duration(math.MinInt64), "-9223372036854.775808"},
	} {
		raw, err := json.Marshal(millis(tc.d))
		require.NoError(t, err)
		assert.Equal(t, tc.json, string(raw))
		var back millis
		require.NoError(t, json.Unmarshal(raw, &back))
		assert.Equal(t, tc.d, time.Duration(back), tc.json)
	}
	for in, want := range map[string]time.Duration{
		"1e3": time.Second, "0.0000004": 0, "0.0000006": time.Nanosecond, "2.50": 2500 * time.Microsecond,
	} {
		var m millis
		require.NoError(t, json.Unmarshal([]byte(in), &m), in)
		assert.Equal(t, want, time.Duration(m), in)
	}
	for _, in := range []string{`"5s"`, "true", "1e300", "9223372036855", "-", "1.2.3"} {
		var m millis
		assert.Error(t, json.Unmarshal([]byte(in), &m), in)
	}
}

func FuzzMillis(f *testing.F) {
	for _, n := range []int64{0, 1, -1, 1_500_000, math.MaxInt64, math.MinInt64, 999_999} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		raw, err := json.Marshal(millis(n))
		if err != nil {
			t.Fatal(err)
		}
		var back millis
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("%d encodes as %s, which does not decode: %v", n, raw, err)
		}
		if int64(back) != n {
			t.Fatalf("%d encodes as %s, which decodes as %d", n, raw, back)
		}
	})
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// jsonKeys returns every object key of a JSON document, with its path, map keys excluded
// (they are data: subscription IDs, error kinds, header names).
func jsonKeys(t *testing.T, v any, path string, maps map[string]bool, out map[string]any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := path + "." + k
			if maps[path] {
				p = path + ".*"
			} else {
				out[p] = e
			}
			jsonKeys(t, e, p, maps, out)
		}
	case []any:
		for _, e := range v {
			jsonKeys(t, e, path+"[]", maps, out)
		}
	}
}

// durationFields returns the time.Duration fields of a struct type, and of the struct
// types it holds, with their JSON tags.
func durationFields(typ reflect.Type, seen map[reflect.Type]bool, out map[string]string) {
	for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map || typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || seen[typ] {
		return
	}
	seen[typ] = true
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Type == reflect.TypeFor[time.Duration]() {
			out[typ.Name()+"."+f.Name] = f.Tag.Get("json")
			continue
		}
		durationFields(f.Type, seen, out)
	}
}

// Every data type encodes by the package's rule: snake_case names, durations never in
// nanoseconds (every time.Duration field is left to the type's MarshalJSON, which writes
// it in milliseconds under a "_ms" name), and decodes back to itself.
func TestJSONRule(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var f Figures
	f.Observe(Attempt{SentAt: t0, Duration: 3 * time.Millisecond, Outcome: OutcomeRetry, ErrorKind: ErrorServer}, DeliveryPending)
	f.Observe(Attempt{SentAt: t0.Add(time.Hour), Duration: 1500 * time.Microsecond, Outcome: OutcomeSucceeded}, DeliverySucceeded)
	h := f.HealthAt(t0.Add(time.Hour))
	h.OldestPendingAge = time.Minute
	values := []any{
		&Subscription{ID: "sub_1", Events: []string{"*"}, Headers: map[string]string{"X-Key": "v"}, Metadata: map[string]string{"Shop_ID": "1"}, Timeout: 1500 * time.Millisecond, PreviousSecretExpiresAt: t0},
		&Event{ID: "evt_1", Type: "order.created", OccurredAt: t0, Data: json.RawMessage(`{"Not_Snake":1}`)},
		&Delivery{ID: "dlv_1", Attempts: []Attempt{{Number: 1, SentAt: t0, Duration: time.Millisecond, NextAttemptAt: t0}}, NextAttemptAt: t0, LeasedUntil: t0},
		&Attempt{Number: 1, SentAt: t0, Duration: 1500 * time.Microsecond},
		&Stats{Overall: h, Subscriptions: map[string]Health{"sub_Mixed": f.HealthAt(t0)}},
		&h,
		&f,
		&h.LastDay,
		&f.Daily[0],
		&FailureRun{Count: 1, Since: t0},
	}
	maps := map[string]bool{
		".headers": true, ".metadata": true, ".data": true, ".subscriptions": true,
		".errors_by_kind": true, ".overall.errors_by_kind": true, ".subscriptions.*.errors_by_kind": true,
		".last_hour.errors_by_kind": true, ".last_day.errors_by_kind": true,
		".overall.last_hour.errors_by_kind": true, ".overall.last_day.errors_by_kind": true,
		".subscriptions.*.last_hour.errors_by_kind": true, ".subscriptions.*.last_day.errors_by_kind": true,
		".recent[].errors_by_kind": true, ".daily[].errors_by_kind": true,
	}
	for _, v := range values {
		name := reflect.TypeOf(v).Elem().Name()
		t.Run(name, func(t *testing.T) {
			fields := map[string]string{}
			durationFields(reflect.TypeOf(v), map[reflect.Type]bool{}, fields)
			for field, tag := range fields {
				assert.Equal(t, "-", tag, "%s is encoded by its type's MarshalJSON, in milliseconds", field)
			}
			raw, err := json.Marshal(v)
			require.NoError(t, err)
			var doc any
			require.NoError(t, json.Unmarshal(raw, &doc))
			keys := map[string]any{}
			jsonKeys(t, doc, "", maps, keys)
			for path, val := range keys {
				key := path[strings.LastIndexAny(path, ".]")+1:]
				assert.Regexp(t, snakeCase, key, "%s: %s is not snake_case", name, path)
				if strings.HasSuffix(key, "_ms") {
					_, ok := val.(float64)
					assert.True(t, ok, "%s: %s is a number", name, path)
				}
			}
			back := reflect.New(reflect.TypeOf(v).Elem())
			require.NoError(t, json.Unmarshal(raw, back.Interface()))
			assert.Equal(t, reflect.ValueOf(v).Elem().Interface(), back.Elem().Interface(), "%s decodes back to itself: %s", name, raw)
		})
	}

	raw, err := json.Marshal(values[3])
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"duration_ms":1.5`)
	raw, err = json.Marshal(values[0])
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"timeout_ms":1500`)
	raw, err = json.Marshal(h)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"oldest_pending_age_ms":60000`)
	assert.Contains(t, string(raw), `"last_hour":{"since":"2025-03-01T12:00:00Z","attempts":2,`)
}

// Records written before durations were milliseconds, as the bbolt store has them, still
// read.
func TestJSONReadsNanosecondRecords(t *testing.T) {
	var a Attempt
	require.NoError(t, json.Unmarshal([]byte(`{"number":2,"sent_at":"2025-03-01T12:00:00Z","duration":1500000,"status_code":503,"outcome":"retry"}`), &a))
	assert.Equal(t, 1500*time.Microsecond, a.Duration)
	assert.Equal(t, 503, a.StatusCode)

	var d Delivery
	require.NoError(t, json.Unmarshal([]byte(`{"id":"dlv_1","attempts":[{"number":1,"duration":2000000,"outcome":"retry"}]}`), &d))
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, 2*time.Millisecond, d.Attempts[0].Duration)

	var s Subscription
	require.NoError(t, json.Unmarshal([]byte(`{"id":"sub_1","url":"https://a.example.com","events":["*"],"timeout":5000000000,"max_in_flight":2}`), &s))
	assert.Equal(t, 5*time.Second, s.Timeout)
	assert.Equal(t, 2, s.MaxInFlight)
	assert.Equal(t, []string{"*"}, s.Events)

	var f Figures
	require.NoError(t, json.Unmarshal([]byte(`{"attempts":4,"succeeded":3,"duration_sum":8000000,"buckets":[1,2],"run":{"count":1}}`), &f))
	assert.Equal(t, 8*time.Millisecond, f.DurationSum)
	assert.Equal(t, int64(4), f.Attempts)
	assert.Equal(t, []int64{1, 2}, f.Buckets)
	assert.Equal(t, int64(1), f.Run.Count)

	// The new names win when a record has both.
	require.NoError(t, json.Unmarshal([]byte(`{"duration":1,"duration_ms":7}`), &a))
	assert.Equal(t, 7*time.Millisecond, a.Duration)
}

// TestSubscriptionPrintsNoCredentials: a subscription formatted with fmt or logged with
// log/slog, as an application might by mistake, shows neither secret nor header value;
// its JSON, which stores keep, still has them.
func TestSubscriptionPrintsNoCredentials(t *testing.T) {
	sub := Subscription{ID: "sub_1", Workspace: "shop_1", URL: "https://example.com/hooks",
		Secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", PreviousSecret: "whsec_b2xkLW9sZC1vbGQtb2xk",
		Headers: map[string]string{"Authorization": "Bearer tok_live_123"}}
	var logged bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logged, nil), slog.NewJSONHandler(&logged, nil)} {
		slog.New(h).Info("subscribed", "sub", sub, "ptr", &sub)
	}
	// A slice is formatted element by element as text; as JSON it is the subscriptions'
	// JSON, which has their credentials (see MarshalJSON).
	slog.New(slog.NewTextHandler(&logged, nil)).Info("subscribed", "list", []Subscription{sub})
	for _, out := range []string{
		fmt.Sprint(sub), fmt.Sprintf("%v %+v %#v %s", sub, sub, sub, sub), fmt.Sprintf("%v", &sub),
		fmt.Sprint([]Subscription{sub}), logged.String(),
	} {
		assert.NotContains(t, out, "c2VjcmV0")
		assert.NotContains(t, out, "b2xkLW9s")
		assert.NotContains(t, out, "tok_live_123")
		assert.Contains(t, out, "sub_1")
		assert.Contains(t, out, "Authorization", "header names stay")
	}
	b, err := json.Marshal(sub)
	require.NoError(t, err)
	assert.Contains(t, string(b), sub.Secret)
	assert.Contains(t, string(b), "tok_live_123")
}
