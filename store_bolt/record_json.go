package storebolt

import (
	"encoding/json"
	"errors"
)

// store.Subscription has its own MarshalJSON (durations in milliseconds), which subRecord
// would inherit through embedding, leaving Seq out of the record. These methods keep the
// record one flat JSON object: the subscription's fields and "seq".

// MarshalJSON writes the subscription's JSON with "seq" added.
func (r subRecord) MarshalJSON() ([]byte, error) {
	raw, err := json.Marshal(r.Subscription)
	if err != nil {
		return nil, err
	}
	seq, err := json.Marshal(struct {
		Seq uint64 `json:"seq"`
	}{r.Seq})
	if err != nil {
		return nil, err
	}
	if len(raw) < 2 || raw[len(raw)-1] != '}' {
		return nil, errors.New("storebolt: a subscription did not encode as a JSON object")
	}
	if len(raw) == 2 { // {}
		return seq, nil
	}
	return append(append(raw[:len(raw)-1], ','), seq[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes, and records written before store.Subscription
// had its own JSON methods.
func (r *subRecord) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.Subscription); err != nil {
		return err
	}
	var seq struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(b, &seq); err != nil {
		return err
	}
	r.Seq = seq.Seq
	return nil
}
