package storebolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
)

// InsertEvent implements store.Store. Concurrent calls share a transaction and its commit;
// each returns once its event is on disk.
func (s *Store) InsertEvent(ctx context.Context, ev store.Event, now time.Time) (store.Inserted, error) {
	if ev.ID == "" {
		return store.Inserted{}, errors.New("storebolt: event has no ID")
	}
	var res store.Inserted
	err := s.batch(ctx, func(t *txn) error {
		var err error
		res, err = t.insertEvent(ev, now) // the whole answer is made anew at every run
		return err
	}, true) // an emitter may emit its next event at once
	if err != nil {
		return store.Inserted{}, err
	}
	return res, nil
}

func (t *txn) insertEvent(ev store.Event, now time.Time) (store.Inserted, error) {
	if stored, err := t.event(ev.ID); err != nil || stored != nil {
		if err != nil {
			return store.Inserted{}, err
		}
		return store.Inserted{Event: *stored}, nil
	}
	raw, err := encodeEvent(ev)
	if err != nil {
		return store.Inserted{}, fmt.Errorf("storebolt: event %q: %w", ev.ID, err)
	}
	if err := t.events().Put([]byte(ev.ID), raw); err != nil {
		return store.Inserted{}, err
	}
	if h, ok := headerOf(ev); ok {
		// Its claims find the header decoded (the cache compares the stored bytes, so a
		// transaction that does not commit leaves nothing wrong in it).
		hb, _, _ := splitEvent(raw)
		t.decEvents().put(ev.ID, hb, h)
	}
	res := store.Inserted{Event: ev, Created: true}
	res.Event.Data = bytes.Clone(ev.Data)
	for _, m := range t.subscribers(ev.Workspace, ev.Type) {
		state := store.DeliveryPending
		if !m.active {
			if !m.hold {
				continue
			}
			state = store.DeliveryHeld
		}
		seq, err := t.log().NextSequence()
		if err != nil {
			return store.Inserted{}, err
		}
		r := &dlvRecord{Seq: seq, Delivery: store.Delivery{
			ID:             store.NewID("dlv"),
			Workspace:      ev.Workspace,
			EventID:        ev.ID,
			SubscriptionID: m.id,
			EventType:      ev.Type,
			CreatedAt:      now,
		}}
		if state == store.DeliveryPending {
			r.NextAttemptAt = now
			res.Pending++
		} else {
			res.Held++
		}
		setState(r, state, now)
		if err := t.save(nil, r); err != nil {
			return store.Inserted{}, err
		}
		res.Deliveries = append(res.Deliveries, r.ID)
	}
	if len(res.Deliveries) == 0 {
		if err := t.bare().Put(cat(tkey(ev.OccurredAt), []byte(ev.ID)), empty); err != nil {
			return store.Inserted{}, err
		}
	}
	return res, nil
}

// subscriber is a subscription that wants an event type, as the patterns index has it.
type subscriber struct {
	id           string
	active, hold bool
	seq          uint64
}

// subscribers returns the subscriptions of a workspace whose patterns match eventType, in
// creation order. It looks up only the patterns that can match (eventtypes.Patterns: the
// name itself, "*", "<resource>.*", "*.<action>" and "*.<action>.<version>"), within the
// workspace's part of the index.
func (t *txn) subscribers(workspace, eventType string) []subscriber {
	ws := pfx(workspace)
	seen := make(map[string]bool)
	var out []subscriber
	c := t.patterns().Cursor()
	for _, p := range eventtypes.Patterns(eventType) {
		prefix := cat(ws, pfx(p))
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			id := string(k[len(prefix):])
			if seen[id] || len(v) != 10 {
				continue
			}
			seen[id] = true
			out = append(out, subscriber{id: id, active: v[0] == 'a', hold: v[1] == 'h', seq: binary.BigEndian.Uint64(v[2:])})
		}
	}
	slices.SortFunc(out, func(a, b subscriber) int { return cmpUint(a.seq, b.seq) })
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Event implements store.Store.
func (s *Store) Event(ctx context.Context, id string) (store.Event, error) {
	var out store.Event
	err := s.view(ctx, func(t *txn) error {
		ev, err := t.event(id)
		if err != nil {
			return err
		}
		if ev == nil {
			return notFound("event", id)
		}
		out = *ev
		return nil
	})
	return out, err
}

// RecordTest implements store.Store.
func (s *Store) RecordTest(ctx context.Context, ev store.Event, d store.Delivery) error {
	if err := store.PrepareTest(ev, &d); err != nil {
		return err
	}
	return s.update(ctx, func(t *txn) error {
		if t.dlvs().Get([]byte(d.ID)) != nil {
			return fmt.Errorf("storebolt: delivery %q: %w", d.ID, store.ErrConflict)
		}
		stored, err := t.event(ev.ID)
		if err != nil {
			return err
		}
		if stored == nil {
			raw, err := encodeEvent(ev)
			if err != nil {
				return fmt.Errorf("storebolt: event %q: %w", ev.ID, err)
			}
			if err := t.events().Put([]byte(ev.ID), raw); err != nil {
				return err
			}
		} else if err := t.bare().Delete(cat(tkey(stored.OccurredAt), []byte(ev.ID))); err != nil {
			return err
		}
		seq, err := t.log().NextSequence()
		if err != nil {
			return err
		}
		r := &dlvRecord{Delivery: d.Clone(), Seq: seq}
		setState(r, d.State, d.UpdatedAt)
		return t.save(nil, r)
	})
}
