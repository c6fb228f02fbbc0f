package storebolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shophooks/webhook/store"
)

// A delivery record is written in a binary encoding that starts with recordBinary:
//
//	recordBinary, uvarint seq, strings id, workspace, event ID, subscription ID, event
//	type, state, times next attempt, leased until, created, updated, uvarint round
//	start, bool test, uvarint number of attempts plus one (0: nil, as JSON's null), then
//	each attempt: uvarint number, time
//	sent, varint duration (ns), varint status code, strings response body, error, error
//	kind, outcome, time next attempt, bool test
//
// where a string is a uvarint length and its bytes, a time a uvarint length and
// time.Time's binary form (instant and zone offset), a bool one byte. Records written as
// JSON (formats 1 and 2, which start with '{') are still read; each is rewritten in the
// binary encoding the next time its delivery changes. The encoding costs a fraction of
// JSON's, and a delivery record is written at every insert and every attempt.
const recordBinary = 0x01

// encodeDelivery encodes a delivery record.
func encodeDelivery(r *dlvRecord) ([]byte, error) {
	n := 96 + len(r.ID) + len(r.Workspace) + len(r.EventID) + len(r.SubscriptionID) + len(r.EventType)
	for i := range r.Attempts {
		n += 64 + len(r.Attempts[i].ResponseBody) + len(r.Attempts[i].Error)
	}
	b := append(make([]byte, 0, n), recordBinary)
	b = binary.AppendUvarint(b, r.Seq)
	for _, s := range []string{r.ID, r.Workspace, r.EventID, r.SubscriptionID, r.EventType, string(r.State)} {
		b = appendString(b, s)
	}
	var err error
	for _, t := range []time.Time{r.NextAttemptAt, r.LeasedUntil, r.CreatedAt, r.UpdatedAt} {
		if b, err = appendTime(b, t); err != nil {
			return nil, err
		}
	}
	b = binary.AppendUvarint(b, uint64(r.RoundStart))
	b = appendBool(b, r.Test)
	if r.Attempts == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(r.Attempts))+1)
	}
	for i := range r.Attempts {
		a := &r.Attempts[i]
		b = binary.AppendUvarint(b, uint64(a.Number))
		if b, err = appendTime(b, a.SentAt); err != nil {
			return nil, err
		}
		b = binary.AppendVarint(b, int64(a.Duration))
		b = binary.AppendVarint(b, int64(a.StatusCode))
		for _, s := range []string{a.ResponseBody, a.Error, string(a.ErrorKind), string(a.Outcome)} {
			b = appendString(b, s)
		}
		if b, err = appendTime(b, a.NextAttemptAt); err != nil {
			return nil, err
		}
		b = appendBool(b, a.Test)
	}
	return b, nil
}

// decodeDelivery decodes the record of delivery id, binary or JSON.
func decodeDelivery(id string, raw []byte) (*dlvRecord, error) {
	r := new(dlvRecord)
	var err error
	if len(raw) > 0 && raw[0] == recordBinary {
		err = r.decodeBinary(raw[1:])
	} else {
		err = json.Unmarshal(raw, r)
	}
	if err != nil {
		return nil, fmt.Errorf("storebolt: delivery %q: %w", id, corrupt("record: %v", err))
	}
	return r, nil
}

var errShort = errors.New("truncated binary record")

// reader reads the parts of a binary record; its first error sticks.
type reader struct {
	b   []byte
	err error
}

func (d *reader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = errShort
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *reader) string() string { return string(d.bytes()) }

func (d *reader) time() time.Time {
	raw := d.bytes()
	var t time.Time
	if d.err == nil {
		if err := t.UnmarshalBinary(raw); err != nil {
			d.err = err
		}
	}
	return t
}

func (d *reader) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 {
		d.err = errShort
		return false
	}
	v := d.b[0] != 0
	d.b = d.b[1:]
	return v
}

func (r *dlvRecord) decodeBinary(b []byte) error {
	d := &reader{b: b}
	r.Seq = d.uvarint()
	r.ID, r.Workspace, r.EventID = d.string(), d.string(), d.string()
	r.SubscriptionID, r.EventType, r.State = d.string(), d.string(), store.DeliveryState(d.string())
	r.NextAttemptAt, r.LeasedUntil, r.CreatedAt, r.UpdatedAt = d.time(), d.time(), d.time(), d.time()
	r.RoundStart = int(d.uvarint())
	r.Test = d.bool()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b))+1 {
		return errShort // every attempt takes more than a byte
	}
	if n > 0 {
		r.Attempts = make([]store.Attempt, n-1)
	}
	for i := range r.Attempts {
		a := &r.Attempts[i]
		a.Number = int(d.uvarint())
		a.SentAt = d.time()
		a.Duration = time.Duration(d.varint())
		a.StatusCode = int(d.varint())
		a.ResponseBody, a.Error = d.string(), d.string()
		a.ErrorKind, a.Outcome = store.ErrorKind(d.string()), store.Outcome(d.string())
		a.NextAttemptAt = d.time()
		a.Test = d.bool()
	}
	if d.err == nil && len(d.b) != 0 {
		return errors.New("trailing bytes in binary record")
	}
	return d.err
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime appends t's binary form with its length. It fails where
// time.Time.MarshalBinary does (a zone offset it cannot hold).
func appendTime(b []byte, t time.Time) ([]byte, error) {
	raw, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(binary.AppendUvarint(b, uint64(len(raw))), raw...), nil
}
