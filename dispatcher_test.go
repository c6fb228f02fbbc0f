package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	"github.com/shophooks/webhook/store"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

func TestScheduleSixAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(status(500, "boom"))
		e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)

		e.settle(20 * time.Minute)
		want := []time.Duration{0, 60 * time.Second, 180 * time.Second, 360 * time.Second, 600 * time.Second, 900 * time.Second}
		assert.Equal(t, want, e.offsets())

		e.settle(24 * time.Hour) // no seventh attempt, ever
		assert.Len(t, e.ep.requests(), 6)

		del := e.delivery(ev.ID)
		assert.Equal(t, webhook.DeliveryFailed, del.State)
		assert.True(t, del.NextAttemptAt.IsZero())
		require.Len(t, del.Attempts, 6)
		for i, a := range del.Attempts {
			assert.Equal(t, i+1, a.Number)
			assert.Equal(t, 500, a.StatusCode)
			assert.Equal(t, "boom", a.ResponseBody)
			assert.Equal(t, webhook.ErrorServer, a.ErrorKind)
			assert.Equal(t, e.start.Add(want[i]), a.SentAt.Local().Add(0), "attempt %d", i+1)
		}
		assert.Equal(t, webhook.OutcomeRetry, del.Attempts[4].Outcome)
		assert.Equal(t, webhook.OutcomeGaveUp, del.Attempts[5].Outcome)
	})
}

func TestNextAttemptTimeIsStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(status(503, ""))
		e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)
		del := e.delivery(ev.ID)
		assert.Equal(t, webhook.DeliveryPending, del.State)
		assert.True(t, del.NextAttemptAt.Equal(e.start.Add(60*time.Second)), "next attempt at %v", del.NextAttemptAt)
		assert.True(t, del.Attempts[0].NextAttemptAt.Equal(del.NextAttemptAt), "the attempt says when the next is due")
	})
}

func TestEveryTwoXXSucceeds(t *testing.T) {
	for _, code := range []int{200, 201, 202, 204, 299} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.ep.setResponder(status(code, ""))
				e.subscribe(eventtypes.OrderCreated)
				ev := e.emit(eventtypes.OrderCreated)
				e.settle(time.Hour)
				assert.Len(t, e.ep.requests(), 1)
				del := e.delivery(ev.ID)
				assert.Equal(t, webhook.DeliverySucceeded, del.State)
				assert.Equal(t, webhook.OutcomeSucceeded, del.Attempts[0].Outcome)
			})
		})
	}
}

func TestRetriedCodes(t *testing.T) {
	for _, code := range []int{301, 302, 408, 429, 500, 502, 418, 409} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.ep.setResponder(status(code, ""))
				sub := e.subscribe(eventtypes.OrderCreated)
				ev := e.emit(eventtypes.OrderCreated)
				e.settle(time.Second)
				del := e.delivery(ev.ID)
				assert.Equal(t, webhook.DeliveryPending, del.State)
				assert.Equal(t, webhook.OutcomeRetry, del.Attempts[0].Outcome)
				got, err := e.d.Subscription(e.ctx, sub.ID)
				require.NoError(t, err)
				assert.Equal(t, webhook.StatusActive, got.Status)
			})
		})
	}
}

func TestDeactivatingCodes(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 405, 406, 410, 411} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.ep.setResponder(status(code, "go away"))
				sub := e.subscribe(eventtypes.OrderCreated)
				ev := e.emit(eventtypes.OrderCreated)
				e.settle(time.Hour)

				assert.Len(t, e.ep.requests(), 1, "no retry after a deactivating code")
				del := e.delivery(ev.ID)
				assert.Equal(t, webhook.DeliveryFailed, del.State)
				assert.Equal(t, webhook.OutcomeDeactivated, del.Attempts[0].Outcome)
				got, err := e.d.Subscription(e.ctx, sub.ID)
				require.NoError(t, err)
				assert.Equal(t, webhook.StatusInactive, got.Status)
				assert.Contains(t, got.StatusReason, fmt.Sprint(code))
				assert.False(t, got.StatusChangedAt.IsZero())

				// An inactive subscription receives nothing more.
				e.emit(eventtypes.OrderCreated)
				e.settle(time.Hour)
				assert.Len(t, e.ep.requests(), 1)
			})
		})
	}
}

func TestUnsubscribePhrase(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"200", 200, "OK. Please Unsubscribe Me, thanks"},
		{"500", 500, "PLEASE UNSUBSCRIBE ME"},
		{"404 phrase wins", 404, "please unsubscribe me"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.ep.setResponder(status(503, "busy"))
				sub := e.subscribe(eventtypes.OrderCreated, eventtypes.OrderUpdated)
				first := e.emit(eventtypes.OrderCreated) // fails, waits for its retry
				e.settle(time.Second)
				require.Equal(t, webhook.DeliveryPending, e.delivery(first.ID).State)

				e.ep.setResponder(status(tc.status, tc.body))
				second := e.emit(eventtypes.OrderUpdated)
				e.settle(time.Second)

				_, err := e.d.Subscription(e.ctx, sub.ID)
				assert.ErrorIs(t, err, webhook.ErrNotFound)
				assert.Equal(t, webhook.DeliveryCancelled, e.delivery(first.ID).State)
				del := e.delivery(second.ID)
				assert.Equal(t, webhook.OutcomeUnsubscribed, del.Attempts[0].Outcome)

				e.settle(time.Hour)
				assert.Len(t, e.ep.requests(), 2, "nothing is sent after the unsubscribe")
			})
		})
	}
}

