// Command makev1 writes store_bolt/testdata/v1.db with the format-1 code (commit e836e72):
// a small store with every kind of record, for the test that format 2 reads it.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

func main() {
	path := os.Args[1]
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	st, err := storebolt.Open(path)
	check(err)
	sub := func(id, status string, policy store.InactivePolicy, events ...string) {
		check(st.CreateSubscription(ctx, store.Subscription{
			ID: id, Name: "Hook " + id, URL: "https://hooks.example.com/" + id, Events: events,
			Secret: "whsec_" + id, Headers: map[string]string{"Authorization": "Bearer " + id},
			Format: store.FormatJSON, Status: store.Status(status), WhileInactive: policy,
			CreatedAt: t0, UpdatedAt: t0,
		}))
	}
	sub("sub_a", "active", store.InactiveDiscard, "order.*")
	sub("sub_b", "inactive", store.InactiveHold, "order.created")
	sub("sub_c", "active", store.InactiveDiscard, "product.created")
	emit := func(id, typ string, now time.Time) {
		_, err := st.InsertEvent(ctx, store.Event{ID: id, Type: typ, OccurredAt: now, Data: []byte(`{"id":"` + id + `"}`)}, now)
		check(err)
	}
	emit("evt_1", "order.created", at(0))           // sub_a pending, sub_b held
	emit("evt_2", "order.updated", at(time.Second)) // sub_a
	emit("evt_3", "product.created", at(2*time.Second))
	emit("evt_4", "customer.created", at(3*time.Second)) // no subscriber
	cs, err := st.ClaimDue(ctx, at(10*time.Second), 10, at(time.Hour))
	check(err)
	if len(cs) != 3 {
		log.Fatalf("%d claims", len(cs))
	}
	for _, c := range cs {
		a := store.Attempt{Number: 1, SentAt: at(10 * time.Second), Duration: 50 * time.Millisecond}
		rec := store.AttemptRecord{DeliveryID: c.Delivery.ID}
		switch c.Event.ID {
		case "evt_1": // succeeded
			a.StatusCode, a.Outcome = 200, store.OutcomeSucceeded
			rec.State = store.DeliverySucceeded
		case "evt_2": // retry in a minute
			a.StatusCode, a.Outcome, a.ErrorKind, a.NextAttemptAt = 500, store.OutcomeRetry, store.ErrorServer, at(time.Minute)
			rec.State, rec.NextAttemptAt = store.DeliveryPending, at(time.Minute)
		case "evt_3": // gave up
			a.StatusCode, a.Outcome, a.ErrorKind = 404, store.OutcomeGaveUp, store.ErrorClient
			rec.State = store.DeliveryFailed
		}
		rec.Attempt = a
		_, err := st.RecordAttempt(ctx, rec)
		check(err)
	}
	emit("evt_5", "order.created", at(20*time.Second)) // sub_a pending (left in flight), sub_b held
	cs, err = st.ClaimDue(ctx, at(20*time.Second), 1, at(time.Hour))
	check(err)
	if len(cs) != 1 || cs[0].Event.ID != "evt_5" {
		log.Fatalf("claim %+v", cs)
	}
	check(st.RecordTest(ctx, store.Event{ID: "evt_test", Type: "order.created", OccurredAt: at(30 * time.Second), Data: []byte(`{}`)},
		store.Delivery{ID: "dlv_test", SubscriptionID: "sub_c", EventType: "order.created", State: store.DeliverySucceeded,
			Attempts:  []store.Attempt{{Number: 1, SentAt: at(30 * time.Second), StatusCode: 200, Outcome: store.OutcomeSucceeded, Test: true}},
			CreatedAt: at(30 * time.Second), UpdatedAt: at(30 * time.Second)}))
	check(st.Close()) // evt_5's lease is left in the file, as after a crash
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
