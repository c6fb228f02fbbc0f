// Command makev2 writes store_bolt/testdata/v2.db with the format-2 code (commit c9ec00b):
// a small store with subscriptions in the default workspace and in a named one, every
// delivery state, figures, and two deliveries left in flight (their leases in the file),
// for the test that format 3 reads it.
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
	sub := func(id, ws string, status store.Status, events ...string) {
		check(st.CreateSubscription(ctx, store.Subscription{
			ID: id, Workspace: ws, Name: "Hook " + id, URL: "https://hooks.example.com/" + id, Events: events,
			Secret: "whsec_" + id, Status: status, WhileInactive: store.InactiveHold, CreatedAt: t0, UpdatedAt: t0,
		}))
	}
	sub("sub_a", "", store.StatusActive, "order.*")
	sub("sub_b", "", store.StatusInactive, "order.created")
	sub("sub_s", "shop", store.StatusActive, "order.*")
	emit := func(id, ws, typ string, now time.Time) []string {
		ins, err := st.InsertEvent(ctx, store.Event{ID: id, Workspace: ws, Type: typ, OccurredAt: now, Data: []byte(`{"id":"` + id + `"}`)}, now)
		check(err)
		return ins.Deliveries
	}
	a1 := emit("evt_1", "", "order.created", at(0)) // sub_a pending, sub_b held
	a2 := emit("evt_2", "", "order.updated", at(time.Second))
	s1 := emit("evt_3", "shop", "order.created", at(2*time.Second))
	emit("evt_4", "shop", "order.updated", at(3*time.Second))
	emit("evt_5", "", "order.updated", at(4*time.Second))

	claim := func(now time.Time, limit int) []store.Claim {
		cs, _, err := st.ClaimDue(ctx, store.ClaimRequest{Now: now, Limit: limit, LeaseUntil: now.Add(time.Hour)})
		check(err)
		return cs
	}
	record := func(id string, now time.Time, state store.DeliveryState, code int, next time.Time) {
		outcome := store.OutcomeSucceeded
		if state == store.DeliveryPending {
			outcome = store.OutcomeRetry
		}
		_, err := st.RecordAttempt(ctx, store.AttemptRecord{DeliveryID: id, State: state, NextAttemptAt: next, Attempt: store.Attempt{
			Number: 1, SentAt: now, Duration: 40 * time.Millisecond, StatusCode: code, Outcome: outcome,
		}})
		check(err)
	}
	claim(at(10*time.Second), 10)
	record(a1[0], at(10*time.Second), store.DeliverySucceeded, 200, time.Time{})
	record(a2[0], at(10*time.Second), store.DeliveryPending, 500, at(time.Minute))
	record(s1[0], at(10*time.Second), store.DeliverySucceeded, 200, time.Time{})
	// evt_4 (shop) and evt_5 (default) stay claimed: their leases are in the file.
	check(st.Close())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