func TestUnsubscribePhraseOnlyInFirst64KiB(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(status(500, strings.Repeat("x", 64<<10)+"please unsubscribe me"))
		sub := e.subscribe(eventtypes.OrderCreated)
		e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)
		_, err := e.d.Subscription(e.ctx, sub.ID)
		assert.NoError(t, err, "a phrase past 64 KiB is not read")
	})
}

func TestHangingEndpointTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(hang)
		e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(10 * time.Second)

		del := e.delivery(ev.ID)
		require.Len(t, del.Attempts, 1)
		a := del.Attempts[0]
		assert.Equal(t, 5*time.Second, a.Duration)
		assert.Equal(t, webhook.ErrorTimeout, a.ErrorKind)
		assert.Contains(t, a.Error, "timeout")
		assert.Equal(t, webhook.DeliveryPending, del.State)
		assert.True(t, del.NextAttemptAt.Equal(a.SentAt.Add(60*time.Second)))
	})
}

func TestRedirectNotFollowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			resp := answer(r, 302, "")
			resp.Header.Set("Location", "https://elsewhere.example.com/")
			return resp, nil
		})
		e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)
		reqs := e.ep.requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, "https://hooks.example.com/in", reqs[0].URL)
		del := e.delivery(ev.ID)
		assert.Equal(t, webhook.ErrorRedirect, del.Attempts[0].ErrorKind)
		assert.Equal(t, webhook.DeliveryPending, del.State)
	})
}

func TestWhileInactive(t *testing.T) {
	for _, tc := range []struct {
		policy    webhook.InactivePolicy
		delivered bool
	}{{webhook.InactiveHold, true}, {webhook.InactiveDiscard, false}, {"", false}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				sub, err := e.d.Subscribe(e.ctx, webhook.Subscription{
					URL: "https://hooks.example.com/in", Events: []string{"order.*"},
					Status: webhook.StatusInactive, WhileInactive: tc.policy,
				})
				require.NoError(t, err)
				ev := e.emit(eventtypes.OrderCreated)
				e.settle(time.Hour)
				assert.Empty(t, e.ep.requests(), "an inactive subscription receives nothing")

				ds, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{EventID: ev.ID})
				require.NoError(t, err)
				if tc.delivered {
					require.Len(t, ds, 1)
					assert.Equal(t, webhook.DeliveryHeld, ds[0].State)
				} else {
					assert.Empty(t, ds)
				}

				require.NoError(t, e.d.Activate(e.ctx, sub.ID))
				e.settle(time.Second)
				if tc.delivered {
					require.Len(t, e.ep.requests(), 1)
					assert.Equal(t, webhook.DeliverySucceeded, e.delivery(ev.ID).State)
				} else {
					assert.Empty(t, e.ep.requests())
				}
			})
		})
	}
}

func TestDeactivateHoldsPendingRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(status(500, ""))
		sub, err := e.d.Subscribe(e.ctx, webhook.Subscription{
			URL: "https://hooks.example.com/in", Events: []string{"*"}, WhileInactive: webhook.InactiveHold,
		})
		require.NoError(t, err)
		ev := e.emit(eventtypes.CustomerCreated)
		e.settle(time.Second)
		require.NoError(t, e.d.Deactivate(e.ctx, sub.ID, "maintenance"))
		got, err := e.d.Subscription(e.ctx, sub.ID)
		require.NoError(t, err)
		assert.Equal(t, "maintenance", got.StatusReason)
		assert.Equal(t, webhook.DeliveryHeld, e.delivery(ev.ID).State)
		e.settle(time.Hour)
		assert.Len(t, e.ep.requests(), 1)

		e.ep.setResponder(status(200, ""))
		require.NoError(t, e.d.Activate(e.ctx, sub.ID))
		e.settle(time.Second)
		assert.Len(t, e.ep.requests(), 2)
		assert.Equal(t, webhook.DeliverySucceeded, e.delivery(ev.ID).State)
	})
}

func TestRedeliverFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(status(500, ""))
		e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(time.Hour)
		del := e.delivery(ev.ID)
		require.Equal(t, webhook.DeliveryFailed, del.State)

		e.ep.setResponder(status(200, "thanks"))
		require.NoError(t, e.d.Redeliver(e.ctx, del.ID))
		e.settle(time.Second)
		del = e.delivery(ev.ID)
		assert.Equal(t, webhook.DeliverySucceeded, del.State)
		require.Len(t, del.Attempts, 7)
		assert.Equal(t, 7, del.Attempts[6].Number)
		assert.Equal(t, 7, len(e.ep.requests()))

		// A redelivery gets a fresh round of six attempts.
		e.ep.setResponder(status(500, ""))
		require.NoError(t, e.d.Redeliver(e.ctx, del.ID))
		e.settle(time.Hour)
		del = e.delivery(ev.ID)
		assert.Equal(t, webhook.DeliveryFailed, del.State)
		assert.Len(t, del.Attempts, 13)

		assert.ErrorIs(t, e.d.Redeliver(e.ctx, "dlv_nope"), webhook.ErrNotFound)
	})
}

