package webhook_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

func TestTestReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		// The endpoint answers by event type: 200, 500 (which would deactivate nothing
		// anyway), 410 (which would deactivate a real delivery) and no answer at all.
		e.ep.setResponder(func(r *http.Request) (*http.Response, error) {
			var body struct{ Type string }
			switch r.Method {
			case http.MethodPost:
				// This request's body, as the endpoint recorded it: the tests run at once,
				// so the last one recorded may be another's.
				id := r.Header.Get(webhook.HeaderWebhookID)
				for _, got := range e.ep.requests() {
					if got.Header.Get(webhook.HeaderWebhookID) == id {
						_ = json.Unmarshal(got.Body, &body)
					}
				}
			}
			switch body.Type {
			case eventtypes.OrderCreated:
				return answer(r, 200, "ok"), nil
			case eventtypes.OrderUpdated:
				return answer(r, 500, "broken"), nil
			case eventtypes.OrderFulfilled:
				return answer(r, 410, "gone, please unsubscribe me"), nil
			default:
				return hang(r)
			}
		})
		sub := e.subscribe("order.*")
		start := time.Now()
		rep, err := e.d.Test(e.ctx, sub.ID, eventtypes.OrderCreated, eventtypes.OrderUpdated, eventtypes.OrderFulfilled, eventtypes.OrderCancelled)
		require.NoError(t, err)
		assert.Equal(t, 5*time.Second, time.Since(start), "tests run concurrently, each bounded by the timeout")
		assert.Equal(t, 4, rep.TestsRun)
		assert.Equal(t, 1, rep.TestsSucceeded)
		assert.Equal(t, 3, rep.TestsFailed)
		byType := map[string]webhook.TestResult{}
		for _, r := range rep.Tests {
			byType[r.Type] = r
		}
		assert.Equal(t, 200, byType[eventtypes.OrderCreated].StatusCode)
		assert.True(t, byType[eventtypes.OrderCreated].Succeeded)
		assert.Equal(t, "ok", byType[eventtypes.OrderCreated].ResponseBody)
		assert.Equal(t, 500, byType[eventtypes.OrderUpdated].StatusCode)
		assert.Equal(t, 0, byType[eventtypes.OrderCancelled].StatusCode)
		assert.Contains(t, byType[eventtypes.OrderCancelled].Error, "timeout")
		assert.Equal(t, 5*time.Second, byType[eventtypes.OrderCancelled].Duration)

		// The report marshals with the camelCase names of the test answer.
		raw, err := json.Marshal(rep)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		for _, k := range []string{"startedAt", "testsRun", "testsSucceeded", "testsFailed", "tests"} {
			assert.Contains(t, m, k)
		}
		assert.Contains(t, string(raw), `"durationMs":5000`)

		// No subscription was touched, and the tests are in the log, marked.
		got, err := e.d.Subscription(e.ctx, sub.ID)
		require.NoError(t, err)
		assert.Equal(t, webhook.StatusActive, got.Status)
		log, err := e.d.Deliveries(e.ctx, webhook.DeliveryQuery{SubscriptionID: sub.ID})
		require.NoError(t, err)
		require.Len(t, log, 4)
		for _, d := range log {
			assert.True(t, d.Test)
			require.Len(t, d.Attempts, 1)
			assert.True(t, d.Attempts[0].Test)
		}
		e.settle(time.Hour)
		assert.Len(t, e.ep.requests(), 4, "tests are never retried")
		st, err := e.d.Stats(e.ctx)
		require.NoError(t, err)
		assert.Zero(t, st.Overall.Attempts, "tests stay out of the health figures")
	})
}

func TestTestAllSubscribedTypes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		sub := e.subscribe("customer.*", eventtypes.OrderCreated)
		rep, err := e.d.Test(e.ctx, sub.ID)
		require.NoError(t, err)
		var types []string
		for _, r := range rep.Tests {
			types = append(types, r.Type)
		}
		assert.ElementsMatch(t, []string{"customer.created", "customer.deleted", "customer.updated", "order.created"}, types)
		assert.Equal(t, 4, rep.TestsSucceeded)

		_, err = e.d.Test(e.ctx, "sub_missing")
		assert.ErrorIs(t, err, webhook.ErrNotFound)
		_, err = e.d.Test(e.ctx, sub.ID, "order.nope")
		assert.ErrorIs(t, err, webhook.ErrInvalid)
	})
}
