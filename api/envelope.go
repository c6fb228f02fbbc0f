package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
)

// envelope is every answer's body.
type envelope struct {
	Data  any        `json:"data"`
	Error *errorBody `json:"error"`
}

// errorBody is the error member of a failed answer. Field names the request's field (in
// the request's own spelling: "url", "events", "limit") when one is to blame; null
// otherwise.
type errorBody struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Field   *string `json:"field"`
}

// writeData answers data in the envelope.
func writeData(w http.ResponseWriter, status int, data any) {
	writeEnvelope(w, status, envelope{Data: data})
}

// writeEnvelopeError answers an error in the envelope; an empty field is null.
func writeEnvelopeError(w http.ResponseWriter, status int, code, message, field string) {
	e := &errorBody{Code: code, Message: message}
	if field != "" {
		e.Field = &field
	}
	writeEnvelope(w, status, envelope{Error: e})
}

func writeEnvelope(w http.ResponseWriter, status int, env envelope) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		// Only a value the views never hold (a NaN) gets here.
		buf.Reset()
		buf.WriteString(`{"data":null,"error":{"code":"internal","message":"the answer could not be encoded","field":null}}` + "\n")
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client went away: nothing to do
}

// writeAuthError answers the error of the WithAuth function: 403 for ErrForbidden, 401
// for anything else. The error's own text may say more than the caller should know.
func writeAuthError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrForbidden) {
		writeEnvelopeError(w, http.StatusForbidden, "forbidden", "not allowed on this workspace", "")
		return
	}
	writeEnvelopeError(w, http.StatusUnauthorized, "unauthorized", "authentication required", "")
}

// inputError is bad input the handler itself refuses (a query parameter, a body that is
// not the expected JSON): 400, or code's status.
type inputError struct {
	code    string // "invalid" unless set
	field   string
	message string
}

func (e *inputError) Error() string { return e.message }

// badInput is a 400 for field with a message that starts with the field's name.
func badInput(field, format string, args ...any) error {
	return &inputError{field: field, message: field + " " + fmt.Sprintf(format, args...)}
}

// conflictError is a request the object's state forbids: 409 with code.
type conflictError struct{ code, message string }

func (e *conflictError) Error() string { return e.message }

// notFoundError is a webhook or delivery that does not exist or is another workspace's:
// the two answer alike, byte for byte.
type notFoundError struct{ kind, id string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("%s %s not found", e.kind, strconv.Quote(toValidUTF8(truncate(e.id, 200))))
}

func (e *notFoundError) Is(target error) bool { return target == webhook.ErrNotFound }

// notFound turns a not-found error of the dispatcher about kind id into the handler's
// own, so that a missing object and another workspace's answer the same words; other
// errors pass.
func notFound(err error, kind, id string) error {
	if errors.Is(err, webhook.ErrNotFound) {
		return &notFoundError{kind: kind, id: id}
	}
	return err
}

// writeError maps err to its status code and answers it: the one place where errors
// meet status codes.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		in  *inputError
		ve  *webhook.ValidationError
		nf  *notFoundError
		ce  *conflictError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		writeEnvelopeError(w, http.StatusBadRequest, "body_too_large", fmt.Sprintf("body is larger than %d bytes", mbe.Limit), "body")
	case errors.As(err, &in):
		code := in.code
		if code == "" {
			code = "invalid"
		}
		writeEnvelopeError(w, http.StatusBadRequest, code, in.message, in.field)
	case errors.As(err, &ve):
		field := jsonField(ve.Field)
		writeEnvelopeError(w, http.StatusBadRequest, "invalid", validationMessage(field, ve), field)
	case errors.As(err, &nf):
		writeEnvelopeError(w, http.StatusNotFound, "not_found", nf.Error(), "")
	case errors.As(err, &ce):
		writeEnvelopeError(w, http.StatusConflict, ce.code, ce.message, "")
	case errors.Is(err, webhook.ErrNotFound):
		writeEnvelopeError(w, http.StatusNotFound, "not_found", "not found", "")
	case errors.Is(err, webhook.ErrInactive):
		writeEnvelopeError(w, http.StatusConflict, "inactive", "the webhook is inactive: activate it first", "")
	case errors.Is(err, webhook.ErrInFlight):
		writeEnvelopeError(w, http.StatusConflict, "in_flight", "an attempt of the delivery is in flight: try again once it is recorded", "")
	case errors.Is(err, webhook.ErrTooManyAttempts):
		writeEnvelopeError(w, http.StatusConflict, "too_many_attempts",
			fmt.Sprintf("the delivery holds %d attempts or more, so it is not sent again: emit the event again under a new ID instead", webhook.MaxDeliveryAttempts), "")
	case errors.Is(err, webhook.ErrConflict):
		writeEnvelopeError(w, http.StatusConflict, "conflict", "the ID is taken", "")
	case errors.Is(err, webhook.ErrClosed):
		writeEnvelopeError(w, http.StatusServiceUnavailable, "unavailable", "the webhook service is shutting down: try again later", "")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeEnvelopeError(w, http.StatusServiceUnavailable, "unavailable", "the request was cancelled", "")
	default:
		h.cfg.logger.Error("api: request failed", "method", r.Method, "route", r.Pattern, "err", err)
		writeEnvelopeError(w, http.StatusInternalServerError, "internal", "internal error", "")
	}
}

// jsonFields maps the Go names in webhook.ValidationError.Field (Subscription fields and
// the dispatcher's arguments) to the names of this API's JSON.
var jsonFields = map[string]string{
	"ID": "id", "Name": "name", "URL": "url", "Events": "events", "Secret": "secret",
	"PreviousSecret": "secret", "Headers": "headers", "Format": "format", "Status": "active",
	"StatusReason": "reason", "WhileInactive": "while_inactive", "Metadata": "metadata",
	"MaxInFlight": "max_in_flight", "RateLimit": "rate_limit", "Timeout": "timeout_ms",
	"Workspace": "workspace", "eventTypes": "event", "eventType": "event", "Limit": "limit",
	"overlap": "overlap_ms",
}

func jsonField(goName string) string {
	if f, ok := jsonFields[goName]; ok {
		return f
	}
	return goName
}

// validationMessage says what is wrong in the request's words: `events "order.creatd" is
// not an event type of the catalog: did you mean "order.created"?`.
func validationMessage(field string, ve *webhook.ValidationError) string {
	var b strings.Builder
	b.WriteString(field)
	if ve.Value != "" {
		b.WriteString(" " + strconv.Quote(ve.Value))
	}
	b.WriteString(" " + ve.Reason)
	var ut *eventtypes.UnknownTypeError
	switch {
	case errors.As(ve.Err, &ut):
		if len(ut.Suggestions) > 0 {
			quoted := make([]string, len(ut.Suggestions))
			for i, s := range ut.Suggestions {
				quoted[i] = strconv.Quote(s)
			}
			b.WriteString(": did you mean " + strings.Join(quoted, " or ") + "?")
		}
	case ve.Err != nil:
		b.WriteString(": " + ve.Err.Error())
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\ufffd")
}