// Redeliver refuses a delivery once it holds MaxDeliveryAttempts attempts, with
// ErrTooManyAttempts, and sends nothing: a delivery redelivered in a loop stops growing.
func TestRedeliverStopsAtMaxDeliveryAttempts(t *testing.T) {
	for _, tc := range []struct {
		name         string
		status       int
		redeliveries int // as MaxDeliveryAttempts's doc promises
	}{
		{"failing every round", 500, 16},
		{"succeeding at once", 200, 99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.ep.setResponder(status(tc.status, strings.Repeat("x", 4096)))
				e.subscribe(eventtypes.OrderCreated)
				ev := e.emit(eventtypes.OrderCreated)
				e.settle(time.Hour)
				del := e.delivery(ev.ID)
				redeliveries := 0
				for len(del.Attempts) < webhook.MaxDeliveryAttempts {
					require.NoError(t, e.d.Redeliver(e.ctx, del.ID), "attempts: %d", len(del.Attempts))
					redeliveries++
					e.settle(time.Hour)
					del = e.delivery(ev.ID)
					require.True(t, del.State.Final(), "the round is over")
				}
				assert.Equal(t, tc.redeliveries, redeliveries)

				sent := len(e.ep.requests())
				err := e.d.Redeliver(e.ctx, del.ID)
				require.ErrorIs(t, err, webhook.ErrTooManyAttempts)
				assert.Contains(t, err.Error(), del.ID)
				assert.Contains(t, err.Error(), "emit the event again under a new event ID")
				e.settle(time.Hour)
				assert.Len(t, e.ep.requests(), sent, "nothing sent")
				after := e.delivery(ev.ID)
				assert.Equal(t, del.State, after.State)
				assert.Equal(t, len(del.Attempts), len(after.Attempts), "no attempt added")
			})
		})
	}
}

// Recover leaves out the deliveries that hold MaxDeliveryAttempts attempts, without
// failing, and counts only those it redelivered.
func TestRecoverSkipsDeliveriesAtMaxDeliveryAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(status(500, "down"))
		sub := e.subscribe(eventtypes.OrderCreated)
		spent, fresh := e.emit(eventtypes.OrderCreated), e.emit(eventtypes.OrderCreated)
		e.settle(time.Hour)
		del := e.delivery(spent.ID)
		for len(del.Attempts) < webhook.MaxDeliveryAttempts {
			require.NoError(t, e.d.Redeliver(e.ctx, del.ID))
			e.settle(time.Hour)
			del = e.delivery(spent.ID)
		}
		require.Equal(t, webhook.DeliveryFailed, del.State)
		require.Equal(t, webhook.DeliveryFailed, e.delivery(fresh.ID).State)

		e.ep.setResponder(status(200, "back"))
		n, err := e.d.Recover(e.ctx, sub.ID, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, 1, n, "only the delivery below the limit")
		e.settle(time.Second)
		assert.Equal(t, webhook.DeliverySucceeded, e.delivery(fresh.ID).State)
		after := e.delivery(spent.ID)
		assert.Equal(t, webhook.DeliveryFailed, after.State)
		assert.Equal(t, len(del.Attempts), len(after.Attempts), "no attempt added")
	})
}

func TestWebhookHeadersStableAcrossRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(status(500, ""))
		sub := e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(2 * time.Minute)
		reqs := e.ep.requests()
		require.Len(t, reqs, 2)
		for i, r := range reqs {
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, ev.ID, r.Header.Get("webhook-id"))
			assert.Equal(t, fmt.Sprint(r.At.Unix()), r.Header.Get("webhook-timestamp"), "request %d", i)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.Contains(t, r.Header.Get("User-Agent"), "shophooks-webhook")
			assert.NoError(t, webhook.Verify(sub.Secret, r.Header, r.Body))
			var body struct {
				ID, Type, Timestamp string
				Data                map[string]any
			}
			require.NoError(t, json.Unmarshal(r.Body, &body))
			assert.Equal(t, ev.ID, body.ID)
			assert.Equal(t, "order.created", body.Type)
			assert.Equal(t, "ord_1", body.Data["id"])
			_, err := time.Parse(time.RFC3339, body.Timestamp)
			assert.NoError(t, err)
		}
	})
}

func TestSubscriptionHeadersSentNotLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.ep.setResponder(status(500, ""))
		_, err := e.d.Subscribe(e.ctx, webhook.Subscription{
			URL: "https://hooks.example.com/in?token=s3cr3t", Events: []string{"order.created"},
			Headers: map[string]string{"Authorization": "Bearer t0ken"},
		})
		require.NoError(t, err)
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)
		assert.Equal(t, "Bearer t0ken", e.ep.requests()[0].Header.Get("Authorization"))
		b, err := json.Marshal(e.delivery(ev.ID))
		require.NoError(t, err)
		assert.NotContains(t, string(b), "t0ken")
		assert.NotContains(t, string(b), "s3cr3t")
	})
}

