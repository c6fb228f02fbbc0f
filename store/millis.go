package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// millis is a duration as JSON writes it: a number of milliseconds, exact to the
// nanosecond (1.5 for 1.5 ms, 0.000001 for 1 ns), so that a duration survives a round
// trip through JSON unchanged.
type millis time.Duration

// MarshalJSON writes the duration as a number of milliseconds.
func (m millis) MarshalJSON() ([]byte, error) {
	return appendMillis(nil, time.Duration(m)), nil
}

// UnmarshalJSON reads a number of milliseconds; null leaves the value unchanged.
func (m *millis) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	d, err := parseMillis(string(b))
	if err != nil {
		return err
	}
	*m = millis(d)
	return nil
}

// appendMillis appends d as a decimal number of milliseconds with at most six fractional
// digits and no trailing zeros.
func appendMillis(b []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u // two's complement: right for math.MinInt64 too
	}
	b = strconv.AppendUint(b, u/1e6, 10)
	if frac := u % 1e6; frac != 0 {
		var digits [6]byte
		for i := 5; i >= 0; i-- {
			digits[i] = byte('0' + frac%10)
			frac /= 10
		}
		b = append(b, '.')
		b = append(b, bytes.TrimRight(digits[:], "0")...)
	}
	return b
}

var errMillis = errors.New("store: a duration must be a JSON number of milliseconds")

// parseMillis reads a JSON number of milliseconds exactly when it has at most six
// fractional digits and no exponent (what appendMillis writes), and to the nearest
// nanosecond otherwise.
func parseMillis(s string) (time.Duration, error) {
	intPart, frac, hasFrac := cutByte(s, '.')
	neg := len(intPart) > 0 && intPart[0] == '-'
	if neg {
		intPart = intPart[1:]
	}
	if !digitsOnly(intPart) || (hasFrac && !digitsOnly(frac)) || len(frac) > 6 {
		// An exponent, more digits than nanoseconds, or not a number at all.
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f*1e6) >= math.MaxInt64 {
			return 0, fmt.Errorf("%w, not %.40s", errMillis, s)
		}
		return time.Duration(math.Round(f * 1e6)), nil
	}
	ns := uint64(0)
	if hasFrac {
		for i := range 6 {
			ns *= 10
			if i < len(frac) {
				ns += uint64(frac[i] - '0')
			}
		}
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // math.MinInt64 has no positive counterpart
	}
	ms, err := strconv.ParseUint(intPart, 10, 64)
	if err != nil || ms > (limit-ns)/1e6 {
		return 0, fmt.Errorf("%w in range, not %.40s", errMillis, s)
	}
	u := ms*1e6 + ns
	if neg {
		u = -u
	}
	return time.Duration(u), nil
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
