package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// TestErrorStatuses covers the one place where errors meet status codes, for every
// kind of error, wrapped as the dispatcher wraps them.
func TestErrorStatuses(t *testing.T) {
	h := &handler{cfg: config{logger: slog.New(slog.DiscardHandler)}}
	tests := []struct {
		err         error
		status      int
		code, field string
		message     string
	}{
		{&webhook.ValidationError{Field: "URL", Reason: "is empty"}, 400, "invalid", "url", "url is empty"},
		{fmt.Errorf("webhook: %w", &webhook.ValidationError{Field: "Timeout", Value: "1h0m0s", Reason: "must be between 1ms and 30s"}), 400, "invalid", "timeout_ms", `timeout_ms "1h0m0s" must be between 1ms and 30s`},
		{&webhook.ValidationError{Field: "Events", Value: "order.creatd", Reason: "is not an event type of the catalog",
			Err: &eventtypes.UnknownTypeError{Name: "order.creatd", Suggestions: []string{"order.created", "order.updated"}}},
			400, "invalid", "events", `events "order.creatd" is not an event type of the catalog: did you mean "order.created" or "order.updated"?`},
		{&webhook.ValidationError{Field: "Something", Reason: "is odd"}, 400, "invalid", "Something", "Something is odd"},
		{badInput("limit", "must be positive"), 400, "invalid", "limit", "limit must be positive"},
		{&http.MaxBytesError{Limit: 10}, 400, "body_too_large", "body", "body is larger than 10 bytes"},
		{fmt.Errorf("webhook: %w", webhook.ErrNotFound), 404, "not_found", "", "not found"},
		{notFound(fmt.Errorf("webhook: subscription \"x\": %w", webhook.ErrNotFound), "webhook", "x"), 404, "not_found", "", `webhook "x" not found`},
		{fmt.Errorf("webhook: recover: %w", webhook.ErrInactive), 409, "inactive", "", ""},
		{fmt.Errorf("webhook: redeliver: %w", webhook.ErrInFlight), 409, "in_flight", "", ""},
		{fmt.Errorf("webhook: redeliver: delivery \"d\" holds 100 attempts: %w", webhook.ErrTooManyAttempts), 409, "too_many_attempts", "",
			fmt.Sprintf("the delivery holds %d attempts or more, so it is not sent again: emit the event again under a new ID instead", webhook.MaxDeliveryAttempts)},
		{fmt.Errorf("webhook: %w", webhook.ErrConflict), 409, "conflict", "", "the ID is taken"},
		{&conflictError{code: "webhook_deleted", message: "gone"}, 409, "webhook_deleted", "", "gone"},
		{webhook.ErrClosed, 503, "unavailable", "", ""},
		{errors.New("boom"), 500, "internal", "", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.writeError(rec, httptest.NewRequest("GET", "/", nil), tt.err)
			assert.Equal(t, tt.status, rec.Code)
			assert.Contains(t, rec.Body.String(), `"code":"`+tt.code+`"`)
			if tt.field == "" {
				assert.Contains(t, rec.Body.String(), `"field":null`)
			} else {
				assert.Contains(t, rec.Body.String(), `"field":"`+tt.field+`"`)
			}
			assert.Contains(t, rec.Body.String(), `"message":"`)
			if tt.message != "" {
				var env struct{ Error errorBody }
				assert.NoError(t, json.Unmarshal(rec.Body.Bytes(), &env))
				assert.Equal(t, tt.message, env.Error.Message)
			}
		})
	}

	// A client that went away.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.writeError(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx), fmt.Errorf("store: %w", context.Canceled))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
}