func TestWildcards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		all := e.subscribe("*")
		orders := e.subscribe("order.*")
		created := e.subscribe("order.created")
		products := e.subscribe("product.created")
		ev := e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)
		ds, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{EventID: ev.ID})
		require.NoError(t, err)
		var got []string
		for _, d := range ds {
			got = append(got, d.SubscriptionID)
		}
		assert.ElementsMatch(t, []string{all.ID, orders.ID, created.ID}, got)
		assert.NotContains(t, got, products.ID)
	})
}

func TestEmitIdempotentWithEventID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.subscribe(eventtypes.OrderCreated)
		first, err := e.d.Emit(e.ctx, eventtypes.OrderCreated, map[string]any{"id": "1"}, webhook.WithEventID("order-1-created"))
		require.NoError(t, err)
		assert.Equal(t, "order-1-created", first.ID)
		again, err := e.d.Emit(e.ctx, eventtypes.OrderCreated, map[string]any{"id": "2"}, webhook.WithEventID("order-1-created"))
		require.NoError(t, err)
		assert.Equal(t, first, again)
		e.settle(time.Second)
		assert.Len(t, e.ep.requests(), 1)
	})
}

func TestEmitRefusesBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		_, err := e.d.Emit(e.ctx, "order.creatd", nil)
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "eventType", ve.Field)
		assert.Contains(t, err.Error(), "order.created", "the error suggests the closest name")

		_, err = e.d.Emit(e.ctx, eventtypes.OrderCreated, json.RawMessage(`{"id":`))
		assert.ErrorIs(t, err, webhook.ErrInvalid)
		_, err = e.d.Emit(e.ctx, eventtypes.OrderCreated, func() {})
		assert.ErrorIs(t, err, webhook.ErrInvalid)
		_, err = e.d.Emit(e.ctx, eventtypes.OrderCreated, nil, webhook.WithEventID("has space"))
		assert.ErrorIs(t, err, webhook.ErrInvalid)
	})
}

func TestSubscribeValidation(t *testing.T) {
	d, err := webhook.New(store0(), webhook.RequireHTTPS())
	require.NoError(t, err)
	defer d.Close(context.Background())
	ok := webhook.Subscription{URL: "https://a.example.com/x", Events: []string{"order.created"}}
	for _, tc := range []struct {
		name  string
		edit  func(*webhook.Subscription)
		field string
	}{
		{"empty URL", func(s *webhook.Subscription) { s.URL = "" }, "URL"},
		{"unparsable URL", func(s *webhook.Subscription) { s.URL = "https://a b/%zz" }, "URL"},
		{"ftp scheme", func(s *webhook.Subscription) { s.URL = "ftp://a.example.com/" }, "URL"},
		{"http with RequireHTTPS", func(s *webhook.Subscription) { s.URL = "http://a.example.com/" }, "URL"},
		{"no host", func(s *webhook.Subscription) { s.URL = "https:///path" }, "URL"},
		{"credentials in URL", func(s *webhook.Subscription) { s.URL = "https://u:p@a.example.com/" }, "URL"},
		{"no events", func(s *webhook.Subscription) { s.Events = nil }, "Events"},
		{"unknown event", func(s *webhook.Subscription) { s.Events = []string{"order.shipped"} }, "Events"},
		{"unknown resource", func(s *webhook.Subscription) { s.Events = []string{"invoice.*"} }, "Events"},
		{"Host header", func(s *webhook.Subscription) { s.Headers = map[string]string{"host": "x"} }, "Headers"},
		{"Content-Length header", func(s *webhook.Subscription) { s.Headers = map[string]string{"Content-Length": "1"} }, "Headers"},
		{"signature header", func(s *webhook.Subscription) { s.Headers = map[string]string{"webhook-signature": "v1,x"} }, "Headers"},
		{"bad header name", func(s *webhook.Subscription) { s.Headers = map[string]string{"X Bad": "1"} }, "Headers"},
		{"header value with newline", func(s *webhook.Subscription) { s.Headers = map[string]string{"X-Key": "a\r\nb"} }, "Headers"},
		{"header value with a control character", func(s *webhook.Subscription) { s.Headers = map[string]string{"X-Key": "a\x01b"} }, "Headers"},
		{"header value DEL", func(s *webhook.Subscription) { s.Headers = map[string]string{"X-Key": "\x7f"} }, "Headers"},
		{"header value with a leading space", func(s *webhook.Subscription) { s.Headers = map[string]string{"X-Key": " token"} }, "Headers"},
		{"header value with a trailing tab", func(s *webhook.Subscription) { s.Headers = map[string]string{"X-Key": "token\t"} }, "Headers"},
		{"header value not UTF-8", func(s *webhook.Subscription) { s.Headers = map[string]string{"X-Key": "k\xff\xfe"} }, "Headers"},
		{"header value not ASCII", func(s *webhook.Subscription) { s.Headers = map[string]string{"X-Key": "caf\u00e9"} }, "Headers"},
		{"header named twice", func(s *webhook.Subscription) { s.Headers = map[string]string{"X-Key": "a", "x-key": "b"} }, "Headers"},
		{"bad secret", func(s *webhook.Subscription) { s.Secret = "whsec_!!!" }, "Secret"},
		{"secret not UTF-8", func(s *webhook.Subscription) { s.Secret = "k\xff\xfe-raw-key" }, "Secret"},
		{"secret with a control character", func(s *webhook.Subscription) { s.Secret = "raw\x00key" }, "Secret"},
		{"previous secret not ASCII", func(s *webhook.Subscription) { s.PreviousSecret = "cl\u00e9-secr\u00e8te" }, "PreviousSecret"},
		{"name not UTF-8", func(s *webhook.Subscription) { s.Name = "caf\xe9" }, "Name"},
		{"URL not UTF-8", func(s *webhook.Subscription) { s.URL = "https://a.example.com/caf\xe9" }, "URL"},
		{"status reason not UTF-8", func(s *webhook.Subscription) { s.Status, s.StatusReason = webhook.StatusInactive, "\xff" }, "StatusReason"},
		{"bad format", func(s *webhook.Subscription) { s.Format = "yaml" }, "Format"},
		{"bad status", func(s *webhook.Subscription) { s.Status = "paused" }, "Status"},
		{"bad policy", func(s *webhook.Subscription) { s.WhileInactive = "queue" }, "WhileInactive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := ok
			tc.edit(&sub)
			_, err := d.Subscribe(context.Background(), sub)
			var ve *webhook.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
			assert.ErrorIs(t, err, webhook.ErrInvalid)
			assert.NotEmpty(t, ve.Reason)
			for _, secret := range []string{sub.Secret, sub.PreviousSecret, sub.Headers["X-Key"], sub.Headers["x-key"]} {
				if len(secret) > 2 {
					assert.NotContains(t, err.Error(), secret, "a refusal never quotes a credential")
				}
			}
		})
	}
	sub, err := d.Subscribe(context.Background(), ok)
	require.NoError(t, err)
	assert.Equal(t, webhook.StatusActive, sub.Status)
	assert.Equal(t, webhook.FormatJSON, sub.Format)
	assert.Equal(t, webhook.InactiveDiscard, sub.WhileInactive)
	assert.True(t, strings.HasPrefix(sub.ID, "sub_"))
}

func TestSubscriptionCRUDAndFilters(t *testing.T) {
	d, err := webhook.New(store0())
	require.NoError(t, err)
	defer d.Close(context.Background())
	ctx := context.Background()
	a, err := d.Subscribe(ctx, webhook.Subscription{Name: "ERP orders", URL: "https://erp.example.com/h", Events: []string{"order.created", "order.updated"}})
	require.NoError(t, err)
	b, err := d.Subscribe(ctx, webhook.Subscription{Name: "CRM", URL: "https://crm.example.com/h", Events: []string{"customer.*"}, Status: webhook.StatusInactive})
	require.NoError(t, err)

	for _, tc := range []struct {
		f    webhook.Filter
		want []string
	}{
		{webhook.Filter{}, []string{a.ID, b.ID}},
		{webhook.Filter{Resource: "order"}, []string{a.ID}},
		{webhook.Filter{Event: "created"}, []string{a.ID, b.ID}},
		{webhook.Filter{Event: "updated", Resource: "customer"}, []string{b.ID}},
		{webhook.Filter{Event: "order.updated"}, []string{a.ID}},
		{webhook.Filter{URL: "crm.example"}, []string{b.ID}},
		{webhook.Filter{Status: webhook.StatusInactive}, []string{b.ID}},
		{webhook.Filter{Query: "erp ORD"}, []string{a.ID}},
		{webhook.Filter{Query: "nothing"}, nil},
	} {
		got, err := d.Subscriptions(ctx, tc.f)
		require.NoError(t, err)
		var ids []string
		for _, s := range got {
			ids = append(ids, s.ID)
		}
		assert.Equal(t, tc.want, ids, "%+v", tc.f)
	}

	a.Name = "ERP"
	a.Events = []string{"order.*"}
	a.Status = ""
	up, err := d.UpdateSubscription(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, "ERP", up.Name)
	assert.Equal(t, webhook.StatusActive, up.Status)
	assert.Equal(t, a.CreatedAt, up.CreatedAt)

	_, err = d.UpdateSubscription(ctx, webhook.Subscription{ID: "sub_missing", URL: "https://x.example.com", Events: []string{"*"}})
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	require.NoError(t, d.Unsubscribe(ctx, b.ID))
	_, err = d.Subscription(ctx, b.ID)
	assert.ErrorIs(t, err, webhook.ErrNotFound)
	assert.ErrorIs(t, d.Unsubscribe(ctx, b.ID), webhook.ErrNotFound)
	assert.ErrorIs(t, d.Activate(ctx, b.ID), webhook.ErrNotFound)
	assert.ErrorIs(t, d.Deactivate(ctx, b.ID, "x"), webhook.ErrNotFound)
}

func TestCloseWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		release := make(chan struct{})
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			<-release
			return answer(r, 200, ""), nil
		})
		e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)
		synctest.Wait()
		require.Len(t, e.ep.requests(), 1, "the attempt is in flight")

		var closed atomic.Bool
		go func() {
			assert.NoError(t, e.d.Close(context.Background()))
			closed.Store(true)
		}()
		synctest.Wait()
		assert.False(t, closed.Load(), "Close waits for the attempt in flight")
		_, err := e.d.Emit(e.ctx, eventtypes.OrderCreated, nil)
		assert.ErrorIs(t, err, webhook.ErrClosed)

		close(release)
		synctest.Wait()
		assert.True(t, closed.Load())
		assert.Equal(t, webhook.DeliverySucceeded, e.delivery(ev.ID).State, "the attempt was recorded")
	})
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, webhook.WithRetryPolicy(func() webhook.RetryPolicy {
			p := webhook.DefaultRetryPolicy()
			p.Timeout = time.Hour
			return p
		}()))
		e.ep.setResponder(hang)
		e.subscribe(eventtypes.OrderCreated)
		ev := e.emit(eventtypes.OrderCreated)
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := e.d.Close(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		del := e.delivery(ev.ID)
		assert.Empty(t, del.Attempts, "an attempt cut short by Close is not held against the endpoint")
		assert.Equal(t, webhook.DeliveryPending, del.State)
	})
}

func TestNewRefusesBadOptions(t *testing.T) {
	_, err := webhook.New(store0(), webhook.WithWorkers(-1))
	assert.ErrorIs(t, err, webhook.ErrInvalid)
	p := webhook.DefaultRetryPolicy()
	p.MaxAttempts = 0
	_, err = webhook.New(store0(), webhook.WithRetryPolicy(p))
	var ve *webhook.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "MaxAttempts", ve.Field)
	_, err = webhook.New(nil)
	assert.True(t, errors.Is(err, webhook.ErrInvalid))
}

func TestRotateSecretSignsWithBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub := e.subscribe(eventtypes.OrderCreated)
		rotated, err := e.d.RotateSecret(e.ctx, sub.ID, time.Hour)
		require.NoError(t, err)
		assert.NotEqual(t, sub.Secret, rotated.Secret)
		assert.Equal(t, sub.Secret, rotated.PreviousSecret)

		e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)
		r := e.ep.requests()[0]
		assert.Len(t, strings.Fields(r.Header.Get("webhook-signature")), 2)
		assert.NoError(t, webhook.Verify(sub.Secret, r.Header, r.Body), "the old secret still verifies")
		assert.NoError(t, webhook.Verify(rotated.Secret, r.Header, r.Body), "the new secret verifies")

		e.settle(time.Hour) // the overlap ends
		e.emit(eventtypes.OrderCreated)
		e.settle(time.Second)
		r = e.ep.requests()[1]
		assert.Len(t, strings.Fields(r.Header.Get("webhook-signature")), 1)
		assert.Error(t, webhook.Verify(sub.Secret, r.Header, r.Body))
		assert.NoError(t, webhook.Verify(rotated.Secret, r.Header, r.Body))

		_, err = e.d.RotateSecret(e.ctx, "sub_missing", time.Hour)
		assert.ErrorIs(t, err, webhook.ErrNotFound)
	})
}

// Options follow one rule, which their docs state: 0 means the default, a value out of
// range is refused with a *ValidationError naming the setting.
func TestNewOptionsZeroMeansDefault(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opt   webhook.Option
		field string // empty: accepted
	}{
		{"WithWorkers(0)", webhook.WithWorkers(0), ""},
		{"WithWorkers(-1)", webhook.WithWorkers(-1), "workers"},
		{"WithMaxInFlight(0)", webhook.WithMaxInFlight(0), ""},
		{"WithMaxInFlight(-1)", webhook.WithMaxInFlight(-1), "maxInFlight"},
		{"WithInFlightCap(0)", webhook.WithInFlightCap(0), ""},
		{"WithWorkspaceInFlight(0)", webhook.WithWorkspaceInFlight(0), ""},
		{"WithWorkspaceInFlight(-1)", webhook.WithWorkspaceInFlight(-1), "workspaceInFlight"},
		{"WithInFlightCap(-1)", webhook.WithInFlightCap(-1), "inFlightCap"},
		{"WithMaxTimeout(0)", webhook.WithMaxTimeout(0), ""},
		{"WithMaxTimeout(-1s)", webhook.WithMaxTimeout(-time.Second), "maxTimeout"},
		{"WithMaxTimeout(1µs)", webhook.WithMaxTimeout(time.Microsecond), "maxTimeout"},
		{"WithMaxPayloadBytes(0)", webhook.WithMaxPayloadBytes(0), ""},
		{"WithMaxPayloadBytes(-1)", webhook.WithMaxPayloadBytes(-1), "maxPayloadBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := webhook.New(store0(), tc.opt)
			if tc.field == "" {
				require.NoError(t, err)
				assert.NoError(t, d.Close(context.Background()))
				return
			}
			var ve *webhook.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
			assert.Nil(t, d)
		})
	}
}

// Emit's data is a JSON object: a nil of any kind means {}, anything else that is not an
// object is refused with a *ValidationError for "data".
func TestEmitData(t *testing.T) {
	type order struct {
		ID string `json:"id"`
	}
	d, err := webhook.New(store0())
	require.NoError(t, err)
	defer d.Close(context.Background())
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		data any
		want string // stored data; empty: refused
	}{
		{"nil", nil, `{}`},
		{"nil pointer", (*order)(nil), `{}`},
		{"nil map", map[string]any(nil), `{}`},
		{"nil slice", []int(nil), `{}`},
		{"nil RawMessage", json.RawMessage(nil), `{}`},
		{"empty bytes", []byte{}, `{}`},
		{"JSON null", json.RawMessage(` null `), `{}`},
		{"struct", order{ID: "ord_1"}, `{"id":"ord_1"}`},
		{"pointer", &order{ID: "ord_1"}, `{"id":"ord_1"}`},
		{"bytes, compacted", []byte("{ \"id\" : 1 }"), `{"id":1}`},
		{"string", "hello", ""},
		{"JSON string", json.RawMessage(`"hello"`), ""},
		{"slice", []int{1, 2}, ""},
		{"JSON array", []byte(`[1,2]`), ""},
		{"number", 42, ""},
		{"boolean", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := d.Emit(ctx, eventtypes.OrderCreated, tc.data)
			if tc.want == "" {
				var ve *webhook.ValidationError
				require.ErrorAs(t, err, &ve)
				assert.Equal(t, "data", ve.Field)
				assert.Contains(t, ve.Reason, "must be a JSON object")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(ev.Data))
			stored, err := d.Event(ctx, ev.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(stored.Data))
		})
	}
}

// A negative Limit is refused rather than taken for the default.
func TestDeliveriesRefusesNegativeLimit(t *testing.T) {
	d, err := webhook.New(store0())
	require.NoError(t, err)
	defer d.Close(context.Background())
	_, err = d.Deliveries(context.Background(), webhook.DeliveryQuery{Limit: -5})
	var ve *webhook.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Limit", ve.Field)
	page, err := d.Deliveries(context.Background(), webhook.DeliveryQuery{})
	require.NoError(t, err)
	assert.Empty(t, page)
}

// What Subscribe refuses, UpdateSubscription refuses too; Deactivate's reason is text that
// every store keeps as given, so it must be UTF-8.
func TestTextInputsAreValidated(t *testing.T) {
	d, err := webhook.New(store0())
	require.NoError(t, err)
	defer d.Close(context.Background())
	ctx := context.Background()
	sub, err := d.Subscribe(ctx, webhook.Subscription{URL: "https://a.example.com/x", Events: []string{"order.created"},
		Headers: map[string]string{"Authorization": "Bearer a b\tc"}})
	require.NoError(t, err)
	assert.Equal(t, "Bearer a b\tc", sub.Headers["Authorization"], "spaces and tabs inside a value are kept")

	var ve *webhook.ValidationError
	bad := sub
	bad.Headers = map[string]string{"Authorization": "Bearer \x01"}
	_, err = d.UpdateSubscription(ctx, bad)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Headers", ve.Field)
	bad = sub
	bad.Secret = "k\xff\xfe-raw-key"
	_, err = d.UpdateSubscription(ctx, bad)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Secret", ve.Field)

	err = d.Deactivate(ctx, sub.ID, "maintenance \xff")
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "reason", ve.Field)
	got, err := d.Subscription(ctx, sub.ID)
	require.NoError(t, err)
	assert.Equal(t, webhook.StatusActive, got.Status, "a refused Deactivate changes nothing")
}

// "*.created" receives the created event of every resource; versioned types of an
// application's catalog are types of their own, which "order.*" and "*.created" cover
// too. Both stores fan out the same way, and the log filters know the patterns.
func TestWildcardsAndVersions(t *testing.T) {
	for name, newStore := range map[string]func(t *testing.T) store.Store{
		"memory": func(*testing.T) store.Store { return store.NewMemory() },
		"bbolt": func(t *testing.T) store.Store {
			s, err := storebolt.Open(filepath.Join(t.TempDir(), "webhooks.db"))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			cat := eventtypes.Default()
			require.NoError(t, cat.Register(eventtypes.Type{Name: "order.created.v2"}))
			d, err := webhook.New(newStore(t), webhook.WithCatalog(cat), webhook.WithWorkers(1))
			require.NoError(t, err)
			defer d.Close(context.Background())
			ctx := context.Background()
			sub := func(events ...string) string {
				s, err := d.Subscribe(ctx, webhook.Subscription{URL: "https://h.example.com/in", Events: events, Status: webhook.StatusInactive, WhileInactive: webhook.InactiveHold})
				require.NoError(t, err, events)
				return s.ID
			}
			created := sub("*.created")
			createdV2 := sub("*.created.v2")
			orders := sub("order.*")
			v1 := sub("order.created")
			v2 := sub("order.created.v2")
			all := sub("*")

			for typ, want := range map[string][]string{
				eventtypes.OrderCreated:    {created, orders, v1, all},
				"order.created.v2":         {created, createdV2, orders, v2, all},
				eventtypes.CustomerCreated: {created, all},
				eventtypes.OrderUpdated:    {orders, all},
				eventtypes.ProductDeleted:  {all},
			} {
				ev, err := d.Emit(ctx, typ, nil)
				require.NoError(t, err)
				ds, err := d.Deliveries(ctx, webhook.DeliveryQuery{EventID: ev.ID})
				require.NoError(t, err)
				var got []string
				for _, del := range ds {
					got = append(got, del.SubscriptionID)
				}
				assert.ElementsMatch(t, want, got, typ)
			}

			for _, tc := range []struct {
				f    webhook.Filter
				want []string
			}{
				{webhook.Filter{Event: "created"}, []string{created, createdV2, orders, v1, v2, all}},
				{webhook.Filter{Event: "order.created.v2"}, []string{created, createdV2, orders, v2, all}},
				{webhook.Filter{Resource: "customer"}, []string{created, createdV2, all}},
			} {
				got, err := d.Subscriptions(ctx, tc.f)
				require.NoError(t, err)
				var ids []string
				for _, s := range got {
					ids = append(ids, s.ID)
				}
				assert.ElementsMatch(t, tc.want, ids, "%+v", tc.f)
			}

			_, err = d.Subscribe(ctx, webhook.Subscription{URL: "https://h.example.com/in", Events: []string{"*.shipped"}})
			assert.ErrorIs(t, err, webhook.ErrInvalid, "a wildcard that matches nothing in the catalog")
			_, err = d.Subscribe(ctx, webhook.Subscription{URL: "https://h.example.com/in", Events: []string{"order.created.v3"}})
			assert.ErrorIs(t, err, webhook.ErrInvalid)
		})
	}
}

// claimCounter counts a store's claims: by the scheduler (ClaimDue) and by workers that
// claim their next delivery themselves (AppendDue, which only a cheap store offers).
type claimCounter struct {
	store.Store
	scheduled, own atomic.Int64
}

func (c *claimCounter) ClaimDue(ctx context.Context, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	c.scheduled.Add(1)
	return c.Store.ClaimDue(ctx, req)
}

// cheapCounter is a claimCounter that passes on the memory store's AppendDue.
type cheapCounter struct{ claimCounter }

func (c *cheapCounter) AppendDue(ctx context.Context, dst []store.Claim, req store.ClaimRequest) ([]store.Claim, time.Time, error) {
	c.own.Add(1)
	return c.Store.(store.CheapClaimer).AppendDue(ctx, dst, req)
}

// TestWorkersClaimFromCheapStores checks both ways deliveries reach the workers: from a
// store whose claims are cheap (the memory store) a worker that finishes an attempt
// claims the next delivery itself, and the scheduler claims only to fill free workers;
// from any other store the scheduler claims every delivery. Both deliver everything
// once, and Idle and Close work the same.
func TestWorkersClaimFromCheapStores(t *testing.T) {
	for _, cheap := range []bool{true, false} {
		t.Run(fmt.Sprintf("cheap=%v", cheap), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				counter := &cheapCounter{claimCounter{Store: store.NewMemory()}}
				var s store.Store = counter
				if !cheap {
					s = &counter.claimCounter // no AppendDue
				}
				gate := make(chan struct{})
				ep := &fakeEndpoint{respond: func(r *http.Request) (*http.Response, error) {
					<-gate // both workers wait here until every event is emitted
					return answer(r, 200, "ok"), nil
				}}
				d, err := webhook.New(s, webhook.WithWorkers(2), webhook.WithMaxInFlight(2),
					webhook.WithHTTPClient(&http.Client{Transport: ep}))
				require.NoError(t, err)
				_, err = d.Subscribe(ctx, webhook.Subscription{URL: "https://hooks.example.com/in", Events: []string{"*"}})
				require.NoError(t, err)
				const n = 40
				for i := range n {
					_, err := d.Emit(ctx, eventtypes.OrderCreated, map[string]int{"n": i})
					require.NoError(t, err)
				}
				close(gate)
				require.NoError(t, d.Idle(ctx))
				require.NoError(t, d.Close(ctx))

				assert.Len(t, ep.requests(), n, "every event delivered once")
				ds, err := d.Deliveries(ctx, webhook.DeliveryQuery{State: webhook.DeliverySucceeded})
				require.NoError(t, err)
				assert.Len(t, ds, n)
				t.Logf("claims: %d by the scheduler, %d by workers", counter.scheduled.Load(), counter.own.Load())
				if cheap {
					assert.GreaterOrEqual(t, counter.own.Load(), int64(n-2), "workers claimed for themselves")
					assert.Less(t, counter.scheduled.Load(), int64(15), "the scheduler only filled free workers")
				} else {
					assert.Zero(t, counter.own.Load())
					assert.GreaterOrEqual(t, counter.scheduled.Load(), int64(n/2), "the scheduler claimed each")
				}
			})
		})
	}
}

// Data nested deeper than JSON decoders take (encoding/json's limit of 10000 levels) is
// refused at Emit however it comes, as a value to marshal or as JSON bytes; data at the
// limit is taken.
func TestEmitRefusesDeepNesting(t *testing.T) {
	d, err := webhook.New(store0())
	require.NoError(t, err)
	defer d.Close(context.Background())
	ctx := context.Background()
	nested := func(levels int) any { // an object holding levels-1 arrays
		var v any = 1
		for range levels - 1 {
			v = []any{v}
		}
		return map[string]any{"a": v}
	}
	for _, levels := range []int{10000, 10001} {
		raw, err := json.Marshal(nested(levels))
		require.NoError(t, err)
		for name, data := range map[string]any{"value": nested(levels), "bytes": raw} {
			_, err := d.Emit(ctx, eventtypes.OrderCreated, data)
			if levels <= 10000 {
				assert.NoError(t, err, "%d levels as %s", levels, name)
				continue
			}
			var ve *webhook.ValidationError
			require.ErrorAs(t, err, &ve, "%d levels as %s", levels, name)
			assert.Equal(t, "data", ve.Field)
		}
	}
}
